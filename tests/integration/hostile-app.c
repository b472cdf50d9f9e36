/* SPDX-License-Identifier: MIT */
/*
 * hostile-app - the app side of tests/integration/test-hostile-local.c:
 * what a local user without privileges would run against udkd.
 *
 *   hostile-app open RUNTIME BUNDLE_ID
 *       open a user client of the driver; prints "open: ok" or
 *       "open: CODE: reason"
 *   hostile-app forkexec RUNTIME BUNDLE_ID GRANTED
 *       connect, fork; the parent execs GRANTED (an app udkd was told to
 *       admit) while the child keeps the connection and, once the parent
 *       runs GRANTED, opens the driver through it: prints "child open: ..."
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>

static int
find(struct udk_client *c, const char *id, uint64_t *ret)
{
	struct udk_value *m = udk_value_new_dict();
	int r;

	udk_dict_set_string(m, "CFBundleIdentifier", id);
	r = udk_client_wait_for_service(c, m, 10000, ret);
	udk_value_unref(m);
	return r;
}

static void
report(const char *what, int r)
{
	if (r >= 0)
		printf("%s: ok\n", what);
	else
		printf("%s: %s: %s\n", what, udk_error_name(r), udk_error_reason() ? udk_error_reason() : "");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	uint64_t id = 0;
	int r;

	if (argc < 4)
		return 2;
	r = udk_client_new(argv[2], &c);
	if (r < 0) {
		report("connect", r);
		return 1;
	}
	r = find(c, argv[3], &id);
	if (r < 0) {
		report("find", r);
		return 1;
	}
	if (strcmp(argv[1], "open") == 0) {
		r = udk_client_open(c, id, 0, &conn);
		report("open", r);
		udk_connection_unref(conn);
		udk_client_unref(c);
		return 0;
	}
	if (strcmp(argv[1], "forkexec") == 0 && argc == 5) {
		char want[PATH_MAX];
		pid_t parent = getpid(), child;

		if (!realpath(argv[4], want))
			return 2;
		child = fork();
		if (child < 0)
			return 1;
		if (child > 0) {
			/* the connection stays with the child; this process becomes the granted app */
			char *args[] = { argv[4], (char *)"30", NULL };
			execv(argv[4], args);
			_exit(127);
		}
		/* the child: wait until the parent runs the granted app, then use the connection */
		for (int i = 0; i < 1000; i++) {
			char link[64], exe[PATH_MAX];
			ssize_t n;
			snprintf(link, sizeof(link), "/proc/%d/exe", (int)parent);
			n = readlink(link, exe, sizeof(exe) - 1);
			if (n > 0) {
				exe[n] = '\0';
				if (strcmp(exe, want) == 0)
					break;
			}
			usleep(10000);
		}
		r = udk_client_open(c, id, 0, &conn);
		report("child open", r);
		udk_connection_unref(conn);
		kill(parent, SIGKILL);
		_exit(0);
	}
	return 2;
}
