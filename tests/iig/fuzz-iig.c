/* SPDX-License-Identifier: MIT */
/*
 * fuzz-iig - the dispatch table udk-iig generated for iigt.xml, fed what a
 * hostile app can send: any selector, any number of scalars with any
 * values, any inline structure, any output capacity.  The runtime's checks
 * and then the generated ones must refuse or serve every input without an
 * out-of-bounds access, and what a served call hands back must respect the
 * definition.
 *
 * Input: selector, scalar input count, scalar output count (each one byte),
 * output capacity (two bytes, little-endian), then the scalars (8 bytes
 * each, zero if the input ends), then the structure input (the rest, at
 * most 4096 bytes).  Calls arrive inline, not as memory descriptors (those
 * need a driver runtime; test-iig covers them).
 */
#include <stdlib.h>
#include <string.h>

#include <udk/userclient.h>

#include "iigt-driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* handlers of iigt-driver.c use their client only for asynchronous
	 * calls, which need a completion a fuzzer cannot forge */
	static char not_a_service;
	struct udk_service *client = (struct udk_service *)(void *)&not_a_service;
	uint64_t scalar_in[UDK_MAX_SCALARS], scalar_out[UDK_MAX_SCALARS];
	uint8_t *struct_in = NULL, *struct_out;
	struct udk_method_args args = { 0 };
	const struct udk_method_dispatch *d;
	size_t pos = 5, cap, in_len;
	uint32_t n_out;
	int r;

	if (size < 5)
		return 0;
	d = data[0] < IIGT_SELECTOR_COUNT ? &iigt_dispatch[data[0]] : NULL;
	if (!d || !d->function)
		return 0; /* the runtime's refusal names the client; nothing generated runs */
	args.selector = data[0];
	args.scalar_input_count = data[1] % (UDK_MAX_SCALARS + 1);
	n_out = data[2] % (UDK_MAX_SCALARS + 1);
	cap = (size_t)(data[3] | data[4] << 8) % (UDK_MAX_INLINE_STRUCT + 1);
	memset(scalar_in, 0, sizeof(scalar_in));
	for (uint32_t i = 0; i < args.scalar_input_count && pos < size; i++) {
		size_t k = size - pos < 8 ? size - pos : 8;
		memcpy(&scalar_in[i], data + pos, k);
		pos += k;
	}
	in_len = size - pos;
	if (in_len > UDK_MAX_INLINE_STRUCT)
		in_len = UDK_MAX_INLINE_STRUCT;
	/* exact-size copies, so that a read past them is caught */
	if (in_len) {
		struct_in = malloc(in_len);
		if (!struct_in)
			return 0;
		memcpy(struct_in, data + pos, in_len);
	}
	struct_out = malloc(cap ? cap : 1);
	if (!struct_out) {
		free(struct_in);
		return 0;
	}
	args.scalar_input = scalar_in;
	args.struct_input = struct_in;
	args.struct_input_size = in_len;
	args.scalar_output = scalar_out;
	args.scalar_output_count = n_out;
	args.struct_output = struct_out;
	args.struct_output_size = cap;
	r = udk_user_client_dispatch(client, &args, d, NULL);
	if (r >= 0) {
		/* served: what goes back fits the definition and the app's room */
		if (args.scalar_output_count != d->check_scalar_output_count || args.struct_output_size > cap)
			abort();
		if (d->check_structure_output_size != UDK_METHOD_VARIABLE &&
		    args.struct_output_size != d->check_structure_output_size)
			abort();
	}
	free(struct_in);
	free(struct_out);
	return 0;
}
