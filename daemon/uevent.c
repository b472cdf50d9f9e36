/* SPDX-License-Identifier: MIT */
/*
 * uevent.c - the kernel's device events (NETLINK_KOBJECT_UEVENT) for the
 * families that follow real hardware (family.h, udkd_uevents_listen).
 *
 * One socket for udkd, opened when the first family listens, read on the
 * loop without blocking.  Only the kernel speaks for devices: a message
 * from any other sender (a local process can send to the uevent group) or
 * one cut short is dropped.  A burst that overflows the socket (ENOBUFS)
 * loses events: each listener is told (NULL, 0) so it can read sysfs again.
 */
#include <linux/netlink.h>
#include <sys/socket.h>

#include "family.h"
#include "util.h"

#define UEVENT_BUF 8192
#define UEVENT_BURST 64		/* messages read per wakeup: the loop serves others between bursts */

struct udkd_uevents {
	int fd;
	struct loop_source *src;
	struct uevent_listener {
		udkd_uevent_fn fn;
		void *ctx;
	} *listeners;
	size_t n_listeners;
};

static void
dispatch(struct udkd *d, const char *msg, size_t len)
{
	struct udkd_uevents *u = d->uevents;

	for (size_t i = 0; u && i < u->n_listeners; i++)
		u->listeners[i].fn(d, msg, len, u->listeners[i].ctx);
}

static void
on_uevent(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udkd *d = data;

	(void)l;
	(void)events;
	for (int i = 0; i < UEVENT_BURST; i++) {
		char buf[UEVENT_BUF];
		struct sockaddr_nl sa;
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == ENOBUFS)
				dispatch(d, NULL, 0);
			return;
		}
		/* only the kernel speaks for devices, never a local process */
		if (mh.msg_namelen != sizeof(sa) || sa.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC))
			continue;
		buf[n] = 0;
		dispatch(d, buf, (size_t)n);
	}
}

int
udkd_uevents_listen(struct udkd *d, udkd_uevent_fn fn, void *ctx)
{
	struct udkd_uevents *u = d->uevents;
	struct uevent_listener *n;

	if (!fn)
		return -EINVAL;
	if (!u) {
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
		int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);

		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int r = -errno;
			if (fd >= 0)
				close(fd);
			return udk_set_reason(r, "cannot listen to the kernel's uevents: %s", strerror(-r));
		}
		u = calloc(1, sizeof(*u));
		if (!u) {
			close(fd);
			return -ENOMEM;
		}
		u->fd = fd;
		if (loop_add_fd(d->loop, fd, EPOLLIN, on_uevent, d, &u->src) < 0) {
			close(fd);
			free(u);
			return udk_set_reason(-ENOMEM, "cannot watch the kernel's uevents");
		}
		d->uevents = u;
	}
	n = reallocarray(u->listeners, u->n_listeners + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	u->listeners = n;
	u->listeners[u->n_listeners++] = (struct uevent_listener){ fn, ctx };
	return 0;
}

void
uevents_fini(struct udkd *d)
{
	struct udkd_uevents *u = d->uevents;

	if (!u)
		return;
	loop_source_remove(u->src);
	close(u->fd);
	free(u->listeners);
	free(u);
	d->uevents = NULL;
}
