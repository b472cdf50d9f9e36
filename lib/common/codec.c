/* SPDX-License-Identifier: MIT */
/* codec.c - binary encoding of udk_value for the wire (see value-private.h). */
#include "util.h"
#include "value-private.h"

void
value_encode(struct buf *b, const struct udk_value *v)
{
	uint64_t bits;

	switch (v->type) {
	case UDK_VALUE_BOOL:
		buf_putc(b, v->b ? VT_TRUE : VT_FALSE);
		break;
	case UDK_VALUE_INT:
		buf_putc(b, v->is_unsigned ? VT_UINT : VT_INT);
		buf_put_u64(b, v->u);
		break;
	case UDK_VALUE_REAL:
		buf_putc(b, VT_REAL);
		memcpy(&bits, &v->d, sizeof(bits));
		buf_put_u64(b, bits);
		break;
	case UDK_VALUE_STRING:
		buf_putc(b, VT_STRING);
		buf_put_u32(b, (uint32_t)v->str.len);
		buf_append(b, v->str.s, v->str.len);
		break;
	case UDK_VALUE_DATA:
		buf_putc(b, VT_DATA);
		buf_put_u32(b, (uint32_t)v->data.len);
		buf_append(b, v->data.p, v->data.len);
		break;
	case UDK_VALUE_ARRAY:
		buf_putc(b, VT_ARRAY);
		buf_put_u32(b, (uint32_t)v->arr.n);
		for (size_t i = 0; i < v->arr.n; i++)
			value_encode(b, v->arr.items[i]);
		break;
	case UDK_VALUE_DICT:
		buf_putc(b, VT_DICT);
		buf_put_u32(b, (uint32_t)v->dict.n);
		for (size_t i = 0; i < v->dict.n; i++) {
			size_t kl = strlen(v->dict.keys[i]);
			buf_put_u32(b, (uint32_t)kl);
			buf_append(b, v->dict.keys[i], kl);
			value_encode(b, v->dict.vals[i]);
		}
		break;
	}
	if ((v->type == UDK_VALUE_STRING && v->str.len > UINT32_MAX) ||
	    (v->type == UDK_VALUE_DATA && v->data.len > UINT32_MAX))
		if (!b->err)
			b->err = -E2BIG;
}

struct reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static int
rd_u32(struct reader *r, uint32_t *v)
{
	if (r->len - r->pos < 4)
		return udk_set_reason(-EBADMSG, "value truncated: a 4-byte length is cut off at offset %zu", r->pos);
	const uint8_t *p = r->p + r->pos;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	r->pos += 4;
	return 0;
}

static int
rd_u64(struct reader *r, uint64_t *v)
{
	uint32_t lo, hi;
	int e;

	if (r->len - r->pos < 8)
		return udk_set_reason(-EBADMSG, "value truncated: an 8-byte number is cut off at offset %zu", r->pos);
	if ((e = rd_u32(r, &lo)) < 0 || (e = rd_u32(r, &hi)) < 0)
		return e;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

static int
rd_bytes(struct reader *r, uint32_t n, const uint8_t **ret)
{
	if (r->len - r->pos < n)
		return udk_set_reason(-EBADMSG, "value truncated: %u bytes announced at offset %zu, %zu left", n,
				      r->pos, r->len - r->pos);
	*ret = r->p + r->pos;
	r->pos += n;
	return 0;
}

static int
decode_one(struct reader *r, int depth, struct udk_value **ret)
{
	struct udk_value *v = NULL;
	const uint8_t *bytes = NULL;
	uint64_t u;
	uint32_t n;
	uint8_t tag;
	int e;

	if (depth > VALUE_MAX_DEPTH)
		return udk_set_reason(-EBADMSG, "value nested deeper than %d levels", VALUE_MAX_DEPTH);
	if (r->pos >= r->len)
		return udk_set_reason(-EBADMSG, "value truncated: type byte missing at offset %zu", r->pos);
	tag = r->p[r->pos++];
	switch (tag) {
	case VT_FALSE:
	case VT_TRUE:
		v = udk_value_new_bool(tag == VT_TRUE);
		break;
	case VT_INT:
	case VT_UINT:
		if ((e = rd_u64(r, &u)) < 0)
			return e;
		v = tag == VT_INT ? udk_value_new_int((int64_t)u) : udk_value_new_uint(u);
		break;
	case VT_REAL: {
		double d;
		if ((e = rd_u64(r, &u)) < 0)
			return e;
		memcpy(&d, &u, sizeof(d));
		v = udk_value_new_real(d);
		break;
	}
	case VT_STRING:
		if ((e = rd_u32(r, &n)) < 0 || (e = rd_bytes(r, n, &bytes)) < 0)
			return e;
		if (memchr(bytes, '\0', n))
			return udk_set_reason(-EBADMSG, "string at offset %zu contains a NUL byte", r->pos - n);
		v = udk_value_new_string_len((const char *)bytes, n);
		break;
	case VT_DATA:
		if ((e = rd_u32(r, &n)) < 0 || (e = rd_bytes(r, n, &bytes)) < 0)
			return e;
		v = udk_value_new_data(bytes, n);
		break;
	case VT_ARRAY:
		if ((e = rd_u32(r, &n)) < 0)
			return e;
		/* every element takes at least one byte */
		if (n > r->len - r->pos)
			return udk_set_reason(-EBADMSG, "array announces %u elements but only %zu bytes follow", n,
					      r->len - r->pos);
		v = udk_value_new_array();
		for (uint32_t i = 0; v && i < n; i++) {
			struct udk_value *item = NULL;
			if ((e = decode_one(r, depth + 1, &item)) < 0) {
				udk_value_unref(v);
				return e;
			}
			e = udk_array_append_take(v, item);
			if (e < 0) {
				udk_value_unref(v);
				return e;
			}
		}
		break;
	case VT_DICT:
		if ((e = rd_u32(r, &n)) < 0)
			return e;
		/* every entry takes at least 5 bytes: key length + type */
		if (n > (r->len - r->pos) / 5)
			return udk_set_reason(-EBADMSG, "dictionary announces %u entries but only %zu bytes follow", n,
					      r->len - r->pos);
		v = udk_value_new_dict();
		for (uint32_t i = 0; v && i < n; i++) {
			struct udk_value *item = NULL;
			uint32_t kl;
			char key[256];

			if ((e = rd_u32(r, &kl)) < 0 || (e = rd_bytes(r, kl, &bytes)) < 0) {
				udk_value_unref(v);
				return e;
			}
			if (kl >= sizeof(key) || memchr(bytes, '\0', kl)) {
				udk_value_unref(v);
				return udk_set_reason(-EBADMSG,
						      "dictionary key at offset %zu is longer than 255 bytes or holds a NUL",
						      r->pos - kl);
			}
			memcpy(key, bytes, kl);
			key[kl] = '\0';
			if (udk_dict_get(v, key)) {
				udk_value_unref(v);
				return udk_set_reason(-EBADMSG, "dictionary key \"%s\" appears twice", key);
			}
			if ((e = decode_one(r, depth + 1, &item)) < 0) {
				udk_value_unref(v);
				return e;
			}
			e = udk_dict_set_take(v, key, item);
			if (e < 0) {
				udk_value_unref(v);
				return e;
			}
		}
		break;
	default:
		return udk_set_reason(-EBADMSG, "unknown value type byte %u at offset %zu", tag, r->pos - 1);
	}
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

int
value_decode_prefix(const void *p, size_t len, struct udk_value **ret, size_t *ret_used)
{
	struct reader r = { .p = p, .len = len, .pos = 0 };
	int e;

	if (!p && len)
		return -EINVAL;
	e = decode_one(&r, 0, ret);
	if (e < 0)
		return e;
	if (ret_used)
		*ret_used = r.pos;
	return 0;
}

int
value_decode(const void *p, size_t len, struct udk_value **ret)
{
	struct udk_value *v = NULL;
	size_t used = 0;
	int e;

	e = value_decode_prefix(p, len, &v, &used);
	if (e < 0)
		return e;
	if (used != len) {
		udk_value_unref(v);
		return udk_set_reason(-EBADMSG, "%zu stray bytes after the value", len - used);
	}
	*ret = v;
	return 0;
}
