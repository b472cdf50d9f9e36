/* SPDX-License-Identifier: MIT */
/*
 * usb/daemon/usb.c - the USB family's udkd side (daemon/family.h).
 *
 * Matching keys as IOUSBHostFamily reads them (match.c, Apple's QA1076
 * score table) and the entitlement transport.usb: an array of dicts with
 * idVendor and optionally idProduct, integers or the development wildcard
 * "*" (honoured only in developer mode).
 */
#include "family.h"
#include "udkd.h"
#include "util.h"

extern const struct family_matcher usb_family_matcher;

static bool
is_wildcard(const struct udk_value *v)
{
	return udk_value_get_type(v) == UDK_VALUE_STRING && streq(udk_value_get_string(v), "*");
}

static bool
id_ok(const struct udk_value *v)
{
	return (udk_value_get_type(v) == UDK_VALUE_INT && udk_value_get_int(v, -1) >= 0 &&
		udk_value_get_int(v, -1) <= 0xffff) ||
	       is_wildcard(v);
}

static bool
check_transport_usb(const struct udk_value *v, family_diag_fn diag, void *ctx)
{
	char msg[256];

	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		snprintf(msg, sizeof(msg),
			 "must be a non-empty <array> of <dict>s with idVendor (and optionally idProduct), not %s",
			 udk_value_type_name(udk_value_get_type(v)));
		diag(ctx, true, NULL, msg);
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i);
		struct udk_value *vid = udk_dict_get(e, "idVendor"), *pid = udk_dict_get(e, "idProduct");

		if (udk_value_get_type(e) != UDK_VALUE_DICT || !vid) {
			snprintf(msg, sizeof(msg), "item %zu must be a <dict> with idVendor", i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		if (!id_ok(vid) || (pid && !id_ok(pid))) {
			snprintf(msg, sizeof(msg),
				 "item %zu: idVendor and idProduct must be <integer>s from 0 to 65535, or the "
				 "development wildcard <string>*</string>",
				 i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			const char *name = udk_dict_key_at(e, k);
			if (!streq(name, "idVendor") && !streq(name, "idProduct")) {
				snprintf(msg, sizeof(msg),
					 "item %zu: \"%s\" is not a USB entitlement key; use idVendor and idProduct", i,
					 name);
				diag(ctx, true, NULL, msg);
				return false;
			}
		}
	}
	return true;
}

static bool
part_covers(const struct udk_value *want, const struct udk_value *have, bool developer, bool *ret_wild)
{
	if (!want)
		return true;
	if (is_wildcard(want)) {
		*ret_wild = true;
		return developer;
	}
	return udk_value_get_type(have) == UDK_VALUE_INT && udk_value_get_int(want, -1) == udk_value_get_int(have, -2);
}

static bool
covers_transport_usb(const struct udk_value *value, const struct service *s, bool developer, char **ret_detail)
{
	bool wild = false;
	char ids[64];

	snprintf(ids, sizeof(ids), "idVendor 0x%04llx idProduct 0x%04llx",
		 (unsigned long long)udk_dict_get_int(s->props, "idVendor", 0),
		 (unsigned long long)udk_dict_get_int(s->props, "idProduct", 0));
	for (size_t i = 0; i < udk_array_size(value); i++) {
		struct udk_value *e = udk_array_get(value, i);
		if (part_covers(udk_dict_get(e, "idVendor"), udk_dict_get(s->props, "idVendor"), developer, &wild) &&
		    part_covers(udk_dict_get(e, "idProduct"), udk_dict_get(s->props, "idProduct"), developer, &wild)) {
			*ret_detail = strdup_printf("covers %s%s", ids,
						    wild ? " (a development wildcard, honoured in developer mode)" : "");
			return true;
		}
	}
	*ret_detail = strdup_printf("in Entitlements.plist does not cover %s%s; have the entitlement extended and the "
				    "bundle signed again",
				    ids,
				    wild ? " (its \"*\" is a development wildcard, honoured only in developer mode: "
					   "`udkctl developer on`)"
					 : "");
	return false;
}

static const struct udkd_family_class usb_classes[] = {
	{ "IOUSBHostDevice", "IOService", "transport.usb", NULL },
	{ "IOUSBHostInterface", "IOService", "transport.usb", NULL },
	{ "IOUserUSBHostDevice", "IOService", "transport.usb", "USB device driver (a plain service)" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement usb_entitlements[] = {
	{ "transport.usb", check_transport_usb, covers_transport_usb },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_usb = {
	UDKD_FAMILY_INIT,
	.name = "usb",
	.title = "USB devices and interfaces",
	.docs = "docs/families/usb.md",
	.classes = usb_classes,
	.matcher = &usb_family_matcher,
	.entitlements = usb_entitlements,
};

