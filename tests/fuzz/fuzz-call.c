/* SPDX-License-Identifier: MIT */
/* The external-method call and reply decoders, straight. */
#include "proto.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct call_view v;
	struct proto_call_reply rep;

	if (size < 1)
		return 0;
	if (proto_call_decode(data + 1, size - 1, data[0] & 3, &v) == 0) {
		/* everything it points to must lie inside the message */
		volatile uint8_t sink = 0;
		for (uint32_t i = 0; i < 8u * v.call.scalar_in_count; i++)
			sink ^= v.scalars[i];
		for (uint32_t i = 0; v.struct_in && i < v.call.struct_in_size; i++)
			sink ^= v.struct_in[i];
		(void)sink;
	}
	proto_call_reply_decode(data + 1, size - 1, data[0] & 31, 4096, &rep);
	return 0;
}
