/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/hid.c - the HID family's udkd side (daemon/family.h).
 *
 * Today: its classes as DriverKit names them and its entitlements:
 * transport.hid to match HID devices and interfaces, family.hid.device to
 * run as a virtual HID device, family.hid.eventservice to run as an event
 * service.  Devices and event services come with the family's driver API
 * (docs/families/hid.md).
 */
#include "family.h"

static const struct udkd_family_class hid_classes[] = {
	{ "IOHIDDevice", "IOService", "transport.hid", NULL },
	{ "IOHIDInterface", "IOService", "transport.hid", NULL },
	{ "IOHIDEventService", "IOService", "transport.hid", NULL },
	{ "IOUserHIDDevice", "IOHIDDevice", "family.hid.device", "virtual HID device" },
	{ "AppleUserHIDDevice", "IOUserHIDDevice", NULL, "virtual HID device" },
	{ "IOUserHIDEventService", "IOHIDEventService", "family.hid.eventservice", "HID event service" },
	{ "AppleUserHIDEventService", "IOUserHIDEventService", NULL, "HID event service" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement hid_entitlements[] = {
	{ "transport.hid", NULL, NULL },
	{ "family.hid.device", NULL, NULL },
	{ "family.hid.eventservice", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_hid = {
	UDKD_FAMILY_INIT,
	.name = "hid",
	.title = "human interface devices",
	.docs = "docs/families/hid.md",
	.classes = hid_classes,
	.entitlements = hid_entitlements,
};

