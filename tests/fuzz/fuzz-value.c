/* SPDX-License-Identifier: MIT */
/* The value decoder: every control message body goes through it. */
#include "buf.h"
#include "util.h"
#include "value-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_value *v = NULL;
	struct buf b;

	if (value_decode(data, size, &v) < 0)
		return 0; /* refusing is fine; crashing is not */
	/* what decodes must re-encode to the same bytes */
	buf_init(&b, 0);
	value_encode(&b, v);
	if (b.err || b.len != size || memcmp(b.p, data, size) != 0)
		abort();
	buf_free(&b);
	{
		char *json = NULL;
		udk_value_to_json(v, true, &json);
		free(json);
	}
	udk_value_unref(v);
	return 0;
}
