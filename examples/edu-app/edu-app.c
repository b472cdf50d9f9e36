/* SPDX-License-Identifier: MIT */
/*
 * edu-app - use QEMU's edu device through its udk driver, as an app would.
 *
 *   edu-app [--runtime-dir DIR] [--json] [--bytes N] [--rounds N] [--irqs N]
 *           [--factorial N] [--iommu-probe] [--start-dma] [--wait MS] [--reset]
 *
 * Finds the EduDriver service, opens a user client, then: reads the ID,
 * asks the device for a factorial (announced by MSI), measures MSI latency
 * (raise-interrupt register to the driver's handler), and sends a buffer
 * of this app's memory to the device and back by DMA --rounds times, with
 * a new pattern each time, checking every byte here too.
 *
 * --iommu-probe: the device writes to an address the driver did not
 * prepare; the IOMMU must block it and the driver's memory stay untouched.
 * --start-dma: start a DMA and exit at once (for crash tests; prints the
 * driver's pid).  --reset: ask for a function reset (edu has none: refused
 * with the reason).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/buffer.h>
#include <udk/client.h>

#include "edu.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "edu-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t
factorial32(uint64_t n)
{
	uint32_t r = 1;

	for (uint32_t i = 2; i <= n; i++)
		r *= i;
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "irqs", required_argument, NULL, 'i' },
		{ "factorial", required_argument, NULL, 'f' },
		{ "iommu-probe", no_argument, NULL, 'p' },
		{ "start-dma", no_argument, NULL, 's' },
		{ "wait", required_argument, NULL, 'w' },
		{ "reset", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL;
	uint64_t bytes = EDU_MAX_TRANSFER, rounds = 5, irqs = 100, fact_n = 10, wait_ms = 10000;
	bool json = false, probe = false, start_dma = false, reset = false;
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	struct udk_buffer *src = NULL, *dst = NULL;
	struct edu_info info;
	size_t info_size = sizeof(info);
	uint64_t id, out[5], lat[3] = { 0, 0, 0 }, fact = 0, *rt = NULL, checked = 0, bad = 0, pr[3] = { 0, 0, 0 };
	uint32_t n;
	int o, r;

	while ((o = getopt_long(argc, argv, "r:jb:n:i:f:psw:R", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			runtime = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			bytes = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			rounds = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			irqs = strtoull(optarg, NULL, 0);
			break;
		case 'f':
			fact_n = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			probe = true;
			break;
		case 's':
			start_dma = true;
			break;
		case 'w':
			wait_ms = strtoull(optarg, NULL, 0);
			break;
		case 'R':
			reset = true;
			break;
		default:
			fprintf(stderr, "usage: edu-app [--runtime-dir DIR] [--json] [--bytes 1..%u] [--rounds N] "
					"[--irqs N] [--factorial N] [--iommu-probe] [--start-dma] [--wait MS] [--reset]\n",
				EDU_MAX_TRANSFER);
			return 2;
		}
	}
	if (!bytes || bytes > EDU_MAX_TRANSFER || rounds > 100000 || fact_n > 0xffffffffu) {
		fprintf(stderr, "edu-app: --bytes must be 1..%u and --rounds at most 100000\n", EDU_MAX_TRANSFER);
		return 2;
	}
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class("EduDriver");
		r = udk_client_wait_for_service(c, m, (int)wait_ms, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the edu driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open the edu driver", r);

	n = 5;
	if ((r = udk_connection_call(conn, EDU_SEL_INFO, NULL, 0, NULL, 0, out, &n, &info, &info_size)) < 0)
		return die("GetInfo", r);
	info.backend[sizeof(info.backend) - 1] = info.location[sizeof(info.location) - 1] = 0;
	if (!json)
		printf("edu: id 0x%08" PRIx64 " (version %" PRIu64 ".%" PRIu64 "), backend %s at %s, liveness %s, "
		       "driver pid %" PRIu64 "\n",
		       out[0], out[0] >> 24, (out[0] >> 16) & 0xff, info.backend, info.location, out[1] ? "ok" : "FAILED",
		       out[2]);
	if (!out[1])
		return 1;

	if (start_dma) {
		uint64_t running = 0;
		n = 1;
		if ((r = udk_connection_call(conn, EDU_SEL_START_DMA, NULL, 0, NULL, 0, &running, &n, NULL, NULL)) < 0)
			return die("StartDma", r);
		printf("DMA started (%s), driver pid %" PRIu64 "\n", running ? "running" : "already done", out[2]);
		udk_connection_unref(conn);
		udk_client_unref(c);
		return 0;
	}

	if (reset) {
		r = udk_connection_call(conn, EDU_SEL_RESET, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL);
		if (r < 0)
			printf("reset: refused: %s (%s)\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r),
			       udk_error_name(r));
		else
			printf("reset: done\n");
	}
	if (fact_n) {
		n = 1;
		if ((r = udk_connection_call(conn, EDU_SEL_FACTORIAL, &fact_n, 1, NULL, 0, &fact, &n, NULL, NULL)) < 0)
			return die("Factorial", r);
		if (!json)
			printf("factorial: %" PRIu64 "! = %" PRIu64 " (mod 2^32), announced by MSI: %s\n", fact_n, fact,
			       fact == factorial32(fact_n) ? "correct" : "WRONG");
		if (fact != factorial32(fact_n))
			return 1;
	}
	if (irqs) {
		n = 3;
		if ((r = udk_connection_call(conn, EDU_SEL_IRQ_LATENCY, &irqs, 1, NULL, 0, lat, &n, NULL, NULL)) < 0)
			return die("InterruptLatency", r);
		if (!json)
			printf("MSI latency, raise register to driver handler, %" PRIu64
			       " interrupts: median %.1f us, p99 %.1f us, min %.1f us\n",
			       irqs, (double)lat[0] / 1e3, (double)lat[1] / 1e3, (double)lat[2] / 1e3);
	}
	if (rounds) {
		rt = calloc(rounds, sizeof(*rt));
		if (!rt || (r = udk_buffer_create(bytes, 0, &src)) < 0 || (r = udk_buffer_create(bytes, 0, &dst)) < 0)
			return die("allocate DMA buffers", rt ? r : -ENOMEM);
		for (uint64_t k = 0; k < rounds; k++) {
			uint8_t *s = udk_buffer_get_address(src), *d = udk_buffer_get_address(dst);
			struct edu_dma req = { (uint64_t)(uintptr_t)s, (uint64_t)(uintptr_t)d, bytes };
			uint64_t res[2];
			for (uint64_t i = 0; i < bytes; i++)
				s[i] = (uint8_t)(i * 7 + k * 13 + (i >> 8));
			/* the two buffers go by address: exposed to the driver for this call */
			struct udk_memory_range ranges[2] = { { s, bytes, UDK_MEMORY_DIRECTION_OUT },
							      { d, bytes, UDK_MEMORY_DIRECTION_IN } };
			struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = &req,
						   .struct_input_size = sizeof(req), .scalar_output = res,
						   .scalar_output_count = 2, .ranges = ranges, .n_ranges = 2 };
			memset(d, 0, bytes);
			if ((r = udk_connection_call_args(conn, EDU_SEL_DMA, &a)) < 0)
				return die("Dma", r);
			rt[k] = res[0];
			bad += res[1];
			for (uint64_t i = 0; i < bytes; i++)
				bad += d[i] != s[i];
			checked += bytes;
		}
		qsort(rt, rounds, sizeof(*rt), cmp_u64);
		if (!json)
			printf("DMA round trip, %" PRIu64 " bytes to the device and back, %" PRIu64
			       " rounds: %" PRIu64 " bytes checked, %" PRIu64 " wrong; median %.3f ms\n",
			       bytes, rounds, checked, bad, (double)rt[rounds / 2] / 1e6);
	}
	if (probe) {
		uint64_t len = bytes;
		n = 3;
		if ((r = udk_connection_call(conn, EDU_SEL_IOMMU_PROBE, &len, 1, NULL, 0, pr, &n, NULL, NULL)) < 0)
			return die("IommuProbe", r);
		if (!json)
			printf("IOMMU: the device wrote %" PRIu64 " bytes to IOVA 0x%" PRIx64
			       " after the driver completed it: memory %s; faults the driver was told of: %" PRIu64 "\n",
			       len, pr[2], pr[1] ? "untouched" : "OVERWRITTEN", pr[0]);
	}
	if (json)
		printf("{\"id\":%" PRIu64 ",\"backend\":\"%s\",\"factorial\":%" PRIu64 ",\"irq_median_ns\":%" PRIu64
		       ",\"irq_p99_ns\":%" PRIu64 ",\"irq_min_ns\":%" PRIu64 ",\"dma_bytes\":%" PRIu64
		       ",\"dma_rounds\":%" PRIu64 ",\"dma_median_ns\":%" PRIu64 ",\"dma_checked\":%" PRIu64
		       ",\"dma_wrong\":%" PRIu64 ",\"probe_faults\":%" PRIu64 ",\"probe_untouched\":%" PRIu64 "}\n",
		       out[0], info.backend, fact, lat[0], lat[1], lat[2], bytes, rounds, rt ? rt[rounds / 2] : 0, checked,
		       bad, pr[0], pr[1]);
	free(rt);
	udk_buffer_unref(src);
	udk_buffer_unref(dst);
	udk_connection_unref(conn);
	udk_client_unref(c);
	return bad || (probe && !pr[1]) ? 1 : 0;
}
