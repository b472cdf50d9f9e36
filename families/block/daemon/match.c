/* SPDX-License-Identifier: MIT */
/*
 * block/match.c - the block family's personality keys.  UDKBlockMembers and
 * UDKBlockSpares name, by identifier, the block devices a driver may open
 * (a RAID driver's members): they are checked here but take no part in
 * matching (the driver matches its provider as usual).
 */
#include <stdio.h>
#include <string.h>

#include "family-match.h"

static const char *const block_keys[] = { "UDKBlockMembers", "UDKBlockSpares", NULL };

static void
block_validate(const struct udk_value *pers, family_diag_fn diag, void *ctx)
{
	for (int i = 0; block_keys[i]; i++) {
		struct udk_value *v = udk_dict_get(pers, block_keys[i]);
		if (!v)
			continue;
		if (udk_value_get_type(v) != UDK_VALUE_ARRAY || udk_array_size(v) > 64) {
			diag(ctx, true, block_keys[i], "must be an <array> of up to 64 block device identifiers (<string>s)");
			continue;
		}
		for (size_t k = 0; k < udk_array_size(v); k++) {
			const char *s = udk_value_get_string(udk_array_get(v, k));
			if (!s || !*s || strlen(s) > 95) {
				char msg[160];
				snprintf(msg, sizeof(msg), "item %zu must be a <string> of 1..95 characters: a block device's "
							   "UDKBlockIdentifier",
					 k);
				diag(ctx, true, block_keys[i], msg);
				break;
			}
		}
	}
}

static bool
block_match(const struct udk_value *pers, const struct udk_value *props, int64_t *score, struct udk_value *report)
{
	(void)props;
	(void)score;
	for (int i = 0; block_keys[i] && report; i++)
		if (udk_dict_get(pers, block_keys[i]))
			match_report_add(report, block_keys[i], "note",
					 "names %zu block devices the driver may open; not a matching key",
					 udk_array_size(udk_dict_get(pers, block_keys[i])));
	return true;
}

const struct family_matcher block_family_matcher = {
	.family = "block",
	.keys = block_keys,
	.validate = block_validate,
	.match = block_match,
};
