/* SPDX-License-Identifier: MIT */
/* testusb.h - the USB test driver's selectors (families/usb/tests/testusb.c). */
#ifndef UDK_TESTUSB_H
#define UDK_TESTUSB_H

enum {
	U_INFO,		/* -> vid, pid, bcdUSB, configurations, configuration, interfaces iterated, backend, speed */
	U_ITER,		/* -> struct: per interface 6 bytes: number, class, subclass, protocol, endpoints, alternates */
	U_STRING,	/* index -> struct: UTF-8 */
	U_BOS,		/* -> struct: the BOS descriptor */
	U_CONFIG_DESC,	/* index -> struct: the configuration descriptor (fails with its problem) */
	U_SET_CONFIG,	/* value, match -> {} */
	U_CONTROL_ECHO,	/* struct in: bytes sent with 0x40/0x01; struct out: what 0xC0/0x01 gives back */
	U_VENDOR,	/* bmRequestType, bRequest, wValue, wIndex -> {} (no data) */
	U_BULK_LOOP,	/* length -> bytes checked (driver buffers, synchronous) */
	U_BULK_APP,	/* out addr, in addr, length -> received (app memory, asynchronous on a queue) */
	U_INTR,		/* n -> sum of the report counters */
	U_TIMEOUT,	/* timeout ms -> status, elapsed ms (interrupt IN with no report) */
	U_ABORT,	/* -> status of an aborted pending transfer, abort()'s result */
	U_STALL,	/* -> status, halted, stalls, other pipe ok, status after clear, halted after */
	U_ISO,		/* packets -> in status, in bytes, first actual, data ok, out status, out bytes the model counted */
	U_ALTS,		/* -> alternates of interface 1, endpoints of alt 0, of alt 1 */
	U_WAIT_IN,	/* async ins -> status of a synchronous IN that waits for ever, async completions with HARDWARE_GONE */
	U_CRASH,	/* the driver kills itself with a transfer pending */
	U_RESET,	/* -> status of a pending transfer after a port reset, reset's result */
	U_OPEN_IFACE,	/* number -> status of opening interface @number */
	U_STATS,	/* -> the model's counters (resets, configs, reports, iso out, alt opens, halts cleared) */
	U_IFACE_READ,	/* interface drivers: read its bulk IN -> bytes, first byte */
	U_COUNT,
};

#endif
