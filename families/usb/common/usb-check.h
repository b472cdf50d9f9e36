/* SPDX-License-Identifier: MIT */
/*
 * usb-check.h - the USB family's decoders of what crosses a process or
 * kernel boundary (internal), kept pure so the fuzz target
 * (tests/fuzz/fuzz-usb.c) drives exactly the code the processes run:
 *
 *   usb_submit_check     a transfer a driver sends a device model
 *   usb_complete_check   a completion a device model sends a driver
 *   usbip_*              USB/IP messages vhci-hcd sends a device model
 *   usb_uevent_parse     a kernel uevent udkd hears about USB devices
 *
 * Each checks every size and count against the bytes there are, and says
 * what is wrong in words.
 */
#ifndef UDK_USB_CHECK_H
#define UDK_USB_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto-usb.h"

/* OP_USB_SUBMIT: @p, @len.  *ret_lens: the packet lengths (u32 each, may
 * be unaligned), *ret_out: inline OUT bytes (s->length of them) or NULL. */
int usb_submit_check(const uint8_t *p, size_t len, struct proto_usb_submit *s, const uint8_t **ret_lens,
		     const uint8_t **ret_out, const char **why);
/* OP_USB_COMPLETE.  *ret_packets: n_packets struct udk_usb_iso_packet,
 * *ret_inline: inline_len bytes (IN data, or a reason when status < 0). */
int usb_complete_check(const uint8_t *p, size_t len, struct proto_usb_complete *c, const uint8_t **ret_packets,
		       const uint8_t **ret_inline);

#define USBIP_CMD_SUBMIT 1
#define USBIP_CMD_UNLINK 2
#define USBIP_RET_SUBMIT 3
#define USBIP_RET_UNLINK 4
#define USBIP_DIR_OUT 0
#define USBIP_DIR_IN 1
#define USBIP_HDR 48u
#define USBIP_ISO_DESC 16u

/* The length of the USB/IP message starting at @p: 0 when more bytes are
 * needed, -1 (with *why) when it is malformed. */
ssize_t usbip_message_len(const uint8_t *p, size_t len, const char **why);

struct usbip_submit {
	uint32_t seq;
	uint32_t dir;			/* USBIP_DIR_* */
	uint32_t ep;			/* 0..15 */
	uint32_t flags;			/* URB transfer flags */
	uint32_t length;
	uint32_t n_packets;
	uint8_t setup[8];
	const uint8_t *data;		/* OUT: length bytes */
	const uint8_t *iso;		/* n_packets descriptors of 16 bytes */
};

/* A whole CMD_SUBMIT (usbip_message_len said how long).  Isochronous
 * packets must tile the buffer in order. */
int usbip_parse_submit(const uint8_t *p, size_t len, struct usbip_submit *out, const char **why);
uint32_t usbip_be32(const uint8_t *p);
void usbip_put_be32(uint8_t *p, uint32_t v);

/* A kernel uevent's payload after "ACTION@DEVPATH\0". */
struct usb_uevent {
	char action[16];
	char sysname[64];		/* the last component of DEVPATH */
	bool device;			/* DEVTYPE=usb_device */
	bool interface;			/* DEVTYPE=usb_interface */
};

/* @buf is the whole datagram ("ACTION@DEVPATH\0KEY=VALUE\0...").  -EINVAL
 * when it is not a USB device or interface event. */
int usb_uevent_parse(const char *buf, size_t len, struct usb_uevent *ev);

#endif
