/* SPDX-License-Identifier: MIT */
/*
 * pci/sim/devmodel.c - simulated PCI functions: the PCI kind of device
 * model (<udk/families/pci-devmodel.h>) on the generic device-model runtime
 * (lib/devmodel/).
 *
 * It emulates config space (header, BAR sizing, capability list), serves
 * register accesses from the driver's channel in order (writes posted,
 * reads answered), hands out mappable BARs as shared memory, and does the
 * function level reset.  Interrupts and DMA are the runtime's.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include <udk/families/pci-devmodel.h>

#include "dm-private.h"
#include "proto-pci.h"
#include "util.h"

#define CONFIG_SIZE 4096u
#define CAP_PM 0x01
#define CAP_MSI 0x05
#define CAP_MSIX 0x11
#define CAP_EXP 0x10

/* A PCI function's state; fn->kind_data. */
struct pci_fn {
	struct udk_dm_ops ops;
	uint8_t config[CONFIG_SIZE];
	uint32_t bar_value[6];		/* what the driver wrote to the BAR registers */
	struct udk_dm_bar bars[6];
	int bar_fd[6];
	void *bar_addr[6];
	uint32_t msi_cap, msix_cap, pm_cap;
};

#define PCI(fn) ((struct pci_fn *)(fn)->kind_data)

#define HAS_OP(fn, field)                                                                                      \
	(PCI(fn)->ops.struct_size >= offsetof(struct udk_dm_ops, field) + sizeof(PCI(fn)->ops.field) &&          \
	 PCI(fn)->ops.field)

UDK_EXPORT void *
udk_dm_bar_address(struct udk_dm_function *fn, int bar)
{
	if (!fn || bar < 0 || bar > 5 || !fn->kind_data || strcmp(fn->kind->name, "pci") != 0)
		return NULL;
	return PCI(fn)->bar_addr[bar];
}

/* ---- config space ---- */

static void
put(uint8_t *c, unsigned off, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++)
		c[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get(const uint8_t *c, unsigned off, unsigned width)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint32_t)c[off + i] << (8 * i);
	return v;
}

static unsigned
log2u(unsigned v)
{
	unsigned r = 0;

	while ((1u << r) < v)
		r++;
	return r;
}

static void
build_config(struct udk_dm_function *fn, const struct udk_dm_pci_config *cfg)
{
	uint8_t *c = PCI(fn)->config;
	unsigned cap = 0x40;
	unsigned prev_off = 0;

	put(c, 0x00, 2, cfg->vendor_id);
	put(c, 0x02, 2, cfg->device_id);
	put(c, 0x08, 1, cfg->revision);
	put(c, 0x09, 3, cfg->class_code & 0xffffff);
	put(c, 0x0e, 1, 0x00); /* header type 0 */
	put(c, 0x2c, 2, cfg->subsystem_vendor_id);
	put(c, 0x2e, 2, cfg->subsystem_id);
	put(c, 0x3d, 1, 1); /* INTA# */
	/* BARs: the address bits read as assigned by firmware */
	for (unsigned i = 0; i < 6; i++) {
		const struct udk_dm_bar *b = &cfg->bars[i];
		uint32_t lo;
		if (!b->size)
			continue;
		lo = 0xe0000000u + (fn->index << 24) + (i << 20);
		lo &= ~(uint32_t)(b->size - 1) | 0xfu;
		if (b->flags & UDK_DM_BAR_MEM64)
			lo |= 0x4;
		if (b->flags & UDK_DM_BAR_PREFETCH)
			lo |= 0x8;
		PCI(fn)->bar_value[i] = lo;
		if (b->flags & UDK_DM_BAR_MEM64 && i < 5)
			PCI(fn)->bar_value[++i] = 0;
	}
	/* the capability list */
#define ADD_CAP(id, len)                                                                                       \
	do {                                                                                                   \
		if (prev_off)                                                                                  \
			c[prev_off + 1] = (uint8_t)cap;                                                        \
		else                                                                                           \
			c[0x34] = (uint8_t)cap;                                                                \
		c[cap] = (id);                                                                                 \
		prev_off = cap;                                                                                \
		cap += (len);                                                                                  \
	} while (0)
	if (cfg->power_management) {
		PCI(fn)->pm_cap = cap;
		ADD_CAP(CAP_PM, 8);
		put(c, PCI(fn)->pm_cap + 2, 2, 0x0003); /* version 3 */
	}
	if (cfg->msi_vectors) {
		PCI(fn)->msi_cap = cap;
		ADD_CAP(CAP_MSI, 16);
		/* 64-bit capable, multiple message capable */
		put(c, PCI(fn)->msi_cap + 2, 2, 0x0080 | (log2u(cfg->msi_vectors) << 1));
	}
	if (cfg->msix_vectors) {
		PCI(fn)->msix_cap = cap;
		ADD_CAP(CAP_MSIX, 12);
		put(c, PCI(fn)->msix_cap + 2, 2, (uint32_t)(cfg->msix_vectors - 1) & 0x7ff);
	}
	/* a PCI Express endpoint */
	ADD_CAP(CAP_EXP, 0x3c);
	put(c, prev_off + 2, 2, 0x0002);
#undef ADD_CAP
	if (c[0x34])
		put(c, 0x06, 2, 0x0010); /* status: capabilities list */
}

static uint32_t
config_read(struct udk_dm_function *fn, uint32_t off, unsigned width)
{
	if (off >= 0x10 && off < 0x28 && width == 4 && !(off & 3))
		return PCI(fn)->bar_value[(off - 0x10) / 4];
	return get(PCI(fn)->config, off, width);
}

static void
config_write(struct udk_dm_function *fn, uint32_t off, unsigned width, uint32_t v)
{
	if (off >= 0x10 && off < 0x28) {
		/* BAR sizing: writable bits are the address bits above the size */
		unsigned i = (off - 0x10) / 4;
		const struct udk_dm_bar *b = &PCI(fn)->bars[i];
		bool upper = i > 0 && (PCI(fn)->bars[i - 1].flags & UDK_DM_BAR_MEM64) && PCI(fn)->bars[i - 1].size;
		if (width != 4)
			return;
		if (upper) {
			PCI(fn)->bar_value[i] = v & (uint32_t)(~(PCI(fn)->bars[i - 1].size - 1) >> 32);
		} else if (b->size) {
			uint32_t flags = PCI(fn)->bar_value[i] & 0xf;
			PCI(fn)->bar_value[i] = (v & ~(uint32_t)(b->size - 1) & ~0xfu) | flags;
		}
		return;
	}
	if (off == 0x04 && width >= 2) {
		put(PCI(fn)->config, 0x04, 2, v & 0x0547); /* io, mem, master, parity, serr, intx-disable */
		return;
	}
	if ((PCI(fn)->msi_cap && off >= PCI(fn)->msi_cap + 2 && off < PCI(fn)->msi_cap + 16) ||
	    (PCI(fn)->msix_cap && off >= PCI(fn)->msix_cap + 2 && off < PCI(fn)->msix_cap + 4) ||
	    (PCI(fn)->pm_cap && off >= PCI(fn)->pm_cap + 4 && off < PCI(fn)->pm_cap + 6)) {
		put(PCI(fn)->config, off, width, v);
		return;
	}
	if (off >= 0x40 && HAS_OP(fn, config_write))
		PCI(fn)->ops.config_write(fn, off, width, v);
}

static bool
valid_width(uint32_t w)
{
	return w == 1 || w == 2 || w == 4 || w == 8;
}

static void
handle_rw(struct udk_dm_function *fn, struct wire_msg *m)
{
	struct proto_pci_rw rw;
	int status = 0;

	if (m->len != sizeof(rw) || m->n_fds) {
		if (m->h.op != OP_PCI_MEM_WRITE)
			dm_chan_reply(fn, m, -UDK_E_PROTOCOL, "malformed register access", NULL, NULL, 0);
		return;
	}
	memcpy(&rw, m->payload, sizeof(rw));
	if (!valid_width(rw.width)) {
		status = -EINVAL;
	} else if (rw.space == 0) {
		if (rw.width == 8 || rw.offset >= CONFIG_SIZE || rw.offset + rw.width > CONFIG_SIZE || (rw.offset % rw.width))
			status = -EINVAL;
		else if (m->h.op == OP_PCI_CFG_READ)
			rw.value = config_read(fn, (uint32_t)rw.offset, rw.width);
		else
			config_write(fn, (uint32_t)rw.offset, rw.width, (uint32_t)rw.value);
	} else if (rw.space >= 1 && rw.space <= 6 && PCI(fn)->bars[rw.space - 1].size) {
		unsigned bar = rw.space - 1;
		const struct udk_dm_bar *b = &PCI(fn)->bars[bar];
		if (rw.offset >= b->size || rw.width > b->size - rw.offset || (rw.offset % rw.width)) {
			status = -EINVAL;
		} else if (PCI(fn)->bar_addr[bar]) {
			uint8_t *p = (uint8_t *)PCI(fn)->bar_addr[bar] + rw.offset;
			if (m->h.op == OP_PCI_MEM_READ) {
				rw.value = 0;
				memcpy(&rw.value, p, rw.width);
			} else if (!(b->flags & UDK_DM_BAR_READONLY)) {
				memcpy(p, &rw.value, rw.width);
			}
		} else if (m->h.op == OP_PCI_MEM_READ) {
			rw.value = HAS_OP(fn, mmio_read) ? PCI(fn)->ops.mmio_read(fn, (int)bar, rw.offset, rw.width) : ~0ull;
		} else if (HAS_OP(fn, mmio_write)) {
			PCI(fn)->ops.mmio_write(fn, (int)bar, rw.offset, rw.width, rw.value);
		}
	} else {
		status = -EINVAL;
	}
	if (m->h.op == OP_PCI_MEM_WRITE)
		return; /* posted */
	if (status < 0) {
		dm_chan_reply(fn, m, status, "the offset, width or BAR is out of range", NULL, NULL, 0);
		return;
	}
	dm_chan_send(fn, m->h.op, WIRE_F_REPLY, m->h.serial, 0, &rw, sizeof(rw));
}

static void
pci_message(struct udk_dm_function *fn, struct wire_msg *m)
{
	struct pci_fn *p = PCI(fn);

	switch (m->h.op) {
	case OP_PCI_CFG_READ:
	case OP_PCI_CFG_WRITE:
	case OP_PCI_MEM_READ:
	case OP_PCI_MEM_WRITE:
		handle_rw(fn, m);
		return;
	default:
		break;
	}
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		dm_chan_reply(fn, m, -UDK_E_PROTOCOL, "request body must be a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_PCI_BAR_MAP: {
		int64_t bar = udk_dict_get_int(m->body, "bar", -1);
		struct udk_value *b;
		if (bar < 0 || bar > 5 || p->bar_fd[bar] < 0) {
			dm_chan_reply(fn, m, -UDK_E_UNSUPPORTED, "that BAR is not mappable memory; use register accesses",
				      NULL, NULL, 0);
			break;
		}
		b = udk_value_new_dict();
		udk_dict_set_uint(b, "size", p->bars[bar].size);
		udk_dict_set_bool(b, "readonly", p->bars[bar].flags & UDK_DM_BAR_READONLY);
		dm_chan_reply(fn, m, 0, NULL, b, &p->bar_fd[bar], 1);
		udk_value_unref(b);
		break;
	}
	case OP_PCI_RESET:
		if (!HAS_OP(fn, reset)) {
			/* like VFIO_DEVICE_RESET on a function without FLR, PM or bus reset */
			dm_chan_reply(fn, m, -UDK_E_UNSUPPORTED,
				      "the device has no reset method (no function level reset); its state stays as it is",
				      NULL, NULL, 0);
			break;
		}
		dm_dma_clear(fn);
		for (unsigned i = 0; i < 6; i++)
			if (p->bar_addr[i] && !(p->bars[i].flags & UDK_DM_BAR_READONLY))
				memset(p->bar_addr[i], 0, p->bars[i].size);
		put(p->config, 0x04, 2, 0);
		if (HAS_OP(fn, reset))
			p->ops.reset(fn, "its driver asked for a function level reset");
		dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		break;
	default:
		dm_chan_reply(fn, m, -EOPNOTSUPP, "the device does not know this request", NULL, NULL, 0);
		break;
	}
}

static unsigned
pci_irq_vectors(struct udk_dm_function *fn)
{
	struct pci_fn *p = PCI(fn);

	return MAX(get(p->config, p->msix_cap + 2, 2) + (p->msix_cap ? 1u : 0u),
		   p->msi_cap ? 1u << ((get(p->config, p->msi_cap + 2, 2) >> 1) & 7) : 0u);
}

static int
pci_describe(struct udk_dm_function *fn, struct udk_value *desc)
{
	struct pci_fn *p = PCI(fn);
	struct udk_value *bars = udk_value_new_array();
	uint8_t cfg[256];

	memcpy(cfg, p->config, sizeof(cfg));
	for (unsigned b = 0; b < 6; b++)
		put(cfg, 0x10 + 4 * b, 4, p->bar_value[b]);
	udk_dict_set_data(desc, "config", cfg, sizeof(cfg));
	for (unsigned b = 0; b < 6; b++) {
		struct udk_value *bv = udk_value_new_dict();
		udk_dict_set_uint(bv, "size", p->bars[b].size);
		udk_dict_set_int(bv, "flags", p->bars[b].flags);
		udk_array_append_take(bars, bv);
	}
	udk_dict_set_take(desc, "bars", bars);
	return 0;
}

static void
pci_opened(struct udk_dm_function *fn)
{
	if (HAS_OP(fn, opened))
		PCI(fn)->ops.opened(fn);
}

static void
pci_closed(struct udk_dm_function *fn)
{
	if (HAS_OP(fn, closed))
		PCI(fn)->ops.closed(fn);
}

static void
pci_reset(struct udk_dm_function *fn, const char *why)
{
	if (HAS_OP(fn, reset))
		PCI(fn)->ops.reset(fn, why);
	else
		udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_NOTICE,
			   "%s: the device has no reset method; its DMA mappings and interrupts are gone, its "
			   "registers stay as they are",
			   why);
}

static const struct dm_kind pci_kind = {
	.name = "pci",
	.describe = pci_describe,
	.message = pci_message,
	.irq_vectors = pci_irq_vectors,
	.opened = pci_opened,
	.closed = pci_closed,
	.reset = pci_reset,
};

UDK_EXPORT int
udk_dm_add_pci_function(struct udk_dm *dm, const struct udk_dm_pci_config *cfg, const struct udk_dm_ops *ops,
			void *userdata, struct udk_dm_function **ret)
{
	struct udk_dm_function *fn;
	struct pci_fn *p;
	int r;

	udk_return_val_if_fail(dm && cfg && ops && ops->struct_size, -EINVAL);
	if (cfg->msi_vectors > 32 || cfg->msix_vectors > PROTO_MAX_VECTORS)
		return udk_set_reason(-EINVAL, "at most 32 MSI and %d MSI-X vectors", PROTO_MAX_VECTORS);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = *ops;
	if (p->ops.struct_size > sizeof(p->ops))
		p->ops.struct_size = sizeof(p->ops);
	for (unsigned i = 0; i < 6; i++) {
		const struct udk_dm_bar *b = &cfg->bars[i];
		p->bar_fd[i] = -1;
		p->bars[i] = *b;
		if (b->size && (b->size < 16 || (b->size & (b->size - 1)))) {
			free(p);
			return udk_set_reason(-EINVAL, "BAR %u: size %llu is not a power of two of at least 16", i,
					      (unsigned long long)b->size);
		}
		if (b->size && (b->flags & UDK_DM_BAR_MAPPABLE)) {
			p->bar_fd[i] = memfd_create("udk-bar", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			if (p->bar_fd[i] < 0 || ftruncate(p->bar_fd[i], (off_t)b->size) < 0 ||
			    fcntl(p->bar_fd[i], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
				return -errno;
			p->bar_addr[i] = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, p->bar_fd[i], 0);
			if (p->bar_addr[i] == MAP_FAILED)
				return -errno;
			/* a ROM: the driver's mapping can only read */
			if ((b->flags & UDK_DM_BAR_READONLY) && fcntl(p->bar_fd[i], F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
				return -errno;
		}
	}
	r = dm_function_new(dm, &pci_kind, p, userdata, &fn);
	if (r < 0) {
		free(p);
		return r;
	}
	build_config(fn, cfg);
	if (ret)
		*ret = fn;
	return 0;
}

