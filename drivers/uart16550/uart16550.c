/* SPDX-License-Identifier: MIT */
/*
 * uart16550 - the driver of the simulated 16550-style PCI UART
 * (uart-regs.h), the udk example of a serial driver: an IOUserSerial that
 * opens its IOPCIDevice, programs the line from the app's settings, and
 * moves bytes between the family's rings and the UART's burst rings in
 * BAR1, one interrupt and one posted doorbell per batch.
 *
 * Everything runs on one queue ("uart"): the family's callbacks and the
 * interrupt, so the driver needs no locks.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/pci.h>
#include <udk/families/serial.h>

#include "uart-regs.h"

struct uart {
	struct udk_pci_device *pci;
	struct udk_queue *q;
	struct udk_interrupt_source *irq;
	struct udk_serial_port *port;
	struct uart_shm *shm;
	uint8_t *tx, *rx;
	uint8_t mcr;			/* as last written */
	uint32_t tx_head, rx_tail;	/* ours */
	struct uart_shm seen;		/* error counters last reported */
	uint8_t msr;			/* last reported */
};

#define RING_MASK (UART_RING_SIZE - 1)

static void
reg_write(struct uart *u, uint32_t off, uint8_t v)
{
	udk_pci_memory_write8(u->pci, 0, off, v);
}

static void
doorbell(struct uart *u, uint32_t what)
{
	udk_pci_memory_write32(u->pci, 0, UART_DOORBELL, what);
}

/* Family TX ring -> the UART's TX ring. */
static void
tx_pump(struct uart *u)
{
	/* acquire: pairs with the model's release store of tx_tail (uart16550 model, publish) */
	uint32_t tail = __atomic_load_n(&u->shm->tx_tail, __ATOMIC_ACQUIRE);
	uint32_t used = u->tx_head - tail, moved = 0;

	if (used > UART_RING_SIZE)
		used = UART_RING_SIZE;	/* a confused device: send nothing */
	while (used + moved < UART_RING_SIZE) {
		const void *p;
		size_t n;
		uint32_t off = (u->tx_head + moved) & RING_MASK, contig = UART_RING_SIZE - off;
		uint32_t room = UART_RING_SIZE - used - moved;

		if (udk_serial_tx_peek(u->port, &p, &n) < 0 || !n)
			break;
		if (n > room)
			n = room;
		if (n > contig)
			n = contig;
		memcpy(u->tx + off, p, n);
		udk_serial_tx_consume(u->port, n);
		moved += (uint32_t)n;
	}
	if (!moved)
		return;
	u->tx_head += moved;
	/* release: the bytes are in BAR1 before tx_head says so; pairs with
	 * the model's acquire load of tx_head (tx_pending) */
	__atomic_store_n(&u->shm->tx_head, u->tx_head, __ATOMIC_RELEASE);
	doorbell(u, DOORBELL_TX);
}

/* The UART's RX ring -> family RX ring. */
static void
rx_pump(struct uart *u)
{
	/* acquire: pairs with the model's release store of rx_head (publish) */
	uint32_t head = __atomic_load_n(&u->shm->rx_head, __ATOMIC_ACQUIRE);
	uint32_t avail = head - u->rx_tail, moved = 0;

	if (avail > UART_RING_SIZE)
		avail = 0;
	while (moved < avail) {
		void *p;
		size_t room;
		uint32_t off = (u->rx_tail + moved) & RING_MASK, n = avail - moved;

		if (udk_serial_rx_reserve(u->port, &p, &room) < 0 || !room)
			break;		/* the family is full: rx_space brings us back */
		if (n > UART_RING_SIZE - off)
			n = UART_RING_SIZE - off;
		if (n > room)
			n = (uint32_t)room;
		memcpy(p, u->rx + off, n);
		udk_serial_rx_commit(u->port, n);
		moved += n;
	}
	if (!moved)
		return;
	u->rx_tail += moved;
	/* release: we are done reading those bytes; pairs with the model's
	 * acquire load of rx_tail (rx_used) */
	__atomic_store_n(&u->shm->rx_tail, u->rx_tail, __ATOMIC_RELEASE);
	doorbell(u, DOORBELL_RX);
}

static void
status(struct uart *u)
{
	struct udk_serial_errors add = {
		u->shm->framing - u->seen.framing, u->shm->parity - u->seen.parity,
		u->shm->overrun - u->seen.overrun, u->shm->breaks - u->seen.breaks,
	};
	uint8_t msr = (uint8_t)u->shm->msr;

	if (add.framing || add.parity || add.overrun || add.breaks) {
		u->seen = *u->shm;
		udk_serial_report_errors(u->port, &add);
	}
	if (msr != u->msr) {
		u->msr = msr;
		udk_serial_report_modem(u->port, (msr & MSR_CTS ? UDK_SERIAL_CTS : 0) | (msr & MSR_DSR ? UDK_SERIAL_DSR : 0) |
							 (msr & MSR_DCD ? UDK_SERIAL_DCD : 0) | (msr & MSR_RI ? UDK_SERIAL_RI : 0));
	}
}

static void
on_irq(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx)
{
	struct uart *u = ctx;

	(void)src;
	(void)count;
	(void)time_ns;
	if (!u->port)
		return;
	rx_pump(u);
	tx_pump(u);
	status(u);
}

/* ---- the family's callbacks ---- */

static int
set_line(struct udk_serial_port *port, const struct udk_serial_line *l, void *ctx)
{
	struct uart *u = ctx;
	uint64_t div16;
	uint32_t div, actual;
	uint8_t lcr;

	(void)port;
	if (!l->baud || l->baud > UART_CLOCK_HZ)
		return udk_error_set(-EINVAL, "%" PRIu32 " baud is beyond this UART: it does %u baud at most", l->baud,
				     UART_CLOCK_HZ);
	/* the divisor in 1/16ths (DLM:DLL . DLD) */
	div16 = ((uint64_t)UART_CLOCK_HZ * 16 + l->baud / 2) / l->baud;
	if (div16 > 0xffffull * 16 + 15)
		return udk_error_set(-EINVAL, "%" PRIu32 " baud is too slow for this UART: it does %u baud at least",
				     l->baud, UART_CLOCK_HZ / 0xffff + 1);
	div = (uint32_t)(div16 >> 4);
	actual = (uint32_t)((uint64_t)UART_CLOCK_HZ * 16 / div16);
	/* a receiver tolerates about 2% of clock error */
	if ((uint64_t)(actual > l->baud ? actual - l->baud : l->baud - actual) * 100 > (uint64_t)l->baud * 2)
		return udk_error_set(-EINVAL, "%" PRIu32 " baud cannot be made from the UART's %u Hz clock: the nearest "
				     "rates are %u and %u baud",
				     l->baud, UART_CLOCK_HZ,
				     (uint32_t)((uint64_t)UART_CLOCK_HZ * 16 / (div16 + 1)),
				     (uint32_t)((uint64_t)UART_CLOCK_HZ * 16 / (div16 > 16 ? div16 - 1 : 16)));
	lcr = (uint8_t)((l->data_bits - 5) & LCR_WLEN_MASK);
	if (l->stop_bits == 2)
		lcr |= LCR_STOP;
	if (l->parity != UDK_SERIAL_PARITY_NONE) {
		lcr |= LCR_PARITY;
		if (l->parity == UDK_SERIAL_PARITY_EVEN || l->parity == UDK_SERIAL_PARITY_SPACE)
			lcr |= LCR_EPAR;
		if (l->parity == UDK_SERIAL_PARITY_MARK || l->parity == UDK_SERIAL_PARITY_SPACE)
			lcr |= LCR_SPAR;
	}
	reg_write(u, UART_LCR, lcr | LCR_DLAB);
	reg_write(u, UART_DLL, (uint8_t)div);
	reg_write(u, UART_DLM, (uint8_t)(div >> 8));
	reg_write(u, UART_DLD, (uint8_t)(div16 & 0x0f));
	reg_write(u, UART_LCR, lcr);
	u->mcr = (uint8_t)((u->mcr & ~MCR_AFE) | (l->rts_cts ? MCR_AFE : 0));
	reg_write(u, UART_MCR, u->mcr);
	udk_log_info("line: %" PRIu32 " baud (divisor %u+%u/16: %u), %u%c%u%s", l->baud, div, (unsigned)(div16 & 15),
		     actual, l->data_bits,
		     "NOEMS"[l->parity % 5], l->stop_bits, l->rts_cts ? ", RTS/CTS" : "");
	return 0;
}

static void
set_modem(struct udk_serial_port *port, uint32_t lines, void *ctx)
{
	struct uart *u = ctx;

	(void)port;
	u->mcr = (uint8_t)((u->mcr & ~(MCR_DTR | MCR_RTS)) | (lines & UDK_SERIAL_DTR ? MCR_DTR : 0) |
			   (lines & UDK_SERIAL_RTS ? MCR_RTS : 0));
	reg_write(u, UART_MCR, u->mcr);
	doorbell(u, DOORBELL_RX);
}

static void
set_break(struct udk_serial_port *port, bool on, void *ctx)
{
	struct uart *u = ctx;
	uint8_t lcr = 0;

	(void)port;
	udk_pci_memory_read8(u->pci, 0, UART_LCR, &lcr);
	reg_write(u, UART_LCR, on ? (uint8_t)(lcr | LCR_SBC) : (uint8_t)(lcr & ~LCR_SBC));
}

static void
tx_ready(struct udk_serial_port *port, void *ctx)
{
	(void)port;
	tx_pump(ctx);
}

static void
rx_space(struct udk_serial_port *port, void *ctx)
{
	(void)port;
	rx_pump(ctx);
}

/* ---- the service ---- */

static int
uart_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_serial_ops ops = {
		UDK_SERIAL_OPS_INIT,
		.set_line = set_line,
		.set_modem = set_modem,
		.set_break = set_break,
		.tx_ready = tx_ready,
		.rx_space = rx_space,
	};
	struct uart *u = udk_service_get_ivars(self);
	struct udk_serial_config cfg = { UDK_SERIAL_CONFIG_INIT };
	uint32_t id = 0;
	void *bar1;
	int r;

	r = udk_pci_open(provider, &u->pci);
	if (r < 0)
		return r;
	udk_pci_memory_read32(u->pci, 0, UART_ID, &id);
	if (id != UART_ID_VALUE)
		return udk_error_set(-ENODEV, "BAR0 does not look like the udk UART (ID register 0x%08x)", id);
	r = udk_pci_map_bar(u->pci, 1, &bar1, NULL);
	if (r < 0)
		return r;
	u->shm = bar1;
	u->tx = (uint8_t *)bar1 + UART_TX_RING;
	u->rx = (uint8_t *)bar1 + UART_RX_RING;
	u->tx_head = u->shm->tx_head;
	u->rx_tail = u->shm->rx_tail;
	u->seen = *u->shm;
	reg_write(u, UART_FCR, 0x07);		/* FIFOs on, both cleared */
	udk_pci_memory_write32(u->pci, 0, UART_XCTRL, XCTRL_BURST);
	r = udk_queue_create("uart", &u->q);
	if (r < 0)
		return r;
	r = udk_interrupt_source_create(u->pci, 0, u->q, on_irq, u, &u->irq);
	if (r < 0)
		return r;
	cfg.queue = u->q;
	r = udk_serial_port_create(self, &cfg, &ops, u, &u->port);
	if (r < 0)
		return r;
	reg_write(u, UART_IER, IER_ERBFI | IER_ETBEI | IER_ELSI | IER_EDSSI);
	doorbell(u, DOORBELL_RX);
	return udk_service_register(self);
}

static void
quiesce(void *ctx)
{
	struct uart *u = ctx;
	reg_write(u, UART_IER, 0);
}

static int
uart_stop(struct udk_service *self, struct udk_service *provider)
{
	struct uart *u = udk_service_get_ivars(self);

	(void)provider;
	if (u->q)
		udk_queue_dispatch_sync(u->q, quiesce, u);
	udk_serial_port_destroy(u->port);
	u->port = NULL;
	if (u->irq)
		udk_interrupt_source_destroy(u->irq);
	if (u->pci)
		udk_pci_close(u->pci);
	if (u->q)
		udk_queue_unref(u->q);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_class uart_driver = {
		UDK_CLASS_INIT,
		.name = "Uart16550Driver",
		.ivars_size = sizeof(struct uart),
		.start = uart_start,
		.stop = uart_stop,
	};
	static const struct udk_class *const classes[] = { &uart_driver, NULL };

	return udk_driver_main(argc, argv, classes);
}
