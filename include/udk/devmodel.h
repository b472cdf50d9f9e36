/* SPDX-License-Identifier: MIT */
/*
 * devmodel.h - writing simulated hardware: a device-model process.
 *
 * udkd starts each device of the machine description as its own process.
 * The model registers one or more PCI functions, then runs:
 *
 *	int main(int argc, char **argv)
 *	{
 *		struct udk_dm *dm;
 *		struct udk_dm_function *fn;
 *		if (udk_dm_new(argc, argv, &dm) < 0)
 *			return 1;
 *		udk_dm_add_pci_function(dm, &my_config, &my_ops, my_state, &fn);
 *		return udk_dm_run(dm);
 *	}
 *
 * The driver of the function reaches it through udkd's broker, then
 * directly: register reads and writes call mmio_read/mmio_write on the
 * model's main thread, in order; writes are posted (the driver does not
 * wait), reads wait for the value, as on PCIe.  BARs flagged MAPPABLE are
 * shared memory the driver maps; the model sees the same bytes.
 *
 * DMA goes through a simulated IOMMU: the model can reach only the device
 * addresses (IOVAs) its driver prepared, in the prepared direction.
 * Anything else fails with UDK_E_IOMMU_FAULT and the driver is told.
 *
 * udk_dm_raise_msi(), udk_dm_dma_*() and udk_dm_bar_address() may be
 * called from any thread of the model.
 */
#ifndef UDK_DEVMODEL_H
#define UDK_DEVMODEL_H

#include <udk/udk.h>
#include <udk/value.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_dm;
struct udk_dm_function;

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

/* Connect to udkd (fd 3).  Outside udkd this prints how to run a model. */
UDK_EXPORT int udk_dm_new(int argc, char **argv, struct udk_dm **ret);
/* The device's Properties from the machine description (borrowed). */
UDK_EXPORT const struct udk_value *udk_dm_get_properties(struct udk_dm *dm);
/* The device's Name from the machine description (borrowed). */
UDK_EXPORT const char *udk_dm_get_name(struct udk_dm *dm);
UDK_EXPORT int udk_dm_add_pci_function(struct udk_dm *dm, const struct udk_dm_pci_config *config,
				       const struct udk_dm_ops *ops, void *userdata, struct udk_dm_function **ret);
/* Publish the functions and serve until udkd stops the model. */
UDK_EXPORT int udk_dm_run(struct udk_dm *dm);
/* Run @fn(@ctx) on the main thread (with the callbacks), from any thread. */
UDK_EXPORT int udk_dm_post(struct udk_dm *dm, void (*fn)(void *ctx), void *ctx);

UDK_EXPORT void *udk_dm_function_get_userdata(struct udk_dm_function *fn);
UDK_EXPORT struct udk_dm *udk_dm_function_get_model(struct udk_dm_function *fn);
/* Whether a driver has the function open right now. */
UDK_EXPORT bool udk_dm_function_is_open(struct udk_dm_function *fn);
/* The bytes of a MAPPABLE BAR (shared with the driver), or NULL. */
UDK_EXPORT void *udk_dm_bar_address(struct udk_dm_function *fn, int bar);

/* Signal MSI/MSI-X @vector.  -ENXIO if the driver has not set it up. */
UDK_EXPORT int udk_dm_raise_msi(struct udk_dm_function *fn, unsigned vector);

/* Device reads (memory -> device) and writes (device -> memory) by IOVA. */
UDK_EXPORT int udk_dm_dma_read(struct udk_dm_function *fn, uint64_t iova, void *buf, uint64_t len);
UDK_EXPORT int udk_dm_dma_write(struct udk_dm_function *fn, uint64_t iova, const void *buf, uint64_t len);
/*
 * Direct access: a pointer to @len bytes at @iova, which must lie in one
 * prepared range allowing @write (or reading).  Valid until the driver
 * completes that range (udk_dm_dma_put() after use).  For engines that
 * fill large frames without a copy per call.
 */
UDK_EXPORT int udk_dm_dma_get(struct udk_dm_function *fn, uint64_t iova, uint64_t len, bool write, void **ret);
UDK_EXPORT void udk_dm_dma_put(struct udk_dm_function *fn, void *ptr);

/* Log through udkd, as drivers do. */
UDK_EXPORT void udk_dm_log(struct udk_dm *dm, int level, const char *fmt, ...) UDK_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif
#endif
