/* SPDX-License-Identifier: MIT */
/*
 * testpci - a driver for the pci-test model (models/pci-test), whose user
 * client lets tests drive every call of the PCI family.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udk/driver.h>
#include <udk/families/pci.h>
#include <udk/userclient.h>

enum {
	P_CFG_READ32,		/* off -> value */
	P_MEM_READ32,		/* bar, off -> value */
	P_MEM_WRITE32,		/* bar, off, value */
	P_BAR_INFO,		/* bar -> size, mappable, readonly, mem64 */
	P_MAP_READ32,		/* bar, off -> value through the mapping */
	P_MAP_WRITE32,		/* bar, off, value through the mapping */
	P_FIND_CAP,		/* id -> offset */
	P_IRQ_TEST,		/* vector, n -> interrupts seen, handler runs, latency ns of the last */
	P_DMA_TEST,		/* size, direction, max_bits -> status, iova, ok */
	P_DMA_AFTER_COMPLETE,	/* -> status, faults */
	P_RESET,		/* -> */
	P_FAULTS,		/* -> faults */
	P_FILL_CLIENT,		/* struct fill_args -> bytes filled, highest iova end */
	P_LOCATION,		/* -> bus, device, function */
	P_CONFIG_WRITE32,	/* off, value */
	P_CRASH,
	P_SLEEP,		/* ms: a slow method, without touching the device */
	P_COUNT,
};

struct fill_args {
	uint64_t count;
	uint64_t size;
	uint64_t addr[16];
};

struct drv {
	struct udk_pci_device *pci;
	struct udk_queue *irq_q;
	struct udk_interrupt_source *src[4];
	atomic_uint_fast64_t seen[4], runs[4], latency[4];
};

static struct drv *the_drv;

static int
drv_start(struct udk_service *self, struct udk_service *provider)
{
	struct drv *d = udk_service_get_ivars(self);
	uint16_t vendor = 0, device = 0;
	int r;

	r = udk_pci_open(provider, &d->pci);
	if (r < 0)
		return r;
	if ((r = udk_pci_config_read16(d->pci, UDK_PCI_VENDOR_ID, &vendor)) < 0 ||
	    (r = udk_pci_config_read16(d->pci, UDK_PCI_DEVICE_ID, &device)) < 0)
		return r;
	if (vendor != udk_service_get_int_property(provider, "vendor-id", -1) ||
	    device != udk_service_get_int_property(provider, "device-id", -1))
		return udk_error_set(-EIO, "config space says %04x:%04x, the registry something else", vendor, device);
	r = udk_queue_create("irq", &d->irq_q);
	if (r < 0)
		return r;
	the_drv = d;
	udk_log_info("testpci: %04x:%04x opened with the %s backend", vendor, device, udk_pci_get_backend(d->pci));
	return udk_service_register(self);
}

static int
drv_stop(struct udk_service *self, struct udk_service *provider)
{
	struct drv *d = udk_service_get_ivars(self);

	(void)provider;
	for (int i = 0; i < 4; i++)
		udk_interrupt_source_destroy(d->src[i]);
	udk_pci_close(d->pci);
	udk_queue_unref(d->irq_q);
	return 0;
}

static void
on_irq(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx)
{
	uintptr_t v = (uintptr_t)ctx;

	(void)src;
	atomic_store(&the_drv->latency[v], udk_time_now_ns() - time_ns);
	atomic_fetch_add(&the_drv->seen[v], count);
	atomic_fetch_add(&the_drv->runs[v], 1);
}

#define ARGS struct udk_service *uc, void *ref, struct udk_method_args *a
#define S(i) (a->scalar_input[i])
#define OUT(i, v) (a->scalar_output[i] = (uint64_t)(v))

static int
m_cfg_read(ARGS)
{
	uint32_t v = 0;
	int r = udk_pci_config_read32(the_drv->pci, (uint32_t)S(0), &v);

	(void)uc, (void)ref;
	OUT(0, v);
	return r;
}

static int
m_cfg_write(ARGS)
{
	(void)uc, (void)ref;
	return udk_pci_config_write32(the_drv->pci, (uint32_t)S(0), (uint32_t)S(1));
}

static int
m_mem_read(ARGS)
{
	uint32_t v = 0;
	int r = udk_pci_memory_read32(the_drv->pci, (unsigned)S(0), S(1), &v);

	(void)uc, (void)ref;
	OUT(0, v);
	return r;
}

static int
m_mem_write(ARGS)
{
	(void)uc, (void)ref;
	return udk_pci_memory_write32(the_drv->pci, (unsigned)S(0), S(1), (uint32_t)S(2));
}

static int
m_bar_info(ARGS)
{
	struct udk_pci_bar_info bi;
	int r = udk_pci_get_bar_info(the_drv->pci, (unsigned)S(0), &bi);

	(void)uc, (void)ref;
	OUT(0, bi.size);
	OUT(1, bi.mappable);
	OUT(2, bi.readonly);
	OUT(3, bi.mem64);
	return r;
}

static int
m_map_read(ARGS)
{
	uint8_t *p;
	uint64_t size;
	uint32_t v;
	int r = udk_pci_map_bar(the_drv->pci, (unsigned)S(0), (void **)&p, &size);

	(void)uc, (void)ref;
	if (r < 0)
		return r;
	if (S(1) + 4 > size)
		return udk_error_set(-EINVAL, "offset past the BAR");
	memcpy(&v, p + S(1), 4);
	OUT(0, v);
	return 0;
}

static int
m_map_write(ARGS)
{
	uint8_t *p;
	uint64_t size;
	uint32_t v = (uint32_t)S(2);
	int r = udk_pci_map_bar(the_drv->pci, (unsigned)S(0), (void **)&p, &size);

	(void)uc, (void)ref;
	if (r < 0)
		return r;
	if (S(1) + 4 > size)
		return udk_error_set(-EINVAL, "offset past the BAR");
	memcpy(p + S(1), &v, 4);
	return 0;
}

static int
m_find_cap(ARGS)
{
	uint32_t off = 0;
	int r = udk_pci_find_capability(the_drv->pci, (uint8_t)S(0), &off);

	(void)uc, (void)ref;
	OUT(0, off);
	return r;
}

static int
m_irq_test(ARGS)
{
	unsigned v = (unsigned)S(0);
	uint64_t n = S(1), base;
	int r;

	(void)uc, (void)ref;
	if (v >= 4)
		return udk_error_set(-EINVAL, "vectors 0..3");
	if (!the_drv->src[v] && (r = udk_interrupt_source_create(the_drv->pci, v, the_drv->irq_q, on_irq,
								 (void *)(uintptr_t)v, &the_drv->src[v])) < 0)
		return r;
	base = atomic_load(&the_drv->seen[v]);
	if (v == 0 && n > 1)
		udk_pci_memory_write32(the_drv->pci, 0, 0x14, (uint32_t)n);
	else
		for (uint64_t i = 0; i < n; i++)
			udk_pci_memory_write32(the_drv->pci, 0, 0x10, v);
	for (int i = 0; i < 2000 && atomic_load(&the_drv->seen[v]) - base < n; i++)
		usleep(1000);
	OUT(0, atomic_load(&the_drv->seen[v]) - base);
	OUT(1, atomic_load(&the_drv->runs[v]));
	OUT(2, atomic_load(&the_drv->latency[v]));
	return 0;
}

static int
dma_fill(struct udk_pci_device *pci, uint64_t iova, uint64_t len, uint32_t seed, uint32_t cmd, uint32_t *status)
{
	udk_pci_memory_write64(pci, 0, 0x20, iova);
	udk_pci_memory_write32(pci, 0, 0x28, (uint32_t)len);
	udk_pci_memory_write32(pci, 0, 0x34, seed);
	udk_pci_memory_write32(pci, 0, 0x2c, cmd);
	/* the read comes after the posted writes: the DMA has run */
	return udk_pci_memory_read32(pci, 0, 0x30, status);
}

static int
m_dma_test(ARGS)
{
	struct udk_memory_descriptor *md = NULL;
	struct udk_dma_command *cmd = NULL;
	struct udk_dma_spec spec = { .max_address_bits = (uint32_t)S(2) };
	struct udk_address_segment seg;
	uint32_t n = 1, status = 9;
	uint64_t size = S(0);
	int r;

	(void)uc, (void)ref;
	if ((r = udk_memory_descriptor_create(size, (uint32_t)S(1), &md)) < 0 ||
	    (r = udk_dma_command_create(the_drv->pci, &spec, &cmd)) < 0 ||
	    (r = udk_dma_command_prepare(cmd, md, 0, 0, &n, &seg)) < 0)
		goto out;
	r = dma_fill(the_drv->pci, seg.address, size, 7, 1, &status);
	OUT(0, status);
	OUT(1, seg.address);
	OUT(2, 0);
	if (r >= 0 && status == 0) {
		uint8_t *p;
		udk_memory_descriptor_map(md, (void **)&p, NULL);
		uint64_t w = 0;
		memcpy(&w, p + 8 * 5, 8);
		OUT(2, w == ((7ull << 32) + 5));
	}
out:
	udk_dma_command_free(cmd);
	udk_memory_descriptor_unref(md);
	return r;
}

static int
m_dma_after_complete(ARGS)
{
	struct udk_memory_descriptor *md = NULL;
	struct udk_dma_command *cmd = NULL;
	struct udk_address_segment seg;
	uint32_t n = 1, status = 9;
	int r;

	(void)uc, (void)ref;
	if ((r = udk_memory_descriptor_create(8192, UDK_MEMORY_DIRECTION_IN, &md)) < 0 ||
	    (r = udk_dma_command_create(the_drv->pci, NULL, &cmd)) < 0 ||
	    (r = udk_dma_command_prepare(cmd, md, 0, 0, &n, &seg)) < 0)
		goto out;
	udk_dma_command_complete(cmd);
	r = dma_fill(the_drv->pci, seg.address, 8192, 1, 1, &status);
	OUT(0, status);
	OUT(1, udk_pci_get_iommu_faults(the_drv->pci));
out:
	udk_dma_command_free(cmd);
	udk_memory_descriptor_unref(md);
	return r;
}

static int
m_reset(ARGS)
{
	(void)uc, (void)ref, (void)a;
	return udk_pci_reset(the_drv->pci);
}

static int
m_faults(ARGS)
{
	(void)uc, (void)ref;
	/* let fault notices that raced the last call arrive */
	uint32_t id;
	udk_pci_memory_read32(the_drv->pci, 0, 0, &id);
	OUT(0, udk_pci_get_iommu_faults(the_drv->pci));
	return 0;
}

/* 16 frames of 8K BGRA in the app's buffers, prepared and filled by the device. */
static int
m_fill_client(ARGS)
{
	const struct fill_args *f = a->struct_input;
	struct udk_memory_descriptor *md[16] = { 0 };
	struct udk_dma_command *cmd[16] = { 0 };
	uint64_t filled = 0, top = 0;
	int r = 0;

	(void)ref;
	if (f->count > 16 || f->size > UINT32_MAX)
		return udk_error_set(-EINVAL, "at most 16 buffers of under 4 GiB each");
	for (uint64_t i = 0; i < f->count && r >= 0; i++) {
		struct udk_address_segment s = { f->addr[i], f->size }, seg[32];
		uint32_t n = 32, status = 9;
		r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &s, &md[i]);
		if (r >= 0)
			r = udk_dma_command_create(the_drv->pci, NULL, &cmd[i]);
		if (r >= 0)
			r = udk_dma_command_prepare(cmd[i], md[i], 0, 0, &n, seg);
		if (r < 0)
			break;
		if (seg[0].address + seg[0].length > top)
			top = seg[0].address + seg[0].length;
		r = dma_fill(the_drv->pci, seg[0].address, f->size, (uint32_t)i + 1, 1, &status);
		if (r >= 0 && status)
			r = udk_error_set(-UDK_E_IOMMU_FAULT, "the device faulted filling buffer %llu",
					  (unsigned long long)i);
		filled += f->size;
	}
	for (int i = 0; i < 16; i++) {
		udk_dma_command_free(cmd[i]);
		udk_memory_descriptor_unref(md[i]);
	}
	OUT(0, filled);
	OUT(1, top);
	return r;
}

static int
m_location(ARGS)
{
	uint8_t b, d, f;

	(void)uc, (void)ref;
	udk_pci_get_location(the_drv->pci, &b, &d, &f);
	OUT(0, b);
	OUT(1, d);
	OUT(2, f);
	return 0;
}

static int
m_crash(ARGS)
{
	(void)uc, (void)ref, (void)a;
	abort();
}

static int
m_sleep(ARGS)
{
	(void)uc, (void)ref;
	usleep((useconds_t)(a->scalar_input[0] * 1000));
	return 0;
}

#define V UDK_METHOD_VARIABLE
static const struct udk_method_dispatch methods[P_COUNT] = {
	[P_CFG_READ32] = { m_cfg_read, "ConfigRead32", 0, 1, 0, 1, 0 },
	[P_MEM_READ32] = { m_mem_read, "MemoryRead32", 0, 2, 0, 1, 0 },
	[P_MEM_WRITE32] = { m_mem_write, "MemoryWrite32", 0, 3, 0, 0, 0 },
	[P_BAR_INFO] = { m_bar_info, "BarInfo", 0, 1, 0, 4, 0 },
	[P_MAP_READ32] = { m_map_read, "MapRead32", 0, 2, 0, 1, 0 },
	[P_MAP_WRITE32] = { m_map_write, "MapWrite32", 0, 3, 0, 0, 0 },
	[P_FIND_CAP] = { m_find_cap, "FindCapability", 0, 1, 0, 1, 0 },
	[P_IRQ_TEST] = { m_irq_test, "InterruptTest", 0, 2, 0, 3, 0 },
	[P_DMA_TEST] = { m_dma_test, "DmaTest", 0, 3, 0, 3, 0 },
	[P_DMA_AFTER_COMPLETE] = { m_dma_after_complete, "DmaAfterComplete", 0, 0, 0, 2, 0 },
	[P_RESET] = { m_reset, "Reset", 0, 0, 0, 0, 0 },
	[P_FAULTS] = { m_faults, "Faults", 0, 0, 0, 1, 0 },
	[P_FILL_CLIENT] = { m_fill_client, "FillClient", 0, 0, sizeof(struct fill_args), 2, 0 },
	[P_LOCATION] = { m_location, "Location", 0, 0, 0, 3, 0 },
	[P_CONFIG_WRITE32] = { m_cfg_write, "ConfigWrite32", 0, 2, 0, 0, 0 },
	[P_CRASH] = { m_crash, "Crash", 0, 0, 0, 0, 0 },
	[P_SLEEP] = { m_sleep, "Sleep", 0, 1, 0, 0, 0 },
};

static const struct udk_class test_pci_driver = {
	UDK_CLASS_INIT,
	.name = "TestPciDriver",
	.ivars_size = sizeof(struct drv),
	.start = drv_start,
	.stop = drv_stop,
};

static const struct udk_class test_pci_user_client = {
	UDK_CLASS_INIT,
	.name = "TestPciUserClient",
	.methods = methods,
	.n_methods = P_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &test_pci_driver, &test_pci_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
