/* SPDX-License-Identifier: MIT */
/*
 * usb-storage-app - SCSI commands to a USB disk through the bulk-only
 * driver (drivers/usb-storage).
 *
 *   usb-storage-app [--runtime-dir DIR] --inquiry --capacity
 *   usb-storage-app ... --write LBA --count N --seed S     blocks of a pattern
 *   usb-storage-app ... --verify LBA --count N --seed S    read them back and check
 *   usb-storage-app ... --read-mb MB [--json]              read MB from block 0 (a benchmark)
 *   usb-storage-app ... --cdb HEX                          any CDB without data (sense shown)
 *
 * Block b byte i of the pattern: (b * 7 + i + S) & 0xff.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/buffer.h>
#include <udk/client.h>

#include "bot.h"

static struct udk_connection *conn;

static int
die(const char *what, int r)
{
	fprintf(stderr, "usb-storage-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cdb(const uint8_t *c, uint8_t len, uint8_t dir, void *data, uint32_t length, uint64_t *res)
{
	struct bot_cdb b = { .cdb_len = len, .dir = dir, .data = (uint64_t)(uintptr_t)data, .length = length };
	uint32_t n = BR_COUNT;

	memcpy(b.cdb, c, len);
	return udk_connection_call(conn, BOT_EXECUTE, NULL, 0, &b, sizeof(b), res, &n, NULL, NULL);
}

static int
check_good(const char *what, const uint64_t *res)
{
	if (res[BR_STATUS] != 0) {
		fprintf(stderr, "usb-storage-app: %s: CHECK CONDITION, sense key 0x%" PRIx64 " ASC 0x%02" PRIx64
				" ASCQ 0x%02" PRIx64 "\n",
			what, res[BR_SENSE_KEY], res[BR_ASC], res[BR_ASCQ]);
		return 1;
	}
	return 0;
}

static void
rw10(uint8_t *c, uint8_t op, uint32_t lba, uint16_t n)
{
	memset(c, 0, 10);
	c[0] = op;
	c[2] = (uint8_t)(lba >> 24);
	c[3] = (uint8_t)(lba >> 16);
	c[4] = (uint8_t)(lba >> 8);
	c[5] = (uint8_t)lba;
	c[7] = (uint8_t)(n >> 8);
	c[8] = (uint8_t)n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' }, { "inquiry", no_argument, NULL, 'I' },
		{ "capacity", no_argument, NULL, 'C' },	  { "write", required_argument, NULL, 'w' },
		{ "verify", required_argument, NULL, 'v' },	  { "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },	  { "read-mb", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },		  { "cdb", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL, *hex = NULL;
	bool inquiry = false, capacity = false, json = false;
	int64_t wlba = -1, vlba = -1;
	uint64_t count = 1, seed = 0, read_mb = 0, id, res[BR_COUNT], info[7];
	uint32_t block = 512;
	struct udk_client *c;
	uint32_t n = 7;
	int o, r, rc = 0;

	while ((o = getopt_long(argc, argv, "r:ICw:v:n:s:R:jx:", opts, NULL)) != -1) {
		switch (o) {
		case 'r': runtime = optarg; break;
		case 'I': inquiry = true; break;
		case 'C': capacity = true; break;
		case 'w': wlba = strtoll(optarg, NULL, 0); break;
		case 'v': vlba = strtoll(optarg, NULL, 0); break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'R': read_mb = strtoull(optarg, NULL, 0); break;
		case 'j': json = true; break;
		case 'x': hex = optarg; break;
		default:
			fprintf(stderr, "usage: usb-storage-app [--runtime-dir DIR] [--inquiry] [--capacity] [--write LBA "
					"--count N --seed S] [--verify LBA --count N --seed S] [--read-mb MB [--json]] "
					"[--cdb HEX]\n");
			return 2;
		}
	}
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class("BotDriver");
		r = udk_client_wait_for_service(c, m, 10000, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the mass-storage driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open", r);
	if ((r = udk_connection_call(conn, BOT_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
		return die("GetInfo", r);
	if (!json)
		printf("USB disk %04" PRIx64 ":%04" PRIx64 ", bulk-only interface %" PRIu64 ", %" PRIu64 " LUN(s), %s backend\n",
		       info[0], info[1], info[2], info[3] + 1, info[4] ? "usbfs" : "sim");
	if (inquiry) {
		uint8_t c6[6] = { 0x12, 0, 0, 0, 36, 0 }, d[36] = { 0 };
		if ((r = cdb(c6, 6, BOT_DIR_IN, d, 36, res)) < 0)
			return die("INQUIRY", r);
		if (check_good("INQUIRY", res))
			return 1;
		printf("INQUIRY: \"%.8s\" \"%.16s\" \"%.4s\" (peripheral type %u%s)\n", d + 8, d + 16, d + 32, d[0] & 0x1f,
		       d[1] & 0x80 ? ", removable" : "");
	}
	if (capacity || wlba >= 0 || vlba >= 0 || read_mb) {
		uint8_t c10[10] = { 0x25 }, d[8] = { 0 };
		uint32_t last;
		if ((r = cdb(c10, 10, BOT_DIR_IN, d, 8, res)) < 0)
			return die("READ CAPACITY(10)", r);
		if (check_good("READ CAPACITY(10)", res))
			return 1;
		last = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
		block = (uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7];
		if (capacity)
			printf("READ CAPACITY: %u blocks of %u bytes (%.1f MiB)\n", last + 1, block,
			       (double)(last + 1) * block / 1048576.0);
	}
	if (wlba >= 0 || vlba >= 0) {
		uint64_t lba = (uint64_t)(wlba >= 0 ? wlba : vlba), bytes = count * block, bad = 0;
		uint8_t *p = malloc(bytes), c10[10];
		if (!p)
			return die("allocate", -ENOMEM);
		if (wlba >= 0) {
			for (uint64_t b = 0; b < count; b++)
				for (uint32_t i = 0; i < block; i++)
					p[b * block + i] = (uint8_t)((lba + b) * 7 + i + seed);
			rw10(c10, 0x2a, (uint32_t)lba, (uint16_t)count);
			if ((r = cdb(c10, 10, BOT_DIR_OUT, p, (uint32_t)bytes, res)) < 0)
				return die("WRITE(10)", r);
			if (check_good("WRITE(10)", res))
				return 1;
			printf("wrote %" PRIu64 " blocks at %" PRIu64 " (%" PRIu64 " bytes moved)\n", count, lba, res[BR_MOVED]);
		} else {
			memset(p, 0, bytes);
			rw10(c10, 0x28, (uint32_t)lba, (uint16_t)count);
			if ((r = cdb(c10, 10, BOT_DIR_IN, p, (uint32_t)bytes, res)) < 0)
				return die("READ(10)", r);
			if (check_good("READ(10)", res))
				return 1;
			for (uint64_t b = 0; b < count; b++)
				for (uint32_t i = 0; i < block; i++)
					bad += p[b * block + i] != (uint8_t)((lba + b) * 7 + i + seed);
			printf("read %" PRIu64 " blocks at %" PRIu64 ": %" PRIu64 " bytes differ from the pattern\n", count, lba,
			       bad);
			rc = bad != 0;
		}
		free(p);
	}
	if (read_mb) {
		/* ReadBlocks: one call, 64 KiB READ(10)s one after another into a 1 MiB shared
		 * buffer (no copy between app and driver), as a streaming reader would */
		uint64_t total = read_mb << 20, in[3] = { 0, total / block, 0 }, blocks = 0;
		struct udk_buffer *buf;
		struct bot_stream st;
		double t0, t1;
		uint32_t nn = 1;
		if ((r = udk_buffer_create(1 << 20, 0, &buf)) < 0)
			return die("allocate", r);
		memset(udk_buffer_get_address(buf), 0, 1 << 20);
		st = (struct bot_stream){ (uint64_t)(uintptr_t)udk_buffer_get_address(buf), 1 << 20 };
		t0 = now_s();
		if ((r = udk_connection_call(conn, BOT_READ_BLOCKS, in, 3, &st, sizeof(st), &blocks, &nn, NULL, NULL)) < 0)
			return die("ReadBlocks", r);
		t1 = now_s();
		if (blocks * block != total)
			return die("ReadBlocks read less", -EIO);
		if (json)
			printf("{\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"mbs\":%.2f}\n", total, t1 - t0, (double)total / (t1 - t0) / 1e6);
		else
			printf("read %" PRIu64 " MiB in %.3f s: %.2f MB/s\n", read_mb, t1 - t0, (double)total / (t1 - t0) / 1e6);
		udk_buffer_unref(buf);
	}
	if (hex) {
		uint8_t c16[16] = { 0 };
		size_t len = strlen(hex) / 2;
		if (len < 6 || len > 16)
			return die("--cdb needs 6 to 16 bytes in hex", -EINVAL);
		for (size_t i = 0; i < len; i++)
			sscanf(hex + 2 * i, "%2hhx", &c16[i]);
		if ((r = cdb(c16, (uint8_t)len, BOT_DIR_NONE, NULL, 0, res)) < 0)
			return die("the CDB", r);
		printf("CDB %s: status %s, sense key 0x%" PRIx64 " ASC 0x%02" PRIx64 " ASCQ 0x%02" PRIx64 "\n", hex,
		       res[BR_STATUS] ? "CHECK CONDITION" : "GOOD", res[BR_SENSE_KEY], res[BR_ASC], res[BR_ASCQ]);
	}
	udk_connection_unref(conn);
	udk_client_unref(c);
	return rc;
}
