/* SPDX-License-Identifier: MIT */
/*
 * usercl.c - the task user client: an app (udkctl scsi) sends one CDB to a
 * LUN, through the controller driver that owns it, as sg_raw does with a
 * Linux sg device.  Opened on a LUN's nub the LUN is fixed; opened on the
 * controller, the app names the target and LUN (and the family refuses one
 * the scan did not find).  The app's buffer becomes a memory descriptor for
 * the task; access to it is the controller bundle's user client access
 * (allow-any-userclient-access or `udkctl access grant`).
 */
#include "private.h"
#include "scsi-driver.h"
#include "util.h"

struct uc_state {
	struct udk_scsi_controller *c;
	uint64_t target, lun;
	bool fixed;
};

static int
send_cdb(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_state *st = udk_service_get_ivars(uc);
	const struct udk_scsi_uc_cdb *in = a->struct_input;
	struct udk_scsi_uc_result *out = a->struct_output;
	struct udk_memory_descriptor *md = NULL;
	struct proto_scsi_done d;
	uint64_t target = st->target, lun = st->lun;
	int r;

	(void)ref;
	if (!st->c)
		return udk_error_set(-UDK_E_NO_SUCH_SERVICE, "the controller behind this connection is gone");
	if (a->struct_output_size < sizeof(*out))
		return udk_error_set(-UDK_E_STRUCT_SIZE, "the result needs %zu bytes", sizeof(*out));
	if (in->cdb_length == 0 || in->cdb_length > UDK_SCSI_CDB_MAX)
		return udk_error_set(-EMSGSIZE, "a CDB is 1..16 bytes; this one is %u (refused before the controller "
						"saw it)",
				     in->cdb_length);
	if (in->flags & 1) {
		if (st->fixed && (in->target != target || in->lun != lun))
			return udk_error_set(-EINVAL, "this connection is to target %llu LUN %llu; open the controller to "
						      "name another",
					     (unsigned long long)target, (unsigned long long)lun);
		target = in->target;
		lun = in->lun;
	}
	if (in->requested_count > in->data_length)
		return udk_error_set(-UDK_E_BAD_ADDRESS,
				     "the buffer holds %llu bytes, fewer than the %llu requested (refused before the "
				     "controller saw it)",
				     (unsigned long long)in->data_length, (unsigned long long)in->requested_count);
	if (in->requested_count) {
		struct udk_address_segment seg = { in->data_address, in->requested_count };
		uint32_t dir = in->direction == UDK_SCSI_DATA_FROM_TARGET ? UDK_MEMORY_DIRECTION_IN
									 : UDK_MEMORY_DIRECTION_OUT;
		if (in->direction != UDK_SCSI_DATA_FROM_TARGET && in->direction != UDK_SCSI_DATA_TO_TARGET)
			return udk_error_set(-EINVAL, "a task moving data needs direction FROM_TARGET or TO_TARGET");
		r = udk_user_client_create_memory_descriptor(uc, dir, 1, &seg, &md);
		if (r < 0)
			return r;
	}
	memset(&d, 0, sizeof(d));
	r = scsi_controller_exec(st->c, target, lun, true, in->cdb, in->cdb_length,
				 (enum udk_scsi_direction)in->direction, md, in->requested_count, in->timeout_ms, &d);
	udk_memory_descriptor_unref(md);
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	out->service_response = d.service_response;
	out->status = d.status;
	out->error = d.error;
	out->sense_length = MIN(d.sense_length, (uint32_t)sizeof(out->sense));
	memcpy(out->sense, d.sense, out->sense_length);
	out->realized_count = d.realized;
	snprintf(out->reason, sizeof(out->reason), "%.*s", (int)MIN(d.reason_length, sizeof(d.reason) - 1), d.reason);
	a->struct_output_size = sizeof(*out);
	return 0;
}

static const struct udk_method_dispatch methods[] = {
	[UDK_SCSI_UC_SEND_CDB] = { send_cdb, "SendCDB", 0, 0, sizeof(struct udk_scsi_uc_cdb), 0,
				   sizeof(struct udk_scsi_uc_result) },
};

UDK_EXPORT const struct udk_class udk_scsi_task_user_client_class = {
	UDK_CLASS_INIT,
	.name = "UDKSCSITaskUserClient",
	.ivars_size = sizeof(struct uc_state),
	.methods = methods,
	.n_methods = 1,
};

UDK_EXPORT int
udk_scsi_controller_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret)
{
	struct udk_scsi_controller *c;
	struct uc_state *st;
	uint64_t target = 0, lun = 0;
	bool fixed = false;
	int r;

	(void)type;
	c = scsi_controller_for_service(self, &target, &lun, &fixed);
	if (!c)
		return udk_error_set(-UDK_E_NO_SUCH_SERVICE, "%s is not a SCSI controller or one of its LUNs",
				     udk_service_get_name(self));
	r = udk_user_client_create(self, udk_scsi_task_user_client_class.name, ret);
	if (r < 0)
		return r;
	st = udk_service_get_ivars(*ret);
	st->c = c;
	st->target = target;
	st->lun = lun;
	st->fixed = fixed;
	return 0;
}
