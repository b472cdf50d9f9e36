/* SPDX-License-Identifier: MIT */
/*
 * proto-hid.h - the HID family's messages (internal): ops in the family's
 * range (1500..1599, daemon/family.h) and the records of the HID channel.
 *
 * Control messages (udk_value dictionaries, lib/common/proto.h framing):
 *
 *   driver -> udkd
 *     OP_HID_CHANNEL        {} -> {} + fd: this process's HID channel
 *     OP_HID_DEVICE_CREATE  {object, descriptor, properties} -> {handle, export, properties}
 *     OP_HID_DEVICE_DESTROY {handle} -> {}
 *     OP_HID_CLOSE          {handle} -> {}
 *     OP_HID_SET_REPORT     {handle, type, data} -> {}      an opened device's output or feature report
 *     OP_HID_GET_REPORT     {handle, type, id} -> {data}
 *     OP_DRV_OPEN_PROVIDER  {provider, seize} -> {backend: "hid", handle, kind, descriptor?}
 *                           (the broker: an IOHIDInterface)
 *   device model <-> udkd
 *     OP_HID_DM_INPUT       model -> udkd oneway {function, report, time_ns}
 *     OP_HID_DM_SET_REPORT  udkd -> model {function, type, data} -> {}
 *     OP_HID_DM_GET_REPORT  udkd -> model {function, type, id} -> {data}
 *
 * The HID channel: one SOCK_SEQPACKET socketpair per driver process that
 * uses the family, made by udkd.  It carries the hot path as datagrams of
 * records (struct proto_hid_rec, then len bytes of payload, padded to 8).
 * A datagram is handled whole: a driver sends what it made of an input
 * frame (its virtual devices' reports) and the frame's acknowledgement in
 * one datagram, so udkd sees both or neither.
 */
#ifndef UDK_PROTO_HID_H
#define UDK_PROTO_HID_H

#include <stddef.h>
#include <stdint.h>

enum proto_hid_op {
	OP_HID_CHANNEL = 1500,
	OP_HID_DEVICE_CREATE,
	OP_HID_DEVICE_DESTROY,
	OP_HID_CLOSE,
	OP_HID_SET_REPORT,
	OP_HID_GET_REPORT,

	OP_HID_DM_INPUT = 1520,
	OP_HID_DM_SET_REPORT,
	OP_HID_DM_GET_REPORT,

	OP_HID__END = 1599,
};

#define PROTO_HID_OP_BASE 1500
#define PROTO_HID_OP_COUNT 100

enum proto_hid_rec_type {
	/* udkd -> driver */
	PROTO_HID_REC_REPORT = 1,	/* an input report of an opened device: seq, time, payload */
	PROTO_HID_REC_EVENTS = 2,	/* a frame of Linux input events: payload struct proto_hid_evdev[] */
	PROTO_HID_REC_SET_REPORT = 3,	/* to a virtual device: output or feature report (report_type); seq != 0: reply */
	PROTO_HID_REC_GET_REPORT = 4,	/* to a virtual device: report_type, report_id; reply with the data */
	PROTO_HID_REC_CLOSED = 5,	/* udkd closed the handle: status, payload the reason */
	/* driver -> udkd */
	PROTO_HID_REC_ACK = 16,		/* an opened, seized device: every frame up to seq is handled */
	PROTO_HID_REC_INPUT = 17,	/* a virtual device's input report: time, payload */
	PROTO_HID_REC_REPLY = 18,	/* answers SET_REPORT / GET_REPORT seq: status, payload (get) */
	PROTO_HID_REC_START = 19,	/* the driver knows the handle: udkd may send its frames */
};

struct proto_hid_rec {
	uint32_t handle;
	uint16_t type;			/* enum proto_hid_rec_type */
	uint16_t len;			/* payload bytes after the header */
	uint64_t seq;
	uint64_t time_ns;		/* CLOCK_MONOTONIC */
	int32_t status;
	uint8_t report_type;		/* enum udk_hid_report_type */
	uint8_t report_id;
	uint16_t reserved;
};

/* One Linux input event as the channel carries it (the kernel's struct minus the time). */
struct proto_hid_evdev {
	uint16_t type;
	uint16_t code;
	int32_t value;
};

#define PROTO_HID_MAX_DATAGRAM 65536u
#define PROTO_HID_MAX_PAYLOAD 8192u	/* a report (4096) or a frame of 1024 input events */
#define PROTO_HID_REC_ALIGN 8u

_Static_assert(sizeof(struct proto_hid_rec) == 32, "proto_hid_rec layout");
_Static_assert(sizeof(struct proto_hid_evdev) == 8, "proto_hid_evdev layout");

static inline size_t
proto_hid_rec_size(size_t payload)
{
	return sizeof(struct proto_hid_rec) + ((payload + PROTO_HID_REC_ALIGN - 1) & ~(size_t)(PROTO_HID_REC_ALIGN - 1));
}

/*
 * Walk the records of a datagram.  Every header is checked before @fn sees
 * it: the length fits the datagram and PROTO_HID_MAX_PAYLOAD, the type is
 * one of the direction's (@from_udkd: the driver's view).  @fn returns <0
 * to stop.  Returns the number of records, or -UDK_E_PROTOCOL with a
 * reason naming the record.
 */
int proto_hid_walk(const uint8_t *data, size_t len, int from_udkd,
		   int (*fn)(void *ctx, const struct proto_hid_rec *rec, const uint8_t *payload), void *ctx);

/* A datagram being built: append records, then send it whole. */
struct proto_hid_batch {
	uint8_t *data;
	size_t len, cap;
	unsigned n;
};
int proto_hid_batch_add(struct proto_hid_batch *b, const struct proto_hid_rec *rec, const void *payload);
void proto_hid_batch_reset(struct proto_hid_batch *b);
void proto_hid_batch_free(struct proto_hid_batch *b);

#endif
