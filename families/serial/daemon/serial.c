/* SPDX-License-Identifier: MIT */
/*
 * serial/daemon/serial.c - the serial family's udkd side (daemon/family.h).
 *
 * Today: its classes (IOUserSerial and IOUserUSBSerial as DriverKit names
 * them) and its entitlement, family.serial, so no bundle without it can
 * run as, publish or match a serial port.  The ports themselves (ttys)
 * come with the family's driver API (docs/families/serial.md).
 */
#include "family.h"

static const struct udkd_family_class serial_classes[] = {
	{ "IOSerialStreamSync", "IOService", "family.serial", NULL },
	{ "IOUserSerial", "IOService", "family.serial", "serial port" },
	{ "IOUserUSBSerial", "IOUserSerial", NULL, "USB serial port" },
	{ "IOSerialBSDClient", "IOService", "family.serial", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement serial_entitlements[] = {
	{ "family.serial", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_serial = {
	UDKD_FAMILY_INIT,
	.name = "serial",
	.title = "serial ports",
	.docs = "docs/families/serial.md",
	.classes = serial_classes,
	.entitlements = serial_entitlements,
};

