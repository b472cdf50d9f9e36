/* SPDX-License-Identifier: MIT */
/*
 * dma.c - DMA commands (IODMACommand) and device addresses.
 *
 * Preparing gives the memory's memfd, an offset and a length to the
 * backend, which maps it for the device (the simulated IOMMU, or
 * VFIO_IOMMU_MAP_DMA).  Nothing is copied, pinned page by page or touched:
 * the cost is the same for 4 KiB and for 4 GiB.  Device addresses (IOVAs)
 * come from a per-device allocator: 64-bit devices get addresses above
 * 4 GiB, so a driver that truncates an address to 32 bits fails at once,
 * and the total prepared is limited only by the address width.
 */
#include <stdatomic.h>

#include "pci-private.h"
#include "private.h"
#include "util.h"

#define PAGE 4096ull

struct udk_dma_command {
	struct udk_pci_device *dev;
	struct udk_dma_spec spec;
	struct udk_memory_descriptor *md;
	uint64_t offset;	/* in md */
	uint64_t iova;
	uint64_t len;
	uint64_t span;		/* IOVA space reserved (aligned length) */
	bool prepared;
};

/* The lowest free range of @len aligned to @align, below 2^@bits. */
static int
iova_alloc(struct udk_pci_device *dev, uint64_t len, uint64_t align, unsigned bits, uint64_t *ret)
{
	uint64_t limit = bits >= 64 ? UINT64_MAX : (1ull << bits) - 1; /* inclusive */
	uint64_t at = bits > 32 ? (1ull << 32) : (1ull << 20);
	struct iova_range *n;
	size_t i;

	pthread_mutex_lock(&dev->iova_lock);
	for (i = 0;; i++) {
		at = (at + align - 1) & ~(align - 1);
		if (at == 0 || at > limit || len - 1 > limit - at) {
			pthread_mutex_unlock(&dev->iova_lock);
			return -ENOSPC;
		}
		/* ranges are sorted: [at, at+len) fits before range i? */
		if (i == dev->n_iovas || at + len <= dev->iovas[i].start)
			break;
		if (dev->iovas[i].start + dev->iovas[i].len > at)
			at = dev->iovas[i].start + dev->iovas[i].len;
	}
	n = reallocarray(dev->iovas, dev->n_iovas + 1, sizeof(*n));
	if (!n) {
		pthread_mutex_unlock(&dev->iova_lock);
		return -ENOMEM;
	}
	dev->iovas = n;
	memmove(&dev->iovas[i + 1], &dev->iovas[i], (dev->n_iovas - i) * sizeof(*n));
	dev->iovas[i] = (struct iova_range){ at, len };
	dev->n_iovas++;
	pthread_mutex_unlock(&dev->iova_lock);
	*ret = at;
	return 0;
}

static void
iova_free(struct udk_pci_device *dev, uint64_t start)
{
	pthread_mutex_lock(&dev->iova_lock);
	for (size_t i = 0; i < dev->n_iovas; i++)
		if (dev->iovas[i].start == start) {
			memmove(&dev->iovas[i], &dev->iovas[i + 1], (dev->n_iovas - i - 1) * sizeof(*dev->iovas));
			dev->n_iovas--;
			break;
		}
	pthread_mutex_unlock(&dev->iova_lock);
}

UDK_EXPORT int
udk_dma_command_create(struct udk_pci_device *dev, const struct udk_dma_spec *spec, struct udk_dma_command **ret)
{
	struct udk_dma_command *cmd;

	udk_return_val_if_fail(dev && ret, -EINVAL);
	cmd = calloc(1, sizeof(*cmd));
	if (!cmd)
		return -ENOMEM;
	cmd->dev = dev;
	if (spec)
		cmd->spec = *spec;
	if (!cmd->spec.max_address_bits)
		cmd->spec.max_address_bits = 64;
	if (!cmd->spec.alignment)
		cmd->spec.alignment = PAGE;
	if (cmd->spec.max_address_bits < 32 || cmd->spec.max_address_bits > 64 ||
	    (cmd->spec.alignment & (cmd->spec.alignment - 1))) {
		free(cmd);
		return udk_set_reason(-EINVAL, "max_address_bits must be 32..64 and alignment a power of two");
	}
	*ret = cmd;
	return 0;
}

UDK_EXPORT void
udk_dma_command_free(struct udk_dma_command *cmd)
{
	if (!cmd)
		return;
	if (cmd->prepared)
		udk_dma_command_complete(cmd);
	free(cmd);
}

UDK_EXPORT int
udk_dma_command_prepare(struct udk_dma_command *cmd, struct udk_memory_descriptor *md, uint64_t offset,
			uint64_t length, uint32_t *n_segments, struct udk_address_segment *segs)
{
	struct udk_pci_device *dev;
	uint64_t total, need, iova, span, fd_off;
	int fd, r;

	udk_return_val_if_fail(cmd && md && n_segments && (segs || !*n_segments), -EINVAL);
	dev = cmd->dev;
	if (cmd->prepared)
		return udk_set_reason(-EBUSY, "the command is prepared already; complete it first");
	total = udk_memory_descriptor_get_length(md);
	if (offset > total)
		return udk_set_reason(-EINVAL, "offset %llu is past the descriptor's %llu bytes",
				      (unsigned long long)offset, (unsigned long long)total);
	if (!length)
		length = total - offset;
	if (length > total - offset || !length)
		return udk_set_reason(-EINVAL, "%llu bytes from %llu do not fit the descriptor's %llu",
				      (unsigned long long)length, (unsigned long long)offset,
				      (unsigned long long)total);
	need = cmd->spec.max_segment_size ? (length + cmd->spec.max_segment_size - 1) / cmd->spec.max_segment_size : 1;
	if (need > *n_segments) {
		*n_segments = (uint32_t)MIN(need, UINT32_MAX);
		return udk_set_reason(-EOVERFLOW, "the range needs %llu segments, the caller has room for fewer",
				      (unsigned long long)need);
	}
	if (dev->gone)
		return pci_gone(dev);
	if (!dev->be->dma_map)
		return pci_unsupported(dev, "DMA");
	if (md_backing(md, &fd, &fd_off) < 0)
		return udk_set_reason(-EINVAL, "this descriptor has no memory a device can reach");
	span = (length + PAGE - 1) & ~(PAGE - 1);
	r = iova_alloc(dev, span, MAX(cmd->spec.alignment, PAGE), cmd->spec.max_address_bits, &iova);
	if (r < 0)
		return udk_set_reason(r, "no room for %llu bytes of device addresses below 2^%u",
				      (unsigned long long)span, cmd->spec.max_address_bits);
	r = dev->be->dma_map(dev, iova, length, fd, fd_off + offset, udk_memory_descriptor_get_direction(md));
	if (r < 0) {
		iova_free(dev, iova);
		return r;
	}
	cmd->md = udk_memory_descriptor_ref(md);
	cmd->offset = offset;
	cmd->iova = iova;
	cmd->len = length;
	cmd->span = span;
	cmd->prepared = true;
	*n_segments = (uint32_t)need;
	for (uint64_t i = 0, at = 0; i < need; i++) {
		uint64_t k = cmd->spec.max_segment_size ? MIN(cmd->spec.max_segment_size, length - at) : length;
		segs[i] = (struct udk_address_segment){ iova + at, k };
		at += k;
	}
	return 0;
}

UDK_EXPORT int
udk_dma_command_complete(struct udk_dma_command *cmd)
{
	int r = 0;

	udk_return_val_if_fail(cmd, -EINVAL);
	if (!cmd->prepared)
		return udk_set_reason(-EINVAL, "the command is not prepared");
	if (!cmd->dev->gone && cmd->dev->be->dma_unmap)
		r = cmd->dev->be->dma_unmap(cmd->dev, cmd->iova, cmd->len);
	iova_free(cmd->dev, cmd->iova);
	udk_memory_descriptor_unref(cmd->md);
	cmd->md = NULL;
	cmd->prepared = false;
	/* a reset already dropped the mapping: not an error */
	return r == -ENOENT ? 0 : r;
}

static int
check(struct udk_dma_command *cmd, uint64_t offset, uint64_t len)
{
	if (!cmd || !cmd->prepared)
		return udk_set_reason(-EINVAL, "the command is not prepared");
	if (offset > cmd->len || len > cmd->len - offset)
		return udk_set_reason(-UDK_E_BAD_ADDRESS, "%llu bytes at %llu are outside the prepared %llu",
				      (unsigned long long)len, (unsigned long long)offset, (unsigned long long)cmd->len);
	return 0;
}

UDK_EXPORT int
udk_dma_command_read(struct udk_dma_command *cmd, uint64_t offset, void *buf, uint64_t len)
{
	int r = check(cmd, offset, len);

	return r < 0 ? r : udk_memory_descriptor_read(cmd->md, cmd->offset + offset, buf, len);
}

UDK_EXPORT int
udk_dma_command_write(struct udk_dma_command *cmd, uint64_t offset, const void *buf, uint64_t len)
{
	int r = check(cmd, offset, len);

	if (r < 0)
		return r;
	/* the CPU side of device memory: any direction may be filled */
	memcpy(md_address(cmd->md) + cmd->offset + offset, buf, len);
	return 0;
}

UDK_EXPORT int
udk_dma_command_zero(struct udk_dma_command *cmd, uint64_t offset, uint64_t len)
{
	int r = check(cmd, offset, len);

	if (r < 0)
		return r;
	memset(md_address(cmd->md) + cmd->offset + offset, 0, len);
	return 0;
}

UDK_EXPORT int
udk_memory_descriptor_create(uint64_t size, uint32_t direction, struct udk_memory_descriptor **ret)
{
	struct udk_buffer *b = NULL;
	int r;

	udk_return_val_if_fail(ret && size, -EINVAL);
	r = udk_buffer_create(size, 0, &b);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_from_buffer(b, direction, ret);
	udk_buffer_unref(b);
	return r;
}
