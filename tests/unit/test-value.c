/* SPDX-License-Identifier: MIT */
/* Typed values: containers, equality, JSON, the wire codec, plist parsing. */
#include <udk/value.h>

#include "buf.h"
#include "test.h"
#include "util.h"
#include "value-private.h"

static struct udk_value *
sample(void)
{
	struct udk_value *d = udk_value_new_dict();
	struct udk_value *a = udk_value_new_array();

	ASSERT_OK(udk_dict_set_string(d, "IOProviderClass", "IOPCIDevice"));
	ASSERT_OK(udk_dict_set_int(d, "IOProbeScore", -5));
	ASSERT_OK(udk_dict_set_uint(d, "mask", 0xffffffff00000000ull));
	ASSERT_OK(udk_dict_set_bool(d, "flag", true));
	ASSERT_OK(udk_dict_set_data(d, "blob", "\0\1\2", 3));
	ASSERT_OK(udk_array_append_take(a, udk_value_new_real(1.5)));
	ASSERT_OK(udk_array_append_take(a, udk_value_new_string("x")));
	ASSERT_OK(udk_dict_set_take(d, "list", a));
	return d;
}

TEST(dict_basics)
{
	struct udk_value *d = sample();

	ASSERT_EQ(udk_dict_size(d), 6);
	ASSERT_STREQ(udk_dict_get_string(d, "IOProviderClass"), "IOPCIDevice");
	ASSERT_EQ(udk_dict_get_int(d, "IOProbeScore", 0), -5);
	ASSERT_EQ(udk_dict_get_int(d, "missing", 42), 42);
	ASSERT_TRUE(udk_dict_get_bool(d, "flag", false));
	/* replacing keeps the order and the size */
	ASSERT_OK(udk_dict_set_int(d, "IOProbeScore", 7));
	ASSERT_EQ(udk_dict_size(d), 6);
	ASSERT_STREQ(udk_dict_key_at(d, 1), "IOProbeScore");
	ASSERT_OK(udk_dict_remove(d, "flag"));
	ASSERT_ERR(udk_dict_remove(d, "flag"), -ENOENT);
	ASSERT_EQ(udk_dict_size(d), 5);
	/* a dictionary cannot hold itself */
	ASSERT_ERR(udk_dict_set(d, "self", d), -EINVAL);
	udk_value_unref(d);
}

TEST(dict_many_keys_uses_index)
{
	struct udk_value *d = udk_value_new_dict();
	char key[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ASSERT_OK(udk_dict_set_int(d, key, i));
	}
	for (int i = 0; i < 5000; i += 7) {
		snprintf(key, sizeof(key), "k%d", i);
		ASSERT_EQ(udk_dict_get_int(d, key, -1), i);
	}
	ASSERT_OK(udk_dict_remove(d, "k10"));
	ASSERT_EQ(udk_dict_get_int(d, "k10", -1), -1);
	ASSERT_EQ(udk_dict_get_int(d, "k11", -1), 11);
	udk_value_unref(d);
}

TEST(string_rejects_nul)
{
	ASSERT_NULL(udk_value_new_string_len("a\0b", 3));
}

TEST(copy_and_equal)
{
	struct udk_value *d = sample(), *c = udk_value_copy(d);

	ASSERT_TRUE(udk_value_equal(d, c));
	ASSERT_OK(udk_dict_set_int(c, "IOProbeScore", 1));
	ASSERT_FALSE(udk_value_equal(d, c));
	udk_value_unref(c);
	udk_value_unref(d);
}

TEST(json_output)
{
	struct udk_value *d = sample();
	char *s = NULL;

	ASSERT_OK(udk_value_to_json(d, false, &s));
	ASSERT_STREQ(s, "{\"IOProviderClass\":\"IOPCIDevice\",\"IOProbeScore\":-5,"
			"\"mask\":18446744069414584320,\"flag\":true,\"blob\":\"AAEC\","
			"\"list\":[1.5,\"x\"]}");
	free(s);
	udk_value_unref(d);
	d = udk_value_new_string("q\"\\\n\x01");
	ASSERT_OK(udk_value_to_json(d, false, &s));
	ASSERT_STREQ(s, "\"q\\\"\\\\\\n\\u0001\"");
	free(s);
	udk_value_unref(d);
}

TEST(codec_roundtrip)
{
	struct udk_value *d = sample(), *back = NULL;
	struct buf b;

	buf_init(&b, 0);
	value_encode(&b, d);
	ASSERT_OK(b.err);
	ASSERT_OK(value_decode(b.p, b.len, &back));
	ASSERT_TRUE(udk_value_equal(d, back));
	/* every strict prefix is refused, none crashes */
	for (size_t n = 0; n < b.len; n++) {
		struct udk_value *v = NULL;
		ASSERT_ERR(value_decode(b.p, n, &v), -EBADMSG);
		ASSERT_NULL(v);
	}
	buf_free(&b);
	udk_value_unref(back);
	udk_value_unref(d);
}

TEST(codec_rejects_hostile)
{
	struct udk_value *v = NULL;
	/* array claiming 2^32-1 elements */
	const uint8_t huge[] = { VT_ARRAY, 0xff, 0xff, 0xff, 0xff, VT_TRUE };
	/* dictionary with the same key twice */
	const uint8_t dup[] = { VT_DICT, 2, 0, 0, 0, 1, 0, 0, 0, 'a', VT_TRUE, 1, 0, 0, 0, 'a', VT_FALSE };
	/* unknown tag */
	const uint8_t bad[] = { 0x42 };
	/* NUL inside a string */
	const uint8_t nul[] = { VT_STRING, 3, 0, 0, 0, 'a', 0, 'b' };
	/* trailing garbage */
	const uint8_t trail[] = { VT_TRUE, VT_TRUE };
	uint8_t deep[(VALUE_MAX_DEPTH + 2) * 5 + 8];
	size_t n = 0;

	ASSERT_ERR(value_decode(huge, sizeof(huge), &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "announces");
	ASSERT_ERR(value_decode(dup, sizeof(dup), &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "appears twice");
	ASSERT_ERR(value_decode(bad, sizeof(bad), &v), -EBADMSG);
	ASSERT_ERR(value_decode(nul, sizeof(nul), &v), -EBADMSG);
	ASSERT_ERR(value_decode(trail, sizeof(trail), &v), -EBADMSG);
	for (int i = 0; i < VALUE_MAX_DEPTH + 2; i++) {
		deep[n++] = VT_ARRAY;
		deep[n++] = 1;
		deep[n++] = 0;
		deep[n++] = 0;
		deep[n++] = 0;
	}
	deep[n++] = VT_TRUE;
	ASSERT_ERR(value_decode(deep, n, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "deeper");
	ASSERT_NULL(v);
}

static const char plist_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	"<plist version=\"1.0\"><dict>\n"
	"<key>CFBundleIdentifier</key><string>com.example.driver</string>\n"
	"<key>IOProbeScore</key><integer>1000</integer>\n"
	"<key>Enabled</key><true/>\n"
	"<key>Blob</key><data>AAEC</data>\n"
	"<key>List</key><array><string>a</string><real>2.5</real></array>\n"
	"</dict></plist>\n";

TEST(plist_parse)
{
	struct udk_value *v = NULL;
	char *xml = NULL;
	struct udk_value *again = NULL;
	size_t len;

	ASSERT_OK(udk_value_from_plist(plist_xml, sizeof(plist_xml) - 1, &v));
	ASSERT_STREQ(udk_dict_get_string(v, "CFBundleIdentifier"), "com.example.driver");
	ASSERT_EQ(udk_dict_get_int(v, "IOProbeScore", 0), 1000);
	ASSERT_TRUE(udk_dict_get_bool(v, "Enabled", false));
	ASSERT_NOT_NULL(udk_value_get_data(udk_dict_get(v, "Blob"), &len));
	ASSERT_EQ(len, 3);
	ASSERT_EQ(udk_array_size(udk_dict_get(v, "List")), 2);
	/* XML out and back in */
	ASSERT_OK(udk_value_to_plist_xml(v, &xml));
	ASSERT_OK(udk_value_from_plist(xml, strlen(xml), &again));
	ASSERT_TRUE(udk_value_equal(v, again));
	free(xml);
	udk_value_unref(again);
	udk_value_unref(v);
}

TEST(plist_malformed)
{
	struct udk_value *v = NULL;
	const char *bad = "<?xml version=\"1.0\"?><plist><dict><key>a</key></dict>";

	ASSERT_ERR(udk_value_from_plist(bad, strlen(bad), &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "line 1: XML error: Premature end of data");
	ASSERT_ERR(udk_value_from_plist("", 0, &v), -EBADMSG);
	ASSERT_NULL(v);
}

TEST(error_names)
{
	ASSERT_STREQ(udk_error_name(-UDK_E_DRIVER_DIED), "UDK_E_DRIVER_DIED");
	ASSERT_STREQ(udk_error_name(-ENOENT), "ENOENT");
	ASSERT_STREQ(udk_strerror(-UDK_E_NO_MATCH), "no driver personality matched");
	/* every code has a name and words */
	for (int c = UDK_E_FIRST; c < UDK_E_LAST; c++) {
		ASSERT_TRUE(startswith(udk_error_name(-c), "UDK_E_"));
		ASSERT_NOT_NULL(udk_strerror(-c));
	}
	ASSERT_EQ(udk_log_level_parse("debug"), UDK_LOG_DEBUG);
	ASSERT_ERR(udk_log_level_parse("loud"), -EINVAL);
}

static void
expect_lint(const char *xml, const char *needle)
{
	struct udk_value *v = NULL;

	ASSERT_ERR(udk_value_from_plist(xml, strlen(xml), &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), needle);
	ASSERT_NULL(v);
}

/* libplist alone accepts each of these silently; udk names the line. */
TEST(plist_strict)
{
	expect_lint("<plist><dict><key>a</key></dict></plist>", "key \"a\" has no value");
	expect_lint("<plist>\n<dict>\n<key>IOProbeScore</key>\n<integer>12abc</integer>\n</dict></plist>",
		    "line 4: IOProbeScore: <integer> \"12abc\" is not a 64-bit number");
	expect_lint("<plist><dict><key>a</key><string>x</string>\n<key>a</key><string>y</string></dict></plist>",
		    "line 2: key \"a\" appears twice in this dictionary (first on line 1)");
	expect_lint("<plist><dict><key>a</key><strin>x</strin></dict></plist>", "unknown element <strin>");
	expect_lint("<plist><dict><key>a</key><string>x</dict></plist>", "XML error");
	expect_lint("<plist><real>1.5x</real></plist>", "is not a number");
	expect_lint("<plist><data>!!!</data></plist>", "not base64");
	expect_lint("<plist><true>x</true></plist>", "must be empty");
	expect_lint("<dict></dict>", "root element must be <plist>");
	expect_lint("<plist><string>a</string><string>b</string></plist>", "more than one value");
}

TEST(plist_accepts_hex_and_entities_are_not_expanded)
{
	struct udk_value *v = NULL;
	const char *xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
			  "<plist><dict><key>n</key><integer>0x10</integer>"
			  "<key>s</key><string>&amp;x</string></dict></plist>";

	ASSERT_OK(udk_value_from_plist(xml, strlen(xml), &v));
	ASSERT_EQ(udk_dict_get_int(v, "n", 0), 16);
	ASSERT_STREQ(udk_dict_get_string(v, "s"), "&x");
	udk_value_unref(v);
}

/*
 * Binary plists: libplist recurses per level and follows every reference,
 * so udk checks the object graph first (plist.c, bplist_check).
 */

/* @n arrays; array i refers @refs times to array i+1; the last is empty. */
static uint8_t *
bplist_chain(unsigned n, unsigned refs, bool cycle, size_t *ret_len)
{
	size_t obj = 1 + 4 * (size_t)refs, table = 8 + obj * n, len = table + 4 * (size_t)n + 32;
	uint8_t *p = calloc(1, len), *t;

	ASSERT_NOT_NULL(p);
	memcpy(p, "bplist00", 8);
	for (unsigned i = 0; i < n; i++) {
		size_t off = 8 + obj * i;
		uint32_t next = cycle && i + 1 == n ? 0 : i + 1;
		bool last = i + 1 == n && !cycle;
		p[off] = last ? 0xa0 : (uint8_t)(0xa0 | refs);
		for (unsigned r = 0; !last && r < refs; r++) {
			p[off + 1 + 4 * r] = (uint8_t)(next >> 24);
			p[off + 2 + 4 * r] = (uint8_t)(next >> 16);
			p[off + 3 + 4 * r] = (uint8_t)(next >> 8);
			p[off + 4 + 4 * r] = (uint8_t)next;
		}
		for (int b = 0; b < 4; b++)
			p[table + 4 * i + (size_t)b] = (uint8_t)(off >> (24 - 8 * b));
	}
	t = p + len - 32;
	t[6] = 4;
	t[7] = 4;
	for (int b = 0; b < 8; b++) {
		t[8 + 7 - b] = (uint8_t)((uint64_t)n >> (8 * b));
		t[24 + 7 - b] = (uint8_t)((uint64_t)table >> (8 * b));
	}
	*ret_len = len;
	return p;
}

TEST(binary_plists_are_checked_before_libplist_sees_them)
{
	struct udk_value *v = NULL;
	uint8_t *p;
	size_t len;

	/* within the limits: parsed */
	p = bplist_chain(20, 1, false, &len);
	ASSERT_OK(udk_value_from_plist(p, len, &v));
	ASSERT_EQ(udk_value_get_type(v), UDK_VALUE_ARRAY);
	udk_value_unref(v);
	free(p);
	/* 100,000 levels: refused, no stack overflow */
	p = bplist_chain(100000, 1, false, &len);
	ASSERT_ERR(udk_value_from_plist(p, len, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "nested deeper than 32 levels");
	free(p);
	/* an array that holds itself */
	p = bplist_chain(3, 1, true, &len);
	ASSERT_ERR(udk_value_from_plist(p, len, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "nested deeper than");
	free(p);
	/* 30 levels, each referring twice to the next: 2^30 values from 400 bytes */
	p = bplist_chain(30, 2, false, &len);
	ASSERT_ERR(udk_value_from_plist(p, len, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "expands to more than 262144 values");
	free(p);
	/* a reference past the object table, a table past the end */
	p = bplist_chain(3, 1, false, &len);
	p[8 + 4] = 9;
	ASSERT_ERR(udk_value_from_plist(p, len, &v), -EBADMSG);
	free(p);
	p = bplist_chain(3, 1, false, &len);
	p[len - 1] = 0xff;
	ASSERT_ERR(udk_value_from_plist(p, len, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "damaged trailer");
	free(p);
}

TEST(xml_plists_are_bounded_and_checked_in_linear_time)
{
	struct udk_value *v = NULL;
	struct buf b;
	char *xml;

	/* 40 levels of arrays */
	buf_init(&b, 0);
	buf_printf(&b, "<plist>");
	for (int i = 0; i < 40; i++)
		buf_printf(&b, "<array>");
	for (int i = 0; i < 40; i++)
		buf_printf(&b, "</array>");
	buf_printf(&b, "</plist>");
	ASSERT_ERR(udk_value_from_plist(b.p, b.len, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "nested deeper than 32 levels");
	buf_free(&b);
	/* 100,000 keys with one repeated at the end: found (a quadratic check would take minutes) */
	buf_init(&b, 0);
	buf_printf(&b, "<plist><dict>\n");
	for (int i = 0; i < 100000; i++)
		buf_printf(&b, "<key>k%d</key><true/>\n", i);
	buf_printf(&b, "<key>k7</key><true/>\n</dict></plist>");
	ASSERT_ERR(udk_value_from_plist(b.p, b.len, &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "line 100002: key \"k7\" appears twice in this dictionary (first on line 9)");
	buf_free(&b);
	/* an entity that expands to others (billion laughs) */
	xml = "<?xml version=\"1.0\"?><!DOCTYPE plist [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>"
	      "<plist><string>&b;</string></plist>";
	ASSERT_ERR(udk_value_from_plist(xml, strlen(xml), &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "entity reference");
	/* the key path is named */
	xml = "<plist><dict><key>A</key><array><dict><key>B</key><integer>1x</integer></dict></array></dict></plist>";
	ASSERT_ERR(udk_value_from_plist(xml, strlen(xml), &v), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "A.0.B: <integer> \"1x\" is not a 64-bit number");
}
