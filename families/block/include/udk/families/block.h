/* SPDX-License-Identifier: MIT */
/*
 * families/block.h - the block storage family (IOUserBlockStorageDevice):
 * block devices offered by drivers, and their clients.
 *
 * A driver that is a block device (a SCSI disk's type-00 driver, a RAID
 * driver, an NVMe driver) publishes one with udk_block_device_create():
 * block size and count, read, write, flush and unmap, asynchronous, many
 * requests in flight.  The family gives it clients:
 *
 *   apps, through the family's user client on the device's service
 *   (libudk-block-client, <udk/families/block-client.h>), e.g. the nbdkit
 *   plugin that exports the device to Linux over NBD;
 *
 *   other drivers, through udkd: a driver matched on the device opens it as
 *   its provider (udk_block_client_open_provider), and a driver composing
 *   devices (RAID) opens the ones its personality names by identifier
 *   (udk_block_client_open_member, UDKBlockMembers).
 *
 * Requests travel through shared-memory rings; data stays in memory the
 * client registered once (its buffers are mapped into the device's driver,
 * not copied).  Every request is checked before the driver sees it: the
 * range inside the device, the buffer holding the blocks, writes to a
 * read-only device.  Errors come back with a named code and a sentence.
 */
#ifndef UDK_FAMILIES_BLOCK_H
#define UDK_FAMILIES_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_service;
struct udk_memory_descriptor;
struct udk_block_device;
struct udk_block_request;
struct udk_block_client;
struct udk_value;
struct udk_class;

enum udk_block_op {
	UDK_BLOCK_READ = 0,
	UDK_BLOCK_WRITE = 1,
	UDK_BLOCK_FLUSH = 2,
	UDK_BLOCK_UNMAP = 3,
};

enum udk_block_flags {
	UDK_BLOCK_READ_ONLY = 1 << 0,
	UDK_BLOCK_CAN_UNMAP = 1 << 1,
	UDK_BLOCK_CAN_FLUSH = 1 << 2,
};

#define UDK_BLOCK_MAX_INFLIGHT 256	/* requests a client may have in flight per session */

/* What a block device is, as its clients see it. */
struct udk_block_info {
	uint32_t block_size;		/* bytes, a power of two >= 512 */
	uint32_t flags;			/* enum udk_block_flags */
	uint64_t block_count;
	uint32_t max_blocks;		/* per request; the client library splits larger ones */
	uint32_t pad;
	char identifier[96];		/* stable across restarts: a serial number, an NAA id, "raid5:NAME" */
	char description[96];
};

/* ==== the device side (a driver that is a block device) ==== */

struct udk_block_device_ops {
	uint32_t struct_size;		/* sizeof(struct udk_block_device_ops) */
	/*
	 * Start @rq; complete it later, from any thread, with
	 * udk_block_request_complete().  Runs on the device's queue.
	 */
	void (*submit)(struct udk_block_device *dev, struct udk_block_request *rq);
	/* A client's buffer went away: drop what the driver keeps of @md. */
	void (*memory_released)(struct udk_block_device *dev, struct udk_memory_descriptor *md);
};

#define UDK_BLOCK_DEVICE_OPS_INIT .struct_size = sizeof(struct udk_block_device_ops)

/*
 * Publish a block device as a child of @parent (a service of this driver),
 * named @name (NULL: "BlockStorageDevice"), of class
 * IOUserBlockStorageDevice, and serve its clients.  The bundle needs the
 * family.block-storage-device entitlement.  The driver's class must route
 * user clients: .new_user_client = udk_block_device_new_user_client, and
 * list udk_block_user_client_class among its classes.
 */
UDK_EXPORT int udk_block_device_create(struct udk_service *parent, const char *name,
				       const struct udk_block_info *info, const struct udk_block_device_ops *ops,
				       void *ctx, struct udk_block_device **ret);
/* Terminate the service; requests in flight must be completed first or
 * they complete with UDK_E_TERMINATED. */
UDK_EXPORT void udk_block_device_destroy(struct udk_block_device *dev);
UDK_EXPORT void *udk_block_device_get_context(struct udk_block_device *dev);
UDK_EXPORT struct udk_service *udk_block_device_get_service(struct udk_block_device *dev);
/* Change what clients see (flags: e.g. read-only after a failure) and set
 * extra properties on the service (state, progress); either may be NULL. */
UDK_EXPORT int udk_block_device_update(struct udk_block_device *dev, const struct udk_block_info *info,
				       const struct udk_value *properties);
UDK_EXPORT int udk_block_device_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret);
UDK_EXPORT extern const struct udk_class udk_block_user_client_class;

UDK_EXPORT enum udk_block_op udk_block_request_get_op(const struct udk_block_request *rq);
UDK_EXPORT uint64_t udk_block_request_get_lba(const struct udk_block_request *rq);
UDK_EXPORT uint32_t udk_block_request_get_blocks(const struct udk_block_request *rq);
/* The data (READ, WRITE): a descriptor (borrowed while the request lives)
 * and where the blocks start in it.  NULL for FLUSH and UNMAP. */
UDK_EXPORT struct udk_memory_descriptor *udk_block_request_get_memory(const struct udk_block_request *rq,
								     uint64_t *ret_offset);
/* The data's bytes mapped in this process. */
UDK_EXPORT void *udk_block_request_get_buffer(const struct udk_block_request *rq);
/* End @rq: 0 or a negative code with a sentence (printf format, may be NULL). */
UDK_EXPORT void udk_block_request_complete(struct udk_block_request *rq, int status, const char *fmt, ...)
	UDK_PRINTF(3, 4);

/* ==== the client side (drivers: libudk-block; apps: libudk-block-client) ==== */

/* A driver opens the block device it was matched on. */
UDK_EXPORT int udk_block_client_open_provider(struct udk_service *provider, struct udk_block_client **ret);
/*
 * A driver opens a block device by identifier; its personality must list
 * the identifier in UDKBlockMembers.  -ENOENT while no such device is
 * registered (try again later: devices come and go).
 */
UDK_EXPORT int udk_block_client_open_member(const char *identifier, struct udk_block_client **ret);
/* A driver's memory the device may use for data: registered once. */
UDK_EXPORT int udk_block_client_register_memory(struct udk_block_client *bc, struct udk_memory_descriptor *md,
						uint32_t *ret_id);
/* The device forgets buffer @id (no request may still use it). */
UDK_EXPORT int udk_block_client_unregister_memory(struct udk_block_client *bc, uint32_t id);

UDK_EXPORT void udk_block_client_close(struct udk_block_client *bc);
UDK_EXPORT int udk_block_client_get_info(struct udk_block_client *bc, struct udk_block_info *ret);

typedef void (*udk_block_done_fn)(struct udk_block_client *bc, int status, const char *reason, void *ctx);
/*
 * Submit @op on @blocks blocks at @lba, the data at @offset in buffer @buffer
 * (an id from registering; ignored for FLUSH and UNMAP).  @done runs once,
 * on the client's completion thread.  A refusal returns the code and @done
 * does not run.  At most UDK_BLOCK_MAX_INFLIGHT in flight: more wait.
 */
UDK_EXPORT int udk_block_client_submit(struct udk_block_client *bc, enum udk_block_op op, uint64_t lba,
				       uint32_t blocks, uint32_t buffer, uint64_t offset, udk_block_done_fn done,
				       void *ctx);
/* The same, waiting; the sentence of a failure is the thread's reason. */
UDK_EXPORT int udk_block_client_io(struct udk_block_client *bc, enum udk_block_op op, uint64_t lba, uint32_t blocks,
				   uint32_t buffer, uint64_t offset);
/*
 * Bytes: @len bytes at byte @offset (both multiples of the block size),
 * through the client's pool of shared buffers (created on first use): the
 * caller's memory need not be registered.  Any thread; requests run
 * concurrently up to the pool's 32 buffers.
 */
UDK_EXPORT int udk_block_client_pread(struct udk_block_client *bc, void *buf, size_t len, uint64_t offset);
UDK_EXPORT int udk_block_client_pwrite(struct udk_block_client *bc, const void *buf, size_t len, uint64_t offset);
UDK_EXPORT int udk_block_client_flush(struct udk_block_client *bc);
UDK_EXPORT int udk_block_client_unmap(struct udk_block_client *bc, uint64_t offset, uint64_t len);
/* True once the device is gone (its driver died, it was removed). */
UDK_EXPORT bool udk_block_client_is_dead(struct udk_block_client *bc, const char **ret_reason);

#ifdef __cplusplus
}
#endif
#endif
