/* SPDX-License-Identifier: MIT */
/*
 * edu - QEMU's educational PCI device (1234:11e8), simulated.
 *
 * Written from the device's specification (QEMU's docs/specs/edu.rst), so
 * that one driver (drivers/edu) runs against this model in CI and against
 * the real device in a QEMU guest through VFIO (tests/guest/).  Registers:
 * drivers/edu/edu-regs.h.
 *
 *   ID          0x010000ed (version 1.0)
 *   LIVENESS    reads back ~value
 *   FACTORIAL   n -> n! (32 bits), computed after the write; with
 *               STATUS_IRQ_FACT set, interrupt value 0x1 when done
 *   IRQ         RAISE ORs a value into IRQ_STATUS and signals MSI 0;
 *               ACK clears it
 *   DMA         SRC, DST, COUNT, CMD; the device's 4 KiB buffer is at
 *               0x40000 of the DMA address space; CMD bit 2 interrupts
 *               with 0x100 when done.  Addresses are masked with the
 *               device's DMA mask (28 bits unless DmaMask says otherwise).
 *
 * As on the real device, a DMA the IOMMU blocks still completes: the
 * device does not notice.  Here the simulated IOMMU tells the driver
 * (udk_pci_get_iommu_faults); on VFIO the driver learns nothing
 * (docs/guest-rig.md).  edu has no reset: when its driver dies its
 * mappings and interrupts are gone, its registers stay as they were.
 *
 * Where this model differs from QEMU's: QEMU completes a DMA on a 100 ms
 * timer (here at once, or after DmaDelayMs); QEMU stops the whole virtual
 * machine on a DMA outside the buffer (here the transfer is refused with a
 * log line and the command completes); QEMU 7.2 also refuses a transfer of
 * exactly 4096 bytes (an off-by-one fixed later; here 4096 works).
 *
 * Properties (machine description): DmaMask (integer, default 0x0fffffff),
 * DmaDelayMs (integer, default 0).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/families/pci-devmodel.h>

#include "edu-regs.h"

struct edu {
	struct udk_dm_function *fn;
	struct udk_dm *dm;
	uint32_t liveness;
	uint32_t fact;
	uint32_t status;
	uint32_t irq_status;
	uint64_t dma_src, dma_dst, dma_count, dma_cmd;
	uint64_t dma_mask;
	unsigned dma_delay_ms;
	uint8_t buffer[EDU_BUFFER_SIZE];
};

static void
raise_irq(struct edu *e, uint32_t value)
{
	e->irq_status |= value;
	/* MSI only: -ENXIO while no driver routed the vector (INTx is not simulated) */
	udk_dm_raise_msi(e->fn, 0);
}

static void
factorial_done(void *ctx)
{
	struct edu *e = ctx;
	uint32_t n = e->fact, r = 1;

	for (uint32_t i = 2; i <= n; i++)
		r *= i;
	e->fact = r;
	e->status &= ~EDU_STATUS_COMPUTING;
	if (e->status & EDU_STATUS_IRQ_FACT)
		raise_irq(e, EDU_IRQ_FACT);
}

/* Is [addr, addr+len) inside the device's buffer? */
static bool
in_buffer(uint64_t addr, uint64_t len)
{
	return addr >= EDU_BUFFER && len <= EDU_BUFFER_SIZE && addr - EDU_BUFFER <= EDU_BUFFER_SIZE - len;
}

static void
dma_done(void *ctx)
{
	struct edu *e = ctx;
	bool to_ram = e->dma_cmd & EDU_DMA_TO_RAM;
	uint64_t src = e->dma_src & e->dma_mask, dst = e->dma_dst & e->dma_mask, n = e->dma_count;
	uint64_t local = to_ram ? src : dst, remote = to_ram ? dst : src;

	if (!in_buffer(local, n)) {
		udk_dm_log(e->dm, UDK_LOG_ERROR,
			   "edu: DMA of %llu bytes at 0x%llx is outside the device buffer 0x%x-0x%x: not done",
			   (unsigned long long)n, (unsigned long long)local, EDU_BUFFER, EDU_BUFFER + EDU_BUFFER_SIZE - 1);
	} else if (n) {
		uint8_t *b = e->buffer + (local - EDU_BUFFER);
		/* a blocked transfer (IOMMU fault) goes unnoticed by the device, as on the real one */
		if (to_ram)
			udk_dm_dma_write(e->fn, remote, b, n);
		else
			udk_dm_dma_read(e->fn, remote, b, n);
	}
	e->dma_cmd &= ~(uint64_t)EDU_DMA_START;
	if (e->dma_cmd & EDU_DMA_IRQ)
		raise_irq(e, EDU_IRQ_DMA);
}

static void *
dma_timer(void *ctx)
{
	struct edu *e = ctx;
	struct timespec d = { (time_t)(e->dma_delay_ms / 1000), (long)(e->dma_delay_ms % 1000) * 1000000L };

	nanosleep(&d, NULL);
	udk_dm_post(e->dm, dma_done, e);
	return NULL;
}

static void
dma_start(struct edu *e)
{
	pthread_t t;

	if (e->dma_delay_ms && pthread_create(&t, NULL, dma_timer, e) == 0) {
		pthread_detach(t);
		return;
	}
	udk_dm_post(e->dm, dma_done, e);
}

static bool
access_ok(uint64_t off, unsigned width)
{
	return off < 0x80 ? width == 4 : (width == 4 || width == 8);
}

static uint64_t
mmio_read(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width)
{
	struct edu *e = udk_dm_function_get_userdata(fn);
	uint64_t v;

	if (bar != 0 || !access_ok(off, width))
		return ~0ull;
	switch (off) {
	case EDU_ID:
		return 0x010000edu;
	case EDU_LIVENESS:
		return ~e->liveness;
	case EDU_FACTORIAL:
		return e->fact;
	case EDU_STATUS:
		return e->status;
	case EDU_IRQ_STATUS:
		return e->irq_status;
	case EDU_DMA_SRC:
		v = e->dma_src;
		break;
	case EDU_DMA_DST:
		v = e->dma_dst;
		break;
	case EDU_DMA_COUNT:
		v = e->dma_count;
		break;
	case EDU_DMA_CMD:
		v = e->dma_cmd;
		break;
	default:
		return ~0ull;
	}
	return width == 4 ? (uint32_t)v : v;
}

static void
mmio_write(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width, uint64_t v)
{
	struct edu *e = udk_dm_function_get_userdata(fn);
	uint64_t *dma_reg = NULL;

	if (bar != 0 || !access_ok(off, width))
		return;
	if (width == 4)
		v = (uint32_t)v;
	switch (off) {
	case EDU_LIVENESS:
		e->liveness = (uint32_t)v;
		return;
	case EDU_FACTORIAL:
		if (e->status & EDU_STATUS_COMPUTING)
			return;
		e->fact = (uint32_t)v;
		e->status |= EDU_STATUS_COMPUTING;
		udk_dm_post(e->dm, factorial_done, e);
		return;
	case EDU_STATUS:
		e->status = (e->status & EDU_STATUS_COMPUTING) | ((uint32_t)v & EDU_STATUS_IRQ_FACT);
		return;
	case EDU_IRQ_RAISE:
		raise_irq(e, (uint32_t)v);
		return;
	case EDU_IRQ_ACK:
		e->irq_status &= ~(uint32_t)v;
		return;
	case EDU_DMA_SRC:
		dma_reg = &e->dma_src;
		break;
	case EDU_DMA_DST:
		dma_reg = &e->dma_dst;
		break;
	case EDU_DMA_COUNT:
		dma_reg = &e->dma_count;
		break;
	case EDU_DMA_CMD:
		dma_reg = &e->dma_cmd;
		break;
	default:
		return;
	}
	/* the DMA registers are locked while a transfer runs */
	if (e->dma_cmd & EDU_DMA_START)
		return;
	*dma_reg = v;
	if (dma_reg == &e->dma_cmd && (v & EDU_DMA_START))
		dma_start(e);
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_ops ops = {
		UDK_DM_OPS_INIT,
		.mmio_read = mmio_read,
		.mmio_write = mmio_write,
		/* no .reset: edu has no function level reset */
	};
	static const struct udk_dm_pci_config cfg = {
		.vendor_id = EDU_VENDOR,
		.device_id = EDU_DEVICE,
		.subsystem_vendor_id = 0x1af4,
		.subsystem_id = 0x1100,
		.class_code = 0x00ff00,
		.revision = 0x10,
		.bars = { [0] = { EDU_BAR0_SIZE, 0 } },
		.msi_vectors = 1,
	};
	static struct edu e;
	const struct udk_value *props;
	struct udk_dm *dm;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 2;
	props = udk_dm_get_properties(dm);
	e.dm = dm;
	e.dma_mask = (uint64_t)udk_dict_get_int(props, "DmaMask", (int64_t)EDU_DMA_MASK_DEFAULT);
	e.dma_delay_ms = (unsigned)udk_dict_get_int(props, "DmaDelayMs", 0);
	if (e.dma_delay_ms > 10000) {
		fprintf(stderr, "edu: DmaDelayMs is at most 10000\n");
		return 1;
	}
	if (udk_dm_add_pci_function(dm, &cfg, &ops, &e, &e.fn) < 0) {
		fprintf(stderr, "edu: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add the function");
		return 1;
	}
	return udk_dm_run(dm);
}
