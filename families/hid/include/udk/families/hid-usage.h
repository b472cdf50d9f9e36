/* SPDX-License-Identifier: MIT */
/*
 * families/hid-usage.h - HID usages (HID Usage Tables 1.4): names, and
 * their Linux input event codes both ways.
 *
 * Keys are named as in QEMU's key codes and most remapping tools:
 * "a", "1", "enter", "escape", "caps_lock", "left_shift", "f12",
 * "volume_up" ...  Every name has one usage; a usage may have aliases
 * ("esc" for "escape").  "0x07:0x39" names any usage by page and id.
 */
#ifndef UDK_FAMILIES_HID_USAGE_H
#define UDK_FAMILIES_HID_USAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Usage pages udk gives meaning to. */
enum {
	UDK_HID_PAGE_GENERIC_DESKTOP = 0x01,
	UDK_HID_PAGE_KEYBOARD = 0x07,
	UDK_HID_PAGE_LED = 0x08,
	UDK_HID_PAGE_BUTTON = 0x09,
	UDK_HID_PAGE_CONSUMER = 0x0c,
	UDK_HID_PAGE_DIGITIZER = 0x0d,
};

/* Generic Desktop usages of device kinds (DeviceUsage with page 0x01). */
enum {
	UDK_HID_GD_POINTER = 0x01,
	UDK_HID_GD_MOUSE = 0x02,
	UDK_HID_GD_JOYSTICK = 0x04,
	UDK_HID_GD_GAMEPAD = 0x05,
	UDK_HID_GD_KEYBOARD = 0x06,
	UDK_HID_GD_KEYPAD = 0x07,
	UDK_HID_GD_SYSTEM_CONTROL = 0x80,
	UDK_HID_GD_X = 0x30,
	UDK_HID_GD_Y = 0x31,
	UDK_HID_GD_Z = 0x32,
	UDK_HID_GD_WHEEL = 0x38,
};
#define UDK_HID_CONSUMER_CONTROL 0x01	/* the consumer page's device usage */
#define UDK_HID_CONSUMER_AC_PAN 0x238	/* horizontal scroll */

/*
 * The Linux input event (type EV_KEY, EV_REL, EV_ABS or EV_LED and its
 * code) a usage becomes, as the kernel's HID input mapping does for
 * keyboards, mice and consumer controls.  False when udk maps none.
 */
UDK_EXPORT bool udk_hid_usage_to_evdev(uint32_t usage, uint16_t *ret_type, uint16_t *ret_code);
/* The reverse: the usage of a Linux event code (0 when none). */
UDK_EXPORT uint32_t udk_hid_usage_from_evdev(uint16_t type, uint16_t code);

/* The usage's name ("caps_lock"), or NULL when it has none. */
UDK_EXPORT const char *udk_hid_usage_name(uint32_t usage);
/* A name, an alias or "0xPAGE:0xID" to a usage; -EINVAL with a reason when unknown. */
UDK_EXPORT int udk_hid_usage_parse(const char *name, uint32_t *ret);

#ifdef __cplusplus
}
#endif
#endif
