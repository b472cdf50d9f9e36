/* SPDX-License-Identifier: MIT */
/* plist.c - property lists (XML or binary) to and from udk_value, via libplist. */
#include <plist/plist.h>

#include "util.h"
#include "value-private.h"

int
plist_xml_lint(const char *buf, size_t len, char *reason, size_t reason_len);

/* Property lists larger than this are refused before parsing. */
#define PLIST_MAX_BYTES (16u << 20)

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
	if (!plist_is_binary(buf, (uint32_t)len)) {
		char why[512];
		if (plist_xml_lint(buf, len, why, sizeof(why)) < 0)
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
