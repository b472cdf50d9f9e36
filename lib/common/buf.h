/* SPDX-License-Identifier: MIT */
/* buf.h - a growable byte buffer with a sticky error (internal). */
#ifndef UDK_COMMON_BUF_H
#define UDK_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err;	/* first error (-ENOMEM, -E2BIG); later appends are no-ops */
	size_t max;	/* 0: unlimited */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Reserve @n more bytes and return a pointer to them (NULL on error). */
void *buf_grow(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_putc(struct buf *b, char c);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
/* NUL-terminate and hand the bytes over; NULL if an error happened. */
char *buf_steal_string(struct buf *b);

#endif
