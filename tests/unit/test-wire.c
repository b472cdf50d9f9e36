/* SPDX-License-Identifier: MIT */
/* Framing: values, fds, large payloads, and every way a message can be bad. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "test.h"
#include "util.h"
#include "wire.h"

TEST(value_message_roundtrip)
{
	int sv[2];
	struct udk_value *b = udk_value_new_dict();
	struct wire_msg m;

	ASSERT_OK(wire_socketpair(sv));
	udk_dict_set_string(b, "hello", "world");
	ASSERT_OK(wire_send_value(sv[0], 123, 0, 7, -5, b, NULL, 0));
	ASSERT_OK(wire_recv(sv[1], &m, false));
	ASSERT_EQ(m.h.op, 123);
	ASSERT_EQ(m.h.serial, 7);
	ASSERT_EQ(m.h.status, -5);
	ASSERT_TRUE(m.h.flags & WIRE_F_VALUE);
	ASSERT_STREQ(udk_dict_get_string(m.body, "hello"), "world");
	wire_msg_clear(&m);
	udk_value_unref(b);
	close(sv[0]);
	close(sv[1]);
}

TEST(fds_travel_and_are_closed_with_the_message)
{
	int sv[2], p[2];
	struct wire_msg m;
	char c = 0;

	ASSERT_OK(wire_socketpair(sv));
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	ASSERT_OK(wire_send(sv[0], 1, 0, 1, 0, "x", 1, &p[1], 1));
	close(p[1]);
	ASSERT_OK(wire_recv(sv[1], &m, false));
	ASSERT_EQ(m.n_fds, 1);
	ASSERT_EQ(write(m.fds[0], "z", 1), 1);
	ASSERT_EQ(read(p[0], &c, 1), 1);
	ASSERT_EQ(c, 'z');
	wire_msg_clear(&m); /* closes the received fd: the pipe sees EOF */
	ASSERT_EQ(read(p[0], &c, 1), 0);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

TEST(large_payload_goes_through_a_sealed_memfd)
{
	int sv[2];
	size_t len = 3u << 20;
	char *big = malloc(len);
	struct wire_msg m;

	for (size_t i = 0; i < len; i++)
		big[i] = (char)(i * 31);
	ASSERT_OK(wire_socketpair(sv));
	ASSERT_OK(wire_send(sv[0], 9, 0, 1, 0, big, len, NULL, 0));
	ASSERT_OK(wire_recv(sv[1], &m, false));
	ASSERT_EQ(m.len, len);
	ASSERT_EQ(m.n_fds, 0);
	ASSERT_EQ(memcmp(m.payload, big, len), 0);
	wire_msg_clear(&m);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

static void
send_raw(int fd, const void *p, size_t len, const int *fds, unsigned n)
{
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov = { (void *)p, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	ASSERT_EQ(sendmsg(fd, &mh, 0), (ssize_t)len);
}

TEST(hostile_messages_are_refused_with_a_reason)
{
	int sv[2];
	struct wire_msg m;
	struct wire_header h = { 0 };
	uint8_t buf[64] = { 0 };
	int fds[9];

	ASSERT_OK(wire_socketpair(sv));
	/* shorter than the header */
	send_raw(sv[0], buf, 5, NULL, 0);
	ASSERT_ERR(wire_recv(sv[1], &m, false), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "shorter than its 16-byte header");
	/* size field lies */
	h.size = 100;
	memcpy(buf, &h, sizeof(h));
	send_raw(sv[0], buf, 32, NULL, 0);
	ASSERT_ERR(wire_recv(sv[1], &m, false), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "header says 100 bytes but the message has 32");
	/* a value flag over garbage */
	h.size = 20;
	h.flags = WIRE_F_VALUE;
	memcpy(buf, &h, sizeof(h));
	memset(buf + 16, 0xee, 4);
	send_raw(sv[0], buf, 20, NULL, 0);
	ASSERT_ERR(wire_recv(sv[1], &m, false), -EBADMSG);
	ASSERT_CONTAINS(udk_error_reason(), "unknown value type byte");
	/* too many descriptors: all of them closed */
	for (int i = 0; i < 9; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	h.size = 16;
	h.flags = 0;
	memcpy(buf, &h, sizeof(h));
	send_raw(sv[0], buf, 16, fds, 9);
	for (int i = 0; i < 9; i++)
		close(fds[i]);
	ASSERT_ERR(wire_recv(sv[1], &m, false), -EBADMSG);
	ASSERT_EQ(m.n_fds, 0);
	/* "large" without a sealed memfd */
	{
		int mfd = memfd_create("x", MFD_CLOEXEC);
		uint64_t len = 100000;
		ASSERT_GE(mfd, 0);
		ASSERT_OK(ftruncate(mfd, (off_t)len));
		h.size = 24;
		h.flags = WIRE_F_LARGE;
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + 16, &len, 8);
		send_raw(sv[0], buf, 24, &mfd, 1);
		close(mfd);
		ASSERT_ERR(wire_recv(sv[1], &m, false), -EBADMSG);
		ASSERT_CONTAINS(udk_error_reason(), "not sealed");
	}
	/* oversized datagram */
	{
		size_t n = WIRE_MAX_INLINE + 100;
		uint8_t *p = calloc(1, n);
		int one = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
		h.size = (uint32_t)n;
		h.flags = 0;
		memcpy(p, &h, sizeof(h));
		send_raw(sv[0], p, n, NULL, 0);
		free(p);
		ASSERT_ERR(wire_recv(sv[1], &m, false), -EBADMSG);
		ASSERT_CONTAINS(udk_error_reason(), "larger than");
	}
	/* the peer going away */
	close(sv[0]);
	ASSERT_ERR(wire_recv(sv[1], &m, false), -ECONNRESET);
	close(sv[1]);
}
