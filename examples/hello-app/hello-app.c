/* SPDX-License-Identifier: MIT */
/*
 * hello-app - talks to the Hello example driver: find it, open a user
 * client, call each kind of method, and survive the driver restarting.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <udk/client.h>

#include "hello.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "hello-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static void
ticked(struct udk_connection *conn, int status, const uint64_t *v, uint32_t n, void *userdata)
{
	int *done = userdata;

	(void)conn;
	printf("  TickAsync completed: %s, %" PRIu64 " ticks\n", udk_error_name(status), n ? v[0] : 0);
	*done = 1;
}

int
main(int argc, char **argv)
{
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	struct udk_value *match;
	uint64_t id, in[2] = { 40, 2 }, out[1], n_ticks = 5;
	uint32_t n_out = 1;
	char greeting[128];
	size_t glen = sizeof(greeting);
	uint8_t edid[HELLO_EDID_SIZE];
	struct hello_edid req = { sizeof(edid), (uint64_t)(uintptr_t)edid };
	int r, done = 0;

	r = udk_client_new(argc > 1 ? argv[1] : NULL, &c);
	if (r < 0)
		return die("connect", r);
	match = udk_matching_class("HelloDriver");
	r = udk_client_wait_for_service(c, match, 10000, &id);
	udk_value_unref(match);
	if (r < 0)
		return die("find HelloDriver", r);
	printf("found HelloDriver, registry id 0x%" PRIx64 "\n", id);
	r = udk_client_open(c, id, 0, &conn);
	if (r < 0)
		return die("open", r);

	r = udk_connection_call(conn, HELLO_GREET, NULL, 0, "udk", 3, NULL, NULL, greeting, &glen);
	if (r < 0)
		return die("Greet", r);
	printf("  Greet: %s\n", greeting);

	r = udk_connection_call(conn, HELLO_ADD, in, 2, NULL, 0, out, &n_out, NULL, NULL);
	if (r < 0)
		return die("Add", r);
	printf("  Add(40, 2) = %" PRIu64 "\n", out[0]);

	/* a wrong call is refused before driver code runs, with the reason */
	r = udk_connection_call(conn, HELLO_ADD, in, 1, NULL, 0, out, &n_out, NULL, NULL);
	printf("  Add with one scalar: %s: %s\n", udk_error_name(r), udk_error_reason());

	memset(edid, 0, sizeof(edid));
	r = udk_connection_call(conn, HELLO_GET_EDID, NULL, 0, &req, sizeof(req), NULL, NULL, NULL, NULL);
	if (r < 0)
		return die("GetEdid", r);
	printf("  GetEdid wrote the app's buffer: header %02x %02x %02x ... %02x, vendor \"%.3s\"\n", edid[0],
	       edid[1], edid[2], edid[7], (const char *)edid + 10);

	r = udk_connection_call_async(conn, HELLO_TICK_ASYNC, &n_ticks, 1, NULL, 0, NULL, NULL, NULL, NULL, ticked,
				      &done);
	if (r < 0)
		return die("TickAsync", r);
	while (!done)
		udk_connection_dispatch(conn, 1000);

	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
