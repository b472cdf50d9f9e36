/* SPDX-License-Identifier: MIT */
/*
 * victim-client RUNTIME_DIR BUNDLE_ID - an app that opens the test driver
 * of BUNDLE_ID and starts a 300 ms call; the fault campaign kills it in the
 * middle ("client death mid-call").  Prints "calling" once the call is out.
 */
#include <stdio.h>
#include <stdlib.h>

#include <udk/client.h>

int
main(int argc, char **argv)
{
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	struct udk_value *m;
	uint64_t id = 0, ms = 300;

	if (argc != 3)
		return 2;
	if (udk_client_new(argv[1], &c) < 0)
		return 1;
	m = udk_value_new_dict();
	udk_dict_set_string(m, "CFBundleIdentifier", argv[2]);
	if (udk_client_wait_for_service(c, m, 5000, &id) < 0 || udk_client_open(c, id, 0, &conn) < 0)
		return 1;
	udk_value_unref(m);
	printf("calling\n");
	fflush(stdout);
	udk_connection_call(conn, 2 /* SEL_SLEEP */, &ms, 1, NULL, 0, NULL, NULL, NULL, NULL);
	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
