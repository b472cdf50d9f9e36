/* SPDX-License-Identifier: MIT */
/*
 * scsi-private.h - the SCSI family's internals shared by its decoders,
 * its driver library, its tool and its simulated target.
 */
#ifndef UDK_SCSI_PRIVATE_H
#define UDK_SCSI_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <udk/families/scsi.h>

#include "util.h"

#define MIN_SZ(a, b) ((size_t)(a) < (size_t)(b) ? (size_t)(a) : (size_t)(b))

struct scsi_asc_entry {
	uint8_t asc, ascq;
	const char *text;
};

extern const struct scsi_asc_entry scsi_asc_table[];
extern const size_t scsi_asc_table_size;

static inline uint16_t
scsi_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
scsi_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t
scsi_get64(const uint8_t *p)
{
	return ((uint64_t)scsi_get32(p) << 32) | scsi_get32(p + 4);
}

static inline void
scsi_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
scsi_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
scsi_put64(uint8_t *p, uint64_t v)
{
	scsi_put32(p, (uint32_t)(v >> 32));
	scsi_put32(p + 4, (uint32_t)v);
}

/* Fixed-format sense (0x70, current) with @key/@asc/@ascq into @out (18 bytes);
 * @field: the sense-key specific field pointer (byte << 3 | bit, with C/D), or -1. */
size_t scsi_build_sense(uint8_t *out, uint8_t key, uint8_t asc, uint8_t ascq, int field_byte, int field_bit,
			bool in_cdb);

/* The transfer length and LBA a READ/WRITE CDB names; false for other opcodes. */
bool scsi_cdb_rw(const uint8_t *cdb, size_t len, uint64_t *ret_lba, uint32_t *ret_blocks, bool *ret_write);

#endif
