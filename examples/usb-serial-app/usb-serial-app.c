/* SPDX-License-Identifier: MIT */
/*
 * usb-serial-app - talk to a USB-serial chip through its udk driver
 * (drivers/usb-ftdi).
 *
 *   usb-serial-app [--runtime-dir DIR] --info
 *   usb-serial-app [--runtime-dir DIR] --baud RATE
 *   usb-serial-app [--runtime-dir DIR] --write TEXT
 *   usb-serial-app [--runtime-dir DIR] --read N [--timeout MS]
 *   usb-serial-app [--runtime-dir DIR] --loop BYTES [--chunk N] [--json]
 *
 * --loop sends BYTES of a pattern and reads them back (the line must loop
 * back: the simulated chip does; in the guest rig QEMU's host side does)
 * and checks every byte.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/client.h>

#include "ftdi.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "usb-serial-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' }, { "info", no_argument, NULL, 'i' },
		{ "baud", required_argument, NULL, 'b' },	  { "write", required_argument, NULL, 'w' },
		{ "read", required_argument, NULL, 'R' },	  { "timeout", required_argument, NULL, 't' },
		{ "loop", required_argument, NULL, 'l' },	  { "chunk", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },		  { NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL, *text = NULL;
	uint64_t baud = 0, read_n = 0, timeout = 1000, loop = 0, chunk = 4096, id, info[7], out = 0;
	bool want_info = false, json = false;
	struct udk_client *c;
	struct udk_connection *conn;
	uint32_t n;
	int o, r;

	while ((o = getopt_long(argc, argv, "r:ib:w:R:t:l:c:j", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			runtime = optarg;
			break;
		case 'i':
			want_info = true;
			break;
		case 'b':
			baud = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			text = optarg;
			break;
		case 'R':
			read_n = strtoull(optarg, NULL, 0);
			break;
		case 't':
			timeout = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			loop = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			json = true;
			break;
		default:
			fprintf(stderr, "usage: usb-serial-app [--runtime-dir DIR] --info | --baud RATE | --write TEXT | "
					"--read N [--timeout MS] | --loop BYTES [--chunk N] [--json]\n");
			return 2;
		}
	}
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class("FtdiDriver");
		r = udk_client_wait_for_service(c, m, 10000, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the USB-serial driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open", r);
	if (want_info) {
		uint64_t modem = 0;
		n = 7;
		if ((r = udk_connection_call(conn, FTDI_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
			return die("GetInfo", r);
		n = 1;
		if ((r = udk_connection_call(conn, FTDI_MODEM_STATUS, NULL, 0, NULL, 0, &modem, &n, NULL, NULL)) < 0)
			return die("ModemStatus", r);
		printf("FT232 %04" PRIx64 ":%04" PRIx64 " (%s backend) at %" PRIu64 " baud; %" PRIu64 " bytes in, %" PRIu64
		       " out, %" PRIu64 " overruns; modem lines 0x%02" PRIx64 "%s%s%s\n",
		       info[0], info[1], info[2] ? "usbfs" : "sim", info[3], info[4], info[5], info[6], modem,
		       modem & 0x10 ? " CTS" : "", modem & 0x20 ? " DSR" : "", modem & 0x80 ? " DCD" : "");
	}
	if (baud) {
		n = 1;
		if ((r = udk_connection_call(conn, FTDI_SET_BAUD, &baud, 1, NULL, 0, &out, &n, NULL, NULL)) < 0)
			return die("SetBaud", r);
		printf("baud rate %" PRIu64 " asked, the chip runs at %" PRIu64 "\n", baud, out);
	}
	if (text) {
		struct ftdi_io io = { (uint64_t)(uintptr_t)text, (uint32_t)strlen(text), (uint32_t)timeout };
		n = 1;
		if ((r = udk_connection_call(conn, FTDI_WRITE, NULL, 0, &io, sizeof(io), &out, &n, NULL, NULL)) < 0)
			return die("Write", r);
		printf("wrote %" PRIu64 " bytes\n", out);
	}
	if (read_n) {
		char *buf = calloc(1, read_n + 1);
		struct ftdi_io io = { (uint64_t)(uintptr_t)buf, (uint32_t)read_n, (uint32_t)timeout };
		n = 1;
		if (!buf)
			return die("allocate", -ENOMEM);
		if ((r = udk_connection_call(conn, FTDI_READ, NULL, 0, &io, sizeof(io), &out, &n, NULL, NULL)) < 0)
			return die("Read", r);
		printf("read %" PRIu64 " bytes: \"%s\"\n", out, buf);
		free(buf);
	}
	if (loop) {
		uint8_t *ob = malloc(loop), *ib = calloc(1, loop);
		struct ftdi_loop lp;
		uint64_t bad = 0, x = 88172645463325252ull;
		double t0, t1;
		if (!ob || !ib)
			return die("allocate", -ENOMEM);
		for (uint64_t i = 0; i < loop; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			ob[i] = (uint8_t)x;
		}
		lp = (struct ftdi_loop){ (uint64_t)(uintptr_t)ob, (uint64_t)(uintptr_t)ib, (uint32_t)loop, (uint32_t)chunk,
					 (uint32_t)(timeout < 10000 ? 60000 : timeout), 0 };
		n = 1;
		t0 = now_s();
		r = udk_connection_call(conn, FTDI_LOOP, NULL, 0, &lp, sizeof(lp), &out, &n, NULL, NULL);
		t1 = now_s();
		if (r < 0)
			return die("Loop", r);
		for (uint64_t i = 0; i < loop; i++)
			bad += ob[i] != ib[i];
		if (json)
			printf("{\"bytes\":%" PRIu64 ",\"received\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"seconds\":%.6f,\"kbs\":%.1f}\n",
			       loop, out, bad, t1 - t0, (double)loop / (t1 - t0) / 1e3);
		else
			printf("looped %" PRIu64 " bytes through the serial line: %" PRIu64 " came back, %" PRIu64
			       " differ; %.1f kB/s\n",
			       loop, out, bad, (double)loop / (t1 - t0) / 1e3);
		free(ob);
		free(ib);
		if (bad || out != loop)
			return 1;
	}
	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
