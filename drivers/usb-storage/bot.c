/* SPDX-License-Identifier: MIT */
/*
 * usb-storage - USB mass storage, bulk-only transport (BOT), as a SCSI
 * controller of the SCSI family (IOUserSCSIParallelInterfaceController):
 * the family scans the disk's LUNs and publishes a nub per LUN; the SCSI
 * disk driver (drivers/scsidisk) makes each a udk block device, which
 * apps, other drivers and Linux over NBD use.
 *
 * It matches the interface (IOUSBHostInterface, class 8 / subclass 6 /
 * protocol 0x50), so on a real device udkd takes just that interface from
 * the kernel's usb-storage.  Each task is a 31-byte command block wrapper
 * on bulk OUT, the data phase straight into the task's memory, and a
 * 13-byte status wrapper on bulk IN; one task at a time, in order, as the
 * class has it.  A stalled data phase is cleared before the status is
 * read; a status that makes no sense, a phase error or an aborted task end
 * in the class's reset recovery.  BOT has no autosense: a CHECK CONDITION
 * is followed by REQUEST SENSE and the task completes with that sense.
 * USB disks often refuse 16-byte CDBs: READ(16), WRITE(16) and
 * SYNCHRONIZE CACHE(16) go out as their 10-byte forms when they fit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/driver.h>
#include <udk/families/scsi.h>
#include <udk/families/usb.h>

#define CBW_SIG 0x43425355u
#define CSW_SIG 0x53425355u
#define SENSE_LEN 96
#define MAX_QUEUED 64

enum bot_dir { BOT_DIR_NONE, BOT_DIR_IN, BOT_DIR_OUT };

struct bot {
	struct udk_usb_interface *intf;
	struct udk_usb_device *dev;
	struct udk_usb_pipe *in, *out;
	struct udk_scsi_controller *ctl;
	struct udk_queue *q;			/* runs the tasks, one at a time */
	uint8_t iface;
	uint8_t max_lun;
	uint32_t tag;
	struct udk_buffer *wrap;		/* CBW at 0, CSW at 32, sense at 64 */
	struct udk_memory_descriptor *cbw_md, *csw_md, *sense_md;

	pthread_mutex_t xport;			/* the wire: one command (or a reset) at a time */
	pthread_mutex_t lock;			/* what follows */
	pthread_cond_t cond;
	struct udk_scsi_task *fifo[MAX_QUEUED];	/* waiting, oldest first */
	unsigned n_fifo;
	bool running;				/* a block of run_tasks is queued or running */
	struct udk_scsi_task *current;		/* on the wire */
	bool current_dropped;			/* aborted or reset: the family completes it */
	bool stopping;
	uint64_t commands, resets;
};

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The task on the wire was aborted or reset: stop between stages. */
static bool
dropped(struct bot *b)
{
	bool d;

	pthread_mutex_lock(&b->lock);
	d = b->current_dropped;
	pthread_mutex_unlock(&b->lock);
	return d;
}

/* Bulk-only mass storage reset, then both halts cleared (the class's reset recovery).  Under xport. */
static int
reset_recovery(struct bot *b, const char *why)
{
	struct udk_usb_setup s = { 0x21, 0xff, 0, b->iface, 0 };
	int r = udk_usb_device_request(b->dev, &s, NULL, NULL, 2000);

	pthread_mutex_lock(&b->lock);
	b->resets++;
	pthread_mutex_unlock(&b->lock);
	udk_log_warning("usb-storage: reset recovery after %s (mass storage reset: %s)", why,
			r < 0 ? udk_strerror(r) : "done");
	udk_usb_pipe_clear_stall(b->in, true);
	udk_usb_pipe_clear_stall(b->out, true);
	return r;
}

/* The CSW; a stall first is cleared and the read tried once more. */
static int
read_csw(struct bot *b, uint32_t tag, uint32_t timeout, uint32_t *ret_residue, uint8_t *ret_status)
{
	uint8_t *csw = (uint8_t *)udk_buffer_get_address(b->wrap) + 32;
	uint32_t n = 0;
	int r;

	for (int tries = 0; tries < 2; tries++) {
		r = udk_usb_pipe_io(b->in, b->csw_md, 32, 13, timeout, &n);
		if (r == -EPIPE) {
			udk_usb_pipe_clear_stall(b->in, true);
			continue;
		}
		break;
	}
	if (r < 0)
		return r;
	if (n != 13 || get32(csw) != CSW_SIG || get32(csw + 4) != tag || csw[12] > 2) {
		reset_recovery(b, "a status wrapper that is not one");
		return udk_error_set(-EPROTO, "the device's status wrapper is not one (%u bytes, signature 0x%08x, tag %u "
					      "for %u): the device was reset",
				     n, n >= 4 ? get32(csw) : 0, n >= 8 ? get32(csw + 4) : 0, tag);
	}
	if (csw[12] == 2) {
		reset_recovery(b, "a phase error");
		return udk_error_set(-EPROTO, "the device reports a phase error: it was reset");
	}
	*ret_residue = get32(csw + 8);
	*ret_status = csw[12];
	return 0;
}

/*
 * One command; @md (may be NULL) holds the data phase at @offset.  The
 * stages go one after the other, as the class describes them.  (Queued
 * all three at once, QEMU's usb-storage took hundreds of milliseconds per
 * command in the guest rig.)  Under xport.
 */
static int
transport(struct bot *b, const uint8_t *cdb, uint8_t cdb_len, uint8_t lun, enum bot_dir dir,
	  struct udk_memory_descriptor *md, uint64_t offset, uint32_t length, uint32_t timeout, uint8_t *ret_status,
	  uint32_t *ret_moved)
{
	uint8_t *cbw = udk_buffer_get_address(b->wrap);
	uint32_t tag = ++b->tag, moved = 0, n = 0, residue = 0;
	int r;

	memset(cbw, 0, 31);
	put32(cbw, CBW_SIG);
	put32(cbw + 4, tag);
	put32(cbw + 8, dir == BOT_DIR_NONE ? 0 : length);
	cbw[12] = dir == BOT_DIR_IN ? 0x80 : 0x00;
	cbw[13] = lun & 0x0f;
	cbw[14] = cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);
	pthread_mutex_lock(&b->lock);
	b->commands++;
	pthread_mutex_unlock(&b->lock);
	r = udk_usb_pipe_io(b->out, b->cbw_md, 0, 31, timeout, &n);
	if (r == -EPIPE) {
		reset_recovery(b, "a stalled command wrapper");
		return udk_error_set(-EIO, "the device stalled the command wrapper: it was reset");
	}
	if (r < 0)
		return r;
	if (dropped(b))
		return udk_error_set(-ECANCELED, "the command was aborted");
	if (dir != BOT_DIR_NONE && length) {
		r = udk_usb_pipe_io(dir == BOT_DIR_IN ? b->in : b->out, md, offset, length, timeout, &moved);
		if (r == -EPIPE)
			/* the device ended the data phase early: clear, then the status says why */
			udk_usb_pipe_clear_stall(dir == BOT_DIR_IN ? b->in : b->out, true);
		else if (r < 0)
			return r;
	}
	if (dropped(b))
		return udk_error_set(-ECANCELED, "the command was aborted");
	r = read_csw(b, tag, timeout, &residue, ret_status);
	*ret_moved = moved;
	return r;
}

/* READ(16), WRITE(16), SYNCHRONIZE CACHE(16) as their 10-byte forms when they fit; the length of @out. */
static uint8_t
translate(const uint8_t *cdb, size_t len, uint8_t *out)
{
	memcpy(out, cdb, len);
	if (len == 16 && (cdb[0] == 0x88 || cdb[0] == 0x8a || cdb[0] == 0x91)) {
		uint64_t lba = be64(cdb + 2);
		uint32_t n = be32(cdb + 10);
		if (lba <= 0xffffffffu && n <= 0xffff) {
			memset(out, 0, 16);
			out[0] = cdb[0] == 0x88 ? 0x28 : cdb[0] == 0x8a ? 0x2a : 0x35;
			out[1] = cdb[1] & (cdb[0] == 0x91 ? 0x02 : 0x08); /* IMMED / FUA */
			out[2] = (uint8_t)(lba >> 24);
			out[3] = (uint8_t)(lba >> 16);
			out[4] = (uint8_t)(lba >> 8);
			out[5] = (uint8_t)lba;
			out[7] = (uint8_t)(n >> 8);
			out[8] = (uint8_t)n;
			return 10;
		}
	}
	return (uint8_t)len;
}

/* On b->q: one task on the wire; completes it unless it was dropped meanwhile. */
static void
run_one(struct bot *b, struct udk_scsi_task *t)
{
	size_t cdb_len = 0;
	const uint8_t *cdb = udk_scsi_task_get_cdb(t, &cdb_len);
	uint64_t off = 0, count = udk_scsi_task_get_requested_count(t);
	struct udk_memory_descriptor *md = udk_scsi_task_get_memory(t, &off);
	enum udk_scsi_direction sd = udk_scsi_task_get_direction(t);
	enum bot_dir dir = !count || sd == UDK_SCSI_DATA_NONE ? BOT_DIR_NONE
			   : sd == UDK_SCSI_DATA_FROM_TARGET ? BOT_DIR_IN
							     : BOT_DIR_OUT;
	uint8_t lun = (uint8_t)udk_scsi_task_get_lun(t), c[16], status = 0, sense_status = 0;
	uint32_t moved = 0, sense_n = 0, timeout = udk_scsi_task_get_timeout_ms(t);
	uint8_t clen = translate(cdb, cdb_len, c);
	const uint8_t *sense = NULL;
	int r;

	if (count > UINT32_MAX) {
		udk_scsi_task_fail(t, -E2BIG, "bulk-only transport moves at most 4 GiB per command");
		return;
	}
	pthread_mutex_lock(&b->xport);
	r = transport(b, c, clen, lun, dir, md, off, (uint32_t)count, timeout ? timeout : 30000, &status, &moved);
	if (dropped(b)) {
		/* aborted on the wire: the device's state is unknown */
		reset_recovery(b, "an aborted command");
		pthread_mutex_unlock(&b->xport);
		return;
	}
	if (r >= 0 && status == 1) {
		/* CHECK CONDITION: BOT has no autosense; ask */
		uint8_t rs[6] = { 0x03, 0, 0, 0, SENSE_LEN, 0 };
		if (transport(b, rs, 6, lun, BOT_DIR_IN, b->sense_md, 64, SENSE_LEN, 5000, &sense_status, &sense_n) >= 0 &&
		    sense_status == 0 && sense_n >= 8)
			sense = (const uint8_t *)udk_buffer_get_address(b->wrap) + 64;
	}
	pthread_mutex_unlock(&b->xport);
	if (r < 0) {
		const char *why = udk_error_reason();
		if (r == -UDK_E_HARDWARE_GONE)
			udk_scsi_controller_set_online(b->ctl, false, "the USB disk was unplugged");
		udk_scsi_task_fail(t, r, "%s", why ? why : udk_strerror(r));
		return;
	}
	udk_scsi_task_complete(t, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE,
			       status == 0 ? UDK_SCSI_STATUS_GOOD : UDK_SCSI_STATUS_CHECK_CONDITION, sense,
			       sense ? sense_n : 0, moved);
}

static void
run_tasks(void *ctx)
{
	struct bot *b = ctx;

	for (;;) {
		struct udk_scsi_task *t;
		pthread_mutex_lock(&b->lock);
		if (!b->n_fifo || b->stopping) {
			b->running = false;
			pthread_cond_broadcast(&b->cond);
			pthread_mutex_unlock(&b->lock);
			return;
		}
		t = b->fifo[0];
		memmove(b->fifo, b->fifo + 1, --b->n_fifo * sizeof(b->fifo[0]));
		b->current = t;
		b->current_dropped = false;
		pthread_mutex_unlock(&b->lock);
		run_one(b, t);
		pthread_mutex_lock(&b->lock);
		b->current = NULL;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
	}
}

static int
process_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct bot *b = udk_scsi_controller_get_context(c);
	int r = 0;

	pthread_mutex_lock(&b->lock);
	if (b->stopping)
		r = udk_error_set(-UDK_E_HARDWARE_GONE, "the USB disk's driver is stopping");
	else if (b->n_fifo == MAX_QUEUED)
		r = udk_error_set(-EBUSY, "%u commands already wait for the USB disk", MAX_QUEUED);
	else {
		b->fifo[b->n_fifo++] = t;
		if (!b->running) {
			b->running = true;
			r = udk_queue_dispatch_async(b->q, run_tasks, b);
			if (r < 0) {
				b->running = false;
				b->n_fifo--;
			}
		}
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* Under b->lock: the task on the wire is dropped; stop its transfers and wait until it is off. */
static int
drop_current(struct bot *b)
{
	struct udk_scsi_task *t = b->current;
	struct timespec ts;
	int r = 0;

	if (!t)
		return 0;
	b->current_dropped = true;
	pthread_mutex_unlock(&b->lock);
	udk_usb_pipe_abort(b->in);
	udk_usb_pipe_abort(b->out);
	pthread_mutex_lock(&b->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	while (b->current == t && r == 0)
		r = pthread_cond_timedwait(&b->cond, &b->lock, &ts);
	if (b->current == t)
		return udk_error_set(-ETIMEDOUT, "the command on the wire did not end within 5 s of its abort");
	return 0;
}

static int
abort_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct bot *b = udk_scsi_controller_get_context(c);
	int r = 0;

	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < b->n_fifo; i++)
		if (b->fifo[i] == t) {
			memmove(b->fifo + i, b->fifo + i + 1, (b->n_fifo - i - 1) * sizeof(b->fifo[0]));
			b->n_fifo--;
			pthread_mutex_unlock(&b->lock);
			return 0;
		}
	if (b->current == t)
		r = drop_current(b);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int
reset(struct udk_scsi_controller *c, enum udk_scsi_reset_kind kind, uint64_t target, uint64_t lun)
{
	struct bot *b = udk_scsi_controller_get_context(c);
	int r;

	(void)kind;
	(void)target;
	(void)lun;
	/* one target behind one interface: any reset is the class's reset recovery, and drops every task */
	pthread_mutex_lock(&b->lock);
	b->n_fifo = 0;
	r = drop_current(b);
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&b->xport);
	r = reset_recovery(b, "a SCSI reset");
	pthread_mutex_unlock(&b->xport);
	return r;
}

static void
stop_controller(struct udk_scsi_controller *c)
{
	struct bot *b = udk_scsi_controller_get_context(c);

	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	b->n_fifo = 0;
	drop_current(b);
	pthread_mutex_unlock(&b->lock);
}

static int
bot_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_scsi_controller_ops ops = {
		UDK_SCSI_CONTROLLER_OPS_INIT,
		.stop = stop_controller,
		.process_task = process_task,
		.abort_task = abort_task,
		.reset = reset,
	};
	struct bot *b = udk_service_get_ivars(self);
	struct udk_scsi_controller_config cfg = { UDK_SCSI_CONTROLLER_CONFIG_INIT };
	const struct udk_usb_device_descriptor *dd;
	struct udk_value *props;
	char desc[96];
	uint8_t lun = 0;
	uint32_t n = 0;
	int r;

	pthread_mutex_init(&b->xport, NULL);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	if ((r = udk_usb_interface_open_provider(provider, &b->intf)) < 0)
		return r;
	b->dev = udk_usb_interface_get_device(b->intf);
	b->iface = udk_usb_interface_get_descriptor(b->intf)->bInterfaceNumber;
	for (unsigned i = 0;; i++) {
		const struct udk_usb_endpoint_descriptor *ep = udk_usb_interface_get_endpoint(b->intf, i);
		if (!ep)
			break;
		if ((ep->bmAttributes & 3) != UDK_USB_TRANSFER_BULK)
			continue;
		r = udk_usb_interface_copy_pipe(b->intf, ep->bEndpointAddress,
						ep->bEndpointAddress & UDK_USB_ENDPOINT_IN ? &b->in : &b->out);
		if (r < 0)
			return r;
	}
	if (!b->in || !b->out)
		return udk_error_set(-ENODEV, "a bulk-only interface needs a bulk IN and a bulk OUT endpoint");
	if ((r = udk_buffer_create(64 + SENSE_LEN, 0, &b->wrap)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(b->wrap, UDK_MEMORY_DIRECTION_OUT, &b->cbw_md)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(b->wrap, UDK_MEMORY_DIRECTION_IN, &b->csw_md)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(b->wrap, UDK_MEMORY_DIRECTION_IN, &b->sense_md)) < 0 ||
	    (r = udk_queue_create("bot", &b->q)) < 0)
		return r;
	/* GET MAX LUN: a device with one LUN may stall it */
	{
		struct udk_usb_setup s = { 0xa1, 0xfe, 0, b->iface, 1 };
		if (udk_usb_device_request(b->dev, &s, &lun, &n, 1000) < 0 || n != 1)
			lun = 0;
		b->max_lun = lun & 0x0f;
	}
	dd = udk_usb_device_get_descriptor(b->dev);
	snprintf(desc, sizeof(desc), "USB mass storage %04x:%04x, bulk-only interface %u", dd->idVendor, dd->idProduct,
		 b->iface);
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKUSBBackend", udk_usb_device_get_backend(b->dev));
	udk_dict_set_int(props, "UDKBOTInterface", b->iface);
	udk_dict_set_int(props, "UDKBOTLUNs", b->max_lun + 1);
	udk_dict_set_string(props, "UDKBOTDevice", desc);
	udk_service_set_properties(self, props);
	udk_value_unref(props);
	udk_log_info("usb-storage: bulk-only interface %u, bulk IN 0x%02x, OUT 0x%02x, %u LUN%s (%s)", b->iface,
		     udk_usb_pipe_get_descriptor(b->in)->bEndpointAddress,
		     udk_usb_pipe_get_descriptor(b->out)->bEndpointAddress, b->max_lun + 1, b->max_lun ? "s" : "",
		     udk_usb_device_get_backend(b->dev));
	/* one target (0), the device's LUNs; the family scans them */
	cfg.max_target = 0;
	cfg.initiator_id = -1;
	cfg.max_luns = b->max_lun + 1u;
	cfg.max_tasks = 32;
	cfg.description = desc;
	if ((r = udk_scsi_controller_create(self, &cfg, &ops, b, &b->ctl)) < 0)
		return r;
	return udk_service_register(self);
}

static int
bot_stop(struct udk_service *self, struct udk_service *provider)
{
	struct bot *b = udk_service_get_ivars(self);

	(void)provider;
	if (b->ctl)
		udk_scsi_controller_destroy(b->ctl);
	b->ctl = NULL;
	if (b->q) {
		/* the task loop has ended (stop_controller); let the queue drain */
		pthread_mutex_lock(&b->lock);
		b->stopping = true;
		pthread_mutex_unlock(&b->lock);
		udk_queue_unref(b->q);
	}
	udk_usb_pipe_unref(b->in);
	udk_usb_pipe_unref(b->out);
	udk_memory_descriptor_unref(b->cbw_md);
	udk_memory_descriptor_unref(b->csw_md);
	udk_memory_descriptor_unref(b->sense_md);
	udk_buffer_unref(b->wrap);
	udk_usb_interface_unref(b->intf);
	return 0;
}

static const struct udk_class bot_driver = {
	UDK_CLASS_INIT,
	.name = "BotDriver",
	.ivars_size = sizeof(struct bot),
	.start = bot_start,
	.stop = bot_stop,
	.new_user_client = udk_scsi_controller_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &bot_driver, &udk_scsi_task_user_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
