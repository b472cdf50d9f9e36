/* SPDX-License-Identifier: MIT */
/*
 * scsi-driver.h - libudk-scsi internals.
 *
 *   controller.c   controllers: tasks, queueing, deadlines, channels, scan
 *   peripheral.c   peripherals: UserSendCDB over the channel
 *   usercl.c       the task user client (apps, udkctl scsi)
 */
#ifndef UDK_SCSI_DRIVER_H
#define UDK_SCSI_DRIVER_H

#include <udk/driver.h>
#include <udk/families/scsi.h>
#include <udk/userclient.h>

#include "proto-scsi.h"
#include "scsi-private.h"

/* A task started from this process (the scan, the user client): @cb runs
 * once with the outcome, on the completing thread. */
typedef void (*scsi_local_fn)(const struct proto_scsi_done *d, void *ctx);

/*
 * Submit a task of controller @c for LUN @target/@lun with @md (NULL: no
 * data).  @check_lun: refuse a LUN the scan did not find.  Refusals return
 * the negative code (reason set) and @cb does not run.
 */
int scsi_controller_submit_local(struct udk_scsi_controller *c, uint64_t target, uint64_t lun, bool check_lun,
				 const uint8_t *cdb, size_t cdb_len, enum udk_scsi_direction dir,
				 struct udk_memory_descriptor *md, uint64_t md_offset, uint64_t requested,
				 uint32_t timeout_ms, scsi_local_fn cb, void *ctx);
/* The same, waiting. */
int scsi_controller_exec(struct udk_scsi_controller *c, uint64_t target, uint64_t lun, bool check_lun,
			 const uint8_t *cdb, size_t cdb_len, enum udk_scsi_direction dir,
			 struct udk_memory_descriptor *md, uint64_t requested, uint32_t timeout_ms,
			 struct proto_scsi_done *ret);
/* The controller and LUN behind @svc (the controller's service or one of its
 * nubs); *ret_fixed tells whether @svc is a LUN. */
struct udk_scsi_controller *scsi_controller_for_service(struct udk_service *svc, uint64_t *ret_target,
							uint64_t *ret_lun, bool *ret_fixed);

/* Fill a done with a failure. */
void scsi_done_fail(struct proto_scsi_done *d, int code, const char *reason);

#endif
