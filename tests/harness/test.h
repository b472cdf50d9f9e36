/* SPDX-License-Identifier: MIT */
/*
 * test.h - udk's test harness.
 *
 *   TEST(name) { ... }          a test; registered in a linker section
 *   ASSERT_OK(r)                r >= 0, else print udk_error_name/strerror
 *   ASSERT_ERR(r, code)         r == code (negative), printed by name
 *   ASSERT_TRUE / ASSERT_EQ / ASSERT_STREQ / ASSERT_NOT_NULL ...
 *
 * Each test runs in a forked child with a timeout (UDK_TEST_TIMEOUT seconds,
 * default 60) and must not leak file descriptors.  Output is TAP, so meson
 * counts every test.  Arguments on the command line pick tests by name.
 */
#ifndef UDK_TEST_H
#define UDK_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/udk.h>

/* UNDER_ASAN: 1 when built with AddressSanitizer (gcc says so one way, clang another), else 0 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

struct udk_test {
	const char *name;
	void (*fn)(void);
	int timeout;	/* seconds, 0 = default */
};

#define TEST_SECTION __attribute__((used, section("udk_test_section"), aligned(sizeof(void *))))

#define TEST_FULL(tname, tmo)                                                          \
	static void test_fn_##tname(void);                                             \
	static const struct udk_test test_desc_##tname = { #tname, test_fn_##tname, tmo }; \
	static const struct udk_test *test_ptr_##tname TEST_SECTION = &test_desc_##tname; \
	static void test_fn_##tname(void)

#define TEST(tname) TEST_FULL(tname, 0)

void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
void test_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Skip the current test with a reason; reported as "ok # SKIP", never as a pass count. */
void test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/*
 * Re-arm the current test's timeout to @seconds from now, for a test whose
 * length follows its input (the fault campaign's count of faults).
 */
void test_set_timeout(unsigned seconds);
/* Directory of the test's build files (meson's MESON_BUILD_ROOT or cwd). */
const char *test_build_root(void);
const char *test_source_root(void);
/* Entries of a directory (without . and ..), or -1. */
int test_count_dir(const char *path);
/* remove @path and everything under it (no symlink is followed) */
void test_remove_tree(const char *path);
/* A fresh temporary directory, removed when the test ends. */
const char *test_tmpdir(void);

#define FAIL(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)

#ifndef UDK_STREQ_DEFINED
#define UDK_STREQ_DEFINED
static inline bool
streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}
#endif

#define ASSERT_TRUE(x)                                                                 \
	do {                                                                           \
		if (!(x))                                                              \
			FAIL("assertion failed: %s", #x);                              \
	} while (0)
#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))

#define ASSERT_OK(expr)                                                                \
	do {                                                                           \
		long long _r = (long long)(expr);                                      \
		if (_r < 0)                                                            \
			FAIL("%s failed: %s (%s)%s%s", #expr, udk_error_name((int)_r), \
			     udk_strerror((int)_r), udk_error_reason() ? ": " : "",     \
			     udk_error_reason() ? udk_error_reason() : "");              \
	} while (0)

#define ASSERT_ERR(expr, code)                                                         \
	do {                                                                           \
		long long _r = (long long)(expr);                                      \
		int _c = (code);                                                       \
		if (_r != _c)                                                          \
			FAIL("%s returned %s (%lld), expected %s", #expr,              \
			     _r < 0 ? udk_error_name((int)_r) : "success", _r, udk_error_name(_c)); \
	} while (0)

#define ASSERT_EQ(a, b)                                                                \
	do {                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		if (_a != _b)                                                          \
			FAIL("%s == %s failed: %lld != %lld", #a, #b, _a, _b);         \
	} while (0)
#define ASSERT_NE(a, b)                                                                \
	do {                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		if (_a == _b)                                                          \
			FAIL("%s != %s failed: both %lld", #a, #b, _a);                \
	} while (0)
#define ASSERT_GE(a, b)                                                                \
	do {                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		if (_a < _b)                                                           \
			FAIL("%s >= %s failed: %lld < %lld", #a, #b, _a, _b);          \
	} while (0)
#define ASSERT_LE(a, b)                                                                \
	do {                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		if (_a > _b)                                                           \
			FAIL("%s <= %s failed: %lld > %lld", #a, #b, _a, _b);          \
	} while (0)
#define ASSERT_STREQ(a, b)                                                             \
	do {                                                                           \
		const char *_a = (a), *_b = (b);                                       \
		if (!_a || !_b || strcmp(_a, _b) != 0)                                 \
			FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", \
			     _b ? _b : "(null)");                                      \
	} while (0)
#define ASSERT_CONTAINS(hay, needle)                                                   \
	do {                                                                           \
		const char *_h = (hay), *_n = (needle);                                \
		if (!_h || !_n || !strstr(_h, _n))                                     \
			FAIL("%s does not contain \"%s\": \"%s\"", #hay, _n ? _n : "(null)", \
			     _h ? _h : "(null)");                                      \
	} while (0)
#define ASSERT_NOT_CONTAINS(hay, needle)                                               \
	do {                                                                           \
		const char *_h = (hay), *_n = (needle);                                \
		if (!_h || !_n || strstr(_h, _n))                                      \
			FAIL("%s contains \"%s\": \"%s\"", #hay, _n ? _n : "(null)",     \
			     _h ? _h : "(null)");                                      \
	} while (0)
#define ASSERT_NOT_NULL(p)                                                             \
	do {                                                                           \
		if ((p) == NULL)                                                       \
			FAIL("%s is NULL", #p);                                        \
	} while (0)
#define ASSERT_NULL(p)                                                                 \
	do {                                                                           \
		if ((p) != NULL)                                                       \
			FAIL("%s is not NULL", #p);                                    \
	} while (0)

#endif
