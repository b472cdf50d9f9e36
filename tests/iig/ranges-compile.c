/* SPDX-License-Identifier: MIT */
/*
 * The typed calls expose app memory through udk_call_args where
 * <udk/client.h> has it (UDK_MAX_CALL_RANGES), and make the plain call
 * otherwise.  This compiles the first branch (with -Werror, gcc and clang)
 * even against a client.h without it, by declaring that API here; it is
 * built, never linked.  Once client.h has the API, the real one is used.
 */
#include <udk/client.h>

#ifndef UDK_MAX_CALL_RANGES
#define UDK_MAX_CALL_RANGES 32
struct udk_memory_range {
	const void *address;
	uint64_t length;
	uint32_t direction;
};
struct udk_call_args {
	size_t struct_size;
	const uint64_t *scalar_input;
	uint32_t scalar_input_count;
	const void *struct_input;
	size_t struct_input_size;
	uint64_t *scalar_output;
	uint32_t scalar_output_count;
	void *struct_output;
	size_t struct_output_size;
	const struct udk_memory_range *ranges;
	uint32_t n_ranges;
};
int udk_connection_call_args(struct udk_connection *conn, uint64_t selector, struct udk_call_args *args);
int udk_connection_call_args_async(struct udk_connection *conn, uint64_t selector, struct udk_call_args *args,
				   udk_async_fn fn, void *userdata);
#endif

#include "iigt-client.c"
