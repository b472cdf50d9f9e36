/* SPDX-License-Identifier: MIT */
/*
 * board.c - the "custom board" at the far end of a simulated UART: a
 * small device that speaks a line protocol, as the forum's iPad board
 * would.  Commands end with '\n' ('\r' ignored); every answer is one line
 * ending "\r\n".
 *
 *	HELLO			CUSTOM-BOARD 1.0 ready
 *	PING			PONG
 *	LED <0..7> ON|OFF	OK LED <n> ON|OFF
 *	LEDS?			LEDS <8 bits, LED 7 first>
 *	TEMP?			TEMP <degrees C, one decimal>
 *	ECHO <text>		<text>
 *	SUM <a> <b>		SUM <a+b>
 *	anything else		ERR <why>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

static void
answer(struct board *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
answer(struct board *b, const char *fmt, ...)
{
	char line[BOARD_LINE_MAX + 32];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (b->out_len + (size_t)n <= sizeof(b->out)) {
		memcpy(b->out + b->out_len, line, (size_t)n);
		b->out_len += (size_t)n;
	}
}

static void
command(struct board *b, char *cmd)
{
	long x, y;
	unsigned n;
	char onoff[4];

	b->commands++;
	if (!strcmp(cmd, "HELLO"))
		answer(b, "CUSTOM-BOARD 1.0 ready");
	else if (!strcmp(cmd, "PING"))
		answer(b, "PONG");
	else if (sscanf(cmd, "LED %u %3s", &n, onoff) == 2 && n < 8 && (!strcmp(onoff, "ON") || !strcmp(onoff, "OFF"))) {
		if (!strcmp(onoff, "ON"))
			b->leds |= (uint8_t)(1u << n);
		else
			b->leds &= (uint8_t)~(1u << n);
		answer(b, "OK LED %u %s", n, onoff);
	} else if (!strcmp(cmd, "LEDS?")) {
		char bits[9];
		for (int i = 0; i < 8; i++)
			bits[i] = (b->leds >> (7 - i)) & 1 ? '1' : '0';
		bits[8] = 0;
		answer(b, "LEDS %s", bits);
	} else if (!strcmp(cmd, "TEMP?"))
		answer(b, "TEMP %d.%d", 21 + (int)(b->commands % 3), (int)(b->commands % 10));
	else if (!strncmp(cmd, "ECHO ", 5))
		answer(b, "%s", cmd + 5);
	else if (sscanf(cmd, "SUM %ld %ld", &x, &y) == 2)
		answer(b, "SUM %ld", x + y);
	else
		answer(b, "ERR unknown command: %.60s", cmd);
}

size_t
board_input(struct board *b, const uint8_t *data, size_t len)
{
	size_t used = 0;

	/* take no more while an answer of full length might not fit */
	while (used < len && b->out_len + BOARD_LINE_MAX + 32 <= sizeof(b->out)) {
		uint8_t c = data[used++];

		if (c == '\r')
			continue;
		if (c == '\n') {
			if (b->too_long)
				answer(b, "ERR line too long (at most %d characters)", BOARD_LINE_MAX);
			else if (b->line_len) {
				b->line[b->line_len] = 0;
				command(b, b->line);
			}
			b->line_len = 0;
			b->too_long = false;
			continue;
		}
		if (b->line_len < BOARD_LINE_MAX)
			b->line[b->line_len++] = (char)c;
		else
			b->too_long = true;
	}
	return used;
}

void
board_take(struct board *b, size_t n)
{
	if (n >= b->out_len) {
		b->out_len = 0;
		return;
	}
	memmove(b->out, b->out + n, b->out_len - n);
	b->out_len -= n;
}
