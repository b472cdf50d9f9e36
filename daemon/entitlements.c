/* SPDX-License-Identifier: MIT */
/*
 * entitlements.c - what a bundle's Entitlements.plist grants, and checks
 * against it.
 *
 * DriverKit's names are used where they exist; each has an org.udk.*
 * equivalent for projects that prefer not to carry Apple's prefix:
 *
 *   com.apple.developer.driverkit                      org.udk.driver
 *   com.apple.developer.driverkit.NAME                 org.udk.NAME
 *   com.apple.developer.driverkit.userclient-access    org.udk.userclient-access   (apps)
 *   com.apple.developer.driverkit.allow-any-userclient-access
 *                                                      org.udk.allow-any-userclient-access
 *
 * Every other NAME (transport.*, family.*) belongs to a family, which
 * checks its value and says which services it governs (family.h).  A
 * service a family governs can be matched only by a bundle holding the
 * family's entitlement, whose value covers the device where the family
 * has a finer rule (ids); a bundle can run as or publish a service of a
 * family's class only with it too.  Families fail closed: udkd refuses at
 * start a family that declares a class without an entitlement rule.
 *
 * Services may also carry IOServiceDEXTEntitlements, DriverKit's array of
 * entitlement sets: a driver matches only if it holds every entitlement of
 * at least one set.  "*" in an entitlement's value is a development
 * wildcard, honoured only in developer mode.
 */
#include "buf.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

#define ENTITLEMENTS_PLIST "Entitlements.plist"

enum ent_kind {
	ENT_BOOL,		/* udk's own booleans */
	ENT_STRINGS,		/* an app's list of driver identifiers */
	ENT_FAMILY,		/* owned by a family */
	ENT_ABSENT,		/* transport.* / family.* no loaded family owns */
};

struct ent_name {
	const char *suffix;		/* after the prefix */
	enum ent_kind kind;
};

static const char *const prefixes[] = {
	"com.apple.developer.driverkit",
	"org.udk",
};

/* udk's own names, after "com.apple.developer.driverkit" / "org.udk" */
static const struct ent_name names[] = {
	{ "", ENT_BOOL },			/* com.apple.developer.driverkit */
	{ ".driver", ENT_BOOL },		/* org.udk.driver */
	{ ".userclient-access", ENT_STRINGS },
	{ ".allow-any-userclient-access", ENT_BOOL },
	{ ".allow-third-party-user-clients", ENT_BOOL },
	{ ".builtin", ENT_BOOL },
	{ ".communicates-with-drivers", ENT_BOOL },
};

/* Canonical short name ("driverkit", "transport.NAME", "family.NAME") of @key, or NULL. */
static const char *
canonical(const char *key, enum ent_kind *ret_kind, char *buf, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		const char *rest;

		if (strncmp(key, prefixes[i], pl) != 0)
			continue;
		rest = key + pl;
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
		if (rest[0] != '.' || !rest[1])
			continue;
		if (family_entitlement(rest + 1, NULL)) {
			*ret_kind = ENT_FAMILY;
			snprintf(buf, len, "%s", rest + 1);
			return buf;
		}
		if ((startswith(rest, ".transport.") && rest[11]) || (startswith(rest, ".family.") && rest[8])) {
			*ret_kind = ENT_ABSENT;
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
family_ent_diag(void *ctx, bool error, const char *key, const char *message)
{
	struct ent_diag *c = ctx;

	bundle_add_diag_code(c->b, error ? -UDK_E_BAD_MANIFEST : 0, error ? DIAG_ERROR : DIAG_WARNING,
			     ENTITLEMENTS_PLIST, c->key, "%s%s%s", key ? key : "", key ? ": " : "", message);
	if (error)
		c->failed = true;
}

/* Whether @v holds the development wildcard anywhere (bounded depth). */
static bool
has_wildcard(const struct udk_value *v, int depth)
{
	if (depth > 8)
		return false;
	if (is_wildcard(v))
		return true;
	for (size_t i = 0; i < udk_array_size(v); i++)
		if (has_wildcard(udk_array_get(v, i), depth + 1))
			return true;
	for (size_t i = 0; i < udk_dict_size(v); i++)
		if (has_wildcard(udk_dict_value_at(v, i), depth + 1))
			return true;
	return false;
}

/* The known name closest to a misspelt @key (a shared prefix is a good enough hint here). */
static const char *
suggest_name(const char *key, char *buf, size_t len)
{
	static const char *const own[] = {
		"com.apple.developer.driverkit",
		"com.apple.developer.driverkit.userclient-access",
		"com.apple.developer.driverkit.allow-any-userclient-access",
		"org.udk.driver",
		"org.udk.allow-any-userclient-access",
		"org.udk.userclient-access",
	};
	size_t best_n = 0;
	bool found = false;

	for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
		size_t n = 0;
		while (key[n] && key[n] == own[i][n])
			n++;
		if (n > best_n) {
			best_n = n;
			snprintf(buf, len, "%s", own[i]);
			found = true;
		}
	}
	for (size_t f = 0; f < udkd_n_families; f++)
		for (const struct udkd_family_entitlement *e = udkd_families[f]->entitlements; e && e->name; e++)
			for (size_t p = 0; p < ARRAY_SIZE(prefixes); p++) {
				char cand[160];
				size_t n = 0;
				snprintf(cand, sizeof(cand), "%s.%s", prefixes[p], e->name);
				while (key[n] && key[n] == cand[n])
					n++;
				if (n > best_n) {
					best_n = n;
					snprintf(buf, len, "%s", cand);
					found = true;
				}
			}
	return found && best_n > 10 ? buf : NULL;
}

void
entitlements_parse(struct bundle *b)
{
	const struct udk_value *e = b->entitlements;
	char buf[128];

	memset(&b->ent, 0, sizeof(b->ent));
	b->ent.granted = udk_value_new_dict();
	if (!e || udk_value_get_type(e) != UDK_VALUE_DICT)
		return;
	for (size_t i = 0; i < udk_dict_size(e); i++) {
		const char *key = udk_dict_key_at(e, i);
		struct udk_value *v = udk_dict_value_at(e, i);
		enum ent_kind kind;
		const char *c = canonical(key, &kind, buf, sizeof(buf));

		if (!c) {
			if (startswith(key, "com.apple.developer.driverkit") || startswith(key, "org.udk.")) {
				char sbuf[160];
				const char *s = suggest_name(key, sbuf, sizeof(sbuf));
				bundle_add_diag_code(b, 0, DIAG_WARNING, ENTITLEMENTS_PLIST, key,
						     "unknown entitlement; udk ignores it%s%s%s", s ? " (did you mean " : "",
						     s ? s : "", s ? "?)" : "");
			}
			/* other vendors' entitlements are none of udk's business */
			continue;
		}
		switch (kind) {
		case ENT_BOOL:
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
			break;
		case ENT_FAMILY: {
			const struct udkd_family *f = NULL;
			const struct udkd_family_entitlement *fe = family_entitlement(c, &f);
			struct ent_diag ctx = { b, key, false };
			bool ok;

			if (fe->check) {
				ok = fe->check(v, family_ent_diag, &ctx) && !ctx.failed;
			} else {
				ok = udk_value_get_type(v) == UDK_VALUE_BOOL;
				if (!ok)
					bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
							     "must be <true/> or <false/>, not %s",
							     udk_value_type_name(udk_value_get_type(v)));
				else if (!udk_value_get_bool(v, false))
					continue;
			}
			if (!ok)
				continue;
			if (has_wildcard(v, 0))
				b->ent.wildcards = true;
			udk_dict_set(b->ent.granted, c, v);
			break;
		}
		case ENT_ABSENT:
			bundle_add_diag_code(b, 0, DIAG_WARNING, ENTITLEMENTS_PLIST, key,
					     "no family loaded in this udk provides \"%s\"; the entitlement has no effect "
					     "(`udkctl families` lists the families and their entitlements)",
					     c);
			break;
		case ENT_STRINGS:
			/* an app's entitlement; harmless in a driver */
			if (udk_value_get_type(v) != UDK_VALUE_ARRAY && udk_value_get_type(v) != UDK_VALUE_STRING)
				bundle_add_diag_code(b, -UDK_E_BAD_MANIFEST, DIAG_ERROR, ENTITLEMENTS_PLIST, key,
						     "must be an <array> of bundle identifier <string>s");
			break;
		}
	}
}

void
entitlements_clear(struct entitlements *e)
{
	udk_value_unref(e->granted);
	memset(e, 0, sizeof(*e));
}

bool
entitlements_hold(const struct bundle *b, const char *name)
{
	return udk_dict_get(b->ent.granted, name) != NULL;
}

const char *
entitlement_spelling(const struct bundle *b, const char *name, char *buf, size_t len)
{
	/* the spelling the bundle used, for messages; Apple's by default */
	char cbuf[128];
	enum ent_kind kind;

	for (size_t i = 0; b && i < udk_dict_size(b->entitlements); i++) {
		const char *key = udk_dict_key_at(b->entitlements, i);
		const char *c = canonical(key, &kind, cbuf, sizeof(cbuf));
		if (c && streq(c, name)) {
			snprintf(buf, len, "%s", key);
			return buf;
		}
	}
	snprintf(buf, len, "com.apple.developer.driverkit.%s", name);
	return buf;
}

/* ---- coverage ---- */

/* The short name of a full entitlement name in IOServiceDEXTEntitlements. */
static const char *
short_name(const char *full)
{
	for (size_t i = 0; full && i < ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(full, prefixes[i], pl) == 0 && full[pl] == '.')
			return full + pl + 1;
	}
	return full;
}

static bool
holds_full(const struct bundle *b, const char *full)
{
	const char *n = short_name(full);

	if (!n)
		return false;
	if (streq(n, "driverkit") || streq(full, "com.apple.developer.driverkit") || streq(full, "org.udk.driver"))
		return b->ent.driverkit;
	if (streq(n, "allow-any-userclient-access"))
		return b->ent.allow_any_client;
	return entitlements_hold(b, n);
}

/* The service's IOServiceDEXTEntitlements: true when absent or when one set is held whole. */
static bool
dext_sets_held(const struct bundle *b, const struct service *s, char **ret_missing)
{
	const struct udk_value *sets = udk_dict_get(s->props, "IOServiceDEXTEntitlements");

	if (!sets)
		return true;
	if (udk_value_get_type(sets) != UDK_VALUE_ARRAY || udk_array_size(sets) == 0) {
		*ret_missing = strdup("a valid IOServiceDEXTEntitlements (the service's is malformed)");
		return false;
	}
	for (size_t i = 0; i < udk_array_size(sets) && i < 64; i++) {
		const struct udk_value *set = udk_array_get(sets, i);
		const char *missing = NULL;
		if (udk_value_get_type(set) != UDK_VALUE_ARRAY)
			continue;
		for (size_t j = 0; j < udk_array_size(set) && j < 64 && !missing; j++) {
			const char *e = udk_value_get_string(udk_array_get(set, j));
			if (!e || !holds_full(b, e))
				missing = e ? e : "(not a string)";
		}
		if (!missing)
			return true;
		if (!*ret_missing)
			*ret_missing = strdup(missing);
	}
	return false;
}

bool
entitlements_cover(struct udkd *d, const struct bundle *b, const struct service *s, char **ret_detail)
{
	struct buf msg;
	bool any = false, ok = true;
	char *missing = NULL;

	*ret_detail = NULL;
	buf_init(&msg, 0);
	for (size_t i = 0; ok && i < udk_array_size(s->classes); i++) {
		const char *cls = udk_value_get_string(udk_array_get(s->classes, i));
		const struct udkd_family *f = family_of_class(cls, NULL);
		const char *ent = f ? family_class_entitlement(f, cls) : NULL;
		const struct udkd_family_entitlement *fe = ent ? family_entitlement(ent, NULL) : NULL;
		char spell[160];
		bool dup = false;

		if (!fe)
			continue;
		/* one check per entitlement, at the most derived class it governs */
		for (size_t j = 0; j < i; j++) {
			const char *c2 = udk_value_get_string(udk_array_get(s->classes, j));
			const struct udkd_family *f2 = family_of_class(c2, NULL);
			if (f2 && family_class_entitlement(f2, c2) && streq(family_class_entitlement(f2, c2), ent))
				dup = true;
		}
		if (dup)
			continue;
		any = true;
		entitlement_spelling(b, ent, spell, sizeof(spell));
		if (!entitlements_hold(b, ent)) {
			if (msg.len)
				buf_puts(&msg, "; ");
			buf_printf(&msg,
				   "the bundle is not entitled to %s (%s family, class %s): add %s to "
				   "Entitlements.plist and sign again (%s)",
				   s->name, f->name, cls, spell, f->docs ? f->docs : "docs/security.md");
			ok = false;
			break;
		}
		if (fe->covers) {
			char *detail = NULL;
			bool c = fe->covers(udk_dict_get(b->ent.granted, ent), s, d->trust.developer, &detail);
			if (msg.len)
				buf_puts(&msg, "; ");
			buf_printf(&msg, "%s%s%s", spell, detail ? " " : "", detail ? detail : "");
			free(detail);
			if (!c)
				ok = false;
		} else {
			if (msg.len)
				buf_puts(&msg, "; ");
			buf_printf(&msg, "%s is held (%s family)", spell, f->name);
		}
	}
	if (ok && udk_dict_get(s->props, "IOServiceDEXTEntitlements") && !dext_sets_held(b, s, &missing)) {
		if (msg.len)
			buf_puts(&msg, "; ");
		buf_printf(&msg,
			   "the service's IOServiceDEXTEntitlements asks for %s, which the bundle does not hold: add it "
			   "to Entitlements.plist and sign again",
			   missing ? missing : "entitlements");
		any = true;
		ok = false;
	}
	free(missing);
	if (any)
		*ret_detail = buf_steal_string(&msg);
	else
		buf_free(&msg);
	return ok;
}

int
entitlements_allow_classes(const struct bundle *b, const struct udk_value *classes, char **ret_detail)
{
	*ret_detail = NULL;
	for (size_t i = 0; i < udk_array_size(classes); i++) {
		const char *cls = udk_value_get_string(udk_array_get(classes, i));
		const struct udkd_family *f = family_of_class(cls, NULL);
		const char *ent = f ? family_class_entitlement(f, cls) : NULL;
		char spell[160];

		if (!ent || entitlements_hold(b, ent))
			continue;
		entitlement_spelling(b, ent, spell, sizeof(spell));
		*ret_detail = strdup_printf("class %s belongs to the %s family, which requires %s: add it to "
					    "Entitlements.plist and sign again (%s)",
					    cls, f->name, spell, f->docs ? f->docs : "docs/security.md");
		return -UDK_E_ENTITLEMENT;
	}
	return 0;
}
