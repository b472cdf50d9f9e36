/* SPDX-License-Identifier: MIT */
/*
 * pci-test - a simulated PCI function for tests of the PCI family.
 *
 *   BAR0  4 KiB registers (below)
 *   BAR2  64 KiB RAM, mappable by the driver (64-bit, prefetchable)
 *   BAR4  4 KiB ROM, mappable read-only; byte i holds (i * 3) & 0xff
 *   MSI (1 vector), MSI-X (4 vectors), power management
 *
 * Registers (32-bit unless noted):
 *   0x00 ID          0x55444b01
 *   0x04 SCRATCH     read/write
 *   0x08 RESETS      function level resets so far
 *   0x0c OPENS       times a driver opened the function
 *   0x10 IRQ_RAISE   write a vector: raise it once
 *   0x14 IRQ_BURST   write n: raise vector 0 n times
 *   0x18 RESETS_AT_OPEN  RESETS when the function was last opened
 *   0x20 DMA_ADDR (64-bit)
 *   0x28 DMA_LEN
 *   0x2c DMA_CMD     1: write the pattern of DMA_SEED to [ADDR, +LEN)
 *                    2: read [ADDR, +LEN), sum the bytes into DMA_SUM
 *   0x30 DMA_STATUS  0 ok, 1 IOMMU fault
 *   0x34 DMA_SEED
 *   0x38 DMA_SUM (64-bit)
 *   0x7c CRASH       write anything: the model dies (hardware gone)
 *
 * The DMA pattern: 64-bit word k of a transfer is seed * 2^32 + k.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/pci-devmodel.h>

struct state {
	uint32_t scratch, resets, opens, resets_at_open;
	uint64_t dma_addr;
	uint32_t dma_len, dma_status, dma_seed;
	uint64_t dma_sum;
};

static void
dma_run(struct udk_dm_function *fn, struct state *s, uint32_t cmd)
{
	uint8_t *p = NULL;
	bool write = cmd == 1;

	s->dma_status = 0;
	if (udk_dm_dma_get(fn, s->dma_addr, s->dma_len, write, (void **)&p) < 0) {
		s->dma_status = 1;
		return;
	}
	if (write) {
		uint64_t base = (uint64_t)s->dma_seed << 32;
		uint32_t words = s->dma_len / 8;
		for (uint32_t k = 0; k < words; k++) {
			uint64_t v = base + k;
			memcpy(p + 8 * (size_t)k, &v, 8);
		}
		memset(p + 8 * (size_t)words, 0xee, s->dma_len % 8);
	} else {
		uint64_t sum = 0;
		for (uint32_t i = 0; i < s->dma_len; i++)
			sum += p[i];
		s->dma_sum = sum;
	}
	udk_dm_dma_put(fn, p);
}

static uint64_t
mmio_read(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width)
{
	struct state *s = udk_dm_function_get_userdata(fn);

	(void)bar;
	(void)width;
	switch (off) {
	case 0x00:
		return 0x55444b01;
	case 0x04:
		return s->scratch;
	case 0x08:
		return s->resets;
	case 0x0c:
		return s->opens;
	case 0x18:
		return s->resets_at_open;
	case 0x20:
		return width == 8 ? s->dma_addr : (uint32_t)s->dma_addr;
	case 0x24:
		return (uint32_t)(s->dma_addr >> 32);
	case 0x28:
		return s->dma_len;
	case 0x30:
		return s->dma_status;
	case 0x34:
		return s->dma_seed;
	case 0x38:
		return width == 8 ? s->dma_sum : (uint32_t)s->dma_sum;
	case 0x3c:
		return (uint32_t)(s->dma_sum >> 32);
	default:
		return 0;
	}
}

static void
mmio_write(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width, uint64_t v)
{
	struct state *s = udk_dm_function_get_userdata(fn);

	(void)bar;
	switch (off) {
	case 0x04:
		s->scratch = (uint32_t)v;
		break;
	case 0x10:
		udk_dm_raise_msi(fn, (unsigned)v);
		break;
	case 0x14:
		for (uint64_t i = 0; i < v && i < 100000; i++)
			udk_dm_raise_msi(fn, 0);
		break;
	case 0x20:
		if (width == 8)
			s->dma_addr = v;
		else
			s->dma_addr = (s->dma_addr & ~0xffffffffull) | (uint32_t)v;
		break;
	case 0x24:
		s->dma_addr = (s->dma_addr & 0xffffffffull) | (v << 32);
		break;
	case 0x28:
		s->dma_len = (uint32_t)v;
		break;
	case 0x2c:
		dma_run(fn, s, (uint32_t)v);
		break;
	case 0x34:
		s->dma_seed = (uint32_t)v;
		break;
	case 0x7c:
		udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_NOTICE, "pci-test: crashing as asked");
		abort();
	default:
		break;
	}
}

static void
reset(struct udk_dm_function *fn, const char *why)
{
	struct state *s = udk_dm_function_get_userdata(fn);

	s->resets++;
	s->scratch = 0;
	s->dma_addr = 0;
	s->dma_len = 0;
	udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_INFO, "pci-test: reset %u: %s", s->resets, why);
}

static void
opened(struct udk_dm_function *fn)
{
	struct state *s = udk_dm_function_get_userdata(fn);

	s->opens++;
	s->resets_at_open = s->resets;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_ops ops = {
		UDK_DM_OPS_INIT,
		.mmio_read = mmio_read,
		.mmio_write = mmio_write,
		.reset = reset,
		.opened = opened,
	};
	struct udk_dm_pci_config cfg = {
		.vendor_id = 0x1234,
		.device_id = 0x5544,
		.subsystem_vendor_id = 0x1af4,
		.subsystem_id = 0x1100,
		.class_code = 0xff0000,
		.revision = 2,
		.bars = {
			[0] = { 4096, 0 },
			[2] = { 65536, UDK_DM_BAR_MEM64 | UDK_DM_BAR_PREFETCH | UDK_DM_BAR_MAPPABLE },
			[4] = { 4096, UDK_DM_BAR_MAPPABLE | UDK_DM_BAR_READONLY },
		},
		.msi_vectors = 1,
		.msix_vectors = 4,
		.power_management = true,
	};
	struct udk_dm *dm;
	struct udk_dm_function *fn;
	static struct state s;
	uint8_t *rom;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 2;
	/* the device id can come from the machine description */
	cfg.device_id = (uint16_t)udk_dict_get_int(udk_dm_get_properties(dm), "device-id", cfg.device_id);
	if (udk_dm_add_pci_function(dm, &cfg, &ops, &s, &fn) < 0) {
		fprintf(stderr, "pci-test: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add the function");
		return 1;
	}
	rom = udk_dm_bar_address(fn, 4);
	for (int i = 0; i < 4096; i++)
		rom[i] = (uint8_t)(i * 3);
	return udk_dm_run(dm);
}
