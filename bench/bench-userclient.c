/* SPDX-License-Identifier: MIT */
/*
 * bench-userclient - user client costs as ratios against baselines
 * measured in the same run:
 *
 *   call latency (64-byte struct in, 64-byte struct out), median and p99:
 *     (a) raw AF_UNIX SOCK_SEQPACKET round trip between two processes
 *     (b) sd-bus method call through a dbus-daemon started here
 *     (c) spin-polled shared-memory ping-pong between two processes (floor)
 *     (d) (a) served the way a driver's queue serves a call: epoll_wait,
 *         recvmsg, sendmsg (the floor of a queue that serves many sources)
 *     udk blocking call; udk call with spinning enabled
 *   (a), (b), (d) and the udk blocking call are measured twice, as separate
 *   rows: every process of the measurement (both ends, dbus-daemon, udkd
 *   and the driver) pinned to one core with sched_setaffinity, and
 *   unpinned.  Each is repeated UDK_BENCH_REPS times, interleaved (raw,
 *   sd-bus, udk, raw, ...), and reported as the median of the
 *   repetitions' medians with their spread (lowest and highest); the
 *   udk / raw ratio is also given for the worst repetition.
 *   bulk: a 64 MiB copy through two shared buffers (app -> driver -> app)
 *     against single-thread memcpy of 64 MiB
 *   data queue: records per second for 64 B and 4 KiB records, driver to
 *     app, against the same records over a SOCK_SEQPACKET pair
 *
 * Environment: UDK_BENCH_CALLS (default 20000 per repetition; sd-bus makes
 * a fifth of them), UDK_BENCH_REPS (default 5), UDK_BENCH_SANDBOX=0 (the
 * driver unconfined: what the sandbox costs a call).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

/* UDK_BENCH_SANDBOX=0: the driver unconfined (udkd --no-sandbox), to see what its seccomp filter costs a call */
static bool
sandboxed(void)
{
	const char *e = getenv("UDK_BENCH_SANDBOX");

	return !(e && streq(e, "0"));
}

/* (a): the server receives and sends back, nothing else */
static void __attribute__((noreturn))
serve_plain(int sock)
{
	char buf[MSG];

	for (;;) {
		ssize_t k = recv(sock, buf, sizeof(buf), 0);
		if (k <= 0)
			_exit(0);
		send(sock, buf, (size_t)k, 0);
	}
}

/*
 * (d): served the way a driver's user-client queue serves a call: the
 * server sleeps in epoll_wait on the socket and an eventfd (the queue's
 * wakeup for posted work and timers), then recvmsg with room for
 * descriptors, sendmsg.  What udk adds beyond this is udk's own code; what
 * this adds beyond (a) is the price of a queue that serves more than one
 * socket.
 */
static void __attribute__((noreturn))
serve_like_a_queue(int sock)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = sock }, evs[32];
	char rbuf[4096];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;

	if (ep < 0 || wake < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0)
		_exit(1);
	ev.data.fd = wake;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) < 0)
		_exit(1);
	for (;;) {
		struct iovec iov = { rbuf, sizeof(rbuf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t k;

		if (epoll_wait(ep, evs, 32, -1) < 0)
			continue;
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (k <= 0)
			_exit(0);
		iov.iov_len = (size_t)k;
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
		sendmsg(sock, &mh, MSG_NOSIGNAL);
	}
}

/* (a) raw SOCK_SEQPACKET round trip; (d) with @like_a_queue, the client using sendmsg/recvmsg as udk's does */
static struct stats
bench_seqpacket(int n, uint64_t *t, bool like_a_queue)
{
	int sv[2];
	char buf[MSG] = { 1 };
	pid_t pid;

	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (like_a_queue)
			serve_like_a_queue(sv[1]);
		serve_plain(sv[1]);
	}
	close(sv[1]);
	for (int i = 0; i < n + 1000; i++) {
		struct iovec iov = { buf, MSG };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		uint64_t t0 = ns();

		if (like_a_queue) {
			sendmsg(sv[0], &mh, MSG_NOSIGNAL);
			recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC);
		} else {
			send(sv[0], buf, MSG, 0);
			recv(sv[0], buf, sizeof(buf), 0);
		}
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
	const char *e = getenv("UDK_BENCH_SDBUS");

	/* UDK_BENCH_SDBUS=0: leave sd-bus out (to count one side's system calls) */
	if (e && streq(e, "0"))
		return false;
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
		dup2(null, 2); /* "Failed to set fd limit" when not allowed to: harmless */
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

/* one side of one mode: the repetitions' medians and p99s */
#define MAX_REPS 15

struct row {
	double med[MAX_REPS], p99[MAX_REPS];
};

static double
pick(const double *v, int n, int which) /* which: 0 lowest, 1 median, 2 highest */
{
	double s[MAX_REPS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
			double x = s[j];
			s[j] = s[j - 1];
			s[j - 1] = x;
		}
	return which == 0 ? s[0] : which == 2 ? s[n - 1] : s[n / 2];
}

/* Pin this process (and so everything it forks from now on) to one core, or undo it. */
static void
pin(bool on, const cpu_set_t *all)
{
	cpu_set_t one;

	if (!on) {
		ASSERT_OK(sched_setaffinity(0, sizeof(*all), all));
		return;
	}
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, all)) {
			CPU_SET(c, &one);
			break;
		}
	ASSERT_OK(sched_setaffinity(0, sizeof(one), &one));
}

static void
print_row(const char *mode, const char *name, const struct row *r, int reps)
{
	printf("#   %-9s %-34s median %7.2f us (%.2f-%.2f)  p99 %7.2f us\n", mode, name, pick(r->med, reps, 1),
	       pick(r->med, reps, 0), pick(r->med, reps, 2), pick(r->p99, reps, 1));
}

static void
json_row(FILE *j, const char *mode, const char *name, const struct row *r, int reps)
{
	fprintf(j, ",\"%s_%s_us\":%.3f,\"%s_%s_min_us\":%.3f,\"%s_%s_max_us\":%.3f,\"%s_%s_p99_us\":%.3f", mode, name,
		pick(r->med, reps, 1), mode, name, pick(r->med, reps, 0), mode, name, pick(r->med, reps, 2), mode,
		name, pick(r->p99, reps, 1));
}

struct mode_result {
	struct row raw, bus, udk, loop;
	double ratio[MAX_REPS], ratio_p99[MAX_REPS], ratio_loop[MAX_REPS];
};

/*
 * One mode: pinned or not, then udkd started (so it and the driver it
 * spawns inherit the affinity), then the repetitions interleaved.
 */
static void
run_mode(bool pinned, const cpu_set_t *all, int n, int reps, uint64_t *t, struct mode_result *m)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	uint64_t id;
	struct stats s;

	pin(pinned, all);
	fixture_init(&f);
	fixture_add_bundle(&f, "B.dext", "org.udk.bench",
			   TEST_PERSONALITY("B", "org.udk.bench", "IOUserResources",
					    "<key>IOMatchCategory</key><string>B</string>"));
	fixture_start(&f, "--log-level", "notice", sandboxed() ? NULL : "--no-sandbox", NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	for (int r = 0; r < reps; r++) {
		s = bench_seqpacket(n, t, false);
		m->raw.med[r] = s.median_us;
		m->raw.p99[r] = s.p99_us;
		s = bench_seqpacket(n, t, true);
		m->loop.med[r] = s.median_us;
		m->loop.p99[r] = s.p99_us;
		if (have_dbus()) {
			s = bench_sdbus(n / 5, t, test_tmpdir());
			m->bus.med[r] = s.median_us;
			m->bus.p99[r] = s.p99_us;
		}
		s = bench_udk(conn, n, t);
		m->udk.med[r] = s.median_us;
		m->udk.p99[r] = s.p99_us;
		m->ratio[r] = m->udk.med[r] / m->raw.med[r];
		m->ratio_p99[r] = m->udk.p99[r] / m->raw.p99[r];
		m->ratio_loop[r] = m->udk.med[r] / m->loop.med[r];
	}
	udk_connection_unref(conn);
	fixture_stop(&f);
	pin(false, all);
}

static void
print_calls(const struct mode_result *modes, const char *const *mode_names, int n, int reps, bool bus_ok)
{
	printf("# user client benchmark, %d calls of %d bytes in and out (sd-bus %d), %d repetitions; "
	       "median of the repetitions' medians (lowest-highest)%s\n",
	       n, MSG, n / 5, reps, sandboxed() ? "" : "; the driver NOT sandboxed (udkd --no-sandbox)");
	for (int m = 0; m < 2; m++) {
		const struct mode_result *r = &modes[m];
		double raw = pick(r->raw.med, reps, 1), udk = pick(r->udk.med, reps, 1), bus = pick(r->bus.med, reps, 1);

		print_row(mode_names[m], "(a) raw SOCK_SEQPACKET round trip", &r->raw, reps);
		print_row(mode_names[m], "(d) raw, served by an epoll loop", &r->loop, reps);
		if (bus_ok)
			print_row(mode_names[m], "(b) sd-bus call via dbus-daemon", &r->bus, reps);
		print_row(mode_names[m], "udk call, blocking", &r->udk, reps);
		printf("#   %-9s udk / raw %.2fx (worst repetition %.2fx), p99 udk / raw %.2fx", mode_names[m],
		       pick(r->ratio, reps, 1), pick(r->ratio, reps, 2), pick(r->ratio_p99, reps, 1));
		if (bus_ok)
			printf("; sd-bus / udk %.1fx, sd-bus / raw %.1fx", bus / udk, bus / raw);
		printf("\n#   %-9s (d) / raw %.2fx: what a queue's epoll costs; udk / (d) %.2fx (worst repetition "
		       "%.2fx): udk's own code\n",
		       mode_names[m], pick(r->loop.med, reps, 1) / raw, pick(r->ratio_loop, reps, 1),
		       pick(r->ratio_loop, reps, 2));
	}
}

TEST_FULL(bench, 1800)
{
	const char *cs = getenv("UDK_BENCH_CALLS"), *rs = getenv("UDK_BENCH_REPS"), *only = getenv("UDK_BENCH_ONLY");
	int n = cs ? atoi(cs) : 20000, reps = rs ? atoi(rs) : 5;
	uint64_t *t;
	struct stats floor_, udk_spin = { 0, 0 };
	struct mode_result modes[2] = { 0 };
	const char *mode_names[2] = { "unpinned", "pinned" };
	struct fixture f;
	struct udk_connection *conn = NULL;
	uint64_t id;
	bool spin_ok = false, bus_ok = have_dbus();
	cpu_set_t all;

	if (n < 1000)
		n = 1000;
	if (reps < 1 || reps > MAX_REPS)
		FAIL("UDK_BENCH_REPS=%d: give 1 to %d repetitions", reps, MAX_REPS);
	t = calloc((size_t)n + 2000, sizeof(uint64_t));
	ASSERT_TRUE(t != NULL);
	ASSERT_OK(sched_getaffinity(0, sizeof(all), &all));

	if (only && streq(only, "spin")) {
		/* UDK_BENCH_ONLY=spin: the spinning call and its floor alone, interleaved */
		fixture_init(&f);
		fixture_add_bundle(&f, "B.dext", "org.udk.bench",
				   TEST_PERSONALITY("B", "org.udk.bench", "IOUserResources",
						    "<key>IOMatchCategory</key><string>B</string>"));
		fixture_start(&f, "--log-level", "notice", sandboxed() ? NULL : "--no-sandbox", NULL);
		id = fixture_wait_class(&f, "TestDriver", 10000);
		ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
		ASSERT_OK(udk_connection_set_spin(conn, true));
		for (int r = 0; r < reps; r++) {
			floor_ = bench_spin_floor(n, t);
			udk_spin = bench_udk(conn, n, t);
			printf("#   spin floor median %.2f us, udk spinning call median %.2f us (p99 %.2f): %.2fx\n",
			       floor_.median_us, udk_spin.median_us, udk_spin.p99_us, udk_spin.median_us / floor_.median_us);
		}
		udk_connection_unref(conn);
		fixture_stop(&f);
		free(t);
		return;
	}
	for (int m = 0; m < 2; m++)
		run_mode(m == 1, &all, n, reps, t, &modes[m]);
	if (only && streq(only, "calls")) {
		/* UDK_BENCH_ONLY=calls: the blocking calls alone (to count their system calls) */
		print_calls(modes, mode_names, n, reps, bus_ok);
		free(t);
		return;
	}

	/* the spinning figures need two cores: unpinned only */
	floor_ = bench_spin_floor(n, t);
	fixture_init(&f);
	fixture_add_bundle(&f, "B.dext", "org.udk.bench",
			   TEST_PERSONALITY("B", "org.udk.bench", "IOUserResources",
					    "<key>IOMatchCategory</key><string>B</string>"));
	fixture_start(&f, "--log-level", "notice", sandboxed() ? NULL : "--no-sandbox", NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
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

	print_calls(modes, mode_names, n, reps, bus_ok);
	printf("#   %-44s median %7.2f us  p99 %7.2f us\n", "(c) spin-polled shared memory (floor)",
	       floor_.median_us, floor_.p99_us);
	if (spin_ok)
		printf("#   %-44s median %7.2f us  p99 %7.2f us   %.1fx (c)\n", "udk call, spinning client",
		       udk_spin.median_us, udk_spin.p99_us, udk_spin.median_us / floor_.median_us);
	printf("#   bulk 64 MiB copy through shared buffers: %.2f GB/s; memcpy %.2f GB/s; ratio %.2f\n", gbs_udk,
	       gbs_memcpy, gbs_udk / gbs_memcpy);
	printf("#   data queue 64 B: %.2f M records/s (SEQPACKET %.2f M/s, ratio %.1f)\n", q64 / 1e6, s64 / 1e6,
	       q64 / s64);
	printf("#   data queue 4 KiB: %.2f M records/s (SEQPACKET %.2f M/s, ratio %.1f)\n", q4k / 1e6, s4k / 1e6,
	       q4k / s4k);
	{
		char *js = NULL;
		size_t jlen = 0;
		FILE *j = open_memstream(&js, &jlen);

		fprintf(j, "{\"bench\":\"userclient\",\"sandboxed\":%s,\"calls\":%d,\"reps\":%d",
			sandboxed() ? "true" : "false", n, reps);
		for (int m = 0; m < 2; m++) {
			struct mode_result *r = &modes[m];
			const char *mn = mode_names[m];
			double raw = pick(r->raw.med, reps, 1), udk = pick(r->udk.med, reps, 1),
			       bus = pick(r->bus.med, reps, 1);

			json_row(j, mn, "raw", &r->raw, reps);
			json_row(j, mn, "raw_epoll", &r->loop, reps);
			if (bus_ok)
				json_row(j, mn, "sdbus", &r->bus, reps);
			json_row(j, mn, "udk", &r->udk, reps);
			fprintf(j, ",\"%s_ratio_raw\":%.3f,\"%s_ratio_raw_worst\":%.3f,\"%s_ratio_raw_p99\":%.3f", mn,
				pick(r->ratio, reps, 1), mn, pick(r->ratio, reps, 2), mn, pick(r->ratio_p99, reps, 1));
			fprintf(j, ",\"%s_ratio_raw_epoll\":%.3f,\"%s_ratio_raw_epoll_worst\":%.3f,\"%s_epoll_over_raw\":%.3f",
				mn, pick(r->ratio_loop, reps, 1), mn, pick(r->ratio_loop, reps, 2), mn,
				pick(r->loop.med, reps, 1) / raw);
			if (bus_ok)
				fprintf(j, ",\"%s_sdbus_over_udk\":%.2f,\"%s_sdbus_over_raw\":%.2f", mn, bus / udk, mn,
					bus / raw);
		}
		fprintf(j, ",\"floor_us\":%.3f,\"udk_spin_us\":%.3f,\"udk_spin_p99_us\":%.3f,\"ratio_floor\":%.2f",
			floor_.median_us, udk_spin.median_us, udk_spin.p99_us,
			spin_ok ? udk_spin.median_us / floor_.median_us : 0);
		fprintf(j, ",\"bulk_gbs\":%.2f,\"memcpy_gbs\":%.2f,\"ratio_bulk\":%.2f", gbs_udk, gbs_memcpy,
			gbs_udk / gbs_memcpy);
		fprintf(j, ",\"ring64_mps\":%.2f,\"seqpacket64_mps\":%.2f,\"ratio_ring64\":%.2f,\"ring4k_mps\":%.2f,"
			   "\"seqpacket4k_mps\":%.2f,\"ratio_ring4k\":%.2f}",
			q64 / 1e6, s64 / 1e6, q64 / s64, q4k / 1e6, s4k / 1e6, q4k / s4k);
		fclose(j);
		printf("BENCH %s\n", js);
		free(js);
	}
	free(t);
}
