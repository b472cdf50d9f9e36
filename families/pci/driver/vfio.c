/* SPDX-License-Identifier: MIT */
/*
 * vfio/vfio.c - backend "vfio": a real PCI function bound to vfio-pci.
 *
 * udkd opens /dev/vfio/vfio (the container) and /dev/vfio/GROUP and hands
 * both to the driver; this backend then does what a VFIO user does:
 *
 *   VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION(TYPE1v2)   the container works
 *   VFIO_GROUP_GET_STATUS                                 the group is viable
 *   VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU(TYPE1v2)     an IOMMU context
 *   VFIO_GROUP_GET_DEVICE_FD("0000:01:00.0")              the device
 *   VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO     BARs and config
 *
 * then config and register accesses are pread/pwrite on the device fd at a
 * region's offset, BARs are mmap'ed, MSI-X vectors are eventfds given with
 * VFIO_DEVICE_SET_IRQS, DMA is VFIO_IOMMU_MAP_DMA of the memory mapped in
 * this process, and reset is VFIO_DEVICE_RESET.
 *
 * When the kernel wants the function back (it is being removed, hot
 * unplugged or unbound from vfio-pci), it waits until every descriptor of
 * the device is closed and signals VFIO's request interrupt meanwhile.  The
 * backend routes that interrupt to an eventfd watched by a thread of its
 * own, which tells udkd (OP_PCI_RELEASE_REQUESTED); udkd treats the function
 * as gone: apps are told UDK_E_HARDWARE_GONE, the driver is stopped, its
 * descriptors close and the kernel finishes.  Without this the removal
 * would wait for as long as the driver runs.
 *
 * This machine's kernel has no VFIO, so the sequence is tested against a
 * recording fake (families/pci/tests/test-vfio.c) through struct vfio_sys;
 * the guest rig runs it on QEMU's edu (tests/guest/21-vfio-remove.sh).
 */
#include <linux/vfio.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "pci-private.h"
#include "private.h"
#include "proto-pci.h"
#include "util.h"

static int
real_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static int
real_release_requested(const char *device_name)
{
	struct udk_value *body = udk_value_new_dict();
	int r;

	udk_dict_set_string(body, "device", device_name);
	r = rt_call(OP_PCI_RELEASE_REQUESTED, body, NULL);
	udk_value_unref(body);
	return r;
}

static const struct vfio_sys real_sys = {
	.ioctl = real_ioctl,
	.pread = pread,
	.pwrite = pwrite,
	.mmap = mmap,
	.munmap = munmap,
	.release_requested = real_release_requested,
};

static const struct vfio_sys *sys = &real_sys;

void
pci_vfio_set_sys(const struct vfio_sys *s)
{
	sys = s ? s : &real_sys;
}

struct vfio_dma {
	uint64_t iova, len;
	void *vaddr;
	size_t map_len;
};

struct vfio_state {
	int container;
	int group;
	struct {
		uint64_t offset, size;
		uint32_t flags;
	} region[VFIO_PCI_NUM_REGIONS];
	uint32_t irq_index;		/* VFIO_PCI_MSIX_IRQ_INDEX or MSI */
	uint32_t irq_count;
	struct vfio_dma *dma;
	size_t n_dma;
	uint32_t device_flags;		/* VFIO_DEVICE_FLAGS_* */
	char name[32];			/* 0000:00:02.0 */
	/* the kernel's request for the device (VFIO_PCI_REQ_IRQ_INDEX) */
	int req_efd, stop_efd;
	pthread_t req_thread;
	bool req_watching;
};

/* The request interrupt's watcher: each signal goes to udkd (the kernel repeats it while it waits). */
static void *
req_watch(void *data)
{
	struct vfio_state *st = data;
	struct pollfd pf[2] = { { st->req_efd, POLLIN, 0 }, { st->stop_efd, POLLIN, 0 } };
	uint64_t n;

	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		if ((pf[0].revents & POLLIN) && read(st->req_efd, &n, sizeof(n)) == (ssize_t)sizeof(n)) {
			udk_log_notice("VFIO: the kernel asks for %s back (it is being removed or unbound); telling udkd",
				       st->name);
			if (sys->release_requested && sys->release_requested(st->name) < 0)
				udk_log_warning("VFIO: udkd was not told: %s",
						udk_error_reason() ? udk_error_reason() : "?");
		}
	}
	return NULL;
}

/* Route the request interrupt to an eventfd and watch it.  A kernel without it: nothing to do. */
static void
req_start(struct vfio_state *st, int fd)
{
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_REQ_IRQ_INDEX };
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *is = (struct vfio_irq_set *)buf;
	int32_t efd;

	if (sys->ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0 || ii.count < 1)
		return;
	st->req_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	st->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (st->req_efd < 0 || st->stop_efd < 0)
		goto fail;
	memset(buf, 0, sizeof(buf));
	is->argsz = sizeof(buf);
	is->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	is->index = VFIO_PCI_REQ_IRQ_INDEX;
	is->start = 0;
	is->count = 1;
	efd = st->req_efd;
	memcpy(is->data, &efd, sizeof(efd));
	if (sys->ioctl(fd, VFIO_DEVICE_SET_IRQS, is) < 0) {
		udk_log_warning("VFIO: %s: cannot route the kernel's request interrupt (%s); a removal of the function "
				"waits until the driver ends",
				st->name, strerror(errno));
		goto fail;
	}
	if (pthread_create(&st->req_thread, NULL, req_watch, st) != 0)
		goto fail;
	st->req_watching = true;
	return;
fail:
	if (st->req_efd >= 0)
		close(st->req_efd);
	if (st->stop_efd >= 0)
		close(st->stop_efd);
	st->req_efd = st->stop_efd = -1;
}

static void
req_stop(struct vfio_state *st)
{
	uint64_t one = 1;

	if (st->req_watching) {
		if (write(st->stop_efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			udk_log_warning("VFIO: cannot stop the request watcher: %s", strerror(errno));
		pthread_join(st->req_thread, NULL);
		st->req_watching = false;
	}
	if (st->req_efd >= 0)
		close(st->req_efd);
	if (st->stop_efd >= 0)
		close(st->stop_efd);
	st->req_efd = st->stop_efd = -1;
}

static int
fail(int r, const char *what)
{
	return udk_set_reason(r, "VFIO: %s: %s", what, strerror(-r));
}

static int
call(int fd, unsigned long req, void *arg, const char *what)
{
	if (sys->ioctl(fd, req, arg) < 0)
		return fail(-errno, what);
	return 0;
}

int
pci_vfio_attach(struct udk_pci_device *dev, int container, int group, const char *device_name)
{
	struct vfio_state *st = calloc(1, sizeof(*st));
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info di = { .argsz = sizeof(di) };
	int r, version, fd;

	if (!st) {
		close(container);
		close(group);
		return -ENOMEM;
	}
	st->container = container;
	st->group = group;
	st->req_efd = st->stop_efd = -1;
	dev->backend_data = st;
	version = sys->ioctl(container, VFIO_GET_API_VERSION, NULL);
	if (version != VFIO_API_VERSION)
		return udk_set_reason(-UDK_E_UNSUPPORTED, "VFIO: the kernel speaks API version %d, udk %d", version,
				      VFIO_API_VERSION);
	if (sys->ioctl(container, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) <= 0)
		return udk_set_reason(-UDK_E_UNSUPPORTED, "VFIO: the kernel has no type 1 v2 IOMMU");
	if ((r = call(group, VFIO_GROUP_GET_STATUS, &gs, "reading the group status")) < 0)
		return r;
	snprintf(st->name, sizeof(st->name), "%s", device_name ? device_name : "?");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return udk_set_reason(-EBUSY,
				      "VFIO: the IOMMU group of %s is not viable: another device in it is bound to a "
				      "kernel driver; bind every device in it to vfio-pci (see "
				      "/sys/bus/pci/devices/%s/iommu_group/devices)",
				      st->name, st->name);
	if ((r = call(group, VFIO_GROUP_SET_CONTAINER, &container, "joining the container")) < 0 ||
	    (r = call(container, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU, "choosing the IOMMU")) < 0)
		return r;
	fd = sys->ioctl(group, VFIO_GROUP_GET_DEVICE_FD, (void *)device_name);
	if (fd < 0)
		return fail(-errno, "getting the device from its group");
	dev->fd = fd;
	if ((r = call(fd, VFIO_DEVICE_GET_INFO, &di, "reading the device info")) < 0)
		return r;
	st->device_flags = di.flags;
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return udk_set_reason(-UDK_E_UNSUPPORTED, "VFIO: the device is not a PCI device");
	for (uint32_t i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
		if ((r = call(fd, VFIO_DEVICE_GET_REGION_INFO, &ri, "reading a region")) < 0)
			return r;
		st->region[i].offset = ri.offset;
		st->region[i].size = ri.size;
		st->region[i].flags = ri.flags;
		if (i < 6) {
			dev->bars[i].size = ri.size;
			dev->bars[i].flags = (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) ? 4 : 0;
		}
	}
	for (uint32_t idx = VFIO_PCI_MSIX_IRQ_INDEX;; idx = VFIO_PCI_MSI_IRQ_INDEX) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = idx };
		if (sys->ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 && ii.count) {
			st->irq_index = idx;
			st->irq_count = ii.count;
			break;
		}
		if (idx == VFIO_PCI_MSI_IRQ_INDEX)
			break;
	}
	req_start(st, fd);
	return 0;
}

static struct vfio_state *
state(struct udk_pci_device *dev)
{
	return dev->backend_data;
}

static int
region_rw(struct udk_pci_device *dev, unsigned index, uint64_t off, void *buf, unsigned width, bool write)
{
	struct vfio_state *st = state(dev);
	ssize_t n;

	if (off >= st->region[index].size || width > st->region[index].size - off)
		return udk_set_reason(-EINVAL, "VFIO: access past region %u", index);
	n = write ? sys->pwrite(dev->fd, buf, width, (off_t)(st->region[index].offset + off))
		  : sys->pread(dev->fd, buf, width, (off_t)(st->region[index].offset + off));
	if (n != (ssize_t)width)
		return n < 0 ? fail(-errno, "accessing the device") : pci_gone(dev);
	return 0;
}

static int
vfio_config_read(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t *ret)
{
	uint32_t v = 0;
	int r = region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, width, false);

	*ret = v;
	return r;
}

static int
vfio_config_write(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t value)
{
	return region_rw(dev, VFIO_PCI_CONFIG_REGION_INDEX, off, &value, width, true);
}

static int
vfio_mem_read(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t *ret)
{
	uint64_t v = 0;
	int r = region_rw(dev, VFIO_PCI_BAR0_REGION_INDEX + bar, off, &v, width, false);

	*ret = v;
	return r;
}

static int
vfio_mem_write(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t value)
{
	return region_rw(dev, VFIO_PCI_BAR0_REGION_INDEX + bar, off, &value, width, true);
}

static int
vfio_map_bar(struct udk_pci_device *dev, unsigned bar, void **ret_addr, bool *ret_readonly)
{
	struct vfio_state *st = state(dev);
	void *p;

	if (!(st->region[bar].flags & VFIO_REGION_INFO_FLAG_MMAP))
		return udk_set_reason(-UDK_E_UNSUPPORTED, "VFIO: BAR %u cannot be mapped; use register accesses", bar);
	p = sys->mmap(NULL, st->region[bar].size,
		      PROT_READ | ((st->region[bar].flags & VFIO_REGION_INFO_FLAG_WRITE) ? PROT_WRITE : 0), MAP_SHARED,
		      dev->fd, (off_t)st->region[bar].offset);
	if (p == MAP_FAILED)
		return fail(-errno, "mapping a BAR");
	*ret_addr = p;
	*ret_readonly = !(st->region[bar].flags & VFIO_REGION_INFO_FLAG_WRITE);
	return 0;
}

static int
vfio_irq_set(struct udk_pci_device *dev, unsigned vector, int fd)
{
	struct vfio_state *st = state(dev);
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *is = (struct vfio_irq_set *)buf;
	int32_t efd = fd;

	if (!st->irq_count || vector >= st->irq_count)
		return udk_set_reason(-EINVAL, "VFIO: the device has %u MSI/MSI-X vectors", st->irq_count);
	memset(buf, 0, sizeof(buf));
	is->argsz = sizeof(buf);
	is->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	is->index = st->irq_index;
	is->start = vector;
	is->count = 1;
	memcpy(is->data, &efd, sizeof(efd)); /* -1 turns the vector off */
	return call(dev->fd, VFIO_DEVICE_SET_IRQS, is, "routing an interrupt");
}

/*
 * The IOMMU maps whole pages: VFIO_IOMMU_MAP_DMA wants the IOVA, the
 * address and the size page-aligned (EINVAL otherwise).  dma.c hands out
 * page-aligned IOVAs with a span rounded up to pages; the prepared range
 * must start on a page boundary of its memory so that the device address
 * of its first byte is the IOVA.  The device can then reach the rest of
 * the last page too: the IOMMU's protection is per page.
 */
static int
vfio_dma_map(struct udk_pci_device *dev, uint64_t iova, uint64_t len, int fd, uint64_t offset, uint32_t direction)
{
	struct vfio_state *st = state(dev);
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	uint64_t page = 4096, size = (len + page - 1) & ~(page - 1);
	struct vfio_dma *n;
	void *p;
	int r;

	if (offset & (page - 1))
		return udk_set_reason(-EINVAL,
				      "VFIO maps whole pages: the range to prepare must start on a page boundary of its "
				      "memory, not at offset %llu",
				      (unsigned long long)offset);
	/* the IOMMU maps this process's pages: map the memory here first */
	p = sys->mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED)
		return fail(-errno, "mapping memory for DMA");
	m.vaddr = (uint64_t)(uintptr_t)p;
	m.iova = iova;
	m.size = size;
	/* the device reads memory prepared OUT, writes memory prepared IN */
	m.flags = ((direction & 2) ? VFIO_DMA_MAP_FLAG_READ : 0) | ((direction & 1) ? VFIO_DMA_MAP_FLAG_WRITE : 0);
	r = call(st->container, VFIO_IOMMU_MAP_DMA, &m, "mapping DMA");
	if (r < 0) {
		sys->munmap(p, (size_t)size);
		return r;
	}
	n = reallocarray(st->dma, st->n_dma + 1, sizeof(*n));
	if (!n) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };
		sys->ioctl(st->container, VFIO_IOMMU_UNMAP_DMA, &u);
		sys->munmap(p, (size_t)size);
		return -ENOMEM;
	}
	st->dma = n;
	st->dma[st->n_dma++] = (struct vfio_dma){ iova, size, p, (size_t)size };
	return 0;
}

static int
vfio_dma_unmap(struct udk_pci_device *dev, uint64_t iova, uint64_t len)
{
	struct vfio_state *st = state(dev);
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = (len + 4095) & ~4095ull };
	int r = call(st->container, VFIO_IOMMU_UNMAP_DMA, &u, "unmapping DMA");

	for (size_t i = 0; i < st->n_dma; i++)
		if (st->dma[i].iova == iova) {
			sys->munmap(st->dma[i].vaddr, st->dma[i].map_len);
			st->dma[i] = st->dma[--st->n_dma];
			break;
		}
	return r;
}

static int
vfio_reset(struct udk_pci_device *dev)
{
	struct vfio_state *st = state(dev);

	if (sys->ioctl(dev->fd, VFIO_DEVICE_RESET, NULL) == 0)
		return 0;
	/* QEMU's edu, for one: no FLR, no PM reset, alone on the root bus (EINVAL) */
	if (!(st->device_flags & VFIO_DEVICE_FLAGS_RESET))
		return udk_set_reason(-UDK_E_UNSUPPORTED,
				      "VFIO: %s has no reset method (no function level, power management or bus "
				      "reset; VFIO_DEVICE_RESET: %s); its state stays as it is",
				      st->name, strerror(errno));
	return fail(-errno, "resetting the function");
}

static void
vfio_close(struct udk_pci_device *dev)
{
	struct vfio_state *st = state(dev);

	if (!st)
		return;
	req_stop(st);
	for (size_t i = 0; i < st->n_dma; i++) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = st->dma[i].iova,
							.size = st->dma[i].len };
		sys->ioctl(st->container, VFIO_IOMMU_UNMAP_DMA, &u);
		sys->munmap(st->dma[i].vaddr, st->dma[i].map_len);
	}
	free(st->dma);
	if (st->group >= 0)
		close(st->group);
	if (st->container >= 0)
		close(st->container);
	free(st);
	dev->backend_data = NULL;
}

const struct pci_backend pci_vfio_backend = {
	.name = "vfio",
	.config_read = vfio_config_read,
	.config_write = vfio_config_write,
	.mem_read = vfio_mem_read,
	.mem_write = vfio_mem_write,
	.map_bar = vfio_map_bar,
	.irq_set = vfio_irq_set,
	.dma_map = vfio_dma_map,
	.dma_unmap = vfio_dma_unmap,
	.reset = vfio_reset,
	.close = vfio_close,
};
