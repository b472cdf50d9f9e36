/* SPDX-License-Identifier: MIT */
/* bot.h - the contract between the USB mass-storage (bulk-only) driver and its apps. */
#ifndef UDK_EXAMPLE_USB_BOT_H
#define UDK_EXAMPLE_USB_BOT_H

#include <stdint.h>

enum bot_selector {
	BOT_GET_INFO,		/* -> vendor, product, interface, max LUN, backend (0 sim, 1 usbfs), commands, resets */
	BOT_EXECUTE,		/* struct bot_cdb -> status, residue, sense key, ASC, ASCQ, bytes moved */
	BOT_READ_BLOCKS,	/* scalars lba, count, lun; struct bot_stream -> blocks read (a streaming read) */
	BOT_SELECTOR_COUNT,
};

enum bot_dir {
	BOT_DIR_NONE = 0,
	BOT_DIR_IN = 1,		/* device -> app: READ, INQUIRY ... */
	BOT_DIR_OUT = 2,	/* app -> device: WRITE ... */
};

/* One SCSI command, its data in the app's memory. */
struct bot_cdb {
	uint8_t cdb[16];
	uint8_t cdb_len;	/* 6, 10, 12 or 16 */
	uint8_t lun;
	uint8_t dir;		/* enum bot_dir */
	uint8_t reserved;
	uint32_t timeout_ms;	/* 0: 10 s */
	uint64_t data;		/* address */
	uint32_t length;
	uint32_t reserved2;
};

/* A streaming read: READ(10)s of up to 64 KiB, their data laid in the app's
 * buffer one after another, wrapping at its end (so a small buffer serves a
 * long read). */
struct bot_stream {
	uint64_t addr;
	uint64_t length;	/* a multiple of the block size */
};

/* Scalars BOT_EXECUTE returns. */
enum bot_result {
	BR_STATUS,		/* SCSI status: 0 GOOD, 2 CHECK CONDITION */
	BR_RESIDUE,		/* bytes of the data phase that did not move */
	BR_SENSE_KEY,		/* after CHECK CONDITION (the driver asked REQUEST SENSE) */
	BR_ASC,
	BR_ASCQ,
	BR_MOVED,		/* bytes moved */
	BR_COUNT,
};

#endif
