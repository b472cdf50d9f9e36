/* SPDX-License-Identifier: MIT */
/*
 * remapctl - the guest tests' handle on the remapper's test hooks:
 *   remapctl stats | hang | crash [REMAPPER-PATH]
 * (its user client, RemapUserClient, with RemapTestHooks set).  Without a
 * path, the first Remapper the registry lists; with several keyboards, name
 * the one (e.g. /USBHost/.../IOHIDInterface/Remapper).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <udk/client.h>

int
main(int argc, char **argv)
{
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	uint64_t id, out[3] = { 0 };
	uint32_t n = 3;
	int sel, r;

	if (argc < 2 || argc > 3 ||
	    (strcmp(argv[1], "stats") && strcmp(argv[1], "hang") && strcmp(argv[1], "crash"))) {
		fprintf(stderr, "usage: remapctl stats|hang|crash [REMAPPER-PATH]\n");
		return 2;
	}
	sel = !strcmp(argv[1], "stats") ? 0 : !strcmp(argv[1], "hang") ? 1 : 2;
	r = udk_client_new(NULL, &c);
	if (r >= 0)
		r = argc == 3 ? udk_client_lookup_path(c, argv[2], &id) : udk_client_find_service(c, "Remapper", &id);
	if (r >= 0)
		r = udk_client_open(c, id, 0, &conn);
	if (r >= 0)
		r = udk_connection_call(conn, (uint64_t)sel, NULL, 0, NULL, 0, sel ? NULL : out, sel ? NULL : &n, NULL,
					NULL);
	if (r < 0 && sel != 2) {
		fprintf(stderr, "remapctl: %s (%s)\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r),
			udk_error_name(r));
		return 1;
	}
	if (sel == 0)
		printf("events %" PRIu64 " reports %" PRIu64 " pid %" PRIu64 "\n", out[0], out[1], out[2]);
	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
