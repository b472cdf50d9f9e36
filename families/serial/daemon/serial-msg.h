/* SPDX-License-Identifier: MIT */
/* serial-msg.h - checks on serial drivers' messages (msg.c). */
#ifndef UDK_SERIAL_MSG_H
#define UDK_SERIAL_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include <udk/value.h>

/* A base name or suffix udkd accepts; @why says what is wrong. */
bool serial_name_ok(const char *s, bool allow_empty, char *why, size_t len);
/* "123": the next suffix is 124. */
bool serial_suffix_numeric(const char *s);
/* The status keys a driver may publish, checked and copied; NULL with @why. */
struct udk_value *serial_filter_status(const struct udk_value *status, char *why, size_t len);

#endif
