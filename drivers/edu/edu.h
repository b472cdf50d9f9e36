/* SPDX-License-Identifier: MIT */
/* edu.h - the contract between the edu driver and its apps. */
#ifndef UDK_EXAMPLE_EDU_H
#define UDK_EXAMPLE_EDU_H

#include <stdint.h>

/*
 * The largest transfer the driver does.  The device's buffer is 4096
 * bytes, but QEMU 7.2's edu stops the whole virtual machine on a transfer
 * of exactly 4096 bytes (an off-by-one in its range check, fixed in later
 * QEMU), so the driver keeps one byte short of it: a driver's erratum.
 */
#define EDU_MAX_TRANSFER 4095u

enum edu_selector {
	EDU_SEL_INFO,		/* -> id, ~liveness check (1 ok), driver pid, IOMMU faults, interrupts;
				   struct out: struct edu_info */
	EDU_SEL_FACTORIAL,	/* scalar n -> n! (computed by the device, announced by MSI) */
	EDU_SEL_IRQ_LATENCY,	/* scalar n -> median, p99, min ns from the raise write to the handler */
	EDU_SEL_DMA,		/* struct edu_dma: app buffer -> device -> app buffer;
				   -> ns for the round trip, bytes that differ (checked by the driver) */
	EDU_SEL_IOMMU_PROBE,	/* scalar len: the device writes to an IOVA the driver does not have prepared;
				   -> faults the driver saw, 1 if its memory is untouched, the IOVA */
	EDU_SEL_START_DMA,		/* start a device -> memory DMA and return while it runs (crash tests) */
	EDU_SEL_RESET,		/* udk_pci_reset(): edu has no reset, so it is refused with the reason */
	EDU_SEL_COUNT,
};

struct edu_info {
	char backend[16];	/* "sim" or "vfio" */
	char location[16];	/* bus:device.function */
};

struct edu_dma {
	uint64_t src;		/* the app's buffer the device reads */
	uint64_t dst;		/* the app's buffer the device writes */
	uint64_t len;		/* 1..EDU_MAX_TRANSFER */
};

#endif
