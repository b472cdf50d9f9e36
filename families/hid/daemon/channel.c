/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/channel.c - the HID channel of each driver process
 * (proto-hid.h): a SOCK_SEQPACKET socketpair udkd makes on the driver's
 * first OP_HID_CHANNEL.  udkd's end is non-blocking; what the kernel will
 * not take waits here, and a driver that leaves more than
 * HID_CHAN_BACKLOG bytes unread is not reading its devices: it is killed.
 * Every datagram from the driver is walked (proto_hid_walk) before any
 * record is acted on; a malformed one kills the driver with the reason.
 */
#include <sys/socket.h>

#include "hid-private.h"
#include "util.h"

struct pending_dgram {
	struct pending_dgram *next;
	size_t len;
	uint8_t data[];
};

struct hid_chan *
hid_chan_of(struct udkd *d, struct driver_proc *p)
{
	for (struct hid_chan *c = hid_state(d)->chans; c; c = c->next)
		if (c->proc == p)
			return c;
	return NULL;
}

struct hid_handle *
hid_handle_find(struct hid_chan *c, uint32_t id)
{
	for (struct hid_handle *h = c ? c->handles : NULL; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

unsigned
hid_chan_count(struct hid_chan *c, bool owners_only)
{
	unsigned n = 0;

	for (struct hid_handle *h = c->handles; h; h = h->next)
		n += !owners_only || h->owner;
	return n;
}

struct hid_handle *
hid_handle_new(struct hid_chan *c, struct hid_dev *dev, bool owner)
{
	struct hid_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->chan = c;
	h->id = ++c->next_id;
	h->dev = dev;
	h->owner = owner;
	h->bundle = strdup(c->proc->bundle && c->proc->bundle->identifier ? c->proc->bundle->identifier : "?");
	h->next = c->handles;
	c->handles = h;
	return h;
}

void
hid_handle_free(struct hid_handle *h)
{
	struct hid_chan *c = h->chan;

	for (struct hid_handle **pp = &c->handles; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	while (h->journal.head) {
		struct hid_frame *f = h->journal.head;
		h->journal.head = f->next;
		free(f);
	}
	free(h->bundle);
	free(h);
}

static void chan_free(struct udkd *d, struct hid_chan *c);

static int
flush_pending(struct hid_chan *c)
{
	while (c->pending) {
		struct pending_dgram *pd = c->pending;
		ssize_t n = send(c->fd, pd->data, pd->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 1 : -errno;
		c->pending = pd->next;
		if (!c->pending)
			c->pending_tail = &c->pending;
		c->pending_bytes -= pd->len;
		free(pd);
	}
	return 0;
}

static int
send_dgram(struct udkd *d, struct hid_chan *c, const void *data, size_t len)
{
	struct pending_dgram *pd;

	if (c->fd < 0)
		return -EPIPE;
	if (!c->pending) {
		ssize_t n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
	if (c->pending_bytes + len > HID_CHAN_BACKLOG) {
		log_error(d, "%s (pid %d) leaves %zu bytes of HID input unread: it is not reading its devices",
			  c->proc->label, c->proc->pid, c->pending_bytes);
		if (c->proc->instance && !c->proc->instance->fail_reason)
			c->proc->instance->fail_reason = strdup("UDK_E_LIMIT: stopped reading its HID devices");
		proc_kill_code(d, c->proc, -UDK_E_LIMIT,
			       "it left %zu bytes of HID input unread, udkd's bound: it is not reading its devices; "
			       "its queues must not block the one that reads HID input",
			       c->pending_bytes);
		return -ENOBUFS;
	}
	pd = malloc(sizeof(*pd) + len);
	if (!pd)
		return -ENOMEM;
	pd->next = NULL;
	pd->len = len;
	memcpy(pd->data, data, len);
	*c->pending_tail = pd;
	c->pending_tail = &pd->next;
	c->pending_bytes += len;
	loop_source_set_events(c->src, EPOLLIN | EPOLLOUT);
	return 1;
}

int
hid_chan_send(struct udkd *d, struct hid_chan *c, const struct proto_hid_rec *rec, const void *payload)
{
	uint8_t buf[sizeof(struct proto_hid_rec) + PROTO_HID_MAX_PAYLOAD + PROTO_HID_REC_ALIGN];
	size_t size = proto_hid_rec_size(rec->len);

	if (rec->len > PROTO_HID_MAX_PAYLOAD)
		return -EMSGSIZE;
	memcpy(buf, rec, sizeof(*rec));
	if (rec->len)
		memcpy(buf + sizeof(*rec), payload, rec->len);
	memset(buf + sizeof(*rec) + rec->len, 0, size - sizeof(*rec) - rec->len);
	return send_dgram(d, c, buf, size);
}

struct walk_ctx {
	struct udkd *d;
	struct hid_chan *c;
};

static int
on_record(void *data, const struct proto_hid_rec *rec, const uint8_t *payload)
{
	struct walk_ctx *w = data;
	struct hid_handle *h;

	if (rec->type == PROTO_HID_REC_REPLY) {
		hid_virtual_reply(w->d, w->c, rec, payload);
		return 0;
	}
	h = hid_handle_find(w->c, rec->handle);
	if (!h)
		return 0; /* closed by udkd meanwhile: the driver will hear */
	switch (rec->type) {
	case PROTO_HID_REC_START:
		hid_handle_start(w->d, h);
		break;
	case PROTO_HID_REC_ACK:
		if (h->owner)
			return udk_set_reason(-UDK_E_PROTOCOL, "an acknowledgement on a virtual device's own handle %u",
					      h->id);
		hid_handle_ack(w->d, h, rec->seq);
		break;
	case PROTO_HID_REC_INPUT:
		if (!h->owner)
			return udk_set_reason(-UDK_E_PROTOCOL,
					      "an input report on handle %u, a device the driver opened, not one it made",
					      h->id);
		hid_virtual_input(w->d, h, rec->time_ns, payload, rec->len);
		break;
	default:
		break;
	}
	return 0;
}

static void
on_chan(struct loop *l, int fd, uint32_t events, void *data)
{
	struct hid_chan *c = data;
	struct driver_proc *p = proc_ref(c->proc);
	struct udkd *d = p->d;
	static uint8_t buf[PROTO_HID_MAX_DATAGRAM + 1];

	(void)l;
	if (events & EPOLLOUT) {
		int r = flush_pending(c);
		if (r == 0)
			loop_source_set_events(c->src, EPOLLIN);
		else if (r < 0)
			goto gone;
	}
	for (int i = 0; i < 64 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)); i++) {
		struct walk_ctx w = { d, c };
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		int r;

		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			goto gone;
		if ((size_t)n > PROTO_HID_MAX_DATAGRAM) {
			udk_set_reason(-UDK_E_PROTOCOL, "a HID channel datagram of %zd bytes", n);
			r = -UDK_E_PROTOCOL;
		} else {
			r = proto_hid_walk(buf, (size_t)n, 0, on_record, &w);
		}
		if (r < 0) {
			char *why = strdup_printf("sent a malformed HID channel message: %s",
						  udk_error_reason() ? udk_error_reason() : "?");
			if (p->instance && !p->instance->fail_reason)
				p->instance->fail_reason = strdup_printf("UDK_E_PROTOCOL: %s",
									 why ? why : "malformed HID channel message");
			proc_kill_code(d, p, -UDK_E_PROTOCOL, "protocol: it %s; link it with libudk-hid of this udk",
				       why ? why : "sent a malformed HID channel message");
			free(why);
			break;
		}
		/* a record may have killed the driver (backlog): its channel is gone */
		if (hid_chan_of(d, p) != c)
			break;
	}
	proc_unref(p);
	return;
gone:
	/* the driver closed its end: it is exiting; its death ends the handles */
	loop_source_remove(c->src);
	c->src = NULL;
	proc_unref(p);
}

void
hid_chan_open(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct hid_state *st = hid_state(d);
	struct hid_chan *c;
	int sv[2], big = 1 << 20;

	if (p->kind != PROC_KIND_DRIVER || !p->bundle) {
		proc_reply(p, m, -EPERM, "only drivers have a HID channel", NULL, NULL, 0);
		return;
	}
	if (hid_chan_of(d, p)) {
		proc_reply(p, m, -EEXIST, "this driver process already has its HID channel", NULL, NULL, 0);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		proc_reply(p, m, -errno, "cannot make a HID channel", NULL, NULL, 0);
		return;
	}
	fd_set_nonblock(sv[0], true);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	c->proc = proc_ref(p);
	c->fd = sv[0];
	c->pending_tail = &c->pending;
	if (loop_add_fd(d->loop, c->fd, EPOLLIN, on_chan, c, &c->src) < 0) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		close(sv[1]);
		chan_free(d, c);
		return;
	}
	c->next = st->chans;
	st->chans = c;
	proc_reply(p, m, 0, NULL, NULL, &sv[1], 1);
	close(sv[1]);
}

static void
chan_free(struct udkd *d, struct hid_chan *c)
{
	while (c->handles)
		hid_handle_free(c->handles);
	hid_requests_fail(d, c);
	while (c->pending) {
		struct pending_dgram *pd = c->pending;
		c->pending = pd->next;
		free(pd);
	}
	loop_source_remove(c->src);
	if (c->fd >= 0)
		close(c->fd);
	proc_unref(c->proc);
	free(c);
}

void
hid_chan_proc_died(struct udkd *d, struct driver_proc *p)
{
	struct hid_state *st = hid_state(d);
	struct hid_chan *c = hid_chan_of(d, p);

	if (!c)
		return;
	for (struct hid_chan **pp = &st->chans; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	/* nothing more goes to a dead driver */
	loop_source_remove(c->src);
	c->src = NULL;
	close(c->fd);
	c->fd = -1;
	/* a seizer that did not close its device hands its frames over */
	while (c->handles)
		hid_handle_end(d, c->handles, true);
	chan_free(d, c);
}

void
hid_chans_fini(struct udkd *d)
{
	struct hid_state *st = hid_state(d);

	while (st->chans) {
		struct hid_chan *c = st->chans;
		st->chans = c->next;
		chan_free(d, c);
	}
}
