/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void *
buf_grow(struct buf *b, size_t n)
{
	size_t need;

	if (b->err)
		return NULL;
	if (__builtin_add_overflow(b->len, n, &need) || need == SIZE_MAX) {
		b->err = -E2BIG;
		return NULL;
	}
	if (b->max && need > b->max) {
		b->err = -E2BIG;
		return NULL;
	}
	if (need + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < need + 1) {
			if (cap > SIZE_MAX / 2) {
				cap = need + 1;
				break;
			}
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	b->len = need;
	return b->p + need - n;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	void *d = buf_grow(b, n);

	if (d && n)
		memcpy(d, p, n);
}

void
buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		buf_append(b, small, (size_t)n);
		return;
	}
	char *d = buf_grow(b, (size_t)n + 1);
	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len--; /* drop the NUL */
}

void
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	buf_append(b, d, 4);
}

void
buf_put_u64(struct buf *b, uint64_t v)
{
	buf_put_u32(b, (uint32_t)v);
	buf_put_u32(b, (uint32_t)(v >> 32));
}

char *
buf_steal_string(struct buf *b)
{
	char *s;

	if (b->err) {
		buf_free(b);
		return NULL;
	}
	if (!buf_grow(b, 1)) {
		buf_free(b);
		return NULL;
	}
	b->p[b->len - 1] = '\0';
	s = (char *)b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return s;
}
