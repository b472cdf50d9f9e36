/* SPDX-License-Identifier: MIT */
/*
 * The code udk-iig generates, end to end: an app calls iigt-driver (which
 * implements tests/iig/iigt.xml) through the generated stubs, and the Hello
 * example through hello-client.h.  Checks typed values both ways, every
 * check the generated dispatch table makes before a handler runs, the
 * app-side checks of what a driver answers, async completions, and the
 * warning for an error a definition does not list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "hello-client.h"
#include "iigt-client.h"
#include "test.h"

/* what the generator made of iigt.xml, as its reference page says */
static_assert(IIGT_VERSION == 2, "interface version");
static_assert(IIGT_LATER_SINCE_VERSION == 2 && IIGT_ECHO_SINCE_VERSION == 1, "since");
static_assert(IIGT_SELECTOR_COUNT == 14 && IIGT_PING == 9, "selectors, with a gap at 8");
static_assert(sizeof(struct iigt_point) == 24 && sizeof(struct iigt_big) == 6008, "layouts");
static_assert(IIGT_BIG_SIZE == 6000 && IIGT_ANSWER == 42 && IIGT_MODE_AUTO == 7, "constants");

#define IIGT_ID "org.udk.test.iigt"
#define IIGT_PERSONALITY                                                                                       \
	"<key>Iigt</key><dict>"                                                                                \
	"<key>CFBundleIdentifier</key><string>" IIGT_ID "</string>"                                           \
	"<key>IOClass</key><string>IOUserService</string>"                                                     \
	"<key>IOUserClass</key><string>" IIGT_SERVICE_CLASS "</string>"                                        \
	"<key>IOUserServerName</key><string>" IIGT_ID "</string>"                                              \
	"<key>IOProviderClass</key><string>IOUserResources</string>"                                           \
	"<key>IOMatchCategory</key><string>Iigt</string>"                                                      \
	"<key>UserClientProperties</key><dict><key>IOClass</key><string>IOUserUserClient</string>"             \
	"<key>IOUserClass</key><string>" IIGT_USER_CLIENT_CLASS "</string></dict></dict>"

#define HELLO_ID "org.udk.example.hello"
#define HELLO_PERSONALITY                                                                                      \
	"<key>Hello</key><dict>"                                                                               \
	"<key>CFBundleIdentifier</key><string>" HELLO_ID "</string>"                                          \
	"<key>IOClass</key><string>IOUserService</string>"                                                     \
	"<key>IOUserClass</key><string>" HELLO_SERVICE_CLASS "</string>"                                       \
	"<key>IOUserServerName</key><string>" HELLO_ID "</string>"                                             \
	"<key>IOProviderClass</key><string>IOUserResources</string>"                                           \
	"<key>IOMatchCategory</key><string>HelloDriver</string>"                                               \
	"<key>UserClientProperties</key><dict><key>IOClass</key><string>IOUserUserClient</string>"             \
	"<key>IOUserClass</key><string>" HELLO_USER_CLIENT_CLASS "</string></dict></dict>"

struct env {
	struct fixture f;
	uint64_t id;
	struct udk_connection *conn;
};

static void
env_up(struct env *e, const char *bundle, const char *id, const char *exe, const char *personality,
       const char *cls)
{
	fixture_init(&e->f);
	fixture_add_bundle_exe(&e->f, bundle, id, exe, personality);
	fixture_start(&e->f, NULL);
	e->id = fixture_wait_class(&e->f, cls, 10000);
	ASSERT_OK(udk_client_open(e->f.client, e->id, 0, &e->conn));
}

static void
iigt_up(struct env *e)
{
	env_up(e, "Iigt.dext", IIGT_ID, "tests/iig/iigt-driver", IIGT_PERSONALITY, IIGT_SERVICE_CLASS);
}

static void
env_down(struct env *e)
{
	udk_connection_unref(e->conn);
	fixture_stop(&e->f);
}

TEST(scalars_of_every_type_round_trip)
{
	struct env e;
	uint8_t u8 = 0;
	int16_t i16 = 0;
	uint32_t u32 = 0, mode = 0;
	int64_t i64 = 0;
	bool flag = false;

	iigt_up(&e);
	ASSERT_OK(iigt_echo(e.conn, 255, -100, UINT32_MAX, INT64_MIN, true, IIGT_MODE_AUTO, &u8, &i16, &u32, &i64,
			    &flag, &mode));
	ASSERT_EQ(u8, 255);
	ASSERT_EQ(i16, 100);
	ASSERT_EQ(u32, UINT32_MAX);
	ASSERT_TRUE(i64 == INT64_MIN);
	ASSERT_FALSE(flag);
	ASSERT_EQ(mode, IIGT_MODE_AUTO);
	ASSERT_OK(iigt_echo(e.conn, 0, 7, 0, -1, false, IIGT_MODE_OFF, &u8, &i16, &u32, &i64, &flag, &mode));
	ASSERT_EQ(i16, -7);
	ASSERT_EQ(i64, -1);
	ASSERT_TRUE(flag);
	/* outputs the app does not want may be NULL */
	ASSERT_OK(iigt_echo(e.conn, 1, 1, 1, 1, true, IIGT_MODE_ON, NULL, NULL, NULL, NULL, NULL, NULL));
	env_down(&e);
}

static int
raw_echo(struct udk_connection *c, uint64_t u8, uint64_t i16, uint64_t u32, uint64_t flag, uint64_t mode)
{
	uint64_t in[6] = { u8, i16, u32, 0, flag, mode }, out[6];
	uint32_t n = 6;

	return udk_connection_call(c, IIGT_ECHO, in, 6, NULL, 0, out, &n, NULL, NULL);
}

TEST(scalar_ranges_are_checked_before_the_handler)
{
	struct env e;

	iigt_up(&e);
	ASSERT_OK(raw_echo(e.conn, 255, (uint64_t)-100, UINT32_MAX, 1, 7));
	/* narrower than the wire's uint64 */
	ASSERT_ERR(raw_echo(e.conn, 256, 0, 0, 0, 0), -EINVAL);
	ASSERT_STREQ(udk_error_reason(), "selector 0 (Echo): u8 is 256, the driver takes a uint8, 0..255");
	ASSERT_ERR(raw_echo(e.conn, 0, 0, (uint64_t)UINT32_MAX + 1, 0, 0), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "u32 is 4294967296, the driver takes a uint32");
	ASSERT_ERR(raw_echo(e.conn, 0, 0, 0, 2, 0), -EINVAL);
	ASSERT_STREQ(udk_error_reason(), "selector 0 (Echo): flag is 2, the driver takes 0 or 1");
	/* declared bounds, signed */
	ASSERT_ERR(raw_echo(e.conn, 0, (uint64_t)-101, 0, 0, 0), -EINVAL);
	ASSERT_STREQ(udk_error_reason(), "selector 0 (Echo): i16 is -101, the driver takes -100..100");
	/* an enum's values */
	ASSERT_ERR(raw_echo(e.conn, 0, 0, 0, 0, 3), -EINVAL);
	ASSERT_STREQ(udk_error_reason(), "selector 0 (Echo): mode is 3, the driver takes one of 0 (off), 1 (on), 7 (auto)");
	/* the typed call reaches the same check */
	ASSERT_ERR(iigt_echo(e.conn, 0, 101, 0, 0, false, 0, NULL, NULL, NULL, NULL, NULL, NULL), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "i16 is 101");
	/* the runtime's own checks still stand in front: counts */
	{
		uint64_t in[5] = { 0 };
		ASSERT_ERR(udk_connection_call(e.conn, IIGT_ECHO, in, 5, NULL, 0, NULL, NULL, NULL, NULL),
			   -UDK_E_SCALAR_COUNT);
		ASSERT_CONTAINS(udk_error_reason(), "selector 0 (Echo): 5 scalar input(s) given, the driver expects 6");
	}
	env_down(&e);
}

TEST(strings_both_ways)
{
	struct env e;
	char reply[32], small[4];

	iigt_up(&e);
	ASSERT_OK(iigt_names(e.conn, "udk", reply, sizeof(reply)));
	ASSERT_STREQ(reply, "hi, udk");
	ASSERT_OK(iigt_names(e.conn, "", reply, sizeof(reply)));
	ASSERT_STREQ(reply, "hi, ");
	/* 16 bytes is the most, 17 is refused with the bound */
	ASSERT_OK(iigt_names(e.conn, "0123456789abcdef", reply, sizeof(reply)));
	ASSERT_STREQ(reply, "hi, 0123456789abcdef");
	ASSERT_ERR(iigt_names(e.conn, "0123456789abcdefg", reply, sizeof(reply)), -UDK_E_STRUCT_SIZE);
	ASSERT_STREQ(udk_error_reason(), "selector 1 (Names): name is 17 bytes, the driver takes 0..16");
	/* a buffer too small for the reply: the handler's declared error */
	strcpy(small, "abc");
	ASSERT_ERR(iigt_names(e.conn, "udk", small, sizeof(small)), -ENOBUFS);
	ASSERT_STREQ(small, "abc");
	/* no room at all: refused before the handler */
	ASSERT_ERR(iigt_names(e.conn, "udk", small, 0), -UDK_E_STRUCT_SIZE);
	ASSERT_CONTAINS(udk_error_reason(), "the app's buffer for reply is 0 bytes, the driver takes 1..32");
	/* a bigger buffer than the definition's is fine: the stub offers 32 */
	{
		char big[100];
		ASSERT_OK(iigt_names(e.conn, "x", big, sizeof(big)));
		ASSERT_STREQ(big, "hi, x");
	}
	/* text with a NUL inside, as only an untyped call can send it */
	{
		size_t len = sizeof(reply);
		ASSERT_ERR(udk_connection_call(e.conn, IIGT_NAMES, NULL, 0, "a\0b", 3, NULL, NULL, reply, &len),
			   -EINVAL);
		ASSERT_STREQ(udk_error_reason(), "selector 1 (Names): name holds a NUL byte; send text without NUL bytes");
	}
	env_down(&e);
}

TEST(bytes_with_bounds_inline_and_in_memory)
{
	struct env e;
	uint8_t data[8193], head[64];
	uint64_t len = 0;
	size_t head_len = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	iigt_up(&e);
	ASSERT_OK(iigt_blob(e.conn, data, 100, &len, head, 16, &head_len));
	ASSERT_EQ(len, 100);
	ASSERT_EQ(head_len, 16);
	ASSERT_TRUE(memcmp(head, data, 16) == 0);
	/* 8192 bytes travel in memory, not inline; the handler sees them the same */
	ASSERT_OK(iigt_blob(e.conn, data, 8192, &len, head, sizeof(head), &head_len));
	ASSERT_EQ(len, 8192);
	ASSERT_EQ(head_len, 64);
	ASSERT_TRUE(memcmp(head, data, 64) == 0);
	/* both bounds */
	ASSERT_ERR(iigt_blob(e.conn, data, 3, &len, head, sizeof(head), &head_len), -UDK_E_STRUCT_SIZE);
	ASSERT_STREQ(udk_error_reason(), "selector 2 (Blob): data is 3 bytes, the driver takes 4..8192");
	ASSERT_ERR(iigt_blob(e.conn, data, 8193, &len, head, sizeof(head), &head_len), -UDK_E_STRUCT_SIZE);
	ASSERT_CONTAINS(udk_error_reason(), "data is 8193 bytes");
	/* outputs are written only on success */
	ASSERT_EQ(len, 8192);
	ASSERT_EQ(head_len, 64);
	/* no output buffer at all is allowed: its minimum is 0 */
	ASSERT_OK(iigt_blob(e.conn, data, 4, &len, NULL, 0, &head_len));
	ASSERT_EQ(head_len, 0);
	env_down(&e);
}

TEST(fixed_structures_inline_and_in_memory)
{
	struct env e;
	struct iigt_point p = { { 3, -4 }, 0x0f0f0000u, 0, 41 }, q;
	struct iigt_big *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));

	iigt_up(&e);
	ASSERT_OK(iigt_point(e.conn, &p, &q));
	ASSERT_EQ(q.at.x, -3);
	ASSERT_EQ(q.at.y, 4);
	ASSERT_EQ(q.flags, 0xf0f0ffffu);
	ASSERT_EQ(q.tag, 42);
	/* 6008 bytes each way: in memory both ways */
	b->seed = 0x1234;
	for (size_t i = 0; i < IIGT_BIG_SIZE; i++)
		b->bytes[i] = (uint8_t)i;
	ASSERT_OK(iigt_big(e.conn, b, c));
	ASSERT_EQ(c->seed, 0x1234);
	for (size_t i = 0; i < IIGT_BIG_SIZE; i++)
		ASSERT_EQ(c->bytes[i], (uint8_t)~i);
	/* the runtime's exact size check, for an untyped caller */
	ASSERT_ERR(udk_connection_call(e.conn, IIGT_POINT, NULL, 0, &p, 16, NULL, NULL, &q, &(size_t){ sizeof(q) }),
		   -UDK_E_STRUCT_SIZE);
	ASSERT_CONTAINS(udk_error_reason(), "selector 3 (Point): structure input is 16 bytes, the driver expects 24");
	free(b);
	free(c);
	env_down(&e);
}

struct later_result {
	int calls, status;
	uint64_t total;
	int32_t sign;
	uint32_t mode;
};

static void
later_done(struct udk_connection *conn, int status, uint64_t total, int32_t sign, uint32_t mode, void *userdata)
{
	struct later_result *r = userdata;

	(void)conn;
	r->calls++;
	r->status = status;
	r->total = total;
	r->sign = sign;
	r->mode = mode;
}

TEST(async_completion_is_typed)
{
	struct env e;
	struct later_result r = { 0 };

	iigt_up(&e);
	ASSERT_OK(iigt_later(e.conn, 41, later_done, &r));
	for (int i = 0; i < 50 && !r.calls; i++)
		udk_connection_dispatch(e.conn, 100);
	ASSERT_EQ(r.calls, 1);
	ASSERT_OK(r.status);
	ASSERT_EQ(r.total, 42);
	ASSERT_EQ(r.sign, -1);
	ASSERT_EQ(r.mode, IIGT_MODE_AUTO);
	/* refused: no completion follows */
	r.calls = 0;
	ASSERT_ERR(iigt_later(e.conn, 0, later_done, &r), -EINVAL);
	ASSERT_STREQ(udk_error_reason(), "selector 5 (Later): n is 0, the driver takes at least 1");
	udk_connection_dispatch(e.conn, 200);
	ASSERT_EQ(r.calls, 0);
	/* an async method called synchronously, untyped */
	{
		uint64_t n = 1;
		ASSERT_ERR(udk_connection_call(e.conn, IIGT_LATER, &n, 1, NULL, 0, NULL, NULL, NULL, NULL),
			   -UDK_E_COMPLETION);
	}
	env_down(&e);
}

TEST(errors_declared_and_undeclared)
{
	struct env e;
	char *log;

	iigt_up(&e);
	ASSERT_OK(iigt_fail(e.conn, 0));
	ASSERT_ERR(iigt_fail(e.conn, -ENOENT), -ENOENT);
	ASSERT_STREQ(udk_error_reason(), "asked to fail with ENOENT");
	ASSERT_ERR(iigt_fail(e.conn, -UDK_E_BUSY), -UDK_E_BUSY);
	/* a code iigt.xml does not list still reaches the app, and the driver's
	 * log says the definition is out of date, once */
	ASSERT_ERR(iigt_fail(e.conn, -EIO), -EIO);
	ASSERT_ERR(iigt_fail(e.conn, -EIO), -EIO);
	ASSERT_TRUE(fixture_wait_log(&e.f,
				     "Fail returned EIO, which iigt.xml does not list among its errors; add <error "
				     "code=\"EIO\" summary=\"...\"/> to the method, or return a listed code",
				     5000));
	log = fixture_log(&e.f);
	ASSERT_TRUE(strstr(strstr(log, "Fail returned EIO") + 1, "Fail returned EIO") == NULL);
	ASSERT_TRUE(strstr(log, "returned ENOENT") == NULL);
	free(log);
	env_down(&e);
}

TEST(a_driver_that_breaks_the_definition_is_caught)
{
	struct env e;
	uint32_t small = 99;
	char text[8] = "";

	iigt_up(&e);
	ASSERT_OK(iigt_liar(e.conn, false, false, &small, text, sizeof(text)));
	ASSERT_EQ(small, 5);
	ASSERT_STREQ(text, "ok");
	/* 11 is above small's max of 10: the app's stub refuses the answer and
	 * leaves its outputs alone */
	small = 99;
	ASSERT_ERR(iigt_liar(e.conn, true, false, &small, text, sizeof(text)), -UDK_E_PROTOCOL);
	ASSERT_EQ(small, 99);
	/* a string without its NUL never leaves the driver */
	ASSERT_ERR(iigt_liar(e.conn, false, true, &small, text, sizeof(text)), -EOVERFLOW);
	ASSERT_STREQ(udk_error_reason(),
		     "selector 7 (Liar): the driver's text does not end with a NUL within the app's 8 bytes");
	env_down(&e);
}

TEST(selector_gaps)
{
	struct env e;

	iigt_up(&e);
	ASSERT_EQ(iigt_ping(e.conn), 0);
	/* 8 is a gap in the table, 14 is past it: what an old driver answers
	 * for a method of a later version */
	ASSERT_ERR(udk_connection_call(e.conn, 8, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_UNKNOWN_SELECTOR);
	ASSERT_ERR(udk_connection_call(e.conn, IIGT_SELECTOR_COUNT, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL),
		   -UDK_E_UNKNOWN_SELECTOR);
	ASSERT_CONTAINS(udk_error_reason(), "is not implemented by " IIGT_USER_CLIENT_CLASS);
	env_down(&e);
}

struct touched {
	int calls, status;
	uint64_t sum;
};

static void
touched_done(struct udk_connection *conn, int status, uint64_t sum, void *userdata)
{
	struct touched *t = userdata;

	(void)conn;
	t->calls++;
	t->status = status;
	t->sum = sum;
}

/* Inputs that point to app memory: the typed calls expose it for the call. */
TEST(memory_the_inputs_point_to)
{
	struct env e;
	uint8_t buf[100], a[42], b[42], c[42];
	uint64_t sum = 0;

	iigt_up(&e);
	memset(buf, 1, sizeof(buf));
	/* a nested struct's window, read and written */
	{
		struct iigt_fill f = { .byte = 7, .w = { sizeof(buf), (uint64_t)(uintptr_t)buf } };
		ASSERT_OK(iigt_fill(e.conn, &f, &sum));
		ASSERT_EQ(sum, 100);
		for (size_t i = 0; i < sizeof(buf); i++)
			ASSERT_EQ(buf[i], 7);
	}
	/* scalars: an address and its length */
	ASSERT_OK(iigt_peek(e.conn, (uint64_t)(uintptr_t)buf, 50, &sum));
	ASSERT_EQ(sum, 7 * 50);
	ASSERT_ERR(iigt_peek(e.conn, 0x10, 16, &sum), -UDK_E_BAD_ADDRESS);
	/* an array of addresses */
	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	memset(c, 3, sizeof(c));
	{
		struct iigt_spans sp = { 3, { (uint64_t)(uintptr_t)a, (uint64_t)(uintptr_t)b, (uint64_t)(uintptr_t)c, 0 } };
		ASSERT_OK(iigt_spans(e.conn, &sp, &sum));
		ASSERT_EQ(sum, 42 * 6);
		sp.count = 5;
		ASSERT_ERR(iigt_spans(e.conn, &sp, &sum), -EINVAL);
	}
	/* an asynchronous call: the memory is reachable until its reply */
	{
		struct iigt_window w = { 42, (uint64_t)(uintptr_t)b };
		struct touched t = { 0 };
		ASSERT_OK(iigt_touch(e.conn, &w, touched_done, &t));
		for (int i = 0; i < 50 && !t.calls; i++)
			udk_connection_dispatch(e.conn, 100);
		ASSERT_EQ(t.calls, 1);
		ASSERT_OK(t.status);
		ASSERT_EQ(t.sum, 2 * 42);
	}
#ifdef UDK_MAX_CALL_RANGES
	/* with a libudk that bounds what a driver reaches, the same call made
	 * untyped, exposing nothing, is refused: the typed call's ranges matter */
	{
		uint64_t in[2] = { (uint64_t)(uintptr_t)buf, 50 }, out = 0;
		uint32_t n = 1;
		ASSERT_ERR(udk_connection_call(e.conn, IIGT_PEEK, in, 2, NULL, 0, &out, &n, NULL, NULL),
			   -UDK_E_BAD_ADDRESS);
		ASSERT_CONTAINS(udk_error_reason(), "outside the memory the app exposed");
	}
#endif
	env_down(&e);
}

static void
ticked(struct udk_connection *conn, int status, uint64_t total, void *userdata)
{
	int *done = userdata;

	(void)conn;
	*done = status >= 0 && total >= 3 ? 1 : -1;
}

TEST(hello_through_its_generated_stubs)
{
	struct env e;
	char greeting[128], name[65];
	uint64_t sum = 0;
	int done = 0;

	env_up(&e, "Hello.dext", HELLO_ID, "drivers/hello-driver", HELLO_PERSONALITY, HELLO_SERVICE_CLASS);
	ASSERT_OK(hello_greet(e.conn, "udk", greeting, sizeof(greeting)));
	ASSERT_TRUE(strncmp(greeting, "Hello, udk, from pid ", 21) == 0);
	ASSERT_OK(hello_add(e.conn, 40, 2, &sum));
	ASSERT_EQ(sum, 42);
	memset(name, 'n', 64);
	name[64] = '\0';
	ASSERT_ERR(hello_greet(e.conn, name, greeting, sizeof(greeting)), -UDK_E_STRUCT_SIZE);
	ASSERT_STREQ(udk_error_reason(), "selector 0 (Greet): name is 64 bytes, the driver takes 0..63");
	ASSERT_ERR(hello_tick_async(e.conn, 0, ticked, &done), -EINVAL);
	ASSERT_STREQ(udk_error_reason(), "selector 3 (TickAsync): ticks is 0, the driver takes 1..1000");
	ASSERT_OK(hello_tick_async(e.conn, 3, ticked, &done));
	for (int i = 0; i < 50 && !done; i++)
		udk_connection_dispatch(e.conn, 100);
	ASSERT_EQ(done, 1);
	ASSERT_ERR(hello_start_events(e.conn, 1), -ENXIO);
	env_down(&e);
}

/* README.md shows what hello-app prints; this keeps it true. */
TEST(hello_app_prints_what_the_readme_shows)
{
	static const char *const lines[] = {
		"found HelloDriver, registry id 0x",
		"  Greet: Hello, udk, from pid ",
		"  Add(40, 2) = 42\n",
		"  Add with one scalar: UDK_E_SCALAR_COUNT: selector 1 (Add): 1 scalar input(s) given, the driver expects 2\n",
		"  GetEdid wrote the app's buffer: header 00 ff ff ... 00, vendor \"UDK\"\n",
		"  TickAsync completed: OK, 5 ticks\n",
		"  Checksum of 1 MiB: 133693440 (right)\n",
		"  data queue: 1000 of 1000 events, in order\n",
		"  status page (read-only): 7 calls, 1000 events\n",
	};
	struct env e;
	char cmd[1024], out[4096];
	size_t len;
	const char *at;
	FILE *p;

	env_up(&e, "Hello.dext", HELLO_ID, "drivers/hello-driver", HELLO_PERSONALITY, HELLO_SERVICE_CLASS);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", build_path("examples/hello-app"), e.f.runtime);
	p = popen(cmd, "r");
	ASSERT_NOT_NULL(p);
	len = fread(out, 1, sizeof(out) - 1, p);
	out[len] = '\0';
	ASSERT_EQ(pclose(p), 0);
	/* in this order */
	at = out;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *hit = strstr(at, lines[i]);
		if (!hit)
			FAIL("hello-app's output lacks \"%s\" after what came before:\n%s", lines[i], out);
		at = hit + strlen(lines[i]);
	}
	env_down(&e);
}
