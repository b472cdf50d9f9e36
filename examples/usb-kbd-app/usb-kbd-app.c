/* SPDX-License-Identifier: MIT */
/*
 * usb-kbd-app - read a USB keyboard's boot reports through its udk driver
 * (drivers/usb-kbd).
 *
 *   usb-kbd-app [--runtime-dir DIR] [--reports N] [--timeout MS]
 *
 * Prints each report (modifiers and six key codes) and the letters they
 * press.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/client.h>

#include "kbd.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "usb-kbd-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "reports", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL;
	uint64_t in[2] = { 4, 3000 }, info[6], id;
	struct udk_client *c;
	struct udk_connection *conn;
	uint8_t reports[8 * 256];
	size_t len = sizeof(reports);
	char typed[257];
	size_t nt = 0;
	uint32_t n = 6;
	int o, r;

	while ((o = getopt_long(argc, argv, "r:n:t:", opts, NULL)) != -1) {
		switch (o) {
		case 'r': runtime = optarg; break;
		case 'n': in[0] = strtoull(optarg, NULL, 0); break;
		case 't': in[1] = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: usb-kbd-app [--runtime-dir DIR] [--reports N] [--timeout MS]\n");
			return 2;
		}
	}
	if (in[0] > 256)
		in[0] = 256;
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class("KbdDriver");
		r = udk_client_wait_for_service(c, m, 10000, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the keyboard's driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open", r);
	if ((r = udk_connection_call(conn, KBD_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
		return die("GetInfo", r);
	printf("keyboard %04" PRIx64 ":%04" PRIx64 ", interface %" PRIu64 " (%s backend), a report every %" PRIu64
	       " ms when idle\n",
	       info[0], info[1], info[2], info[3] ? "usbfs" : "sim", info[4]);
	if ((r = udk_connection_call(conn, KBD_READ, in, 2, NULL, 0, NULL, NULL, reports, &len)) < 0)
		return die("ReadReports", r);
	for (size_t i = 0; i + 8 <= len; i += 8) {
		printf("report %zu: modifiers 0x%02x keys %02x %02x %02x %02x %02x %02x\n", i / 8, reports[i],
		       reports[i + 2], reports[i + 3], reports[i + 4], reports[i + 5], reports[i + 6], reports[i + 7]);
		if (reports[i + 2] >= 4 && reports[i + 2] <= 29 && nt < 256)
			typed[nt++] = (char)('a' + reports[i + 2] - 4);
		else if (reports[i + 2] == 44 && nt < 256)
			typed[nt++] = ' ';
	}
	typed[nt] = 0;
	printf("%zu reports; keys pressed: \"%s\"\n", len / 8, typed);
	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
