/* SPDX-License-Identifier: MIT */
/*
 * The PCI family's VFIO backend against a recording fake kernel.
 *
 * This machine has no VFIO, so a fake answers the ioctls the way
 * drivers/vfio/vfio.c and vfio_pci_core.c do, records them, and the tests
 * compare the sequence with the one the VFIO documentation prescribes
 * (Documentation/driver-api/vfio.rst, "VFIO Usage Example").
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pci-private.h"
#include "test.h"

#define FAKE_DEVICE_FD 1000
#define REGION_SHIFT 40

static struct {
	char log[64][48];
	int n;
	bool not_viable;
	int api_version;
	bool no_msix;
	bool bar2_no_mmap;
	uint8_t config[256];
	uint32_t bar0[16];
	struct vfio_iommu_type1_dma_map last_map;
	int last_irq_fd;
	unsigned last_irq_index, last_irq_start;
	int container, group;
	int maps, unmaps;
	bool no_req;			/* a kernel without the request interrupt */
	int req_fd;			/* the eventfd routed to VFIO_PCI_REQ_IRQ_INDEX */
	atomic_int released;		/* release_requested calls (the watcher's thread) */
	char released_name[32];
} k;

static void
record(const char *s)
{
	if (k.n < 64)
		snprintf(k.log[k.n++], sizeof(k.log[0]), "%s", s);
}

static int
fake_ioctl(int fd, unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GET_API_VERSION:
		record("GET_API_VERSION");
		return k.api_version;
	case VFIO_CHECK_EXTENSION:
		record("CHECK_EXTENSION");
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU;
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status *s = arg;
		record("GROUP_GET_STATUS");
		if (fd != k.group || s->argsz < sizeof(*s))
			return errno = EINVAL, -1;
		s->flags = k.not_viable ? 0 : VFIO_GROUP_FLAGS_VIABLE;
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER:
		record("GROUP_SET_CONTAINER");
		if (fd != k.group || *(int *)arg != k.container)
			return errno = EINVAL, -1;
		return 0;
	case VFIO_SET_IOMMU:
		record("SET_IOMMU");
		return fd == k.container && (uintptr_t)arg == VFIO_TYPE1v2_IOMMU ? 0 : (errno = EINVAL, -1);
	case VFIO_GROUP_GET_DEVICE_FD:
		record("GROUP_GET_DEVICE_FD");
		if (strcmp(arg, "0000:03:00.0") != 0)
			return errno = ENODEV, -1;
		return FAKE_DEVICE_FD;
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *i = arg;
		record("DEVICE_GET_INFO");
		i->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		i->num_regions = VFIO_PCI_NUM_REGIONS;
		i->num_irqs = VFIO_PCI_NUM_IRQS;
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info *r = arg;
		record("DEVICE_GET_REGION_INFO");
		r->offset = (uint64_t)r->index << REGION_SHIFT;
		r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		r->size = 0;
		if (r->index == VFIO_PCI_CONFIG_REGION_INDEX)
			r->size = 256;
		else if (r->index == 0) {
			r->size = sizeof(k.bar0);
			r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		} else if (r->index == 2) {
			r->size = 1 << 20;
			if (!k.bar2_no_mmap)
				r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		}
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *i = arg;
		record("DEVICE_GET_IRQ_INFO");
		i->count = i->index == VFIO_PCI_MSIX_IRQ_INDEX ? (k.no_msix ? 0 : 8)
			   : i->index == VFIO_PCI_MSI_IRQ_INDEX ? 1
			   : i->index == VFIO_PCI_REQ_IRQ_INDEX ? (k.no_req ? 0 : 1)
								   : 0;
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct vfio_irq_set *s = arg;
		record("DEVICE_SET_IRQS");
		if (s->argsz < sizeof(*s) + sizeof(int32_t) || s->count != 1 ||
		    s->flags != (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER))
			return errno = EINVAL, -1;
		if (s->index == VFIO_PCI_REQ_IRQ_INDEX) {
			memcpy(&k.req_fd, s->data, sizeof(int32_t));
			return 0;
		}
		memcpy(&k.last_irq_fd, s->data, sizeof(int32_t));
		k.last_irq_index = s->index;
		k.last_irq_start = s->start;
		return 0;
	}
	case VFIO_IOMMU_MAP_DMA:
		record("IOMMU_MAP_DMA");
		if (fd != k.container)
			return errno = EINVAL, -1;
		k.last_map = *(struct vfio_iommu_type1_dma_map *)arg;
		/* as the kernel's type1 IOMMU: whole pages only (seen in the QEMU guest, tests/guest/) */
		if ((k.last_map.vaddr | k.last_map.iova | k.last_map.size) & 4095)
			return errno = EINVAL, -1;
		return 0;
	case VFIO_IOMMU_UNMAP_DMA:
		record("IOMMU_UNMAP_DMA");
		if ((((struct vfio_iommu_type1_dma_unmap *)arg)->iova | ((struct vfio_iommu_type1_dma_unmap *)arg)->size) &
		    4095)
			return errno = EINVAL, -1;
		return fd == k.container ? 0 : (errno = EINVAL, -1);
	case VFIO_DEVICE_RESET:
		record("DEVICE_RESET");
		return fd == FAKE_DEVICE_FD ? 0 : (errno = EINVAL, -1);
	}
	return errno = ENOTTY, -1;
}

static void *
region_ptr(off_t off, size_t len)
{
	unsigned index = (unsigned)((uint64_t)off >> REGION_SHIFT);
	uint64_t o = (uint64_t)off & ((1ull << REGION_SHIFT) - 1);

	if (index == VFIO_PCI_CONFIG_REGION_INDEX && o + len <= sizeof(k.config))
		return k.config + o;
	if (index == 0 && o + len <= sizeof(k.bar0))
		return (uint8_t *)k.bar0 + o;
	return NULL;
}

static ssize_t
fake_pread(int fd, void *buf, size_t len, off_t off)
{
	void *p = region_ptr(off, len);

	if (fd != FAKE_DEVICE_FD || !p)
		return errno = EIO, -1;
	memcpy(buf, p, len);
	return (ssize_t)len;
}

static ssize_t
fake_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	void *p = region_ptr(off, len);

	if (fd != FAKE_DEVICE_FD || !p)
		return errno = EIO, -1;
	memcpy(p, buf, len);
	return (ssize_t)len;
}

static void *
fake_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	k.maps++;
	record(fd == FAKE_DEVICE_FD ? "mmap device" : "mmap memory");
	return mmap(addr, len, prot, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

static int
fake_munmap(void *addr, size_t len)
{
	k.unmaps++;
	return munmap(addr, len);
}

static int
fake_release_requested(const char *name)
{
	snprintf(k.released_name, sizeof(k.released_name), "%s", name);
	atomic_fetch_add(&k.released, 1);
	return 0;
}

static const struct vfio_sys fake = {
	.ioctl = fake_ioctl,
	.pread = fake_pread,
	.pwrite = fake_pwrite,
	.mmap = fake_mmap,
	.munmap = fake_munmap,
	.release_requested = fake_release_requested,
};

static void
fake_reset(void)
{
	memset(&k, 0, sizeof(k));
	k.api_version = VFIO_API_VERSION;
	k.config[0] = 0xf4;
	k.config[1] = 0x1a; /* 1af4: virtio */
	k.last_irq_fd = -2;
	k.req_fd = -1;
}

static int
open_dev(struct udk_pci_device *dev, const char *name)
{
	memset(dev, 0, sizeof(*dev));
	dev->be = &pci_vfio_backend;
	dev->fd = -1;
	k.container = open("/dev/null", O_RDONLY | O_CLOEXEC);
	k.group = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pci_vfio_set_sys(&fake);
	return pci_vfio_attach(dev, k.container, k.group, name);
}

static void
assert_log(const char *const *want)
{
	int i;

	for (i = 0; want[i]; i++) {
		if (i >= k.n)
			test_fail(__FILE__, __LINE__, "call %d: wanted %s, the backend stopped", i, want[i]);
		if (strcmp(k.log[i], want[i]) != 0)
			test_fail(__FILE__, __LINE__, "call %d: wanted %s, the backend did %s", i, want[i], k.log[i]);
	}
	if (i != k.n)
		test_fail(__FILE__, __LINE__, "%d calls more than wanted, first %s", k.n - i, k.log[i]);
}

TEST(attach_follows_the_documented_sequence)
{
	struct udk_pci_device dev;
	static const char *const want[] = {
		"GET_API_VERSION",
		"CHECK_EXTENSION",
		"GROUP_GET_STATUS",
		"GROUP_SET_CONTAINER",
		"SET_IOMMU",
		"GROUP_GET_DEVICE_FD",
		"DEVICE_GET_INFO",
		"DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_INFO",
		"DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_INFO",
		"DEVICE_GET_REGION_INFO", "DEVICE_GET_REGION_INFO",
		"DEVICE_GET_IRQ_INFO",
		/* the kernel's request for the device, routed to an eventfd */
		"DEVICE_GET_IRQ_INFO", "DEVICE_SET_IRQS",
		NULL,
	};

	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	assert_log(want);
	ASSERT_EQ(dev.fd, FAKE_DEVICE_FD);
	ASSERT_EQ(dev.bars[0].size, sizeof(k.bar0));
	ASSERT_EQ(dev.bars[2].size, 1u << 20);
	ASSERT_EQ(dev.bars[1].size, 0u);
	dev.fd = -1; /* the fake's number is not a real descriptor */
	pci_vfio_backend.close(&dev);
}

TEST(config_and_registers_are_region_reads_and_writes)
{
	struct udk_pci_device dev;
	uint32_t v;
	uint64_t r;

	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	ASSERT_OK(pci_vfio_backend.config_read(&dev, 0, 2, &v));
	ASSERT_EQ(v, 0x1af4u);
	ASSERT_OK(pci_vfio_backend.config_write(&dev, 4, 2, 0x0006));
	ASSERT_EQ(k.config[4], 6);
	ASSERT_OK(pci_vfio_backend.mem_write(&dev, 0, 8, 4, 0xdeadbeef));
	ASSERT_EQ(k.bar0[2], 0xdeadbeefu);
	ASSERT_OK(pci_vfio_backend.mem_read(&dev, 0, 8, 4, &r));
	ASSERT_EQ(r, 0xdeadbeefu);
	/* past the end of the region: refused before the kernel sees it */
	ASSERT_ERR(pci_vfio_backend.config_read(&dev, 255, 4, &v), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "past region");
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
}

TEST(bars_map_only_when_the_kernel_allows)
{
	struct udk_pci_device dev;
	void *p = NULL;
	bool ro = true;

	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	ASSERT_OK(pci_vfio_backend.map_bar(&dev, 0, &p, &ro));
	ASSERT_NOT_NULL(p);
	ASSERT_FALSE(ro);
	munmap(p, dev.bars[0].size);
	k.n = 0;
	/* a region without the MMAP flag */
	ASSERT_ERR(pci_vfio_backend.map_bar(&dev, 1, &p, &ro), -UDK_E_UNSUPPORTED);
	ASSERT_CONTAINS(udk_error_reason(), "register accesses");
	ASSERT_EQ(k.n, 0);
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
}

TEST(interrupts_are_msix_eventfds)
{
	struct udk_pci_device dev;

	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	ASSERT_OK(pci_vfio_backend.irq_set(&dev, 3, 42));
	ASSERT_EQ(k.last_irq_index, (unsigned)VFIO_PCI_MSIX_IRQ_INDEX);
	ASSERT_EQ(k.last_irq_start, 3u);
	ASSERT_EQ(k.last_irq_fd, 42);
	ASSERT_OK(pci_vfio_backend.irq_set(&dev, 3, -1));
	ASSERT_EQ(k.last_irq_fd, -1);
	ASSERT_ERR(pci_vfio_backend.irq_set(&dev, 8, 42), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "8 MSI/MSI-X vectors");
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
}

TEST(msi_is_used_without_msix)
{
	struct udk_pci_device dev;

	fake_reset();
	k.no_msix = true;
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	ASSERT_OK(pci_vfio_backend.irq_set(&dev, 0, 7));
	ASSERT_EQ(k.last_irq_index, (unsigned)VFIO_PCI_MSI_IRQ_INDEX);
	ASSERT_ERR(pci_vfio_backend.irq_set(&dev, 1, 7), -EINVAL);
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
}

TEST(dma_maps_this_process_memory_with_direction)
{
	struct udk_pci_device dev;
	int memfd = memfd_create("dma", MFD_CLOEXEC);
	int maps;

	ASSERT_TRUE(memfd >= 0);
	ASSERT_OK(ftruncate(memfd, 3 << 20));
	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	maps = k.maps;
	/* prepared IN: the device writes, so the IOMMU entry is WRITE only */
	ASSERT_OK(pci_vfio_backend.dma_map(&dev, 0x100000000ull, 1 << 20, memfd, 4096, 1));
	ASSERT_EQ(k.maps, maps + 1);
	ASSERT_EQ(k.last_map.iova, 0x100000000ull);
	ASSERT_EQ(k.last_map.size, 1u << 20);
	ASSERT_EQ(k.last_map.flags, (uint32_t)VFIO_DMA_MAP_FLAG_WRITE);
	ASSERT_EQ(k.last_map.vaddr & 4095, 0u);
	/* a length that is not whole pages is mapped as whole pages (4095 bytes: one page) */
	ASSERT_OK(pci_vfio_backend.dma_map(&dev, 0x200000000ull, 4095, memfd, 0, 2));
	ASSERT_EQ(k.last_map.flags, (uint32_t)VFIO_DMA_MAP_FLAG_READ);
	ASSERT_EQ(k.last_map.size, 4096u);
	/* a range that starts inside a page cannot be mapped: refused with the reason */
	ASSERT_ERR(pci_vfio_backend.dma_map(&dev, 0x300000000ull, 100, memfd, 4096 + 512, 2), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "start on a page boundary");
	ASSERT_OK(pci_vfio_backend.dma_unmap(&dev, 0x100000000ull, 1 << 20));
	ASSERT_EQ(k.unmaps, 1);
	/* close unmaps what is left, from the IOMMU and this process */
	k.n = 0;
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
	ASSERT_EQ(k.unmaps, 2);
	ASSERT_EQ(k.n, 1);
	ASSERT_STREQ(k.log[0], "IOMMU_UNMAP_DMA");
	close(memfd);
}

TEST(reset_is_the_device_reset_ioctl)
{
	struct udk_pci_device dev;

	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	k.n = 0;
	ASSERT_OK(pci_vfio_backend.reset(&dev));
	ASSERT_STREQ(k.log[0], "DEVICE_RESET");
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
}

TEST(a_group_that_is_not_viable_is_explained)
{
	struct udk_pci_device dev;

	fake_reset();
	k.not_viable = true;
	ASSERT_ERR(open_dev(&dev, "0000:03:00.0"), -EBUSY);
	ASSERT_CONTAINS(udk_error_reason(), "not viable");
	ASSERT_CONTAINS(udk_error_reason(), "iommu_group/devices");
	/* it stopped before touching the container */
	ASSERT_STREQ(k.log[k.n - 1], "GROUP_GET_STATUS");
	pci_vfio_backend.close(&dev);
}

TEST(another_api_version_is_refused)
{
	struct udk_pci_device dev;

	fake_reset();
	k.api_version = VFIO_API_VERSION + 1;
	ASSERT_ERR(open_dev(&dev, "0000:03:00.0"), -UDK_E_UNSUPPORTED);
	ASSERT_CONTAINS(udk_error_reason(), "API version");
	ASSERT_EQ(k.n, 1);
	pci_vfio_backend.close(&dev);
}

TEST(a_device_outside_the_group_is_explained)
{
	struct udk_pci_device dev;

	fake_reset();
	ASSERT_ERR(open_dev(&dev, "0000:04:00.0"), -ENODEV);
	ASSERT_CONTAINS(udk_error_reason(), "getting the device from its group");
	pci_vfio_backend.close(&dev);
}

TEST(the_kernels_request_for_the_device_is_passed_to_udkd)
{
	struct udk_pci_device dev;
	uint64_t one = 1;

	fake_reset();
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	ASSERT_GE(k.req_fd, 0);
	ASSERT_EQ(atomic_load(&k.released), 0);
	/* the kernel signals it (vfio_pci_core_request), and again while it waits */
	ASSERT_EQ(write(k.req_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	for (int i = 0; i < 500 && atomic_load(&k.released) < 1; i++)
		poll(NULL, 0, 10);
	ASSERT_EQ(atomic_load(&k.released), 1);
	ASSERT_STREQ(k.released_name, "0000:03:00.0");
	ASSERT_EQ(write(k.req_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	for (int i = 0; i < 500 && atomic_load(&k.released) < 2; i++)
		poll(NULL, 0, 10);
	ASSERT_EQ(atomic_load(&k.released), 2);
	/* closing stops the watcher (joined) and closes its eventfd */
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
	ASSERT_EQ(fcntl(k.req_fd, F_GETFD), -1);

	/* a kernel without the request interrupt: nothing routed, the device works */
	fake_reset();
	k.no_req = true;
	ASSERT_OK(open_dev(&dev, "0000:03:00.0"));
	ASSERT_EQ(k.req_fd, -1);
	dev.fd = -1;
	pci_vfio_backend.close(&dev);
}
