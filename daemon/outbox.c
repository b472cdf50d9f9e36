/* SPDX-License-Identifier: MIT */
/* outbox.c - queued sends for non-blocking peers (see outbox.h). */
#include <fcntl.h>

#include "outbox.h"
#include "util.h"
#include "wire.h"

struct out_msg {
	struct out_msg *next;
	uint16_t op, flags;
	uint32_t serial;
	int32_t status;
	uint8_t *payload;	/* the encoded body (WIRE_F_VALUE), or NULL */
	size_t len;
	int fds[WIRE_MAX_FDS];
	unsigned n_fds;
};

void
outbox_init(struct outbox *ob)
{
	ob->head = NULL;
	ob->tail = &ob->head;
	ob->bytes = 0;
	ob->fds = 0;
}

static size_t
msg_cost(const struct out_msg *m)
{
	return WIRE_HEADER_SIZE + m->len;
}

static void
msg_free(struct out_msg *m)
{
	free(m->payload);
	for (unsigned i = 0; i < m->n_fds; i++)
		close(m->fds[i]);
	free(m);
}

static void
account(struct outbox *ob, long long delta)
{
	if (ob->hooks && ob->hooks->account && delta)
		ob->hooks->account(ob, delta, ob->hooks_data);
}

void
outbox_clear(struct outbox *ob)
{
	long long freed = 0;

	while (ob->head) {
		struct out_msg *m = ob->head;
		ob->head = m->next;
		freed += (long long)msg_cost(m);
		msg_free(m);
	}
	account(ob, -freed);
	outbox_init(ob);
}

static int
try_send(int fd, const struct out_msg *m)
{
	return wire_send(fd, m->op, m->flags, m->serial, m->status, m->payload, m->len, m->fds, m->n_fds);
}

int
outbox_flush(struct outbox *ob, int fd)
{
	while (ob->head) {
		struct out_msg *m = ob->head;
		int r = try_send(fd, m);
		if (r == -EAGAIN)
			return 1;
		if (r < 0)
			return r;
		ob->head = m->next;
		if (!ob->head)
			ob->tail = &ob->head;
		ob->bytes -= msg_cost(m);
		ob->fds -= m->n_fds;
		account(ob, -(long long)msg_cost(m));
		msg_free(m);
	}
	return 0;
}

int
outbox_send(struct outbox *ob, int fd, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	    const struct udk_value *body, const int *fds, unsigned n_fds)
{
	size_t limit = ob->limit ? ob->limit : OUTBOX_LIMIT;
	struct out_msg *m;
	int r;

	if (n_fds > WIRE_MAX_FDS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->op = op;
	m->flags = flags;
	m->serial = serial;
	m->status = status;
	/* encoded once: sent now, or kept as the exact bytes that will go */
	if (body) {
		r = wire_encode_value(body, &m->payload, &m->len);
		if (r < 0) {
			free(m);
			return r;
		}
		m->flags |= WIRE_F_VALUE;
	}
	if (!ob->head) {
		r = wire_send(fd, m->op, m->flags, serial, status, m->payload, m->len, fds, n_fds);
		if (r != -EAGAIN) {
			msg_free(m);
			return r;
		}
	}
	if (ob->hooks && ob->hooks->admit) {
		r = ob->hooks->admit(ob, msg_cost(m), ob->hooks_data);
		if (r < 0) {
			msg_free(m);
			return -ENOBUFS;
		}
	} else if (ob->bytes + msg_cost(m) > limit) {
		udk_set_reason(-ENOBUFS, "%zu bytes are already queued and this message has %zu; the limit is %zu",
			       ob->bytes, msg_cost(m), limit);
		msg_free(m);
		return -ENOBUFS;
	}
	if (ob->fds + n_fds > OUTBOX_MAX_FDS) {
		udk_set_reason(-ENOBUFS, "%u descriptors are already queued; the limit is %u", ob->fds,
			       OUTBOX_MAX_FDS);
		msg_free(m);
		return -ENOBUFS;
	}
	for (unsigned i = 0; i < n_fds; i++) {
		m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (m->fds[i] < 0) {
			r = -errno;
			m->n_fds = i;
			msg_free(m);
			return r;
		}
		m->n_fds = i + 1;
	}
	ob->bytes += msg_cost(m);
	ob->fds += m->n_fds;
	account(ob, (long long)msg_cost(m));
	*ob->tail = m;
	ob->tail = &m->next;
	return 1;
}
