/* SPDX-License-Identifier: MIT */
/*
 * simhba-regs.h - the programming model of udk's simulated SCSI host bus
 * adapter (models/sim-hba), shared by the model and its driver.
 *
 * PCI 1234:5c51, class 0x010000 (SCSI storage controller), MSI-X vector 0
 * for completions.
 *
 * BAR0, registers (4 KiB):
 *   0x00 ID        'UDKS'
 *   0x04 TARGETS   targets behind the HBA (one disk per target, LUNs per target in LUNS)
 *   0x08 QDEPTH    command slots (64)
 *   0x0c LUNS      LUNs per target
 *   0x10 CONTROL   write: bit 0 enable, bit 1 bus reset (every command dropped)
 *   0x14 SQ_TAIL   write: the driver's new submission tail (the doorbell)
 *   0x18 ABORT     write: a command id; the HBA drops that command and completes it ABORTED
 *   0x1c TRESET    write: a target; its commands are dropped (completed RESET), UNIT ATTENTION follows
 *
 * BAR2, shared memory (64 KiB): the submission ring, the completion ring
 * and their indices (struct shba_shared).  The driver writes a command at
 * sq[sq_tail % 64], then the doorbell; the HBA writes a completion at
 * cq[cq_tail % 64], stores cq_tail (release), raises the MSI; the driver
 * reads cq_tail (acquire) and stores cq_head after consuming.
 */
#ifndef UDK_SIMHBA_REGS_H
#define UDK_SIMHBA_REGS_H

#include <stdint.h>

#define SHBA_VENDOR 0x1234
#define SHBA_DEVICE 0x5c51
#define SHBA_ID 0x55444b53u

enum {
	SHBA_REG_ID = 0x00,
	SHBA_REG_TARGETS = 0x04,
	SHBA_REG_QDEPTH = 0x08,
	SHBA_REG_LUNS = 0x0c,
	SHBA_REG_CONTROL = 0x10,
	SHBA_REG_SQ_TAIL = 0x14,
	SHBA_REG_ABORT = 0x18,
	SHBA_REG_TRESET = 0x1c,
};

#define SHBA_CONTROL_ENABLE 1u
#define SHBA_CONTROL_RESET 2u
#define SHBA_QDEPTH 64u

enum { SHBA_DIR_NONE = 0, SHBA_DIR_FROM_TARGET = 1, SHBA_DIR_TO_TARGET = 2 };

struct shba_sqe {
	uint16_t cid;
	uint16_t target;
	uint32_t lun;
	uint8_t cdb[16];
	uint8_t cdb_len;
	uint8_t dir;
	uint16_t flags;
	uint32_t length;
	uint64_t iova;
	uint8_t pad[24];
};

enum {
	SHBA_CQE_ABORTED = 1 << 0,	/* dropped by ABORT */
	SHBA_CQE_RESET = 1 << 1,	/* dropped by a reset */
	SHBA_CQE_NO_TARGET = 1 << 2,	/* no target answers at that id: selection timeout */
	SHBA_CQE_DMA_FAULT = 1 << 3,	/* the data address was not mapped */
};

struct shba_cqe {
	uint16_t cid;
	uint8_t status;
	uint8_t sense_len;
	uint32_t flags;
	uint64_t realized;
	uint8_t sense[252];
	uint8_t pad[4];
};

struct shba_shared {
	struct shba_sqe sq[SHBA_QDEPTH];
	struct shba_cqe cq[SHBA_QDEPTH];
	uint32_t sq_head;	/* the HBA's: commands it took */
	uint32_t cq_tail;	/* the HBA's: completions written (release; partner: the driver's acquire) */
	uint32_t cq_head;	/* the driver's: completions consumed (release; partner: the HBA's acquire) */
	uint32_t pad;
};

#define SHBA_BAR2_SIZE 65536u

_Static_assert(sizeof(struct shba_sqe) == 64, "sqe layout");
_Static_assert(sizeof(struct shba_cqe) == 272, "cqe layout");
_Static_assert(sizeof(struct shba_shared) <= SHBA_BAR2_SIZE, "BAR2 holds the rings");

#endif
