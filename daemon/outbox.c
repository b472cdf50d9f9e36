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
	struct udk_value *body;
	int fds[WIRE_MAX_FDS];
	unsigned n_fds;
	size_t cost;
};

void
outbox_init(struct outbox *ob)
{
	ob->head = NULL;
	ob->tail = &ob->head;
	ob->bytes = 0;
}

static void
msg_free(struct out_msg *m)
{
	udk_value_unref(m->body);
	for (unsigned i = 0; i < m->n_fds; i++)
		close(m->fds[i]);
	free(m);
}

void
outbox_clear(struct outbox *ob)
{
	while (ob->head) {
		struct out_msg *m = ob->head;
		ob->head = m->next;
		msg_free(m);
	}
	outbox_init(ob);
}

static int
try_send(int fd, const struct out_msg *m)
{
	return wire_send_value(fd, m->op, m->flags, m->serial, m->status, m->body, m->fds, m->n_fds);
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
		ob->bytes -= m->cost;
		msg_free(m);
	}
	return 0;
}

int
outbox_send(struct outbox *ob, int fd, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	    const struct udk_value *body, const int *fds, unsigned n_fds)
{
	struct out_msg *m;
	int r;

	if (!ob->head) {
		r = wire_send_value(fd, op, flags, serial, status, body, fds, n_fds);
		if (r != -EAGAIN)
			return r;
	}
	if (ob->bytes > OUTBOX_LIMIT)
		return -ENOBUFS;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->op = op;
	m->flags = flags;
	m->serial = serial;
	m->status = status;
	/* a deep copy: the caller may change its value afterwards */
	m->body = body ? udk_value_copy(body) : NULL;
	for (unsigned i = 0; i < n_fds && i < WIRE_MAX_FDS; i++) {
		m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (m->fds[i] < 0) {
			m->n_fds = i;
			msg_free(m);
			return -errno;
		}
		m->n_fds = i + 1;
	}
	m->cost = 256 + 64 * (size_t)n_fds;
	ob->bytes += m->cost;
	*ob->tail = m;
	ob->tail = &m->next;
	return 1;
}
