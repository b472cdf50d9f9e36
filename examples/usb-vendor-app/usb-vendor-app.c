/* SPDX-License-Identifier: MIT */
/*
 * usb-vendor-app - stream bytes through a vendor-class USB device and its
 * udk driver (drivers/usb-vendor), and check every one.
 *
 *   usb-vendor-app [--runtime-dir DIR] [--bytes N] [--chunk N] [--malloc] [--json]
 *   usb-vendor-app [--runtime-dir DIR] --write TEXT      raw bulk OUT
 *   usb-vendor-app [--runtime-dir DIR] --read N [--timeout MS]   raw bulk IN (hex dump)
 *
 * The loop sends N bytes of a pseudo-random pattern out of one buffer and
 * reads them back into another; the simulated loopback device returns
 * what it receives.  By default both buffers are shared memory (no copy
 * between the app and the driver); --malloc uses plain memory, which the
 * driver reaches through copies.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/buffer.h>
#include <udk/client.h>

#include "vendor.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "usb-vendor-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
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

static void
fill(uint8_t *p, uint64_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (uint64_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

/* A call whose structure names app memory by address: the app exposes that
 * memory to the driver for the call (udk_call_args.ranges), nothing else. */
static int
call_exposing(struct udk_connection *conn, uint64_t sel, const void *sin, size_t sin_len, uint64_t *out, uint32_t *n_out,
	      const void *a, uint64_t a_len, uint32_t a_dir, const void *b, uint64_t b_len, uint32_t b_dir)
{
	struct udk_memory_range ranges[2] = { { a, a_len, a_dir }, { b, b_len, b_dir } };
	struct udk_call_args args = {
		.struct_size = sizeof(args),
		.struct_input = sin,
		.struct_input_size = sin_len,
		.scalar_output = out,
		.scalar_output_count = *n_out,
		.ranges = ranges,
		.n_ranges = b ? 2 : 1,
	};
	int r = udk_connection_call_args(conn, sel, &args);

	*n_out = args.scalar_output_count;
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' }, { "bytes", required_argument, NULL, 'n' },
		{ "chunk", required_argument, NULL, 'c' },	  { "malloc", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },		  { "write", required_argument, NULL, 'w' },
		{ "read", required_argument, NULL, 'R' },	  { "timeout", required_argument, NULL, 't' },
		{ "info", no_argument, NULL, 'i' },		  { "repeat", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL, *write_text = NULL;
	uint64_t bytes = 16u << 20, chunk = 256u << 10, read_len = 0, timeout = 1000, id, info[VI_COUNT], out = 0;
	uint64_t repeat = 1;
	bool use_malloc = false, json = false, info_only = false;
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	uint32_t n = VI_COUNT;
	int o, r;

	while ((o = getopt_long(argc, argv, "r:n:c:mjw:R:t:ip:", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			runtime = optarg;
			break;
		case 'n':
			bytes = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			use_malloc = true;
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			write_text = optarg;
			break;
		case 'R':
			read_len = strtoull(optarg, NULL, 0);
			break;
		case 't':
			timeout = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			info_only = true;
			break;
		case 'p':
			repeat = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: usb-vendor-app [--runtime-dir DIR] [--bytes N] [--chunk N] [--malloc] "
					"[--json] [--repeat N] | --write TEXT | --read N [--timeout MS] | --info\n");
			return 2;
		}
	}
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class("VendorDriver");
		r = udk_client_wait_for_service(c, m, 10000, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the vendor device's driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open", r);
	if ((r = udk_connection_call(conn, VENDOR_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
		return die("GetInfo", r);
	if (!json) {
		char s[512];
		size_t sl = sizeof(s);
		printf("device %04" PRIx64 ":%04" PRIx64 " (%s backend), configuration %" PRIu64 ": the iterator gave %" PRIu64
		       " interface%s; the driver opened interface %" PRIu64 ", class 0x%02" PRIx64 ", bulk IN 0x%02" PRIx64
		       " and OUT 0x%02" PRIx64 ", %" PRIu64 "-byte packets\n",
		       info[VI_VENDOR], info[VI_PRODUCT], info[VI_BACKEND] ? "usbfs" : "sim", info[VI_CONFIGURATION],
		       info[VI_INTERFACES], info[VI_INTERFACES] == 1 ? "" : "s", info[VI_INTERFACE], info[VI_CLASS],
		       info[VI_EP_IN], info[VI_EP_OUT], info[VI_MAX_PACKET]);
		if (udk_connection_call(conn, VENDOR_STRINGS, NULL, 0, NULL, 0, NULL, NULL, s, &sl) >= 0 && sl)
			printf("strings: manufacturer \"%s\", product \"%s\", serial \"%s\"\n", s, s + strlen(s) + 1,
			       s + strlen(s) + 1 + strlen(s + strlen(s) + 1) + 1);
	}
	if (info_only)
		goto done;
	if (write_text) {
		struct vendor_io io = { (uint64_t)(uintptr_t)write_text, (uint32_t)strlen(write_text), (uint32_t)timeout };
		n = 1;
		if ((r = call_exposing(conn, VENDOR_WRITE, &io, sizeof(io), &out, &n, write_text, strlen(write_text),
				       UDK_MEMORY_DIRECTION_OUT, NULL, 0, 0)) < 0)
			return die("Write", r);
		printf("wrote %" PRIu64 " bytes\n", out);
		goto done;
	}
	if (read_len) {
		uint8_t *buf = calloc(1, read_len);
		struct vendor_io io = { (uint64_t)(uintptr_t)buf, (uint32_t)read_len, (uint32_t)timeout };
		n = 1;
		if (!buf)
			return die("allocate", -ENOMEM);
		if ((r = call_exposing(conn, VENDOR_READ, &io, sizeof(io), &out, &n, buf, read_len, UDK_MEMORY_DIRECTION_IN,
				       NULL, 0, 0)) < 0)
			return die("Read", r);
		printf("read %" PRIu64 " bytes:", out);
		for (uint64_t i = 0; i < out; i++)
			printf(" %02x", buf[i]);
		printf("\n");
		free(buf);
		goto done;
	}
	{
		struct udk_buffer *ob = NULL, *ib = NULL;
		uint8_t *op, *ip;
		struct vendor_loop lp;
		double t0, t1;
		uint64_t bad = 0;

		if (use_malloc) {
			op = malloc(bytes);
			ip = calloc(1, bytes);
			if (!op || !ip)
				return die("allocate", -ENOMEM);
		} else {
			if ((r = udk_buffer_create(bytes, 0, &ob)) < 0 || (r = udk_buffer_create(bytes, 0, &ib)) < 0)
				return die("allocate shared buffers", r);
			op = udk_buffer_get_address(ob);
			ip = udk_buffer_get_address(ib);
		}
		fill(op, bytes, 42);
		memset(ip, 0, bytes);
		lp = (struct vendor_loop){ (uint64_t)(uintptr_t)op, (uint64_t)(uintptr_t)ip, bytes, (uint32_t)chunk, 8 };
		/* the last of @repeat runs is the one measured (the first maps and faults in the memory) */
		for (uint64_t k = 0; k < (repeat ? repeat : 1); k++) {
			n = 1;
			t0 = now_s();
			r = call_exposing(conn, VENDOR_LOOP, &lp, sizeof(lp), &out, &n, op, bytes, UDK_MEMORY_DIRECTION_OUT, ip,
					  bytes, UDK_MEMORY_DIRECTION_IN);
			t1 = now_s();
			if (r < 0)
				return die("Loop", r);
		}
		for (uint64_t i = 0; i < bytes; i++)
			bad += op[i] != ip[i];
		if (json)
			printf("{\"bytes\":%" PRIu64 ",\"received\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"seconds\":%.6f,"
			       "\"mbs\":%.1f}\n",
			       bytes, out, bad, t1 - t0, (double)bytes / (t1 - t0) / 1e6);
		else
			printf("looped %" PRIu64 " bytes out and back in %" PRIu64 "-byte transfers: %" PRIu64
			       " received, %" PRIu64 " differ; %.1f MB/s\n",
			       bytes, chunk, out, bad, (double)bytes / (t1 - t0) / 1e6);
		if (use_malloc) {
			free(op);
			free(ip);
		}
		udk_buffer_unref(ob);
		udk_buffer_unref(ib);
		if (bad || out != bytes) {
			udk_connection_unref(conn);
			udk_client_unref(c);
			return 1;
		}
	}
done:
	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
