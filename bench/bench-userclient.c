/* SPDX-License-Identifier: MIT */
/*
 * bench-userclient - user client costs as ratios against baselines
 * measured in the same run:
 *
 *   call latency (64-byte struct in, 64-byte struct out), median and p99:
 *     (a) raw AF_UNIX SOCK_SEQPACKET round trip between two processes
 *     (b) sd-bus method call through a dbus-daemon started here
 *     (c) spin-polled shared-memory ping-pong between two processes (floor)
 *     udk blocking call; udk call with spinning enabled
 *   bulk: a 64 MiB copy through two shared buffers (app -> driver -> app)
 *     against single-thread memcpy of 64 MiB
 *   data queue: records per second for 64 B and 4 KiB records, driver to
 *     app, against the same records over a SOCK_SEQPACKET pair
 *
 * Environment: UDK_BENCH_CALLS (default 100000).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/ring.h>

#include "fixture.h"
#include "test.h"

#define MSG 64

static inline uint64_t
ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double median_us, p99_us;
};

static struct stats
summarize(uint64_t *v, int n)
{
	struct stats s;

	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	s.median_us = (double)v[n / 2] / 1e3;
	s.p99_us = (double)v[(int)((n - 1) * 0.99)] / 1e3;
	return s;
}

/* (a) raw SOCK_SEQPACKET */
static struct stats
bench_seqpacket(int n, uint64_t *t)
{
	int sv[2];
	char buf[MSG] = { 1 };
	pid_t pid;

	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		for (;;) {
			ssize_t k = recv(sv[1], buf, sizeof(buf), 0);
			if (k <= 0)
				_exit(0);
			send(sv[1], buf, (size_t)k, 0);
		}
	}
	close(sv[1]);
	for (int i = 0; i < n + 1000; i++) {
		uint64_t t0 = ns();
		send(sv[0], buf, MSG, 0);
		recv(sv[0], buf, sizeof(buf), 0);
		if (i >= 1000)
			t[i - 1000] = ns() - t0;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	return summarize(t, n);
}

/* (c) shared-memory ping-pong, both sides spinning */
static struct stats
bench_spin_floor(int n, uint64_t *t)
{
	struct page {
		_Atomic uint64_t req;
		char pad[56];
		_Atomic uint64_t rep;
		char pad2[56];
		char data[2][MSG];
	} *p;
	pid_t pid;

	p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	memset(p, 0, sizeof(*p));
	pid = fork();
	if (pid == 0) {
		uint64_t seen = 0;
		for (;;) {
			uint64_t r;
			while ((r = atomic_load_explicit(&p->req, memory_order_acquire)) == seen)
				__builtin_ia32_pause();
			if (r == UINT64_MAX)
				_exit(0);
			memcpy(p->data[1], p->data[0], MSG);
			seen = r;
			atomic_store_explicit(&p->rep, r, memory_order_release);
		}
	}
	for (int i = 0; i < n + 1000; i++) {
		uint64_t t0 = ns(), k = (uint64_t)i + 1;
		memset(p->data[0], i, MSG);
		atomic_store_explicit(&p->req, k, memory_order_release);
		while (atomic_load_explicit(&p->rep, memory_order_acquire) != k)
			__builtin_ia32_pause();
		if (i >= 1000)
			t[i - 1000] = ns() - t0;
	}
	atomic_store_explicit(&p->req, UINT64_MAX, memory_order_release);
	waitpid(pid, NULL, 0);
	munmap(p, sizeof(*p));
	return summarize(t, n);
}

/* (b) sd-bus through a dbus-daemon of our own */
static int
echo_method(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	const void *p;
	size_t len;
	int r;

	(void)userdata;
	(void)err;
	r = sd_bus_message_read_array(m, 'y', &p, &len);
	if (r < 0)
		return r;
	{
		sd_bus_message *reply = NULL;
		r = sd_bus_message_new_method_return(m, &reply);
		if (r >= 0)
			r = sd_bus_message_append_array(reply, 'y', p, len);
		if (r >= 0)
			r = sd_bus_send(NULL, reply, NULL);
		sd_bus_message_unref(reply);
	}
	return r;
}

static const sd_bus_vtable echo_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Echo", "ay", "ay", echo_method, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

static sd_bus *
bus_connect(const char *address)
{
	sd_bus *bus = NULL;

	if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
	    sd_bus_start(bus) < 0)
		FAIL("cannot connect to the benchmark's dbus-daemon at %s", address);
	return bus;
}

static bool
have_dbus(void)
{
	return access("/usr/bin/dbus-daemon", X_OK) == 0;
}

static struct stats
bench_sdbus(int n, uint64_t *t, const char *dir)
{
	char conf[512], sock[512], address[600];
	pid_t daemon_pid, server;
	FILE *f;
	char data[MSG] = { 2 };
	sd_bus *bus;

	snprintf(conf, sizeof(conf), "%s/bus.conf", dir);
	snprintf(sock, sizeof(sock), "%s/bus", dir);
	snprintf(address, sizeof(address), "unix:path=%s", sock);
	f = fopen(conf, "w");
	fprintf(f, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
		   "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		   "<busconfig><type>session</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>"
		   "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
		   "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
		sock);
	fclose(f);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl("/usr/bin/dbus-daemon", "dbus-daemon", "--nofork", "--config-file", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock, F_OK) != 0; i++)
		usleep(10000);
	server = fork();
	if (server == 0) {
		sd_bus *sb = bus_connect(address);
		if (sd_bus_add_object_vtable(sb, NULL, "/org/udk/Bench", "org.udk.Bench", echo_vtable, NULL) < 0 ||
		    sd_bus_request_name(sb, "org.udk.Bench", 0) < 0)
			_exit(1);
		for (;;) {
			int r = sd_bus_process(sb, NULL);
			if (r < 0)
				_exit(0);
			if (r == 0 && sd_bus_wait(sb, UINT64_MAX) < 0)
				_exit(0);
		}
	}
	bus = bus_connect(address);
	/* wait for the name */
	for (int i = 0; i < 500; i++) {
		if (sd_bus_call_method(bus, "org.udk.Bench", "/org/udk/Bench", "org.udk.Bench", "Echo", NULL, NULL,
				       "ay", (size_t)MSG, data) >= 0)
			break;
		usleep(10000);
	}
	for (int i = 0; i < n + 200; i++) {
		sd_bus_message *reply = NULL;
		uint64_t t0 = ns();
		int r = sd_bus_call_method(bus, "org.udk.Bench", "/org/udk/Bench", "org.udk.Bench", "Echo", NULL, &reply,
					   "ay", (size_t)MSG, data);
		if (r < 0)
			FAIL("sd-bus call: %s", strerror(-r));
		sd_bus_message_unref(reply);
		if (i >= 200)
			t[i - 200] = ns() - t0;
	}
	sd_bus_flush_close_unref(bus);
	kill(server, SIGKILL);
	kill(daemon_pid, SIGTERM);
	waitpid(server, NULL, 0);
	waitpid(daemon_pid, NULL, 0);
	return summarize(t, n);
}

static struct stats
bench_udk(struct udk_connection *conn, int n, uint64_t *t)
{
	uint8_t in[MSG] = { 3 }, out[MSG];

	for (int i = 0; i < n + 1000; i++) {
		size_t olen = sizeof(out);
		uint64_t t0 = ns();
		int r = udk_connection_call(conn, SEL_ECHO, NULL, 0, in, sizeof(in), NULL, NULL, out, &olen);
		if (r < 0 || olen != MSG)
			FAIL("echo call failed: %s", udk_error_name(r));
		if (i >= 1000)
			t[i - 1000] = ns() - t0;
	}
	return summarize(t, n);
}

struct copy_args {
	uint64_t len, src, dst;
};

static double
bench_memcpy(void *dst, const void *src, size_t len, int reps)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < reps; i++) {
		uint64_t t0 = ns();
		memcpy(dst, src, len);
		__asm__ volatile("" ::"r"(dst) : "memory");
		uint64_t d = ns() - t0;
		if (d < best)
			best = d;
	}
	return (double)len / ((double)best / 1e9) / 1e9; /* GB/s */
}

static double
bench_bulk(struct udk_connection *conn, struct udk_buffer *src, struct udk_buffer *dst, size_t len, int reps)
{
	struct copy_args a = { len, (uint64_t)(uintptr_t)udk_buffer_get_address(src),
			       (uint64_t)(uintptr_t)udk_buffer_get_address(dst) };
	/* the two buffers are what the driver may map during the call */
	struct udk_memory_range r2[2] = { { udk_buffer_get_address(src), len, UDK_MEMORY_DIRECTION_OUT },
					  { udk_buffer_get_address(dst), len, UDK_MEMORY_DIRECTION_IN } };
	struct udk_call_args ca = { .struct_size = sizeof(ca), .struct_input = &a, .struct_input_size = sizeof(a),
				    .ranges = r2, .n_ranges = 2 };
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < reps; i++) {
		uint64_t t0 = ns();
		int r = udk_connection_call_args(conn, SEL_COPY, &ca);
		uint64_t d = ns() - t0;
		if (r < 0)
			FAIL("bulk copy call failed: %s: %s", udk_error_name(r), udk_error_reason());
		if (d < best)
			best = d;
	}
	return (double)len / ((double)best / 1e9) / 1e9;
}

static double
bench_ring(struct udk_connection *conn, struct udk_ring *ring, uint64_t count, uint64_t size)
{
	static uint8_t buf[1 << 16];
	uint64_t in[2] = { count, size };
	uint32_t len;
	uint64_t t0 = ns();

	ASSERT_OK(udk_connection_call(conn, SEL_STREAM, in, 2, NULL, 0, NULL, NULL, NULL, NULL));
	for (uint64_t i = 0; i < count; i++) {
		uint64_t v;
		ASSERT_OK(udk_ring_dequeue_wait(ring, buf, sizeof(buf), &len, 10000));
		memcpy(&v, buf, sizeof(v));
		if (v != i || len != size)
			FAIL("record %" PRIu64 " came out as %" PRIu64 " (%u bytes)", i, v, len);
	}
	return (double)count / ((double)(ns() - t0) / 1e9);
}

static double
bench_seqpacket_stream(uint64_t count, uint64_t size)
{
	int sv[2], big = 4 << 20;
	static uint8_t buf[1 << 16];
	pid_t pid;
	uint64_t t0;

	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	t0 = ns();
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		for (uint64_t i = 0; i < count; i++) {
			memcpy(buf, &i, sizeof(i));
			if (send(sv[0], buf, size, 0) < 0)
				_exit(1);
		}
		_exit(0);
	}
	close(sv[0]);
	for (uint64_t i = 0; i < count; i++)
		if (recv(sv[1], buf, sizeof(buf), 0) != (ssize_t)size)
			FAIL("short record");
	double rate = (double)count / ((double)(ns() - t0) / 1e9);
	close(sv[1]);
	waitpid(pid, NULL, 0);
	return rate;
}

TEST_FULL(bench, 1800)
{
	const char *cs = getenv("UDK_BENCH_CALLS");
	int n = cs ? atoi(cs) : 100000;
	uint64_t *t = calloc((size_t)n + 2000, sizeof(uint64_t));
	struct stats raw, floor_, bus = { 0, 0 }, udk, udk_spin = { 0, 0 };
	struct fixture f;
	struct udk_connection *conn = NULL;
	uint64_t id;
	bool spin_ok = false;

	raw = bench_seqpacket(n, t);
	floor_ = bench_spin_floor(n, t);
	if (have_dbus())
		bus = bench_sdbus(n / 5, t, test_tmpdir());

	fixture_init(&f);
	fixture_add_bundle(&f, "B.dext", "org.udk.bench",
			   TEST_PERSONALITY("B", "org.udk.bench", "IOUserResources",
					    "<key>IOMatchCategory</key><string>B</string>"));
	fixture_start(&f, "--log-level", "notice", NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	udk = bench_udk(conn, n, t);
	if (udk_connection_set_spin(conn, true) == 0) {
		spin_ok = true;
		udk_spin = bench_udk(conn, n, t);
		udk_connection_set_spin(conn, false);
	}

	/* bulk */
	size_t len = 64u << 20;
	struct udk_buffer *src = NULL, *dst = NULL;
	ASSERT_OK(udk_buffer_create(len, 0, &src));
	ASSERT_OK(udk_buffer_create(len, 0, &dst));
	memset(udk_buffer_get_address(src), 0x5a, len);
	memset(udk_buffer_get_address(dst), 0, len);
	double gbs_memcpy = bench_memcpy(udk_buffer_get_address(dst), udk_buffer_get_address(src), len, 5);
	double gbs_udk = bench_bulk(conn, src, dst, len, 5);
	ASSERT_EQ(((uint8_t *)udk_buffer_get_address(dst))[len - 1], 0x5a);
	udk_buffer_unref(src);
	udk_buffer_unref(dst);

	/* data queue */
	struct udk_ring *ring = NULL;
	ASSERT_OK(udk_connection_map_data_queue(conn, 0, &ring));
	ASSERT_EQ(udk_ring_get_role(ring), UDK_RING_CONSUMER);
	double q64 = bench_ring(conn, ring, 2000000, 64), s64 = bench_seqpacket_stream(2000000, 64);
	double q4k = bench_ring(conn, ring, 300000, 4096), s4k = bench_seqpacket_stream(300000, 4096);
	udk_ring_unref(ring);
	udk_connection_unref(conn);
	fixture_stop(&f);

	printf("# user client benchmark, %d calls of %d bytes in and out\n", n, MSG);
	printf("#   %-44s median %7.2f us  p99 %7.2f us\n", "(a) raw SOCK_SEQPACKET round trip", raw.median_us,
	       raw.p99_us);
	if (bus.median_us > 0)
		printf("#   %-44s median %7.2f us  p99 %7.2f us\n", "(b) sd-bus call via dbus-daemon", bus.median_us,
		       bus.p99_us);
	printf("#   %-44s median %7.2f us  p99 %7.2f us\n", "(c) spin-polled shared memory (floor)",
	       floor_.median_us, floor_.p99_us);
	printf("#   %-44s median %7.2f us  p99 %7.2f us   %.2fx (a), %.1fx faster than (b)\n", "udk call, blocking",
	       udk.median_us, udk.p99_us, udk.median_us / raw.median_us,
	       bus.median_us > 0 ? bus.median_us / udk.median_us : 0);
	if (spin_ok)
		printf("#   %-44s median %7.2f us  p99 %7.2f us   %.1fx (c)\n", "udk call, spinning client",
		       udk_spin.median_us, udk_spin.p99_us, udk_spin.median_us / floor_.median_us);
	printf("#   bulk 64 MiB copy through shared buffers: %.2f GB/s; memcpy %.2f GB/s; ratio %.2f\n", gbs_udk,
	       gbs_memcpy, gbs_udk / gbs_memcpy);
	printf("#   data queue 64 B: %.2f M records/s (SEQPACKET %.2f M/s, ratio %.1f)\n", q64 / 1e6, s64 / 1e6,
	       q64 / s64);
	printf("#   data queue 4 KiB: %.2f M records/s (SEQPACKET %.2f M/s, ratio %.1f)\n", q4k / 1e6, s4k / 1e6,
	       q4k / s4k);
	printf("BENCH {\"bench\":\"userclient\",\"raw_us\":%.2f,\"raw_p99_us\":%.2f,\"sdbus_us\":%.2f,\"floor_us\":%.3f,"
	       "\"udk_us\":%.2f,\"udk_p99_us\":%.2f,\"udk_spin_us\":%.3f,\"udk_spin_p99_us\":%.3f,\"ratio_raw\":%.2f,"
	       "\"ratio_sdbus\":%.1f,\"ratio_floor\":%.2f,\"bulk_gbs\":%.2f,\"memcpy_gbs\":%.2f,\"ratio_bulk\":%.2f,"
	       "\"ring64_mps\":%.2f,\"ring4k_mps\":%.2f}\n",
	       raw.median_us, raw.p99_us, bus.median_us, floor_.median_us, udk.median_us, udk.p99_us,
	       udk_spin.median_us, udk_spin.p99_us, udk.median_us / raw.median_us,
	       bus.median_us > 0 ? bus.median_us / udk.median_us : 0, udk_spin.median_us / floor_.median_us, gbs_udk,
	       gbs_memcpy, gbs_udk / gbs_memcpy, q64 / 1e6, q4k / 1e6);
	free(t);
}
