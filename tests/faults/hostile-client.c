/* SPDX-License-Identifier: MIT */
/*
 * hostile-client - a local user attacking udkd's control socket, for the
 * fault campaign (docs/faults.md).  The campaign runs it under a spare
 * unprivileged uid:
 *
 *   hostile-client RUNTIME_DIR slow-reader MS   ask for the tree again and again, read nothing, for MS ms
 *   hostile-client RUNTIME_DIR flood MS         open connections until udkd refuses one, hold them MS ms
 *   hostile-client RUNTIME_DIR huge MIB         one request of MIB MiB (in a memfd), then a hello
 *   hostile-client RUNTIME_DIR deep LEVELS [DRIVER]
 *                                               a request body nested LEVELS deep, a binary plist
 *                                               as a request body, and (with DRIVER) `access explain
 *                                               DRIVER APP` of an app whose APP.udksig is a binary
 *                                               plist of LEVELS nested arrays
 *
 * Exit status: 0 when udkd answered as documented (slow-reader: it stopped
 * reading or dropped us; flood: a refusal UDK_E_LIMIT came; huge:
 * UDK_E_TOO_LARGE and the connection still works; deep: UDK_E_PROTOCOL or a
 * refusal, and an answer about the app, never a crash), 1 when it did
 * something else (printed), 2 when
 * udkd could not be reached at all.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <udk/udk.h>

#include "proto.h"
#include "wire.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

static const char *runtime;

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
connect_udkd(bool nonblock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/udkd.sock", runtime);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int
send_msg(int fd, uint16_t op, uint16_t flags, uint32_t serial, const void *p, size_t len, int mfd, int msgflags)
{
	struct wire_header h = { (uint32_t)(WIRE_HEADER_SIZE + len), op, flags, serial, 0 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (mfd >= 0) {
		struct cmsghdr *c;
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &mfd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | msgflags) < 0 ? -errno : 0;
}

/* The status of the reply to @serial (or of an OP_ERROR); 1 on timeout, 2 on EOF. */
static int
reply(int fd, uint32_t serial, int timeout_ms)
{
	static uint8_t buf[WIRE_HEADER_SIZE + WIRE_MAX_INLINE + 1];
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		struct wire_header h;
		int left = (int)(end > now_ms() ? end - now_ms() : 0);
		ssize_t n;

		if (poll(&p, 1, left) <= 0)
			return 1;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return 2;
		if (n < (ssize_t)sizeof(h))
			continue;
		memcpy(&h, buf, sizeof(h));
		if (h.op == OP_ERROR || ((h.flags & WIRE_F_REPLY) && h.serial == serial))
			return h.status;
	}
}

/* Encoded {version: 1, name: "hostile"}. */
static const uint8_t hello_body[] = {
	9, 2, 0, 0, 0, 7, 0, 0, 0, 'v', 'e', 'r', 's', 'i', 'o', 'n', 3, PROTO_VERSION, 0, 0, 0, 0, 0, 0, 0,
	4, 0, 0, 0, 'n', 'a', 'm', 'e', 6, 7, 0, 0, 0, 'h', 'o', 's', 't', 'i', 'l', 'e',
};

static int
hello(int fd)
{
	int r = send_msg(fd, OP_HELLO, WIRE_F_VALUE, 1, hello_body, sizeof(hello_body), -1, 0);
	return r < 0 ? 2 : reply(fd, 1, 5000);
}

static int
sealed(const void *p, size_t len)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)p + off, len - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	return fd;
}

static int
slow_reader(unsigned ms)
{
	/* {properties: true} */
	static const uint8_t body[] = { 9, 1, 0, 0, 0, 10, 0, 0, 0, 'p', 'r', 'o', 'p', 'e', 'r', 't', 'i', 'e', 's', 2 };
	uint64_t end = now_ms() + ms;
	uint32_t serial = 2;
	int fd = connect_udkd(false);

	if (fd < 0 || hello(fd) != 0)
		return 2;
	while (now_ms() < end) {
		int r = send_msg(fd, OP_TREE, WIRE_F_VALUE, serial++, body, sizeof(body), -1, MSG_DONTWAIT);
		if (r == -EAGAIN) {
			/* udkd stopped reading us: what we make it hold is bounded */
			struct pollfd p = { fd, POLLOUT, 0 };
			poll(&p, 1, 10);
		} else if (r < 0) {
			break; /* dropped */
		}
	}
	return 0;
}

static int
flood(unsigned ms)
{
	int *fds = calloc(65536, sizeof(int)), n = 0, waits = 0;
	bool refused = false;

	if (!fds)
		return 2;
	while (n < 65536 && !refused) {
		int fd = connect_udkd(true), r;
		if (fd == -EAGAIN && waits++ < 2000) {
			/* the listen backlog is full for a moment */
			usleep(1000);
			continue;
		}
		if (fd < 0)
			break;
		fds[n++] = fd;
		waits = 0;
		/* every 64th: has udkd started refusing? */
		if (n % 64)
			continue;
		r = reply(fd, 0, 20);
		if (r == -UDK_E_LIMIT) {
			refused = true;
		} else if (r != 1) {
			printf("flood: connection %d was answered with %s instead of being served or refused with "
			       "UDK_E_LIMIT\n",
			       n, udk_error_name(r));
			break;
		}
	}
	if (refused)
		usleep(ms * 1000);
	else
		printf("flood: %d connections and no refusal\n", n);
	while (n > 0)
		close(fds[--n]);
	free(fds);
	return refused ? 0 : 1;
}

static int
huge(unsigned mib)
{
	size_t len = (size_t)mib << 20;
	uint8_t *p = malloc(len);
	int fd, mfd, r;
	uint64_t len64 = len;

	if (!p)
		return 2;
	/* {match: {Junk: data}} */
	memset(p, 'J', len);
	memcpy(p, "\x09\x01\x00\x00\x00\x05\x00\x00\x00match\x09\x01\x00\x00\x00\x04\x00\x00\x00Junk\x07", 29);
	{
		uint32_t dl = (uint32_t)(len - 33);
		memcpy(p + 29, &dl, 4);
	}
	fd = connect_udkd(false);
	if (fd < 0 || hello(fd) != 0)
		return 2;
	mfd = sealed(p, len);
	free(p);
	if (mfd < 0)
		return 2;
	r = send_msg(fd, OP_FIND, WIRE_F_VALUE | WIRE_F_LARGE, 7, &len64, 8, mfd, 0);
	close(mfd);
	r = r < 0 ? 2 : reply(fd, 7, 10000);
	if (r != -UDK_E_TOO_LARGE) {
		printf("huge: a %u MiB request got %s, not UDK_E_TOO_LARGE\n", mib, udk_error_name(r));
		return 1;
	}
	if (hello(fd) != 0) {
		printf("huge: the connection did not survive the refusal\n");
		return 1;
	}
	return 0;
}

/* A request whose body is @len bytes of arrays nested in each other; the reply's status. */
static int
nested(size_t len)
{
	uint8_t *p = malloc(len);
	size_t used = 0;
	int fd, r;

	if (!p)
		return 2;
	while (used + 6 <= len) {
		memcpy(p + used, "\x08\x01\x00\x00\x00", 5);
		used += 5;
	}
	p[used++] = 2;
	fd = connect_udkd(false);
	if (fd < 0 || hello(fd) != 0) {
		free(p);
		return 2;
	}
	r = send_msg(fd, OP_FIND, WIRE_F_VALUE, 2, p, used, -1, 0);
	free(p);
	r = r < 0 ? 2 : reply(fd, 2, 5000);
	close(fd);
	return r;
}

static void
be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A well-formed binary plist of @levels arrays, each holding the next. */
static uint8_t *
deep_bplist(unsigned levels, size_t *ret_len)
{
	uint64_t n = (uint64_t)levels + 1, table = 8 + 5 * (uint64_t)levels + 1;
	size_t len = (size_t)(table + 4 * n + 32);
	uint8_t *p = calloc(1, len);

	if (!p)
		return NULL;
	memcpy(p, "bplist00", 8);
	for (uint64_t i = 0; i < levels; i++) {
		p[8 + 5 * i] = 0xa1; /* an array of one, 4-byte reference */
		be(p + 8 + 5 * i + 1, i + 1, 4);
	}
	p[table - 1] = 0x09; /* true */
	for (uint64_t i = 0; i < n; i++)
		be(p + table + 4 * i, i < levels ? 8 + 5 * i : table - 1, 4);
	p[len - 26] = 4; /* offset size */
	p[len - 25] = 4; /* reference size */
	be(p + len - 24, n, 8);
	be(p + len - 16, 0, 8);
	be(p + len - 8, table, 8);
	*ret_len = len;
	return p;
}

/*
 * `udkctl access explain DRIVER APP` for an app of ours whose APP.udksig is
 * a deeply nested binary plist: udkd reads it (as us) and must refuse it
 * by its depth, not recurse into it.  The reply's status.
 */
static int
deep_signature(unsigned levels, const char *driver)
{
	char dir[] = "/tmp/hostile-XXXXXX", app[64], sig[80];
	uint8_t *p, req[512];
	size_t len, n = 0;
	int fd, r = 2;

	if (!mkdtemp(dir) || !(p = deep_bplist(levels, &len)))
		return 2;
	snprintf(app, sizeof(app), "%s/app", dir);
	snprintf(sig, sizeof(sig), "%s/app.udksig", dir);
	fd = open(app, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd >= 0 && write(fd, "#!/bin/sh\n", 10) == 10) {
		close(fd);
		fd = open(sig, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0 && write(fd, p, len) == (ssize_t)len)
			r = 0;
	}
	if (fd >= 0)
		close(fd);
	free(p);
	if (r == 0) {
		/* {action: explain, driver: DRIVER, app: APP} */
		const char *k[3] = { "action", "driver", "app" }, *v[3] = { "explain", driver, app };
		req[n++] = 9;
		memcpy(req + n, "\x03\x00\x00\x00", 4);
		n += 4;
		for (int i = 0; i < 3; i++) {
			uint32_t kl = (uint32_t)strlen(k[i]), vl = (uint32_t)strlen(v[i]);
			memcpy(req + n, &kl, 4);
			memcpy(req + n + 4, k[i], kl);
			n += 4 + kl;
			req[n++] = 6;
			memcpy(req + n, &vl, 4);
			memcpy(req + n + 4, v[i], vl);
			n += 4 + vl;
		}
		fd = connect_udkd(false);
		if (fd < 0 || hello(fd) != 0)
			r = 2;
		else
			r = send_msg(fd, OP_ACCESS, WIRE_F_VALUE, 4, req, n, -1, 0) < 0 ? 2 : reply(fd, 4, 20000);
		if (fd >= 0)
			close(fd);
	}
	unlink(sig);
	unlink(app);
	rmdir(dir);
	return r;
}

static int
deep(unsigned levels, const char *driver)
{
	uint8_t *p;
	size_t len;
	int fd, r;

	/* within the size limit: the decoder's depth check refuses it, the connection goes */
	r = nested(MIN((size_t)levels * 5 + 1, (size_t)12 << 10));
	if (r != -UDK_E_PROTOCOL) {
		printf("deep: a body nested %u levels got %s, not UDK_E_PROTOCOL\n", levels, udk_error_name(r));
		return 1;
	}
	/* past it: refused from its size, before any decoding */
	r = nested(WIRE_MAX_INLINE);
	if (r != -UDK_E_TOO_LARGE) {
		printf("deep: a 60 KiB nested body got %s, not UDK_E_TOO_LARGE\n", udk_error_name(r));
		return 1;
	}
	/* a binary plist of nested one-element arrays as the body: udkd never parses a body as a plist */
	len = MIN(8 + 2 * (size_t)levels, (size_t)8 << 10);
	p = malloc(len);
	if (!p)
		return 2;
	memcpy(p, "bplist00", 8);
	for (size_t i = 8; i + 1 < len; i += 2) {
		p[i] = 0xa1; /* an array of one */
		p[i + 1] = (uint8_t)(i / 2);
	}
	fd = connect_udkd(false);
	if (fd < 0 || hello(fd) != 0) {
		free(p);
		return 2;
	}
	r = send_msg(fd, OP_FIND, WIRE_F_VALUE, 3, p, len, -1, 0);
	free(p);
	r = r < 0 ? 2 : reply(fd, 3, 5000);
	close(fd);
	if (r != -UDK_E_PROTOCOL) {
		printf("deep: a binary plist as a request body got %s, not UDK_E_PROTOCOL\n",
		       r == 1 ? "no answer" : udk_error_name(r));
		return 1;
	}
	/* and as a file udkd parses for us: answered (the app is not signed, whatever the reason) */
	if (driver) {
		r = deep_signature(levels, driver);
		if (r == 1 || r == 2 || (r < 0 && strncmp(udk_error_name(r), "UDK_E_", 6) != 0 && r != -ENOENT &&
					 r != -EACCES && r != -EPERM)) {
			printf("deep: access explain of an app whose APP.udksig nests %u arrays got %s\n", levels,
			       r == 1 ? "no answer" : r == 2 ? "a lost connection" : udk_error_name(r));
			return 1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned n;

	if (argc != 4 && !(argc == 5 && !strcmp(argv[2], "deep"))) {
		fprintf(stderr, "usage: hostile-client RUNTIME_DIR slow-reader|flood|huge|deep N [DRIVER]\n");
		return 2;
	}
	runtime = argv[1];
	n = (unsigned)strtoul(argv[3], NULL, 10);
	if (!strcmp(argv[2], "slow-reader"))
		return slow_reader(n);
	if (!strcmp(argv[2], "flood"))
		return flood(n);
	if (!strcmp(argv[2], "huge"))
		return huge(n);
	if (!strcmp(argv[2], "deep"))
		return deep(n, argc == 5 ? argv[4] : NULL);
	fprintf(stderr, "hostile-client: no attack named %s\n", argv[2]);
	return 2;
}
