/* SPDX-License-Identifier: MIT */
/*
 * raid5.h - the RAID-5 driver's layout and metadata (drivers/raid5), also
 * used by its tests and benchmark to check every byte.
 *
 * Left-symmetric layout over N members, chunk C blocks: array chunk k lies
 * in stripe s = k / (N-1) as data chunk d = k % (N-1); the parity of
 * stripe s is on member p = N-1 - s % N and data chunk d on member
 * (p + 1 + d) % N.  Each member keeps a superblock in its first 4 KiB and
 * the data from RAID5_DATA_OFFSET bytes on.
 */
#ifndef UDK_RAID5_H
#define UDK_RAID5_H

#include <stdint.h>

#define RAID5_MAGIC "UDKRAID5"
#define RAID5_VERSION 1u
#define RAID5_DATA_OFFSET (1u << 20)
#define RAID5_MAX_MEMBERS 16

enum raid5_member_state {
	RAID5_SB_IN_SYNC = 0,
	RAID5_SB_REBUILDING = 1,	/* rebuilt up to rebuilt_stripes */
};

struct raid5_superblock {
	char magic[8];
	uint32_t version;
	uint32_t slot;			/* this member's place */
	uint32_t members;		/* N */
	uint32_t chunk_blocks;
	uint32_t block_size;
	uint32_t state;			/* enum raid5_member_state */
	uint64_t array_id;		/* a hash of the array's name */
	uint64_t events;		/* bumped at every change of the array's state */
	uint64_t stripes;
	uint64_t rebuilt_stripes;
	char name[64];
	uint64_t checksum;		/* FNV-1a of everything before it */
};

static inline unsigned
raid5_parity_member(uint64_t stripe, unsigned n)
{
	return (unsigned)(n - 1 - stripe % n);
}

static inline unsigned
raid5_data_member(uint64_t stripe, unsigned d, unsigned n)
{
	return (raid5_parity_member(stripe, n) + 1 + d) % n;
}

static inline uint64_t
raid5_hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

#endif
