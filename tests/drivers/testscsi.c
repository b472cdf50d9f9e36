/* SPDX-License-Identifier: MIT */
/*
 * testscsi - a SCSI peripheral driver for the tests (the seed's case: a
 * driver of class IOUserSCSIPeripheralDeviceType00 sending CDBs with
 * UserSendCDB).  Its user client sends one CDB per call, with a buffer the
 * driver allocates or the app's memory, and returns the response and the
 * data.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/scsi.h>
#include <udk/userclient.h>

#include "testscsi.h"

static struct udk_scsi_peripheral *lun;

static int
periph_start(struct udk_service *self, struct udk_service *provider)
{
	int r = udk_scsi_peripheral_open(provider, &lun);

	if (r < 0)
		return r;
	return udk_service_register(self);
}

static int
periph_stop(struct udk_service *self, struct udk_service *provider)
{
	(void)self;
	(void)provider;
	udk_scsi_peripheral_close(lun);
	return 0;
}

static int
send_cdb(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct testscsi_cdb *in = a->struct_input;
	struct testscsi_result *out = a->struct_output;
	struct udk_scsi_request rq;
	struct udk_scsi_response rsp;
	struct udk_memory_descriptor *md = NULL;
	struct udk_buffer *buf = NULL;
	int r;

	(void)ref;
	memset(&rq, 0, sizeof(rq));
	memcpy(rq.cdb, in->cdb, sizeof(rq.cdb));
	rq.cdb_length = in->cdb_length;
	rq.direction = (enum udk_scsi_direction)in->direction;
	rq.requested_count = in->requested;
	rq.timeout_ms = in->timeout_ms;
	if (in->app_address) {
		struct udk_address_segment seg = { in->app_address, in->buffer_size };
		r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_INOUT, 1, &seg, &md);
		if (r < 0)
			return r;
	} else if (in->buffer_size) {
		if (in->buffer_size > TESTSCSI_MAX_DATA)
			return udk_error_set(-EINVAL, "at most %d bytes", TESTSCSI_MAX_DATA);
		r = udk_buffer_create(in->buffer_size, 0, &buf);
		if (r >= 0) {
			if (in->direction == UDK_SCSI_DATA_TO_TARGET)
				memcpy(udk_buffer_get_address(buf), in->data, in->buffer_size);
			r = udk_memory_descriptor_from_buffer(buf, UDK_MEMORY_DIRECTION_INOUT, &md);
		}
		if (r < 0) {
			udk_buffer_unref(buf);
			return r;
		}
	}
	rq.buffer = md;
	r = udk_scsi_send_cdb(lun, &rq, &rsp);
	memset(out, 0, sizeof(*out));
	out->result = r;
	out->service_response = rsp.service_response;
	out->status = rsp.status;
	out->error = rsp.error;
	out->sense_length = rsp.sense_length;
	memcpy(out->sense, rsp.sense, sizeof(out->sense));
	out->realized = rsp.realized_count;
	snprintf(out->reason, sizeof(out->reason), "%s", rsp.reason);
	if (rsp.sense_length) {
		udk_scsi_sense_describe(rsp.sense, rsp.sense_length, out->sense_words, sizeof(out->sense_words));
		udk_scsi_explain(rq.cdb, rq.cdb_length > 16 ? 16 : rq.cdb_length, rsp.sense, rsp.sense_length,
				 out->explanation, sizeof(out->explanation));
	}
	if (buf && in->direction == UDK_SCSI_DATA_FROM_TARGET)
		memcpy(out->data, udk_buffer_get_address(buf), in->buffer_size < sizeof(out->data) ? in->buffer_size
												    : sizeof(out->data));
	udk_memory_descriptor_unref(md);
	udk_buffer_unref(buf);
	a->struct_output_size = sizeof(*out);
	return 0;
}

struct flood {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned left;
	uint64_t good, aborted, never_started, other;
};

static void
flood_done(struct udk_scsi_peripheral *p, int result, const struct udk_scsi_response *rsp, void *ctx)
{
	struct flood *f = ctx;

	(void)p;
	pthread_mutex_lock(&f->lock);
	if (result == 0 && rsp->status == 0)
		f->good++;
	else if (result == -UDK_E_DEADLINE && strstr(rsp->reason, "never started"))
		f->never_started++;
	else if (result == -UDK_E_DEADLINE && strstr(rsp->reason, "did not complete"))
		f->aborted++;
	else
		f->other++;
	f->left--;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int
flood(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct testscsi_cdb *in = a->struct_input;
	struct flood f = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0 };
	struct udk_scsi_request rq;
	uint64_t n = a->scalar_input[0];
	/* the first `first` tasks use the CDB's timeout, the rest `rest_timeout_ms` (0: the same) */
	uint64_t first = a->scalar_input[1] ? a->scalar_input[1] : n;
	uint32_t rest_timeout_ms = a->scalar_input[2] ? (uint32_t)a->scalar_input[2] : in->timeout_ms;

	(void)uc;
	(void)ref;
	memset(&rq, 0, sizeof(rq));
	memcpy(rq.cdb, in->cdb, sizeof(rq.cdb));
	rq.cdb_length = in->cdb_length;
	rq.timeout_ms = in->timeout_ms;
	for (uint64_t i = 0; i < n; i++) {
		if (i == first)
			rq.timeout_ms = rest_timeout_ms;
		pthread_mutex_lock(&f.lock);
		f.left++;
		pthread_mutex_unlock(&f.lock);
		if (udk_scsi_send_cdb_async(lun, &rq, NULL, flood_done, &f) < 0) {
			pthread_mutex_lock(&f.lock);
			f.left--;
			f.other++;
			pthread_mutex_unlock(&f.lock);
		}
	}
	pthread_mutex_lock(&f.lock);
	while (f.left)
		pthread_cond_wait(&f.cond, &f.lock);
	pthread_mutex_unlock(&f.lock);
	a->scalar_output[0] = f.good;
	a->scalar_output[1] = f.aborted;
	a->scalar_output[2] = f.never_started;
	a->scalar_output[3] = f.other;
	return 0;
}

static const struct udk_method_dispatch methods[] = {
	{ send_cdb, "SendCDB", 0, 0, sizeof(struct testscsi_cdb), 0, sizeof(struct testscsi_result) },
	{ flood, "Flood", 0, 3, sizeof(struct testscsi_cdb), 4, 0 },
};

static const struct udk_class periph_class = {
	UDK_CLASS_INIT,
	.name = "TestSCSIPeripheral",
	.start = periph_start,
	.stop = periph_stop,
};

static const struct udk_class uc_class = {
	UDK_CLASS_INIT,
	.name = "TestSCSIUserClient",
	.methods = methods,
	.n_methods = 2,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &periph_class, &uc_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
