/* SPDX-License-Identifier: MIT */
/* value-private.h - layout of udk_value and its binary codec (internal). */
#ifndef UDK_COMMON_VALUE_PRIVATE_H
#define UDK_COMMON_VALUE_PRIVATE_H

#include <sys/types.h>

#include <udk/value.h>

#include "buf.h"

struct udk_value {
	int refcount;
	enum udk_value_type type;
	bool is_unsigned;	/* INT only: print as unsigned */
	union {
		bool b;
		uint64_t u;
		double d;
		struct {
			char *s;
			size_t len;
		} str;
		struct {
			uint8_t *p;
			size_t len;
		} data;
		struct {
			struct udk_value **items;
			size_t n, cap;
		} arr;
		struct {
			char **keys;
			struct udk_value **vals;
			size_t n, cap;
			uint32_t *index;	/* open addressing, pos+1; 0 = empty */
			size_t index_cap;
		} dict;
	};
};

/*
 * Binary encoding used on every udk socket.  One tag byte, then:
 *   FALSE/TRUE   nothing
 *   INT/UINT     8 bytes little endian
 *   REAL         8 bytes IEEE-754 little endian
 *   STRING/DATA  u32 length, bytes (strings hold no NUL)
 *   ARRAY        u32 count, count values
 *   DICT         u32 count, count × (u32 key length, key bytes, value)
 * Decoders reject: unknown tags, lengths past the end, NUL in strings or
 * keys, duplicate keys, nesting deeper than VALUE_MAX_DEPTH, trailing bytes.
 */
enum value_tag {
	VT_FALSE = 1,
	VT_TRUE = 2,
	VT_INT = 3,
	VT_UINT = 4,
	VT_REAL = 5,
	VT_STRING = 6,
	VT_DATA = 7,
	VT_ARRAY = 8,
	VT_DICT = 9,
};

#define VALUE_MAX_DEPTH 32
/* Values in one property list, counted before libplist sees it. */
#define PLIST_MAX_NODES (1u << 18)

void
value_encode(struct buf *b, const struct udk_value *v);
/* -EBADMSG with a reason sentence on malformed input. */
int
value_decode(const void *p, size_t len, struct udk_value **ret);
/* Decode one value from the front; *ret_used tells how many bytes it took. */
int
value_decode_prefix(const void *p, size_t len, struct udk_value **ret, size_t *ret_used);

void
json_put_string(struct buf *b, const char *s, size_t len);

#endif
