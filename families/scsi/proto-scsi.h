/* SPDX-License-Identifier: MIT */
/*
 * proto-scsi.h - the SCSI family's messages (internal), in its op range
 * 1200..1299 (lib/common/proto.h, OP_FAMILY_FIRST).
 *
 * udkd <-> drivers (value bodies):
 *   OP_SCSI_CONNECT         udkd -> controller {nub, client, label} + fd: a
 *                           peripheral (or an app's task user client is
 *                           not involved) opened nub @nub; @fd is its channel
 *   OP_SCSI_PORTAL_CONNECT  driver -> udkd {host, port} -> {} + fd: a TCP
 *                           connection to an iSCSI portal the bundle's
 *                           entitlement lists, connected by udkd
 *
 * The channel between a peripheral and its controller (SOCK_SEQPACKET,
 * packed structs, each checked for its size by the receiver):
 *   OP_SCSI_CH_TASK     peripheral -> controller  struct proto_scsi_task [+ memfd]
 *   OP_SCSI_CH_DONE     controller -> peripheral  struct proto_scsi_done (sense and reason trimmed)
 *   OP_SCSI_CH_ABORT    peripheral -> controller  struct proto_scsi_abort
 *   OP_SCSI_CH_REGION   peripheral -> controller  struct proto_scsi_region + memfd: memory the
 *                       peripheral reuses across tasks (mapped once, DMA-mapped once by the HBA)
 *   OP_SCSI_CH_UNREGION peripheral -> controller  struct proto_scsi_region (id only)
 */
#ifndef UDK_SCSI_PROTO_H
#define UDK_SCSI_PROTO_H

#include <stdint.h>

#include "proto.h"

#define SCSI_OP_BASE 1200
#define SCSI_OP_COUNT 100

enum scsi_op {
	OP_SCSI_CONNECT = SCSI_OP_BASE,
	OP_SCSI_PORTAL_CONNECT,
	OP_SCSI_CH_TASK = SCSI_OP_BASE + 10,
	OP_SCSI_CH_DONE,
	OP_SCSI_CH_ABORT,
	OP_SCSI_CH_REGION,
	OP_SCSI_CH_UNREGION,
};

enum {
	PROTO_SCSI_TASK_FD = 1 << 0,	/* the data is in the memfd sent with the task, at @offset */
};

struct proto_scsi_task {
	uint64_t tag;			/* the peripheral's; echoed in the done */
	uint8_t cdb[16];
	uint32_t cdb_length;
	uint32_t direction;
	uint64_t requested;
	uint64_t region;		/* 0: none (no data, or PROTO_SCSI_TASK_FD) */
	uint64_t offset;		/* in the region or the memfd */
	uint32_t timeout_ms;
	uint32_t flags;
};

struct proto_scsi_done {
	uint64_t tag;
	uint64_t realized;
	int32_t error;			/* 0 or a negative udk/errno code */
	uint32_t service_response;
	uint32_t status;
	uint32_t sense_length;
	uint32_t reason_length;
	uint32_t pad;
	uint8_t sense[252];
	char reason[256];		/* trimmed to reason_length when sent */
};

#define PROTO_SCSI_DONE_MIN offsetof(struct proto_scsi_done, sense)

struct proto_scsi_abort {
	uint64_t tag;
};

struct proto_scsi_region {
	uint64_t id;
	uint64_t offset;		/* in the memfd */
	uint64_t length;
	uint32_t direction;		/* UDK_MEMORY_DIRECTION_* */
	uint32_t pad;
};

_Static_assert(sizeof(struct proto_scsi_task) == 64, "proto_scsi_task layout");
_Static_assert(sizeof(struct proto_scsi_region) == 32, "proto_scsi_region layout");

#endif
