/* SPDX-License-Identifier: MIT */
/*
 * serial/daemon/msg.c - checks on what a serial driver sends udkd: the
 * names it asks for and the status it publishes.  Pure functions, so the
 * fuzz target (families/serial/tests/fuzz-serial-msg.c) drives them alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "../proto-serial.h"
#include "serial-msg.h"

bool
serial_name_ok(const char *s, bool allow_empty, char *why, size_t len)
{
	size_t n = s ? strlen(s) : 0;

	if (!s || (!n && !allow_empty)) {
		snprintf(why, len, "is empty");
		return false;
	}
	if (n > SERIAL_NAME_MAX) {
		snprintf(why, len, "is %zu characters long; at most %d are allowed", n, SERIAL_NAME_MAX);
		return false;
	}
	if (n && (s[0] == '.' || s[0] == '-')) {
		snprintf(why, len, "\"%s\" starts with '%c'", s, s[0]);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != '.' && c != '+') {
			snprintf(why, len, "has the character 0x%02x at %zu; use letters, digits, '_', '-', '.' and '+'", c,
				 i);
			return false;
		}
	}
	return true;
}

bool
serial_suffix_numeric(const char *s)
{
	if (!s || !*s || strlen(s) > 9)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool
small_scalar(const struct udk_value *v)
{
	switch (udk_value_get_type(v)) {
	case UDK_VALUE_BOOL:
	case UDK_VALUE_INT:
		return true;
	case UDK_VALUE_STRING:
		return strlen(udk_value_get_string(v)) <= 16;
	default:
		return false;
	}
}

/* A dict of at most 16 small scalars under short keys. */
static bool
small_dict(const struct udk_value *v)
{
	if (udk_value_get_type(v) != UDK_VALUE_DICT || udk_dict_size(v) > 16)
		return false;
	for (size_t i = 0; i < udk_dict_size(v); i++)
		if (strlen(udk_dict_key_at(v, i)) > 16 || !small_scalar(udk_dict_value_at(v, i)))
			return false;
	return true;
}

struct udk_value *
serial_filter_status(const struct udk_value *status, char *why, size_t len)
{
	static const char *const dicts[] = { "UDKSerialLine", "UDKSerialErrors", "UDKSerialModem" };
	struct udk_value *out;

	if (udk_value_get_type(status) != UDK_VALUE_DICT || udk_dict_size(status) > 8) {
		snprintf(why, len, "the status must be a dictionary of at most 8 keys");
		return NULL;
	}
	out = udk_value_new_dict();
	for (size_t i = 0; i < udk_dict_size(status); i++) {
		const char *key = udk_dict_key_at(status, i);
		const struct udk_value *v = udk_dict_value_at(status, i);
		bool known = false;

		for (size_t k = 0; k < sizeof(dicts) / sizeof(dicts[0]); k++)
			if (!strcmp(key, dicts[k])) {
				known = true;
				if (!small_dict(v)) {
					snprintf(why, len, "%s must be a dictionary of at most 16 numbers or short strings",
						 key);
					udk_value_unref(out);
					return NULL;
				}
			}
		if (!strcmp(key, "UDKSerialRefusal")) {
			known = true;
			if (udk_value_get_type(v) != UDK_VALUE_STRING ||
			    strlen(udk_value_get_string(v)) > SERIAL_REASON_MAX) {
				snprintf(why, len, "UDKSerialRefusal must be a sentence of at most %d bytes",
					 SERIAL_REASON_MAX);
				udk_value_unref(out);
				return NULL;
			}
		}
		if (!known) {
			snprintf(why, len, "\"%.40s\" is not a serial status key (UDKSerialLine, UDKSerialErrors, "
				 "UDKSerialModem, UDKSerialRefusal)", key);
			udk_value_unref(out);
			return NULL;
		}
		udk_dict_set(out, key, (struct udk_value *)v);
	}
	return out;
}
