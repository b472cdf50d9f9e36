/* SPDX-License-Identifier: MIT */
/*
 * pci.c - the PCI family API for drivers (<udk/families/pci.h>).
 *
 * Every call checks its arguments here, then goes to the backend udkd
 * named when the provider was opened: "sim" (a device-model process),
 * "vfio" or "sysfs".  Mappable BARs are served from the mapping without a
 * round trip.
 */
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "pci-private.h"
#include "private.h"
#include "util.h"

int
pci_unsupported(struct udk_pci_device *dev, const char *what)
{
	char how[1024];

	/* udkd says for each real function what would make it drivable (daemon/devices.c) */
	if (dev->provider &&
	    udk_service_get_string_property(dev->provider, "UDKHowToDrive", how, sizeof(how)) == 0)
		return udk_set_reason(-UDK_E_UNSUPPORTED, "%s is not possible with the %s backend: %s", what,
				      dev->be->name, how);
	return udk_set_reason(-UDK_E_UNSUPPORTED, "%s is not possible with the %s backend: %s", what, dev->be->name,
			      dev->be->why_unsupported ? dev->be->why_unsupported : "not implemented");
}

int
pci_gone(struct udk_pci_device *dev)
{
	dev->gone = true;
	return udk_set_reason(-UDK_E_HARDWARE_GONE, "the PCI device is gone (unplugged, or its model died)");
}

static const struct pci_backend *
backend_named(const char *name)
{
	if (streq(name, "sim"))
		return &pci_sim_backend;
	if (streq(name, "sysfs"))
		return &pci_sysfs_backend;
	if (streq(name, "vfio"))
		return &pci_vfio_backend;
	return NULL;
}

UDK_EXPORT int
udk_pci_open(struct udk_service *provider, struct udk_pci_device **ret)
{
	struct udk_value *body, *reply = NULL, *bars;
	struct udk_pci_device *dev;
	const struct pci_backend *be;
	unsigned dom = 0, bus = 0, slot = 0, fn = 0;
	int fd = -1, r;

	udk_return_val_if_fail(provider && ret, -EINVAL);
	int fds[2] = { -1, -1 };

	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	r = rt_call_fds(OP_DRV_OPEN_PROVIDER, body, &reply, fds, 2);
	udk_value_unref(body);
	if (r < 0)
		return r;
	fd = fds[0];
	be = backend_named(udk_dict_get_string(reply, "backend"));
	if (!be || fd < 0 || (be == &pci_vfio_backend) != (fds[1] >= 0)) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		udk_value_unref(reply);
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the provider with an unknown backend");
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(fd);
		udk_value_unref(reply);
		return -ENOMEM;
	}
	dev->be = be;
	dev->provider = udk_service_ref(provider);
	dev->fd = fd;
	dev->irq_page_fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_mutex_init(&dev->iova_lock, NULL);
	if (sscanf(udk_dict_get_string(reply, "location") ? udk_dict_get_string(reply, "location") : "",
		   "%x:%x:%x.%x", &dom, &bus, &slot, &fn) == 4) {
		dev->bus = (uint8_t)bus;
		dev->device = (uint8_t)slot;
		dev->function = (uint8_t)fn;
	}
	bars = udk_dict_get(reply, "bars");
	for (unsigned i = 0; i < 6; i++) {
		struct udk_value *b = udk_array_get(bars, i);
		dev->bars[i].size = udk_value_get_uint(udk_dict_get(b, "size"), 0);
		dev->bars[i].flags = (uint32_t)udk_dict_get_int(b, "flags", 0);
	}
	if (be == &pci_vfio_backend) {
		/* fds: the VFIO container and group; the device comes from them */
		dev->fd = -1;
		r = pci_vfio_attach(dev, fds[0], fds[1], udk_dict_get_string(reply, "location"));
		if (r < 0) {
			udk_value_unref(reply);
			udk_pci_close(dev);
			return r;
		}
	}
	udk_value_unref(reply);
	*ret = dev;
	return 0;
}

UDK_EXPORT void
udk_pci_close(struct udk_pci_device *dev)
{
	if (!dev)
		return;
	if (dev->be->close)
		dev->be->close(dev);
	for (unsigned i = 0; i < 6; i++)
		if (dev->bars[i].map)
			munmap(dev->bars[i].map, dev->bars[i].size);
	if (dev->irq_page)
		munmap(dev->irq_page, sizeof(*dev->irq_page));
	if (dev->irq_page_fd >= 0)
		close(dev->irq_page_fd);
	if (dev->fd >= 0)
		close(dev->fd);
	udk_service_unref(dev->provider);
	free(dev->iovas);
	pthread_mutex_destroy(&dev->iova_lock);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

UDK_EXPORT const char *
udk_pci_get_backend(const struct udk_pci_device *dev)
{
	return dev ? dev->be->name : NULL;
}

static int
cfg_read(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t *ret)
{
	udk_return_val_if_fail(dev && ret, -EINVAL);
	if (off >= 4096 || off % width)
		return udk_set_reason(-EINVAL, "config offset 0x%x is out of range or not aligned to %u", off, width);
	if (dev->gone)
		return pci_gone(dev);
	if (!dev->be->config_read)
		return pci_unsupported(dev, "reading config space");
	return dev->be->config_read(dev, off, width, ret);
}

static int
cfg_write(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t value)
{
	udk_return_val_if_fail(dev, -EINVAL);
	if (off >= 4096 || off % width)
		return udk_set_reason(-EINVAL, "config offset 0x%x is out of range or not aligned to %u", off, width);
	if (dev->gone)
		return pci_gone(dev);
	if (!dev->be->config_write)
		return pci_unsupported(dev, "writing config space");
	return dev->be->config_write(dev, off, width, value);
}

UDK_EXPORT int
udk_pci_config_read8(struct udk_pci_device *dev, uint32_t offset, uint8_t *ret)
{
	uint32_t v = 0;
	int r = cfg_read(dev, offset, 1, &v);
	if (r >= 0)
		*ret = (uint8_t)v;
	return r;
}

UDK_EXPORT int
udk_pci_config_read16(struct udk_pci_device *dev, uint32_t offset, uint16_t *ret)
{
	uint32_t v = 0;
	int r = cfg_read(dev, offset, 2, &v);
	if (r >= 0)
		*ret = (uint16_t)v;
	return r;
}

UDK_EXPORT int
udk_pci_config_read32(struct udk_pci_device *dev, uint32_t offset, uint32_t *ret)
{
	return cfg_read(dev, offset, 4, ret);
}

UDK_EXPORT int
udk_pci_config_write8(struct udk_pci_device *dev, uint32_t offset, uint8_t value)
{
	return cfg_write(dev, offset, 1, value);
}

UDK_EXPORT int
udk_pci_config_write16(struct udk_pci_device *dev, uint32_t offset, uint16_t value)
{
	return cfg_write(dev, offset, 2, value);
}

UDK_EXPORT int
udk_pci_config_write32(struct udk_pci_device *dev, uint32_t offset, uint32_t value)
{
	return cfg_write(dev, offset, 4, value);
}

UDK_EXPORT int
udk_pci_get_bar_info(struct udk_pci_device *dev, unsigned bar, struct udk_pci_bar_info *ret)
{
	udk_return_val_if_fail(dev && ret && bar < 6, -EINVAL);
	memset(ret, 0, sizeof(*ret));
	ret->size = dev->bars[bar].size;
	ret->mem64 = dev->bars[bar].flags & 1;
	ret->prefetchable = dev->bars[bar].flags & 2;
	ret->mappable = dev->bars[bar].flags & 4;
	ret->readonly = dev->bars[bar].flags & 8;
	return 0;
}

static int
check_mem(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width)
{
	if (!dev || bar > 5)
		return -EINVAL;
	if (!dev->bars[bar].size)
		return udk_set_reason(-EINVAL, "BAR %u does not exist on this device", bar);
	if (off >= dev->bars[bar].size || width > dev->bars[bar].size - off || off % width)
		return udk_set_reason(-EINVAL, "offset 0x%llx (%u bytes) is outside BAR %u of %llu bytes or unaligned",
				      (unsigned long long)off, width, bar, (unsigned long long)dev->bars[bar].size);
	if (dev->gone)
		return pci_gone(dev);
	return 0;
}

static int
mem_read(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t *ret)
{
	int r;

	/* a backend that cannot do this at all says so before any range check */
	if (dev && bar < 6 && !dev->bars[bar].map && !dev->be->mem_read)
		return pci_unsupported(dev, "reading device memory");
	r = check_mem(dev, bar, off, width);
	if (r < 0)
		return r;
	if (dev->bars[bar].map) {
		/* a mapped BAR: plain memory */
		*ret = 0;
		memcpy(ret, (uint8_t *)dev->bars[bar].map + off, width);
		return 0;
	}
	if (!dev->be->mem_read)
		return pci_unsupported(dev, "reading device memory");
	return dev->be->mem_read(dev, bar, off, width, ret);
}

static int
mem_write(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t value)
{
	int r;

	if (dev && bar < 6 && !dev->bars[bar].map && !dev->be->mem_write)
		return pci_unsupported(dev, "writing device memory");
	r = check_mem(dev, bar, off, width);
	if (r < 0)
		return r;
	if (dev->bars[bar].map && !(dev->bars[bar].flags & 8)) {
		memcpy((uint8_t *)dev->bars[bar].map + off, &value, width);
		return 0;
	}
	if (!dev->be->mem_write)
		return pci_unsupported(dev, "writing device memory");
	return dev->be->mem_write(dev, bar, off, width, value);
}

#define MEM_RW(bits)                                                                                           \
	UDK_EXPORT int udk_pci_memory_read##bits(struct udk_pci_device *dev, unsigned bar, uint64_t offset,   \
						  uint##bits##_t *ret)                                         \
	{                                                                                                      \
		uint64_t v = 0;                                                                                \
		int r = mem_read(dev, bar, offset, bits / 8, &v);                                              \
		if (r >= 0)                                                                                    \
			*ret = (uint##bits##_t)v;                                                              \
		return r;                                                                                      \
	}                                                                                                      \
	UDK_EXPORT int udk_pci_memory_write##bits(struct udk_pci_device *dev, unsigned bar, uint64_t offset,  \
						   uint##bits##_t value)                                       \
	{                                                                                                      \
		return mem_write(dev, bar, offset, bits / 8, value);                                           \
	}

MEM_RW(8)
MEM_RW(16)
MEM_RW(32)
MEM_RW(64)

UDK_EXPORT int
udk_pci_map_bar(struct udk_pci_device *dev, unsigned bar, void **ret_addr, uint64_t *ret_size)
{
	struct pci_bar *b;
	bool ro = false;
	int r;

	udk_return_val_if_fail(dev && bar < 6 && ret_addr, -EINVAL);
	b = &dev->bars[bar];
	if (!b->size)
		return udk_set_reason(-EINVAL, "BAR %u does not exist on this device", bar);
	if (dev->gone)
		return pci_gone(dev);
	if (!b->map) {
		if (!dev->be->map_bar)
			return pci_unsupported(dev, "mapping a BAR");
		r = dev->be->map_bar(dev, bar, &b->map, &ro);
		if (r < 0)
			return r;
		if (ro)
			b->flags |= 8;
	}
	*ret_addr = b->map;
	if (ret_size)
		*ret_size = b->size;
	return 0;
}

UDK_EXPORT int
udk_pci_find_capability(struct udk_pci_device *dev, uint8_t id, uint32_t *ret_offset)
{
	uint16_t status = 0;
	uint8_t ptr = 0;
	int r;

	udk_return_val_if_fail(dev && ret_offset, -EINVAL);
	if ((r = udk_pci_config_read16(dev, UDK_PCI_STATUS, &status)) < 0)
		return r;
	if (!(status & 0x10))
		return -ENOENT;
	if ((r = udk_pci_config_read8(dev, UDK_PCI_CAPABILITIES, &ptr)) < 0)
		return r;
	/* at most 48 capabilities fit: a loop means a broken device */
	for (int i = 0; i < 48 && ptr >= 0x40; i++) {
		uint8_t cid = 0, next = 0;
		if ((r = udk_pci_config_read8(dev, ptr, &cid)) < 0 || (r = udk_pci_config_read8(dev, ptr + 1u, &next)) < 0)
			return r;
		if (cid == id) {
			*ret_offset = ptr;
			return 0;
		}
		ptr = next & 0xfc;
	}
	return -ENOENT;
}

UDK_EXPORT int
udk_pci_get_location(struct udk_pci_device *dev, uint8_t *ret_bus, uint8_t *ret_device, uint8_t *ret_function)
{
	udk_return_val_if_fail(dev, -EINVAL);
	if (ret_bus)
		*ret_bus = dev->bus;
	if (ret_device)
		*ret_device = dev->device;
	if (ret_function)
		*ret_function = dev->function;
	return 0;
}

UDK_EXPORT int
udk_pci_reset(struct udk_pci_device *dev)
{
	int r;

	udk_return_val_if_fail(dev, -EINVAL);
	if (dev->gone)
		return pci_gone(dev);
	if (!dev->be->reset)
		return pci_unsupported(dev, "resetting the function");
	r = dev->be->reset(dev);
	if (r >= 0) {
		/* the device forgot every mapping */
		pthread_mutex_lock(&dev->iova_lock);
		dev->n_iovas = 0;
		pthread_mutex_unlock(&dev->iova_lock);
	}
	return r;
}

UDK_EXPORT uint64_t
udk_pci_get_iommu_faults(const struct udk_pci_device *dev)
{
	return dev ? atomic_load((_Atomic uint64_t *)&dev->faults) : 0;
}

/* ---- interrupts ---- */

struct udk_interrupt_source {
	struct udk_pci_device *dev;
	unsigned vector;
	int efd;
	struct udk_queue *q;
	udk_interrupt_fn fn;
	void *ctx;
	struct loop_source *src;
	bool dead;
};

static void
irq_ready(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udk_interrupt_source *s = data;
	uint64_t n = 0, when = 0;

	(void)l;
	(void)events;
	if (read(fd, &n, sizeof(n)) != sizeof(n) || !n || s->dead)
		return;
	if (s->dev->irq_page) {
		/* load-acquire paired with the model's release increment of
		 * count in udk_dm_raise_msi(): raised_ns is written first */
		(void)atomic_load_explicit(&s->dev->irq_page->vec[s->vector].count, memory_order_acquire);
		when = atomic_load_explicit(&s->dev->irq_page->vec[s->vector].raised_ns, memory_order_relaxed);
	}
	s->fn(s, n, when ? when : now_ns(), s->ctx);
}

static void
irq_attach(void *data)
{
	struct udk_interrupt_source *s = data;

	loop_add_fd(queue_loop(s->q), s->efd, EPOLLIN, irq_ready, s, &s->src);
}

static void
irq_detach(void *data)
{
	struct udk_interrupt_source *s = data;

	loop_source_remove(s->src);
	s->src = NULL;
}

UDK_EXPORT int
udk_interrupt_source_create(struct udk_pci_device *dev, unsigned index, struct udk_queue *queue,
			    udk_interrupt_fn fn, void *ctx, struct udk_interrupt_source **ret)
{
	struct udk_interrupt_source *s;
	int r;

	udk_return_val_if_fail(dev && queue && fn && ret, -EINVAL);
	if (index >= PROTO_MAX_VECTORS)
		return udk_set_reason(-EINVAL, "interrupt index %u: at most %d vectors", index, PROTO_MAX_VECTORS);
	if (dev->gone)
		return pci_gone(dev);
	if (!dev->be->irq_set)
		return pci_unsupported(dev, "receiving interrupts");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->vector = index;
	s->q = udk_queue_ref(queue);
	s->fn = fn;
	s->ctx = ctx;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = s->efd < 0 ? -errno : dev->be->irq_set(dev, index, s->efd);
	if (r >= 0)
		r = udk_queue_is_current(queue) ? (irq_attach(s), 0) : udk_queue_dispatch_sync(queue, irq_attach, s);
	if (r < 0 || !s->src) {
		if (s->efd >= 0)
			close(s->efd);
		udk_queue_unref(s->q);
		free(s);
		return r < 0 ? r : -ENOMEM;
	}
	*ret = s;
	return 0;
}

UDK_EXPORT void
udk_interrupt_source_destroy(struct udk_interrupt_source *s)
{
	if (!s)
		return;
	s->dead = true;
	if (!s->dev->gone && s->dev->be->irq_set)
		s->dev->be->irq_set(s->dev, s->vector, -1);
	if (udk_queue_is_current(s->q))
		irq_detach(s);
	else
		udk_queue_dispatch_sync(s->q, irq_detach, s);
	close(s->efd);
	udk_queue_unref(s->q);
	free(s);
}
