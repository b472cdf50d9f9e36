/* SPDX-License-Identifier: MIT */
/*
 * edu-regs.h - the programming model of QEMU's "edu" educational PCI
 * device (vendor 0x1234, device 0x11e8), as QEMU's docs/specs/edu.rst
 * describes it.  Shared by the simulated device (models/edu) and the
 * driver (drivers/edu), which also drives the real one in QEMU.
 *
 * BAR0: 1 MiB of registers.  Below 0x80 only 32-bit accesses work; from
 * 0x80 on, 32- or 64-bit.
 */
#ifndef UDK_EDU_REGS_H
#define UDK_EDU_REGS_H

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8

enum {
	EDU_ID = 0x00,		/* RO: 0xRRrr00ed, RR major, rr minor */
	EDU_LIVENESS = 0x04,	/* RW: reads back the inverse of what was written */
	EDU_FACTORIAL = 0x08,	/* RW: write n, read n! (32 bits) once not computing */
	EDU_STATUS = 0x20,	/* RW: EDU_STATUS_* */
	EDU_IRQ_STATUS = 0x24,	/* RO: the values that raised the interrupt */
	EDU_IRQ_RAISE = 0x60,	/* WO: OR the value into IRQ_STATUS and interrupt */
	EDU_IRQ_ACK = 0x64,	/* WO: clear the value from IRQ_STATUS */
	EDU_DMA_SRC = 0x80,	/* RW, 64-bit */
	EDU_DMA_DST = 0x88,	/* RW, 64-bit */
	EDU_DMA_COUNT = 0x90,	/* RW, 64-bit */
	EDU_DMA_CMD = 0x98,	/* RW, 64-bit: EDU_DMA_* */
};

#define EDU_ID_MASK 0x0000ffffu		/* the low half of the id register */
#define EDU_ID_MAGIC 0x000000edu

#define EDU_STATUS_COMPUTING 0x01	/* factorial in progress (RO) */
#define EDU_STATUS_IRQ_FACT 0x80	/* interrupt when the factorial is done */

#define EDU_IRQ_FACT 0x00000001u	/* the factorial's interrupt value */
#define EDU_IRQ_DMA 0x00000100u		/* the DMA's interrupt value */

#define EDU_DMA_START 0x01		/* set to start; reads 0 once done */
#define EDU_DMA_TO_RAM 0x02		/* 0: RAM -> device buffer, 1: device buffer -> RAM */
#define EDU_DMA_IRQ 0x04		/* raise EDU_IRQ_DMA when done */

#define EDU_BUFFER 0x40000u		/* the device's DMA buffer, in the DMA address space */
#define EDU_BUFFER_SIZE 4096u

#define EDU_BAR0_SIZE (1u << 20)
#define EDU_DMA_MASK_DEFAULT 0x0fffffffull	/* 28 bits unless QEMU is given dma_mask= */

#endif
