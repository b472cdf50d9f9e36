/* SPDX-License-Identifier: MIT */
/*
 * proto-usb.h - the USB family's messages (internal), in its op range
 * (lib/common/proto.h, OP_FAMILY_FIRST; daemon/family.h).
 *
 * Three connections carry them:
 *
 *   driver <-> device model   a simulated device's channel (backend "sim");
 *                             the hot path (submit, complete, cancel) is
 *                             packed structs, the rest udk_value dicts
 *   driver  -> udkd           the driver set a configuration
 *   udkd    -> device model   udkd configures an unclaimed device, resets
 *                             one whose driver died, or exports it to
 *                             Linux's vhci-hcd
 */
#ifndef UDK_USB_PROTO_H
#define UDK_USB_PROTO_H

#include <stdint.h>

#include <udk/families/usb-spec.h>

#include "proto.h"

#define USB_OP_BASE 1100
#define USB_OP_COUNT 100

enum usb_op {
	/* driver <-> device model */
	OP_USB_MEM_MAP = USB_OP_BASE,	/* {id} + memfd -> {}: memory transfers name by id */
	OP_USB_MEM_UNMAP,		/* oneway {id} */
	OP_USB_SET_CONFIGURATION,	/* {value} -> {} (device channels only) */
	OP_USB_CLAIM,			/* {interface} -> {} */
	OP_USB_RELEASE,			/* {interface} -> {} */
	OP_USB_SET_INTERFACE,		/* {interface, alternate} -> {} */
	OP_USB_CLEAR_HALT,		/* {endpoint} -> {} */
	OP_USB_RESET,			/* {} -> {} (device channels only) */
	OP_USB_SUBMIT,			/* oneway struct proto_usb_submit [+ u32 packet lengths] [+ OUT bytes] */
	OP_USB_CANCEL,			/* oneway struct proto_usb_cancel */
	OP_USB_COMPLETE,		/* model -> driver oneway struct proto_usb_complete [+ packets] [+ IN bytes] */
	OP_USB_GET_STATE,		/* {} -> {configuration, alternates: [..], halted: [..]} */

	/* driver -> udkd */
	OP_USB_CONFIGURED = USB_OP_BASE + 40,	/* {device, configuration, match} -> {interfaces: [id]} */

	/* udkd -> device model (body key "function": its index) */
	OP_USB_DM_SET_CONFIGURATION = USB_OP_BASE + 60,	/* {function, value} -> {} */
	OP_USB_DM_RESET,		/* {function, reason} -> {} : its driver died */
	OP_USB_DM_EXPORT,		/* {function, devid} + stream socket -> {}: speak USB/IP on it */
};

/* struct proto_usb_submit.flags */
enum {
	PROTO_USB_SHORT_NOT_OK = 1 << 0,	/* an IN transfer shorter than asked is an error */
	PROTO_USB_ZERO_PACKET = 1 << 1,		/* end an OUT transfer of whole packets with a zero-length one */
};

#define PROTO_USB_MAX_TRANSFER (64u << 20)	/* bytes in one transfer */
#define PROTO_USB_MAX_PACKETS 1024u		/* isochronous packets in one transfer */

struct proto_usb_submit {
	uint64_t id;			/* the driver's; the completion echoes it */
	uint64_t offset;		/* in memory @mem */
	uint32_t mem;			/* OP_USB_MEM_MAP id; 0: inline (OUT bytes follow) */
	uint32_t length;		/* bytes to send, or room for IN */
	uint8_t endpoint;		/* address; 0x00/0x80: the default pipe */
	uint8_t type;			/* enum udk_usb_transfer_type */
	uint16_t n_packets;		/* isochronous: this many u32 lengths follow */
	uint32_t flags;			/* PROTO_USB_* */
	struct udk_usb_setup setup;	/* control transfers */
};

struct proto_usb_cancel {
	uint64_t id;
	int32_t status;			/* what the transfer completes with (-ECANCELED, -ETIMEDOUT) */
	uint32_t reserved;
};

struct proto_usb_complete {
	uint64_t id;
	int32_t status;			/* 0 or a negative code */
	uint32_t actual;		/* bytes moved */
	uint32_t n_packets;		/* isochronous: struct udk_usb_iso_packet follow */
	uint32_t inline_len;		/* IN bytes after the packets (inline transfers) */
};

_Static_assert(sizeof(struct proto_usb_submit) == 40, "proto_usb_submit layout");
_Static_assert(sizeof(struct proto_usb_cancel) == 16, "proto_usb_cancel layout");
_Static_assert(sizeof(struct proto_usb_complete) == 24, "proto_usb_complete layout");
_Static_assert(sizeof(struct udk_usb_iso_packet) == 12, "iso packet layout");

#endif
