/* SPDX-License-Identifier: MIT */
/*
 * serial/driver/serial.c - libudk-serial: serial ports for drivers
 * (<udk/families/serial.h>).
 *
 * udkd makes the terminal device and its names and hands this process the
 * ends it needs (proto-serial.h); the driver never opens /dev.  With the
 * pty backend those are the pty master and the slave: the slave is held
 * open so line settings persist between apps, as they do on a UART.  With
 * the CUSE backend they are the two CUSE devices' descriptors, served by
 * cuse.c's thread in place of the I/O thread below.
 *
 * One I/O thread per port moves bytes between the master and the two
 * byte rings (bring.c): the app's writes are read from the master straight
 * into the TX ring, the driver's received bytes are written to the master
 * straight from the RX ring.  It also watches the slave's settings
 * (pty.c) and hands them to the driver's set_line on the port's queue.
 *
 * Sleeping and waking: a side about to sleep sets the ring's *_waiting
 * flag, then (seq_cst fence) re-checks the ring; the other side moves its
 * index, then (seq_cst fence) reads the flag and wakes the sleeper: the
 * I/O thread through its eventfd, the driver by dispatching tx_ready or
 * rx_space on the port's queue.  Each fence comment names its partner.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <udk/families/serial.h>

#include "private.h"
#include "proto-serial.h"
#include "serial-private.h"
#include "util.h"
#include "wire.h"

#define RING_DEFAULT (256u * 1024)
#define RING_MIN 4096u
#define RING_MAX (16u * 1024 * 1024)
#define SETTINGS_POLL_MS 5
#define STATUS_MIN_INTERVAL_NS (100ull * 1000 * 1000)


struct udk_serial_port *
serial_port_ref(struct udk_serial_port *p)
{
	atomic_fetch_add(&p->refcount, 1);
	return p;
}

void
serial_port_unref(struct udk_serial_port *p)
{
	if (atomic_fetch_sub(&p->refcount, 1) != 1)
		return;
	if (p->cuse)
		cuse_port_free(p);
	bring_fini(&p->rx);
	bring_fini(&p->tx);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	pthread_mutex_destroy(&p->lock);
	udk_queue_unref(p->queue);
	udk_service_unref(p->self);
	free(p->name);
	free(p->dialin);
	free(p->callout);
	free(p->backend);
	free(p);
}

static bool
has_op(const struct udk_serial_ops *ops, size_t end)
{
	return ops->struct_size >= end;
}
#define HAS(ops, f) (has_op(ops, offsetof(struct udk_serial_ops, f) + sizeof((ops)->f)) && (ops)->f)

void
serial_wake_thread(struct udk_serial_port *p)
{
	uint64_t one = 1;
	ssize_t n = write(p->wake_fd, &one, sizeof(one));
	(void)n;
}

/* ---- status to udkd (registry properties of the port) ---- */

struct udk_value *
serial_line_value(const struct udk_serial_line *l)
{
	static const char *const parity[] = { "none", "odd", "even", "mark", "space" };
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_int(v, "baud", l->baud);
	udk_dict_set_int(v, "data_bits", l->data_bits);
	udk_dict_set_string(v, "parity", l->parity < 5 ? parity[l->parity] : "?");
	udk_dict_set_int(v, "stop_bits", l->stop_bits);
	udk_dict_set_bool(v, "rts_cts", l->rts_cts);
	udk_dict_set_bool(v, "xon_xoff", l->xon_xoff);
	return v;
}

void
serial_send_status(struct udk_serial_port *p, struct udk_value *status)
{
	struct udk_value *b = udk_value_new_dict();

	udk_dict_set_uint(b, "port", p->id);
	udk_dict_set(b, "status", status);
	if (rt.connected)
		wire_send_value(rt.sock, OP_SERIAL_PORT_STATUS, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
	udk_value_unref(b);
	udk_value_unref(status);
}

/* Counters and modem lines, at most every 100 ms (the I/O thread flushes the rest). */
void
serial_flush_status(struct udk_serial_port *p, bool force)
{
	struct udk_value *s, *e, *m;
	uint64_t now = udk_time_now_ns();

	pthread_mutex_lock(&p->lock);
	if (!p->status_dirty || (!force && now - p->status_sent_ns < STATUS_MIN_INTERVAL_NS)) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	p->status_dirty = false;
	p->status_sent_ns = now;
	s = udk_value_new_dict();
	e = udk_value_new_dict();
	udk_dict_set_uint(e, "framing", p->errors.framing);
	udk_dict_set_uint(e, "parity", p->errors.parity);
	udk_dict_set_uint(e, "overrun", p->errors.overrun);
	udk_dict_set_uint(e, "breaks", p->errors.breaks);
	m = udk_value_new_dict();
	udk_dict_set_bool(m, "DTR", p->modem_out & UDK_SERIAL_DTR);
	udk_dict_set_bool(m, "RTS", p->modem_out & UDK_SERIAL_RTS);
	udk_dict_set_bool(m, "CTS", p->modem_in & UDK_SERIAL_CTS);
	udk_dict_set_bool(m, "DSR", p->modem_in & UDK_SERIAL_DSR);
	udk_dict_set_bool(m, "DCD", p->modem_in & UDK_SERIAL_DCD);
	udk_dict_set_bool(m, "RI", p->modem_in & UDK_SERIAL_RI);
	pthread_mutex_unlock(&p->lock);
	udk_dict_set_take(s, "UDKSerialErrors", e);
	udk_dict_set_take(s, "UDKSerialModem", m);
	serial_send_status(p, s);
}

/* ---- blocks on the port's queue ---- */

struct line_block {
	struct udk_serial_port *port;
	_Alignas(8) unsigned char termios[PTY_TERMIOS_SIZE];
};

static void
apply_line(void *data)
{
	struct line_block *b = data;
	struct udk_serial_port *p = b->port;
	struct udk_serial_line line, old;
	int r = 0;

	if (atomic_load(&p->stopping))
		goto out;
	pty_decode(b->termios, &line);
	pthread_mutex_lock(&p->lock);
	old = p->line;
	pthread_mutex_unlock(&p->lock);
	if (memcmp(&line, &old, sizeof(line)) != 0 && HAS(&p->ops, set_line)) {
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
		/* the app's tcsetattr has returned already: put the accepted
		 * settings back so tcgetattr tells the truth */
		pthread_mutex_lock(&p->lock);
		pty_restore_line(p->master, p->good);
		pthread_mutex_unlock(&p->lock);
		goto out;
	}
	pthread_mutex_lock(&p->lock);
	p->line = line;
	memcpy(p->good, b->termios, sizeof(p->good));
	atomic_store(&p->rts_cts, line.rts_cts);
	pthread_mutex_unlock(&p->lock);
	if (memcmp(&line, &old, sizeof(line)) != 0) {
		struct udk_value *s = udk_value_new_dict();
		udk_dict_set_take(s, "UDKSerialLine", serial_line_value(&line));
		serial_send_status(p, s);
	}
out:
	serial_port_unref(p);
	free(b);
}

static void
run_tx_ready(void *data)
{
	struct udk_serial_port *p = data;

	/* clear before calling: bytes arriving meanwhile queue another call */
	atomic_store(&p->tx_notify, 0);
	if (!atomic_load(&p->stopping) && HAS(&p->ops, tx_ready))
		p->ops.tx_ready(p, p->ctx);
	serial_port_unref(p);
}

static void
run_rx_space(void *data)
{
	struct udk_serial_port *p = data;

	atomic_store(&p->rx_space_notify, 0);
	if (!atomic_load(&p->stopping) && HAS(&p->ops, rx_space))
		p->ops.rx_space(p, p->ctx);
	serial_port_unref(p);
}

struct throttle_block {
	struct udk_serial_port *port;
	bool stop;
};

static void
run_throttle(void *data)
{
	struct throttle_block *b = data;
	struct udk_serial_port *p = b->port;

	if (!atomic_load(&p->stopping)) {
		if (HAS(&p->ops, rx_throttle)) {
			p->ops.rx_throttle(p, b->stop, p->ctx);
		} else if (HAS(&p->ops, set_modem)) {
			uint32_t lines;
			pthread_mutex_lock(&p->lock);
			p->modem_out = b->stop ? (p->modem_out & ~(uint32_t)UDK_SERIAL_RTS) : (p->modem_out | UDK_SERIAL_RTS);
			lines = p->modem_out;
			p->status_dirty = true;
			pthread_mutex_unlock(&p->lock);
			p->ops.set_modem(p, lines, p->ctx);
		}
	}
	serial_port_unref(p);
	free(b);
}

void
serial_queue_block(struct udk_serial_port *p, udk_block_fn fn, void *data)
{
	serial_port_ref(p);
	if (udk_queue_dispatch_async(p->queue, fn, data) < 0) {
		/* the queue is stopping: the port goes with it */
		serial_port_unref(p);
		if (fn == apply_line || fn == run_throttle)
			free(data);
		else if (fn != run_tx_ready && fn != run_rx_space)
			cuse_block_failed(fn, data);
	}
}

void
serial_notify_tx(struct udk_serial_port *p)
{
	if (atomic_exchange(&p->tx_notify, 1) == 0)
		serial_queue_block(p, run_tx_ready, p);
}

void
serial_throttle(struct udk_serial_port *p, bool stop)
{
	struct throttle_block *b;
	int expect = stop ? 0 : 1;

	if (!atomic_compare_exchange_strong(&p->throttled, &expect, stop ? 1 : 0))
		return;
	b = malloc(sizeof(*b));
	if (!b)
		return;
	b->port = p;
	b->stop = stop;
	serial_queue_block(p, run_throttle, b);
}

/* ---- the I/O thread ---- */

static void
check_settings(struct udk_serial_port *p)
{
	_Alignas(8) unsigned char cur[PTY_TERMIOS_SIZE];
	struct line_block *b;

	if (pty_get(p->master, cur) < 0)
		return;
	p->poll_settings = !pty_has_extproc(cur);
	if (pty_same_line(cur, p->seen))
		return;
	memcpy(p->seen, cur, sizeof(p->seen));
	b = malloc(sizeof(*b));
	if (!b)
		return;
	b->port = p;
	memcpy(b->termios, cur, sizeof(b->termios));
	serial_queue_block(p, apply_line, b);
}

/* RX ring -> master, until the ring is empty or the master is full. */
static void
drain_rx(struct udk_serial_port *p)
{
	bool moved = false;

	while (!p->rx_blocked) {
		uint8_t *ptr;
		uint32_t n = bring_read_ptr(&p->rx, &ptr);
		ssize_t w;

		if (!n)
			break;
		w = write(p->master, ptr, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			p->rx_blocked = true;	/* EAGAIN: the app is not reading; poll POLLOUT */
			break;
		}
		bring_consume(&p->rx, (uint32_t)w);
		moved = true;
	}
	if (moved)
		serial_rx_consumed(p);
}

void
serial_rx_consumed(struct udk_serial_port *p)
{
	if (atomic_load(&p->throttled) && bring_pending(&p->rx) < p->rx.size / 4)
		serial_throttle(p, false);
	/* seq_cst: tail moved (drain_rx, or the CUSE thread's read) before
	 * producer_waiting is read; pairs with the fence in
	 * udk_serial_rx_reserve (flag set, then room re-checked) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->rx.h->producer_waiting)) {
		atomic_store(&p->rx.h->producer_waiting, 0);
		if (atomic_exchange(&p->rx_space_notify, 1) == 0)
			serial_queue_block(p, run_rx_space, p);
	}
}

/* master -> TX ring (and the packet-mode status byte). */
static void
fill_tx(struct udk_serial_port *p)
{
	for (int round = 0; round < 64; round++) {
		unsigned char status = 0;
		struct iovec iov[3];
		uint8_t *ptr;
		uint32_t room = bring_room(&p->tx), contig = bring_write_ptr(&p->tx, &ptr);
		int n_iov = 1;
		ssize_t n;

		iov[0] = (struct iovec){ &status, 1 };
		if (contig) {
			iov[n_iov++] = (struct iovec){ ptr, contig };
			if (room > contig)
				iov[n_iov++] = (struct iovec){ p->tx.data, room - contig };
		}
		n = readv(p->master, iov, n_iov);
		if (n <= 0)
			return;
		if (status != 0) {
			/* a control packet: settings changed, or a flush */
			if (pty_status_is_settings(status))
				check_settings(p);
			continue;
		}
		if (n > 1) {
			bring_produce(&p->tx, (uint32_t)(n - 1));
			serial_notify_tx(p);
		}
		if (!contig)
			return;
	}
}

static void *
io_thread(void *data)
{
	struct udk_serial_port *p = data;

	pthread_setname_np(pthread_self(), "serial-io");
	while (!atomic_load(&p->stopping)) {
		struct pollfd pfd[2];
		int timeout = -1;
		bool tx_full;

		drain_rx(p);
		tx_full = bring_room(&p->tx) == 0;
		atomic_store(&p->rx.h->consumer_waiting, 1);
		atomic_store(&p->tx.h->producer_waiting, tx_full);
		/* seq_cst: flags set before the rings are re-checked; pairs with
		 * the fences in udk_serial_rx_commit and udk_serial_tx_consume */
		atomic_thread_fence(memory_order_seq_cst);
		if ((bring_pending(&p->rx) && !p->rx_blocked) || (tx_full && bring_room(&p->tx))) {
			atomic_store(&p->rx.h->consumer_waiting, 0);
			atomic_store(&p->tx.h->producer_waiting, 0);
			continue;
		}
		pfd[0] = (struct pollfd){ p->master, POLLPRI | (tx_full ? 0 : POLLIN) | (p->rx_blocked ? POLLOUT : 0), 0 };
		pfd[1] = (struct pollfd){ p->wake_fd, POLLIN, 0 };
		if (p->poll_settings)
			timeout = SETTINGS_POLL_MS;
		else {
			pthread_mutex_lock(&p->lock);
			if (p->status_dirty)
				timeout = 100;
			pthread_mutex_unlock(&p->lock);
		}
		int r = poll(pfd, 2, timeout);
		atomic_store(&p->rx.h->consumer_waiting, 0);
		atomic_store(&p->tx.h->producer_waiting, 0);
		if (r < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			uint64_t v;
			ssize_t n = read(p->wake_fd, &v, sizeof(v));
			(void)n;
		}
		if (pfd[0].revents & POLLOUT)
			p->rx_blocked = false;
		if (pfd[0].revents & (POLLIN | POLLPRI))
			fill_tx(p);
		if (p->poll_settings)
			check_settings(p);
		serial_flush_status(p, false);
	}
	return NULL;
}

/* ---- the public API ---- */

static bool
valid_ring_size(uint32_t v)
{
	return v >= RING_MIN && v <= RING_MAX && !(v & (v - 1));
}

UDK_EXPORT int
udk_serial_port_create(struct udk_service *self, const struct udk_serial_config *config,
		       const struct udk_serial_ops *ops, void *ctx, struct udk_serial_port **ret)
{
	static const struct udk_serial_ops no_ops = { UDK_SERIAL_OPS_INIT };
	struct udk_serial_config cfg = { UDK_SERIAL_CONFIG_INIT };
	struct udk_serial_line initial = { sizeof(initial), 9600, 8, 0, 1, false, false, false, 0x11, 0x13, true };
	struct udk_value *body, *reply = NULL;
	struct udk_serial_port *p;
	int fds[2] = { -1, -1 }, r;

	udk_return_val_if_fail(self && ret, -EINVAL);
	if (!ops)
		ops = &no_ops;
	if (config)
		memcpy(&cfg, config, MIN((size_t)config->struct_size, sizeof(cfg)));
	if (!cfg.rx_ring_size)
		cfg.rx_ring_size = RING_DEFAULT;
	if (!cfg.tx_ring_size)
		cfg.tx_ring_size = RING_DEFAULT;
	if (!valid_ring_size(cfg.rx_ring_size) || !valid_ring_size(cfg.tx_ring_size))
		return udk_error_set(-EINVAL, "ring sizes must be powers of two from 4 KiB to 16 MiB (rx %" PRIu32
				     ", tx %" PRIu32 ")", cfg.rx_ring_size, cfg.tx_ring_size);
	if (cfg.initial.struct_size) {
		memcpy(&initial, &cfg.initial, MIN((size_t)cfg.initial.struct_size, sizeof(initial)));
		initial.struct_size = sizeof(initial);
	}
	if (!initial.baud || initial.data_bits < 5 || initial.data_bits > 8 || initial.stop_bits < 1 ||
	    initial.stop_bits > 2 || initial.parity > UDK_SERIAL_PARITY_SPACE)
		return udk_error_set(-EINVAL, "the initial line settings are not a serial line (baud %" PRIu32
				     ", %u data bits, %u stop bits)", initial.baud, initial.data_bits, initial.stop_bits);

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	atomic_init(&p->refcount, 1);
	p->master = p->slave = p->wake_fd = -1;
	p->rx.memfd = p->tx.memfd = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->self = udk_service_ref(self);
	p->queue = udk_queue_ref(cfg.queue ? cfg.queue : udk_service_get_default_queue(self));
	memcpy(&p->ops, ops, MIN((size_t)ops->struct_size, sizeof(p->ops)));
	p->ops.struct_size = (uint32_t)MIN((size_t)ops->struct_size, sizeof(p->ops));
	p->ctx = ctx;
	p->modem_out = UDK_SERIAL_DTR | UDK_SERIAL_RTS;
	if ((r = bring_init(&p->rx, cfg.rx_ring_size, "udk-serial-rx")) < 0 ||
	    (r = bring_init(&p->tx, cfg.tx_ring_size, "udk-serial-tx")) < 0) {
		serial_port_unref(p);
		return udk_error_set(r, "cannot make the port's rings: %s", strerror(-r));
	}
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		r = -errno;
		serial_port_unref(p);
		return r;
	}

	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", udk_service_get_id(self));
	if (cfg.base_name)
		udk_dict_set_string(body, "base", cfg.base_name);
	if (cfg.suffix)
		udk_dict_set_string(body, "suffix", cfg.suffix);
	r = rt_call_fds(OP_SERIAL_PORT_CREATE, body, &reply, fds, 2);
	udk_value_unref(body);
	if (r < 0) {
		serial_port_unref(p);
		return r;
	}
	p->id = udk_value_get_uint(udk_dict_get(reply, "port"), 0);
	p->name = strdup(udk_dict_get_string(reply, "name") ? udk_dict_get_string(reply, "name") : "?");
	p->dialin = strdup(udk_dict_get_string(reply, "dialin") ? udk_dict_get_string(reply, "dialin") : "?");
	p->callout = strdup(udk_dict_get_string(reply, "callout") ? udk_dict_get_string(reply, "callout") : "?");
	p->backend = strdup(udk_dict_get_string(reply, "backend") ? udk_dict_get_string(reply, "backend") : "?");
	if (p->backend && !strcmp(p->backend, "cuse") && fds[0] >= 0 && fds[1] >= 0) {
		/* udkd made the two CUSE devices; this process serves them */
		r = cuse_port_start(p, fds, (uint32_t)udk_value_get_uint(udk_dict_get(reply, "fuse_minor"), 0),
				    &initial);
		udk_value_unref(reply);
		if (r < 0)
			goto fail;
		goto backend_ready;
	}
	udk_value_unref(reply);
	p->master = fds[0];
	p->slave = fds[1];
	if (!p->name || !p->dialin || !p->callout || !p->backend || p->master < 0 || p->slave < 0 ||
	    strcmp(p->backend, "pty") != 0) {
		r = udk_error_set(-UDK_E_PROTOCOL, "udkd answered the port request without a pty (backend %s)",
				  p->backend ? p->backend : "?");
		goto fail;
	}
	fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK);
	r = pty_setup(p->master, &initial);
	if (r < 0) {
		r = udk_error_set(r, "cannot set up the pty: %s", strerror(-r));
		goto fail;
	}
	pty_get(p->master, p->seen);
	memcpy(p->good, p->seen, sizeof(p->good));
	pty_decode(p->seen, &p->line);
backend_ready:
	if (HAS(&p->ops, set_line)) {
		r = p->ops.set_line(p, &p->line, p->ctx);
		if (r < 0)
			goto fail;
	}
	atomic_store(&p->rts_cts, p->line.rts_cts);
	if (HAS(&p->ops, set_modem))
		p->ops.set_modem(p, p->modem_out, p->ctx);
	{
		struct udk_value *s = udk_value_new_dict();
		udk_dict_set_take(s, "UDKSerialLine", serial_line_value(&p->line));
		serial_send_status(p, s);
	}
	if (pthread_create(&p->thread, NULL, p->cuse ? cuse_thread : io_thread, p) != 0) {
		r = udk_error_set(-EAGAIN, "cannot start the port's I/O thread");
		goto fail;
	}
	p->thread_started = true;
	/* only now do the names appear: an app that opens the port at once
	 * is heard */
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "port", p->id);
	r = rt_call(OP_SERIAL_PORT_PUBLISH, body, NULL);
	udk_value_unref(body);
	if (r < 0)
		goto fail;
	udk_log_info("serial port %s: %s and %s (%s backend)", p->name, p->dialin, p->callout, p->backend);
	*ret = p;
	return 0;
fail:
	udk_serial_port_destroy(p);
	return r;
}

UDK_EXPORT void
udk_serial_port_destroy(struct udk_serial_port *p)
{
	struct udk_value *body;

	if (!p)
		return;
	atomic_store(&p->stopping, true);
	if (p->thread_started) {
		serial_wake_thread(p);
		pthread_join(p->thread, NULL);
	}
	if (p->cuse)
		cuse_port_stop(p);
	if (p->id) {
		body = udk_value_new_dict();
		udk_dict_set_uint(body, "port", p->id);
		rt_call(OP_SERIAL_PORT_DESTROY, body, NULL);
		udk_value_unref(body);
	}
	if (p->master >= 0)
		close(p->master);
	if (p->slave >= 0)
		close(p->slave);
	p->master = p->slave = -1;
	serial_port_unref(p);
}

UDK_EXPORT const char *
udk_serial_port_get_name(const struct udk_serial_port *p)
{
	return p ? p->name : NULL;
}

UDK_EXPORT const char *
udk_serial_port_get_dialin_path(const struct udk_serial_port *p)
{
	return p ? p->dialin : NULL;
}

UDK_EXPORT const char *
udk_serial_port_get_callout_path(const struct udk_serial_port *p)
{
	return p ? p->callout : NULL;
}

UDK_EXPORT const char *
udk_serial_port_get_backend(const struct udk_serial_port *p)
{
	return p ? p->backend : NULL;
}

UDK_EXPORT int
udk_serial_port_get_line(struct udk_serial_port *p, struct udk_serial_line *ret)
{
	udk_return_val_if_fail(p && ret, -EINVAL);
	pthread_mutex_lock(&p->lock);
	*ret = p->line;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

UDK_EXPORT int
udk_serial_rx_reserve(struct udk_serial_port *p, void **ret_ptr, size_t *ret_len)
{
	uint8_t *ptr;
	uint32_t n;

	udk_return_val_if_fail(p && ret_ptr && ret_len, -EINVAL);
	if (atomic_load(&p->stopping))
		return -UDK_E_HARDWARE_GONE;
	n = bring_write_ptr(&p->rx, &ptr);
	if (!n) {
		atomic_store(&p->rx.h->producer_waiting, 1);
		/* seq_cst: the flag is set before room is re-checked; pairs with
		 * the fence in drain_rx (tail moved, then the flag read) */
		atomic_thread_fence(memory_order_seq_cst);
		n = bring_write_ptr(&p->rx, &ptr);
		if (n)
			atomic_store(&p->rx.h->producer_waiting, 0);
	}
	*ret_ptr = ptr;
	*ret_len = n;
	return 0;
}

UDK_EXPORT int
udk_serial_rx_commit(struct udk_serial_port *p, size_t n)
{
	int64_t pending;

	udk_return_val_if_fail(p, -EINVAL);
	if (!n)
		return 0;
	if (n > UINT32_MAX || (pending = bring_produce(&p->rx, (uint32_t)n)) < 0)
		return udk_error_set(-EINVAL, "committed %zu bytes, more than were reserved", n);
	if (atomic_load(&p->rts_cts) && (uint64_t)pending > (uint64_t)p->rx.size * 3 / 4)
		serial_throttle(p, true);
	/* seq_cst: head moved before consumer_waiting is read; pairs with the
	 * fence in io_thread (flag set, then the ring re-checked) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->rx.h->consumer_waiting)) {
		atomic_store(&p->rx.h->consumer_waiting, 0);
		serial_wake_thread(p);
	}
	return 0;
}

UDK_EXPORT ssize_t
udk_serial_rx_write(struct udk_serial_port *p, const void *data, size_t len)
{
	size_t done = 0;

	udk_return_val_if_fail(p && (data || !len), -EINVAL);
	while (done < len) {
		void *ptr;
		size_t room;
		int r = udk_serial_rx_reserve(p, &ptr, &room);
		if (r < 0)
			return done ? (ssize_t)done : r;
		if (!room)
			break;
		if (room > len - done)
			room = len - done;
		memcpy(ptr, (const uint8_t *)data + done, room);
		udk_serial_rx_commit(p, room);
		done += room;
	}
	return (ssize_t)done;
}

UDK_EXPORT size_t
udk_serial_rx_room(struct udk_serial_port *p)
{
	return p ? bring_room(&p->rx) : 0;
}

UDK_EXPORT int
udk_serial_tx_peek(struct udk_serial_port *p, const void **ret_ptr, size_t *ret_len)
{
	uint8_t *ptr;

	udk_return_val_if_fail(p && ret_ptr && ret_len, -EINVAL);
	if (atomic_load(&p->stopping))
		return -UDK_E_HARDWARE_GONE;
	*ret_len = bring_read_ptr(&p->tx, &ptr);
	*ret_ptr = ptr;
	return 0;
}

UDK_EXPORT int
udk_serial_tx_consume(struct udk_serial_port *p, size_t n)
{
	udk_return_val_if_fail(p, -EINVAL);
	if (!n)
		return 0;
	if (n > UINT32_MAX || bring_consume(&p->tx, (uint32_t)n) < 0)
		return udk_error_set(-EINVAL, "consumed %zu bytes, more than were waiting", n);
	/* seq_cst: tail moved before producer_waiting is read; pairs with the
	 * fence in io_thread (flag set, then room re-checked) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&p->tx.h->producer_waiting)) {
		atomic_store(&p->tx.h->producer_waiting, 0);
		serial_wake_thread(p);
	}
	return 0;
}

UDK_EXPORT size_t
udk_serial_tx_pending(struct udk_serial_port *p)
{
	return p ? bring_pending(&p->tx) : 0;
}

UDK_EXPORT int
udk_serial_report_modem(struct udk_serial_port *p, uint32_t lines)
{
	udk_return_val_if_fail(p, -EINVAL);
	lines &= UDK_SERIAL_CTS | UDK_SERIAL_DSR | UDK_SERIAL_DCD | UDK_SERIAL_RI;
	pthread_mutex_lock(&p->lock);
	if (p->modem_in != lines) {
		p->modem_in = lines;
		p->status_dirty = true;
	}
	pthread_mutex_unlock(&p->lock);
	serial_wake_thread(p);
	return 0;
}

UDK_EXPORT int
udk_serial_report_errors(struct udk_serial_port *p, const struct udk_serial_errors *add)
{
	udk_return_val_if_fail(p && add, -EINVAL);
	pthread_mutex_lock(&p->lock);
	p->errors.framing += add->framing;
	p->errors.parity += add->parity;
	p->errors.overrun += add->overrun;
	p->errors.breaks += add->breaks;
	p->status_dirty = true;
	pthread_mutex_unlock(&p->lock);
	serial_wake_thread(p);
	return 0;
}

UDK_EXPORT int
udk_serial_port_get_errors(struct udk_serial_port *p, struct udk_serial_errors *ret)
{
	udk_return_val_if_fail(p && ret, -EINVAL);
	pthread_mutex_lock(&p->lock);
	*ret = p->errors;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

UDK_EXPORT uint32_t
udk_serial_port_get_modem(struct udk_serial_port *p)
{
	uint32_t v;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	v = p->modem_in | p->modem_out;
	pthread_mutex_unlock(&p->lock);
	return v;
}
