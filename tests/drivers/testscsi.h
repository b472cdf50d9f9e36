/* SPDX-License-Identifier: MIT */
/* testscsi.h - the test peripheral driver's user client (tests/drivers/testscsi.c). */
#ifndef UDK_TESTSCSI_H
#define UDK_TESTSCSI_H

#include <stdint.h>

#define TESTSCSI_MAX_DATA 2048

struct testscsi_cdb {
	uint8_t cdb[16];
	uint32_t cdb_length;		/* passed as given: the library checks it */
	uint32_t direction;
	uint64_t requested;
	uint64_t buffer_size;		/* the driver's buffer (or the app's, with app_address) */
	uint64_t app_address;		/* 0: a buffer the driver allocates */
	uint32_t timeout_ms;
	uint32_t pad;
	uint8_t data[TESTSCSI_MAX_DATA];	/* written with TO_TARGET */
};

struct testscsi_result {
	int32_t result;			/* udk_scsi_send_cdb()'s return */
	uint32_t service_response;
	uint32_t status;
	int32_t error;
	uint32_t sense_length;
	uint32_t pad;
	uint64_t realized;
	uint8_t sense[252];
	char reason[256];
	char sense_words[512];		/* udk_scsi_sense_describe() in the driver */
	char explanation[1024];		/* udk_scsi_explain() */
	uint8_t data[1024];		/* read with FROM_TARGET, the driver's buffer (the first KiB) */
};

/* Selector 1, Flood: send @count copies of the CDB at once (asynchronously), wait for
 * all; scalars in: count; out: completed GOOD, UDK_E_DEADLINE after starting
 * (aborted), UDK_E_DEADLINE without starting (waited for a slot), other. */
enum { TESTSCSI_SEND = 0, TESTSCSI_FLOOD = 1 };

_Static_assert(sizeof(struct testscsi_result) <= 4096, "the result travels inline");

#endif
