/* SPDX-License-Identifier: MIT */
/*
 * rpc.c - many threads, one socket.
 *
 * A caller sends its request, then either waits for its reply or, if no
 * other thread is reading, becomes the reader: it reads messages and hands
 * each reply to the thread waiting for it (the "leader" pattern), so there
 * is no extra thread and a lone caller pays one send and one receive.
 * Messages that are not replies go to the owner's handler.  When the peer
 * goes away, every waiting and later call fails with the owner's error.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "buf.h"
#include "private.h"
#include "proto.h"
#include "util.h"
#include "value-private.h"

void
rpc_init(struct rpc *r, int fd, int dead_status, const char *dead_reason, rpc_unsolicited_fn fn, rpc_dead_fn on_dead,
	 void *owner)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->dead_status = dead_status;
	snprintf(r->dead_reason, sizeof(r->dead_reason), "%s", dead_reason ? dead_reason : "");
	r->unsolicited = fn;
	r->on_dead = on_dead;
	r->owner = owner;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

void
rpc_fini(struct rpc *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

struct rpc_pending *
rpc_find_pending_locked(struct rpc *r, uint32_t serial)
{
	for (struct rpc_pending *p = r->pending; p; p = p->next)
		if (p->serial == serial && !p->done)
			return p;
	return NULL;
}

void
rpc_mark_dead(struct rpc *r, int status, const char *reason)
{
	bool first;

	pthread_mutex_lock(&r->lock);
	first = !r->dead;
	if (first) {
		r->dead = true;
		if (status)
			r->dead_status = status;
		if (reason)
			snprintf(r->dead_reason, sizeof(r->dead_reason), "%s", reason);
		if (r->fd >= 0)
			shutdown(r->fd, SHUT_RDWR);
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (first && r->on_dead)
		r->on_dead(r);
}

/*
 * Waits of at least this long (and unbounded ones, in chunks of it) are a
 * blocking recvmsg with this as the socket's SO_RCVTIMEO; shorter ones a
 * poll, whose timeout is exact (the socket's rounds up to a clock tick).
 */
#define RECV_WAIT_MS 1000

/*
 * Wait up to @timeout_ms (< 0: forever) for one message and route it.  1 if
 * handled.  A long wait is the receive itself, so a lone caller pays one
 * send and one receive like a raw round trip; rpc_mark_dead's shutdown()
 * ends it.  If the receive comes back empty early (an app made the
 * descriptor non-blocking, or a signal), the rest of the wait is a poll.
 */
static int
read_one(struct rpc *r, int timeout_ms)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	uint64_t start = 0;
	struct wire_msg m;
	int n;

	if (timeout_ms == 0) {
		n = wire_recv(r->fd, &m, true);
		goto got;
	}
	if (timeout_ms < 0 || timeout_ms >= RECV_WAIT_MS) {
		if (r->recv_timeout_ms != RECV_WAIT_MS) {
			struct timeval tv = { RECV_WAIT_MS / 1000, 0 };
			r->recv_timeout_ms = setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0
						     ? RECV_WAIT_MS
						     : -1;
		}
		start = now_ms();
		n = wire_recv(r->fd, &m, false);
		if (n != -EAGAIN)
			goto got;
		if (timeout_ms > 0) {
			uint64_t spent = now_ms() - start;
			if (spent >= (uint64_t)timeout_ms)
				return 0;
			timeout_ms -= (int)spent;
		}
	}
	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return 0;
	n = wire_recv(r->fd, &m, true);
got:
	if (n == -ECONNRESET)
		/* the peer's last copy closed with our requests unread: the kernel
		 * reports that before what was queued for us, which may be the
		 * notice saying why (OP_ERROR from udkd); the error is reported
		 * once, so read on */
		n = wire_recv(r->fd, &m, true);
	if (n == -EAGAIN)
		return 0;
	if (n == -EBADMSG) {
		char why[sizeof(((struct rpc *)0)->dead_reason)];
		snprintf(why, sizeof(why), "the peer sent a malformed message: %s",
			 udk_error_reason() ? udk_error_reason() : "?");
		rpc_mark_dead(r, -UDK_E_PROTOCOL, why);
		return n;
	}
	if (n < 0) {
		rpc_mark_dead(r, 0, NULL);
		return n;
	}
	if (m.h.flags & WIRE_F_REPLY) {
		struct rpc_pending *p;
		pthread_mutex_lock(&r->lock);
		p = rpc_find_pending_locked(r, m.h.serial);
		if (p) {
			p->msg = m;
			p->status = m.h.status;
			p->done = true;
			pthread_cond_broadcast(&r->cond);
		}
		pthread_mutex_unlock(&r->lock);
		if (!p)
			wire_msg_clear(&m); /* a reply to a call that gave up */
		return 1;
	}
	if (m.h.op == OP_ERROR) {
		/* the peer says why it is about to hang up (e.g. UDK_E_REVOKED) */
		const char *why = udk_dict_get_string(m.body, "reason");
		rpc_mark_dead(r, m.h.status < 0 ? m.h.status : -UDK_E_PROTOCOL, why ? why : "the peer closed the connection");
		wire_msg_clear(&m);
		return 1;
	}
	if (r->unsolicited)
		r->unsolicited(r, &m);
	wire_msg_clear(&m);
	return 1;
}

static int
remaining_ms(uint64_t deadline)
{
	uint64_t now;

	if (!deadline)
		return -1;
	now = now_ms();
	return now >= deadline ? 0 : (int)MIN(deadline - now, (uint64_t)INT32_MAX);
}

int
rpc_call(struct rpc *r, uint16_t op, uint16_t flags, const struct iovec *iov, unsigned n_iov, const int *fds,
	 unsigned n_fds, int timeout_ms, void *user, struct wire_msg *ret)
{
	struct rpc_pending p = { .user = user };
	uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	int e;

	wire_msg_init(&p.msg);
	pthread_mutex_lock(&r->lock);
	if (r->dead) {
		e = r->dead_status;
		udk_set_reason_str(r->dead_reason);
		pthread_mutex_unlock(&r->lock);
		return e;
	}
	p.serial = ++r->next_serial;
	if (p.serial == 0)
		p.serial = ++r->next_serial;
	p.next = r->pending;
	r->pending = &p;
	pthread_mutex_unlock(&r->lock);

	e = wire_sendv(r->fd, op, flags, p.serial, 0, iov, n_iov, fds, n_fds);
	if (e < 0 && e != -EPIPE) {
		pthread_mutex_lock(&r->lock);
		goto unlink;
	}
	/* a send to a dead peer: the reader will see EOF and say why */
	pthread_mutex_lock(&r->lock);
	while (!p.done && !r->dead) {
		int left = remaining_ms(deadline);

		if (left == 0)
			break;
		if (!r->reader_busy) {
			r->reader_busy = true;
			pthread_mutex_unlock(&r->lock);
			read_one(r, left < 0 ? 1000 : MIN(left, 1000));
			pthread_mutex_lock(&r->lock);
			r->reader_busy = false;
			pthread_cond_broadcast(&r->cond);
		} else if (left < 0) {
			pthread_cond_wait(&r->cond, &r->lock);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += left / 1000;
			ts.tv_nsec += (left % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		}
	}
	if (p.done) {
		e = 0;
	} else if (r->dead) {
		e = r->dead_status;
		udk_set_reason_str(r->dead_reason);
	} else {
		e = udk_set_reason(-UDK_E_DEADLINE, "no answer within %d ms", timeout_ms);
	}
unlink:
	for (struct rpc_pending **pp = &r->pending; *pp; pp = &(*pp)->next)
		if (*pp == &p) {
			*pp = p.next;
			break;
		}
	pthread_mutex_unlock(&r->lock);
	if (e < 0) {
		wire_msg_clear(&p.msg);
		return e;
	}
	*ret = p.msg;
	return 0;
}

int
rpc_call_value(struct rpc *r, uint16_t op, const struct udk_value *body, int timeout_ms, struct udk_value **ret_body,
	       int *ret_fd)
{
	struct wire_msg m;
	struct buf b;
	struct iovec iov;
	int e;

	buf_init(&b, WIRE_MAX_LARGE);
	if (body)
		value_encode(&b, body);
	if (b.err) {
		e = b.err;
		buf_free(&b);
		return e;
	}
	iov = (struct iovec){ b.p, b.len };
	e = rpc_call(r, op, body ? WIRE_F_VALUE : 0, &iov, body ? 1 : 0, NULL, 0, timeout_ms, NULL, &m);
	buf_free(&b);
	if (e < 0)
		return e;
	e = m.h.status;
	if (e < 0) {
		/* failures hand back nothing but the reason */
		udk_set_reason_str(udk_dict_get_string(m.body, "reason"));
		wire_msg_clear(&m);
		return e;
	}
	if (ret_fd)
		*ret_fd = wire_msg_take_fd(&m, 0);
	if (ret_body)
		*ret_body = TAKE_PTR(m.body);
	wire_msg_clear(&m);
	return e;
}

int
rpc_pump(struct rpc *r, int timeout_ms)
{
	uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	int handled = 0;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		int left = timeout_ms == 0 ? 0 : remaining_ms(deadline);

		if (r->dead)
			break;
		if (!r->reader_busy) {
			int n;
			r->reader_busy = true;
			pthread_mutex_unlock(&r->lock);
			n = read_one(r, left < 0 ? -1 : left);
			pthread_mutex_lock(&r->lock);
			r->reader_busy = false;
			pthread_cond_broadcast(&r->cond);
			if (n > 0) {
				handled += n;
				timeout_ms = 0; /* then drain without waiting */
				continue;
			}
			break;
		}
		/* another thread reads: it will route what comes */
		if (left == 0)
			break;
		pthread_cond_wait(&r->cond, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return handled;
}

void
rpc_add_pending(struct rpc *r, struct rpc_pending *p)
{
	pthread_mutex_lock(&r->lock);
	p->done = false;
	p->next = r->pending;
	r->pending = p;
	pthread_mutex_unlock(&r->lock);
}

void
rpc_remove_pending(struct rpc *r, struct rpc_pending *p)
{
	pthread_mutex_lock(&r->lock);
	for (struct rpc_pending **pp = &r->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&r->lock);
}
