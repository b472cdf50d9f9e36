/* SPDX-License-Identifier: MIT */
/* wire.c - message framing with fd passing over SOCK_SEQPACKET. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "buf.h"
#include "util.h"
#include "value-private.h"
#include "wire.h"

void
wire_msg_init(struct wire_msg *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < WIRE_MAX_FDS; i++)
		m->fds[i] = -1;
}

void
wire_msg_clear(struct wire_msg *m)
{
	free(m->payload);
	udk_value_unref(m->body);
	for (unsigned i = 0; i < m->n_fds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	wire_msg_init(m);
}

int
wire_msg_take_fd(struct wire_msg *m, unsigned i)
{
	int fd;

	if (i >= m->n_fds)
		return -1;
	fd = m->fds[i];
	m->fds[i] = -1;
	return fd;
}

int
wire_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	return 0;
}

int
memfd_from_bytes(const char *name, const void *p, size_t len)
{
	_cleanup_close_ int fd = -1;
	size_t off = 0;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)p + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int
send_raw(int sock, struct iovec *iov, unsigned n_iov, const int *fds, unsigned n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
	} control;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n_iov };
	ssize_t n;

	if (n_fds > WIRE_MAX_FDS)
		return -EINVAL;
	if (n_fds) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET || errno == ENOTCONN ? -EPIPE : -errno;
	return 0;
}

int
wire_sendv(int sock, uint16_t op, uint16_t flags, uint32_t serial, int32_t status, const struct iovec *iov,
	   unsigned n_iov, const int *fds, unsigned n_fds)
{
	struct iovec v[8];
	struct wire_header h;
	size_t len = 0;

	if (n_iov > ARRAY_SIZE(v) - 1 || n_fds > WIRE_MAX_FDS)
		return -EINVAL;
	for (unsigned i = 0; i < n_iov; i++)
		len += iov[i].iov_len;

	if (len > WIRE_MAX_INLINE) {
		/* large payload: gather into a sealed memfd */
		_cleanup_close_ int mfd = -1;
		int allfds[WIRE_MAX_FDS + 1];
		uint64_t len64 = len;
		struct buf b;

		if (len > WIRE_MAX_LARGE || n_fds + 1 > WIRE_MAX_FDS)
			return -E2BIG;
		buf_init(&b, 0);
		for (unsigned i = 0; i < n_iov; i++)
			buf_append(&b, iov[i].iov_base, iov[i].iov_len);
		if (b.err) {
			int r = b.err;
			buf_free(&b);
			return r;
		}
		mfd = memfd_from_bytes("udk-large-message", b.p, b.len);
		buf_free(&b);
		if (mfd < 0)
			return mfd;
		if (n_fds)
			memcpy(allfds, fds, sizeof(int) * n_fds);
		allfds[n_fds] = mfd;
		h = (struct wire_header){ WIRE_HEADER_SIZE + 8, op, (uint16_t)(flags | WIRE_F_LARGE), serial, status };
		v[0] = (struct iovec){ &h, sizeof(h) };
		v[1] = (struct iovec){ &len64, 8 };
		return send_raw(sock, v, 2, allfds, n_fds + 1);
	}
	h = (struct wire_header){ (uint32_t)(WIRE_HEADER_SIZE + len), op, flags, serial, status };
	v[0] = (struct iovec){ &h, sizeof(h) };
	for (unsigned i = 0; i < n_iov; i++)
		v[i + 1] = iov[i];
	return send_raw(sock, v, n_iov + 1, fds, n_fds);
}

int
wire_send(int sock, uint16_t op, uint16_t flags, uint32_t serial, int32_t status, const void *payload,
	  size_t len, const int *fds, unsigned n_fds)
{
	struct iovec v = { (void *)payload, len };

	return wire_sendv(sock, op, flags, serial, status, &v, len ? 1 : 0, fds, n_fds);
}

int
wire_encode_value(const struct udk_value *body, uint8_t **ret, size_t *ret_len)
{
	struct buf b;

	buf_init(&b, WIRE_MAX_LARGE);
	value_encode(&b, body);
	if (b.err) {
		int r = b.err;
		buf_free(&b);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int
wire_send_value(int sock, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
		const struct udk_value *body, const int *fds, unsigned n_fds)
{
	struct buf b;
	int r;

	if (!body)
		return wire_send(sock, op, flags, serial, status, NULL, 0, fds, n_fds);
	buf_init(&b, WIRE_MAX_LARGE);
	value_encode(&b, body);
	if (b.err) {
		r = b.err;
		buf_free(&b);
		return r;
	}
	r = wire_send(sock, op, (uint16_t)(flags | WIRE_F_VALUE), serial, status, b.p, b.len, fds, n_fds);
	buf_free(&b);
	return r;
}

static int
read_large(struct wire_msg *m)
{
	uint64_t announced;
	struct stat st;
	int seals, fd;
	uint8_t *p;
	size_t off = 0;

	if (m->len != 8 || m->n_fds == 0)
		return udk_set_reason(-EBADMSG, "large message without its length or memfd");
	memcpy(&announced, m->payload, 8);
	if (announced > WIRE_MAX_LARGE || announced <= WIRE_MAX_INLINE)
		return udk_set_reason(-EBADMSG, "large message announces %llu bytes, outside %u..%u",
				      (unsigned long long)announced, WIRE_MAX_INLINE, WIRE_MAX_LARGE);
	fd = m->fds[m->n_fds - 1];
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) !=
				 (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE))
		return udk_set_reason(-EBADMSG, "large message memfd is not sealed against writes and resizing");
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != announced)
		return udk_set_reason(-EBADMSG, "large message memfd size does not match its announced length");
	p = malloc(announced + 1);
	if (!p)
		return -ENOMEM;
	while (off < announced) {
		ssize_t n = pread(fd, p + off, announced - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return n < 0 ? -errno : -EBADMSG;
		}
		off += (size_t)n;
	}
	p[announced] = 0;
	close(fd);
	m->fds[--m->n_fds] = -1;
	free(m->payload);
	m->payload = p;
	m->len = announced;
	return 0;
}

static int
too_large(struct wire_msg *m, size_t announced, size_t max)
{
	struct wire_header h = m->h;

	wire_msg_clear(m);
	m->h = h;
	m->len = announced;
	return udk_set_reason(-EMSGSIZE, "a message of %zu bytes is larger than the %zu bytes accepted for it",
			      announced, max);
}

int
wire_recv(int sock, struct wire_msg *m, bool nonblock)
{
	return wire_recv_limited(sock, m, nonblock, NULL, NULL);
}

int
wire_recv_limited(int sock, struct wire_msg *m, bool nonblock, wire_limit_fn limit, void *data)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * (WIRE_MAX_FDS + 1)) + CMSG_SPACE(sizeof(struct ucred))];
	} control;
	/* one spare byte detects oversized datagrams even without MSG_TRUNC */
	uint8_t *dgram;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	int r = 0;

	wire_msg_init(m);
	dgram = malloc(WIRE_HEADER_SIZE + WIRE_MAX_INLINE + 1);
	if (!dgram)
		return -ENOMEM;
	iov = (struct iovec){ dgram, WIRE_HEADER_SIZE + WIRE_MAX_INLINE + 1 };
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (nonblock ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = errno == EWOULDBLOCK ? -EAGAIN : errno == ECONNRESET ? -ECONNRESET : -errno;
		free(dgram);
		return r;
	}
	/* collect fds first so that every exit path closes them */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		/* with SO_PASSCRED on: which process sent it (the kernel says, not the sender) */
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred cred;
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			m->sender_pid = cred.pid;
			continue;
		}
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < k; i++) {
			if (m->n_fds < WIRE_MAX_FDS)
				m->fds[m->n_fds++] = fds[i];
			else {
				close(fds[i]);
				r = udk_set_reason(-EBADMSG, "message carries more than %u file descriptors",
						   WIRE_MAX_FDS);
			}
		}
	}
	if (n == 0) {
		free(dgram);
		wire_msg_clear(m);
		return -ECONNRESET;
	}
	if (r < 0)
		goto fail;
	if (mh.msg_flags & MSG_CTRUNC) {
		r = udk_set_reason(-EBADMSG, "message carries more file descriptors than allowed");
		goto fail;
	}
	if ((size_t)n > WIRE_HEADER_SIZE + WIRE_MAX_INLINE || (mh.msg_flags & MSG_TRUNC)) {
		r = udk_set_reason(-EBADMSG, "message is larger than %u bytes", WIRE_HEADER_SIZE + WIRE_MAX_INLINE);
		goto fail;
	}
	if ((size_t)n < WIRE_HEADER_SIZE) {
		r = udk_set_reason(-EBADMSG, "message of %zd bytes is shorter than its 16-byte header", n);
		goto fail;
	}
	memcpy(&m->h, dgram, sizeof(m->h));
	if (m->h.size != (uint32_t)n) {
		r = udk_set_reason(-EBADMSG, "header says %u bytes but the message has %zd", m->h.size, n);
		goto fail;
	}
	m->len = (size_t)n - WIRE_HEADER_SIZE;
	if (limit) {
		/* before reading a large payload or decoding anything */
		size_t max = limit(&m->h, data), announced = m->len;
		if ((m->h.flags & WIRE_F_LARGE) && m->len == 8) {
			uint64_t a;
			memcpy(&a, dgram + WIRE_HEADER_SIZE, 8);
			announced = a > SIZE_MAX ? SIZE_MAX : (size_t)a;
		}
		if (announced > max) {
			free(dgram);
			return too_large(m, announced, max);
		}
	}
	m->payload = malloc(m->len + 1);
	if (!m->payload) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(m->payload, dgram + WIRE_HEADER_SIZE, m->len);
	m->payload[m->len] = 0;
	free(dgram);
	dgram = NULL;

	if (m->h.flags & WIRE_F_LARGE) {
		r = read_large(m);
		if (r < 0)
			goto fail;
	}
	if (m->h.flags & WIRE_F_VALUE) {
		r = value_decode(m->payload, m->len, &m->body);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	free(dgram);
	/* keep the header so a caller can still answer the serial */
	{
		struct wire_header h = m->h;
		wire_msg_clear(m);
		m->h = h;
	}
	return r;
}
