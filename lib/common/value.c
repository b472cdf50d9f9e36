/* SPDX-License-Identifier: MIT */
/* value.c - typed, reference-counted property values. */
#include <math.h>
#include <sys/random.h>

#include <udk/value.h>

#include "buf.h"
#include "util.h"
#include "value-private.h"

/* Dictionaries build a hash index once they hold this many keys. */
#define DICT_INDEX_MIN 16

static struct udk_value *
value_alloc(enum udk_value_type t)
{
	struct udk_value *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->refcount = 1;
	v->type = t;
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_bool(bool b)
{
	struct udk_value *v = value_alloc(UDK_VALUE_BOOL);

	if (v)
		v->b = b;
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_int(int64_t i)
{
	struct udk_value *v = value_alloc(UDK_VALUE_INT);

	if (v)
		v->u = (uint64_t)i;
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_uint(uint64_t u)
{
	struct udk_value *v = value_alloc(UDK_VALUE_INT);

	if (v) {
		v->u = u;
		v->is_unsigned = true;
	}
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_real(double d)
{
	struct udk_value *v = value_alloc(UDK_VALUE_REAL);

	if (v)
		v->d = d;
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_string_len(const char *s, size_t len)
{
	struct udk_value *v;

	if (!s || memchr(s, '\0', len))
		return NULL;
	v = value_alloc(UDK_VALUE_STRING);
	if (!v)
		return NULL;
	v->str.s = malloc(len + 1);
	if (!v->str.s) {
		free(v);
		return NULL;
	}
	memcpy(v->str.s, s, len);
	v->str.s[len] = '\0';
	v->str.len = len;
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_string(const char *s)
{
	return s ? udk_value_new_string_len(s, strlen(s)) : NULL;
}

UDK_EXPORT struct udk_value *
udk_value_new_data(const void *p, size_t len)
{
	struct udk_value *v;

	if (!p && len)
		return NULL;
	v = value_alloc(UDK_VALUE_DATA);
	if (!v)
		return NULL;
	v->data.p = malloc(len ? len : 1);
	if (!v->data.p) {
		free(v);
		return NULL;
	}
	if (len)
		memcpy(v->data.p, p, len);
	v->data.len = len;
	return v;
}

UDK_EXPORT struct udk_value *
udk_value_new_array(void)
{
	return value_alloc(UDK_VALUE_ARRAY);
}

UDK_EXPORT struct udk_value *
udk_value_new_dict(void)
{
	return value_alloc(UDK_VALUE_DICT);
}

UDK_EXPORT struct udk_value *
udk_value_ref(struct udk_value *v)
{
	if (v)
		__atomic_add_fetch(&v->refcount, 1, __ATOMIC_RELAXED);
	return v;
}

static void
value_free(struct udk_value *v)
{
	switch (v->type) {
	case UDK_VALUE_STRING:
		free(v->str.s);
		break;
	case UDK_VALUE_DATA:
		free(v->data.p);
		break;
	case UDK_VALUE_ARRAY:
		for (size_t i = 0; i < v->arr.n; i++)
			udk_value_unref(v->arr.items[i]);
		free(v->arr.items);
		break;
	case UDK_VALUE_DICT:
		for (size_t i = 0; i < v->dict.n; i++) {
			free(v->dict.keys[i]);
			udk_value_unref(v->dict.vals[i]);
		}
		free(v->dict.keys);
		free(v->dict.vals);
		free(v->dict.index);
		break;
	default:
		break;
	}
	free(v);
}

UDK_EXPORT struct udk_value *
udk_value_unref(struct udk_value *v)
{
	if (v && __atomic_sub_fetch(&v->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		value_free(v);
	return NULL;
}

UDK_EXPORT struct udk_value *
udk_value_copy(const struct udk_value *v)
{
	struct udk_value *c = NULL;

	if (!v)
		return NULL;
	switch (v->type) {
	case UDK_VALUE_BOOL:
		return udk_value_new_bool(v->b);
	case UDK_VALUE_INT:
		c = udk_value_new_int((int64_t)v->u);
		if (c)
			c->is_unsigned = v->is_unsigned;
		return c;
	case UDK_VALUE_REAL:
		return udk_value_new_real(v->d);
	case UDK_VALUE_STRING:
		return udk_value_new_string_len(v->str.s, v->str.len);
	case UDK_VALUE_DATA:
		return udk_value_new_data(v->data.p, v->data.len);
	case UDK_VALUE_ARRAY:
		c = udk_value_new_array();
		for (size_t i = 0; c && i < v->arr.n; i++)
			if (udk_array_append_take(c, udk_value_copy(v->arr.items[i])) < 0)
				c = udk_value_unref(c);
		return c;
	case UDK_VALUE_DICT:
		c = udk_value_new_dict();
		for (size_t i = 0; c && i < v->dict.n; i++)
			if (udk_dict_set_take(c, v->dict.keys[i], udk_value_copy(v->dict.vals[i])) < 0)
				c = udk_value_unref(c);
		return c;
	}
	return NULL;
}

UDK_EXPORT enum udk_value_type
udk_value_get_type(const struct udk_value *v)
{
	return v ? v->type : 0;
}

UDK_EXPORT const char *
udk_value_type_name(enum udk_value_type t)
{
	switch (t) {
	case UDK_VALUE_BOOL:
		return "bool";
	case UDK_VALUE_INT:
		return "integer";
	case UDK_VALUE_REAL:
		return "real";
	case UDK_VALUE_STRING:
		return "string";
	case UDK_VALUE_DATA:
		return "data";
	case UDK_VALUE_ARRAY:
		return "array";
	case UDK_VALUE_DICT:
		return "dictionary";
	}
	return "nothing";
}

UDK_EXPORT bool
udk_value_get_bool(const struct udk_value *v, bool fallback)
{
	return v && v->type == UDK_VALUE_BOOL ? v->b : fallback;
}

UDK_EXPORT int64_t
udk_value_get_int(const struct udk_value *v, int64_t fallback)
{
	return v && v->type == UDK_VALUE_INT ? (int64_t)v->u : fallback;
}

UDK_EXPORT uint64_t
udk_value_get_uint(const struct udk_value *v, uint64_t fallback)
{
	return v && v->type == UDK_VALUE_INT ? v->u : fallback;
}

UDK_EXPORT double
udk_value_get_real(const struct udk_value *v, double fallback)
{
	if (v && v->type == UDK_VALUE_REAL)
		return v->d;
	if (v && v->type == UDK_VALUE_INT)
		return v->is_unsigned ? (double)v->u : (double)(int64_t)v->u;
	return fallback;
}

UDK_EXPORT const char *
udk_value_get_string(const struct udk_value *v)
{
	return v && v->type == UDK_VALUE_STRING ? v->str.s : NULL;
}

UDK_EXPORT const void *
udk_value_get_data(const struct udk_value *v, size_t *ret_len)
{
	if (!v || v->type != UDK_VALUE_DATA) {
		if (ret_len)
			*ret_len = 0;
		return NULL;
	}
	if (ret_len)
		*ret_len = v->data.len;
	return v->data.p;
}

UDK_EXPORT bool
udk_value_equal(const struct udk_value *a, const struct udk_value *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->type != b->type)
		return false;
	switch (a->type) {
	case UDK_VALUE_BOOL:
		return a->b == b->b;
	case UDK_VALUE_INT:
		return a->u == b->u;
	case UDK_VALUE_REAL:
		return a->d == b->d;
	case UDK_VALUE_STRING:
		return a->str.len == b->str.len && memcmp(a->str.s, b->str.s, a->str.len) == 0;
	case UDK_VALUE_DATA:
		return a->data.len == b->data.len &&
		       (a->data.len == 0 || memcmp(a->data.p, b->data.p, a->data.len) == 0);
	case UDK_VALUE_ARRAY:
		if (a->arr.n != b->arr.n)
			return false;
		for (size_t i = 0; i < a->arr.n; i++)
			if (!udk_value_equal(a->arr.items[i], b->arr.items[i]))
				return false;
		return true;
	case UDK_VALUE_DICT:
		if (a->dict.n != b->dict.n)
			return false;
		for (size_t i = 0; i < a->dict.n; i++)
			if (!udk_value_equal(a->dict.vals[i], udk_dict_get(b, a->dict.keys[i])))
				return false;
		return true;
	}
	return false;
}

/* Arrays */

UDK_EXPORT size_t
udk_array_size(const struct udk_value *a)
{
	return a && a->type == UDK_VALUE_ARRAY ? a->arr.n : 0;
}

UDK_EXPORT struct udk_value *
udk_array_get(const struct udk_value *a, size_t i)
{
	if (!a || a->type != UDK_VALUE_ARRAY || i >= a->arr.n)
		return NULL;
	return a->arr.items[i];
}

UDK_EXPORT int
udk_array_append(struct udk_value *a, struct udk_value *v)
{
	udk_return_val_if_fail(a && a->type == UDK_VALUE_ARRAY && v && v != a, -EINVAL);
	if (a->arr.n == a->arr.cap) {
		size_t cap = a->arr.cap ? a->arr.cap * 2 : 4;
		struct udk_value **n = reallocarray(a->arr.items, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		a->arr.items = n;
		a->arr.cap = cap;
	}
	a->arr.items[a->arr.n++] = udk_value_ref(v);
	return 0;
}

UDK_EXPORT int
udk_array_append_take(struct udk_value *a, struct udk_value *v)
{
	int r;

	if (!v)
		return -ENOMEM;
	r = udk_array_append(a, v);
	udk_value_unref(v);
	return r;
}

/* Dictionaries */

/*
 * Keys come from peers: with a fixed hash function a sender could choose
 * keys that all land in one chain and make every lookup linear.  A seed
 * drawn once per process keeps the chains unpredictable.
 */
static uint32_t
hash_seed(void)
{
	static uint32_t seed;
	uint32_t s = __atomic_load_n(&seed, __ATOMIC_RELAXED);

	if (!s) {
		if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
			s = (uint32_t)now_ns() ^ (uint32_t)(uintptr_t)&seed;
		s |= 1;
		/* two threads may get here at once: the first value stays for good */
		uint32_t expected = 0;
		if (!__atomic_compare_exchange_n(&seed, &expected, s, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			s = expected;
	}
	return s;
}

static uint32_t
hash_key(const char *s)
{
	/* FNV-1a from a seeded start */
	uint32_t h = 2166136261u ^ hash_seed();

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void
dict_index_insert(struct udk_value *d, size_t pos)
{
	size_t mask = d->dict.index_cap - 1;
	size_t i = hash_key(d->dict.keys[pos]) & mask;

	while (d->dict.index[i])
		i = (i + 1) & mask;
	d->dict.index[i] = (uint32_t)pos + 1;
}

static int
dict_index_rebuild(struct udk_value *d)
{
	size_t cap = 32;
	uint32_t *idx;

	while (cap < d->dict.n * 2 + 2)
		cap *= 2;
	idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	free(d->dict.index);
	d->dict.index = idx;
	d->dict.index_cap = cap;
	for (size_t i = 0; i < d->dict.n; i++)
		dict_index_insert(d, i);
	return 0;
}

static ssize_t
dict_find(const struct udk_value *d, const char *key)
{
	if (d->dict.index) {
		size_t mask = d->dict.index_cap - 1;
		size_t i = hash_key(key) & mask;

		while (d->dict.index[i]) {
			size_t pos = d->dict.index[i] - 1;
			if (strcmp(d->dict.keys[pos], key) == 0)
				return (ssize_t)pos;
			i = (i + 1) & mask;
		}
		return -1;
	}
	for (size_t i = 0; i < d->dict.n; i++)
		if (strcmp(d->dict.keys[i], key) == 0)
			return (ssize_t)i;
	return -1;
}

UDK_EXPORT size_t
udk_dict_size(const struct udk_value *d)
{
	return d && d->type == UDK_VALUE_DICT ? d->dict.n : 0;
}

UDK_EXPORT struct udk_value *
udk_dict_get(const struct udk_value *d, const char *key)
{
	ssize_t i;

	if (!d || d->type != UDK_VALUE_DICT || !key)
		return NULL;
	i = dict_find(d, key);
	return i < 0 ? NULL : d->dict.vals[i];
}

UDK_EXPORT const char *
udk_dict_key_at(const struct udk_value *d, size_t i)
{
	if (!d || d->type != UDK_VALUE_DICT || i >= d->dict.n)
		return NULL;
	return d->dict.keys[i];
}

UDK_EXPORT struct udk_value *
udk_dict_value_at(const struct udk_value *d, size_t i)
{
	if (!d || d->type != UDK_VALUE_DICT || i >= d->dict.n)
		return NULL;
	return d->dict.vals[i];
}

UDK_EXPORT int
udk_dict_set(struct udk_value *d, const char *key, struct udk_value *v)
{
	ssize_t i;
	char *k;

	udk_return_val_if_fail(d && d->type == UDK_VALUE_DICT && key && v && v != d, -EINVAL);
	i = dict_find(d, key);
	if (i >= 0) {
		udk_value_ref(v);
		udk_value_unref(d->dict.vals[i]);
		d->dict.vals[i] = v;
		return 0;
	}
	if (d->dict.n >= UINT32_MAX - 1)
		return -E2BIG;
	if (d->dict.n == d->dict.cap) {
		size_t cap = d->dict.cap ? d->dict.cap * 2 : 8;
		char **nk = reallocarray(d->dict.keys, cap, sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		d->dict.keys = nk;
		struct udk_value **nv = reallocarray(d->dict.vals, cap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		d->dict.vals = nv;
		d->dict.cap = cap;
	}
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	d->dict.keys[d->dict.n] = k;
	d->dict.vals[d->dict.n] = udk_value_ref(v);
	d->dict.n++;
	if (d->dict.n >= DICT_INDEX_MIN) {
		if (!d->dict.index || d->dict.n * 2 + 2 > d->dict.index_cap) {
			if (dict_index_rebuild(d) < 0) {
				/* fall back to linear search */
				free(d->dict.index);
				d->dict.index = NULL;
				d->dict.index_cap = 0;
			}
		} else {
			dict_index_insert(d, d->dict.n - 1);
		}
	}
	return 0;
}

UDK_EXPORT int
udk_dict_set_take(struct udk_value *d, const char *key, struct udk_value *v)
{
	int r;

	if (!v)
		return -ENOMEM;
	r = udk_dict_set(d, key, v);
	udk_value_unref(v);
	return r;
}

UDK_EXPORT int
udk_dict_remove(struct udk_value *d, const char *key)
{
	ssize_t i;

	udk_return_val_if_fail(d && d->type == UDK_VALUE_DICT && key, -EINVAL);
	i = dict_find(d, key);
	if (i < 0)
		return -ENOENT;
	free(d->dict.keys[i]);
	udk_value_unref(d->dict.vals[i]);
	memmove(&d->dict.keys[i], &d->dict.keys[i + 1], (d->dict.n - (size_t)i - 1) * sizeof(char *));
	memmove(&d->dict.vals[i], &d->dict.vals[i + 1],
		(d->dict.n - (size_t)i - 1) * sizeof(struct udk_value *));
	d->dict.n--;
	if (d->dict.index && dict_index_rebuild(d) < 0) {
		free(d->dict.index);
		d->dict.index = NULL;
		d->dict.index_cap = 0;
	}
	return 0;
}

UDK_EXPORT int
udk_dict_set_string(struct udk_value *d, const char *key, const char *s)
{
	return s ? udk_dict_set_take(d, key, udk_value_new_string(s)) : -EINVAL;
}

UDK_EXPORT int
udk_dict_set_int(struct udk_value *d, const char *key, int64_t i)
{
	return udk_dict_set_take(d, key, udk_value_new_int(i));
}

UDK_EXPORT int
udk_dict_set_uint(struct udk_value *d, const char *key, uint64_t u)
{
	return udk_dict_set_take(d, key, udk_value_new_uint(u));
}

UDK_EXPORT int
udk_dict_set_bool(struct udk_value *d, const char *key, bool b)
{
	return udk_dict_set_take(d, key, udk_value_new_bool(b));
}

UDK_EXPORT int
udk_dict_set_data(struct udk_value *d, const char *key, const void *p, size_t len)
{
	return udk_dict_set_take(d, key, udk_value_new_data(p, len));
}

UDK_EXPORT const char *
udk_dict_get_string(const struct udk_value *d, const char *key)
{
	return udk_value_get_string(udk_dict_get(d, key));
}

UDK_EXPORT int64_t
udk_dict_get_int(const struct udk_value *d, const char *key, int64_t fallback)
{
	return udk_value_get_int(udk_dict_get(d, key), fallback);
}

UDK_EXPORT bool
udk_dict_get_bool(const struct udk_value *d, const char *key, bool fallback)
{
	return udk_value_get_bool(udk_dict_get(d, key), fallback);
}

/* JSON */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
json_put_string(struct buf *b, const char *s, size_t len)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				buf_printf(b, "\\u%04x", c);
			else
				buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

static void
json_indent(struct buf *b, bool pretty, int depth)
{
	if (!pretty)
		return;
	buf_putc(b, '\n');
	for (int i = 0; i < depth; i++)
		buf_puts(b, "  ");
}

static void
json_value(struct buf *b, const struct udk_value *v, bool pretty, int depth)
{
	if (!v) {
		buf_puts(b, "null");
		return;
	}
	switch (v->type) {
	case UDK_VALUE_BOOL:
		buf_puts(b, v->b ? "true" : "false");
		break;
	case UDK_VALUE_INT:
		if (v->is_unsigned)
			buf_printf(b, "%llu", (unsigned long long)v->u);
		else
			buf_printf(b, "%lld", (long long)(int64_t)v->u);
		break;
	case UDK_VALUE_REAL:
		if (isfinite(v->d))
			buf_printf(b, "%.17g", v->d);
		else
			buf_puts(b, "null");
		break;
	case UDK_VALUE_STRING:
		json_put_string(b, v->str.s, v->str.len);
		break;
	case UDK_VALUE_DATA: {
		const uint8_t *p = v->data.p;
		size_t n = v->data.len;
		buf_putc(b, '"');
		for (size_t i = 0; i < n; i += 3) {
			uint32_t w = (uint32_t)p[i] << 16;
			if (i + 1 < n)
				w |= (uint32_t)p[i + 1] << 8;
			if (i + 2 < n)
				w |= p[i + 2];
			buf_putc(b, b64chars[(w >> 18) & 63]);
			buf_putc(b, b64chars[(w >> 12) & 63]);
			buf_putc(b, i + 1 < n ? b64chars[(w >> 6) & 63] : '=');
			buf_putc(b, i + 2 < n ? b64chars[w & 63] : '=');
		}
		buf_putc(b, '"');
		break;
	}
	case UDK_VALUE_ARRAY:
		buf_putc(b, '[');
		for (size_t i = 0; i < v->arr.n; i++) {
			if (i)
				buf_putc(b, ',');
			json_indent(b, pretty, depth + 1);
			json_value(b, v->arr.items[i], pretty, depth + 1);
		}
		if (v->arr.n)
			json_indent(b, pretty, depth);
		buf_putc(b, ']');
		break;
	case UDK_VALUE_DICT:
		buf_putc(b, '{');
		for (size_t i = 0; i < v->dict.n; i++) {
			if (i)
				buf_putc(b, ',');
			json_indent(b, pretty, depth + 1);
			json_put_string(b, v->dict.keys[i], strlen(v->dict.keys[i]));
			buf_puts(b, pretty ? ": " : ":");
			json_value(b, v->dict.vals[i], pretty, depth + 1);
		}
		if (v->dict.n)
			json_indent(b, pretty, depth);
		buf_putc(b, '}');
		break;
	}
}

UDK_EXPORT int
udk_value_to_json(const struct udk_value *v, bool pretty, char **ret)
{
	struct buf b;
	char *s;

	udk_return_val_if_fail(ret, -EINVAL);
	buf_init(&b, 0);
	json_value(&b, v, pretty, 0);
	if (b.err) {
		int r = b.err;
		buf_free(&b);
		return r;
	}
	s = buf_steal_string(&b);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
