/* SPDX-License-Identifier: MIT */
/*
 * target.h - a simulated SCSI target: disks implementing the SBC-3 subset
 * udk's simulated HBA offers (docs/families/scsi.md).  Pure: it executes a
 * CDB against a disk's state and a data buffer; the device model moves the
 * data and the tests call it directly.
 */
#ifndef UDK_SCSI_SIM_TARGET_H
#define UDK_SCSI_SIM_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scsi_sim_disk {
	uint32_t block_size;
	uint64_t blocks;
	uint8_t *ram;			/* RAM backing (mmap'ed, sparse), or NULL */
	int fd;				/* file backing, or -1 */
	char vendor[9], product[17], revision[5];
	char serial[33];
	uint64_t naa;			/* NAA-6 style designator, low 64 bits */
	bool ua_pending;		/* a UNIT ATTENTION to report */
	uint8_t ua_asc, ua_ascq;
	uint8_t sense[18];		/* the last sense, for REQUEST SENSE */
	size_t sense_len;
	bool write_cache;
	uint64_t reads, writes;		/* statistics */
};

enum { SCSI_SIM_DIR_NONE = 0, SCSI_SIM_DIR_FROM_TARGET = 1, SCSI_SIM_DIR_TO_TARGET = 2 };

struct scsi_sim_result {
	uint8_t status;
	uint8_t sense[18];
	size_t sense_len;
	uint64_t realized;		/* bytes moved */
};

/* Set up @d over @ram (blocks * block_size bytes) or file @fd. */
void scsi_sim_disk_init(struct scsi_sim_disk *d, uint32_t block_size, uint64_t blocks, uint8_t *ram, int fd,
			const char *serial, uint64_t naa);
/* Power on / reset: the next command reports UNIT ATTENTION 29/@ascq. */
void scsi_sim_disk_reset(struct scsi_sim_disk *d, uint8_t ascq);

/*
 * Execute @cdb on LUN @lun of a target whose LUNs are @luns (@n_luns of
 * them, @disks[i] for @luns[i]).  @data is the initiator's buffer of @len
 * bytes (the task's requested count), read or written per @dir.
 */
void scsi_sim_execute(struct scsi_sim_disk *const *disks, const uint64_t *luns, size_t n_luns, uint64_t lun,
		      const uint8_t *cdb, size_t cdb_len, uint8_t *data, uint64_t len, int dir,
		      struct scsi_sim_result *res);

#endif
