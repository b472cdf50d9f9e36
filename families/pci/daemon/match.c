/* SPDX-License-Identifier: MIT */
/*
 * pci/match.c - PCI personality keys, as IOPCIFamily reads them.
 *
 *   IOPCIPrimaryMatch    against (device id << 16 | vendor id)
 *   IOPCISecondaryMatch  against (subsystem id << 16 | subsystem vendor id)
 *   IOPCIMatch           against either of the two
 *   IOPCIClassMatch      against (class code << 8), i.e. config dword 0x08
 *                        with the revision byte cleared
 *
 * Each value is a list of "0xVALUE" or "0xVALUE&0xMASK" words separated by
 * spaces; the key matches when (id & mask) == (value & mask) for any word.
 * The default mask is 0xffffffff.  The service carries the ids as the
 * properties "vendor-id", "device-id", "subsystem-vendor-id",
 * "subsystem-id" and "class-code" (integers).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family-match.h"

#define MAX_WORDS 64

struct pci_word {
	uint32_t value;
	uint32_t mask;
};

static int
parse_u32(const char *s, size_t len, uint32_t *ret)
{
	char tmp[24];
	char *end = NULL;
	unsigned long long v;

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (!isdigit((unsigned char)tmp[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(tmp, &end, 0);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* Parse a match list; on error writes a sentence to @why and returns -EINVAL. */
static int
parse_words(const char *s, struct pci_word *words, size_t *ret_n, char *why, size_t why_len)
{
	size_t n = 0;
	const char *p = s;

	while (*p) {
		const char *w, *amp;
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		w = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		len = (size_t)(p - w);
		if (n == MAX_WORDS) {
			snprintf(why, why_len, "more than %d match words", MAX_WORDS);
			return -EINVAL;
		}
		amp = memchr(w, '&', len);
		words[n].mask = 0xffffffffu;
		if (amp) {
			if (parse_u32(w, (size_t)(amp - w), &words[n].value) < 0 ||
			    parse_u32(amp + 1, len - (size_t)(amp - w) - 1, &words[n].mask) < 0) {
				snprintf(why, why_len,
					 "\"%.*s\" is not of the form 0xDDDDVVVV&0xMMMMMMMM (32-bit hex numbers)",
					 (int)len, w);
				return -EINVAL;
			}
		} else if (parse_u32(w, len, &words[n].value) < 0) {
			snprintf(why, why_len, "\"%.*s\" is not a 32-bit number such as 0x10018086", (int)len, w);
			return -EINVAL;
		}
		n++;
	}
	if (n == 0) {
		snprintf(why, why_len, "the list is empty; write e.g. \"0x10018086\" (device 0x1001, vendor 0x8086)");
		return -EINVAL;
	}
	*ret_n = n;
	return 0;
}

static const char *const pci_keys[] = {
	"IOPCIPrimaryMatch",
	"IOPCISecondaryMatch",
	"IOPCIMatch",
	"IOPCIClassMatch",
	NULL,
};

static void
pci_validate(const struct udk_value *pers, family_diag_fn diag, void *ctx)
{
	for (const char *const *k = pci_keys; *k; k++) {
		struct udk_value *v = udk_dict_get(pers, *k);
		struct pci_word words[MAX_WORDS];
		char why[256], msg[320];
		size_t n;

		if (!v)
			continue;
		if (udk_value_get_type(v) != UDK_VALUE_STRING) {
			snprintf(msg, sizeof(msg), "must be a <string> such as \"0x10018086&0xffffffff\", not %s",
				 udk_value_type_name(udk_value_get_type(v)));
			diag(ctx, true, *k, msg);
			continue;
		}
		if (parse_words(udk_value_get_string(v), words, &n, why, sizeof(why)) < 0)
			diag(ctx, true, *k, why);
	}
}

static bool
prop_u32(const struct udk_value *props, const char *key, uint32_t *ret)
{
	struct udk_value *v = udk_dict_get(props, key);

	if (udk_value_get_type(v) == UDK_VALUE_INT) {
		*ret = (uint32_t)udk_value_get_uint(v, 0);
		return true;
	}
	if (udk_value_get_type(v) == UDK_VALUE_DATA) {
		/* IOKit publishes ids as little-endian data */
		size_t len = 0;
		const uint8_t *p = udk_value_get_data(v, &len);
		uint32_t x = 0;
		for (size_t i = 0; i < len && i < 4; i++)
			x |= (uint32_t)p[i] << (8 * i);
		*ret = x;
		return len > 0;
	}
	return false;
}

static bool
word_list_matches(const char *list, uint32_t id, struct pci_word *hit)
{
	struct pci_word words[MAX_WORDS];
	char why[256];
	size_t n;

	if (parse_words(list, words, &n, why, sizeof(why)) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((id & words[i].mask) == (words[i].value & words[i].mask)) {
			*hit = words[i];
			return true;
		}
	return false;
}

/*
 * The commonest IOPCIPrimaryMatch mistake: the ids written vendor first
 * (0xVVVVDDDD, as lspci -n prints them) instead of device first.
 */
static void
note_swapped(struct udk_value *report, const char *key, const char *list, uint32_t vendor, uint32_t device)
{
	uint32_t swapped = ((vendor & 0xffff) << 16) | (device & 0xffff);
	struct pci_word hit;

	if (swapped == ((device << 16) | (vendor & 0xffff)) || !word_list_matches(list, swapped, &hit))
		return;
	match_report_add(report, key, "note",
			 "\"%s\" has the vendor and device halves swapped: the value is 0xDDDDVVVV, device id in "
			 "the high half, vendor id in the low half. For vendor 0x%04x, device 0x%04x write "
			 "\"0x%04x%04x\"",
			 list, vendor & 0xffff, device & 0xffff, device & 0xffff, vendor & 0xffff);
}

static bool
pci_match(const struct udk_value *pers, const struct udk_value *props, int64_t *score, struct udk_value *report)
{
	uint32_t vendor, device, svendor = 0, sdevice = 0, class_code = 0;
	bool have_ids = prop_u32(props, "vendor-id", &vendor) && prop_u32(props, "device-id", &device);
	bool have_sub = prop_u32(props, "subsystem-vendor-id", &svendor) && prop_u32(props, "subsystem-id", &sdevice);
	bool have_class = prop_u32(props, "class-code", &class_code);
	bool ok = true;

	(void)score; /* IOPCIFamily adds nothing to IOProbeScore */
	for (const char *const *k = pci_keys; *k; k++) {
		const char *list = udk_dict_get_string(pers, *k);
		uint32_t primary = (device << 16) | (vendor & 0xffff);
		uint32_t secondary = (sdevice << 16) | (svendor & 0xffff);
		uint32_t cls = class_code << 8;
		struct pci_word hit = { 0, 0 };
		bool m = false;

		if (!list)
			continue;
		if (!have_ids) {
			ok = false;
			if (report)
				match_report_add(report, *k, "failed",
						 "the service has no vendor-id/device-id properties; it is not a PCI "
						 "function");
			continue;
		}
		if (strcmp(*k, "IOPCIPrimaryMatch") == 0) {
			m = word_list_matches(list, primary, &hit);
			if (report && m)
				match_report_add(report, *k, "matched", "device/vendor 0x%08x matches 0x%08x&0x%08x",
						 primary, hit.value, hit.mask);
			else if (report)
				match_report_add(report, *k, "failed", "device/vendor 0x%08x is not in \"%s\"",
						 primary, list);
			if (report && !m)
				note_swapped(report, *k, list, vendor, device);
		} else if (strcmp(*k, "IOPCISecondaryMatch") == 0) {
			m = have_sub && word_list_matches(list, secondary, &hit);
			if (report)
				match_report_add(report, *k, m ? "matched" : "failed",
						 "subsystem/subvendor 0x%08x %s \"%s\"", secondary,
						 m ? "is in" : "is not in", list);
		} else if (strcmp(*k, "IOPCIMatch") == 0) {
			m = word_list_matches(list, primary, &hit) ||
			    (have_sub && word_list_matches(list, secondary, &hit));
			if (report && m)
				match_report_add(report, *k, "matched",
						 "device/vendor 0x%08x or subsystem 0x%08x is in \"%s\"", primary,
						 secondary, list);
			else if (report)
				match_report_add(report, *k, "failed",
						 "neither device/vendor 0x%08x nor subsystem 0x%08x is in \"%s\"", primary,
						 secondary, list);
			if (report && !m)
				note_swapped(report, *k, list, vendor, device);
		} else {
			m = have_class && word_list_matches(list, cls, &hit);
			if (report)
				match_report_add(report, *k, m ? "matched" : "failed", "class code 0x%08x %s \"%s\"",
						 cls, m ? "is in" : "is not in", list);
		}
		if (!m)
			ok = false;
	}
	return ok;
}

const struct family_matcher pci_family_matcher = {
	.family = "pci",
	.keys = pci_keys,
	.validate = pci_validate,
	.match = pci_match,
};
