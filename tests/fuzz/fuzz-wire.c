/* SPDX-License-Identifier: MIT */
/*
 * The frame decoder, through a real socket: the input is one datagram as a
 * hostile peer would send it.  The first byte picks how many fds ride
 * along (pipes), to exercise the descriptor checks.
 */
#include <fcntl.h>
#include <sys/socket.h>

#include "proto.h"
#include "util.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int sv[2] = { -1, -1 };
	struct wire_msg m;
	int fds[3], n_fds = 0;
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(int) * 3)];
	} ctl;
	struct iovec iov;
	struct msghdr mh = { 0 };

	if (size < 1 || size > WIRE_HEADER_SIZE + WIRE_MAX_INLINE)
		return 0;
	if (sv[0] < 0) {
		int big = 1 << 20;
		if (wire_socketpair(sv) < 0)
			abort();
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}
	n_fds = data[0] % 3;
	for (int i = 0; i < n_fds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	iov.iov_base = (void *)(data + 1);
	iov.iov_len = size - 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n_fds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n_fds);
	}
	if (sendmsg(sv[0], &mh, 0) < 0) {
		for (int i = 0; i < n_fds; i++)
			close(fds[i]);
		return 0;
	}
	for (int i = 0; i < n_fds; i++)
		close(fds[i]);
	if (wire_recv(sv[1], &m, true) == 0) {
		/* a frame that passes goes on to the call decoder */
		struct call_view v;
		if (m.h.op == OP_UC_CALL)
			proto_call_decode(m.payload, m.len, m.n_fds, &v);
		wire_msg_clear(&m);
	}
	return 0;
}
