/* SPDX-License-Identifier: MIT */
/*
 * families/pci-devmodel.h - simulated PCI functions: the PCI kind of device
 * model (the generic part is <udk/devmodel.h>).
 *
 *	udk_dm_add_pci_function(dm, &config, &ops, state, &fn);
 *
 * The driver of the function reaches it through udkd's broker, then
 * directly: register reads and writes call mmio_read/mmio_write on the
 * model's main thread, in order; writes are posted (the driver does not
 * wait), reads wait for the value, as on PCIe.  BARs flagged MAPPABLE are
 * shared memory the driver maps; the model sees the same bytes.
 * udk_dm_bar_address() may be called from any thread.
 */
#ifndef UDK_FAMILIES_PCI_DEVMODEL_H
#define UDK_FAMILIES_PCI_DEVMODEL_H

#include <udk/devmodel.h>

#ifdef __cplusplus
extern "C" {
#endif

enum udk_dm_bar_flags {
	UDK_DM_BAR_MEM64 = 1 << 0,	/* 64-bit memory BAR */
	UDK_DM_BAR_PREFETCH = 1 << 1,	/* prefetchable */
	UDK_DM_BAR_MAPPABLE = 1 << 2,	/* plain memory: the driver maps it, no callbacks */
	UDK_DM_BAR_READONLY = 1 << 3,	/* MAPPABLE and read-only for the driver (a ROM) */
};

struct udk_dm_bar {
	uint64_t size;			/* 0: no BAR; else a power of two >= 16 */
	uint32_t flags;
};

struct udk_dm_pci_config {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint32_t class_code;		/* 24 bits: class, subclass, prog-if */
	uint8_t revision;
	struct udk_dm_bar bars[6];
	uint16_t msi_vectors;		/* MSI capability with this many vectors (1..32), 0: none */
	uint16_t msix_vectors;		/* MSI-X table size, 0: none */
	bool power_management;		/* a PM capability */
};

/* Callbacks run on the model's main thread, one at a time.  All optional;
 * fields are only appended. */
struct udk_dm_ops {
	uint32_t struct_size;		/* sizeof(struct udk_dm_ops) */
	/* A register read of @width bytes (1, 2, 4, 8) at @offset of BAR @bar. */
	uint64_t (*mmio_read)(struct udk_dm_function *fn, int bar, uint64_t offset, unsigned width);
	void (*mmio_write)(struct udk_dm_function *fn, int bar, uint64_t offset, unsigned width, uint64_t value);
	/* A config write past the standard header. */
	void (*config_write)(struct udk_dm_function *fn, uint32_t offset, unsigned width, uint32_t value);
	/*
	 * Function level reset: the driver asked, or its driver died and
	 * another will start.  Every IOMMU mapping is already gone.
	 */
	void (*reset)(struct udk_dm_function *fn, const char *why);
	/* A driver opened / closed the function. */
	void (*opened)(struct udk_dm_function *fn);
	void (*closed)(struct udk_dm_function *fn);
};

#define UDK_DM_OPS_INIT .struct_size = sizeof(struct udk_dm_ops)

UDK_EXPORT int udk_dm_add_pci_function(struct udk_dm *dm, const struct udk_dm_pci_config *config,
				       const struct udk_dm_ops *ops, void *userdata, struct udk_dm_function **ret);
/* The bytes of a MAPPABLE BAR (shared with the driver), or NULL. */
UDK_EXPORT void *udk_dm_bar_address(struct udk_dm_function *fn, int bar);

#ifdef __cplusplus
}
#endif
#endif
