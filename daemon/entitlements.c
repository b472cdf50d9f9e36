/* SPDX-License-Identifier: MIT */
/*
 * entitlements.c - what a bundle's Entitlements.plist grants, and checks
 * against it.
 *
 * DriverKit's names are used where they exist; each has an org.udk.*
 * equivalent for projects that prefer not to carry Apple's prefix:
 *
 *   com.apple.developer.driverkit                      org.udk.driver
 *   com.apple.developer.driverkit.transport.pci        org.udk.transport.pci
 *   com.apple.developer.driverkit.transport.usb        org.udk.transport.usb
 *   com.apple.developer.driverkit.transport.hid        org.udk.transport.hid
 *   com.apple.developer.driverkit.family.NAME          org.udk.family.NAME
 *   com.apple.developer.driverkit.userclient-access    org.udk.userclient-access   (apps)
 *   com.apple.developer.driverkit.allow-any-userclient-access
 *                                                      org.udk.allow-any-userclient-access
 *
 * transport.pci is an array of dicts with IOPCIPrimaryMatch,
 * IOPCISecondaryMatch or IOPCIClassMatch strings (the personality syntax,
 * masks included); transport.usb an array of dicts with idVendor and
 * optionally idProduct, integers or "*".  "*" is a development wildcard:
 * honoured only in developer mode.
 *
 * A personality matches a device only if the transport entitlements also
 * cover it (entitlements_cover), so a signature bounds what hardware a
 * driver can ever be given, whatever its Info.plist says.
 */
#include "family-match.h"
#include "udkd.h"
#include "util.h"

#define ENTITLEMENTS_PLIST "Entitlements.plist"

enum ent_kind {
	ENT_BOOL,
	ENT_PCI,
	ENT_USB,
	ENT_STRINGS,
	ENT_FAMILY,
};

struct ent_name {
	const char *suffix;		/* after the prefix */
	enum ent_kind kind;
};

static const char *const prefixes[] = {
	"com.apple.developer.driverkit",
	"org.udk",
};

/* names after "com.apple.developer.driverkit" / "org.udk" */
static const struct ent_name names[] = {
	{ "", ENT_BOOL },			/* com.apple.developer.driverkit */
	{ ".driver", ENT_BOOL },		/* org.udk.driver */
	{ ".transport.pci", ENT_PCI },
	{ ".transport.usb", ENT_USB },
	{ ".transport.hid", ENT_BOOL },
	{ ".userclient-access", ENT_STRINGS },
	{ ".allow-any-userclient-access", ENT_BOOL },
	{ ".allow-third-party-user-clients", ENT_BOOL },
	{ ".builtin", ENT_BOOL },
};

/* The families udk knows; other family entitlements are warned about. */
static const char *const families[] = {
	"pci", "usb", "serial", "scsicontroller", "block-storage-device", "hid.device", "hid.eventservice",
	"audio", "networking", NULL,
};

/* Canonical short name ("driverkit", "transport.pci", "family.serial") of @key, or NULL. */
static const char *
canonical(const char *key, enum ent_kind *ret_kind, char *buf, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		const char *rest;

		if (strncmp(key, prefixes[i], pl) != 0)
			continue;
		rest = key + pl;
		if (startswith(rest, ".family.") && rest[8]) {
			*ret_kind = ENT_FAMILY;
			snprintf(buf, len, "family.%s", rest + 8);
			return buf;
		}
		for (size_t j = 0; j < ARRAY_SIZE(names); j++) {
			if (!streq(rest, names[j].suffix))
				continue;
			/* "" only with Apple's prefix, ".driver" only with udk's */
			if ((i == 0 && streq(rest, ".driver")) || (i == 1 && !*rest))
				continue;
			*ret_kind = names[j].kind;
			if (!*rest || streq(rest, ".driver"))
				snprintf(buf, len, "driverkit");
			else if (streq(rest, ".allow-third-party-user-clients"))
				snprintf(buf, len, "allow-any-userclient-access");
			else
				snprintf(buf, len, "%s", rest + 1);
			return buf;
		}
	}
	return NULL;
}

static bool
is_wildcard(const struct udk_value *v)
{
	return udk_value_get_type(v) == UDK_VALUE_STRING && streq(udk_value_get_string(v), "*");
}

struct ent_diag {
	struct bundle *b;
	const char *key;
	bool failed;
};

static void
pci_diag(void *ctx, bool error, const char *key, const char *message)
{
	struct ent_diag *c = ctx;

	bundle_add_diag_code(c->b, error ? -UDK_E_BAD_MANIFEST : 0, error ? DIAG_ERROR : DIAG_WARNING,
			     ENTITLEMENTS_PLIST, c->key, "%s: %s", key, message);
	if (error)
		c->failed = true;
}

static bool
check_pci(struct bundle *b, const char *key, const struct udk_value *v)
{
	struct ent_diag c = { b, key, false };

	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
				     "must be a non-empty <array> of <dict>s, each with IOPCIPrimaryMatch, "
				     "IOPCISecondaryMatch or IOPCIClassMatch, not %s",
				     udk_value_type_name(udk_value_get_type(v)));
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i);
		bool any = false;
		if (udk_value_get_type(e) != UDK_VALUE_DICT) {
			bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
					     "item %zu must be a <dict>, not %s", i,
					     udk_value_type_name(udk_value_get_type(e)));
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			const char *name = udk_dict_key_at(e, k);
			if (streq(name, "IOPCIPrimaryMatch") || streq(name, "IOPCISecondaryMatch") ||
			    streq(name, "IOPCIClassMatch") || streq(name, "IOPCIMatch")) {
				any = true;
				if (is_wildcard(udk_dict_value_at(e, k)))
					b->ent.wildcards = true;
			} else {
				bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
						     "item %zu: \"%s\" is not a PCI entitlement key; use "
						     "IOPCIPrimaryMatch, IOPCISecondaryMatch or IOPCIClassMatch",
						     i, name);
				return false;
			}
		}
		if (!any) {
			bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
					     "item %zu is empty; it must name the devices, e.g. IOPCIPrimaryMatch "
					     "\"0x12345678&0xffffffff\"",
					     i);
			return false;
		}
		/* the values use the personality syntax: let the family check it */
		{
			struct udk_value *copy = udk_value_copy(e);
			for (size_t k = udk_dict_size(copy); k-- > 0;)
				if (is_wildcard(udk_dict_value_at(copy, k)))
					udk_dict_remove(copy, udk_dict_key_at(copy, k));
			pci_family_matcher.validate(copy, pci_diag, &c);
			udk_value_unref(copy);
		}
	}
	return !c.failed;
}

static bool
usb_id_ok(const struct udk_value *v)
{
	return (udk_value_get_type(v) == UDK_VALUE_INT && udk_value_get_int(v, -1) >= 0 &&
		udk_value_get_int(v, -1) <= 0xffff) ||
	       is_wildcard(v);
}

static bool
check_usb(struct bundle *b, const char *key, const struct udk_value *v)
{
	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
				     "must be a non-empty <array> of <dict>s with idVendor (and optionally "
				     "idProduct), not %s",
				     udk_value_type_name(udk_value_get_type(v)));
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i);
		struct udk_value *vid = udk_dict_get(e, "idVendor"), *pid = udk_dict_get(e, "idProduct");
		if (udk_value_get_type(e) != UDK_VALUE_DICT || !vid) {
			bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
					     "item %zu must be a <dict> with idVendor", i);
			return false;
		}
		if (!usb_id_ok(vid) || (pid && !usb_id_ok(pid))) {
			bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
					     "item %zu: idVendor and idProduct must be <integer>s from 0 to 65535, or "
					     "the development wildcard <string>*</string>",
					     i);
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			const char *name = udk_dict_key_at(e, k);
			if (!streq(name, "idVendor") && !streq(name, "idProduct")) {
				bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
						     "item %zu: \"%s\" is not a USB entitlement key; use idVendor "
						     "and idProduct",
						     i, name);
				return false;
			}
		}
		if (is_wildcard(vid) || (pid && is_wildcard(pid)))
			b->ent.wildcards = true;
	}
	return true;
}

static const char *
suggest_name(const char *key)
{
	static const char *const known[] = {
		"com.apple.developer.driverkit",
		"com.apple.developer.driverkit.transport.pci",
		"com.apple.developer.driverkit.transport.usb",
		"com.apple.developer.driverkit.transport.hid",
		"com.apple.developer.driverkit.userclient-access",
		"com.apple.developer.driverkit.allow-any-userclient-access",
		"org.udk.driver",
		"org.udk.transport.pci",
		"org.udk.transport.usb",
		"org.udk.allow-any-userclient-access",
		"org.udk.userclient-access",
	};
	const char *best = NULL;
	size_t best_n = 0;

	/* the longest shared prefix is a good enough hint here */
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		size_t n = 0;
		while (key[n] && key[n] == known[i][n])
			n++;
		if (n > best_n) {
			best_n = n;
			best = known[i];
		}
	}
	return best_n > 10 ? best : NULL;
}

void
entitlements_parse(struct bundle *b)
{
	const struct udk_value *e = b->entitlements;
	char buf[128];

	memset(&b->ent, 0, sizeof(b->ent));
	if (!e || udk_value_get_type(e) != UDK_VALUE_DICT)
		return;
	for (size_t i = 0; i < udk_dict_size(e); i++) {
		const char *key = udk_dict_key_at(e, i);
		struct udk_value *v = udk_dict_value_at(e, i);
		enum ent_kind kind;
		const char *c = canonical(key, &kind, buf, sizeof(buf));

		if (!c) {
			if (startswith(key, "com.apple.developer.driverkit") || startswith(key, "org.udk.")) {
				const char *s = suggest_name(key);
				bundle_add_diag_code(b, 0, DIAG_WARNING, ENTITLEMENTS_PLIST, key,
						     "unknown entitlement; udk ignores it%s%s%s", s ? " (did you mean " : "",
						     s ? s : "", s ? "?)" : "");
			}
			/* other vendors' entitlements are none of udk's business */
			continue;
		}
		switch (kind) {
		case ENT_BOOL:
		case ENT_FAMILY:
			if (udk_value_get_type(v) != UDK_VALUE_BOOL) {
				bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
						     "must be <true/> or <false/>, not %s",
						     udk_value_type_name(udk_value_get_type(v)));
				continue;
			}
			if (!udk_value_get_bool(v, false))
				continue;
			if (streq(c, "driverkit"))
				b->ent.driverkit = true;
			else if (streq(c, "allow-any-userclient-access"))
				b->ent.allow_any_client = true;
			else if (streq(c, "transport.hid"))
				b->ent.hid = true;
			else if (kind == ENT_FAMILY) {
				bool known = false;
				for (const char *const *f = families; *f; f++)
					if (streq(c + 7, *f))
						known = true;
				if (!known)
					bundle_add_diag_code(b, 0, DIAG_WARNING, ENTITLEMENTS_PLIST, key,
							     "udk has no family \"%s\"; the entitlement has no effect",
							     c + 7);
				if (!b->ent.families)
					b->ent.families = udk_value_new_array();
				udk_array_append_take(b->ent.families, udk_value_new_string(c + 7));
			}
			break;
		case ENT_PCI:
			if (check_pci(b, key, v))
				b->ent.pci = udk_value_ref(v);
			break;
		case ENT_USB:
			if (check_usb(b, key, v))
				b->ent.usb = udk_value_ref(v);
			break;
		case ENT_STRINGS:
			/* an app's entitlement; harmless in a driver */
			if (udk_value_get_type(v) != UDK_VALUE_ARRAY)
				bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
						     "must be an <array> of bundle identifier <string>s");
			break;
		}
	}
}

void
entitlements_clear(struct entitlements *e)
{
	udk_value_unref(e->pci);
	udk_value_unref(e->usb);
	udk_value_unref(e->families);
	memset(e, 0, sizeof(*e));
}

bool
entitlements_has_family(const struct bundle *b, const char *family)
{
	for (size_t i = 0; i < udk_array_size(b->ent.families); i++)
		if (streq(udk_value_get_string(udk_array_get(b->ent.families, i)), family))
			return true;
	return false;
}

/* ---- coverage ---- */

static bool
pci_entry_covers(const struct udk_value *entry, const struct udk_value *props, bool developer, bool *ret_wild)
{
	struct udk_value *copy = udk_value_copy(entry);
	int64_t score = 0;
	bool ok;

	for (size_t k = udk_dict_size(copy); k-- > 0;)
		if (is_wildcard(udk_dict_value_at(copy, k))) {
			*ret_wild = true;
			if (!developer) {
				udk_value_unref(copy);
				return false;
			}
			udk_dict_remove(copy, udk_dict_key_at(copy, k));
		}
	ok = udk_dict_size(copy) == 0 || pci_family_matcher.match(copy, props, &score, NULL);
	udk_value_unref(copy);
	return ok;
}

static bool
usb_part_covers(const struct udk_value *want, const struct udk_value *have, bool developer, bool *ret_wild)
{
	if (!want)
		return true;
	if (is_wildcard(want)) {
		*ret_wild = true;
		return developer;
	}
	return udk_value_get_type(have) == UDK_VALUE_INT && udk_value_get_int(want, -1) == udk_value_get_int(have, -2);
}

static const char *
ent_name(const struct bundle *b, const char *canon)
{
	/* the spelling the bundle used, for messages */
	char buf[128];
	enum ent_kind kind;

	for (size_t i = 0; i < udk_dict_size(b->entitlements); i++) {
		const char *key = udk_dict_key_at(b->entitlements, i);
		const char *c = canonical(key, &kind, buf, sizeof(buf));
		if (c && streq(c, canon))
			return key;
	}
	return NULL;
}

bool
entitlements_cover(struct udkd *d, const struct bundle *b, const struct service *s, char **ret_detail)
{
	bool wild = false;
	const char *key;

	*ret_detail = NULL;
	if (service_is_a(s, "IOPCIDevice")) {
		char ids[64];
		snprintf(ids, sizeof(ids), "device 0x%04llx vendor 0x%04llx",
			 (unsigned long long)udk_dict_get_int(s->props, "device-id", 0),
			 (unsigned long long)udk_dict_get_int(s->props, "vendor-id", 0));
		key = ent_name(b, "transport.pci");
		if (!b->ent.pci) {
			*ret_detail = strdup_printf(
				"the bundle is not entitled to PCI devices: add com.apple.developer.driverkit.transport.pci "
				"(an <array> of <dict>s with IOPCIPrimaryMatch covering %s) to Entitlements.plist and "
				"sign again",
				ids);
			return false;
		}
		for (size_t i = 0; i < udk_array_size(b->ent.pci); i++)
			if (pci_entry_covers(udk_array_get(b->ent.pci, i), s->props, d->trust.developer, &wild)) {
				*ret_detail = strdup_printf("%s covers %s%s", key, ids,
							    wild ? " (a development wildcard, honoured in developer mode)" : "");
				return true;
			}
		*ret_detail = strdup_printf("%s in Entitlements.plist does not cover %s%s: the signature limits "
					    "this driver to the devices listed there; have the entitlement extended "
					    "and the bundle signed again",
					    key, ids,
					    wild ? " (its \"*\" is a development wildcard, honoured only in developer "
						   "mode: `udkctl developer on`)"
						 : "");
		return false;
	}
	if (service_is_a(s, "IOUSBHostDevice") || service_is_a(s, "IOUSBHostInterface")) {
		char ids[64];
		snprintf(ids, sizeof(ids), "idVendor 0x%04llx idProduct 0x%04llx",
			 (unsigned long long)udk_dict_get_int(s->props, "idVendor", 0),
			 (unsigned long long)udk_dict_get_int(s->props, "idProduct", 0));
		key = ent_name(b, "transport.usb");
		if (!b->ent.usb) {
			*ret_detail = strdup_printf(
				"the bundle is not entitled to USB devices: add com.apple.developer.driverkit.transport.usb "
				"(an <array> of <dict>s with idVendor and idProduct covering %s) to Entitlements.plist and "
				"sign again",
				ids);
			return false;
		}
		for (size_t i = 0; i < udk_array_size(b->ent.usb); i++) {
			struct udk_value *e = udk_array_get(b->ent.usb, i);
			if (usb_part_covers(udk_dict_get(e, "idVendor"), udk_dict_get(s->props, "idVendor"),
					    d->trust.developer, &wild) &&
			    usb_part_covers(udk_dict_get(e, "idProduct"), udk_dict_get(s->props, "idProduct"),
					    d->trust.developer, &wild)) {
				*ret_detail = strdup_printf("%s covers %s%s", key, ids,
							    wild ? " (a development wildcard, honoured in developer mode)" : "");
				return true;
			}
		}
		*ret_detail = strdup_printf("%s in Entitlements.plist does not cover %s%s; have the entitlement "
					    "extended and the bundle signed again",
					    key, ids,
					    wild ? " (its \"*\" is a development wildcard, honoured only in developer "
						   "mode: `udkctl developer on`)"
						 : "");
		return false;
	}
	/* not a hardware transport: nothing to cover */
	return true;
}
