/* SPDX-License-Identifier: MIT */
/*
 * scsi/match.c - SCSI personality keys, as IOSCSIPeripheralDeviceNub's
 * matchPropertyTable reads them: "Peripheral Device Type" must equal the
 * LUN's; "Vendor Identification", "Product Identification" and "Product
 * Revision Level" match when the LUN's value starts with the personality's
 * string (INQUIRY pads them with spaces; the family publishes them
 * trimmed).  Each matched key adds to the score, so a personality naming
 * the product outranks one naming only the device type.
 */
#include <stdio.h>
#include <string.h>

#include "family-match.h"

static const char *const scsi_keys[] = {
	"Peripheral Device Type", "Vendor Identification", "Product Identification", "Product Revision Level", NULL,
};

static const int64_t scsi_scores[] = { 1000, 2000, 4000, 8000 };

static void
scsi_validate(const struct udk_value *pers, family_diag_fn diag, void *ctx)
{
	char msg[200];
	struct udk_value *v = udk_dict_get(pers, "Peripheral Device Type");

	if (v && (udk_value_get_type(v) != UDK_VALUE_INT || udk_value_get_int(v, -1) < 0 ||
		  udk_value_get_int(v, -1) > 0x1f)) {
		snprintf(msg, sizeof(msg), "must be an <integer> 0..31 (0: direct access block device, 5: CD/DVD ...)");
		diag(ctx, true, "Peripheral Device Type", msg);
	}
	for (int i = 1; scsi_keys[i]; i++) {
		v = udk_dict_get(pers, scsi_keys[i]);
		if (v && udk_value_get_type(v) != UDK_VALUE_STRING) {
			snprintf(msg, sizeof(msg), "must be a <string> (the INQUIRY field, trailing spaces optional)");
			diag(ctx, true, scsi_keys[i], msg);
		}
	}
}

static bool
scsi_match(const struct udk_value *pers, const struct udk_value *props, int64_t *score, struct udk_value *report)
{
	bool ok = true;

	for (int i = 0; scsi_keys[i]; i++) {
		struct udk_value *want = udk_dict_get(pers, scsi_keys[i]);
		struct udk_value *have = udk_dict_get(props, scsi_keys[i]);

		if (!want)
			continue;
		if (!have) {
			if (report)
				match_report_add(report, scsi_keys[i], "failed",
						 "the service has no \"%s\" (it is not a SCSI logical unit)", scsi_keys[i]);
			ok = false;
			continue;
		}
		if (i == 0) {
			int64_t w = udk_value_get_int(want, -1), h = udk_value_get_int(have, -2);
			if (w != h) {
				if (report)
					match_report_add(report, scsi_keys[i], "failed", "wants %lld, the LUN is %lld",
							 (long long)w, (long long)h);
				ok = false;
				continue;
			}
			if (report)
				match_report_add(report, scsi_keys[i], "matched", "%lld", (long long)w);
		} else {
			const char *w = udk_value_get_string(want), *h = udk_value_get_string(have);
			size_t wl = w ? strlen(w) : 0;
			while (wl && w[wl - 1] == ' ')
				wl--;
			if (!w || !h || strncmp(w, h, wl) != 0) {
				if (report)
					match_report_add(report, scsi_keys[i], "failed", "wants \"%.*s\", the LUN says \"%s\"",
							 (int)wl, w ? w : "", h ? h : "");
				ok = false;
				continue;
			}
			if (report)
				match_report_add(report, scsi_keys[i], "matched", "\"%s\" starts with \"%.*s\"", h, (int)wl,
						 w);
		}
		*score += scsi_scores[i];
	}
	return ok;
}

const struct family_matcher scsi_family_matcher = {
	.family = "scsi",
	.keys = scsi_keys,
	.validate = scsi_validate,
	.match = scsi_match,
};
