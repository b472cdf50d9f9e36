/* SPDX-License-Identifier: MIT */
/*
 * proto-serial.h - the serial family's messages between a driver and udkd
 * (internal), in the family's op range (lib/common/proto.h).  Bodies are
 * udk_value dictionaries; udkd checks every field (daemon/msg.c).
 */
#ifndef UDK_SERIAL_PROTO_H
#define UDK_SERIAL_PROTO_H

#include <stdint.h>

#include "proto.h"

#define SERIAL_OP_BASE 1400
#define SERIAL_OP_COUNT 100

enum serial_op {
	/*
	 * driver -> udkd {object, base?, suffix?}
	 *   -> {port, name, base, suffix, dialin, callout, backend} + fds
	 * backend "pty": fds[0] the pty master, fds[1] the slave (held open
	 * so settings persist between apps, as on a UART).
	 */
	OP_SERIAL_PORT_CREATE = SERIAL_OP_BASE,
	/* driver -> udkd oneway {port, status: {key: value}}: registry
	 * properties of the port (the UDKSerial* keys only). */
	OP_SERIAL_PORT_STATUS,
	/* driver -> udkd {port} -> {}: the port is gone (names removed). */
	OP_SERIAL_PORT_DESTROY,
	/* driver -> udkd {port} -> {}: set up (packet mode, settings, I/O
	 * thread): now udkd links the names and registers IOSerialBSDClient,
	 * so no app opens a port before the driver can hear it. */
	OP_SERIAL_PORT_PUBLISH,
};

/* Bounds udkd enforces on driver input. */
#define SERIAL_NAME_MAX 48		/* base name and suffix, each */
#define SERIAL_REASON_MAX 512		/* a refusal sentence */

#endif
