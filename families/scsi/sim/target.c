/* SPDX-License-Identifier: MIT */
/*
 * target.c - the simulated SCSI target (target.h): INQUIRY with VPD pages
 * 0x00, 0x80 and 0x83, TEST UNIT READY, READ CAPACITY (10) and (16),
 * READ and WRITE (10) and (16), REPORT LUNS, REQUEST SENSE, MODE SENSE (6)
 * and (10), SYNCHRONIZE CACHE (10) and (16), UNMAP.  Every other opcode
 * answers CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE
 * (20/00), and invalid fields answer 24/00 with the field pointer, as SPC
 * asks.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scsi-private.h"
#include "target.h"

static void
pad(uint8_t *dst, const char *src, size_t n)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

void
scsi_sim_disk_init(struct scsi_sim_disk *d, uint32_t block_size, uint64_t blocks, uint8_t *ram, int fd,
		   const char *serial, uint64_t naa)
{
	memset(d, 0, sizeof(*d));
	d->block_size = block_size;
	d->blocks = blocks;
	d->ram = ram;
	d->fd = fd;
	snprintf(d->vendor, sizeof(d->vendor), "UDK");
	snprintf(d->product, sizeof(d->product), "SimDisk");
	snprintf(d->revision, sizeof(d->revision), "0100");
	snprintf(d->serial, sizeof(d->serial), "%s", serial ? serial : "");
	d->naa = naa;
	d->write_cache = true;
	scsi_sim_disk_reset(d, 0x00);
}

void
scsi_sim_disk_reset(struct scsi_sim_disk *d, uint8_t ascq)
{
	d->ua_pending = true;
	d->ua_asc = 0x29;
	d->ua_ascq = ascq;
}

static void
good(struct scsi_sim_result *res, uint64_t realized)
{
	res->status = 0;
	res->sense_len = 0;
	res->realized = realized;
}

static void
check(struct scsi_sim_disk *d, struct scsi_sim_result *res, uint8_t key, uint8_t asc, uint8_t ascq, int byte,
      int bit)
{
	res->status = 0x02;
	res->sense_len = scsi_build_sense(res->sense, key, asc, ascq, byte, bit, true);
	res->realized = 0;
	if (d) {
		memcpy(d->sense, res->sense, res->sense_len);
		d->sense_len = res->sense_len;
	}
}

/* Copy @n bytes of @src to the initiator (at most @len). */
static void
give(uint8_t *data, uint64_t len, const uint8_t *src, size_t n, uint32_t alloc, struct scsi_sim_result *res)
{
	uint64_t k = n;

	if (k > alloc)
		k = alloc;
	if (k > len)
		k = len;
	if (k && data)
		memcpy(data, src, (size_t)k);
	good(res, k);
}

static void
inquiry(struct scsi_sim_disk *d, const uint8_t *cdb, uint8_t *data, uint64_t len, struct scsi_sim_result *res)
{
	uint8_t buf[256];
	uint32_t alloc = scsi_get16(cdb + 3);
	size_t n = 0;

	memset(buf, 0, sizeof(buf));
	if (cdb[1] & 0x02) { /* CMDDT: obsolete, refused */
		check(d, res, 0x5, 0x24, 0x00, 1, 1);
		return;
	}
	if (!d) {
		/* no LU at this LUN: peripheral qualifier 3, device type 0x1f */
		if (cdb[1] & 1) {
			check(NULL, res, 0x5, 0x25, 0x00, -1, -1);
			return;
		}
		buf[0] = 0x7f;
		buf[2] = 0x06;
		buf[3] = 0x02;
		buf[4] = 31;
		give(data, len, buf, 36, alloc, res);
		return;
	}
	if (!(cdb[1] & 1)) {
		if (cdb[2]) { /* page code without EVPD */
			check(d, res, 0x5, 0x24, 0x00, 2, -1);
			return;
		}
		buf[0] = 0x00;		/* connected, direct access block device */
		buf[2] = 0x06;		/* SPC-4 */
		buf[3] = 0x12;		/* HISUP, response data format 2 */
		buf[4] = 91;		/* 96 bytes */
		buf[7] = 0x02;		/* CMDQUE */
		pad(buf + 8, d->vendor, 8);
		pad(buf + 16, d->product, 16);
		pad(buf + 32, d->revision, 4);
		/* version descriptors: SAM-5, SPC-4, SBC-3 */
		scsi_put16(buf + 58, 0x00a0);
		scsi_put16(buf + 60, 0x0460);
		scsi_put16(buf + 62, 0x04c0);
		give(data, len, buf, 96, alloc, res);
		return;
	}
	switch (cdb[2]) {
	case 0x00:
		buf[1] = 0x00;
		buf[4] = 0x00;
		buf[5] = 0x80;
		buf[6] = 0x83;
		scsi_put16(buf + 2, 3);
		n = 7;
		break;
	case 0x80: {
		size_t l = strlen(d->serial);
		buf[1] = 0x80;
		scsi_put16(buf + 2, (uint16_t)l);
		memcpy(buf + 4, d->serial, l);
		n = 4 + l;
		break;
	}
	case 0x83: {
		uint8_t *des = buf + 4;
		size_t l;
		buf[1] = 0x83;
		/* NAA IEEE registered extended (6): binary, associated with the LU */
		des[0] = 0x01;
		des[1] = 0x03;
		des[3] = 16;
		des[4] = 0x60 | 0x0a; /* NAA 6, a made-up OUI 0xa1b2c3 */
		des[5] = 0x1b;
		des[6] = 0x2c;
		des[7] = 0x30;
		scsi_put64(des + 12, d->naa);
		/* T10 vendor id: vendor + serial */
		l = strlen(d->serial);
		des += 20;
		des[0] = 0x02;
		des[1] = 0x01;
		des[3] = (uint8_t)(8 + l);
		pad(des + 4, d->vendor, 8);
		memcpy(des + 12, d->serial, l);
		n = 4 + 20 + 4 + 8 + l;
		scsi_put16(buf + 2, (uint16_t)(n - 4));
		break;
	}
	default:
		check(d, res, 0x5, 0x24, 0x00, 2, -1);
		return;
	}
	give(data, len, buf, n, alloc, res);
}

static bool
range_ok(struct scsi_sim_disk *d, uint64_t lba, uint64_t blocks)
{
	return lba <= d->blocks && blocks <= d->blocks - lba;
}

static int
media_io(struct scsi_sim_disk *d, uint64_t lba, uint64_t blocks, uint8_t *data, bool write)
{
	uint64_t off = lba * d->block_size, n = blocks * d->block_size;

	if (d->ram) {
		if (write)
			memcpy(d->ram + off, data, (size_t)n);
		else
			memcpy(data, d->ram + off, (size_t)n);
		return 0;
	}
	for (uint64_t done = 0; done < n;) {
		ssize_t r = write ? pwrite(d->fd, data + done, (size_t)(n - done), (off_t)(off + done))
				  : pread(d->fd, data + done, (size_t)(n - done), (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) { /* past the end of a sparse file: zeros */
			memset(data + done, 0, (size_t)(n - done));
			break;
		}
		done += (uint64_t)r;
	}
	return 0;
}

static void
read_write(struct scsi_sim_disk *d, const uint8_t *cdb, size_t cdb_len, uint8_t *data, uint64_t len, int dir,
	   struct scsi_sim_result *res)
{
	uint64_t lba, bytes;
	uint32_t blocks;
	bool write;

	if (!scsi_cdb_rw(cdb, cdb_len, &lba, &blocks, &write)) {
		check(d, res, 0x5, 0x24, 0x00, 0, -1);
		return;
	}
	if (!range_ok(d, lba, blocks)) {
		check(d, res, 0x5, 0x21, 0x00, -1, -1);
		res->sense[0] |= 0x80; /* information valid: the LBA */
		scsi_put32(res->sense + 3, (uint32_t)lba);
		memcpy(d->sense, res->sense, res->sense_len);
		return;
	}
	bytes = (uint64_t)blocks * d->block_size;
	if (bytes > len || (bytes && dir != (write ? SCSI_SIM_DIR_TO_TARGET : SCSI_SIM_DIR_FROM_TARGET))) {
		/* the initiator's buffer does not hold the transfer: a transport error */
		check(d, res, 0xb, 0x4b, 0x00, -1, -1);
		return;
	}
	if (bytes && media_io(d, lba, blocks, data, write) < 0) {
		check(d, res, write ? 0x3 : 0x3, write ? 0x0c : 0x11, 0x00, -1, -1);
		return;
	}
	if (write)
		d->writes++;
	else
		d->reads++;
	good(res, bytes);
}

static size_t
mode_pages(struct scsi_sim_disk *d, uint8_t page, uint8_t pc, uint8_t *out)
{
	size_t n = 0;
	bool changeable = pc == 1;

	if (page == 0x08 || page == 0x3f) { /* caching */
		out[n] = 0x08;
		out[n + 1] = 0x12;
		if (!changeable)
			out[n + 2] = d->write_cache ? 0x04 : 0x00; /* WCE */
		n += 20;
	}
	if (page == 0x0a || page == 0x3f) { /* control */
		out[n] = 0x0a;
		out[n + 1] = 0x0a;
		if (!changeable)
			out[n + 3] = 0x00;
		n += 12;
	}
	return n;
}

static void
mode_sense(struct scsi_sim_disk *d, const uint8_t *cdb, uint8_t *data, uint64_t len, struct scsi_sim_result *res)
{
	uint8_t buf[128];
	bool ten = cdb[0] == 0x5a;
	uint8_t page = cdb[2] & 0x3f, pc = cdb[2] >> 6;
	uint32_t alloc = ten ? scsi_get16(cdb + 7) : cdb[4];
	bool dbd = cdb[1] & 0x08;
	size_t hdr = ten ? 8 : 4, bd = dbd ? 0 : 8, n;

	if (pc == 3) { /* saved values: not supported */
		check(d, res, 0x5, 0x39, 0x00, -1, -1);
		return;
	}
	if (page != 0x08 && page != 0x0a && page != 0x3f) {
		check(d, res, 0x5, 0x24, 0x00, 2, 5);
		return;
	}
	memset(buf, 0, sizeof(buf));
	n = hdr + bd;
	if (bd) {
		uint8_t *b = buf + hdr;
		scsi_put32(b, d->blocks > 0xffffffffull ? 0xffffffffu : (uint32_t)d->blocks);
		scsi_put32(b + 4, d->block_size & 0xffffff);
	}
	n += mode_pages(d, page, pc, buf + n);
	if (ten) {
		scsi_put16(buf, (uint16_t)(n - 2));
		scsi_put16(buf + 6, (uint16_t)bd);
	} else {
		buf[0] = (uint8_t)(n - 1);
		buf[3] = (uint8_t)bd;
	}
	give(data, len, buf, n, alloc, res);
}

static void
unmap(struct scsi_sim_disk *d, const uint8_t *cdb, uint8_t *data, uint64_t len, int dir, struct scsi_sim_result *res)
{
	uint32_t plen = scsi_get16(cdb + 7);
	size_t n_desc;

	if (plen == 0) {
		good(res, 0);
		return;
	}
	if (plen < 8 || plen > len || dir != SCSI_SIM_DIR_TO_TARGET || !data) {
		check(d, res, 0x5, 0x1a, 0x00, -1, -1);
		return;
	}
	n_desc = MIN_SZ(scsi_get16(data + 2), plen - 8) / 16;
	for (size_t i = 0; i < n_desc; i++) {
		const uint8_t *desc = data + 8 + 16 * i;
		uint64_t lba = scsi_get64(desc);
		uint32_t blocks = scsi_get32(desc + 8);
		if (!range_ok(d, lba, blocks)) {
			check(d, res, 0x5, 0x21, 0x00, -1, -1);
			return;
		}
	}
	for (size_t i = 0; i < n_desc; i++) {
		const uint8_t *desc = data + 8 + 16 * i;
		uint64_t off = scsi_get64(desc) * d->block_size, n = (uint64_t)scsi_get32(desc + 8) * d->block_size;
		if (!n)
			continue;
		if (d->ram)
			memset(d->ram + off, 0, (size_t)n);
		else if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)n) < 0) {
			/* no hole punching here: write zeros */
			static const uint8_t zero[4096];
			for (uint64_t at = 0; at < n; at += sizeof(zero))
				if (pwrite(d->fd, zero, (size_t)MIN_SZ(sizeof(zero), n - at), (off_t)(off + at)) < 0)
					break;
		}
	}
	good(res, plen);
}

void
scsi_sim_execute(struct scsi_sim_disk *const *disks, const uint64_t *luns, size_t n_luns, uint64_t lun,
		 const uint8_t *cdb, size_t cdb_len, uint8_t *data, uint64_t len, int dir, struct scsi_sim_result *res)
{
	struct scsi_sim_disk *d = NULL;
	unsigned want;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n_luns; i++)
		if (luns[i] == lun)
			d = disks[i];
	if (!cdb || !cdb_len) {
		check(d, res, 0x5, 0x20, 0x00, -1, -1);
		return;
	}
	want = udk_scsi_cdb_length_for_opcode(cdb[0]);
	if (want && cdb_len < want) {
		/* the CDB is shorter than its opcode's group: the opcode cannot be parsed */
		check(d, res, 0x5, 0x20, 0x00, -1, -1);
		return;
	}
	/* commands a target answers for any LUN */
	if (cdb[0] == 0xa0) { /* REPORT LUNS */
		uint8_t buf[8 + 8 * 64];
		uint32_t alloc = scsi_get32(cdb + 6);
		size_t n = MIN_SZ(n_luns, 64);
		if (cdb[2] > 0x02 && cdb[2] != 0x10 && cdb[2] != 0x11) {
			check(d, res, 0x5, 0x24, 0x00, 2, -1);
			return;
		}
		if (alloc < 16) {
			check(d, res, 0x5, 0x24, 0x00, 6, -1);
			return;
		}
		memset(buf, 0, sizeof(buf));
		scsi_put32(buf, (uint32_t)(8 * n));
		for (size_t i = 0; i < n; i++)
			udk_scsi_lun_encode(luns[i], buf + 8 + 8 * i);
		give(data, len, buf, 8 + 8 * n, alloc, res);
		return;
	}
	if (cdb[0] == 0x12) {
		inquiry(d, cdb, data, len, res);
		return;
	}
	if (cdb[0] == 0x03) { /* REQUEST SENSE */
		uint8_t buf[18];
		if (!d) {
			scsi_build_sense(buf, 0x5, 0x25, 0x00, -1, -1, false);
		} else if (d->ua_pending) {
			scsi_build_sense(buf, 0x6, d->ua_asc, d->ua_ascq, -1, -1, false);
			d->ua_pending = false;
		} else if (d->sense_len) {
			memcpy(buf, d->sense, 18);
			d->sense_len = 0;
		} else {
			scsi_build_sense(buf, 0x0, 0x00, 0x00, -1, -1, false);
		}
		give(data, len, buf, sizeof(buf), cdb[4], res);
		return;
	}
	if (!d) {
		check(NULL, res, 0x5, 0x25, 0x00, -1, -1);
		return;
	}
	if (d->ua_pending) {
		d->ua_pending = false;
		check(d, res, 0x6, d->ua_asc, d->ua_ascq, -1, -1);
		return;
	}
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY */
		good(res, 0);
		return;
	case 0x25: { /* READ CAPACITY(10) */
		uint8_t buf[8];
		scsi_put32(buf, d->blocks - 1 > 0xffffffffull ? 0xffffffffu : (uint32_t)(d->blocks - 1));
		scsi_put32(buf + 4, d->block_size);
		give(data, len, buf, 8, 8, res);
		return;
	}
	case 0x9e: { /* SERVICE ACTION IN(16) */
		uint8_t buf[32];
		if ((cdb[1] & 0x1f) != 0x10) {
			check(d, res, 0x5, 0x24, 0x00, 1, 4);
			return;
		}
		memset(buf, 0, sizeof(buf));
		scsi_put64(buf, d->blocks - 1);
		scsi_put32(buf + 8, d->block_size);
		buf[14] = 0x80; /* LBPME: UNMAP works */
		give(data, len, buf, 32, scsi_get32(cdb + 10), res);
		return;
	}
	case 0x28:
	case 0x2a:
	case 0x88:
	case 0x8a:
		read_write(d, cdb, cdb_len, data, len, dir, res);
		return;
	case 0x1a:
	case 0x5a:
		mode_sense(d, cdb, data, len, res);
		return;
	case 0x35:
	case 0x91:
		if (d->fd >= 0)
			fdatasync(d->fd);
		good(res, 0);
		return;
	case 0x42:
		unmap(d, cdb, data, len, dir, res);
		return;
	default:
		check(d, res, 0x5, 0x20, 0x00, -1, -1);
		return;
	}
}
