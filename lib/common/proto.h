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
 * Control messages carry an encoded udk_value dictionary; the keys are
 * listed beside each op.  The external-method hot path carries the packed
 * structs at the end of this file.  Every request gets exactly one reply
 * (WIRE_F_REPLY, same serial) unless it is sent WIRE_F_ONEWAY.  A reply's
 * status is 0 or a negative code; failed replies may carry {reason}.
 */
#ifndef UDK_COMMON_PROTO_H
#define UDK_COMMON_PROTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped on any incompatible change; peers compare it in their hello. */
#define PROTO_VERSION 1

enum proto_op {
	OP_PING = 1,		/* any direction, {} -> {} */
	OP_ERROR = 2,		/* oneway {code, reason}, sent before a disconnect */

	/* app/udkctl -> udkd */
	OP_HELLO = 100,		/* {version, name} -> {version, pid} */
	OP_TREE,		/* {properties: bool} -> {services: [service]} */
	OP_FIND,		/* {match: dict} -> {ids: [int]} */
	OP_PROPERTIES,		/* {id} -> service */
	OP_LOOKUP,		/* {path} -> {id} */
	OP_SUBSCRIBE,		/* {cookie, type, match} -> {} */
	OP_UNSUBSCRIBE,		/* {cookie} -> {} */
	OP_OPEN,		/* {id, type} -> {object} + fd: socket to the driver */
	OP_DRIVERS,		/* {} -> {bundles: [bundle]} */
	OP_EXPLAIN,		/* {driver, service} -> {report} */
	OP_RESTART,		/* {driver} -> {} */
	OP_LOG_LEVEL,		/* {driver, level} -> {} */
	OP_DEBUG,		/* {driver, on} -> {pid, command} */
	OP_RESCAN,		/* {} -> {added, removed} */
	OP_STATUS,		/* {} -> {pid, runtime_dir, ...} */
	OP_SET_PROPERTY,	/* {id, key, value} -> {}: test provider services */
	OP_SIM,			/* {action: list|plug|unplug, name} -> {devices} */
	OP_TRUST,		/* {action: list|add|remove, key, id} -> {developer_mode, keys} */
	OP_DEVELOPER,		/* {action: on|off|status} -> {developer_mode} */
	OP_ACCESS,		/* {action: list|grant|revoke|explain, driver, app} -> {...} */
	OP_POWER,		/* {action: list|sleep|wake|set, id, state} -> {services, system, ...} */
	OP_FAMILIES,		/* {} -> {families: [{name, title, docs, classes, keys, entitlements, ...}]} */
	/* the driver lifecycle (daemon/lifecycle.c) */
	OP_INSTALL,		/* {path, upgrade: bool} -> {identifier, path, lifecycle}: verify, copy, activate */
	OP_UNINSTALL,		/* {driver} -> {identifier, path} */
	OP_DRIVER_LOGS,		/* {driver?, lines?} -> {logs: [{identifier, lines: [string]}]}: recent driver output */

	/* udkd -> app */
	OP_NOTIFY = 150,	/* oneway {cookie, type, id, name, path, properties?}: properties
				 * are those that changed, for type "property" */

	/* driver <-> udkd */
	OP_DRV_HELLO = 200,	/* driver -> udkd {version, pid, classes} -> {log_level} */
	OP_DRV_START,		/* udkd -> driver {object, class, provider, properties} -> {} */
	OP_DRV_STOP,		/* udkd -> driver {object} -> {} */
	OP_DRV_NEW_USER_CLIENT,	/* udkd -> driver {object, type, client} + fd -> {object} */
	OP_DRV_PUBLISH,		/* driver -> udkd {provider, name, classes, properties} -> {id} */
	OP_DRV_REGISTER,	/* driver -> udkd {id} -> {} */
	OP_DRV_SET_PROPERTIES,	/* driver -> udkd {id, properties} -> {} (merge) */
	OP_DRV_TERMINATE,	/* driver -> udkd {id} -> {} */
	OP_DRV_LOG,		/* driver -> udkd oneway {level, message} */
	OP_DRV_SET_LOG_LEVEL,	/* udkd -> driver oneway {level} */
	OP_DRV_PROVIDER_EVENT,	/* udkd -> driver oneway {object, event} */
	OP_DRV_PUBLISH_RESOURCE,/* driver -> udkd {name} -> {} */

	OP_DRV_OPEN_PROVIDER,	/* driver -> udkd {provider} -> {backend, location, bars} + fd(s) */
	OP_DRV_REVOKE_USER_CLIENT, /* udkd -> driver oneway {object, reason}: access was revoked */
	OP_DRV_USER_CLIENT_CLOSED, /* driver -> udkd oneway {object}: a user client's connection ended */
	OP_DRV_SET_POWER,	/* udkd -> driver {object, state, flags} -> {}: the reply acknowledges */
	OP_DRV_POWER_REQUEST,	/* driver -> udkd {object, state} -> {}: the driver asks for a state */
	OP_DRV_POWER_BUSY,	/* driver -> udkd oneway {object, busy}: busy services do not idle down */
	OP_DRV_PROBLEM,		/* driver -> udkd oneway {object, code, reason}: what the driver found wrong
				 * with how it was set up (e.g. an IOClass that does not fit its role) */

	/* device model <-> udkd */
	OP_DM_HELLO = 250,	/* model -> udkd {version, pid, functions: [{kind, ...the family's keys}]} -> {ids} */
	OP_DM_CONNECT,		/* udkd -> model {function, nub, client} + fd (the driver's channel) -> {} */
	OP_DM_CONFIG,		/* model -> udkd {} -> {name, properties} (before the hello) */

	/* driver <-> device model, any kind: interrupts and the simulated IOMMU */
	OP_DM_IRQ_PAGE = 260,	/* {} + memfd of struct proto_irq_page -> {} */
	OP_DM_IRQ_SET,		/* {vector} + eventfd -> {} ; without fd: {vector} clears */
	OP_DM_DMA_MAP,		/* {iova, length, offset, direction} + memfd -> {} */
	OP_DM_DMA_UNMAP,	/* {iova, length} -> {} */
	OP_DM_FAULT = 270,	/* model -> driver oneway {iova, length, write, reason}: an IOMMU fault */

	/* app <-> driver: user clients */
	OP_UC_CALL = 300,	/* app -> driver: struct proto_call -> struct proto_call_reply */
	OP_UC_MEMORY,		/* driver -> app {segments, direction} -> fd (copy of the range) */
	OP_UC_COMPLETION,	/* driver -> app oneway: struct proto_completion */
	OP_UC_MAP,		/* app -> driver {type, options} -> {options, size} + fd */
	OP_UC_CLOSE,		/* app -> driver {} -> {} */
	OP_UC_MAP_RING,		/* app -> driver {type} -> {role} + 3 fds (memfd, data bell, space bell) */
	OP_UC_SPIN,		/* app -> driver {} + 3 fds (page, request bell, reply bell) -> {} */

	/*
	 * 1000 and up: each family's own range (daemon/family.h), defined in
	 * families/<name>/; used on the driver <-> udkd, model <-> udkd and
	 * driver <-> model channels.
	 */
	OP_FAMILY_FIRST = 1000,
};

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
