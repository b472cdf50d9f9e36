/* SPDX-License-Identifier: MIT */
/*
 * outbox.h - udkd never blocks on a peer (internal).
 *
 * Every socket udkd writes to is non-blocking.  A message the kernel will
 * not take right now is kept here, in order, and sent when the socket is
 * writable again.  It is kept encoded, and counted exactly: its header and
 * payload bytes, and its descriptors.  A peer that lets more than the
 * outbox's limit pile up is not reading: the caller disconnects (a client)
 * or kills (a driver) it.
 */
#ifndef UDKD_OUTBOX_H
#define UDKD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <udk/value.h>

/* What a driver may leave unread (clients: see limits.h). */
#define OUTBOX_LIMIT (64u << 20)
/* Descriptors queued for one peer. */
#define OUTBOX_MAX_FDS 32u

struct out_msg;
struct outbox;

/*
 * Optional hooks, so a caller can keep totals (per user, for all clients)
 * and apply its own limits: admit() decides whether @more bytes may be
 * queued (0, or a negative code with a reason; it replaces the check
 * against limit), account() hears every change of the bytes queued.
 */
struct outbox_hooks {
	int (*admit)(struct outbox *ob, size_t more, void *data);
	void (*account)(struct outbox *ob, long long delta, void *data);
};

struct outbox {
	struct out_msg *head, **tail;
	size_t bytes;		/* header + payload of every queued message */
	unsigned fds;		/* descriptors held for queued messages */
	size_t limit;		/* bytes; 0: OUTBOX_LIMIT */
	const struct outbox_hooks *hooks;
	void *hooks_data;
};

void outbox_init(struct outbox *ob);
void outbox_clear(struct outbox *ob);
/*
 * Send now, or queue behind what is already waiting.  Returns 0 when sent,
 * 1 when queued (the caller should watch EPOLLOUT), -ENOBUFS when the
 * backlog would go over the limit (bytes or descriptors; the reason says
 * which), -E2BIG for a message larger than any message may be, or another
 * -errno (the peer is gone).  outbox_init() keeps limit and hooks.
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
