/* SPDX-License-Identifier: MIT */
/*
 * capture-regs.h - the simulated PCIe capture card's programming model,
 * shared by its device model (models/capture-card) and its driver.
 *
 * BAR0: registers.  BAR1: the EDID ROM (read-only memory).
 * MSI-X vector 0: a frame is done.  Vector 1: the test interrupt.
 *
 * Buffers: the driver pushes frame buffers (device addresses) into the
 * card's free FIFO; the card fills the next free one with a frame, puts
 * its index on the done FIFO and raises vector 0; the driver pops done
 * entries until DONE_POP reads without CAP_DONE_VALID, and pushes buffers
 * back when the app has used them.
 */
#ifndef UDK_CAPTURE_REGS_H
#define UDK_CAPTURE_REGS_H

#define CAP_VENDOR 0x1234
#define CAP_DEVICE 0xca9f
#define CAP_ID_VALUE 0xca9f0001u

enum {
	CAP_ID = 0x000,		/* RO */
	CAP_CONTROL = 0x004,	/* bit 0 run */
	CAP_STATUS = 0x008,	/* bit 0 running */
	CAP_WIDTH = 0x00c,	/* RO, pixels */
	CAP_HEIGHT = 0x010,	/* RO */
	CAP_FORMAT = 0x014,	/* RO, fourcc 'BGRA' */
	CAP_STRIDE = 0x018,	/* RO, bytes per row */
	CAP_FRAME_SIZE = 0x01c,	/* RO, bytes per frame */
	CAP_QUEUE_ADDR = 0x020,	/* 64-bit: device address of the next buffer */
	CAP_QUEUE_PUSH = 0x028,	/* write the buffer's index: push (index, QUEUE_ADDR) */
	CAP_DONE_POP = 0x030,	/* read: CAP_DONE_VALID | index, then DONE_FRAME holds its frame */
	CAP_DONE_FRAME = 0x034,	/* frame number of the entry DONE_POP returned */
	CAP_FRAMES = 0x040,	/* RO: frames captured */
	CAP_FAULTS = 0x044,	/* RO: frames lost to IOMMU faults */
	CAP_FPS = 0x048,	/* frame rate limit, 0: as fast as memory allows */
	CAP_IRQ_TEST = 0x050,	/* write: raise vector 1 now */
};

#define CAP_CONTROL_RUN 1u
#define CAP_DONE_VALID 0x80000000u
#define CAP_FOURCC_BGRA 0x41524742u

/* Frame layout: row 0 starts with the 8 bytes "UDKFRAME" and the 64-bit
 * frame number; every other pixel of row y holds cap_pixel(frame, y). */
static inline uint32_t
cap_pixel(uint64_t frame, uint32_t y)
{
	return (uint32_t)(frame * 0x9e3779b1u) ^ (y * 0x01000193u) ^ 0xff000000u;
}

#endif
