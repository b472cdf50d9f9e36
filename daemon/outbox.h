/* SPDX-License-Identifier: MIT */
/*
 * outbox.h - udkd never blocks on a peer (internal).
 *
 * Every socket udkd writes to is non-blocking.  A message the kernel will
 * not take right now is kept here, in order, and sent when the socket is
 * writable again.  A peer that lets more than OUTBOX_LIMIT bytes pile up is
 * not reading: the caller disconnects (a client) or kills (a driver) it.
 */
#ifndef UDKD_OUTBOX_H
#define UDKD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <udk/value.h>

#define OUTBOX_LIMIT (64u << 20)

struct out_msg;

struct outbox {
	struct out_msg *head, **tail;
	size_t bytes;
};

void outbox_init(struct outbox *ob);
void outbox_clear(struct outbox *ob);
/*
 * Send now, or queue behind what is already waiting.  Returns 0 when sent,
 * 1 when queued (the caller should watch EPOLLOUT), -ENOBUFS when the
 * backlog is over the limit, or another -errno (the peer is gone).
 */
int outbox_send(struct outbox *ob, int fd, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
		const struct udk_value *body, const int *fds, unsigned n_fds);
/* Send what is queued; 0 when empty, 1 when some remains, <0 on error. */
int outbox_flush(struct outbox *ob, int fd);
static inline int
outbox_pending(const struct outbox *ob)
{
	return ob->head != NULL;
}

#endif
