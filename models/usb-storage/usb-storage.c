/* SPDX-License-Identifier: MIT */
/*
 * usb-storage - a simulated USB disk: mass storage, bulk-only transport,
 * SCSI commands over a RAM disk (default 16 MiB; property "Blocks").
 *
 *   device 1209:0004, interface 0 class 8 / subclass 6 (SCSI) / protocol 0x50 (BOT)
 *       0x81 bulk IN 512, 0x02 bulk OUT 512
 *   GET MAX LUN: 0 (one LUN); BULK-ONLY RESET: back to waiting for a command
 *
 * SCSI: TEST UNIT READY, REQUEST SENSE, INQUIRY ("udk", "Simulated disk";
 * VPD pages 0x00 and 0x80, the serial number: property "Serial", default
 * the USB serial number), MODE SENSE(6), READ CAPACITY(10), READ(10),
 * WRITE(10), SYNCHRONIZE CACHE(10) (no 16-byte CDBs, as many USB disks);
 * anything else is CHECK CONDITION, ILLEGAL REQUEST / INVALID
 * COMMAND OPERATION CODE, and a block past the end ILLEGAL REQUEST / LBA
 * OUT OF RANGE.  A data phase the command does not fill is ended with a
 * stall of the IN endpoint, as the class says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/usb-devmodel.h>

#define BLOCK 512u

static const uint8_t descriptors[] = {
	18, UDK_USB_DT_DEVICE, 0x00, 0x02, 0, 0, 0, 64, 0x09, 0x12, 0x04, 0x00, 0x00, 0x01, 1, 2, 3, 1,
	9, UDK_USB_DT_CONFIGURATION, 32, 0, 1, 1, 0, 0x80, 100,
	9, UDK_USB_DT_INTERFACE, 0, 0, 2, 0x08, 0x06, 0x50, 0,
	7, UDK_USB_DT_ENDPOINT, 0x81, UDK_USB_TRANSFER_BULK, 0x00, 0x02, 0,
	7, UDK_USB_DT_ENDPOINT, 0x02, UDK_USB_TRANSFER_BULK, 0x00, 0x02, 0,
};

static const char *const strings[] = { "udk", "Simulated USB disk", "D-0001" };

enum phase { CBW, DATA_IN, DATA_OUT, STALL_IN, CSW };

static struct {
	uint8_t *disk;
	uint32_t blocks;
	enum phase phase;
	uint32_t tag, want;		/* the host's data length */
	uint32_t done;			/* bytes moved in the data phase */
	const uint8_t *in;		/* data to send */
	uint32_t in_len;
	uint8_t *out;			/* where OUT data goes */
	uint32_t out_len;
	uint8_t status;
	uint8_t reply[64];
	uint8_t sense[3];		/* key, ASC, ASCQ */
	char serial[33];		/* VPD 0x80: property "Serial", default the USB serial number */
} s;

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
set_sense(uint8_t key, uint8_t asc, uint8_t ascq)
{
	s.sense[0] = key;
	s.sense[1] = asc;
	s.sense[2] = ascq;
	s.status = key ? 1 : 0;
}

/* A command block wrapper arrived: decide the data phase. */
static void
command(const uint8_t *cbw)
{
	const uint8_t *cdb = cbw + 15;
	bool in = cbw[12] & 0x80;

	s.tag = cbw[4] | (uint32_t)cbw[5] << 8 | (uint32_t)cbw[6] << 16 | (uint32_t)cbw[7] << 24;
	s.want = cbw[8] | (uint32_t)cbw[9] << 8 | (uint32_t)cbw[10] << 16 | (uint32_t)cbw[11] << 24;
	s.done = 0;
	s.in = NULL;
	s.in_len = 0;
	s.out = NULL;
	s.out_len = 0;
	/* REQUEST SENSE reports the last command's sense; every other command starts clean */
	if (cdb[0] != 0x03)
		set_sense(0, 0, 0);
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY */
	case 0x35: /* SYNCHRONIZE CACHE(10) */
		break;
	case 0x03: /* REQUEST SENSE */
		memset(s.reply, 0, 18);
		s.reply[0] = 0x70;
		s.reply[2] = s.sense[0];
		s.reply[7] = 10;
		s.reply[12] = s.sense[1];
		s.reply[13] = s.sense[2];
		s.in = s.reply;
		s.in_len = 18 < cdb[4] ? 18 : cdb[4];
		set_sense(0, 0, 0);
		break;
	case 0x12: /* INQUIRY */
		if (cdb[1] & 1) {
			/* vital product data: the list (0x00) and the unit serial number (0x80) */
			size_t sl = strlen(s.serial);
			memset(s.reply, 0, 8);
			s.reply[1] = cdb[2];
			if (cdb[2] == 0x00) {
				s.reply[3] = 2;
				s.reply[4] = 0x00;
				s.reply[5] = 0x80;
				s.in_len = 6;
			} else if (cdb[2] == 0x80) {
				s.reply[3] = (uint8_t)sl;
				memcpy(s.reply + 4, s.serial, sl);
				s.in_len = (uint32_t)(4 + sl);
			} else {
				set_sense(0x05, 0x24, 0x00); /* INVALID FIELD IN CDB */
				break;
			}
			s.in = s.reply;
			if (s.in_len > cdb[4])
				s.in_len = cdb[4];
			break;
		}
		if (cdb[2]) {
			set_sense(0x05, 0x24, 0x00); /* a page code without EVPD */
			break;
		}
		memset(s.reply, 0, 36);
		s.reply[1] = 0x80; /* removable */
		s.reply[2] = 0x05;
		s.reply[3] = 0x02;
		s.reply[4] = 31;
		memcpy(s.reply + 8, "udk     ", 8);
		memcpy(s.reply + 16, "Simulated disk  ", 16);
		memcpy(s.reply + 32, "1.0 ", 4);
		s.in = s.reply;
		s.in_len = 36 < cdb[4] ? 36 : cdb[4];
		break;
	case 0x1a: /* MODE SENSE(6) */
		memset(s.reply, 0, 4);
		s.reply[0] = 3;
		s.in = s.reply;
		s.in_len = 4 < cdb[4] ? 4 : cdb[4];
		break;
	case 0x25: /* READ CAPACITY(10) */
		s.reply[0] = (uint8_t)((s.blocks - 1) >> 24);
		s.reply[1] = (uint8_t)((s.blocks - 1) >> 16);
		s.reply[2] = (uint8_t)((s.blocks - 1) >> 8);
		s.reply[3] = (uint8_t)(s.blocks - 1);
		s.reply[4] = 0;
		s.reply[5] = 0;
		s.reply[6] = BLOCK >> 8;
		s.reply[7] = BLOCK & 0xff;
		s.in = s.reply;
		s.in_len = 8;
		break;
	case 0x28: /* READ(10) */
	case 0x2a: { /* WRITE(10) */
		uint32_t lba = be32(cdb + 2), n = (uint32_t)cdb[7] << 8 | cdb[8];
		if ((uint64_t)lba + n > s.blocks) {
			set_sense(0x05, 0x21, 0x00);
			break;
		}
		if (cdb[0] == 0x28) {
			s.in = s.disk + (size_t)lba * BLOCK;
			s.in_len = n * BLOCK;
		} else {
			s.out = s.disk + (size_t)lba * BLOCK;
			s.out_len = n * BLOCK;
		}
		break;
	}
	default:
		set_sense(0x05, 0x20, 0x00);
		break;
	}
	if (s.want == 0)
		s.phase = CSW;
	else if (in)
		s.phase = s.in_len ? DATA_IN : STALL_IN;
	else
		s.phase = DATA_OUT;
}

static void
csw(struct udk_dm_usb_transfer *t)
{
	uint32_t residue = s.want - s.done;
	uint8_t w[13] = { 'U', 'S', 'B', 'S' };

	w[4] = (uint8_t)s.tag;
	w[5] = (uint8_t)(s.tag >> 8);
	w[6] = (uint8_t)(s.tag >> 16);
	w[7] = (uint8_t)(s.tag >> 24);
	w[8] = (uint8_t)residue;
	w[9] = (uint8_t)(residue >> 8);
	w[10] = (uint8_t)(residue >> 16);
	w[11] = (uint8_t)(residue >> 24);
	w[12] = s.status;
	t->actual = t->length < 13 ? t->length : 13;
	memcpy(t->data, w, t->actual);
	s.phase = CBW;
}

static void
service(struct udk_dm_function *fn)
{
	bool moved = true;

	while (moved) {
		struct udk_dm_usb_transfer *in = udk_dm_usb_pending(fn, 0x81);
		struct udk_dm_usb_transfer *out = udk_dm_usb_pending(fn, 0x02);
		moved = false;
		if (out && s.phase == CBW) {
			if (out->length == 31 && memcmp(out->data, "USBC", 4) == 0) {
				command(out->data);
				udk_dm_usb_complete(out, 0);
			} else {
				/* not a command: the class says stall both until a reset */
				udk_dm_usb_halt(fn, 0x02);
				udk_dm_usb_halt(fn, 0x81);
			}
			moved = true;
		} else if (out && s.phase == DATA_OUT) {
			uint32_t n = out->length;
			if (n > s.want - s.done)
				n = s.want - s.done;
			if (s.done < s.out_len)
				memcpy(s.out + s.done, out->data, n < s.out_len - s.done ? n : s.out_len - s.done);
			s.done += n;
			udk_dm_usb_complete(out, 0);
			if (s.done >= s.want)
				s.phase = CSW;
			moved = true;
		}
		if (in && s.phase == DATA_IN) {
			uint32_t n = s.in_len - s.done;
			if (n > in->length)
				n = in->length;
			memcpy(in->data, s.in + s.done, n);
			in->actual = n;
			s.done += n;
			udk_dm_usb_complete(in, 0);
			if (s.done >= s.in_len)
				s.phase = s.done < s.want ? STALL_IN : CSW;
			moved = true;
		} else if (in && s.phase == STALL_IN) {
			/* less data than the host asked for: end the phase with a stall */
			s.phase = CSW;
			udk_dm_usb_halt(fn, 0x81);
			moved = true;
		} else if (in && s.phase == CSW) {
			csw(in);
			udk_dm_usb_complete(in, 0);
			moved = true;
		}
	}
}

static int
on_transfer(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	(void)t;
	service(fn);
	return UDK_DM_USB_PENDING;
}

static int
on_control(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	(void)fn;
	if (t->setup.bmRequestType == 0xa1 && t->setup.bRequest == 0xfe && t->length >= 1) {
		t->data[0] = 0;
		t->actual = 1;
		return 0;
	}
	if (t->setup.bmRequestType == 0x21 && t->setup.bRequest == 0xff) {
		s.phase = CBW;
		return 0;
	}
	return -EPIPE;
}

static void
on_clear_halt(struct udk_dm_function *fn, uint8_t ep)
{
	(void)ep;
	service(fn);
}

static void
on_reset(struct udk_dm_function *fn, const char *why)
{
	(void)fn;
	(void)why;
	s.phase = CBW;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_usb_device dev = {
		.descriptors = descriptors,
		.descriptors_len = sizeof(descriptors),
		.strings = strings,
		.n_strings = 3,
		.speed = UDK_USB_SPEED_HIGH,
	};
	static const struct udk_dm_usb_ops ops = {
		UDK_DM_USB_OPS_INIT,
		.control = on_control,
		.transfer = on_transfer,
		.clear_halt = on_clear_halt,
		.reset = on_reset,
	};
	struct udk_dm *dm;
	int64_t blocks;
	int r;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	blocks = udk_dict_get_int(udk_dm_get_properties(dm), "Blocks", 32768);
	if (blocks < 8 || blocks > (1 << 21)) {
		fprintf(stderr, "usb-storage: Blocks must be 8 .. 2097152\n");
		return 1;
	}
	s.blocks = (uint32_t)blocks;
	{
		const char *serial = udk_dict_get_string(udk_dm_get_properties(dm), "Serial");
		snprintf(s.serial, sizeof(s.serial), "%s", serial && *serial ? serial : strings[2]);
	}
	s.disk = calloc(s.blocks, BLOCK);
	if (!s.disk)
		return 1;
	r = udk_dm_add_usb_device(dm, &dev, &ops, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "usb-storage: %s\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	r = udk_dm_run(dm);
	free(s.disk);
	return r;
}
