/* SPDX-License-Identifier: MIT */
/*
 * scsidisk - the SCSI disk driver: a peripheral of device type 0
 * (IOUserSCSIPeripheralDeviceType00) that turns its LUN into a block
 * device (IOUserBlockStorageDevice).  READ and WRITE (16), SYNCHRONIZE
 * CACHE (16) and UNMAP carry the block requests; a UNIT ATTENTION is
 * retried (the target reports a reset once); any other CHECK CONDITION
 * fails the request with the sense in words.
 *
 * The block device's identifier is the LUN's unit serial number (VPD
 * 0x80), else its device identifier (VPD 0x83): a RAID driver names its
 * members by it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/block.h>
#include <udk/families/scsi.h>
#include <udk/userclient.h>

#define MAX_TRANSFER (4u << 20)
#define UNMAP_SLOTS 32
#define UA_RETRIES 3

struct disk {
	struct udk_scsi_peripheral *lun;
	struct udk_block_device *dev;
	uint32_t block_size;
	uint64_t blocks;
	pthread_mutex_t lock;
	struct udk_buffer *unmap_buf;
	struct udk_memory_descriptor *unmap_md;
	uint32_t unmap_free;		/* bitmap of 24-byte parameter slots (64 bytes apart) */
	pthread_cond_t unmap_cond;
};

struct io {
	struct disk *d;
	struct udk_block_request *rq;
	struct udk_scsi_request sr;
	int retries;
	int unmap_slot;
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool
unit_attention(const struct udk_scsi_response *rsp)
{
	struct udk_scsi_sense s;

	return rsp->status == UDK_SCSI_STATUS_CHECK_CONDITION &&
	       udk_scsi_sense_decode(rsp->sense, rsp->sense_length, &s) == 0 && s.valid &&
	       s.sense_key == UDK_SCSI_SENSE_UNIT_ATTENTION;
}

static void
unmap_release(struct disk *d, int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&d->lock);
	d->unmap_free |= 1u << slot;
	pthread_cond_signal(&d->unmap_cond);
	pthread_mutex_unlock(&d->lock);
}

static void io_done(struct udk_scsi_peripheral *p, int result, const struct udk_scsi_response *rsp, void *ctx);

static void
io_send(struct io *io)
{
	int r = udk_scsi_send_cdb_async(io->d->lun, &io->sr, NULL, io_done, io);

	if (r < 0) {
		char cdb[96];
		udk_scsi_cdb_describe(io->sr.cdb, io->sr.cdb_length, cdb, sizeof(cdb));
		udk_block_request_complete(io->rq, r, "%s was refused: %s", cdb,
					   udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		unmap_release(io->d, io->unmap_slot);
		free(io);
	}
}

static void
io_done(struct udk_scsi_peripheral *p, int result, const struct udk_scsi_response *rsp, void *ctx)
{
	struct io *io = ctx;
	char cdb[96], sense[400];

	(void)p;
	if (result == 0 && rsp->status == UDK_SCSI_STATUS_GOOD) {
		udk_block_request_complete(io->rq, 0, NULL);
	} else if (result == 0 && unit_attention(rsp) && io->retries++ < UA_RETRIES) {
		io_send(io);
		return;
	} else {
		udk_scsi_cdb_describe(io->sr.cdb, io->sr.cdb_length, cdb, sizeof(cdb));
		if (result < 0) {
			udk_block_request_complete(io->rq, result, "%s", rsp->reason);
		} else {
			udk_scsi_sense_describe(rsp->sense, rsp->sense_length, sense, sizeof(sense));
			udk_block_request_complete(io->rq, -EIO, "%s: %s, %s", cdb,
						   udk_scsi_status_name(rsp->status), rsp->sense_length ? sense : "no sense");
		}
	}
	unmap_release(io->d, io->unmap_slot);
	free(io);
}

static void
submit(struct udk_block_device *dev, struct udk_block_request *rq)
{
	struct disk *d = udk_block_device_get_context(dev);
	struct io *io = calloc(1, sizeof(*io));
	uint64_t lba = udk_block_request_get_lba(rq);
	uint32_t blocks = udk_block_request_get_blocks(rq);
	uint8_t *c;

	if (!io) {
		udk_block_request_complete(rq, -ENOMEM, "out of memory");
		return;
	}
	io->d = d;
	io->rq = rq;
	io->unmap_slot = -1;
	c = io->sr.cdb;
	io->sr.timeout_ms = 30000;
	switch (udk_block_request_get_op(rq)) {
	case UDK_BLOCK_READ:
	case UDK_BLOCK_WRITE: {
		bool write = udk_block_request_get_op(rq) == UDK_BLOCK_WRITE;
		c[0] = write ? 0x8a : 0x88;
		put64(c + 2, lba);
		put32(c + 10, blocks);
		io->sr.cdb_length = 16;
		io->sr.direction = write ? UDK_SCSI_DATA_TO_TARGET : UDK_SCSI_DATA_FROM_TARGET;
		io->sr.buffer = udk_block_request_get_memory(rq, &io->sr.buffer_offset);
		io->sr.requested_count = (uint64_t)blocks * d->block_size;
		break;
	}
	case UDK_BLOCK_FLUSH:
		c[0] = 0x91;
		io->sr.cdb_length = 16;
		io->sr.direction = UDK_SCSI_DATA_NONE;
		break;
	case UDK_BLOCK_UNMAP: {
		uint8_t *param;
		int slot;
		pthread_mutex_lock(&d->lock);
		while (!d->unmap_free)
			pthread_cond_wait(&d->unmap_cond, &d->lock);
		slot = __builtin_ctz(d->unmap_free);
		d->unmap_free &= ~(1u << slot);
		pthread_mutex_unlock(&d->lock);
		io->unmap_slot = slot;
		param = (uint8_t *)udk_buffer_get_address(d->unmap_buf) + 64 * slot;
		memset(param, 0, 24);
		put16(param, 22);
		put16(param + 2, 16);
		put64(param + 8, lba);
		put32(param + 16, blocks);
		c[0] = 0x42;
		put16(c + 7, 24);
		io->sr.cdb_length = 10;
		io->sr.direction = UDK_SCSI_DATA_TO_TARGET;
		io->sr.buffer = d->unmap_md;
		io->sr.buffer_offset = 64u * (unsigned)slot;
		io->sr.requested_count = 24;
		break;
	}
	}
	io_send(io);
}

static void
memory_released(struct udk_block_device *dev, struct udk_memory_descriptor *md)
{
	struct disk *d = udk_block_device_get_context(dev);

	udk_scsi_peripheral_forget_memory(d->lun, md);
}

/* A command at start, retried over UNIT ATTENTION. */
static int
command(struct disk *d, const uint8_t *cdb, uint32_t len, struct udk_memory_descriptor *md, uint64_t n,
	struct udk_scsi_response *rsp)
{
	struct udk_scsi_request rq = { .cdb_length = len, .buffer = md, .requested_count = n, .timeout_ms = 10000 };
	int r;

	memcpy(rq.cdb, cdb, len);
	rq.direction = n ? UDK_SCSI_DATA_FROM_TARGET : UDK_SCSI_DATA_NONE;
	for (int attempt = 0; attempt < 5; attempt++) {
		r = udk_scsi_send_cdb(d->lun, &rq, rsp);
		if (r < 0)
			return r;
		if (!unit_attention(rsp))
			break;
	}
	return rsp->status == 0 ? 0 : -EIO;
}

static int
disk_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_block_device_ops ops = {
		UDK_BLOCK_DEVICE_OPS_INIT,
		.submit = submit,
		.memory_released = memory_released,
	};
	struct disk *d = udk_service_get_ivars(self);
	struct udk_scsi_response rsp;
	struct udk_block_info info;
	struct udk_buffer *buf = NULL;
	struct udk_memory_descriptor *md = NULL;
	uint8_t tur[6] = { 0 }, rc16[16] = { 0x9e, 0x10 }, rc10[10] = { 0x25 };
	uint8_t *p;
	bool thin = false;
	char text[400], vendor[16] = "", product[32] = "";
	int r;

	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->unmap_cond, NULL);
	r = udk_scsi_peripheral_open(provider, &d->lun);
	if (r < 0)
		return r;
	if ((r = udk_buffer_create(4096, 0, &buf)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(buf, UDK_MEMORY_DIRECTION_INOUT, &md)) < 0)
		goto out;
	p = udk_buffer_get_address(buf);
	command(d, tur, 6, NULL, 0, &rsp);
	put32(rc16 + 10, 32);
	r = command(d, rc16, 16, md, 32, &rsp);
	if (r == 0 && rsp.realized_count >= 12) {
		d->blocks = get64(p) + 1;
		d->block_size = get32(p + 8);
		thin = rsp.realized_count >= 15 && (p[14] & 0x80);
	} else {
		r = command(d, rc10, 10, md, 8, &rsp);
		if (r == 0 && rsp.realized_count >= 8) {
			d->blocks = (uint64_t)get32(p) + 1;
			d->block_size = get32(p + 4);
		}
	}
	if (r < 0 || !d->blocks || d->block_size < 512) {
		udk_scsi_sense_describe(rsp.sense, rsp.sense_length, text, sizeof(text));
		r = udk_error_set(-EIO, "READ CAPACITY failed: %s", rsp.error ? rsp.reason : text);
		goto out;
	}
	memset(&info, 0, sizeof(info));
	info.block_size = d->block_size;
	info.block_count = d->blocks;
	info.max_blocks = MAX_TRANSFER / d->block_size;
	info.flags = UDK_BLOCK_CAN_FLUSH | (thin ? UDK_BLOCK_CAN_UNMAP : 0);
	if (udk_service_get_string_property(provider, "SCSI Unit Serial Number", info.identifier,
					    sizeof(info.identifier)) < 0 &&
	    udk_service_get_string_property(provider, "SCSI Device Identifier", info.identifier,
					    sizeof(info.identifier)) < 0)
		snprintf(info.identifier, sizeof(info.identifier), "scsi-lun-%llx",
			 (unsigned long long)udk_service_get_id(provider));
	udk_service_get_string_property(provider, "Vendor Identification", vendor, sizeof(vendor));
	udk_service_get_string_property(provider, "Product Identification", product, sizeof(product));
	snprintf(info.description, sizeof(info.description), "SCSI disk %.15s %.31s", vendor, product);
	/* the UNMAP parameter lists: 32 slots of one buffer, registered with the controller once */
	d->unmap_buf = buf;
	d->unmap_md = md;
	buf = NULL;
	md = NULL;
	d->unmap_free = 0xffffffffu; /* UNMAP_SLOTS bits */
	r = udk_block_device_create(self, "BlockStorageDevice", &info, &ops, d, &d->dev);
	if (r < 0)
		goto out;
	udk_log_info("SCSI disk %s: %llu blocks of %u bytes%s", info.identifier, (unsigned long long)d->blocks,
		     d->block_size, thin ? ", UNMAP" : "");
	r = udk_service_register(self);
out:
	udk_memory_descriptor_unref(md);
	udk_buffer_unref(buf);
	return r;
}

static int
disk_stop(struct udk_service *self, struct udk_service *provider)
{
	struct disk *d = udk_service_get_ivars(self);

	(void)provider;
	udk_block_device_destroy(d->dev);
	udk_scsi_peripheral_close(d->lun);
	udk_memory_descriptor_unref(d->unmap_md);
	udk_buffer_unref(d->unmap_buf);
	return 0;
}

static const struct udk_class disk_class = {
	UDK_CLASS_INIT,
	.name = "SCSIDisk",
	.ivars_size = sizeof(struct disk),
	.start = disk_start,
	.stop = disk_stop,
	.new_user_client = udk_block_device_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &disk_class, &udk_block_user_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
