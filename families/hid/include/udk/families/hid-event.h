/* SPDX-License-Identifier: MIT */
/*
 * families/hid-event.h - HID events, as event services dispatch them and
 * apps receive them (IOHIDEventService's keyboard, pointer and scroll
 * events).
 *
 * An event service turns a device's input reports (or a Linux input
 * device's events) into these records: one per key that goes down or up,
 * one per pointer motion or button change, one per scroll.  Timestamps
 * are CLOCK_MONOTONIC nanoseconds of the report that caused the event.
 * The struct is fixed-size and fixed-layout: it is what the event rings
 * between drivers and apps carry.
 */
#ifndef UDK_FAMILIES_HID_EVENT_H
#define UDK_FAMILIES_HID_EVENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum udk_hid_event_type {
	UDK_HID_EVENT_KEYBOARD = 1,	/* key: keyboard page (0x07) usages */
	UDK_HID_EVENT_CONSUMER = 2,	/* key: consumer page (0x0c) and system control usages */
	UDK_HID_EVENT_POINTER = 3,	/* pointer: relative motion and button state */
	UDK_HID_EVENT_SCROLL = 4,	/* scroll: wheel (dy) and pan (dx) */
	UDK_HID_EVENT_VALUE = 5,	/* value: any other usage whose value changed */
};

enum udk_hid_event_flags {
	UDK_HID_EVENT_ABSOLUTE = 1 << 0,	/* pointer: x, y are positions, not deltas */
	UDK_HID_EVENT_SYNTHETIC = 1 << 1,	/* made by a driver (udk_hid_event_service_dispatch) */
};

struct udk_hid_event {
	uint32_t type;			/* enum udk_hid_event_type */
	uint32_t flags;			/* enum udk_hid_event_flags */
	uint64_t timestamp_ns;		/* CLOCK_MONOTONIC */
	uint64_t sender;		/* registry id of the device (its IOHIDInterface) */
	union {
		/* KEYBOARD, CONSUMER, VALUE */
		struct {
			uint32_t usage_page;
			uint32_t usage;
			int32_t value;		/* keys: 1 down, 0 up */
			uint32_t reserved;
		} key;
		/* POINTER */
		struct {
			int32_t x, y;		/* deltas, or positions with UDK_HID_EVENT_ABSOLUTE */
			uint32_t buttons;	/* bit n: button n + 1 down */
			uint32_t reserved;
		} pointer;
		/* SCROLL */
		struct {
			int32_t dx, dy, dz;
			uint32_t reserved;
		} scroll;
	};
};

_Static_assert(sizeof(struct udk_hid_event) == 40, "udk_hid_event is part of the ABI");

#ifdef __cplusplus
}
#endif
#endif
