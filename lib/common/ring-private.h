/* SPDX-License-Identifier: MIT */
/* ring-private.h - handing a ring to the peer (internal). */
#ifndef UDK_COMMON_RING_PRIVATE_H
#define UDK_COMMON_RING_PRIVATE_H

#include <udk/ring.h>

/* The three descriptors the peer needs: memfd, data doorbell, space doorbell.
 * Borrowed; the ring keeps them. */
int ring_export(const struct udk_ring *r, int fds[3]);
/* Map a ring received from the peer, taking the three fds on success. */
int ring_import(int fds[3], enum udk_ring_role role, struct udk_ring **ret);

/*
 * Tell the ring how to notice that its peer is gone.  @hup_fd (taken)
 * reports POLLHUP once the peer's end of its connection closes; then
 * @gone(@ctx) says why, as -UDK_E_* with the reason set (e.g.
 * UDK_E_DRIVER_DIED, UDK_E_HARDWARE_GONE).  The _wait calls return that
 * instead of waiting for ever.  @ctx_free(@ctx) runs when the ring goes.
 */
typedef int (*ring_gone_fn)(void *ctx);
void ring_set_peer(struct udk_ring *r, int hup_fd, ring_gone_fn gone, void *ctx, void (*ctx_free)(void *));

#endif
