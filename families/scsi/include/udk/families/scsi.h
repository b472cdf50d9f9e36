/* SPDX-License-Identifier: MIT */
/*
 * families/scsi.h - the SCSI family: controllers (host bus adapters),
 * peripherals (the drivers of a logical unit), and the decoders both use.
 *
 * Three parts, as in DriverKit's SCSIControllerDriverKit and
 * SCSIPeripheralsDriverKit:
 *
 *  1. Words for SCSI data: sense data (fixed and descriptor formats, every
 *     sense key, the ASC/ASCQ table of SPC), status codes, service
 *     responses, opcodes, INQUIRY and its VPD pages, REPORT LUNS, READ
 *     CAPACITY.  Every decoder checks lengths: bytes from a target or a
 *     peer process are never trusted.
 *
 *  2. The controller side (IOUserSCSIParallelInterfaceController): an HBA
 *     driver calls udk_scsi_controller_create() with its operations
 *     (initialize, start, stop, process a task, abort, reset).  The family
 *     scans targets and LUNs (REPORT LUNS, INQUIRY, TEST UNIT READY with
 *     UNIT ATTENTION handling), publishes an IOSCSIPeripheralDeviceNub per
 *     LUN with "Peripheral Device Type", vendor, product and revision, keeps
 *     up to max_tasks (at least 32) tasks in flight, and enforces task
 *     deadlines: a task past its timeout is aborted, the LUN or target is
 *     reset when the abort does not free it, and the sender gets
 *     UDK_E_DEADLINE with the CDB named.
 *
 *  3. The peripheral side (IOUserSCSIPeripheralDeviceType00 and kin): a
 *     driver matched on an IOSCSIPeripheralDeviceNub opens it and sends
 *     CDBs with udk_scsi_send_cdb() (UserSendCDB), with buffers it
 *     allocated or an app's memory descriptors.  It gets the service
 *     response, the status, the sense data and the transfer count.
 *
 * Refusals before the controller sees a task, each with a named code and a
 * sentence: a CDB over 16 bytes (-EMSGSIZE), a buffer shorter than the
 * requested count or of the wrong direction (UDK_E_BAD_ADDRESS,
 * UDK_E_DIRECTION), a LUN that does not exist (UDK_E_NO_SUCH_SERVICE).
 * Failures of the transport: UDK_E_DEADLINE (the task's timeout passed),
 * UDK_E_HARDWARE_GONE (the controller or the target went away; for iSCSI,
 * the connection dropped), UDK_E_DRIVER_DIED (the controller's driver).
 */
#ifndef UDK_FAMILIES_SCSI_H
#define UDK_FAMILIES_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udk/buffer.h>
#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_service;
struct udk_memory_descriptor;
struct udk_queue;

#define UDK_SCSI_CDB_MAX 16		/* longest CDB the family carries */
#define UDK_SCSI_SENSE_MAX 252		/* SPC's largest sense data */

/* ==== 1. words for SCSI data ==== */

/* SCSIServiceResponse, as DriverKit numbers it. */
enum udk_scsi_service_response {
	UDK_SCSI_SERVICE_RESPONSE_REQUEST_IN_PROCESS = 0,
	UDK_SCSI_SERVICE_RESPONSE_SERVICE_DELIVERY_OR_TARGET_FAILURE = 1,
	UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE = 2,
	UDK_SCSI_SERVICE_RESPONSE_LINK_COMMAND_COMPLETE = 3,
	UDK_SCSI_SERVICE_RESPONSE_FUNCTION_COMPLETE = 4,
	UDK_SCSI_SERVICE_RESPONSE_FUNCTION_REJECTED = 5,
};

/* SAM status codes. */
enum udk_scsi_status {
	UDK_SCSI_STATUS_GOOD = 0x00,
	UDK_SCSI_STATUS_CHECK_CONDITION = 0x02,
	UDK_SCSI_STATUS_CONDITION_MET = 0x04,
	UDK_SCSI_STATUS_BUSY = 0x08,
	UDK_SCSI_STATUS_INTERMEDIATE = 0x10,
	UDK_SCSI_STATUS_INTERMEDIATE_CONDITION_MET = 0x14,
	UDK_SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	UDK_SCSI_STATUS_COMMAND_TERMINATED = 0x22,
	UDK_SCSI_STATUS_TASK_SET_FULL = 0x28,
	UDK_SCSI_STATUS_ACA_ACTIVE = 0x30,
	UDK_SCSI_STATUS_TASK_ABORTED = 0x40,
};

/* Sense keys (SPC-4 table 28). */
enum udk_scsi_sense_key {
	UDK_SCSI_SENSE_NO_SENSE = 0x0,
	UDK_SCSI_SENSE_RECOVERED_ERROR = 0x1,
	UDK_SCSI_SENSE_NOT_READY = 0x2,
	UDK_SCSI_SENSE_MEDIUM_ERROR = 0x3,
	UDK_SCSI_SENSE_HARDWARE_ERROR = 0x4,
	UDK_SCSI_SENSE_ILLEGAL_REQUEST = 0x5,
	UDK_SCSI_SENSE_UNIT_ATTENTION = 0x6,
	UDK_SCSI_SENSE_DATA_PROTECT = 0x7,
	UDK_SCSI_SENSE_BLANK_CHECK = 0x8,
	UDK_SCSI_SENSE_VENDOR_SPECIFIC = 0x9,
	UDK_SCSI_SENSE_COPY_ABORTED = 0xa,
	UDK_SCSI_SENSE_ABORTED_COMMAND = 0xb,
	UDK_SCSI_SENSE_RESERVED_C = 0xc,
	UDK_SCSI_SENSE_VOLUME_OVERFLOW = 0xd,
	UDK_SCSI_SENSE_MISCOMPARE = 0xe,
	UDK_SCSI_SENSE_COMPLETED = 0xf,
};

/* Data direction of a task, from the initiator's point of view. */
enum udk_scsi_direction {
	UDK_SCSI_DATA_NONE = 0,
	UDK_SCSI_DATA_FROM_TARGET = 1,	/* read: the target sends, memory is written */
	UDK_SCSI_DATA_TO_TARGET = 2,	/* write: memory is read */
};

/* Sense data, decoded (fixed 0x70/0x71 or descriptor 0x72/0x73 format). */
struct udk_scsi_sense {
	bool valid;			/* a response code SPC defines, and enough bytes for key/ASC/ASCQ */
	uint8_t response_code;		/* 0x70..0x73 (0x7f: vendor specific) */
	bool descriptor_format;
	bool deferred;			/* 0x71 / 0x73: an error of an earlier command */
	uint8_t sense_key;
	uint8_t asc;
	uint8_t ascq;
	bool information_valid;
	uint64_t information;		/* e.g. the LBA of a medium error */
	bool command_specific_valid;
	uint64_t command_specific;
	bool sense_key_specific_valid;	/* SKSV */
	uint8_t sense_key_specific[3];
	uint8_t fru;
	bool filemark, eom, ili;
	size_t length;			/* bytes used */
};

/* Decode @len bytes of sense data.  0, or -EINVAL with a reason when they
 * are not sense data (too short, an undefined response code). */
UDK_EXPORT int udk_scsi_sense_decode(const void *sense, size_t len, struct udk_scsi_sense *ret);
/* "ILLEGAL REQUEST" ... for keys 0..15. */
UDK_EXPORT const char *udk_scsi_sense_key_name(uint8_t key);
/* What the key means for the initiator, a sentence. */
UDK_EXPORT const char *udk_scsi_sense_key_meaning(uint8_t key);
/*
 * The ASC/ASCQ's description from SPC's table ("INVALID COMMAND OPERATION
 * CODE"), with ranges filled in ("DIAGNOSTIC FAILURE ON COMPONENT 0x12").
 * Returns 1 when the pair is in the table, 0 when it is not (then @buf
 * says "ASC 0x.. ASCQ 0x.. (not in SPC's table: vendor specific or newer)").
 */
UDK_EXPORT int udk_scsi_asc_describe(uint8_t asc, uint8_t ascq, char *buf, size_t cap);
/* "fixed, current" ... for response codes 0x70..0x73, 0x7f; NULL otherwise. */
UDK_EXPORT const char *udk_scsi_response_code_name(uint8_t code);
/* "CHECK CONDITION" ...; "reserved" for undefined codes. */
UDK_EXPORT const char *udk_scsi_status_name(uint8_t status);
/* "TASK_COMPLETE" ... */
UDK_EXPORT const char *udk_scsi_service_response_name(uint32_t sr);
/*
 * The whole sense in words, one line:
 * "sense key ILLEGAL REQUEST (0x5), ASC 0x20 ASCQ 0x00: INVALID COMMAND
 * OPERATION CODE (fixed, current)" plus information and field pointer.
 */
UDK_EXPORT int udk_scsi_sense_describe(const void *sense, size_t len, char *buf, size_t cap);
/*
 * For a task answered with CHECK CONDITION: the usual causes and what to
 * check, in sentences, for the CDB @cdb (@cdb_len bytes) and its sense.
 * Covers ILLEGAL REQUEST (opcode, field pointer, CDB and allocation
 * lengths, a LUN that does not exist, LBA out of range), UNIT ATTENTION,
 * NOT READY and the others.  Returns the length written.
 */
UDK_EXPORT int udk_scsi_explain(const uint8_t *cdb, size_t cdb_len, const void *sense, size_t sense_len, char *buf,
				size_t cap);

/* "INQUIRY", "READ(10)" ...; NULL for opcodes SPC/SBC do not name. */
UDK_EXPORT const char *udk_scsi_opcode_name(uint8_t opcode);
/* The CDB length SPC's group code gives the opcode (6, 10, 12, 16; 0: variable or vendor). */
UDK_EXPORT unsigned udk_scsi_cdb_length_for_opcode(uint8_t opcode);
/* "INQUIRY (12 00 00 00 24 00)". */
UDK_EXPORT int udk_scsi_cdb_describe(const uint8_t *cdb, size_t len, char *buf, size_t cap);

/* Standard INQUIRY data (SPC-4 6.6.2). */
struct udk_scsi_inquiry {
	uint8_t peripheral_qualifier;	/* 0: connected, 1: not connected, 3: no device at this LUN */
	uint8_t device_type;		/* 0x00 direct access, 0x05 CD/DVD, 0x1f unknown ... */
	bool removable;
	uint8_t version;
	uint8_t response_data_format;
	bool hisup, normaca, cmdque, protect, sccs, encserv, multip;
	size_t length;			/* bytes present (additional length + 5, bounded by what came) */
	char vendor[9];			/* T10 vendor identification, trailing spaces removed */
	char product[17];
	char revision[5];
};

/* 0, or -EINVAL with a reason when fewer than 36 bytes came (vendor and
 * product need them). */
UDK_EXPORT int udk_scsi_inquiry_decode(const void *data, size_t len, struct udk_scsi_inquiry *ret);
/* "direct access block device" ... */
UDK_EXPORT const char *udk_scsi_device_type_name(uint8_t type);

/*
 * VPD page 0x00: the pages the LUN supports (*ret_n of them, at most @cap
 * stored).  VPD page 0x80: the unit serial number, trimmed.  VPD 0x83:
 * the first designator of the best kind (NAA, EUI-64, then T10 vendor id)
 * as text: "naa.6001405...".
 */
UDK_EXPORT int udk_scsi_vpd_supported_decode(const void *data, size_t len, uint8_t *pages, size_t cap,
					     size_t *ret_n);
UDK_EXPORT int udk_scsi_vpd_serial_decode(const void *data, size_t len, char *buf, size_t cap);
UDK_EXPORT int udk_scsi_vpd_designator_decode(const void *data, size_t len, char *buf, size_t cap);

/*
 * REPORT LUNS parameter data: the LUN list.  *ret_total is how many the
 * target has (its list length / 8); at most @cap are stored in @luns as
 * LUN numbers (peripheral and flat addressing; other methods are stored
 * as the raw 8 bytes, big endian, with bit 63 set).
 */
UDK_EXPORT int udk_scsi_report_luns_decode(const void *data, size_t len, uint64_t *luns, size_t cap,
					   size_t *ret_total);
/* The 8-byte LUN field for LUN number @lun (flat space addressing above 255). */
UDK_EXPORT void udk_scsi_lun_encode(uint64_t lun, uint8_t out[8]);

/* READ CAPACITY (10) and (16) parameter data. */
struct udk_scsi_capacity {
	uint64_t last_lba;
	uint32_t block_size;
	bool thin_provisioned;		/* (16) LBPME */
	uint8_t protection;		/* (16) P_TYPE + 1 when PROT_EN, else 0 */
	uint8_t physical_exponent;	/* (16) logical blocks per physical block = 2^n */
};
UDK_EXPORT int udk_scsi_capacity10_decode(const void *data, size_t len, struct udk_scsi_capacity *ret);
UDK_EXPORT int udk_scsi_capacity16_decode(const void *data, size_t len, struct udk_scsi_capacity *ret);

/* ==== 2. controllers (IOUserSCSIParallelInterfaceController) ==== */

struct udk_scsi_controller;
struct udk_scsi_task;

enum udk_scsi_reset_kind {
	UDK_SCSI_RESET_LUN = 1,		/* logical unit reset */
	UDK_SCSI_RESET_TARGET = 2,	/* target reset */
	UDK_SCSI_RESET_BUS = 3,		/* everything the controller reaches */
};

/*
 * What an HBA driver implements.  Callbacks run on the family's threads,
 * never two of the same task at once; process_task may run concurrently
 * for different tasks and with completions.  Fields are only appended.
 */
struct udk_scsi_controller_ops {
	uint32_t struct_size;		/* sizeof(struct udk_scsi_controller_ops) */
	/* UserInitializeController: set the hardware up.  Once, first. */
	int (*initialize)(struct udk_scsi_controller *c);
	/* UserStartController: ready for tasks; the family scans after it. */
	int (*start)(struct udk_scsi_controller *c);
	/* UserStopController: no task runs any more when it returns. */
	void (*stop)(struct udk_scsi_controller *c);
	/*
	 * UserProcessParallelTask: start @t and return 0; complete it later,
	 * from any thread, with udk_scsi_task_complete() or
	 * udk_scsi_task_fail().  A negative return refuses the task (it
	 * completes with that code and udk_error_set()'s reason).
	 */
	int (*process_task)(struct udk_scsi_controller *c, struct udk_scsi_task *t);
	/*
	 * UserAbortTask: stop @t (its deadline passed, or its sender gave up).
	 * Return 0 once the hardware no longer touches the task's memory; the
	 * family completes it.  A negative return makes the family reset.
	 */
	int (*abort_task)(struct udk_scsi_controller *c, struct udk_scsi_task *t);
	/*
	 * Reset a LUN, a target or the bus.  Every task of that scope the HBA
	 * still holds is dropped (the family completes them); targets report
	 * UNIT ATTENTION afterwards, as real ones do.
	 */
	int (*reset)(struct udk_scsi_controller *c, enum udk_scsi_reset_kind kind, uint64_t target, uint64_t lun);
	/* Memory the family handed in tasks is released: drop DMA mappings of @md. */
	void (*memory_released)(struct udk_scsi_controller *c, struct udk_memory_descriptor *md);
};

#define UDK_SCSI_CONTROLLER_OPS_INIT .struct_size = sizeof(struct udk_scsi_controller_ops)

struct udk_scsi_controller_config {
	uint32_t struct_size;		/* sizeof(struct udk_scsi_controller_config) */
	uint64_t max_target;		/* targets 0..max_target are scanned */
	int64_t initiator_id;		/* the HBA's own target id, skipped; -1: none */
	uint32_t max_luns;		/* LUNs probed when REPORT LUNS is refused (default 8) */
	uint32_t max_tasks;		/* tasks in flight (default and minimum 32) */
	uint32_t default_timeout_ms;	/* tasks that give none (default 30000) */
	const char *description;	/* "simulated HBA", "iSCSI 127.0.0.1:3260" */
};

#define UDK_SCSI_CONTROLLER_CONFIG_INIT .struct_size = sizeof(struct udk_scsi_controller_config)

/*
 * Make @self (the HBA driver's service) a SCSI controller: initialize and
 * start it, then scan and publish a nub per LUN (in the background; see
 * udk_scsi_controller_wait_scan).  Call from start().
 */
UDK_EXPORT int udk_scsi_controller_create(struct udk_service *self, const struct udk_scsi_controller_config *cfg,
					  const struct udk_scsi_controller_ops *ops, void *ctx,
					  struct udk_scsi_controller **ret);
/* Stop: pending tasks fail with UDK_E_TERMINATED, nubs are terminated. */
UDK_EXPORT void udk_scsi_controller_destroy(struct udk_scsi_controller *c);
UDK_EXPORT void *udk_scsi_controller_get_context(struct udk_scsi_controller *c);
/* Scan again (new LUNs are published, vanished ones terminated). */
UDK_EXPORT int udk_scsi_controller_rescan(struct udk_scsi_controller *c);
/* Wait up to @timeout_ms for the scan in progress; 0 when done. */
UDK_EXPORT int udk_scsi_controller_wait_scan(struct udk_scsi_controller *c, int timeout_ms);
/*
 * The path to the targets is down (@online false, @reason says why: tasks
 * in flight fail with UDK_E_HARDWARE_GONE and new ones are refused with
 * the reason) or back (tasks flow again).
 */
UDK_EXPORT void udk_scsi_controller_set_online(struct udk_scsi_controller *c, bool online, const char *reason);
/* new_user_client of an HBA driver's class: apps (udkctl scsi) send CDBs. */
UDK_EXPORT int udk_scsi_controller_new_user_client(struct udk_service *self, uint32_t type,
						   struct udk_service **ret);
/* The user client class udk_scsi_controller_new_user_client() creates: list
 * it in the driver's classes (udk_driver_main). */
UDK_EXPORT extern const struct udk_class udk_scsi_task_user_client_class;

/*
 * A TCP connection to an iSCSI portal, made by udkd for the driver (the
 * sandbox gives drivers no sockets): @host is a numeric IPv4 or IPv6
 * address, and "host:port" must be listed in the bundle's
 * family.scsicontroller entitlement (iSCSIPortals).  Blocks until udkd
 * connected or gave up (UDK_E_HARDWARE_GONE with the connect error,
 * UDK_E_DEADLINE after 5 s, UDK_E_ENTITLEMENT).  *ret_fd: a blocking,
 * connected stream socket with TCP_NODELAY.
 */
UDK_EXPORT int udk_scsi_portal_connect(const char *host, uint16_t port, int *ret_fd);

/*
 * An SG_IO controller's device: @provider is the UDKSCSIGenericDevice it
 * was matched on (udkd --scsi-sg); udkd opens /dev/sgN and hands over the
 * descriptor (read-write, close-on-exec).
 */
UDK_EXPORT int udk_scsi_generic_open(struct udk_service *provider, int *ret_fd);

/* Task accessors, for process_task and the HBA's completion path. */
UDK_EXPORT const uint8_t *udk_scsi_task_get_cdb(const struct udk_scsi_task *t, size_t *ret_len);
UDK_EXPORT uint64_t udk_scsi_task_get_target(const struct udk_scsi_task *t);
UDK_EXPORT uint64_t udk_scsi_task_get_lun(const struct udk_scsi_task *t);
UDK_EXPORT enum udk_scsi_direction udk_scsi_task_get_direction(const struct udk_scsi_task *t);
UDK_EXPORT uint64_t udk_scsi_task_get_requested_count(const struct udk_scsi_task *t);
UDK_EXPORT uint32_t udk_scsi_task_get_timeout_ms(const struct udk_scsi_task *t);
/* A number unique among the controller's tasks in flight. */
UDK_EXPORT uint64_t udk_scsi_task_get_tag(const struct udk_scsi_task *t);
/* The data: a descriptor (borrowed while the task lives) and where the
 * data starts in it; NULL when the task moves none. */
UDK_EXPORT struct udk_memory_descriptor *udk_scsi_task_get_memory(const struct udk_scsi_task *t,
								 uint64_t *ret_offset);
/* The data's bytes mapped in this process (requested_count of them). */
UDK_EXPORT void *udk_scsi_task_get_buffer(const struct udk_scsi_task *t);
/* The HBA's per-task state. */
UDK_EXPORT void udk_scsi_task_set_hba_data(struct udk_scsi_task *t, void *data);
UDK_EXPORT void *udk_scsi_task_get_hba_data(const struct udk_scsi_task *t);
/* The task ended at the target: its status, sense data and how many bytes moved. */
UDK_EXPORT int udk_scsi_task_complete(struct udk_scsi_task *t, enum udk_scsi_service_response sr, uint8_t status,
				      const void *sense, size_t sense_len, uint64_t realized_count);
/* The task could not be delivered: @code (UDK_E_HARDWARE_GONE ...) and why. */
UDK_EXPORT int udk_scsi_task_fail(struct udk_scsi_task *t, int code, const char *fmt, ...) UDK_PRINTF(3, 4);

/* ==== 3. peripherals (IOUserSCSIPeripheralDeviceType00 ...) ==== */

struct udk_scsi_peripheral;

struct udk_scsi_request {
	uint8_t cdb[UDK_SCSI_CDB_MAX];
	uint32_t cdb_length;		/* 6, 10, 12 or 16 (anything above 16 is refused) */
	enum udk_scsi_direction direction;
	struct udk_memory_descriptor *buffer;	/* NULL with UDK_SCSI_DATA_NONE */
	uint64_t buffer_offset;
	uint64_t requested_count;	/* bytes to move; the buffer must hold them */
	uint32_t timeout_ms;		/* 0: the controller's default */
};

struct udk_scsi_response {
	enum udk_scsi_service_response service_response;
	uint8_t status;			/* with TASK_COMPLETE */
	uint32_t sense_length;		/* bytes of autosense, 0: none */
	uint8_t sense[UDK_SCSI_SENSE_MAX];
	uint64_t realized_count;	/* bytes that moved */
	int error;			/* 0, or why the task did not complete at the target */
	char reason[256];		/* the sentence with @error */
};

/* Open the LUN this driver was matched on (its IOSCSIPeripheralDeviceNub). */
UDK_EXPORT int udk_scsi_peripheral_open(struct udk_service *provider, struct udk_scsi_peripheral **ret);
UDK_EXPORT void udk_scsi_peripheral_close(struct udk_scsi_peripheral *p);
/* The nub's INQUIRY identity, as the family scanned it. */
UDK_EXPORT int udk_scsi_peripheral_get_identity(struct udk_scsi_peripheral *p, struct udk_scsi_inquiry *ret);

/*
 * UserSendCDB: send @rq and wait.  Returns 0 when the task completed at the
 * target (@rsp says how: GOOD, CHECK CONDITION with sense ...), or the
 * refusal or transport failure (rsp->error, rsp->reason and the thread's
 * reason say which).  Any thread.
 */
UDK_EXPORT int udk_scsi_send_cdb(struct udk_scsi_peripheral *p, const struct udk_scsi_request *rq,
				 struct udk_scsi_response *rsp);

typedef void (*udk_scsi_done_fn)(struct udk_scsi_peripheral *p, int result, const struct udk_scsi_response *rsp,
				 void *ctx);
/*
 * Asynchronous UserSendCDB: @done runs once, on @queue (or the family's
 * completion thread when NULL).  A refusal returns the negative code and
 * @done does not run.
 */
UDK_EXPORT int udk_scsi_send_cdb_async(struct udk_scsi_peripheral *p, const struct udk_scsi_request *rq,
				       struct udk_queue *queue, udk_scsi_done_fn done, void *ctx);
/* The controller need no longer keep @md mapped (the peripheral frees it). */
UDK_EXPORT void udk_scsi_peripheral_forget_memory(struct udk_scsi_peripheral *p, struct udk_memory_descriptor *md);

/* ---- the task user client (udkctl scsi, apps) ---- */

/* Selector 0 of the user client an app gets on an IOSCSIPeripheralDeviceNub
 * or on a controller: send one CDB.  Struct input below; struct output
 * struct udk_scsi_uc_result; data at @data_address in the app. */
enum { UDK_SCSI_UC_SEND_CDB = 0, UDK_SCSI_UC_LIST_LUNS = 1 };

struct udk_scsi_uc_cdb {
	uint8_t cdb[UDK_SCSI_CDB_MAX];
	uint32_t cdb_length;
	uint32_t direction;
	uint64_t data_address;		/* in the app; 0 with no data */
	uint64_t data_length;		/* the app's buffer */
	uint64_t requested_count;
	uint32_t timeout_ms;
	uint32_t flags;			/* bit 0: target/lun below are used (on a controller) */
	uint64_t target;
	uint64_t lun;
};

struct udk_scsi_uc_result {
	uint32_t service_response;
	uint32_t status;
	int32_t error;
	uint32_t sense_length;
	uint64_t realized_count;
	uint8_t sense[UDK_SCSI_SENSE_MAX];
	char reason[256];
};

#ifdef __cplusplus
}
#endif
#endif
