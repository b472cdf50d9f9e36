/* SPDX-License-Identifier: MIT */
/*
 * @@name@@-app - reads the @@Name@@ sensor's temperature through its driver.
 *
 * It finds the driver's service in udkd's registry, opens a user client
 * and calls ReadTemperature: @@name@@_read_temperature() comes from
 * @@name@@-client.h, which udk-iig wrote from @@name@@.xml.  udkd is the one
 * of UDK_RUNTIME_DIR, else the user's own, else the system's.
 */
#include <inttypes.h>
#include <stdio.h>

#include <udk/client.h>

#include "@@name@@-client.h"

static int
fail(const char *what, int r)
{
	/* every error has a name and, usually, a sentence saying what to do */
	fprintf(stderr, "@@name@@-app: %s: %s (%s)\n", what,
		udk_error_reason() ? udk_error_reason() : udk_strerror(r), udk_error_name(r));
	return 1;
}

int
main(void)
{
	struct udk_client *client = NULL;
	struct udk_connection *conn = NULL;
	struct udk_value *match;
	uint64_t id = 0, samples = 0;
	int64_t millicelsius = 0;
	int r;

	r = udk_client_new(NULL, &client);
	if (r < 0)
		return fail("connect to udkd", r);
	match = udk_matching_class(@@NAME@@_SERVICE_CLASS);
	r = udk_client_wait_for_service(client, match, 10000, &id);
	udk_value_unref(match);
	if (r < 0)
		return fail("find " @@NAME@@_SERVICE_CLASS, r);
	r = udk_client_open(client, id, 0, &conn);
	if (r < 0)
		return fail("open " @@NAME@@_SERVICE_CLASS, r);
	r = @@name@@_read_temperature(conn, &millicelsius, &samples);
	if (r < 0)
		return fail("ReadTemperature", r);
	printf("@@Name@@ sensor 0x%" PRIx64 ": %s%" PRId64 ".%03" PRId64 " degrees Celsius (reading %" PRIu64 ")\n",
	       id, millicelsius < 0 ? "-" : "", (millicelsius < 0 ? -millicelsius : millicelsius) / 1000,
	       (millicelsius < 0 ? -millicelsius : millicelsius) % 1000, samples);
	udk_connection_unref(conn);
	udk_client_unref(client);
	return 0;
}
