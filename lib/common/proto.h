/* SPDX-License-Identifier: MIT */
/*
 * proto.h - every message udk processes exchange (internal).
 *
 * Three kinds of connection, all framed by wire.h:
 *
 *   app/udkctl  <-> udkd     the control socket  $RUNTIME/udkd.sock
 *   driver      <-> udkd     a socketpair made at spawn, fd 3 in the driver
 *   app         <-> driver   a socketpair per user client, brokered by udkd
 *
 * Control messages carry an encoded udk_value dictionary; proto.xml lists
 * each op's keys, types and bounds.  The external-method hot path carries
 * the packed structs below.  Every request gets exactly one reply
 * (WIRE_F_REPLY, same serial) unless it is sent WIRE_F_ONEWAY.  A reply's
 * status is 0 or a negative code; failed replies may carry {reason}.
 */
#ifndef UDK_COMMON_PROTO_H
#define UDK_COMMON_PROTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The ops, PROTO_VERSION, each op's request and reply structures, checked
 * decoders and encoders: generated at build time from proto.xml by
 * tools/udk-idl (docs/protocol.md is the reference page).  Add an op
 * there, never here.
 */
#include "proto-ops.h"

/* Connection roles, from the service ids' point of view. */
#define PROTO_MAX_SCALARS 16u
#define PROTO_MAX_INLINE_STRUCT 4096u
#define PROTO_MAX_SEGMENTS 32u

/* UC_CALL flags */
enum {
	CALL_F_STRUCT_IN_FD = 1 << 0,	/* struct input is the first fd (large) */
	CALL_F_STRUCT_OUT_FD = 1 << 1,	/* output buffer is the next fd (large) */
	CALL_F_ASYNC = 1 << 2,		/* completion will follow with async_ref */
};

struct proto_call {
	uint64_t selector;
	uint64_t async_ref;		/* CALL_F_ASYNC: echoed in the completion */
	uint32_t flags;
	uint32_t scalar_in_count;	/* <= PROTO_MAX_SCALARS */
	uint32_t scalar_out_max;	/* <= PROTO_MAX_SCALARS */
	uint32_t struct_in_size;	/* inline bytes after the scalars, or fd size */
	uint32_t struct_out_max;	/* capacity for inline output, or fd size */
	uint32_t reserved;
	/* uint64_t scalar_in[scalar_in_count]; uint8_t struct_in[]; */
};

struct proto_call_reply {
	uint32_t scalar_out_count;
	uint32_t struct_out_size;	/* inline bytes after the scalars */
	/* uint64_t scalar_out[]; uint8_t struct_out[]; then, on failure,
	 * a NUL-terminated reason */
};

struct proto_completion {
	uint64_t async_ref;
	int32_t status;
	uint32_t count;			/* <= PROTO_MAX_SCALARS */
	/* uint64_t values[count] */
};

/* A decoded call; pointers point into the message. */
struct call_view {
	struct proto_call call;
	const uint8_t *scalars;		/* call.scalar_in_count little-endian u64 */
	const uint8_t *struct_in;	/* inline input, or NULL */
};

/* Check every size and count of a UC_CALL payload; -UDK_E_* with a reason. */
int proto_call_decode(const uint8_t *p, size_t len, unsigned n_fds, struct call_view *v);
/* Check a reply against what the caller made room for. */
int proto_call_reply_decode(const uint8_t *p, size_t len, uint32_t scalar_cap, size_t struct_cap,
			    struct proto_call_reply *rep);

/* A request of the op @info describes, with @n_fds descriptors: check the
 * count, then decode @body into @req (the op's request struct).  0, or a
 * negative code with @why naming the op and what is wrong. */
int proto_request_decode(const struct proto_op_info *info, const struct udk_value *body, unsigned n_fds, void *req,
			 char *why, size_t len);

/*
 * The spin page of a user client that opted into spinning (OP_UC_SPIN):
 * one request and one reply slot.  The app writes a UC_CALL payload into
 * req and publishes req_seq; the driver, polling, serves it and publishes
 * rep_seq.  A side that stops polling sets its *_waiting flag and sleeps
 * on an eventfd the other side rings.
 */
#define PROTO_SPIN_MAGIC 0x4e495053u /* "SPIN" */
#define PROTO_SPIN_AREA 8192u
#define PROTO_SPIN_SERIAL 0x40000000u	/* serials of spin calls */

struct proto_spin_page {
	uint32_t magic;
	uint32_t version;
	uint8_t pad0[56];
	/* written by the app */
	_Atomic uint32_t req_seq;
	_Atomic uint32_t app_waiting;
	uint32_t req_len;
	uint8_t pad1[52];
	/* written by the driver */
	_Atomic uint32_t rep_seq;
	_Atomic uint32_t driver_waiting;
	uint32_t rep_len;
	int32_t rep_status;
	uint8_t pad2[48];
	uint8_t pad3[64];
	uint8_t req[PROTO_SPIN_AREA];
	uint8_t rep[PROTO_SPIN_AREA];
};

#define PROTO_MAX_VECTORS 64

/* Shared by a driver and a device model: when each interrupt vector was
 * last raised.  The model writes raised_ns then count (store-release); the
 * driver reads count (load-acquire) then raised_ns. */
struct proto_irq_page {
	struct {
		_Atomic uint64_t raised_ns;
		_Atomic uint64_t count;
	} vec[PROTO_MAX_VECTORS];
};

_Static_assert(sizeof(struct proto_call) == 40, "proto_call layout");
_Static_assert(sizeof(struct proto_call_reply) == 8, "proto_call_reply layout");
_Static_assert(sizeof(struct proto_completion) == 16, "proto_completion layout");

#endif
