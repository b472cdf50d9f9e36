/* SPDX-License-Identifier: MIT */
/*
 * hid/common/usage.c - usage names and the Linux input codes of usages
 * (<udk/families/hid-usage.h>).  The keyboard table follows the HID Usage
 * Tables' keyboard page and the kernel's documented key codes
 * (linux/input-event-codes.h).
 */
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/hid-usage.h>

#include "util.h"

struct usage_entry {
	uint32_t usage;			/* extended */
	uint16_t type, code;		/* Linux event, type 0: none */
	const char *name;
	const char *alias;
};

#define K(id, key, n, a) { UDK_HID_USAGE_EXT(0x07, id), EV_KEY, key, n, a }
#define C(id, key, n, a) { UDK_HID_USAGE_EXT(0x0c, id), EV_KEY, key, n, a }
#define G(id, type, code, n, a) { UDK_HID_USAGE_EXT(0x01, id), type, code, n, a }
#define UDK_HID_USAGE_EXT(page, id) ((uint32_t)(page) << 16 | (uint32_t)(id))

static const struct usage_entry table[] = {
	/* keyboard page */
	K(0x04, KEY_A, "a", NULL), K(0x05, KEY_B, "b", NULL), K(0x06, KEY_C, "c", NULL),
	K(0x07, KEY_D, "d", NULL), K(0x08, KEY_E, "e", NULL), K(0x09, KEY_F, "f", NULL),
	K(0x0a, KEY_G, "g", NULL), K(0x0b, KEY_H, "h", NULL), K(0x0c, KEY_I, "i", NULL),
	K(0x0d, KEY_J, "j", NULL), K(0x0e, KEY_K, "k", NULL), K(0x0f, KEY_L, "l", NULL),
	K(0x10, KEY_M, "m", NULL), K(0x11, KEY_N, "n", NULL), K(0x12, KEY_O, "o", NULL),
	K(0x13, KEY_P, "p", NULL), K(0x14, KEY_Q, "q", NULL), K(0x15, KEY_R, "r", NULL),
	K(0x16, KEY_S, "s", NULL), K(0x17, KEY_T, "t", NULL), K(0x18, KEY_U, "u", NULL),
	K(0x19, KEY_V, "v", NULL), K(0x1a, KEY_W, "w", NULL), K(0x1b, KEY_X, "x", NULL),
	K(0x1c, KEY_Y, "y", NULL), K(0x1d, KEY_Z, "z", NULL),
	K(0x1e, KEY_1, "1", NULL), K(0x1f, KEY_2, "2", NULL), K(0x20, KEY_3, "3", NULL),
	K(0x21, KEY_4, "4", NULL), K(0x22, KEY_5, "5", NULL), K(0x23, KEY_6, "6", NULL),
	K(0x24, KEY_7, "7", NULL), K(0x25, KEY_8, "8", NULL), K(0x26, KEY_9, "9", NULL),
	K(0x27, KEY_0, "0", NULL),
	K(0x28, KEY_ENTER, "enter", "ret"), K(0x29, KEY_ESC, "escape", "esc"),
	K(0x2a, KEY_BACKSPACE, "backspace", NULL), K(0x2b, KEY_TAB, "tab", NULL),
	K(0x2c, KEY_SPACE, "space", "spc"), K(0x2d, KEY_MINUS, "minus", NULL),
	K(0x2e, KEY_EQUAL, "equal", NULL), K(0x2f, KEY_LEFTBRACE, "left_bracket", "bracket_left"),
	K(0x30, KEY_RIGHTBRACE, "right_bracket", "bracket_right"), K(0x31, KEY_BACKSLASH, "backslash", NULL),
	K(0x32, KEY_BACKSLASH, "non_us_pound", NULL), K(0x33, KEY_SEMICOLON, "semicolon", NULL),
	K(0x34, KEY_APOSTROPHE, "apostrophe", NULL), K(0x35, KEY_GRAVE, "grave", "grave_accent"),
	K(0x36, KEY_COMMA, "comma", NULL), K(0x37, KEY_DOT, "period", "dot"), K(0x38, KEY_SLASH, "slash", NULL),
	K(0x39, KEY_CAPSLOCK, "caps_lock", "capslock"),
	K(0x3a, KEY_F1, "f1", NULL), K(0x3b, KEY_F2, "f2", NULL), K(0x3c, KEY_F3, "f3", NULL),
	K(0x3d, KEY_F4, "f4", NULL), K(0x3e, KEY_F5, "f5", NULL), K(0x3f, KEY_F6, "f6", NULL),
	K(0x40, KEY_F7, "f7", NULL), K(0x41, KEY_F8, "f8", NULL), K(0x42, KEY_F9, "f9", NULL),
	K(0x43, KEY_F10, "f10", NULL), K(0x44, KEY_F11, "f11", NULL), K(0x45, KEY_F12, "f12", NULL),
	K(0x46, KEY_SYSRQ, "print_screen", "print"), K(0x47, KEY_SCROLLLOCK, "scroll_lock", NULL),
	K(0x48, KEY_PAUSE, "pause", NULL), K(0x49, KEY_INSERT, "insert", NULL), K(0x4a, KEY_HOME, "home", NULL),
	K(0x4b, KEY_PAGEUP, "page_up", "pgup"), K(0x4c, KEY_DELETE, "delete", NULL), K(0x4d, KEY_END, "end", NULL),
	K(0x4e, KEY_PAGEDOWN, "page_down", "pgdn"), K(0x4f, KEY_RIGHT, "right_arrow", "right"),
	K(0x50, KEY_LEFT, "left_arrow", "left"), K(0x51, KEY_DOWN, "down_arrow", "down"),
	K(0x52, KEY_UP, "up_arrow", "up"), K(0x53, KEY_NUMLOCK, "num_lock", NULL),
	K(0x54, KEY_KPSLASH, "kp_slash", "kp_divide"), K(0x55, KEY_KPASTERISK, "kp_asterisk", "kp_multiply"),
	K(0x56, KEY_KPMINUS, "kp_minus", "kp_subtract"), K(0x57, KEY_KPPLUS, "kp_plus", "kp_add"),
	K(0x58, KEY_KPENTER, "kp_enter", NULL), K(0x59, KEY_KP1, "kp_1", NULL), K(0x5a, KEY_KP2, "kp_2", NULL),
	K(0x5b, KEY_KP3, "kp_3", NULL), K(0x5c, KEY_KP4, "kp_4", NULL), K(0x5d, KEY_KP5, "kp_5", NULL),
	K(0x5e, KEY_KP6, "kp_6", NULL), K(0x5f, KEY_KP7, "kp_7", NULL), K(0x60, KEY_KP8, "kp_8", NULL),
	K(0x61, KEY_KP9, "kp_9", NULL), K(0x62, KEY_KP0, "kp_0", NULL), K(0x63, KEY_KPDOT, "kp_period", "kp_decimal"),
	K(0x64, KEY_102ND, "non_us_backslash", "less"), K(0x65, KEY_COMPOSE, "application", "compose"),
	K(0x66, KEY_POWER, "power", NULL), K(0x67, KEY_KPEQUAL, "kp_equal", "kp_equals"),
	K(0x68, KEY_F13, "f13", NULL), K(0x69, KEY_F14, "f14", NULL), K(0x6a, KEY_F15, "f15", NULL),
	K(0x6b, KEY_F16, "f16", NULL), K(0x6c, KEY_F17, "f17", NULL), K(0x6d, KEY_F18, "f18", NULL),
	K(0x6e, KEY_F19, "f19", NULL), K(0x6f, KEY_F20, "f20", NULL), K(0x70, KEY_F21, "f21", NULL),
	K(0x71, KEY_F22, "f22", NULL), K(0x72, KEY_F23, "f23", NULL), K(0x73, KEY_F24, "f24", NULL),
	K(0x74, KEY_OPEN, "execute", NULL), K(0x75, KEY_HELP, "help", NULL), K(0x76, KEY_PROPS, "menu", NULL),
	K(0x77, KEY_FRONT, "select", NULL), K(0x78, KEY_STOP, "stop", NULL), K(0x79, KEY_AGAIN, "again", NULL),
	K(0x7a, KEY_UNDO, "undo", NULL), K(0x7b, KEY_CUT, "cut", NULL), K(0x7c, KEY_COPY, "copy", NULL),
	K(0x7d, KEY_PASTE, "paste", NULL), K(0x7e, KEY_FIND, "find", NULL), K(0x7f, KEY_MUTE, "keyboard_mute", NULL),
	K(0x80, KEY_VOLUMEUP, "keyboard_volume_up", NULL), K(0x81, KEY_VOLUMEDOWN, "keyboard_volume_down", NULL),
	K(0x85, KEY_KPCOMMA, "kp_comma", NULL), K(0x87, KEY_RO, "international1", "ro"),
	K(0x88, KEY_KATAKANAHIRAGANA, "international2", "katakanahiragana"), K(0x89, KEY_YEN, "international3", "yen"),
	K(0x8a, KEY_HENKAN, "international4", "henkan"), K(0x8b, KEY_MUHENKAN, "international5", "muhenkan"),
	K(0x8c, KEY_KPJPCOMMA, "international6", NULL), K(0x90, KEY_HANGEUL, "lang1", "hangeul"),
	K(0x91, KEY_HANJA, "lang2", "hanja"), K(0x92, KEY_KATAKANA, "lang3", "katakana"),
	K(0x93, KEY_HIRAGANA, "lang4", "hiragana"), K(0x94, KEY_ZENKAKUHANKAKU, "lang5", "zenkakuhankaku"),
	K(0xe0, KEY_LEFTCTRL, "left_control", "ctrl"), K(0xe1, KEY_LEFTSHIFT, "left_shift", "shift"),
	K(0xe2, KEY_LEFTALT, "left_alt", "alt"), K(0xe3, KEY_LEFTMETA, "left_gui", "meta_l"),
	K(0xe4, KEY_RIGHTCTRL, "right_control", "ctrl_r"), K(0xe5, KEY_RIGHTSHIFT, "right_shift", "shift_r"),
	K(0xe6, KEY_RIGHTALT, "right_alt", "alt_r"), K(0xe7, KEY_RIGHTMETA, "right_gui", "meta_r"),
	/* consumer page */
	C(0x30, KEY_POWER, "consumer_power", NULL), C(0x32, KEY_SLEEP, "consumer_sleep", NULL),
	C(0x6f, KEY_BRIGHTNESSUP, "brightness_up", NULL), C(0x70, KEY_BRIGHTNESSDOWN, "brightness_down", NULL),
	C(0xb0, KEY_PLAY, "play", NULL), C(0xb1, KEY_PAUSECD, "media_pause", NULL),
	C(0xb2, KEY_RECORD, "record", NULL), C(0xb3, KEY_FASTFORWARD, "fast_forward", NULL),
	C(0xb4, KEY_REWIND, "rewind", NULL), C(0xb5, KEY_NEXTSONG, "next_track", NULL),
	C(0xb6, KEY_PREVIOUSSONG, "previous_track", NULL), C(0xb7, KEY_STOPCD, "media_stop", NULL),
	C(0xb8, KEY_EJECTCD, "eject", NULL), C(0xcd, KEY_PLAYPAUSE, "play_pause", NULL),
	C(0xe2, KEY_MUTE, "mute", NULL), C(0xe9, KEY_VOLUMEUP, "volume_up", NULL),
	C(0xea, KEY_VOLUMEDOWN, "volume_down", NULL), C(0x183, KEY_CONFIG, "media_select", NULL),
	C(0x18a, KEY_MAIL, "mail", NULL), C(0x192, KEY_CALC, "calculator", NULL),
	C(0x194, KEY_FILE, "file_browser", NULL), C(0x221, KEY_SEARCH, "search", NULL),
	C(0x223, KEY_HOMEPAGE, "browser_home", NULL), C(0x224, KEY_BACK, "browser_back", NULL),
	C(0x225, KEY_FORWARD, "browser_forward", NULL), C(0x226, KEY_STOP, "browser_stop", NULL),
	C(0x227, KEY_REFRESH, "browser_refresh", NULL), C(0x22a, KEY_BOOKMARKS, "bookmarks", NULL),
	{ UDK_HID_USAGE_EXT(0x0c, 0x238), EV_REL, REL_HWHEEL, "ac_pan", NULL },
	/* generic desktop */
	G(0x30, EV_REL, REL_X, "x", NULL), G(0x31, EV_REL, REL_Y, "y", NULL), G(0x32, EV_REL, REL_Z, "z", NULL),
	G(0x38, EV_REL, REL_WHEEL, "wheel", NULL), G(0x81, EV_KEY, KEY_POWER, "system_power_down", NULL),
	G(0x82, EV_KEY, KEY_SLEEP, "system_sleep", NULL), G(0x83, EV_KEY, KEY_WAKEUP, "system_wake_up", NULL),
	/* LEDs */
	{ UDK_HID_USAGE_EXT(0x08, 0x01), EV_LED, LED_NUML, "led_num_lock", NULL },
	{ UDK_HID_USAGE_EXT(0x08, 0x02), EV_LED, LED_CAPSL, "led_caps_lock", NULL },
	{ UDK_HID_USAGE_EXT(0x08, 0x03), EV_LED, LED_SCROLLL, "led_scroll_lock", NULL },
	{ UDK_HID_USAGE_EXT(0x08, 0x04), EV_LED, LED_COMPOSE, "led_compose", NULL },
	{ UDK_HID_USAGE_EXT(0x08, 0x05), EV_LED, LED_KANA, "led_kana", NULL },
};

/* buttons 1..8 are the mouse buttons, the next ones BTN_MISC's range */
static const char *const button_names[] = { "button1", "button2", "button3", "button4",
					    "button5", "button6", "button7", "button8" };

UDK_EXPORT bool
udk_hid_usage_to_evdev(uint32_t usage, uint16_t *ret_type, uint16_t *ret_code)
{
	uint16_t page = (uint16_t)(usage >> 16), id = (uint16_t)usage;

	if (page == 0x09 && id >= 1 && id <= 16) {
		*ret_type = EV_KEY;
		*ret_code = (uint16_t)(id <= 8 ? BTN_MOUSE + id - 1 : BTN_MISC + id - 9);
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].usage == usage) {
			*ret_type = table[i].type;
			*ret_code = table[i].code;
			return true;
		}
	return false;
}

UDK_EXPORT uint32_t
udk_hid_usage_from_evdev(uint16_t type, uint16_t code)
{
	if (type == EV_KEY && code >= BTN_MOUSE && code < BTN_MOUSE + 8)
		return UDK_HID_USAGE_EXT(0x09, code - BTN_MOUSE + 1);
	if (type == EV_KEY && code >= BTN_MISC && code < BTN_MISC + 8)
		return UDK_HID_USAGE_EXT(0x09, code - BTN_MISC + 9);
	/*
	 * Codes two usages share: the volume keys are consumer controls on
	 * most devices, KEY_BACKSLASH is the US backslash key.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		uint32_t u = table[i].usage;
		if (u == UDK_HID_USAGE_EXT(0x07, 0x32) || u == UDK_HID_USAGE_EXT(0x07, 0x7f) ||
		    u == UDK_HID_USAGE_EXT(0x07, 0x80) || u == UDK_HID_USAGE_EXT(0x07, 0x81) ||
		    u == UDK_HID_USAGE_EXT(0x0c, 0x30) || u == UDK_HID_USAGE_EXT(0x0c, 0x32) ||
		    u == UDK_HID_USAGE_EXT(0x0c, 0x226) || u == UDK_HID_USAGE_EXT(0x01, 0x81) ||
		    u == UDK_HID_USAGE_EXT(0x01, 0x82))
			continue;
		if (table[i].type == type && table[i].code == code)
			return u;
	}
	return 0;
}

UDK_EXPORT const char *
udk_hid_usage_name(uint32_t usage)
{
	uint16_t page = (uint16_t)(usage >> 16), id = (uint16_t)usage;

	if (page == 0x09 && id >= 1 && id <= ARRAY_SIZE(button_names))
		return button_names[id - 1];
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].usage == usage)
			return table[i].name;
	return NULL;
}

UDK_EXPORT int
udk_hid_usage_parse(const char *name, uint32_t *ret)
{
	unsigned long page, id;
	char *end;

	udk_return_val_if_fail(name && ret, -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (streq(table[i].name, name) || streq(table[i].alias, name)) {
			*ret = table[i].usage;
			return 0;
		}
	for (size_t i = 0; i < ARRAY_SIZE(button_names); i++)
		if (streq(button_names[i], name)) {
			*ret = UDK_HID_USAGE_EXT(0x09, i + 1);
			return 0;
		}
	page = strtoul(name, &end, 0);
	if (end != name && *end == ':' && page <= 0xffff) {
		const char *s = end + 1;
		id = strtoul(s, &end, 0);
		if (end != s && !*end && id <= 0xffff) {
			*ret = (uint32_t)(page << 16 | id);
			return 0;
		}
	}
	return udk_set_reason(-EINVAL, "\"%s\" names no HID usage; use a key name such as \"caps_lock\", "
				       "\"escape\", \"a\", \"left_shift\", or PAGE:ID such as 0x07:0x39",
			      name);
}
