/* SPDX-License-Identifier: MIT */
/*
 * sgio - a SCSI controller driver over a Linux SCSI generic device
 * (/dev/sgN): the SCSI family's tasks go to the kernel's SCSI stack with
 * the SG_IO ioctl.  udkd publishes the host's sg devices with --scsi-sg
 * (UDKSCSIGenericDevice nubs) and opens the one this driver matched on; the
 * driver gets the open descriptor, never the device node.
 *
 * An sg device is one logical unit: the driver answers REPORT LUNS with
 * LUN 0 itself, and refuses tasks for other LUNs.  SG_IO blocks, so a few
 * worker threads carry the tasks; the kernel moves the data straight into
 * the task's memory.
 */
#include <pthread.h>
#include <scsi/sg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <udk/driver.h>
#include <udk/families/scsi.h>
#include <udk/userclient.h>

#define WORKERS 4

struct job {
	struct job *next;
	struct udk_scsi_task *t;
};

struct sgio {
	struct udk_scsi_controller *ctl;
	int fd;
	char dev[64];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool quit;
	pthread_t workers[WORKERS];
	unsigned n_workers;
};

static const char *
host_status_name(unsigned s)
{
	static const char *const names[] = { "DID_OK", "DID_NO_CONNECT", "DID_BUS_BUSY", "DID_TIME_OUT", "DID_BAD_TARGET",
					     "DID_ABORT", "DID_PARITY", "DID_ERROR", "DID_RESET", "DID_BAD_INTR",
					     "DID_PASSTHROUGH", "DID_SOFT_ERROR", "DID_IMM_RETRY", "DID_REQUEUE",
					     "DID_TRANSPORT_DISRUPTED", "DID_TRANSPORT_FAILFAST" };
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "an unknown host status";
}

static void
report_luns(struct udk_scsi_task *t)
{
	uint8_t list[16] = { 0, 0, 0, 8 };
	uint8_t *buf = udk_scsi_task_get_buffer(t);
	uint64_t n = udk_scsi_task_get_requested_count(t);

	if (n > sizeof(list))
		n = sizeof(list);
	if (buf && n)
		memcpy(buf, list, n);
	udk_scsi_task_complete(t, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE, 0, NULL, 0, n);
}

static void
run(struct sgio *h, struct udk_scsi_task *t)
{
	struct udk_memory_descriptor *md;
	sg_io_hdr_t io;
	uint8_t sense[252];
	size_t cdb_len;
	const uint8_t *cdb = udk_scsi_task_get_cdb(t, &cdb_len);
	uint64_t n = udk_scsi_task_get_requested_count(t);
	enum udk_scsi_direction dir = udk_scsi_task_get_direction(t);
	uint8_t cdbcopy[16];

	if (cdb[0] == 0xa0) {
		report_luns(t);
		return;
	}
	if (n > (1u << 30)) {
		udk_scsi_task_fail(t, -E2BIG, "SG_IO moves at most 1 GiB per command here");
		return;
	}
	/* the kernel writes into the memory: keep it mapped even if the family gives up on the task */
	md = udk_scsi_task_get_memory(t, NULL);
	if (md)
		udk_memory_descriptor_ref(md);
	memcpy(cdbcopy, cdb, cdb_len);
	memset(&io, 0, sizeof(io));
	io.interface_id = 'S';
	io.dxfer_direction = !n ? SG_DXFER_NONE : dir == UDK_SCSI_DATA_FROM_TARGET ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV;
	io.cmd_len = (unsigned char)cdb_len;
	io.cmdp = cdbcopy;
	io.mx_sb_len = sizeof(sense);
	io.sbp = sense;
	io.dxfer_len = (unsigned)n;
	io.dxferp = n ? udk_scsi_task_get_buffer(t) : NULL;
	io.timeout = udk_scsi_task_get_timeout_ms(t);
	if (ioctl(h->fd, SG_IO, &io) < 0) {
		udk_scsi_task_fail(t, errno == ENODEV || errno == ENXIO ? -UDK_E_HARDWARE_GONE : -errno,
				   "SG_IO on %s failed: %s", h->dev, strerror(errno));
	} else if (io.host_status) {
		udk_scsi_task_fail(t, io.host_status == 3 ? -UDK_E_DEADLINE : -UDK_E_HARDWARE_GONE,
				   "the kernel's SCSI stack did not deliver it: host status %s (0x%x), driver status 0x%x",
				   host_status_name(io.host_status), io.host_status, io.driver_status);
	} else {
		uint64_t realized = n > (uint64_t)(io.resid > 0 ? io.resid : 0) ? n - (uint64_t)(io.resid > 0 ? io.resid : 0) : 0;
		udk_scsi_task_complete(t, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE, io.status, sense, io.sb_len_wr,
				       io.status ? 0 : realized);
	}
	udk_memory_descriptor_unref(md);
}

static void *
worker(void *data)
{
	struct sgio *h = data;

	pthread_setname_np(pthread_self(), "sgio");
	for (;;) {
		struct job *j;
		pthread_mutex_lock(&h->lock);
		while (!h->head && !h->quit)
			pthread_cond_wait(&h->cond, &h->lock);
		if (!h->head) {
			pthread_mutex_unlock(&h->lock);
			return NULL;
		}
		j = h->head;
		h->head = j->next;
		if (!h->head)
			h->tail = NULL;
		pthread_mutex_unlock(&h->lock);
		run(h, j->t);
		free(j);
	}
}

static int
process_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct sgio *h = udk_scsi_controller_get_context(c);
	struct job *j;

	if (udk_scsi_task_get_lun(t) != 0)
		return udk_error_set(-UDK_E_NO_SUCH_SERVICE, "%s is one logical unit (LUN 0)", h->dev);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->t = t;
	pthread_mutex_lock(&h->lock);
	if (h->tail)
		h->tail->next = j;
	else
		h->head = j;
	h->tail = j;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int
abort_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct sgio *h = udk_scsi_controller_get_context(c);
	int r = -EBUSY;

	/* a task still waiting for a worker is simply dropped; one in SG_IO cannot be recalled */
	pthread_mutex_lock(&h->lock);
	for (struct job **pp = &h->head; *pp; pp = &(*pp)->next)
		if ((*pp)->t == t) {
			struct job *j = *pp;
			*pp = j->next;
			if (h->tail == j) {
				h->tail = NULL;
				for (struct job *x = h->head; x; x = x->next)
					h->tail = x;
			}
			free(j);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&h->lock);
	return r < 0 ? udk_error_set(r, "the command is in the kernel (SG_IO) and cannot be recalled") : 0;
}

static int
sgio_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_scsi_controller_ops ops = {
		UDK_SCSI_CONTROLLER_OPS_INIT,
		.process_task = process_task,
		.abort_task = abort_task,
	};
	struct sgio *h = udk_service_get_ivars(self);
	struct udk_scsi_controller_config cfg = { UDK_SCSI_CONTROLLER_CONFIG_INIT };
	char desc[96];
	int version = 0, r;

	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	snprintf(h->dev, sizeof(h->dev), "%s", udk_service_get_name(provider));
	r = udk_scsi_generic_open(provider, &h->fd);
	if (r < 0)
		return r;
	if (ioctl(h->fd, SG_GET_VERSION_NUM, &version) < 0 || version < 30000)
		return udk_error_set(-ENODEV, "%s is not an sg device (SG_GET_VERSION_NUM: %s)", h->dev, strerror(errno));
	for (; h->n_workers < WORKERS; h->n_workers++)
		if (pthread_create(&h->workers[h->n_workers], NULL, worker, h))
			break;
	snprintf(desc, sizeof(desc), "SG_IO on %.40s", h->dev);
	cfg.max_target = 0;
	cfg.initiator_id = -1;
	cfg.max_luns = 1;
	cfg.max_tasks = 32;
	cfg.description = desc;
	r = udk_scsi_controller_create(self, &cfg, &ops, h, &h->ctl);
	if (r < 0)
		return r;
	return udk_service_register(self);
}

static int
sgio_stop(struct udk_service *self, struct udk_service *provider)
{
	struct sgio *h = udk_service_get_ivars(self);

	(void)provider;
	udk_scsi_controller_destroy(h->ctl);
	pthread_mutex_lock(&h->lock);
	h->quit = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (unsigned i = 0; i < h->n_workers; i++)
		pthread_join(h->workers[i], NULL);
	close(h->fd);
	return 0;
}

static const struct udk_class sgio_class = {
	UDK_CLASS_INIT,
	.name = "SGIOController",
	.ivars_size = sizeof(struct sgio),
	.start = sgio_start,
	.stop = sgio_stop,
	.new_user_client = udk_scsi_controller_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &sgio_class, &udk_scsi_task_user_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
