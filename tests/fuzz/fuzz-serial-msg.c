/* SPDX-License-Identifier: MIT */
/*
 * The serial family's checks on what a driver sends udkd
 * (families/serial/daemon/msg.c): a port's status dictionary and the names
 * it asks for, after the value decoder.
 */
#include "../../families/serial/daemon/serial-msg.h"
#include "util.h"
#include "value-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_value *v = NULL, *out;
	char why[200];

	if (value_decode(data, size, &v) < 0)
		return 0;
	out = serial_filter_status(udk_dict_get(v, "status"), why, sizeof(why));
	if (out) {
		/* what passes is only the family's keys */
		for (size_t i = 0; i < udk_dict_size(out); i++)
			if (strncmp(udk_dict_key_at(out, i), "UDKSerial", 9) != 0)
				abort();
		udk_value_unref(out);
	}
	for (const char *k = "base"; k; k = strcmp(k, "base") == 0 ? "suffix" : NULL) {
		const char *s = udk_dict_get_string(v, k);
		if (s && serial_name_ok(s, true, why, sizeof(why)) && (strchr(s, '/') || s[0] == '.'))
			abort();
	}
	udk_value_unref(v);
	return 0;
}
