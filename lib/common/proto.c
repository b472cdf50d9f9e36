/* SPDX-License-Identifier: MIT */
/* proto.c - decoding the packed hot-path messages (see proto.h). */
#include <stdio.h>

#include "proto.h"
#include "util.h"

int
proto_call_decode(const uint8_t *p, size_t len, unsigned n_fds, struct call_view *v)
{
	size_t expect;
	unsigned fds_expected;

	memset(v, 0, sizeof(*v));
	if (len < sizeof(v->call))
		return udk_set_reason(-UDK_E_PROTOCOL, "call message of %zu bytes is shorter than its %zu-byte header",
				      len, sizeof(v->call));
	memcpy(&v->call, p, sizeof(v->call));
	if (v->call.flags & ~(uint32_t)(CALL_F_STRUCT_IN_FD | CALL_F_STRUCT_OUT_FD | CALL_F_ASYNC))
		return udk_set_reason(-UDK_E_PROTOCOL, "call carries unknown flags 0x%x", v->call.flags);
	if (v->call.scalar_in_count > PROTO_MAX_SCALARS || v->call.scalar_out_max > PROTO_MAX_SCALARS)
		return udk_set_reason(-UDK_E_SCALAR_COUNT,
				      "at most %u scalars each way; the call has %u in and asks for %u out",
				      PROTO_MAX_SCALARS, v->call.scalar_in_count, v->call.scalar_out_max);
	if (!(v->call.flags & CALL_F_STRUCT_IN_FD) && v->call.struct_in_size > PROTO_MAX_INLINE_STRUCT)
		return udk_set_reason(-UDK_E_STRUCT_SIZE,
				      "inline structure input is limited to %u bytes, the call has %u; larger inputs "
				      "travel in memory",
				      PROTO_MAX_INLINE_STRUCT, v->call.struct_in_size);
	if (!(v->call.flags & CALL_F_STRUCT_OUT_FD) && v->call.struct_out_max > PROTO_MAX_INLINE_STRUCT)
		return udk_set_reason(-UDK_E_STRUCT_SIZE,
				      "inline structure output is limited to %u bytes, the call asks for %u",
				      PROTO_MAX_INLINE_STRUCT, v->call.struct_out_max);
	expect = sizeof(v->call) + 8u * v->call.scalar_in_count +
		 ((v->call.flags & CALL_F_STRUCT_IN_FD) ? 0 : v->call.struct_in_size);
	if (len != expect)
		return udk_set_reason(-UDK_E_PROTOCOL, "call message is %zu bytes but its header describes %zu", len,
				      expect);
	fds_expected = !!(v->call.flags & CALL_F_STRUCT_IN_FD) + !!(v->call.flags & CALL_F_STRUCT_OUT_FD);
	if (n_fds != fds_expected)
		return udk_set_reason(-UDK_E_PROTOCOL, "call carries %u file descriptors, its flags announce %u", n_fds,
				      fds_expected);
	v->scalars = p + sizeof(v->call);
	if (!(v->call.flags & CALL_F_STRUCT_IN_FD) && v->call.struct_in_size)
		v->struct_in = p + sizeof(v->call) + 8u * v->call.scalar_in_count;
	return 0;
}

int
proto_call_reply_decode(const uint8_t *p, size_t len, uint32_t scalar_cap, size_t struct_cap,
			struct proto_call_reply *rep)
{
	if (len < sizeof(*rep))
		return udk_set_reason(-UDK_E_PROTOCOL, "the driver's reply is truncated");
	memcpy(rep, p, sizeof(*rep));
	if (rep->scalar_out_count > scalar_cap || rep->struct_out_size > struct_cap ||
	    len != sizeof(*rep) + 8u * rep->scalar_out_count + rep->struct_out_size)
		return udk_set_reason(-UDK_E_PROTOCOL, "the driver's reply does not fit what the call asked for");
	return 0;
}

int
proto_request_decode(const struct proto_op_info *info, const struct udk_value *body, unsigned n_fds, void *req,
		     char *why, size_t len)
{
	if (n_fds < info->fds_min || n_fds > info->fds_max) {
		snprintf(why, len, "%s carries %u file descriptor(s); it takes %u..%u", info->name, n_fds,
			 info->fds_min, info->fds_max);
		return -UDK_E_PROTOCOL;
	}
	return info->decode(body, req, why, len);
}
