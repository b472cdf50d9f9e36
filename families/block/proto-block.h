/* SPDX-License-Identifier: MIT */
/*
 * proto-block.h - the block family's messages (internal), op range
 * 1300..1399 (lib/common/proto.h, OP_FAMILY_FIRST), and the records of its
 * shared-memory rings.
 *
 * udkd <-> drivers (value bodies):
 *   OP_BLOCK_CONNECT      udkd -> the device's driver {object, client, label} + fd:
 *                         a driver client's channel to block device @object
 *   OP_BLOCK_OPEN_MEMBER  driver -> udkd {identifier} -> {object} + fd: open a device
 *                         the driver's personality lists in UDKBlockMembers
 *
 * The channel of a driver client (SOCK_SEQPACKET, value bodies):
 *   OP_BLOCK_CH_ATTACH    {} -> {info} + 6 fds: the submission ring (client
 *                         produces) and the completion ring (client consumes),
 *                         3 fds each (memfd, data bell, space bell)
 *   OP_BLOCK_CH_BUFFER    {offset, length} + memfd -> {id}
 *   OP_BLOCK_CH_UNBUFFER  {id} -> {}
 *
 * The user client of apps: selectors below; data queue 0 is the submission
 * ring, 1 the completion ring (after Attach).
 */
#ifndef UDK_BLOCK_PROTO_H
#define UDK_BLOCK_PROTO_H

#include <stdint.h>

#include "proto.h"

#define BLOCK_OP_BASE 1300
#define BLOCK_OP_COUNT 100

enum block_op_code {
	OP_BLOCK_CONNECT = BLOCK_OP_BASE,
	OP_BLOCK_OPEN_MEMBER,
	OP_BLOCK_CH_ATTACH = BLOCK_OP_BASE + 10,
	OP_BLOCK_CH_BUFFER,
	OP_BLOCK_CH_UNBUFFER,
};

enum block_uc_selector {
	BLOCK_UC_ATTACH = 0,		/* -> struct udk_block_info */
	BLOCK_UC_ADD_BUFFER = 1,	/* struct blk_uc_buffer -> scalar id */
	BLOCK_UC_REMOVE_BUFFER = 2,	/* scalar id */
	BLOCK_UC_COUNT
};

struct blk_uc_buffer {
	uint64_t address;
	uint64_t length;
};

#define BLOCK_MAX_BUFFERS 64
#define BLOCK_SQ_SIZE (64u * 1024u)
#define BLOCK_CQ_SIZE (256u * 1024u)

/* A request (submission ring). */
struct blk_sqe {
	uint64_t tag;
	uint32_t op;
	uint32_t buffer;
	uint64_t lba;
	uint32_t blocks;
	uint32_t pad;
	uint64_t offset;
};

#define BLK_REASON_MAX 240

/* A completion (completion ring): the header, then reason_length bytes. */
struct blk_cqe {
	uint64_t tag;
	int32_t status;
	uint32_t reason_length;
	char reason[BLK_REASON_MAX];
};

#define BLK_CQE_HEADER 16u

_Static_assert(sizeof(struct blk_sqe) == 40, "blk_sqe layout");

#endif
