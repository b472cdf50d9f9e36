/* SPDX-License-Identifier: MIT */
/*
 * value.h - typed property values: the plist types (bool, integer, real,
 * string, data, array, dictionary).  Registry properties, personalities,
 * matching dictionaries and control messages are all made of these.
 *
 * Values are reference counted.  A new value holds one reference;
 * udk_value_unref(NULL) is allowed and returns NULL.  Containers take their
 * own reference on insert, so the caller keeps (and must drop) its own.
 * Getters that return a value borrow it: it stays valid as long as the
 * container holds it.
 *
 * Integers are 64-bit.  plist integers are unsigned in libplist and signed in
 * CoreFoundation; udk stores the 64 bits and lets the reader choose with
 * udk_value_get_int() or udk_value_get_uint().
 */
#ifndef UDK_VALUE_H
#define UDK_VALUE_H

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

enum udk_value_type {
	UDK_VALUE_BOOL = 1,
	UDK_VALUE_INT,
	UDK_VALUE_REAL,
	UDK_VALUE_STRING,
	UDK_VALUE_DATA,
	UDK_VALUE_ARRAY,
	UDK_VALUE_DICT,
};

struct udk_value;

UDK_EXPORT struct udk_value *udk_value_new_bool(bool b);
UDK_EXPORT struct udk_value *udk_value_new_int(int64_t i);
UDK_EXPORT struct udk_value *udk_value_new_uint(uint64_t u);
UDK_EXPORT struct udk_value *udk_value_new_real(double d);
/* NULL if @s is NULL or allocation fails. */
UDK_EXPORT struct udk_value *udk_value_new_string(const char *s);
UDK_EXPORT struct udk_value *udk_value_new_string_len(const char *s, size_t len);
UDK_EXPORT struct udk_value *udk_value_new_data(const void *p, size_t len);
UDK_EXPORT struct udk_value *udk_value_new_array(void);
UDK_EXPORT struct udk_value *udk_value_new_dict(void);

UDK_EXPORT struct udk_value *udk_value_ref(struct udk_value *v);
UDK_EXPORT struct udk_value *udk_value_unref(struct udk_value *v);

/* Deep copy; NULL on allocation failure. */
UDK_EXPORT struct udk_value *udk_value_copy(const struct udk_value *v);

UDK_EXPORT enum udk_value_type udk_value_get_type(const struct udk_value *v);
/* "bool", "integer", "real", "string", "data", "array", "dictionary". */
UDK_EXPORT const char *udk_value_type_name(enum udk_value_type t);

/* Scalar getters return @fallback when @v is NULL or of another type. */
UDK_EXPORT bool udk_value_get_bool(const struct udk_value *v, bool fallback);
UDK_EXPORT int64_t udk_value_get_int(const struct udk_value *v, int64_t fallback);
UDK_EXPORT uint64_t udk_value_get_uint(const struct udk_value *v, uint64_t fallback);
UDK_EXPORT double udk_value_get_real(const struct udk_value *v, double fallback);
/* Borrowed; NULL when not a string. */
UDK_EXPORT const char *udk_value_get_string(const struct udk_value *v);
/* Borrowed; NULL when not data. */
UDK_EXPORT const void *udk_value_get_data(const struct udk_value *v, size_t *ret_len);

/* Deep equality, as IOPropertyMatch uses it.  Integers compare by bits. */
UDK_EXPORT bool udk_value_equal(const struct udk_value *a, const struct udk_value *b);

/* Arrays. */
UDK_EXPORT size_t udk_array_size(const struct udk_value *a);
/* Borrowed; NULL when out of range or @a is not an array. */
UDK_EXPORT struct udk_value *udk_array_get(const struct udk_value *a, size_t i);
/* Takes its own reference on @v.  -EINVAL, -ENOMEM. */
UDK_EXPORT int udk_array_append(struct udk_value *a, struct udk_value *v);
/* Appends @v and drops the caller's reference, even on failure. */
UDK_EXPORT int udk_array_append_take(struct udk_value *a, struct udk_value *v);

/* Dictionaries keep insertion order; keys are unique strings. */
UDK_EXPORT size_t udk_dict_size(const struct udk_value *d);
/* Borrowed; NULL when absent. */
UDK_EXPORT struct udk_value *udk_dict_get(const struct udk_value *d, const char *key);
/* Borrowed key and value of entry @i, for iteration. */
UDK_EXPORT const char *udk_dict_key_at(const struct udk_value *d, size_t i);
UDK_EXPORT struct udk_value *udk_dict_value_at(const struct udk_value *d, size_t i);
/* Replaces an existing key.  Takes its own reference on @v. */
UDK_EXPORT int udk_dict_set(struct udk_value *d, const char *key, struct udk_value *v);
/* Sets @v and drops the caller's reference, even on failure. */
UDK_EXPORT int udk_dict_set_take(struct udk_value *d, const char *key, struct udk_value *v);
/* 0 if removed, -ENOENT if absent. */
UDK_EXPORT int udk_dict_remove(struct udk_value *d, const char *key);

UDK_EXPORT int udk_dict_set_string(struct udk_value *d, const char *key, const char *s);
UDK_EXPORT int udk_dict_set_int(struct udk_value *d, const char *key, int64_t i);
UDK_EXPORT int udk_dict_set_uint(struct udk_value *d, const char *key, uint64_t u);
UDK_EXPORT int udk_dict_set_bool(struct udk_value *d, const char *key, bool b);
UDK_EXPORT int udk_dict_set_data(struct udk_value *d, const char *key, const void *p, size_t len);

/* Typed dictionary lookups; fallback when absent or of another type. */
UDK_EXPORT const char *udk_dict_get_string(const struct udk_value *d, const char *key);
UDK_EXPORT int64_t udk_dict_get_int(const struct udk_value *d, const char *key, int64_t fallback);
UDK_EXPORT bool udk_dict_get_bool(const struct udk_value *d, const char *key, bool fallback);

/*
 * Serialisation.  udk_value_to_json() writes compact (or, with @pretty,
 * indented) JSON; data becomes a base64 string.  The returned string is
 * malloc'ed.  udk_value_from_plist() parses an XML or binary plist held in
 * memory; udk_value_to_plist_xml() writes XML.
 */
UDK_EXPORT int udk_value_to_json(const struct udk_value *v, bool pretty, char **ret);
UDK_EXPORT int udk_value_from_plist(const void *buf, size_t len, struct udk_value **ret);
UDK_EXPORT int udk_value_to_plist_xml(const struct udk_value *v, char **ret);

#ifdef __cplusplus
}
#endif
#endif
