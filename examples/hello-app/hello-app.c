/* SPDX-License-Identifier: MIT */
/*
 * hello-app - talks to the Hello example driver: find it, open a user
 * client, call each kind of method, and survive the driver restarting.
 *
 * The calls are typed: hello_add(conn, 40, 2, &sum) and the others come
 * from hello-client.h, which udk-iig generates from drivers/hello/hello.xml
 * (the reference page: build/drivers/hello.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <udk/client.h>
#include <udk/ring.h>

#include "hello-client.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "hello-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static void
ticked(struct udk_connection *conn, int status, uint64_t total, void *userdata)
{
	int *done = userdata;

	(void)conn;
	printf("  TickAsync completed: %s, %" PRIu64 " ticks\n", udk_error_name(status), total);
	*done = 1;
}

int
main(int argc, char **argv)
{
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	struct udk_value *match;
	uint64_t id, sum, in[2] = { 40, 2 }, out[1];
	uint32_t n_out = 1;
	char greeting[128];
	uint8_t edid[HELLO_EDID_SIZE];
	struct hello_edid req = { sizeof(edid), (uint64_t)(uintptr_t)edid };
	int r, done = 0;

	r = udk_client_new(argc > 1 ? argv[1] : NULL, &c);
	if (r < 0)
		return die("connect", r);
	match = udk_matching_class(HELLO_SERVICE_CLASS);
	r = udk_client_wait_for_service(c, match, 10000, &id);
	udk_value_unref(match);
	if (r < 0)
		return die("find HelloDriver", r);
	printf("found HelloDriver, registry id 0x%" PRIx64 "\n", id);
	r = udk_client_open(c, id, 0, &conn);
	if (r < 0)
		return die("open", r);

	r = hello_greet(conn, "udk", greeting, sizeof(greeting));
	if (r < 0)
		return die("Greet", r);
	printf("  Greet: %s\n", greeting);

	r = hello_add(conn, 40, 2, &sum);
	if (r < 0)
		return die("Add", r);
	printf("  Add(40, 2) = %" PRIu64 "\n", sum);

	/* a wrong call is refused before driver code runs, with the reason;
	 * the typed calls cannot make it, an untyped udk_connection_call can */
	r = udk_connection_call(conn, HELLO_ADD, in, 1, NULL, 0, out, &n_out, NULL, NULL);
	printf("  Add with one scalar: %s: %s\n", udk_error_name(r), udk_error_reason());

	memset(edid, 0, sizeof(edid));
	r = hello_get_edid(conn, &req);
	if (r < 0)
		return die("GetEdid", r);
	printf("  GetEdid wrote the app's buffer: header %02x %02x %02x ... %02x, vendor \"%.3s\"\n", edid[0],
	       edid[1], edid[2], edid[7], (const char *)edid + 10);

	r = hello_tick_async(conn, 5, ticked, &done);
	if (r < 0)
		return die("TickAsync", r);
	while (!done)
		udk_connection_dispatch(conn, 1000);

	/* a structure over 4 KiB travels in memory, transparently */
	{
		size_t big = 1 << 20;
		uint8_t *blob = malloc(big);
		uint64_t expect = 0;
		sum = 0;
		for (size_t i = 0; i < big; i++) {
			blob[i] = (uint8_t)i;
			expect += blob[i];
		}
		r = hello_checksum(conn, blob, big, &sum);
		free(blob);
		if (r < 0)
			return die("Checksum", r);
		printf("  Checksum of 1 MiB: %" PRIu64 " (%s)\n", sum, sum == expect ? "right" : "WRONG");
	}

	/* events through a data queue */
	{
		struct udk_ring *events = NULL;
		uint64_t n = 1000;
		r = udk_connection_map_data_queue(conn, 0, &events);
		if (r < 0)
			return die("map data queue", r);
		r = hello_start_events(conn, n);
		if (r < 0)
			return die("StartEvents", r);
		uint64_t got = 0;
		struct hello_event ev;
		uint32_t len;
		while (udk_ring_dequeue_wait(events, &ev, sizeof(ev), &len, 1000) == 0 && ev.seq == got)
			if (++got == n)
				break;
		printf("  data queue: %" PRIu64 " of %" PRIu64 " events, in order\n", got, n);
		udk_ring_unref(events);
	}

	/* the driver's status page, mapped read-only */
	{
		struct udk_buffer *page = NULL;
		r = udk_connection_map_memory(conn, HELLO_MEMORY_STATUS, 0, &page);
		if (r < 0)
			return die("map status", r);
		const struct hello_status *st = udk_buffer_get_address(page);
		printf("  status page (%s): %" PRIu64 " calls, %" PRIu64 " events\n",
		       udk_buffer_is_writable(page) ? "writable" : "read-only", st->calls, st->events);
		udk_buffer_unref(page);
	}

	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
