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

#endif
