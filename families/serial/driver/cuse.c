/* SPDX-License-Identifier: MIT */
/*
 * serial/driver/cuse.c - the CUSE backend: a port as two character devices,
 * /dev/tty.NAME (call-in) and /dev/cu.NAME (call-out), served by this
 * driver process through libfuse's cuse_lowlevel API.
 *
 * udkd opened /dev/cuse twice and answered each CUSE_INIT with the names
 * it chose (daemon/serial.c), so the kernel has made the devices before
 * the descriptors reach us.  libfuse's session still wants to see an
 * init: each session is given a CUSE_INIT of our own making (the version
 * udkd negotiated), and its answer is swallowed by the session's writev
 * (fuse_session_custom_io), never reaching the kernel.
 *
 * One thread per port serves both devices: it polls the two descriptors
 * and the port's eventfd, runs libfuse's request handlers, and keeps the
 * requests that must wait (a read with nothing to read, a write with no
 * room, an open of tty. before DCD, a poll) until the rings or the modem
 * lines move.  read and write go straight between the kernel and the
 * rings (fuse_reply_iov from the RX ring, the write's buffer into the TX
 * ring).  What the driver must decide (line settings, DTR/RTS, break)
 * runs on the port's queue like every other callback, and the ioctl is
 * answered from there: a refused TCSETS fails with EINVAL.
 *
 * Kept apart from serial.c for <asm/termbits.h> (struct termios2), which
 * cannot share a file with glibc's <termios.h>.
 */
#define FUSE_USE_VERSION 31

#include <asm/termios.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto-serial.h"
#include "serial-config.h"
#include "serial-private.h"

#include "private.h"
#include "util.h"

#if UDK_HAVE_CUSE
#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>

#define CUSE_INIT_OP 4096		/* linux/fuse.h's CUSE_INIT */
#define CUSE_FLAG_UNRESTRICTED 1	/* CUSE_UNRESTRICTED_IOCTL */
#define FAKE_UNIQUE (UINT64_MAX - 1)	/* our own CUSE_INIT's id */
#define MAX_POLLERS 8
#define BREAK_NS (250ull * 1000 * 1000)	/* tcsendbreak(fd, 0): a quarter second */

/* linux/fuse.h's fuse_in_header and cuse_init_in, as the kernel sends them */
struct fake_init {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
	uint32_t major, minor, unused, flags;
};
_Static_assert(sizeof(struct fake_init) == 56, "fuse_in_header (40) + cuse_init_in (16)");

/* the TIOCM bits of asm-generic/termios.h */
#define M_DTR 0x002
#define M_RTS 0x004
#define M_CTS 0x020
#define M_CAR 0x040
#define M_RNG 0x080
#define M_DSR 0x100

struct cuse_dev {
	struct cuse_port *cp;
	int which;			/* 0: tty. (call-in), 1: cu. (call-out) */
	struct fuse_session *se;
	int fd;
	bool se_owns_fd;		/* fuse_session_destroy closes it */
	bool init_swallowed;
	struct fuse_buf buf;
};

enum wait_kind { WAIT_READ, WAIT_WRITE, WAIT_OPEN };

/* A request that waits, on the thread's lists. */
struct waiter {
	struct waiter *next;
	struct cuse_port *cp;
	enum wait_kind kind;
	fuse_req_t req;
	size_t size;			/* read: at most; write: all */
	size_t done;			/* write: bytes in the ring so far */
	uint8_t *data;			/* write: a copy of the rest */
	struct fuse_file_info fi;	/* open */
};

struct poller {
	struct fuse_pollhandle *ph;
	unsigned events;
};

struct cuse_port {
	struct udk_serial_port *p;
	struct cuse_dev dev[2];
	/* under p->lock: */
	struct termios2 t;		/* what TCGETS gives: the accepted settings */
	unsigned short ws[4];		/* struct winsize, kept for TIOCGWINSZ */
	bool excl;			/* TIOCEXCL: opens get EBUSY */
	unsigned opens;
	/* the thread's own: */
	struct waiter *waiting;
	struct poller pollers[MAX_POLLERS];
	fuse_req_t brk_req;		/* TCSBRK 0 holding the line in break */
	uint64_t brk_end_ns;
	bool gone;
};

enum block_kind { BLOCK_LINE, BLOCK_MODEM, BLOCK_BREAK };

static void cuse_run_line_block(void *data);
static void cuse_run_other_block(void *data);

/* Work for the port's queue; answers @req there (req NULL: no answer). */
struct cuse_block {
	struct udk_serial_port *p;
	enum block_kind kind;
	fuse_req_t req;
	unsigned cmd;
	uint32_t value;			/* modem: the TIOCM bits; break: on */
	struct termios2 t;		/* line */
};

/* ---- the session's I/O: our own CUSE_INIT's answer stays here ---- */

static ssize_t
io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct cuse_dev *dev = userdata;

	if (!dev->init_swallowed && count > 0 && iov[0].iov_len >= 16) {
		uint64_t unique;

		memcpy(&unique, (const uint8_t *)iov[0].iov_base + 8, sizeof(unique));
		if (unique == FAKE_UNIQUE) {
			size_t len = 0;

			for (int i = 0; i < count; i++)
				len += iov[i].iov_len;
			dev->init_swallowed = true;
			return (ssize_t)len;
		}
	}
	return writev(fd, iov, count);
}

static ssize_t
io_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(fd, buf, len);
}

/* ---- termios ---- */

static void
initial_termios(struct termios2 *t, const struct udk_serial_line *l)
{
	static const tcflag_t csize[] = { CS5, CS6, CS7, CS8 };

	memset(t, 0, sizeof(*t));
	/* a serial port's state with no line discipline: raw input and output */
	t->c_cflag = CREAD | HUPCL | csize[(l->data_bits - 5) & 3];
	t->c_cflag |= l->stop_bits == 2 ? CSTOPB : 0;
	t->c_cflag |= l->rts_cts ? CRTSCTS : 0;
	if (l->parity != UDK_SERIAL_PARITY_NONE)
		t->c_cflag |= PARENB | (l->parity == UDK_SERIAL_PARITY_ODD || l->parity == UDK_SERIAL_PARITY_MARK ? PARODD : 0) |
			      (l->parity >= UDK_SERIAL_PARITY_MARK ? CMSPAR : 0);
	t->c_iflag = (l->xon_xoff ? IXON : 0) | (l->xon_xoff_input ? IXOFF : 0);
	t->c_cc[VINTR] = 3;
	t->c_cc[VQUIT] = 0x1c;
	t->c_cc[VERASE] = 0x7f;
	t->c_cc[VKILL] = 0x15;
	t->c_cc[VEOF] = 4;
	t->c_cc[VMIN] = 1;
	t->c_cc[VSTART] = l->xon_char ? l->xon_char : 0x11;
	t->c_cc[VSTOP] = l->xoff_char ? l->xoff_char : 0x13;
	t->c_cc[VSUSP] = 0x1a;
	t->c_ispeed = t->c_ospeed = l->baud;
	serial_termios_normalize(t);
}

/* ---- the waiting requests ---- */

static void
unlink_waiter(struct cuse_port *cp, struct waiter *w)
{
	for (struct waiter **pp = &cp->waiting; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

static void
free_waiter(struct waiter *w)
{
	free(w->data);
	free(w);
}

/* The app gave up (a signal): answer EINTR.  On the thread, inside libfuse. */
static void
on_interrupt(fuse_req_t req, void *data)
{
	struct waiter *w = data;

	(void)req;
	unlink_waiter(w->cp, w);
	fuse_reply_err(w->req, EINTR);
	free_waiter(w);
}

static struct waiter *
add_waiter(struct cuse_port *cp, enum wait_kind kind, fuse_req_t req)
{
	struct waiter *w = calloc(1, sizeof(*w));
	struct waiter **tail = &cp->waiting;

	if (!w)
		return NULL;
	w->cp = cp;
	w->kind = kind;
	w->req = req;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;			/* in arrival order */
	return w;
}

/* Last, after the waiter is filled in: an app already interrupted has
 * on_interrupt run (and @w freed) right here. */
static void
arm_waiter(struct waiter *w)
{
	fuse_req_interrupt_func(w->req, on_interrupt, w);
}

/* Answer a read from the RX ring, if it holds anything: no copy in between. */
static bool
try_read(struct cuse_port *cp, fuse_req_t req, size_t size)
{
	struct udk_serial_port *p = cp->p;
	uint8_t *a;
	uint32_t n1 = bring_read_ptr(&p->rx, &a), total;
	struct iovec iov[2];
	size_t got;
	int n = 1;

	if (!n1 || !size)
		return false;
	total = bring_pending(&p->rx);
	iov[0] = (struct iovec){ a, MIN((size_t)n1, size) };
	got = iov[0].iov_len;
	if (got < size && total > n1) {
		iov[1] = (struct iovec){ p->rx.data, MIN((size_t)(total - n1), size - got) };
		got += iov[1].iov_len;
		n = 2;
	}
	/* the bytes leave the ring only when the kernel took them (an app
	 * that gave up leaves them for the next read) */
	if (fuse_reply_iov(req, iov, n) == 0) {
		bring_consume(&p->rx, (uint32_t)got);
		serial_rx_consumed(p);
	}
	return true;
}

/* As much of @buf as fits into the TX ring; the count. */
static size_t
put_tx(struct cuse_port *cp, const uint8_t *buf, size_t len)
{
	struct udk_serial_port *p = cp->p;
	size_t done = 0;

	while (done < len) {
		uint8_t *ptr;
		uint32_t room = bring_write_ptr(&p->tx, &ptr);
		size_t n = MIN((size_t)room, len - done);

		if (!n)
			break;
		memcpy(ptr, buf + done, n);
		bring_produce(&p->tx, (uint32_t)n);
		done += n;
	}
	if (done)
		serial_notify_tx(p);
	return done;
}

static bool
dcd_up(struct cuse_port *cp)
{
	bool up;

	pthread_mutex_lock(&cp->p->lock);
	up = (cp->p->modem_in & UDK_SERIAL_DCD) || (cp->t.c_cflag & CLOCAL);
	pthread_mutex_unlock(&cp->p->lock);
	return up;
}

static void
reply_open(struct cuse_port *cp, fuse_req_t req, struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	fi->nonseekable = 1;
	pthread_mutex_lock(&cp->p->lock);
	cp->opens++;
	pthread_mutex_unlock(&cp->p->lock);
	if (fuse_reply_open(req, fi) < 0) {
		pthread_mutex_lock(&cp->p->lock);
		cp->opens--;		/* the opener went away: no release comes */
		pthread_mutex_unlock(&cp->p->lock);
	}
}

static unsigned
ready_events(struct cuse_port *cp)
{
	struct udk_serial_port *p = cp->p;
	unsigned ev = 0;

	if (cp->gone)
		return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLHUP | POLLERR;
	if (bring_pending(&p->rx))
		ev |= POLLIN | POLLRDNORM;
	if (bring_room(&p->tx))
		ev |= POLLOUT | POLLWRNORM;
	return ev;
}

/* Move what can move: waiting reads, writes, opens, pollers.  True when anything did. */
static bool
serve(struct cuse_port *cp)
{
	bool moved = false, wrote_first = false, dcd = dcd_up(cp);
	unsigned ev;

	for (struct waiter *w = cp->waiting, *next; w; w = next) {
		next = w->next;
		if (cp->gone) {
			unlink_waiter(cp, w);
			fuse_reply_err(w->req, EIO);
			free_waiter(w);
			moved = true;
			continue;
		}
		switch (w->kind) {
		case WAIT_READ:
			if (!try_read(cp, w->req, w->size))
				continue;
			break;
		case WAIT_WRITE:
			/* writes in order: only the oldest moves */
			if (wrote_first)
				continue;
			wrote_first = true;
			w->done += put_tx(cp, w->data + w->done, w->size - w->done);
			if (w->done < w->size)
				continue;
			fuse_reply_write(w->req, w->size);
			break;
		case WAIT_OPEN:
			if (!dcd)
				continue;
			reply_open(cp, w->req, &w->fi);
			break;
		}
		unlink_waiter(cp, w);
		free_waiter(w);
		moved = true;
	}
	ev = ready_events(cp);
	for (int i = 0; i < MAX_POLLERS; i++) {
		struct poller *q = &cp->pollers[i];
		if (q->ph && (ev & (q->events | POLLHUP | POLLERR))) {
			fuse_lowlevel_notify_poll(q->ph);
			fuse_pollhandle_destroy(q->ph);
			q->ph = NULL;
		}
	}
	return moved;
}

/* ---- libfuse's handlers (on the thread) ---- */

static struct cuse_dev *
dev_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void
op_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cuse_dev *dev = dev_of(req);
	struct cuse_port *cp = dev->cp;
	struct waiter *w;
	bool excl;

	if (cp->gone || atomic_load(&cp->p->stopping)) {
		fuse_reply_err(req, EIO);
		return;
	}
	pthread_mutex_lock(&cp->p->lock);
	excl = cp->excl;
	pthread_mutex_unlock(&cp->p->lock);
	if (excl) {
		fuse_reply_err(req, EBUSY);	/* TIOCEXCL */
		return;
	}
	/* call-in waits for carrier unless O_NONBLOCK or CLOCAL; call-out never */
	if (dev->which == 1 || (fi->flags & O_NONBLOCK) || dcd_up(cp)) {
		reply_open(cp, req, fi);
		return;
	}
	w = add_waiter(cp, WAIT_OPEN, req);
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->fi = *fi;
	arm_waiter(w);
}

static void
op_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cuse_port *cp = dev_of(req)->cp;

	(void)fi;
	pthread_mutex_lock(&cp->p->lock);
	if (cp->opens)
		cp->opens--;
	if (!cp->opens)
		cp->excl = false;	/* the last close ends TIOCEXCL, as on a tty */
	pthread_mutex_unlock(&cp->p->lock);
	fuse_reply_err(req, 0);
}

static void
op_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct cuse_port *cp = dev_of(req)->cp;
	struct waiter *w;

	(void)off;
	if (cp->gone) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (try_read(cp, req, size))
		return;
	if (fi->flags & O_NONBLOCK) {
		fuse_reply_err(req, EAGAIN);
		return;
	}
	w = add_waiter(cp, WAIT_READ, req);
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->size = size;
	arm_waiter(w);
}

static bool
writes_waiting(struct cuse_port *cp)
{
	for (struct waiter *w = cp->waiting; w; w = w->next)
		if (w->kind == WAIT_WRITE)
			return true;
	return false;
}

static void
op_write(fuse_req_t req, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct cuse_port *cp = dev_of(req)->cp;
	struct waiter *w;
	size_t n = 0;

	(void)off;
	if (cp->gone) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (!writes_waiting(cp))
		n = put_tx(cp, (const uint8_t *)buf, size);
	if (n == size || (n && (fi->flags & O_NONBLOCK))) {
		fuse_reply_write(req, n);
		return;
	}
	if (fi->flags & O_NONBLOCK) {
		fuse_reply_err(req, EAGAIN);
		return;
	}
	/* the rest waits for room; the buffer is libfuse's, so copy it (at
	 * most max_write, 64 KiB); the answer counts the whole write */
	w = add_waiter(cp, WAIT_WRITE, req);
	if (w && !(w->data = malloc(size))) {
		unlink_waiter(cp, w);
		free_waiter(w);
		w = NULL;
	}
	if (!w) {
		if (n)
			fuse_reply_write(req, n);
		else
			fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(w->data, buf, size);
	w->size = size;
	w->done = n;
	arm_waiter(w);
}

static void
op_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	struct cuse_port *cp = dev_of(req)->cp;
	unsigned ev = ready_events(cp);

	if (ph) {
		int slot = -1;
		for (int i = 0; i < MAX_POLLERS && slot < 0; i++)
			if (!cp->pollers[i].ph)
				slot = i;
		if (slot < 0) {
			/* full: wake the oldest now (a spurious wake-up is allowed) */
			fuse_lowlevel_notify_poll(cp->pollers[0].ph);
			fuse_pollhandle_destroy(cp->pollers[0].ph);
			slot = 0;
		}
		cp->pollers[slot] = (struct poller){ ph, fi->poll_events ? fi->poll_events : POLLIN | POLLOUT };
	}
	fuse_reply_poll(req, ev);
}

/* ---- ioctls ---- */

static void
queue_cuse_block(struct cuse_port *cp, enum block_kind kind, fuse_req_t req, unsigned cmd, uint32_t value,
		 const struct termios2 *t)
{
	struct cuse_block *b = calloc(1, sizeof(*b));

	if (!b) {
		if (req)
			fuse_reply_err(req, ENOMEM);
		return;
	}
	b->p = cp->p;
	b->kind = kind;
	b->req = req;
	b->cmd = cmd;
	b->value = value;
	if (t)
		b->t = *t;
	serial_queue_block(cp->p, kind == BLOCK_LINE ? cuse_run_line_block : cuse_run_other_block, b);
}

static void
discard_rx(struct cuse_port *cp)
{
	uint32_t n = bring_pending(&cp->p->rx);

	if (n) {
		bring_consume(&cp->p->rx, n);
		serial_rx_consumed(cp->p);
	}
}

#define NEED_IN(sz)                                                                     \
	do {                                                                            \
		if (!in_bufsz) {                                                        \
			struct iovec iov = { arg, (sz) };                               \
			fuse_reply_ioctl_retry(req, &iov, 1, NULL, 0);                  \
			return;                                                         \
		}                                                                       \
		if (in_bufsz < (sz)) {                                                  \
			fuse_reply_err(req, EFAULT);                                    \
			return;                                                         \
		}                                                                       \
	} while (0)
#define NEED_OUT(sz)                                                                    \
	do {                                                                            \
		if (out_bufsz < (sz)) {                                                 \
			struct iovec iov = { arg, (sz) };                               \
			fuse_reply_ioctl_retry(req, NULL, 0, &iov, 1);                  \
			return;                                                         \
		}                                                                       \
	} while (0)

static void
op_ioctl(fuse_req_t req, int cmd_in, void *arg, struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	 size_t in_bufsz, size_t out_bufsz)
{
	struct cuse_port *cp = dev_of(req)->cp;
	struct udk_serial_port *p = cp->p;
	unsigned cmd = (unsigned)cmd_in;
	struct termios2 t, old;
	int v;

	(void)fi;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOTTY);	/* 32-bit callers: not carried */
		return;
	}
	if (cp->gone) {
		fuse_reply_err(req, EIO);
		return;
	}
	switch (cmd) {
	case TCGETS:
	case TCGETS2:
		NEED_OUT(cmd == TCGETS ? sizeof(struct termios) : sizeof(struct termios2));
		pthread_mutex_lock(&p->lock);
		t = cp->t;
		pthread_mutex_unlock(&p->lock);
		fuse_reply_ioctl(req, 0, &t, cmd == TCGETS ? sizeof(struct termios) : sizeof(struct termios2));
		return;
	case TCSETS:
	case TCSETSW:
	case TCSETSF:
	case TCSETS2:
	case TCSETSW2:
	case TCSETSF2: {
		bool two = cmd == TCSETS2 || cmd == TCSETSW2 || cmd == TCSETSF2;
		NEED_IN(two ? sizeof(struct termios2) : sizeof(struct termios));
		pthread_mutex_lock(&p->lock);
		old = cp->t;
		pthread_mutex_unlock(&p->lock);
		serial_termios_from_app(in_buf, two, &old, &t);
		if (cmd == TCSETSF || cmd == TCSETSF2)
			discard_rx(cp);
		/* the driver decides, on its queue; the answer comes from there */
		queue_cuse_block(cp, BLOCK_LINE, req, cmd, 0, &t);
		return;
	}
	case TIOCMGET: {
		uint32_t l;
		NEED_OUT(sizeof(int));
		pthread_mutex_lock(&p->lock);
		l = p->modem_in | p->modem_out;
		pthread_mutex_unlock(&p->lock);
		v = (l & UDK_SERIAL_DTR ? M_DTR : 0) | (l & UDK_SERIAL_RTS ? M_RTS : 0) | (l & UDK_SERIAL_CTS ? M_CTS : 0) |
		    (l & UDK_SERIAL_DCD ? M_CAR : 0) | (l & UDK_SERIAL_RI ? M_RNG : 0) | (l & UDK_SERIAL_DSR ? M_DSR : 0);
		fuse_reply_ioctl(req, 0, &v, sizeof(v));
		return;
	}
	case TIOCMSET:
	case TIOCMBIS:
	case TIOCMBIC:
		NEED_IN(sizeof(int));
		memcpy(&v, in_buf, sizeof(v));
		queue_cuse_block(cp, BLOCK_MODEM, req, cmd, (uint32_t)v, NULL);
		return;
	case TIOCSBRK:
	case TIOCCBRK:
		queue_cuse_block(cp, BLOCK_BREAK, req, cmd, cmd == TIOCSBRK, NULL);
		return;
	case TCSBRK:
		if ((uintptr_t)arg != 0) {
			/* tcdrain: the bytes are in the TX ring, the driver's to send */
			fuse_reply_ioctl(req, 0, NULL, 0);
			return;
		}
		if (cp->brk_req) {
			fuse_reply_err(req, EBUSY);
			return;
		}
		/* a timed break: on now, off (and the answer) in 250 ms */
		queue_cuse_block(cp, BLOCK_BREAK, NULL, TIOCSBRK, 1, NULL);
		cp->brk_req = req;
		cp->brk_end_ns = now_ns() + BREAK_NS;
		return;
	case TIOCEXCL:
	case TIOCNXCL:
		pthread_mutex_lock(&p->lock);
		cp->excl = cmd == TIOCEXCL;
		pthread_mutex_unlock(&p->lock);
		fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	case FIONREAD:
	case TIOCOUTQ:
		NEED_OUT(sizeof(int));
		v = (int)(cmd == FIONREAD ? bring_pending(&p->rx) : bring_pending(&p->tx));
		fuse_reply_ioctl(req, 0, &v, sizeof(v));
		return;
	case TCFLSH:
		switch ((uintptr_t)arg) {
		case TCIFLUSH:
		case TCIOFLUSH:
			discard_rx(cp);
			/* bytes already in the TX ring are the driver's */
			fuse_reply_ioctl(req, 0, NULL, 0);
			return;
		case TCOFLUSH:
			fuse_reply_ioctl(req, 0, NULL, 0);
			return;
		default:
			fuse_reply_err(req, EINVAL);
			return;
		}
	case TIOCGWINSZ:
		NEED_OUT(sizeof(cp->ws));
		pthread_mutex_lock(&p->lock);
		{
			unsigned short ws[4];
			memcpy(ws, cp->ws, sizeof(ws));
			pthread_mutex_unlock(&p->lock);
			fuse_reply_ioctl(req, 0, ws, sizeof(ws));
		}
		return;
	case TIOCSWINSZ:
		NEED_IN(sizeof(cp->ws));
		pthread_mutex_lock(&p->lock);
		memcpy(cp->ws, in_buf, sizeof(cp->ws));
		pthread_mutex_unlock(&p->lock);
		fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	default:
		fuse_reply_err(req, ENOTTY);
		return;
	}
}

/* ---- on the port's queue ---- */

static void
cuse_run_line_block(void *data)
{
	struct cuse_block *b = data;
	struct udk_serial_port *p = b->p;
	struct cuse_port *cp = p->cuse;
	struct udk_serial_line line, old;
	int r = 0;

	if (atomic_load(&p->stopping)) {
		fuse_reply_err(b->req, EIO);
		goto out;
	}
	pty_decode(&b->t, &line);	/* reads the struct termios2 at the start */
	pthread_mutex_lock(&p->lock);
	old = p->line;
	pthread_mutex_unlock(&p->lock);
	if (memcmp(&line, &old, sizeof(line)) != 0 && SERIAL_HAS_OP(&p->ops, set_line)) {
		udk_clear_reason();
		r = p->ops.set_line(p, &line, p->ctx);
	}
	if (r < 0) {
		const char *why = udk_error_reason();
		char msg[SERIAL_REASON_MAX];
		struct udk_value *s = udk_value_new_dict();

		snprintf(msg, sizeof(msg), "%s: the driver refused %" PRIu32 " baud %u%c%u%s: %s; the port keeps %" PRIu32
			 " baud", p->name, line.baud, line.data_bits, "NOEMS"[line.parity % 5], line.stop_bits,
			 line.rts_cts ? " RTS/CTS" : "", why && *why ? why : udk_strerror(r), old.baud);
		udk_log_warning("%s", msg);
		udk_dict_set_string(s, "UDKSerialRefusal", msg);
		serial_send_status(p, s);
		/* CUSE can say no: tcsetattr fails, the old settings stay */
		fuse_reply_err(b->req, EINVAL);
		goto out;
	}
	serial_termios_normalize(&b->t);
	pthread_mutex_lock(&p->lock);
	p->line = line;
	cp->t = b->t;
	atomic_store(&p->rts_cts, line.rts_cts);
	pthread_mutex_unlock(&p->lock);
	if (memcmp(&line, &old, sizeof(line)) != 0) {
		struct udk_value *s = udk_value_new_dict();
		udk_dict_set_take(s, "UDKSerialLine", serial_line_value(&line));
		serial_send_status(p, s);
	}
	fuse_reply_ioctl(b->req, 0, NULL, 0);
	/* CLOCAL may have changed: opens waiting for carrier look again */
	serial_wake_thread(p);
out:
	serial_port_unref(p);
	free(b);
}

static void
cuse_run_other_block(void *data)
{
	struct cuse_block *b = data;
	struct udk_serial_port *p = b->p;

	if (atomic_load(&p->stopping)) {
		if (b->req)
			fuse_reply_err(b->req, EIO);
		goto out;
	}
	if (b->kind == BLOCK_MODEM) {
		uint32_t want = (b->value & M_DTR ? UDK_SERIAL_DTR : 0) | (b->value & M_RTS ? UDK_SERIAL_RTS : 0), lines;

		pthread_mutex_lock(&p->lock);
		if (b->cmd == TIOCMSET)
			p->modem_out = want;
		else if (b->cmd == TIOCMBIS)
			p->modem_out |= want;
		else
			p->modem_out &= ~want;
		lines = p->modem_out;
		p->status_dirty = true;
		pthread_mutex_unlock(&p->lock);
		if (SERIAL_HAS_OP(&p->ops, set_modem))
			p->ops.set_modem(p, lines, p->ctx);
		serial_wake_thread(p);	/* the registry hears of it */
	} else if (SERIAL_HAS_OP(&p->ops, set_break)) {
		p->ops.set_break(p, b->value != 0, p->ctx);
	}
	if (b->req)
		fuse_reply_ioctl(b->req, 0, NULL, 0);
out:
	serial_port_unref(p);
	free(b);
}

void
cuse_block_failed(udk_block_fn fn, void *data)
{
	struct cuse_block *b = data;

	if (fn != cuse_run_line_block && fn != cuse_run_other_block)
		return;
	if (b->req)
		fuse_reply_err(b->req, EIO);
	free(b);
}

/* ---- the thread ---- */

static void
receive(struct cuse_dev *dev)
{
	for (int round = 0; round < 64; round++) {
		int r = fuse_session_receive_buf(dev->se, &dev->buf);

		if (r <= 0)
			return;		/* EAGAIN: nothing more; ENODEV: the device is gone */
		fuse_session_process_buf(dev->se, &dev->buf);
	}
}

void *
cuse_thread(void *data)
{
	struct udk_serial_port *p = data;
	struct cuse_port *cp = p->cuse;

	pthread_setname_np(pthread_self(), "serial-cuse");
	while (!atomic_load(&p->stopping)) {
		struct pollfd pfd[3];
		int timeout = -1;
		uint64_t now;

		serve(cp);
		now = now_ns();
		if (cp->brk_req && now >= cp->brk_end_ns) {
			queue_cuse_block(cp, BLOCK_BREAK, cp->brk_req, TIOCCBRK, 0, NULL);
			cp->brk_req = NULL;
		}
		atomic_store(&p->rx.h->consumer_waiting, 1);
		atomic_store(&p->tx.h->producer_waiting, 1);
		/* seq_cst: flags set before the rings are re-checked; pairs with
		 * the fences in udk_serial_rx_commit and udk_serial_tx_consume */
		atomic_thread_fence(memory_order_seq_cst);
		if (cp->waiting && serve(cp)) {
			atomic_store(&p->rx.h->consumer_waiting, 0);
			atomic_store(&p->tx.h->producer_waiting, 0);
			continue;
		}
		for (int i = 0; i < MAX_POLLERS; i++)
			if (cp->pollers[i].ph && (ready_events(cp) & cp->pollers[i].events))
				timeout = 0;	/* serve() notifies it next round */
		for (int i = 0; i < 2; i++)
			pfd[i] = (struct pollfd){ cp->dev[i].fd, POLLIN, 0 };
		pfd[2] = (struct pollfd){ p->wake_fd, POLLIN, 0 };
		if (cp->brk_req)
			timeout = (int)((cp->brk_end_ns - MIN(now, cp->brk_end_ns)) / 1000000) + 1;
		pthread_mutex_lock(&p->lock);
		if (p->status_dirty && (timeout < 0 || timeout > 100))
			timeout = 100;
		pthread_mutex_unlock(&p->lock);
		int r = poll(pfd, 3, timeout);
		atomic_store(&p->rx.h->consumer_waiting, 0);
		atomic_store(&p->tx.h->producer_waiting, 0);
		if (r < 0 && errno != EINTR)
			break;
		if (pfd[2].revents & POLLIN) {
			uint64_t v;
			ssize_t n = read(p->wake_fd, &v, sizeof(v));
			(void)n;
		}
		for (int i = 0; i < 2; i++)
			if (pfd[i].revents & POLLIN)
				receive(&cp->dev[i]);
		serial_flush_status(p, false);
	}
	/* the port goes: whoever waits hears EIO, pollers a hang-up */
	cp->gone = true;
	serve(cp);
	if (cp->brk_req) {
		fuse_reply_err(cp->brk_req, EIO);
		cp->brk_req = NULL;
	}
	return NULL;
}

/* ---- setup and teardown ---- */

static const struct cuse_lowlevel_ops cuse_ops = {
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.ioctl = op_ioctl,
	.poll = op_poll,
};

int
cuse_port_start(struct udk_serial_port *p, int fds[2], uint32_t minor, const struct udk_serial_line *initial)
{
	static const struct fuse_custom_io io = { .writev = io_writev, .read = io_read };
	struct cuse_port *cp;
	int r = 0;

	cp = calloc(1, sizeof(*cp));
	if (!cp) {
		close(fds[0]);
		close(fds[1]);
		return -ENOMEM;
	}
	cp->p = p;
	cp->dev[0].fd = fds[0];
	cp->dev[1].fd = fds[1];
	p->cuse = cp;
	p->line = *initial;
	initial_termios(&cp->t, initial);
	for (int i = 0; i < 2 && r == 0; i++) {
		struct cuse_dev *dev = &cp->dev[i];
		const char *argv[] = { "udk-serial", NULL };
		const char *info[] = { i ? "DEVNAME=cu" : "DEVNAME=tty" };	/* udkd's reply named it */
		struct fuse_args args = FUSE_ARGS_INIT(1, (char **)argv);
		struct cuse_info ci = { .dev_info_argc = 1, .dev_info_argv = info, .flags = CUSE_UNRESTRICTED_IOCTL };
		struct fake_init init = {
			.len = sizeof(init), .opcode = CUSE_INIT_OP, .unique = FAKE_UNIQUE,
			.major = 7, .minor = minor, .flags = CUSE_FLAG_UNRESTRICTED,
		};
		struct fuse_buf fb = { .size = sizeof(init), .mem = &init };

		dev->cp = cp;
		dev->which = i;
		fcntl(dev->fd, F_SETFL, fcntl(dev->fd, F_GETFL) | O_NONBLOCK);
		dev->se = cuse_lowlevel_new(&args, &ci, &cuse_ops, dev);
		fuse_opt_free_args(&args);
		if (!dev->se) {
			r = udk_error_set(-ENOMEM, "libfuse could not make a CUSE session");
			break;
		}
		if (fuse_session_custom_io(dev->se, &io, dev->fd) != 0) {
			r = udk_error_set(-EINVAL, "libfuse refused the CUSE descriptor");
			break;
		}
		dev->se_owns_fd = true;
		/* the session's own init (udkd did the kernel's) */
		fuse_session_process_buf(dev->se, &fb);
		if (!dev->init_swallowed) {
			r = udk_error_set(-EPROTO, "libfuse did not take the CUSE_INIT (FUSE 7.%u)", minor);
			break;
		}
	}
	return r;	/* on failure cuse_port_free (the port's last reference) closes them */
}

void
cuse_port_stop(struct udk_serial_port *p)
{
	(void)p;
	/* the thread answered everything waiting; the sessions stay until the
	 * last block on the queue has answered its request (cuse_port_free) */
}

void
cuse_port_free(struct udk_serial_port *p)
{
	struct cuse_port *cp = p->cuse;

	for (int i = 0; i < MAX_POLLERS; i++)
		if (cp->pollers[i].ph)
			fuse_pollhandle_destroy(cp->pollers[i].ph);
	while (cp->waiting) {
		struct waiter *w = cp->waiting;
		cp->waiting = w->next;
		fuse_reply_err(w->req, EIO);
		free_waiter(w);
	}
	for (int i = 0; i < 2; i++) {
		if (cp->dev[i].se)
			fuse_session_destroy(cp->dev[i].se);	/* closes the descriptor: the device goes */
		if (!cp->dev[i].se_owns_fd && cp->dev[i].fd >= 0)
			close(cp->dev[i].fd);
		free(cp->dev[i].buf.mem);
	}
	free(cp);
	p->cuse = NULL;
}

#else /* !UDK_HAVE_CUSE */

int
cuse_port_start(struct udk_serial_port *p, int fds[2], uint32_t minor, const struct udk_serial_line *initial)
{
	(void)p;
	(void)minor;
	(void)initial;
	close(fds[0]);
	close(fds[1]);
	return udk_error_set(-UDK_E_UNSUPPORTED, "this libudk-serial was built without libfuse3: no CUSE backend");
}

void
cuse_port_stop(struct udk_serial_port *p)
{
	(void)p;
}

void
cuse_port_free(struct udk_serial_port *p)
{
	(void)p;
}

void *
cuse_thread(void *data)
{
	return data;
}

void
cuse_block_failed(udk_block_fn fn, void *data)
{
	(void)fn;
	(void)data;
}

#endif
