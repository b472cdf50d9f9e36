/* SPDX-License-Identifier: MIT */
/*
 * usb/match.c - USB personality keys and their scores.
 *
 * Every key present in the personality must equal the service's property
 * of the same name (idProductArray: any of its elements).  The family then
 * adds the score of the most specific key set the personality covers, as
 * Apple's USB matching table (QA1076, USB Common Class Specification) does:
 *
 *   device (IOUSBHostDevice)                      interface (IOUSBHostInterface)
 *   100000 idVendor idProduct bcdDevice           idVendor idProduct bcdDevice
 *                                                   bConfigurationValue bInterfaceNumber
 *    90000 idVendor idProduct                     idVendor idProduct
 *                                                   bConfigurationValue bInterfaceNumber
 *    80000 idVendor bDeviceSubClass               idVendor bInterfaceSubClass
 *            bDeviceProtocol (class 0xff)           bInterfaceProtocol (class 0xff)
 *    70000 idVendor bDeviceSubClass (0xff)        idVendor bInterfaceSubClass (0xff)
 *    60000 bDeviceClass bDeviceSubClass           bInterfaceClass bInterfaceSubClass
 *            bDeviceProtocol                        bInterfaceProtocol
 *    50000 bDeviceClass bDeviceSubClass           bInterfaceClass bInterfaceSubClass
 *
 * A personality whose keys form none of these sets still matches when they
 * all agree, but gets no family score (and explain says so).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "family-match.h"

static const char *const usb_keys[] = {
	"idVendor",	   "idProduct",		 "idProductArray",     "bcdDevice",
	"bDeviceClass",	   "bDeviceSubClass",	 "bDeviceProtocol",    "bInterfaceClass",
	"bInterfaceSubClass", "bInterfaceProtocol", "bConfigurationValue", "bInterfaceNumber",
	NULL,
};

struct score_set {
	int64_t score;
	const char *keys[6];
	bool vendor_class_only;	/* only valid when the class is 0xff */
};

static const struct score_set device_sets[] = {
	{ 100000, { "idVendor", "idProduct", "bcdDevice" }, false },
	{ 90000, { "idVendor", "idProduct" }, false },
	{ 80000, { "idVendor", "bDeviceSubClass", "bDeviceProtocol" }, true },
	{ 70000, { "idVendor", "bDeviceSubClass" }, true },
	{ 60000, { "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol" }, false },
	{ 50000, { "bDeviceClass", "bDeviceSubClass" }, false },
};

static const struct score_set interface_sets[] = {
	{ 100000, { "idVendor", "idProduct", "bcdDevice", "bConfigurationValue", "bInterfaceNumber" }, false },
	{ 90000, { "idVendor", "idProduct", "bConfigurationValue", "bInterfaceNumber" }, false },
	{ 80000, { "idVendor", "bInterfaceSubClass", "bInterfaceProtocol" }, true },
	{ 70000, { "idVendor", "bInterfaceSubClass" }, true },
	{ 60000, { "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol" }, false },
	{ 50000, { "bInterfaceClass", "bInterfaceSubClass" }, false },
};

static bool
has_key(const struct udk_value *pers, const char *k)
{
	if (strcmp(k, "idProduct") == 0)
		return udk_dict_get(pers, "idProduct") || udk_dict_get(pers, "idProductArray");
	return udk_dict_get(pers, k) != NULL;
}

static void
usb_validate(const struct udk_value *pers, family_diag_fn diag, void *ctx)
{
	char msg[256];

	for (const char *const *k = usb_keys; *k; k++) {
		struct udk_value *v = udk_dict_get(pers, *k);

		if (!v)
			continue;
		if (strcmp(*k, "idProductArray") == 0) {
			if (udk_value_get_type(v) != UDK_VALUE_ARRAY || udk_array_size(v) == 0) {
				diag(ctx, true, *k, "must be a non-empty <array> of <integer> product ids");
				continue;
			}
			for (size_t i = 0; i < udk_array_size(v); i++)
				if (udk_value_get_type(udk_array_get(v, i)) != UDK_VALUE_INT) {
					diag(ctx, true, *k, "every element must be an <integer>");
					break;
				}
			continue;
		}
		if (udk_value_get_type(v) != UDK_VALUE_INT) {
			snprintf(msg, sizeof(msg), "must be an <integer> (decimal, or hex such as 0x05ac), not %s%s%s",
				 udk_value_type_name(udk_value_get_type(v)),
				 udk_value_get_type(v) == UDK_VALUE_STRING ? " \"" : "",
				 udk_value_get_type(v) == UDK_VALUE_STRING ? udk_value_get_string(v) : "");
			if (udk_value_get_type(v) == UDK_VALUE_STRING)
				strncat(msg, "\"", sizeof(msg) - strlen(msg) - 1);
			diag(ctx, true, *k, msg);
			continue;
		}
		int64_t x = udk_value_get_int(v, 0);
		int64_t max = (strcmp(*k, "idVendor") == 0 || strcmp(*k, "idProduct") == 0 ||
			       strcmp(*k, "bcdDevice") == 0)
				      ? 0xffff
				      : 0xff;
		if (x < 0 || x > max) {
			snprintf(msg, sizeof(msg), "value %lld is outside 0..%lld", (long long)x, (long long)max);
			diag(ctx, true, *k, msg);
		}
	}
	if (udk_dict_get(pers, "idProduct") && udk_dict_get(pers, "idProductArray"))
		diag(ctx, false, "idProductArray", "both idProduct and idProductArray are set; idProduct wins");
}

static bool
key_matches(const struct udk_value *pers, const struct udk_value *props, const char *k, char *detail, size_t n)
{
	struct udk_value *want = udk_dict_get(pers, k);
	struct udk_value *have = udk_dict_get(props, strcmp(k, "idProductArray") == 0 ? "idProduct" : k);

	if (!have || udk_value_get_type(have) != UDK_VALUE_INT) {
		snprintf(detail, n, "the service has no %s property",
			 strcmp(k, "idProductArray") == 0 ? "idProduct" : k);
		return false;
	}
	if (strcmp(k, "idProductArray") == 0) {
		for (size_t i = 0; i < udk_array_size(want); i++)
			if (udk_value_get_int(udk_array_get(want, i), -1) == udk_value_get_int(have, -2)) {
				snprintf(detail, n, "idProduct 0x%04llx is in the array",
					 (unsigned long long)udk_value_get_int(have, 0));
				return true;
			}
		snprintf(detail, n, "idProduct 0x%04llx is not in the array", (unsigned long long)udk_value_get_int(have, 0));
		return false;
	}
	bool m = udk_value_get_int(want, -1) == udk_value_get_int(have, -2);
	snprintf(detail, n, "service has 0x%04llx, personality wants 0x%04llx",
		 (unsigned long long)udk_value_get_int(have, 0), (unsigned long long)udk_value_get_int(want, 0));
	return m;
}

static bool
usb_match(const struct udk_value *pers, const struct udk_value *props, int64_t *score, struct udk_value *report)
{
	const char *provider = udk_dict_get_string(pers, "IOProviderClass");
	bool interface = provider && strcmp(provider, "IOUSBHostInterface") == 0;
	const struct score_set *sets = interface ? interface_sets : device_sets;
	size_t n_sets = interface ? sizeof(interface_sets) / sizeof(*sets) : sizeof(device_sets) / sizeof(*sets);
	const char *class_key = interface ? "bInterfaceClass" : "bDeviceClass";
	bool ok = true;
	char detail[160];

	for (const char *const *k = usb_keys; *k; k++) {
		if (!udk_dict_get(pers, *k))
			continue;
		if (strcmp(*k, "idProductArray") == 0 && udk_dict_get(pers, "idProduct"))
			continue;
		bool m = key_matches(pers, props, *k, detail, sizeof(detail));
		if (report)
			match_report_add(report, *k, m ? "matched" : "failed", "%s", detail);
		if (!m)
			ok = false;
	}
	if (!ok)
		return false;
	for (size_t i = 0; i < n_sets; i++) {
		bool covered = true;
		for (size_t j = 0; j < 6 && sets[i].keys[j]; j++)
			if (!has_key(pers, sets[i].keys[j]))
				covered = false;
		if (!covered)
			continue;
		if (sets[i].vendor_class_only && udk_dict_get_int(props, class_key, -1) != 0xff)
			continue;
		*score += sets[i].score;
		if (report)
			match_report_add(report, "USB score", "note", "the personality's keys form a %lld-point set",
					 (long long)sets[i].score);
		return true;
	}
	if (report)
		match_report_add(report, "USB score", "note",
				 "the keys match but form none of the USB matching sets, so the family adds no score");
	return true;
}

const struct family_matcher usb_family_matcher = {
	.family = "usb",
	.keys = usb_keys,
	.validate = usb_validate,
	.match = usb_match,
};
