/* SPDX-License-Identifier: MIT */
/*
 * buffer.h - shared memory buffers (IOBufferMemoryDescriptor with a
 * mapping on both sides).
 *
 * A udk_buffer is a memfd sealed against shrinking and growing, so a peer
 * can never make the other side's mapping fault.  Either an app or a
 * driver creates it; the other side maps the same pages.  A buffer can be
 * made read-only for the peer, and the kernel enforces it: the peer gets a
 * descriptor that cannot be mapped writable.
 */
#ifndef UDK_BUFFER_H
#define UDK_BUFFER_H

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_buffer;

/*
 * Direction of memory from the device's point of view, as
 * IOMemoryDescriptor's kIOMemoryDirection*.
 */
enum udk_memory_direction {
	UDK_MEMORY_DIRECTION_IN = 1,	/* device -> memory: the driver writes it */
	UDK_MEMORY_DIRECTION_OUT = 2,	/* memory -> device: the driver reads it */
	UDK_MEMORY_DIRECTION_INOUT = 3,	/* kIOMemoryDirectionOutIn */
};

/* IOAddressSegment: a range of addresses (in the app, or device IOVAs). */
struct udk_address_segment {
	uint64_t address;
	uint64_t length;
};

enum udk_buffer_flags {
	UDK_BUFFER_PEER_READONLY = 1 << 0,	/* the other side may only read */
};

/* A zero-filled buffer of @size bytes, mapped read-write here. */
UDK_EXPORT int udk_buffer_create(uint64_t size, uint32_t flags, struct udk_buffer **ret);
UDK_EXPORT struct udk_buffer *udk_buffer_ref(struct udk_buffer *b);
UDK_EXPORT struct udk_buffer *udk_buffer_unref(struct udk_buffer *b);
/* Borrowed: valid while @b lives. */
UDK_EXPORT void *udk_buffer_get_address(const struct udk_buffer *b);
UDK_EXPORT uint64_t udk_buffer_get_size(const struct udk_buffer *b);
/* True when this side may write. */
UDK_EXPORT bool udk_buffer_is_writable(const struct udk_buffer *b);

#ifdef __cplusplus
}
#endif
#endif
