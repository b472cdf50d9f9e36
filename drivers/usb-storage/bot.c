/* SPDX-License-Identifier: MIT */
/*
 * usb-storage - USB mass storage, bulk-only transport (BOT): SCSI
 * commands to a USB disk.
 *
 * It matches the interface (IOUSBHostInterface, class 8 / subclass 6 /
 * protocol 0x50), so on a real device udkd takes just that interface
 * from the kernel's usb-storage.  Each command is a 31-byte command block
 * wrapper on bulk OUT, the data phase, and a 13-byte status wrapper on
 * bulk IN; a stalled data phase is cleared before the status is read, a
 * status that makes no sense ends in the class's reset recovery.  A
 * CHECK CONDITION is followed by REQUEST SENSE, so the app gets the sense
 * key and codes.
 *
 * The storage family is not in udk yet: apps send CDBs through the user
 * client (examples/usb-storage-app).  docs/families/usb.md says what a
 * SCSI controller role needs once it is.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/usb.h>
#include <udk/userclient.h>

#include "bot.h"

#define CBW_SIG 0x43425355u
#define CSW_SIG 0x53425355u

struct bot {
	struct udk_usb_interface *intf;
	struct udk_usb_device *dev;
	struct udk_usb_pipe *in, *out;
	uint8_t iface;
	uint8_t max_lun;
	uint32_t tag;
	uint64_t commands, resets;
	struct udk_buffer *wrap;		/* CBW and CSW */
	struct udk_memory_descriptor *cbw_md, *csw_md;
	uint32_t block;				/* bytes per block (READ CAPACITY), for streaming reads */
	pthread_mutex_t lock;			/* one command at a time */
};

static struct bot *B;

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

/* Bulk-only mass storage reset, then both halts cleared (the class's reset recovery). */
static int
reset_recovery(struct bot *b)
{
	struct udk_usb_setup s = { 0x21, 0xff, 0, b->iface, 0 };
	int r = udk_usb_device_request(b->dev, &s, NULL, NULL, 2000);

	b->resets++;
	udk_log_warning("usb-storage: reset recovery (mass storage reset: %s)", r < 0 ? udk_strerror(r) : "done");
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
		reset_recovery(b);
		return udk_error_set(-EPROTO, "the device's status wrapper is not one (%u bytes, signature 0x%08x, tag %u "
					      "for %u): the device was reset",
				     n, n >= 4 ? get32(csw) : 0, n >= 8 ? get32(csw + 4) : 0, tag);
	}
	if (csw[12] == 2) {
		reset_recovery(b);
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
 * command in the guest rig.)
 */
static int
transport(struct bot *b, const uint8_t *cdb, uint8_t cdb_len, uint8_t lun, uint8_t dir,
	  struct udk_memory_descriptor *md, uint64_t offset, uint32_t length, uint32_t timeout, uint8_t *ret_status,
	  uint32_t *ret_residue, uint32_t *ret_moved)
{
	uint8_t *cbw = udk_buffer_get_address(b->wrap);
	uint32_t tag = ++b->tag, moved = 0, n = 0;
	int r;

	memset(cbw, 0, 31);
	put32(cbw, CBW_SIG);
	put32(cbw + 4, tag);
	put32(cbw + 8, dir == BOT_DIR_NONE ? 0 : length);
	cbw[12] = dir == BOT_DIR_IN ? 0x80 : 0x00;
	cbw[13] = lun & 0x0f;
	cbw[14] = cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);
	b->commands++;
	r = udk_usb_pipe_io(b->out, b->cbw_md, 0, 31, timeout, &n);
	if (r == -EPIPE) {
		reset_recovery(b);
		return udk_error_set(-EIO, "the device stalled the command wrapper: it was reset");
	}
	if (r < 0)
		return r;
	if (dir != BOT_DIR_NONE && length) {
		r = udk_usb_pipe_io(dir == BOT_DIR_IN ? b->in : b->out, md, offset, length, timeout, &moved);
		if (r == -EPIPE)
			/* the device ended the data phase early: clear, then the status says why */
			udk_usb_pipe_clear_stall(dir == BOT_DIR_IN ? b->in : b->out, true);
		else if (r < 0)
			return r;
	}
	r = read_csw(b, tag, timeout, ret_residue, ret_status);
	*ret_moved = moved;
	return r;
}

static int
bot_start(struct udk_service *self, struct udk_service *provider)
{
	struct bot *b = udk_service_get_ivars(self);
	uint8_t lun = 0;
	uint32_t n = 0;
	int r;

	pthread_mutex_init(&b->lock, NULL);
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
	/* the wrappers live in one buffer: CBW at 0, CSW at 32 */
	if ((r = udk_buffer_create(64, 0, &b->wrap)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(b->wrap, UDK_MEMORY_DIRECTION_OUT, &b->cbw_md)) < 0)
		return r;
	if ((r = udk_memory_descriptor_from_buffer(b->wrap, UDK_MEMORY_DIRECTION_IN, &b->csw_md)) < 0)
		return r;
	b->block = 512;
	/* GET MAX LUN: a device with one LUN may stall it */
	{
		struct udk_usb_setup s = { 0xa1, 0xfe, 0, b->iface, 1 };
		if (udk_usb_device_request(b->dev, &s, &lun, &n, 1000) < 0 || n != 1)
			lun = 0;
		b->max_lun = lun & 0x0f;
	}
	B = b;
	udk_log_info("usb-storage: bulk-only interface %u, bulk IN 0x%02x, OUT 0x%02x, %u LUN%s (%s)", b->iface,
		     udk_usb_pipe_get_descriptor(b->in)->bEndpointAddress,
		     udk_usb_pipe_get_descriptor(b->out)->bEndpointAddress, b->max_lun + 1, b->max_lun ? "s" : "",
		     udk_usb_device_get_backend(b->dev));
	return udk_service_register(self);
}

static int
bot_stop(struct udk_service *self, struct udk_service *provider)
{
	struct bot *b = udk_service_get_ivars(self);

	(void)provider;
	udk_usb_pipe_unref(b->in);
	udk_usb_pipe_unref(b->out);
	udk_memory_descriptor_unref(b->cbw_md);
	udk_memory_descriptor_unref(b->csw_md);
	udk_buffer_unref(b->wrap);
	udk_usb_interface_unref(b->intf);
	return 0;
}

/* ---- the user client ---- */

static int
get_info(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct udk_usb_device_descriptor *d = udk_usb_device_get_descriptor(B->dev);

	(void)uc;
	(void)ref;
	a->scalar_output[0] = d->idVendor;
	a->scalar_output[1] = d->idProduct;
	a->scalar_output[2] = B->iface;
	a->scalar_output[3] = B->max_lun;
	a->scalar_output[4] = strcmp(udk_usb_device_get_backend(B->dev), "usbfs") == 0;
	a->scalar_output[5] = B->commands;
	a->scalar_output[6] = B->resets;
	a->scalar_output_count = 7;
	return 0;
}

static int
execute(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct bot_cdb *c = a->struct_input;
	struct udk_memory_descriptor *md = NULL;
	uint32_t residue = 0, moved = 0, timeout = c->timeout_ms ? c->timeout_ms : 10000;
	uint8_t status = 0;
	int r;

	(void)ref;
	if (c->cdb_len < 6 || c->cdb_len > 16 || c->dir > BOT_DIR_OUT || c->lun > B->max_lun)
		return udk_error_set(-EINVAL, "a CDB of 6 to 16 bytes, a direction and a LUN up to %u", B->max_lun);
	if (c->dir != BOT_DIR_NONE && c->length) {
		struct udk_address_segment seg = { c->data, c->length };
		r = udk_user_client_create_memory_descriptor(
			uc, c->dir == BOT_DIR_IN ? UDK_MEMORY_DIRECTION_IN : UDK_MEMORY_DIRECTION_OUT, 1, &seg, &md);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&B->lock);
	r = transport(B, c->cdb, c->cdb_len, c->lun, c->dir, md, 0, c->length, timeout, &status, &residue, &moved);
	memset(a->scalar_output, 0, BR_COUNT * sizeof(uint64_t));
	if (r >= 0 && status == 1) {
		/* CHECK CONDITION: ask why */
		uint8_t rs[6] = { 0x03, (uint8_t)(c->lun << 5), 0, 0, 18, 0 };
		struct udk_buffer *sb = NULL;
		struct udk_memory_descriptor *smd = NULL;
		uint8_t st2 = 0;
		uint32_t res2 = 0, m2 = 0;
		if (udk_buffer_create(18, 0, &sb) >= 0 && udk_memory_descriptor_from_buffer(sb, UDK_MEMORY_DIRECTION_IN, &smd) >= 0 &&
		    transport(B, rs, 6, c->lun, BOT_DIR_IN, smd, 0, 18, timeout, &st2, &res2, &m2) >= 0 && st2 == 0 && m2 >= 14) {
			const uint8_t *s = udk_buffer_get_address(sb);
			a->scalar_output[BR_SENSE_KEY] = s[2] & 0x0f;
			a->scalar_output[BR_ASC] = s[12];
			a->scalar_output[BR_ASCQ] = s[13];
		}
		udk_memory_descriptor_unref(smd);
		udk_buffer_unref(sb);
	}
	pthread_mutex_unlock(&B->lock);
	udk_memory_descriptor_unref(md);
	if (r < 0)
		return r;
	a->scalar_output[BR_STATUS] = status == 1 ? 2 : 0; /* SCSI: CHECK CONDITION */
	a->scalar_output[BR_RESIDUE] = residue;
	a->scalar_output[BR_MOVED] = moved;
	a->scalar_output_count = BR_COUNT;
	return 0;
}

/* A streaming read: READ(10) of up to 64 KiB after another, into the app's buffer, wrapping. */
static int
read_blocks(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct bot_stream *st = a->struct_input;
	uint64_t lba = a->scalar_input[0], count = a->scalar_input[1], done = 0;
	uint8_t lun = (uint8_t)a->scalar_input[2];
	struct udk_address_segment seg = { st->addr, st->length };
	struct udk_memory_descriptor *md = NULL;
	uint32_t per = 65536 / B->block;
	int r;

	(void)ref;
	if (!st->length || st->length % B->block || lun > B->max_lun || lba + count > 0xffffffffull)
		return udk_error_set(-EINVAL, "a buffer of whole %u-byte blocks, a LUN up to %u, blocks within READ(10)'s "
					      "reach",
				     B->block, B->max_lun);
	if ((r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &seg, &md)) < 0)
		return r;
	pthread_mutex_lock(&B->lock);
	for (uint64_t off = 0; done < count; off = (off + (uint64_t)per * B->block) % st->length) {
		uint32_t n = (uint32_t)(count - done < per ? count - done : per), residue = 0, moved = 0;
		uint8_t c10[10] = { 0x28, (uint8_t)(lun << 5), (uint8_t)((lba + done) >> 24), (uint8_t)((lba + done) >> 16),
				    (uint8_t)((lba + done) >> 8), (uint8_t)(lba + done), 0, (uint8_t)(n >> 8), (uint8_t)n, 0 };
		uint8_t status = 0;
		if (off + (uint64_t)n * B->block > st->length)
			off = 0;
		r = transport(B, c10, 10, lun, BOT_DIR_IN, md, off, n * B->block, 10000, &status, &residue, &moved);
		if (r >= 0 && status != 0)
			r = udk_error_set(-EIO, "READ(10) of %u blocks at %llu: CHECK CONDITION (see the sense with "
						"ExecuteCDB)",
					  n, (unsigned long long)(lba + done));
		if (r < 0)
			break;
		done += n;
	}
	pthread_mutex_unlock(&B->lock);
	udk_memory_descriptor_unref(md);
	if (r < 0)
		return r;
	a->scalar_output[0] = done;
	a->scalar_output_count = 1;
	return 0;
}

static const struct udk_method_dispatch methods[BOT_SELECTOR_COUNT] = {
	[BOT_GET_INFO] = { get_info, "GetInfo", 0, 0, 0, 7, 0 },
	[BOT_EXECUTE] = { execute, "ExecuteCDB", 0, 0, sizeof(struct bot_cdb), BR_COUNT, 0 },
	[BOT_READ_BLOCKS] = { read_blocks, "ReadBlocks", 0, 3, sizeof(struct bot_stream), 1, 0 },
};

static const struct udk_class bot_driver = {
	UDK_CLASS_INIT,
	.name = "BotDriver",
	.ivars_size = sizeof(struct bot),
	.start = bot_start,
	.stop = bot_stop,
};

static const struct udk_class bot_user_client = {
	UDK_CLASS_INIT,
	.name = "BotUserClient",
	.methods = methods,
	.n_methods = BOT_SELECTOR_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &bot_driver, &bot_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
