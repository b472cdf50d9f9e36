/* SPDX-License-Identifier: MIT */
/*
 * families/block-client.h - apps as clients of udk block devices
 * (libudk-block-client, with libudk).
 *
 *	struct udk_block_client *bc;
 *	udk_block_client_open(client, service_id, &bc);
 *	udk_block_client_pread(bc, buf, len, offset);	// bytes, any thread
 *
 * The requests and completions use the calls of <udk/families/block.h>;
 * this header adds opening through a user client, the app's own buffers
 * (inside a udk_buffer, registered once) and byte-addressed reads and
 * writes through a pool of shared buffers, for programs such as the
 * nbdkit plugin that hand udk their own memory.
 */
#ifndef UDK_FAMILIES_BLOCK_CLIENT_H
#define UDK_FAMILIES_BLOCK_CLIENT_H

#include <stddef.h>

#include <udk/client.h>
#include <udk/families/block.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Open block device @service (an IOBlockStorageDevice) through its user client. */
UDK_EXPORT int udk_block_client_open(struct udk_client *c, uint64_t service, struct udk_block_client **ret);
/* @addr..@addr+@len inside a udk_buffer of this app: the device reads and
 * writes it directly. */
UDK_EXPORT int udk_block_client_register_buffer(struct udk_block_client *bc, void *addr, uint64_t len,
						uint32_t *ret_id);

#ifdef __cplusplus
}
#endif
#endif
