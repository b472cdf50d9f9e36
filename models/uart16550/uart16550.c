/* SPDX-License-Identifier: MIT */
/*
 * uart16550 - a simulated 16550-style UART on PCI (programming model in
 * drivers/uart16550/uart-regs.h): registers, a FIFO, modem lines, errors
 * and an interrupt, plus a burst interface through BAR1.
 *
 * Properties (machine description):
 *   Line     what is at the other end of the wire:
 *            "loopback" (a loopback plug: TX to RX, RTS to CTS, DTR to
 *            DSR and DCD; the default), "board" (the custom board of
 *            board.c; the default of the custom-board executable),
 *            "socket" (a Unix stream socket at LinePath, e.g. a test),
 *            "none" (nothing: TX bytes vanish, CTS DSR DCD low).
 *   LinePath the socket for Line "socket".
 *   Paced    true: bytes move at the programmed baud (10 bits a byte);
 *            false (default): as fast as the model runs.
 *
 * A line thread moves bytes between the rings and the line; register
 * callbacks run on the model's main thread.  One mutex covers the state.
 * Without MCR.AFE, bytes that find the RX FIFO full are lost and counted
 * as overruns (LSR.OE), as on the hardware; with AFE the sender waits.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <udk/families/pci-devmodel.h>

#include "board.h"
#include "uart-regs.h"

#ifndef UART_DEFAULT_LINE
#define UART_DEFAULT_LINE "loopback"
#endif
/* the custom board's UART says so in its subsystem id, so a personality
 * can give it its own name (IOPCISecondaryMatch 0x00021234) */
#ifndef UART_SUBSYSTEM
#define UART_SUBSYSTEM 0x0001
#endif

enum line_kind { LINE_LOOPBACK, LINE_BOARD, LINE_SOCKET, LINE_NONE };

struct uart {
	struct udk_dm_function *fn;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, dld, lsr_err, msr_last;
	uint32_t xctrl;
	struct uart_shm *shm;
	uint8_t *tx, *rx;		/* the rings in BAR1 */
	uint32_t tx_tail, rx_head;	/* the model's own indices (mirrored in shm) */
	bool break_seen;
	enum line_kind line;
	int sock;			/* LINE_SOCKET */
	char *sock_path;
	struct board board;
	bool paced;
	double budget;			/* bytes the line may still move (paced) */
	uint64_t budget_ns;
	int kick;			/* eventfd: wake the line thread */
	pthread_t thread;
};

#define RING_MASK (UART_RING_SIZE - 1)

/* Loads and stores of the fields the other side of BAR1 writes/reads. */
static uint32_t
load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void
kick(struct uart *u)
{
	uint64_t one = 1;
	ssize_t n = write(u->kick, &one, sizeof(one));
	(void)n;
}

static uint32_t
baud(const struct uart *u)
{
	/* the divisor in 1/16ths: DLM:DLL and DLD's fraction */
	uint64_t div16 = ((uint64_t)u->dll | (uint64_t)u->dlm << 8) * 16 + (u->dld & 0x0f);
	return div16 ? (uint32_t)((uint64_t)UART_CLOCK_HZ * 16 / div16) : 0;
}

/* What the driver has put in the TX ring and not yet sent; corrupt indices read as empty. */
static uint32_t
tx_pending(struct uart *u)
{
	/* acquire: pairs with the driver's release store of tx_head (uart16550.c, tx_pump) */
	uint32_t n = load_acquire(&u->shm->tx_head) - u->tx_tail;
	return n > UART_RING_SIZE ? 0 : n;
}

static uint32_t
rx_used(struct uart *u)
{
	/* acquire: pairs with the driver's release store of rx_tail (uart16550.c, rx_pump) */
	uint32_t n = u->rx_head - load_acquire(&u->shm->rx_tail);
	return n > UART_RING_SIZE ? UART_RING_SIZE : n;
}

static uint32_t
rx_room(struct uart *u)
{
	return UART_RING_SIZE - rx_used(u);
}

static void
ring_copy_out(const uint8_t *ring, uint32_t idx, uint8_t *dst, uint32_t n)
{
	uint32_t off = idx & RING_MASK, first = n < UART_RING_SIZE - off ? n : UART_RING_SIZE - off;
	memcpy(dst, ring + off, first);
	memcpy(dst + first, ring, n - first);
}

static void
ring_copy_in(uint8_t *ring, uint32_t idx, const uint8_t *src, uint32_t n)
{
	uint32_t off = idx & RING_MASK, first = n < UART_RING_SIZE - off ? n : UART_RING_SIZE - off;
	memcpy(ring + off, src, first);
	memcpy(ring, src + first, n - first);
}

static void
publish(struct uart *u)
{
	/* release: ring bytes before indices; pairs with the driver's acquire
	 * loads of tx_tail and rx_head (uart16550.c, tx_pump / rx_pump) */
	store_release(&u->shm->tx_tail, u->tx_tail);
	store_release(&u->shm->rx_head, u->rx_head);
}

/* Bytes arriving at the receiver; beyond the FIFO they are lost (overrun). */
static void
receive(struct uart *u, const uint8_t *data, uint32_t n)
{
	uint32_t room = rx_room(u), take = n < room ? n : room;

	ring_copy_in(u->rx, u->rx_head, data, take);
	u->rx_head += take;
	if (take < n) {
		u->shm->overrun += n - take;
		u->lsr_err |= LSR_OE;
	}
}

static uint8_t
msr_lines(struct uart *u)
{
	if ((u->mcr & MCR_LOOP))
		/* the 16550's internal loopback */
		return (u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR : 0) |
		       (u->mcr & MCR_OUT1 ? MSR_RI : 0) | (u->mcr & MCR_OUT2 ? MSR_DCD : 0);
	switch (u->line) {
	case LINE_LOOPBACK:
		return (u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR | MSR_DCD : 0);
	case LINE_BOARD:
	case LINE_SOCKET:
		return MSR_CTS | MSR_DSR | MSR_DCD;
	default:
		return 0;
	}
}

static uint8_t
lsr(struct uart *u)
{
	uint8_t v = u->lsr_err;

	if (rx_used(u))
		v |= LSR_DR;
	if (!tx_pending(u))
		v |= LSR_THRE | LSR_TEMT;
	return v;
}

/* How many bytes the line may move now (Paced), and the refill. */
static uint32_t
allowance(struct uart *u, uint64_t now)
{
	double rate = baud(u) / 10.0;

	if (!u->paced)
		return UINT32_MAX;
	u->budget += (double)(now - u->budget_ns) * rate / 1e9;
	u->budget_ns = now;
	if (u->budget > rate / 100 + 64)
		u->budget = rate / 100 + 64;	/* at most 10 ms of burst */
	return u->budget < 0 ? 0 : (uint32_t)u->budget;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Move what can move.  Returns true when the driver should hear of it.
 * Called with the lock held.
 */
static bool
pump(struct uart *u, uint32_t *ret_wait_more)
{
	static uint8_t buf[UART_RING_SIZE];
	bool loop = (u->mcr & MCR_LOOP) || u->line == LINE_LOOPBACK;
	bool cts = msr_lines(u) & MSR_CTS;
	uint32_t before_tx = u->tx_tail, before_rx = u->rx_head, before_over = u->shm->overrun;
	uint32_t n = tx_pending(u), allow = allowance(u, now_ns());

	*ret_wait_more = 0;
	if ((u->mcr & MCR_AFE) && !cts)
		n = 0;			/* automatic flow control: the other end holds us */
	if (n > allow) {
		*ret_wait_more = 1;
		n = allow;
	}
	if (u->lcr & LCR_SBC) {
		if (!u->break_seen && loop) {
			u->shm->breaks++;
			u->lsr_err |= LSR_BI;
		}
		u->break_seen = true;
		n = 0;
	} else {
		u->break_seen = false;
	}
	if (loop) {
		if (u->mcr & MCR_AFE) {
			uint32_t room = rx_room(u);
			if (n > room)
				n = room;
		}
		ring_copy_out(u->tx, u->tx_tail, buf, n);
		u->tx_tail += n;
		receive(u, buf, n);
	} else if (u->line == LINE_BOARD) {
		/* the board's answers first, then what it is told */
		uint32_t room = rx_room(u), out = (uint32_t)u->board.out_len;
		if (out > room)
			out = room;
		receive(u, u->board.out, out);
		board_take(&u->board, out);
		ring_copy_out(u->tx, u->tx_tail, buf, n);
		u->tx_tail += (uint32_t)board_input(&u->board, buf, n);
		room = rx_room(u);
		out = (uint32_t)u->board.out_len;
		if (out > room)
			out = room;
		receive(u, u->board.out, out);
		board_take(&u->board, out);
	} else if (u->line == LINE_SOCKET && u->sock >= 0) {
		ssize_t w;
		ring_copy_out(u->tx, u->tx_tail, buf, n);
		w = n ? send(u->sock, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) : 0;
		if (w > 0)
			u->tx_tail += (uint32_t)w;
		if (!(u->mcr & MCR_AFE) || (u->mcr & MCR_RTS)) {
			uint32_t room = rx_room(u);
			size_t want = (u->mcr & MCR_AFE) ? room : sizeof(buf);
			ssize_t r = want ? recv(u->sock, buf, want, MSG_DONTWAIT) : 0;
			if (r > 0)
				receive(u, buf, (uint32_t)r);
		}
	} else {
		u->tx_tail += n;	/* nothing on the wire */
	}
	if (u->paced)
		u->budget -= (double)(u->tx_tail - before_tx);
	publish(u);
	u->shm->lsr = lsr(u);
	u->shm->msr = msr_lines(u);
	return u->tx_tail != before_tx || u->rx_head != before_rx || u->shm->overrun != before_over ||
	       (u->lsr_err & (LSR_BI | LSR_OE));
}

static void
interrupt(struct uart *u, bool moved)
{
	uint8_t msr = msr_lines(u);
	bool fire = false;

	if (moved && (u->ier & (IER_ERBFI | IER_ETBEI | IER_ELSI)))
		fire = true;
	if (msr != u->msr_last && (u->ier & IER_EDSSI))
		fire = true;
	u->msr_last = msr;
	if (fire)
		udk_dm_raise_msi(u->fn, 0);
}

static void *
line_thread(void *data)
{
	struct uart *u = data;

	for (;;) {
		struct pollfd pfd[2] = { { u->kick, POLLIN, 0 }, { u->sock, POLLIN, 0 } };
		uint32_t more = 0;
		uint64_t v;
		bool moved;
		int timeout = -1;

		pthread_mutex_lock(&u->lock);
		if (u->shm) {
			moved = pump(u, &more);
			interrupt(u, moved);
			/* a socket peer that cannot take more: wait for it */
			if (u->line == LINE_SOCKET && tx_pending(u))
				pfd[1].events |= POLLOUT;
			if (u->line == LINE_SOCKET && (u->mcr & MCR_AFE) && (!(u->mcr & MCR_RTS) || !rx_room(u)))
				pfd[1].events &= (short)~POLLIN;
		}
		pthread_mutex_unlock(&u->lock);
		if (more)
			timeout = 1;
		if (poll(pfd, u->sock >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			ssize_t n = read(u->kick, &v, sizeof(v));
			(void)n;
		}
		if (pfd[1].revents & (POLLHUP | POLLERR)) {
			fprintf(stderr, "uart16550: the line's peer at %s went away\n", u->sock_path);
			close(u->sock);
			u->sock = -1;
		}
	}
	return NULL;
}

/* ---- registers ---- */

static uint8_t
iir(struct uart *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr_err & (LSR_OE | LSR_PE | LSR_FE | LSR_BI)))
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && rx_used(u))
		return IIR_RDI;
	if ((u->ier & IER_ETBEI) && !tx_pending(u))
		return IIR_THRI;
	if (u->ier & IER_EDSSI && (msr_lines(u) ^ u->msr_last) & 0xf0)
		return IIR_MSI;
	return IIR_NONE;
}

static uint64_t
mmio_read(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width)
{
	struct uart *u = udk_dm_function_get_userdata(fn);
	uint64_t v = 0;

	(void)width;
	if (bar != 0)
		return ~0ull;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB)
			v = u->dll;
		else if (rx_used(u)) {
			/* byte mode: the FIFO is the RX ring */
			uint32_t tail = load_acquire(&u->shm->rx_tail);
			v = u->rx[tail & RING_MASK];
			store_release(&u->shm->rx_tail, tail + 1);
			kick(u);
		}
		break;
	case UART_IER:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = iir(u) | 0xc0;	/* FIFOs enabled */
		break;
	case UART_LCR: v = u->lcr; break;
	case UART_MCR: v = u->mcr; break;
	case UART_LSR:
		v = lsr(u);
		u->lsr_err = 0;
		break;
	case UART_MSR: {
		uint8_t m = msr_lines(u);
		v = m | (((m ^ u->msr_last) >> 4) & 0x0f);
		u->msr_last = m;
		break;
	}
	case UART_SCR: v = u->scr; break;
	case UART_ID: v = UART_ID_VALUE; break;
	case UART_CLOCK: v = UART_CLOCK_HZ; break;
	case UART_XCTRL: v = u->xctrl; break;
	default: v = 0; break;
	}
	pthread_mutex_unlock(&u->lock);
	return v;
}

static void
mmio_write(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width, uint64_t value)
{
	struct uart *u = udk_dm_function_get_userdata(fn);
	uint8_t b = (uint8_t)value;

	(void)width;
	if (bar != 0)
		return;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case UART_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = b;
		else if (tx_pending(u) < UART_RING_SIZE) {
			/* byte mode: the FIFO is the TX ring */
			uint32_t head = load_acquire(&u->shm->tx_head);
			u->tx[head & RING_MASK] = b;
			store_release(&u->shm->tx_head, head + 1);
		} else {
			u->lsr_err |= LSR_OE;
		}
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB)
			u->dlm = b;
		else
			u->ier = b & 0x0f;
		break;
	case UART_FCR:
		if (u->lcr & LCR_DLAB) {
			u->dld = b & 0x0f;
			break;
		}
		if (b & 0x02) /* clear the receive FIFO */
			store_release(&u->shm->rx_tail, u->rx_head);
		break;
	case UART_LCR: u->lcr = b; break;
	case UART_MCR: u->mcr = b & 0x3f; break;
	case UART_SCR: u->scr = b; break;
	case UART_XCTRL: u->xctrl = (uint32_t)value & XCTRL_BURST; break;
	case UART_DOORBELL: break;
	default: break;
	}
	pthread_mutex_unlock(&u->lock);
	kick(u);
}

static void
reset(struct udk_dm_function *fn, const char *why)
{
	struct uart *u = udk_dm_function_get_userdata(fn);

	(void)why;
	pthread_mutex_lock(&u->lock);
	u->ier = u->mcr = u->scr = u->lsr_err = 0;
	u->lcr = 0x03;
	u->dll = 12;			/* 333333 baud until the driver says */
	u->dlm = 0;
	u->dld = 0;
	u->xctrl = 0;
	memset(u->shm, 0, sizeof(*u->shm));
	u->tx_tail = u->rx_head = 0;
	memset(&u->board, 0, sizeof(u->board));
	pthread_mutex_unlock(&u->lock);
	kick(u);
}

static void
closed(struct udk_dm_function *fn)
{
	reset(fn, "closed");
}

static int
connect_line(struct uart *u)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!u->sock_path || strlen(u->sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "uart16550: Line \"socket\" needs LinePath, a socket path under %zu bytes\n",
			sizeof(sa.sun_path));
		return -1;
	}
	strcpy(sa.sun_path, u->sock_path);
	u->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u->sock < 0 || connect(u->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "uart16550: cannot connect the line to %s: %s\n", u->sock_path, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_ops ops = {
		UDK_DM_OPS_INIT,
		.mmio_read = mmio_read,
		.mmio_write = mmio_write,
		.reset = reset,
		.closed = closed,
	};
	struct udk_dm_pci_config cfg = {
		.vendor_id = UART_VENDOR,
		.device_id = UART_DEVICE,
		.subsystem_vendor_id = UART_VENDOR,
		.subsystem_id = UART_SUBSYSTEM,
		.class_code = 0x070002, /* serial controller, 16550-compatible */
		.revision = 1,
		.bars = {
			[0] = { 4096, 0 },
			[1] = { UART_BAR1_SIZE, UDK_DM_BAR_MAPPABLE },
		},
		.msix_vectors = 1,
	};
	static struct uart u;
	const struct udk_value *props;
	const char *line;
	struct udk_dm *dm;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 2;
	props = udk_dm_get_properties(dm);
	line = udk_dict_get_string(props, "Line");
	if (!line)
		line = UART_DEFAULT_LINE;
	if (!strcmp(line, "loopback"))
		u.line = LINE_LOOPBACK;
	else if (!strcmp(line, "board"))
		u.line = LINE_BOARD;
	else if (!strcmp(line, "socket"))
		u.line = LINE_SOCKET;
	else if (!strcmp(line, "none"))
		u.line = LINE_NONE;
	else {
		fprintf(stderr, "uart16550: Line must be loopback, board, socket or none, not \"%s\"\n", line);
		return 1;
	}
	u.paced = udk_dict_get_bool(props, "Paced", false);
	u.sock = -1;
	if (udk_dict_get_string(props, "LinePath"))
		u.sock_path = strdup(udk_dict_get_string(props, "LinePath"));
	if (u.line == LINE_SOCKET && connect_line(&u) < 0)
		return 1;
	pthread_mutex_init(&u.lock, NULL);
	u.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (udk_dm_add_pci_function(dm, &cfg, &ops, &u, &u.fn) < 0) {
		fprintf(stderr, "uart16550: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add the function");
		return 1;
	}
	u.shm = udk_dm_bar_address(u.fn, 1);
	u.tx = (uint8_t *)u.shm + UART_TX_RING;
	u.rx = (uint8_t *)u.shm + UART_RX_RING;
	reset(u.fn, "power on");
	u.budget_ns = now_ns();
	pthread_create(&u.thread, NULL, line_thread, &u);
	return udk_dm_run(dm);
}
