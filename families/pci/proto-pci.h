/* SPDX-License-Identifier: MIT */
/*
 * proto-pci.h - the PCI family's messages (internal): the channel between
 * a driver and the device model of a simulated function, and one request a
 * driver sends udkd, in the family's op range (lib/common/proto.h,
 * OP_FAMILY_FIRST).
 */
#ifndef UDK_PCI_PROTO_H
#define UDK_PCI_PROTO_H

#include <stdint.h>

#include "proto.h"

#define PCI_OP_BASE 1000
#define PCI_OP_COUNT 100

enum pci_op {
	OP_PCI_CFG_READ = PCI_OP_BASE,	/* struct proto_pci_rw -> struct proto_pci_rw (value) */
	OP_PCI_CFG_WRITE,	/* struct proto_pci_rw -> {} */
	OP_PCI_MEM_READ,	/* struct proto_pci_rw -> struct proto_pci_rw (value) */
	OP_PCI_MEM_WRITE,	/* oneway (posted) struct proto_pci_rw */
	OP_PCI_BAR_MAP,		/* {bar} -> {size, readonly} + memfd */
	OP_PCI_RESET,		/* {} -> {} */
	/* interrupts, DMA mappings and IOMMU faults are the device-model
	 * runtime's, for every kind: OP_DM_* in lib/common/proto.h */

	/* driver -> udkd (the family's message handler, daemon/pci.c) */
	OP_PCI_RELEASE_REQUESTED = PCI_OP_BASE + 50,	/* {device} -> {}: the kernel wants the VFIO function back */
};

/* Config and register access on the PCI channel.  space 0 is config
 * space; space 1 + n is BAR n. */
struct proto_pci_rw {
	uint32_t space;
	uint32_t width;			/* 1, 2, 4 or 8 bytes */
	uint64_t offset;
	uint64_t value;
};

_Static_assert(sizeof(struct proto_pci_rw) == 24, "proto_pci_rw layout");

#endif
