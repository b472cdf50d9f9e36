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
#include "fuzz-udkd.h"
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
		fuzz_udkd_init(&d, "control");
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
		fuzz_udkd_settle(&d);
		if ((kind & 3) != 3)
			fuzz_drain(sv[1]);
	}
	fuzz_udkd_settle(&d);
	fuzz_drain(sv[1]);
	/* the peer leaves: udkd must forget it */
	close(sv[1]);
	for (int i = 0; i < 16 && d.clients; i++)
		loop_run_once(d.loop, 0);
	if (d.clients)
		abort();
	return 0;
}
