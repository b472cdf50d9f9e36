/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/match.c - HID personality keys and their scores, as
 * IOHIDFamily matches IOHIDDevice and IOHIDInterface services:
 *
 *   DeviceUsagePairs   [{DeviceUsagePage, DeviceUsage?}]: one pair matches
 *                      one of the device's pairs                         +100
 *   DeviceUsagePage, DeviceUsage: the same, as top-level keys            +100
 *   PrimaryUsagePage, PrimaryUsage: the device's first usage       1100, +100
 *   Transport ("USB", "i8042", "SPI" ...)                               1000
 *   LocationID                                                           2000
 *   VendorID                                                             5000
 *   ProductID (ProductIDArray 975, ProductIDMask 950, both 925)         1000
 *   VersionNumber, Manufacturer, SerialNumber                        100 each
 *
 * Every key present must match.  Then, as IOHIDFamily adds them up: the
 * transport scores count when Transport matched, the vendor scores when
 * VendorID did, and usages give 1100 plus their increments (the primary
 * usage scores only when no usage pair was asked for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family-match.h"

static const char *const hid_keys[] = {
	"DeviceUsagePairs", "DeviceUsagePage", "DeviceUsage",	 "PrimaryUsagePage", "PrimaryUsage",
	"Transport",	    "LocationID",	"VendorID",	 "ProductID",	     "ProductIDArray",
	"ProductIDMask",    "VersionNumber",	"Manufacturer", "SerialNumber",	     NULL,
};

static const char *const int_keys[] = { "DeviceUsagePage", "DeviceUsage", "PrimaryUsagePage", "PrimaryUsage",
					"LocationID", "VendorID", "ProductID", "ProductIDMask", "VersionNumber", NULL };
static const char *const string_keys[] = { "Transport", "Manufacturer", "SerialNumber", NULL };

static bool
is_int(const struct udk_value *v)
{
	return udk_value_get_type(v) == UDK_VALUE_INT;
}

static void
hid_validate(const struct udk_value *pers, family_diag_fn diag, void *ctx)
{
	char msg[256];
	struct udk_value *pairs = udk_dict_get(pers, "DeviceUsagePairs"), *arr = udk_dict_get(pers, "ProductIDArray");

	for (const char *const *k = int_keys; *k; k++) {
		struct udk_value *v = udk_dict_get(pers, *k);
		if (v && !is_int(v)) {
			snprintf(msg, sizeof(msg), "must be an <integer>, not %s", udk_value_type_name(udk_value_get_type(v)));
			diag(ctx, true, *k, msg);
		}
	}
	for (const char *const *k = string_keys; *k; k++) {
		struct udk_value *v = udk_dict_get(pers, *k);
		if (v && udk_value_get_type(v) != UDK_VALUE_STRING) {
			snprintf(msg, sizeof(msg), "must be a <string>, not %s", udk_value_type_name(udk_value_get_type(v)));
			diag(ctx, true, *k, msg);
		}
	}
	if (pairs && udk_value_get_type(pairs) != UDK_VALUE_ARRAY) {
		diag(ctx, true, "DeviceUsagePairs", "must be an <array> of <dict>s with DeviceUsagePage and DeviceUsage");
	} else {
		for (size_t i = 0; i < udk_array_size(pairs); i++) {
			struct udk_value *p = udk_array_get(pairs, i);
			if (udk_value_get_type(p) != UDK_VALUE_DICT || !is_int(udk_dict_get(p, "DeviceUsagePage")) ||
			    (udk_dict_get(p, "DeviceUsage") && !is_int(udk_dict_get(p, "DeviceUsage")))) {
				snprintf(msg, sizeof(msg),
					 "item %zu must be a <dict> with an <integer> DeviceUsagePage and, optionally, an "
					 "<integer> DeviceUsage",
					 i);
				diag(ctx, true, "DeviceUsagePairs", msg);
			}
		}
	}
	if (arr && udk_value_get_type(arr) != UDK_VALUE_ARRAY)
		diag(ctx, true, "ProductIDArray", "must be an <array> of <integer>s");
	for (size_t i = 0; i < udk_array_size(arr); i++)
		if (!is_int(udk_array_get(arr, i)))
			diag(ctx, true, "ProductIDArray", "must hold <integer>s only");
	if (udk_dict_get(pers, "DeviceUsage") && !udk_dict_get(pers, "DeviceUsagePage"))
		diag(ctx, true, "DeviceUsage", "needs DeviceUsagePage beside it");
	if (udk_dict_get(pers, "PrimaryUsage") && !udk_dict_get(pers, "PrimaryUsagePage"))
		diag(ctx, false, "PrimaryUsage", "without PrimaryUsagePage it matches any page's usage of that number");
}

/* Does a {DeviceUsagePage, DeviceUsage?} @want match one of the device's pairs? */
static bool
usage_matches(const struct udk_value *want, const struct udk_value *props)
{
	struct udk_value *pairs = udk_dict_get(props, "DeviceUsagePairs");
	int64_t page = udk_dict_get_int(want, "DeviceUsagePage", -1);
	int64_t usage = udk_dict_get_int(want, "DeviceUsage", -1);

	for (size_t i = 0; i < udk_array_size(pairs); i++) {
		struct udk_value *p = udk_array_get(pairs, i);
		if (udk_dict_get_int(p, "DeviceUsagePage", -2) == page &&
		    (usage < 0 || udk_dict_get_int(p, "DeviceUsage", -2) == usage))
			return true;
	}
	return false;
}

static void
pairs_str(const struct udk_value *props, char *buf, size_t len)
{
	struct udk_value *pairs = udk_dict_get(props, "DeviceUsagePairs");
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < udk_array_size(pairs) && at < len; i++) {
		struct udk_value *p = udk_array_get(pairs, i);
		int n = snprintf(buf + at, len - at, "%s%lld/%lld", i ? ", " : "",
				 (long long)udk_dict_get_int(p, "DeviceUsagePage", 0),
				 (long long)udk_dict_get_int(p, "DeviceUsage", 0));
		if (n < 0)
			break;
		at += (size_t)n;
	}
	if (!at)
		snprintf(buf, len, "none");
}

/* A plain key: equal to the service's property. */
static bool
same(const struct udk_value *pers, const struct udk_value *props, const char *key, int64_t inc, int64_t *score,
     struct udk_value *report)
{
	struct udk_value *want = udk_dict_get(pers, key), *have = udk_dict_get(props, key);
	char *w = NULL, *h = NULL;
	bool ok;

	if (!want)
		return true;
	ok = have && udk_value_equal(want, have);
	udk_value_to_json(want, false, &w);
	udk_value_to_json(have, false, &h);
	if (ok) {
		*score += inc;
		match_report_add(report, key, "matched", "%s equals the device's", w ? w : "?");
	} else {
		match_report_add(report, key, "failed", "the device has %s, the personality asks for %s",
				 have ? (h ? h : "?") : "none", w ? w : "?");
	}
	free(w);
	free(h);
	return ok;
}

static bool
product_matches(const struct udk_value *pers, const struct udk_value *props, int64_t *score, struct udk_value *report)
{
	struct udk_value *arr = udk_dict_get(pers, "ProductIDArray");
	int64_t have = udk_dict_get_int(props, "ProductID", -1);
	int64_t mask = udk_dict_get_int(pers, "ProductIDMask", 0xffffffff);
	bool masked = udk_dict_get(pers, "ProductIDMask") != NULL;

	if (udk_dict_get(pers, "ProductID")) {
		int64_t want = udk_dict_get_int(pers, "ProductID", -1);
		if (have >= 0 && (want & mask) == (have & mask)) {
			*score += masked ? 950 : 1000;
			match_report_add(report, "ProductID", "matched", "0x%04llx%s", (unsigned long long)have,
					 masked ? " under ProductIDMask" : "");
			return true;
		}
		match_report_add(report, "ProductID", "failed", "the device's ProductID is 0x%04llx, the personality "
								 "asks for 0x%04llx%s",
				 (unsigned long long)have, (unsigned long long)want, masked ? " (masked)" : "");
		return false;
	}
	if (arr) {
		for (size_t i = 0; i < udk_array_size(arr); i++)
			if (have >= 0 && (udk_value_get_int(udk_array_get(arr, i), -1) & mask) == (have & mask)) {
				*score += masked ? 925 : 975;
				match_report_add(report, "ProductIDArray", "matched", "0x%04llx is listed",
						 (unsigned long long)have);
				return true;
			}
		match_report_add(report, "ProductIDArray", "failed", "the device's ProductID 0x%04llx is not listed",
				 (unsigned long long)have);
		return false;
	}
	return true;
}

static bool
hid_match(const struct udk_value *pers, const struct udk_value *props, int64_t *score, struct udk_value *report)
{
	int64_t trans = 0, trans2 = 0, ven = 0, ven2 = 0, ven3 = 0, use = 0, pup = 0, pu = 0;
	struct udk_value *pairs = udk_dict_get(pers, "DeviceUsagePairs");
	char have[160];
	bool ok = true;

	/* as in IOKit, the family's keys speak only to the family's services */
	if (!udk_dict_get(props, "UDKHIDBackend")) {
		match_report_add(report, "DeviceUsagePairs", "note",
				 "the service is not a HID device: the HID keys describe the device this driver makes "
				 "and play no part in matching it");
		return true;
	}
	pairs_str(props, have, sizeof(have));
	if (pairs) {
		bool any = false;
		for (size_t i = 0; i < udk_array_size(pairs) && !any; i++)
			any = usage_matches(udk_array_get(pairs, i), props);
		if (any) {
			use += 100;
			match_report_add(report, "DeviceUsagePairs", "matched", "one pair is among the device's (%s)", have);
		} else {
			match_report_add(report, "DeviceUsagePairs", "failed",
					 "no pair is among the device's usage pairs (page/usage: %s)", have);
			ok = false;
		}
	}
	if (udk_dict_get(pers, "DeviceUsagePage")) {
		if (usage_matches(pers, props)) {
			use += 100;
			match_report_add(report, "DeviceUsagePage", "matched", "among the device's usage pairs (%s)", have);
		} else {
			match_report_add(report, "DeviceUsagePage", "failed",
					 "DeviceUsagePage %lld%s is not among the device's usage pairs (%s)",
					 (long long)udk_dict_get_int(pers, "DeviceUsagePage", 0),
					 udk_dict_get(pers, "DeviceUsage") ? " with that DeviceUsage" : "", have);
			ok = false;
		}
	}
	ok &= same(pers, props, "PrimaryUsagePage", 1100, &pup, report);
	ok &= same(pers, props, "PrimaryUsage", 100, &pu, report);
	ok &= same(pers, props, "Transport", 1000, &trans, report);
	ok &= same(pers, props, "LocationID", 2000, &trans2, report);
	ok &= same(pers, props, "VendorID", 5000, &ven, report);
	ok &= product_matches(pers, props, &ven2, report);
	ok &= same(pers, props, "VersionNumber", 100, &ven3, report);
	ok &= same(pers, props, "Manufacturer", 100, &ven3, report);
	ok &= same(pers, props, "SerialNumber", 100, &ven3, report);
	if (!ok)
		return false;
	if (trans > 0)
		*score += trans + trans2;
	if (ven > 0)
		*score += ven + ven2 + ven3;
	if (use > 0)
		*score += use + 1100;
	else if (pup > 0)
		*score += pup + pu;
	return true;
}

const struct family_matcher hid_family_matcher = {
	.family = "hid",
	.keys = hid_keys,
	.validate = hid_validate,
	.match = hid_match,
};
