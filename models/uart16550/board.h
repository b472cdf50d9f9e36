/* SPDX-License-Identifier: MIT */
/* board.h - the custom board behind the simulated UART (board.c). */
#ifndef UDK_BOARD_H
#define UDK_BOARD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOARD_LINE_MAX 128

struct board {
	char line[BOARD_LINE_MAX + 1];
	size_t line_len;
	bool too_long;
	uint8_t leds;
	uint64_t commands;
	uint8_t out[4096];		/* answers not yet on the line */
	size_t out_len;
};

/* Bytes from the UART's TX; returns how many it took (it stops while its
 * answers would not fit). */
size_t board_input(struct board *b, const uint8_t *data, size_t len);
/* The line took @n bytes of b->out. */
void board_take(struct board *b, size_t n);

#endif
