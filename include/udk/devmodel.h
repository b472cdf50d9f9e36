/* SPDX-License-Identifier: MIT */
/*
 * devmodel.h - writing simulated hardware: a device-model process.
 *
 * udkd starts each device of the machine description as its own process.
 * The model adds one or more functions of its family's kind (each family's
 * header says how, e.g. <udk/families/NAME-devmodel.h>), then runs:
 *
 *	int main(int argc, char **argv)
 *	{
 *		struct udk_dm *dm;
 *		struct udk_dm_function *fn;
 *		if (udk_dm_new(argc, argv, &dm) < 0)
 *			return 1;
 *		udk_dm_add_..._function(dm, &my_config, &my_ops, my_state, &fn);
 *		return udk_dm_run(dm);
 *	}
 *
 * The driver of a function reaches it through udkd's broker, then
 * directly; the family's header says what its callbacks see.
 *
 * What every kind of device has, and this header gives: its properties
 * from the machine description, a main thread that runs callbacks one at a
 * time (udk_dm_post() from other threads), interrupts (message-signalled
 * vectors) and DMA through a simulated IOMMU: the model can reach only the
 * device addresses (IOVAs) its driver prepared, in the prepared direction.
 * Anything else fails with UDK_E_IOMMU_FAULT and the driver is told.
 *
 * udk_dm_raise_msi(), udk_dm_dma_*() and udk_dm_post() may be called from
 * any thread of the model.
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

/* Connect to udkd (fd 3).  Outside udkd this prints how to run a model. */
UDK_EXPORT int udk_dm_new(int argc, char **argv, struct udk_dm **ret);
/* The device's Properties from the machine description (borrowed). */
UDK_EXPORT const struct udk_value *udk_dm_get_properties(struct udk_dm *dm);
/* The device's Name from the machine description (borrowed). */
UDK_EXPORT const char *udk_dm_get_name(struct udk_dm *dm);
/* Publish the functions and serve until udkd stops the model. */
UDK_EXPORT int udk_dm_run(struct udk_dm *dm);
/* Run @fn(@ctx) on the main thread (with the callbacks), from any thread. */
UDK_EXPORT int udk_dm_post(struct udk_dm *dm, void (*fn)(void *ctx), void *ctx);

UDK_EXPORT void *udk_dm_function_get_userdata(struct udk_dm_function *fn);
UDK_EXPORT struct udk_dm *udk_dm_function_get_model(struct udk_dm_function *fn);
/* Whether a driver has the function open right now. */
UDK_EXPORT bool udk_dm_function_is_open(struct udk_dm_function *fn);

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
