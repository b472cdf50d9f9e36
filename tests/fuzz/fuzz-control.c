/* SPDX-License-Identifier: MIT */
/*
 * The control socket's handlers (daemon/control.c), driven in process by
 * an unprivileged peer: a udkd with a real registry (services from a
 * machine description), trust store, access and power state, and a client
 * connected over a socket pair with uid 65534.  Each input is a sequence
 * of at most MAX_FRAMES frames:
 *
 *	u8 kind, u16 length (little endian), length bytes
 *
 *   kind & 3 == 0   the bytes are sent as one datagram, header and all
 *   kind & 3 == 1   the first 8 bytes are {u16 op, u16 flags, u32 serial},
 *                   the rest the payload; the header's size is made right
 *   kind & 3 == 2   the same, with the payload in a sealed memfd
 *                   (WIRE_F_LARGE), as wire.h sends large messages
 *   kind & 3 == 3   the same as 1, sent without reading any reply first
 *
 * After each frame udkd's loop runs until it is idle (bounded) and the
 * replies are read and dropped.  The connection is then closed, and udkd
 * must have forgotten the client.  Anything that crashes, leaks or hangs
 * here is a bug an unprivileged user could trigger.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "family.h"
#include "proto.h"
#include "quota.h"
#include "udkd.h"
#include "util.h"
#include "wire.h"
#include "work.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 32
#define PEER_UID 65534

static struct udkd d;

static const char machine[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>Services</key><array>"
	"<dict><key>Name</key><string>widget0</string><key>Class</key><string>UDKTestDevice</string>"
	"<key>Properties</key><dict><key>Color</key><string>blue</string><key>Size</key><integer>3</integer>"
	"</dict><key>Children</key><array><dict><key>Name</key><string>part</string><key>Class</key>"
	"<string>UDKTestPart</string></dict></array></dict>"
	"<dict><key>Name</key><string>widget1</string><key>Class</key><string>UDKTestDevice</string></dict>"
	"</array></dict></plist>\n";

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void
setup(void)
{
	static char state[] = "/tmp/udk-fuzz-control-XXXXXX";
	char path[128];

	d.cfg = (struct udkd_config){
		.start_timeout_ms = 10000,
		.stop_timeout_ms = 3000,
		.request_timeout_ms = 5000,
		.restart_base_ms = 200,
		.restart_max_ms = 30000,
		.crash_limit = 5,
		.stable_ms = 30000,
		.log_level = UDK_LOG_ERROR,
		.power_timeout_ms = 5000,
	};
	d.listen_fd = d.signal_fd = d.inotify_fd = -1;
	if (!mkdtemp(state))
		abort();
	d.trust.state_dir = strdup(state);
	d.runtime_dir = strdup(state);
	d.socket_path = strdup("/nonexistent/udkd.sock");
	/* as main() does */
	if (loop_new(&d.loop) < 0 || work_new(d.loop, &d.work) < 0 || registry_init(&d) < 0 || families_init(&d) < 0 ||
	    trust_init(&d) < 0 || access_init(&d) < 0 || power_init(&d) < 0 || quota_new(&d.quota) < 0)
		abort();
	quota_fd_refill(d.quota);
	service_register(&d, d.reg.user_resources);
	snprintf(path, sizeof(path), "%s/machine.plist", state);
	write_file(path, machine);
	if (machine_load(&d, path) < 0)
		abort();
	unlink(path);
}

/* Let udkd's loop serve what is ready: a bounded number of rounds. */
static void
settle(void)
{
	for (int i = 0; i < 8; i++)
		loop_run_once(d.loop, 0);
}

static void
drain(int fd)
{
	static uint8_t buf[WIRE_HEADER_SIZE + WIRE_MAX_INLINE + 1];
	union {
		struct cmsghdr align;
		char c[CMSG_SPACE(sizeof(int) * (WIRE_MAX_FDS + 1))];
	} control;

	for (int i = 0; i < 256; i++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.c,
				     .msg_controllen = sizeof(control.c) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++)
					close(((int *)CMSG_DATA(c))[k]);
	}
}

static void
send_frame(int fd, uint8_t kind, const uint8_t *p, size_t len)
{
	struct wire_header h;
	uint8_t *msg;

	if ((kind & 3) == 0) {
		if (len)
			send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		return;
	}
	if (len < 8)
		return;
	memset(&h, 0, sizeof(h));
	memcpy(&h.op, p, 2);
	memcpy(&h.flags, p + 2, 2);
	memcpy(&h.serial, p + 4, 4);
	p += 8;
	len -= 8;
	if ((kind & 3) == 2) {
		uint64_t len64 = len;
		int mfd = memfd_from_bytes("fuzz", p, len);
		if (mfd < 0)
			return;
		h.flags |= WIRE_F_LARGE;
		h.size = WIRE_HEADER_SIZE + 8;
		msg = malloc(h.size);
		memcpy(msg, &h, sizeof(h));
		memcpy(msg + WIRE_HEADER_SIZE, &len64, 8);
		{
			union {
				struct cmsghdr align;
				char c[CMSG_SPACE(sizeof(int))];
			} control;
			struct iovec iov = { msg, h.size };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.c,
					     .msg_controllen = sizeof(control.c) };
			struct cmsghdr *c;
			memset(&control, 0, sizeof(control));
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &mfd, sizeof(int));
			sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		close(mfd);
		free(msg);
		return;
	}
	h.flags &= (uint16_t)~WIRE_F_LARGE;
	h.size = (uint32_t)(WIRE_HEADER_SIZE + len);
	msg = malloc(h.size);
	memcpy(msg, &h, sizeof(h));
	if (len)
		memcpy(msg + WIRE_HEADER_SIZE, p, len);
	send(fd, msg, h.size, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	int sv[2];
	size_t off = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (control_adopt(&d, sv[0], getpid(), PEER_UID, PEER_UID) < 0)
		abort();
	for (int n = 0; n < MAX_FRAMES && size - off >= 3; n++) {
		uint8_t kind = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		len = MIN(len, size - off);
		send_frame(sv[1], kind, data + off, len);
		off += len;
		settle();
		if ((kind & 3) != 3)
			drain(sv[1]);
	}
	settle();
	drain(sv[1]);
	/* the peer leaves: udkd must forget it */
	close(sv[1]);
	for (int i = 0; i < 16 && d.clients; i++)
		loop_run_once(d.loop, 0);
	if (d.clients)
		abort();
	return 0;
}
