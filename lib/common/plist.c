/* SPDX-License-Identifier: MIT */
/* plist.c - property lists (XML or binary) to and from udk_value, via libplist. */
#include <plist/plist.h>

#include "util.h"
#include "value-private.h"

int
plist_xml_lint(const char *buf, size_t len, char *reason, size_t reason_len);

/* Property lists larger than this are refused before parsing. */
#define PLIST_MAX_BYTES (16u << 20)

/*
 * libplist's parsers recurse once per nesting level and follow binary
 * references as often as they occur: a binary plist of 100,000 nested
 * arrays overflows the stack, and a few arrays that each refer to the
 * next one twice expand into billions of nodes.  So libplist sees only
 * input already checked here: binary plists by a bounded, iterative scan
 * of their object table (bplist_check), XML ones by plist_xml_lint().
 */

static uint64_t
be_uint(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

struct bplist {
	const uint8_t *p;
	size_t len;
	unsigned offset_size, ref_size;
	uint64_t n_objects, table;
};

/* Offset of object @i, or SIZE_MAX when it points outside the data. */
static size_t
bplist_offset(const struct bplist *b, uint64_t i)
{
	uint64_t off;

	if (i >= b->n_objects)
		return SIZE_MAX;
	off = be_uint(b->p + b->table + i * b->offset_size, b->offset_size);
	return off >= 8 && off < b->table ? (size_t)off : SIZE_MAX;
}

/*
 * A container object at @off: its element count and where its references
 * start.  Returns 0 for a container, 1 for anything else, <0 when broken.
 */
static int
bplist_container(const struct bplist *b, size_t off, uint64_t *ret_count, size_t *ret_refs, unsigned *ret_lists)
{
	uint8_t marker = b->p[off], type = marker >> 4;
	uint64_t count = marker & 0x0f;
	size_t pos = off + 1;

	if (type != 0xa && type != 0xb && type != 0xc && type != 0xd)
		return 1;
	if (count == 0x0f) {
		/* the count follows as an integer object: 0x1N, then 2^N bytes */
		unsigned n;
		if (pos >= b->table || (b->p[pos] >> 4) != 0x1 || (b->p[pos] & 0x0f) > 3)
			return -EBADMSG;
		n = 1u << (b->p[pos] & 0x0f);
		if (b->table - pos - 1 < n)
			return -EBADMSG;
		count = be_uint(b->p + pos + 1, n);
		pos += 1 + n;
	}
	*ret_lists = type == 0xd ? 2 : 1;
	if (count > (b->table - pos) / b->ref_size / *ret_lists)
		return -EBADMSG;
	*ret_count = count;
	*ret_refs = pos;
	return 0;
}

int
bplist_check(const void *buf, size_t len, unsigned max_depth, size_t max_nodes, char *why, size_t why_len);

int
bplist_check(const void *buf, size_t len, unsigned max_depth, size_t max_nodes, char *why, size_t why_len)
{
	struct frame {
		size_t refs;		/* offset of the reference list */
		uint64_t n;		/* references to visit (dicts: keys and values) */
		uint64_t next;
	} stack[64];
	struct bplist b = { .p = buf, .len = len };
	const uint8_t *t;
	size_t visited = 0, off;
	unsigned depth = 0;
	uint64_t top;

	if (max_depth >= ARRAY_SIZE(stack))
		max_depth = ARRAY_SIZE(stack) - 1;
	if (len < 8 + 32 || memcmp(buf, "bplist00", 8) != 0)
		return snprintf(why, why_len, "binary property list is truncated or not of version 00"), -EBADMSG;
	t = b.p + len - 32;
	b.offset_size = t[6];
	b.ref_size = t[7];
	b.n_objects = be_uint(t + 8, 8);
	top = be_uint(t + 16, 8);
	b.table = be_uint(t + 24, 8);
	if (b.offset_size < 1 || b.offset_size > 8 || b.ref_size < 1 || b.ref_size > 8 || b.n_objects == 0 ||
	    b.table < 8 || b.table > len - 32 || b.n_objects > (len - 32 - b.table) / b.offset_size ||
	    top >= b.n_objects)
		return snprintf(why, why_len, "binary property list has a damaged trailer or offset table"), -EBADMSG;

	/* depth first, with an explicit stack: no recursion here either */
	off = bplist_offset(&b, top);
	for (;;) {
		uint64_t count = 0;
		size_t refs = 0;
		unsigned lists = 1;
		int r;

		if (off == SIZE_MAX)
			return snprintf(why, why_len, "binary property list refers to an object outside the data"),
			       -EBADMSG;
		if (++visited > max_nodes)
			return snprintf(why, why_len,
					"binary property list expands to more than %zu values (objects referred to "
					"again and again); at most %zu are read",
					max_nodes, max_nodes),
			       -E2BIG;
		r = bplist_container(&b, off, &count, &refs, &lists);
		if (r < 0)
			return snprintf(why, why_len, "binary property list holds a damaged container at offset %zu",
					off),
			       -EBADMSG;
		if (r == 0 && count > 0) {
			if (depth >= max_depth)
				return snprintf(why, why_len,
						"property list nested deeper than %u levels (a reference cycle counts as "
						"endless nesting)",
						max_depth),
				       -EBADMSG;
			stack[depth++] = (struct frame){ .refs = refs, .n = count * lists, .next = 0 };
		}
		/* the next reference to follow: climb out of finished containers */
		while (depth > 0 && stack[depth - 1].next == stack[depth - 1].n)
			depth--;
		if (depth == 0)
			return 0;
		{
			struct frame *f = &stack[depth - 1];
			uint64_t ref = be_uint(b.p + f->refs + f->next * b.ref_size, b.ref_size);
			f->next++;
			off = bplist_offset(&b, ref);
		}
	}
}

static int
from_node(plist_t node, int depth, struct udk_value **ret)
{
	struct udk_value *v = NULL;
	int r;

	if (depth > VALUE_MAX_DEPTH)
		return udk_set_reason(-EBADMSG, "property list nested deeper than %d levels", VALUE_MAX_DEPTH);

	switch (plist_get_node_type(node)) {
	case PLIST_BOOLEAN: {
		uint8_t b = 0;
		plist_get_bool_val(node, &b);
		v = udk_value_new_bool(b != 0);
		break;
	}
	case PLIST_UINT: {
		uint64_t u = 0;
		plist_get_uint_val(node, &u);
		v = udk_value_new_int((int64_t)u);
		break;
	}
	case PLIST_UID: {
		uint64_t u = 0;
		plist_get_uid_val(node, &u);
		v = udk_value_new_uint(u);
		break;
	}
	case PLIST_REAL: {
		double d = 0;
		plist_get_real_val(node, &d);
		v = udk_value_new_real(d);
		break;
	}
	case PLIST_DATE: {
		int32_t sec = 0, usec = 0;
		plist_get_date_val(node, &sec, &usec);
		/* seconds since 2001-01-01, as CFDate */
		v = udk_value_new_real((double)sec + (double)usec / 1e6);
		break;
	}
	case PLIST_STRING:
	case PLIST_KEY: {
		uint64_t len = 0;
		const char *s = plist_get_string_ptr(node, &len);
		if (!s)
			return udk_set_reason(-EBADMSG, "property list holds an unreadable string");
		v = udk_value_new_string_len(s, (size_t)len);
		if (!v && memchr(s, '\0', (size_t)len))
			return udk_set_reason(-EBADMSG, "property list string holds a NUL character");
		break;
	}
	case PLIST_DATA: {
		uint64_t len = 0;
		const char *p = plist_get_data_ptr(node, &len);
		v = udk_value_new_data(p ? p : "", p ? (size_t)len : 0);
		break;
	}
	case PLIST_ARRAY: {
		uint32_t n = plist_array_get_size(node);
		v = udk_value_new_array();
		for (uint32_t i = 0; v && i < n; i++) {
			struct udk_value *item = NULL;
			r = from_node(plist_array_get_item(node, i), depth + 1, &item);
			if (r < 0) {
				udk_value_unref(v);
				return r;
			}
			if ((r = udk_array_append_take(v, item)) < 0) {
				udk_value_unref(v);
				return r;
			}
		}
		break;
	}
	case PLIST_DICT: {
		plist_dict_iter it = NULL;
		v = udk_value_new_dict();
		if (!v)
			return -ENOMEM;
		plist_dict_new_iter(node, &it);
		for (;;) {
			char *key = NULL;
			plist_t item = NULL;
			struct udk_value *iv = NULL;

			plist_dict_next_item(node, it, &key, &item);
			if (!item) {
				free(key);
				break;
			}
			r = key ? from_node(item, depth + 1, &iv) : -EBADMSG;
			if (r >= 0)
				r = udk_dict_set_take(v, key, iv);
			free(key);
			if (r < 0) {
				free(it);
				udk_value_unref(v);
				return r;
			}
		}
		free(it);
		break;
	}
	default:
		return udk_set_reason(-EBADMSG, "property list holds a node of unknown type");
	}
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

UDK_EXPORT int
udk_value_from_plist(const void *buf, size_t len, struct udk_value **ret)
{
	plist_t root = NULL;
	int r;

	udk_return_val_if_fail(buf && ret, -EINVAL);
	if (len == 0)
		return udk_set_reason(-EBADMSG, "file is empty, a property list was expected");
	if (len > PLIST_MAX_BYTES)
		return udk_set_reason(-EFBIG, "property list is %zu bytes, more than the %u byte limit", len,
				      PLIST_MAX_BYTES);
	{
		char why[512];
		if (plist_is_binary(buf, (uint32_t)len))
			r = bplist_check(buf, len, VALUE_MAX_DEPTH, PLIST_MAX_NODES, why, sizeof(why));
		else
			r = plist_xml_lint(buf, len, why, sizeof(why));
		if (r < 0)
			return udk_set_reason(-EBADMSG, "%s", why);
	}
	plist_from_memory(buf, (uint32_t)len, &root);
	if (!root)
		return udk_set_reason(-EBADMSG,
				      "not a well-formed property list (expected XML <plist> or binary bplist00); "
				      "check it with `plistutil -i FILE`");
	r = from_node(root, 0, ret);
	plist_free(root);
	return r;
}

static plist_t
to_node(const struct udk_value *v)
{
	plist_t n = NULL;

	switch (udk_value_get_type(v)) {
	case UDK_VALUE_BOOL:
		return plist_new_bool(v->b);
	case UDK_VALUE_INT:
		return plist_new_uint(v->u);
	case UDK_VALUE_REAL:
		return plist_new_real(v->d);
	case UDK_VALUE_STRING:
		return plist_new_string(v->str.s);
	case UDK_VALUE_DATA:
		return plist_new_data((const char *)v->data.p, v->data.len);
	case UDK_VALUE_ARRAY:
		n = plist_new_array();
		for (size_t i = 0; n && i < v->arr.n; i++) {
			plist_t c = to_node(v->arr.items[i]);
			if (!c) {
				plist_free(n);
				return NULL;
			}
			plist_array_append_item(n, c);
		}
		return n;
	case UDK_VALUE_DICT:
		n = plist_new_dict();
		for (size_t i = 0; n && i < v->dict.n; i++) {
			plist_t c = to_node(v->dict.vals[i]);
			if (!c) {
				plist_free(n);
				return NULL;
			}
			plist_dict_set_item(n, v->dict.keys[i], c);
		}
		return n;
	}
	return NULL;
}

UDK_EXPORT int
udk_value_to_plist_xml(const struct udk_value *v, char **ret)
{
	plist_t n;
	char *xml = NULL;
	uint32_t len = 0;

	udk_return_val_if_fail(v && ret, -EINVAL);
	n = to_node(v);
	if (!n)
		return -ENOMEM;
	plist_to_xml(n, &xml, &len);
	plist_free(n);
	if (!xml)
		return -ENOMEM;
	*ret = strndup(xml, len);
	plist_to_xml_free(xml);
	return *ret ? 0 : -ENOMEM;
}
