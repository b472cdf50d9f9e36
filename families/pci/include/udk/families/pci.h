/* SPDX-License-Identifier: MIT */
/*
 * families/pci.h - the PCI family for drivers (PCIDriverKit's IOPCIDevice,
 * IOInterruptDispatchSource and IODMACommand).
 *
 * A driver matched on an IOPCIDevice (IOPCIPrimaryMatch...) opens its
 * provider and then uses the function:
 *
 *	struct udk_pci_device *pci;
 *	udk_pci_open(provider, &pci);
 *	udk_pci_config_read16(pci, UDK_PCI_VENDOR_ID, &vendor);
 *	udk_pci_memory_write32(pci, 0, REG_CONTROL, 1);    // BAR 0
 *
 * The same calls work on every backend behind the family: a simulated
 * device (a device-model process, see devmodel.h), VFIO for a real device
 * given to user space, or sysfs for read-only inspection of a real one.
 * Calls that a backend cannot do return UDK_E_UNSUPPORTED with a reason.
 *
 * Errors: UDK_E_HARDWARE_GONE once the device is gone (unplugged, or its
 * model died); UDK_E_BUSY when another driver has the function open.
 */
#ifndef UDK_FAMILIES_PCI_H
#define UDK_FAMILIES_PCI_H

#include <udk/buffer.h>
#include <udk/driver.h>
#include <udk/queue.h>
#include <udk/userclient.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_pci_device;
struct udk_interrupt_source;
struct udk_dma_command;

/* Standard config space offsets. */
enum {
	UDK_PCI_VENDOR_ID = 0x00,
	UDK_PCI_DEVICE_ID = 0x02,
	UDK_PCI_COMMAND = 0x04,
	UDK_PCI_STATUS = 0x06,
	UDK_PCI_REVISION = 0x08,
	UDK_PCI_CLASS_CODE = 0x09,
	UDK_PCI_BAR0 = 0x10,
	UDK_PCI_SUBSYSTEM_VENDOR_ID = 0x2c,
	UDK_PCI_SUBSYSTEM_ID = 0x2e,
	UDK_PCI_CAPABILITIES = 0x34,
};

/* Capability ids for udk_pci_find_capability(). */
enum {
	UDK_PCI_CAP_PM = 0x01,
	UDK_PCI_CAP_MSI = 0x05,
	UDK_PCI_CAP_EXP = 0x10,
	UDK_PCI_CAP_MSIX = 0x11,
};

/* Open: exclusive access to the function.  Close (or the driver's exit) ends it. */
UDK_EXPORT int udk_pci_open(struct udk_service *provider, struct udk_pci_device **ret);
UDK_EXPORT void udk_pci_close(struct udk_pci_device *dev);
/* "sim", "vfio" or "sysfs". */
UDK_EXPORT const char *udk_pci_get_backend(const struct udk_pci_device *dev);

UDK_EXPORT int udk_pci_config_read8(struct udk_pci_device *dev, uint32_t offset, uint8_t *ret);
UDK_EXPORT int udk_pci_config_read16(struct udk_pci_device *dev, uint32_t offset, uint16_t *ret);
UDK_EXPORT int udk_pci_config_read32(struct udk_pci_device *dev, uint32_t offset, uint32_t *ret);
UDK_EXPORT int udk_pci_config_write8(struct udk_pci_device *dev, uint32_t offset, uint8_t value);
UDK_EXPORT int udk_pci_config_write16(struct udk_pci_device *dev, uint32_t offset, uint16_t value);
UDK_EXPORT int udk_pci_config_write32(struct udk_pci_device *dev, uint32_t offset, uint32_t value);

struct udk_pci_bar_info {
	uint64_t size;			/* 0: the BAR does not exist */
	bool mem64;
	bool prefetchable;
	bool mappable;			/* udk_pci_map_bar() gives its bytes directly */
	bool readonly;
};

UDK_EXPORT int udk_pci_get_bar_info(struct udk_pci_device *dev, unsigned bar, struct udk_pci_bar_info *ret);
/*
 * MemoryRead/MemoryWrite of @width bits at @offset in BAR @bar.  Writes are
 * posted: they return at once and reach the device in order, before any
 * later read.  Reads wait for the device.
 */
UDK_EXPORT int udk_pci_memory_read8(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint8_t *ret);
UDK_EXPORT int udk_pci_memory_read16(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint16_t *ret);
UDK_EXPORT int udk_pci_memory_read32(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint32_t *ret);
UDK_EXPORT int udk_pci_memory_read64(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint64_t *ret);
UDK_EXPORT int udk_pci_memory_write8(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint8_t value);
UDK_EXPORT int udk_pci_memory_write16(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint16_t value);
UDK_EXPORT int udk_pci_memory_write32(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint32_t value);
UDK_EXPORT int udk_pci_memory_write64(struct udk_pci_device *dev, unsigned bar, uint64_t offset, uint64_t value);
/* A mappable BAR's bytes in this process (borrowed: valid until close). */
UDK_EXPORT int udk_pci_map_bar(struct udk_pci_device *dev, unsigned bar, void **ret_addr, uint64_t *ret_size);

/* Offset of capability @id in config space; -ENOENT when absent. */
UDK_EXPORT int udk_pci_find_capability(struct udk_pci_device *dev, uint8_t id, uint32_t *ret_offset);
UDK_EXPORT int udk_pci_get_location(struct udk_pci_device *dev, uint8_t *ret_bus, uint8_t *ret_device,
				    uint8_t *ret_function);
/* Function level reset.  Every DMA mapping of the device is gone after it. */
UDK_EXPORT int udk_pci_reset(struct udk_pci_device *dev);
/* IOMMU faults the device caused so far (each one is also logged). */
UDK_EXPORT uint64_t udk_pci_get_iommu_faults(const struct udk_pci_device *dev);

/* ---- interrupts (IOInterruptDispatchSource) ---- */

/*
 * @count: interrupts since the handler last ran (they coalesce);
 * @time_ns: when the device raised the last one (udk_time_now_ns base).
 */
typedef void (*udk_interrupt_fn)(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx);

/* Deliver MSI/MSI-X vector @index to @fn on @queue. */
UDK_EXPORT int udk_interrupt_source_create(struct udk_pci_device *dev, unsigned index, struct udk_queue *queue,
					   udk_interrupt_fn fn, void *ctx, struct udk_interrupt_source **ret);
/* Stop delivery: @fn does not run after this returns.  Not from within @fn. */
UDK_EXPORT void udk_interrupt_source_destroy(struct udk_interrupt_source *src);

/* ---- DMA (IODMACommand) ---- */

struct udk_dma_spec {
	uint32_t max_address_bits;	/* IOVAs fit in this many bits (32..64; 0 = 64) */
	uint64_t max_segment_size;	/* 0: unlimited */
	uint64_t alignment;		/* IOVA alignment, a power of two (0: page) */
};

UDK_EXPORT int udk_dma_command_create(struct udk_pci_device *dev, const struct udk_dma_spec *spec,
				      struct udk_dma_command **ret);
UDK_EXPORT void udk_dma_command_free(struct udk_dma_command *cmd);
/*
 * PrepareForDMA: map @length bytes of @md from @offset (length 0: to the
 * end) for the device, in @md's direction, and return the device addresses.
 * *n_segments is the room in @segs on entry and the count on return; with
 * too little room it fails with -EOVERFLOW and says how many are needed.
 * Nothing is copied or touched: the cost does not depend on the size.
 */
UDK_EXPORT int udk_dma_command_prepare(struct udk_dma_command *cmd, struct udk_memory_descriptor *md,
				       uint64_t offset, uint64_t length, uint32_t *n_segments,
				       struct udk_address_segment *segs);
/* CompleteDMA: the device can no longer reach the memory. */
UDK_EXPORT int udk_dma_command_complete(struct udk_dma_command *cmd);
/* Read, write or zero the prepared memory through the command (offsets
 * relative to the prepared range). */
UDK_EXPORT int udk_dma_command_read(struct udk_dma_command *cmd, uint64_t offset, void *buf, uint64_t len);
UDK_EXPORT int udk_dma_command_write(struct udk_dma_command *cmd, uint64_t offset, const void *buf, uint64_t len);
UDK_EXPORT int udk_dma_command_zero(struct udk_dma_command *cmd, uint64_t offset, uint64_t len);

/* Memory a driver allocates itself, for rings and descriptors the device reads. */
UDK_EXPORT int udk_memory_descriptor_create(uint64_t size, uint32_t direction, struct udk_memory_descriptor **ret);

#ifdef __cplusplus
}
#endif
#endif
