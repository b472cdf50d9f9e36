/* SPDX-License-Identifier: MIT */
/*
 * User clients end to end: external methods and their checks, async
 * completions, memory descriptors over the app's memory (the seed's EDID
 * case), shared buffers, data queues, spinning calls, hostile messages.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/ring.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.uc"

struct env {
	struct fixture f;
	uint64_t id;
	struct udk_connection *conn;
};

static void
env_up(struct env *e)
{
	fixture_init(&e->f);
	fixture_add_bundle(&e->f, "UC.dext", ID,
			   TEST_PERSONALITY("UC", ID, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_start(&e->f, NULL);
	e->id = fixture_wait_class(&e->f, "TestDriver", 10000);
	ASSERT_OK(udk_client_open(e->f.client, e->id, 0, &e->conn));
}

static void
env_down(struct env *e)
{
	udk_connection_unref(e->conn);
	fixture_stop(&e->f);
}

static int
call_struct(struct udk_connection *c, uint64_t sel, const void *in, size_t in_len)
{
	return udk_connection_call(c, sel, NULL, 0, in, in_len, NULL, NULL, NULL, NULL);
}

struct edid {
	uint64_t size;
	uint64_t uaddr;
};

/* A {size, uaddr} call with the app's buffer exposed to the driver for it. */
static int
call_edid(struct udk_connection *c, uint64_t sel, struct edid *edid, uint64_t *out)
{
	struct udk_memory_range r = { (const void *)(uintptr_t)edid->uaddr, edid->size, UDK_MEMORY_DIRECTION_INOUT };
	struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = edid, .struct_input_size = sizeof(*edid),
				   .scalar_output = out, .scalar_output_count = out ? 1 : 0, .ranges = &r,
				   .n_ranges = 1 };

	return udk_connection_call_args(c, sel, &a);
}

/* "CreateMemoryDescriptorFromClient can't write data to user?" verbatim,
 * once the app exposes its buffer for the call: the app passes {size,
 * uaddr}; the driver makes an OutIn descriptor, maps it, fills it; the app
 * sees the bytes when the call returns. */
TEST(edid_write_back_reaches_the_app)
{
	struct env e;
	uint8_t buff[256];
	struct edid edid;

	env_up(&e);
	memset(buff, 0, sizeof(buff));
	edid.size = sizeof(buff);
	edid.uaddr = (uint64_t)(uintptr_t)buff;
	ASSERT_OK(call_edid(e.conn, SEL_EDID, &edid, NULL));
	ASSERT_EQ(buff[0], 0x00);
	ASSERT_EQ(buff[1], 0xff);
	ASSERT_EQ(buff[7], 0x00);
	for (int i = 8; i < 256; i++)
		ASSERT_EQ(buff[i], (uint8_t)(i * 7 + 3));
	env_down(&e);
}

TEST(bad_client_addresses_are_errors_not_crashes)
{
	struct env e;
	struct edid edid = { 64, 0x10 };
	uint8_t *ro;
	uint64_t sum = 0;
	uint32_t n = 1;

	env_up(&e);
	/* unmapped */
	ASSERT_ERR(call_edid(e.conn, SEL_EDID, &edid, NULL), -UDK_E_BAD_ADDRESS);
	ASSERT_CONTAINS(udk_error_reason(), "is not readable memory of the app");
	/* read-only, but the driver wants to write (OutIn) */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(ro, 7, 4096);
	mprotect(ro, 4096, PROT_READ);
	edid = (struct edid){ 4096, (uint64_t)(uintptr_t)ro };
	ASSERT_ERR(call_edid(e.conn, SEL_EDID, &edid, NULL), -UDK_E_BAD_ADDRESS);
	ASSERT_CONTAINS(udk_error_reason(), "not writable memory of the app, but the driver asked to write it");
	/* reading it (direction OUT) is fine */
	ASSERT_OK(call_edid(e.conn, SEL_READ_CLIENT, &edid, &sum));
	ASSERT_EQ(sum, 7 * 4096);
	/* a range that wraps around the address space: no app can expose it */
	edid = (struct edid){ 4096, UINT64_MAX - 10 };
	ASSERT_ERR(call_struct(e.conn, SEL_EDID, &edid, sizeof(edid)), -UDK_E_BAD_ADDRESS);
	/* the driver survived all of it */
	{
		uint64_t in[2] = { 1, 2 }, out = 0;
		n = 1;
		ASSERT_OK(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
		ASSERT_EQ(out, 3);
	}
	munmap(ro, 4096);
	env_down(&e);
}

TEST(direction_out_is_read_only_for_the_driver)
{
	struct env e;
	uint8_t buff[64];
	struct edid edid = { sizeof(buff), (uint64_t)(uintptr_t)buff };

	env_up(&e);
	memset(buff, 1, sizeof(buff));
	ASSERT_ERR(call_edid(e.conn, SEL_WRITE_RO, &edid, NULL), -UDK_E_DIRECTION);
	ASSERT_CONTAINS(udk_error_reason(), "read-only for the driver");
	ASSERT_EQ(buff[0], 1);
	env_down(&e);
}

TEST(the_driver_cannot_reach_app_memory_outside_a_call)
{
	struct env e;
	uint8_t buff[64];
	struct edid edid = { sizeof(buff), (uint64_t)(uintptr_t)buff };
	uint64_t res = 0;
	uint32_t n = 1;

	env_up(&e);
	/* a copy the driver keeps: writes after the call do not reach us */
	memset(buff, 0, sizeof(buff));
	ASSERT_OK(call_edid(e.conn, SEL_LATE_WRITE, &edid, NULL));
	usleep(150000);
	ASSERT_EQ(buff[0], 0);
	/* a new descriptor outside any call is refused */
	ASSERT_OK(call_edid(e.conn, SEL_LATE_MEMORY, &edid, NULL));
	usleep(150000);
	ASSERT_OK(udk_connection_call(e.conn, SEL_LATE_RESULT, NULL, 0, NULL, 0, &res, &n, NULL, NULL));
	ASSERT_EQ((int64_t)res, -EPERM);
	env_down(&e);
}

TEST(ranges_in_a_shared_buffer_are_not_copied)
{
	struct env e;
	struct udk_buffer *buf = NULL;
	uint8_t *p;
	struct edid edid;

	env_up(&e);
	ASSERT_OK(udk_buffer_create(1 << 20, 0, &buf));
	p = udk_buffer_get_address(buf);
	edid = (struct edid){ 256, (uint64_t)(uintptr_t)(p + 4096) };
	ASSERT_OK(call_edid(e.conn, SEL_EDID, &edid, NULL));
	ASSERT_EQ(p[4096 + 1], 0xff);
	/* the driver's descriptor maps our pages: its later write shows */
	ASSERT_OK(call_edid(e.conn, SEL_LATE_WRITE, &edid, NULL));
	for (int i = 0; i < 100 && p[4096] != 0xee; i++)
		usleep(10000);
	ASSERT_EQ(p[4096], 0xee);
	/* a 64 MiB copy between two buffers */
	{
		struct udk_buffer *src = NULL, *dst = NULL;
		struct {
			uint64_t len, src, dst;
		} c = { 64u << 20, 0, 0 };
		ASSERT_OK(udk_buffer_create(c.len, 0, &src));
		ASSERT_OK(udk_buffer_create(c.len, 0, &dst));
		for (size_t i = 0; i < c.len; i += 4096)
			((uint8_t *)udk_buffer_get_address(src))[i] = (uint8_t)(i >> 12);
		struct udk_memory_range r[2] = {
			{ udk_buffer_get_address(src), c.len, UDK_MEMORY_DIRECTION_OUT },
			{ udk_buffer_get_address(dst), c.len, UDK_MEMORY_DIRECTION_IN },
		};
		struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = &c, .struct_input_size = sizeof(c),
					   .ranges = r, .n_ranges = 2 };
		c.src = (uint64_t)(uintptr_t)udk_buffer_get_address(src);
		c.dst = (uint64_t)(uintptr_t)udk_buffer_get_address(dst);
		ASSERT_OK(udk_connection_call_args(e.conn, SEL_COPY, &a));
		ASSERT_EQ(memcmp(udk_buffer_get_address(src), udk_buffer_get_address(dst), c.len), 0);
		udk_buffer_unref(src);
		udk_buffer_unref(dst);
	}
	udk_buffer_unref(buf);
	env_down(&e);
}

TEST(mapped_memory_read_only_is_enforced_by_the_kernel)
{
	struct env e;
	struct udk_buffer *ro = NULL;
	uint8_t *p;
	pid_t pid;
	int st;

	env_up(&e);
	ASSERT_OK(udk_connection_map_memory(e.conn, 1, 0, &ro));
	ASSERT_FALSE(udk_buffer_is_writable(ro));
	p = udk_buffer_get_address(ro);
	ASSERT_EQ(udk_buffer_get_size(ro), 65536);
	ASSERT_EQ(p[0], 0xab);
	ASSERT_EQ(p[65535], 0xab);
	/* writing through the mapping faults */
	pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report: the plain fault */
		p[0] = 1;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	udk_buffer_unref(ro);
	/* an unknown type is refused with the driver's reason */
	ASSERT_ERR(udk_connection_map_memory(e.conn, 9, 0, &ro), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "memory type 9 does not exist");
	env_down(&e);
}

TEST(checks_refuse_bad_calls_before_driver_code)
{
	struct env e;
	uint64_t in[17] = { 0 }, out[2];
	uint32_t n = 1;
	struct edid edid = { 0, 0 };

	env_up(&e);
	ASSERT_ERR(udk_connection_call(e.conn, 999, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_UNKNOWN_SELECTOR);
	ASSERT_CONTAINS(udk_error_reason(), "selector 999 is not implemented by TestUserClient");
	ASSERT_ERR(udk_connection_call(e.conn, SEL_ADD, in, 1, NULL, 0, out, &n, NULL, NULL), -UDK_E_SCALAR_COUNT);
	ASSERT_CONTAINS(udk_error_reason(), "selector 1 (Add): 1 scalar input(s) given, the driver expects 2");
	n = 2;
	ASSERT_ERR(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, out, &n, NULL, NULL), -UDK_E_SCALAR_COUNT);
	ASSERT_CONTAINS(udk_error_reason(), "asks for 2 scalar output(s), the driver returns 1");
	ASSERT_ERR(udk_connection_call(e.conn, SEL_EDID, NULL, 0, &edid, 8, NULL, NULL, NULL, NULL), -UDK_E_STRUCT_SIZE);
	ASSERT_CONTAINS(udk_error_reason(), "selector 5 (GetEdid): structure input is 8 bytes, the driver expects 16");
	/* more than 16 scalars never leaves the app */
	ASSERT_ERR(udk_connection_call(e.conn, SEL_ADD, in, 17, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_SCALAR_COUNT);
	/* sync vs async */
	n = 0;
	ASSERT_ERR(udk_connection_call(e.conn, SEL_ASYNC_ADD, in, 2, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_COMPLETION);
	ASSERT_CONTAINS(udk_error_reason(), "must be called asynchronously");
	env_down(&e);
}

static void
got_completion(struct udk_connection *c, int status, const uint64_t *v, uint32_t count, void *userdata)
{
	int64_t *res = userdata;

	(void)c;
	res[0] = status;
	res[1] = count;
	res[2] = count ? (int64_t)v[0] : -1;
	res[3] = count > 1 ? (int64_t)v[1] : -1;
}

TEST(async_calls_complete_with_values_and_die_cleanly)
{
	struct env e;
	uint64_t in[2] = { 40, 2 };
	int64_t res[4] = { 1, 0, 0, 0 };

	env_up(&e);
	ASSERT_OK(udk_connection_call_async(e.conn, SEL_ASYNC_ADD, in, 2, NULL, 0, NULL, NULL, NULL, NULL,
					    got_completion, res));
	for (int i = 0; i < 200 && res[0] == 1; i++)
		udk_connection_dispatch(e.conn, 50);
	ASSERT_EQ(res[0], 0);
	ASSERT_EQ(res[1], 2);
	ASSERT_EQ(res[2], 42);
	ASSERT_EQ(res[3], 42);
	/* async to a sync method */
	ASSERT_ERR(udk_connection_call_async(e.conn, SEL_ADD, in, 2, NULL, 0, NULL, NULL, NULL, NULL, got_completion,
					     res),
		   -UDK_E_COMPLETION);
	/* a pending completion when the driver dies */
	res[0] = 1;
	ASSERT_OK(udk_connection_call_async(e.conn, SEL_ASYNC_ADD, in, 2, NULL, 0, NULL, NULL, NULL, NULL,
					    got_completion, res));
	udk_connection_call(e.conn, SEL_CRASH, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL);
	for (int i = 0; i < 200 && res[0] == 1; i++)
		udk_connection_dispatch(e.conn, 50);
	ASSERT_ERR(res[0], -UDK_E_DRIVER_DIED);
	env_down(&e);
}

TEST(a_dead_app_aborts_its_calls_on_the_driver_side)
{
	struct env e;
	pid_t pid;
	char *log;

	env_up(&e);
	pid = fork();
	if (pid == 0) {
		/* a second app: start an async call, then vanish */
		struct udk_client *c = NULL;
		struct udk_connection *conn = NULL;
		uint64_t in[2] = { 1, 1 };
		int64_t res[4];
		if (udk_client_new(e.f.runtime, &c) < 0 || udk_client_open(c, e.id, 0, &conn) < 0 ||
		    udk_connection_call_async(conn, SEL_ASYNC_ADD, in, 2, NULL, 0, NULL, NULL, NULL, NULL, got_completion,
					      res) < 0)
			_exit(1);
		_exit(0); /* no goodbye */
	}
	ASSERT_EQ(waitpid(pid, NULL, 0), pid);
	ASSERT_TRUE(fixture_wait_output(&e.f, "status", "udkd pid", 2000));
	for (int i = 0; i < 100; i++) {
		log = fixture_log(&e.f);
		if (strstr(log, "completing after the client left: UDK_E_TERMINATED"))
			break;
		free(log);
		log = NULL;
		usleep(20000);
	}
	ASSERT_NOT_NULL(log);
	ASSERT_CONTAINS(log, "TestUserClient: the client closed");
	free(log);
	/* our own connection still works */
	{
		uint64_t in[2] = { 2, 3 }, out = 0;
		uint32_t n = 1;
		ASSERT_OK(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
		ASSERT_EQ(out, 5);
	}
	env_down(&e);
}

TEST(large_structures_travel_through_memory)
{
	struct env e;
	size_t len = 300000;
	uint8_t *in = malloc(len), *out = malloc(len);
	size_t olen = len;
	uint64_t sum = 0, expect = 0, fill = 0x3c;
	uint32_t n = 1;

	env_up(&e);
	for (size_t i = 0; i < len; i++) {
		in[i] = (uint8_t)(i * 13);
		expect += in[i];
	}
	ASSERT_OK(udk_connection_call(e.conn, SEL_ECHO, NULL, 0, in, len, NULL, NULL, out, &olen));
	ASSERT_EQ(memcmp(in, out, len), 0);
	ASSERT_OK(udk_connection_call(e.conn, SEL_SUM_IN, NULL, 0, in, len, &sum, &n, NULL, NULL));
	ASSERT_EQ(sum, expect);
	olen = 8192;
	ASSERT_OK(udk_connection_call(e.conn, SEL_FILL_OUT, &fill, 1, NULL, 0, NULL, NULL, out, &olen));
	ASSERT_EQ(out[0], 0x3c);
	ASSERT_EQ(out[8191], 0x3c);
	free(in);
	free(out);
	env_down(&e);
}

TEST(data_queue_from_driver_to_app)
{
	struct env e;
	struct udk_ring *ring = NULL;
	uint64_t in[2] = { 20000, 100 };
	uint8_t rec[128];
	uint32_t len;

	env_up(&e);
	ASSERT_OK(udk_connection_map_data_queue(e.conn, 0, &ring));
	ASSERT_EQ(udk_ring_get_role(ring), UDK_RING_CONSUMER);
	ASSERT_OK(udk_connection_call(e.conn, SEL_STREAM, in, 2, NULL, 0, NULL, NULL, NULL, NULL));
	for (uint64_t i = 0; i < in[0]; i++) {
		uint64_t v;
		ASSERT_OK(udk_ring_dequeue_wait(ring, rec, sizeof(rec), &len, 10000));
		memcpy(&v, rec, 8);
		ASSERT_EQ(v, i);
		ASSERT_EQ(len, 100);
	}
	ASSERT_ERR(udk_ring_dequeue(ring, rec, sizeof(rec), &len), -EAGAIN);
	udk_ring_unref(ring);
	ASSERT_ERR(udk_connection_map_data_queue(e.conn, 3, &ring), -EINVAL);
	env_down(&e);
}

struct worker {
	struct udk_connection *conn;
	int id;
	int bad;
};

static void *
worker(void *data)
{
	struct worker *w = data;

	for (int i = 0; i < 500; i++) {
		uint64_t in[2] = { (uint64_t)w->id, (uint64_t)i }, out = 0;
		uint32_t n = 1;
		if (udk_connection_call(w->conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL) < 0 ||
		    out != (uint64_t)(w->id + i))
			w->bad++;
	}
	return NULL;
}

TEST(many_threads_share_one_connection)
{
	struct env e;
	struct worker w[4];
	pthread_t th[4];

	env_up(&e);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ e.conn, i * 1000, 0 };
		pthread_create(&th[i], NULL, worker, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ASSERT_EQ(w[i].bad, 0);
	}
	env_down(&e);
}

/*
 * A call without a deadline (or a long one) waits in its receive, with the
 * socket's SO_RCVTIMEO, not in poll: a short per-call deadline after a long
 * one still ends the call, also when the app made the descriptor
 * non-blocking, and the abandoned call's late reply does not answer the
 * next call.
 */
TEST(a_call_past_its_deadline_fails_and_the_next_call_gets_its_own_reply)
{
	struct env e;
	uint64_t in[2] = { 20, 22 }, out = 0, ms = 900;
	uint32_t n = 1;
	int fd;

	env_up(&e);
	for (int mode = 0; mode < 2; mode++) {
		if (mode == 1) {
			/* an app that put the descriptor in its own event loop */
			fd = udk_connection_get_fd(e.conn);
			ASSERT_TRUE(fd >= 0);
			ASSERT_OK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
		}
		/* a long deadline first (the receive timeout is set for it) */
		ASSERT_OK(udk_connection_set_timeout(e.conn, 5000));
		n = 1;
		ASSERT_OK(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
		ASSERT_EQ(out, 42);
		/* then one far shorter than the driver's sleep: it must end the wait */
		ASSERT_OK(udk_connection_set_timeout(e.conn, 100));
		ASSERT_ERR(udk_connection_call(e.conn, SEL_SLEEP, &ms, 1, NULL, 0, NULL, NULL, NULL, NULL),
			   -UDK_E_DEADLINE);
		ASSERT_CONTAINS(udk_error_reason(), "no answer within 100 ms");
		/* no deadline: served after the sleep, with its own reply */
		ASSERT_OK(udk_connection_set_timeout(e.conn, 0));
		in[0] = 30 + (uint64_t)mode;
		out = 0;
		n = 1;
		ASSERT_OK(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
		ASSERT_EQ(out, 52 + (uint64_t)mode);
		in[0] = 20;
	}
	/* death still ends a call that waits without a deadline */
	ASSERT_ERR(udk_connection_call(e.conn, SEL_CRASH, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_DRIVER_DIED);
	env_down(&e);
}

TEST(spinning_calls_work_including_memory_and_death)
{
	struct env e;
	uint8_t buff[256];
	struct edid edid = { sizeof(buff), (uint64_t)(uintptr_t)buff };
	uint64_t in[2] = { 20, 22 }, out = 0;
	uint32_t n = 1;

	env_up(&e);
	ASSERT_OK(udk_connection_set_spin(e.conn, true));
	for (int i = 0; i < 1000; i++) {
		n = 1;
		ASSERT_OK(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
		ASSERT_EQ(out, 42);
	}
	/* the driver asks for our memory in the middle of a spinning call */
	memset(buff, 0, sizeof(buff));
	ASSERT_OK(call_edid(e.conn, SEL_EDID, &edid, NULL));
	ASSERT_EQ(buff[1], 0xff);
	ASSERT_EQ(buff[255], (uint8_t)(255 * 7 + 3));
	/* checks still name the problem */
	ASSERT_ERR(udk_connection_call(e.conn, SEL_ADD, in, 1, NULL, 0, &out, &n, NULL, NULL), -UDK_E_SCALAR_COUNT);
	ASSERT_CONTAINS(udk_error_reason(), "1 scalar input(s) given");
	/* idle long enough for the driver to stop spinning and sleep */
	usleep(300000);
	n = 1;
	ASSERT_OK(udk_connection_call(e.conn, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
	/* death during a spinning call */
	ASSERT_ERR(udk_connection_call(e.conn, SEL_CRASH, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_DRIVER_DIED);
	env_down(&e);
}

TEST(new_user_client_can_refuse_with_a_reason)
{
	struct env e;
	struct udk_connection *c = NULL;

	env_up(&e);
	ASSERT_ERR(udk_client_open(e.f.client, e.id, 7, &c), -EPERM);
	ASSERT_CONTAINS(udk_error_reason(), "user client type 7 is reserved for the factory tool");
	ASSERT_ERR(udk_client_open(e.f.client, 0x1234, 0, &c), -UDK_E_NO_SUCH_SERVICE);
	env_down(&e);
}

/* ---- hostile messages on the raw connection ---- */

static int
raw_call(int fd, const void *payload, size_t len, const int *fds, unsigned n_fds, uint32_t serial)
{
	struct {
		uint32_t size;
		uint16_t op, flags;
		uint32_t serial;
		int32_t status;
	} h = { (uint32_t)(16 + len), 300, 0, serial, 0 };
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov[2] = { { &h, 16 }, { (void *)payload, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	char reply[8192];

	if (n_fds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	for (;;) {
		ssize_t k = recv(fd, reply, sizeof(reply), 0);
		int32_t status;
		uint32_t rserial;
		if (k < 16)
			return -EPIPE;
		memcpy(&rserial, reply + 8, 4);
		if (rserial != serial)
			continue;
		memcpy(&status, reply + 12, 4);
		return status;
	}
}

struct pcall {
	uint64_t selector, async_ref;
	uint32_t flags, n_in, n_out_max, in_size, out_max, reserved;
};

TEST(hostile_messages_get_named_errors_and_the_driver_keeps_serving)
{
	struct env e;
	struct udk_connection *other = NULL;
	int fd;
	uint8_t buf[512];
	struct pcall pc;

	env_up(&e);
	ASSERT_OK(udk_client_open(e.f.client, e.id, 0, &other));
	/* a second connection whose socket we abuse by hand */
	struct udk_connection *raw = NULL;
	ASSERT_OK(udk_client_open(e.f.client, e.id, 0, &raw));
	fd = udk_connection_get_fd(raw);
	ASSERT_GE(fd, 0);
	/* truncated */
	ASSERT_ERR(raw_call(fd, "abc", 3, NULL, 0, 1), -UDK_E_PROTOCOL);
	/* counts beyond 16 */
	memset(&pc, 0, sizeof(pc));
	pc.selector = SEL_ADD;
	pc.n_in = 200;
	ASSERT_ERR(raw_call(fd, &pc, sizeof(pc), NULL, 0, 2), -UDK_E_SCALAR_COUNT);
	/* a huge inline length */
	memset(&pc, 0, sizeof(pc));
	pc.in_size = 0x7fffffff;
	ASSERT_ERR(raw_call(fd, &pc, sizeof(pc), NULL, 0, 3), -UDK_E_STRUCT_SIZE);
	/* header and body disagree */
	memset(&pc, 0, sizeof(pc));
	pc.in_size = 100;
	memcpy(buf, &pc, sizeof(pc));
	ASSERT_ERR(raw_call(fd, buf, sizeof(pc) + 10, NULL, 0, 4), -UDK_E_PROTOCOL);
	/* unknown flags */
	memset(&pc, 0, sizeof(pc));
	pc.flags = 0x80;
	ASSERT_ERR(raw_call(fd, &pc, sizeof(pc), NULL, 0, 5), -UDK_E_PROTOCOL);
	/* a descriptor where none is expected */
	{
		int p[2];
		ASSERT_OK(pipe(p));
		memset(&pc, 0, sizeof(pc));
		pc.selector = SEL_GET_PID;
		pc.n_out_max = 1;
		ASSERT_ERR(raw_call(fd, &pc, sizeof(pc), &p[0], 1, 6), -UDK_E_PROTOCOL);
		close(p[0]);
		close(p[1]);
	}
	/* a "large input" fd that is not a sealed memfd */
	{
		int p[2];
		ASSERT_OK(pipe(p));
		memset(&pc, 0, sizeof(pc));
		pc.flags = 1; /* CALL_F_STRUCT_IN_FD */
		pc.in_size = 8192;
		ASSERT_ERR(raw_call(fd, &pc, sizeof(pc), &p[0], 1, 7), -UDK_E_PROTOCOL);
		close(p[0]);
		close(p[1]);
	}
	/* and after all that, the same socket still serves a good call */
	{
		struct {
			struct pcall c;
			uint64_t s[2];
		} ok = { { SEL_ADD, 0, 0, 2, 1, 0, 0, 0 }, { 1, 2 } };
		ASSERT_EQ(raw_call(fd, &ok, sizeof(ok), NULL, 0, 8), 0);
	}
	udk_connection_unref(raw);
	/* so does everyone else */
	{
		uint64_t in[2] = { 5, 6 }, out = 0;
		uint32_t n = 1;
		ASSERT_OK(udk_connection_call(other, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL));
		ASSERT_EQ(out, 11);
	}
	udk_connection_unref(other);
	env_down(&e);
}
