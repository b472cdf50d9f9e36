/* SPDX-License-Identifier: MIT */
/*
 * The manager end to end: a real udkd, real driver processes (testdrv),
 * real udkctl.  Each test gets its own runtime directory.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define ID_A "org.udk.test.a"
#define ID_B "org.udk.test.b"

#define WIDGET_SERVICE                                                                                         \
	"<dict><key>Name</key><string>widget0</string>"                                                        \
	"<key>Class</key><string>UDKTestDevice</string>"                                                       \
	"<key>Properties</key><dict><key>serial</key><string>W-1</string></dict></dict>"

static uint64_t
instance_pid(struct fixture *f, uint64_t id)
{
	struct udk_value *svc = NULL;
	int64_t pid;

	ASSERT_OK(udk_client_copy_service(f->client, id, &svc));
	pid = udk_dict_get_int(udk_dict_get(svc, "properties"), "DriverPid", 0);
	udk_value_unref(svc);
	return (uint64_t)pid;
}

static char *
service_bundle(struct fixture *f, uint64_t id)
{
	struct udk_value *svc = NULL;
	char *b;

	ASSERT_OK(udk_client_copy_service(f->client, id, &svc));
	b = strdup(udk_dict_get_string(udk_dict_get(svc, "properties"), "CFBundleIdentifier"));
	udk_value_unref(svc);
	return b;
}

TEST(loads_matches_and_starts)
{
	struct fixture f;
	uint64_t id;
	char *out;
	int st;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>TestDriver</string>"));
	fixture_start(&f, NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	ASSERT_GE(instance_pid(&f, id), 1);
	/* registered before Start() returned: wait until it did */
	ASSERT_TRUE(fixture_wait_output(&f, "tree", "driver running pid", 10000));

	out = fixture_udkctl(&f, &st, "tree");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "+-o IOUserResources");
	ASSERT_CONTAINS(out, "TestDriver  <TestDriver:IOUserService:IOService");
	ASSERT_CONTAINS(out, "driver running pid");
	free(out);

	out = fixture_udkctl(&f, &st, "drivers");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, ID_A " (A.dext) 1.0: enabled");
	ASSERT_CONTAINS(out, "instance /IOUserResources/TestDriver: running, pid");
	free(out);

	out = fixture_udkctl(&f, &st, "--json tree --properties");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "\"IOUserServerName\": \"" ID_A "\"");
	free(out);
	fixture_stop(&f);
}

TEST(highest_probe_score_wins)
{
	struct fixture f;
	uint64_t id;
	char *b, *out;

	fixture_init(&f);
	fixture_set_machine(&f, WIDGET_SERVICE);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("Low", ID_A, "UDKTestDevice", "<key>IOProbeScore</key><integer>100</integer>"));
	fixture_add_bundle(&f, "B.dext", ID_B,
			   TEST_PERSONALITY("High", ID_B, "UDKTestDevice", "<key>IOProbeScore</key><integer>2000</integer>"));
	fixture_start(&f, NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	b = service_bundle(&f, id);
	ASSERT_STREQ(b, ID_B);
	free(b);
	/* exactly one driver on the provider: same default category */
	{
		struct udk_value *m = udk_matching_class("TestDriver");
		uint64_t *ids = NULL;
		size_t n = 0;
		ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
		ASSERT_EQ(n, 1);
		free(ids);
		udk_value_unref(m);
	}
	out = fixture_udkctl(&f, NULL, "explain " ID_A " /widget0");
	ASSERT_CONTAINS(out, "matches with score 100 but lost category IODefaultMatchCategory to " ID_B
			     " (High, score 2000)");
	free(out);
	fixture_stop(&f);
}

TEST(match_category_lets_two_drivers_attach)
{
	struct fixture f;
	struct udk_value *m;
	uint64_t *ids = NULL;
	size_t n = 0;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>CatA</string>"));
	fixture_add_bundle(&f, "B.dext", ID_B,
			   TEST_PERSONALITY("B", ID_B, "IOUserResources", "<key>IOMatchCategory</key><string>CatB</string>"));
	fixture_start(&f, NULL);
	m = udk_matching_class("TestDriver");
	for (int i = 0; i < 500 && n < 2; i++) {
		free(ids);
		ids = NULL;
		ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
		if (n < 2)
			usleep(20000);
	}
	ASSERT_EQ(n, 2);
	{
		char *b0 = service_bundle(&f, ids[0]), *b1 = service_bundle(&f, ids[1]);
		ASSERT_TRUE((streq(b0, ID_A) && streq(b1, ID_B)) || (streq(b0, ID_B) && streq(b1, ID_A)));
		free(b0);
		free(b1);
	}
	free(ids);
	udk_value_unref(m);
	fixture_stop(&f);
}

TEST(wrong_provider_class_does_not_match_and_explain_says_why)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_set_machine(&f, WIDGET_SERVICE);
	fixture_add_bundle(&f, "A.dext", ID_A, TEST_PERSONALITY("UsbOnly", ID_A, "IOUSBHostDevice", ""));
	fixture_start(&f, NULL);
	out = fixture_udkctl(&f, &st, "explain " ID_A " /widget0");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "UsbOnly: does not match: IOProviderClass wants IOUSBHostDevice but the service's "
			     "classes are [UDKTestDevice, IOService]");
	ASSERT_CONTAINS(out, "FAILED  IOProviderClass");
	free(out);
	out = fixture_udkctl(&f, &st, "--json explain TestDriver /widget0");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "\"matches\": false");
	free(out);
	/* and nothing started */
	out = fixture_udkctl(&f, &st, "tree");
	ASSERT_FALSE(strstr(out, "TestDriver") != NULL);
	free(out);
	fixture_stop(&f);
}

struct call_thread {
	struct udk_connection *conn;
	int result;
};

static void *
sleep_call(void *data)
{
	struct call_thread *ct = data;
	uint64_t ms = 5000;

	ct->result = udk_connection_call(ct->conn, SEL_SLEEP, &ms, 1, NULL, 0, NULL, NULL, NULL, NULL);
	return NULL;
}

TEST(sigkill_during_call_errors_restarts_and_serves_next_call)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	struct call_thread ct = { 0 };
	pthread_t th;
	uint64_t id, pid, out[1], in[2] = { 40, 2 };
	uint32_t n_out = 1;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_start(&f, NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	pid = instance_pid(&f, id);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	ct.conn = conn;
	pthread_create(&th, NULL, sleep_call, &ct);
	usleep(200000); /* the call is inside the driver now */
	ASSERT_OK(kill((pid_t)pid, SIGKILL));
	pthread_join(th, NULL);
	ASSERT_ERR(ct.result, -UDK_E_DRIVER_DIED);
	/* and every later call on that connection, at once */
	ASSERT_ERR(udk_connection_call(conn, SEL_ADD, in, 2, NULL, 0, out, &n_out, NULL, NULL), -UDK_E_DRIVER_DIED);
	ASSERT_CONTAINS(udk_error_reason(), "died");
	udk_connection_unref(conn);

	/* a new driver process comes back and serves */
	for (int i = 0; i < 250; i++) {
		struct udk_value *m = udk_matching_class("TestDriver");
		uint64_t nid = 0;
		int r = udk_client_wait_for_service(f.client, m, 10000, &nid);
		udk_value_unref(m);
		ASSERT_OK(r);
		if (nid != id) {
			id = nid;
			break;
		}
		usleep(20000);
	}
	ASSERT_NE(instance_pid(&f, id), pid);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	ASSERT_OK(udk_connection_call(conn, SEL_ADD, in, 2, NULL, 0, out, &n_out, NULL, NULL));
	ASSERT_EQ(out[0], 42);
	udk_connection_unref(conn);
	{
		char *o = fixture_udkctl(&f, NULL, "drivers " ID_A);
		ASSERT_CONTAINS(o, "crashed 1 times (1 in a row)");
		ASSERT_CONTAINS(o, "killed by SIGKILL during running");
		free(o);
	}
	fixture_stop(&f);
}

TEST(crash_at_every_start_ends_disabled_with_reason)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"
					    "<key>TestBehavior</key><string>crash-start</string>"));
	fixture_start(&f, "--crash-limit", "4", "--restart-base-ms", "20", NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_A, ": disabled", 20000));
	out = fixture_udkctl(&f, NULL, "drivers " ID_A);
	ASSERT_CONTAINS(out, "reason: crash loop: crashed 4 times in a row (last: killed by SIGABRT during start)");
	ASSERT_CONTAINS(out, "udkctl restart " ID_A);
	free(out);
	out = fixture_udkctl(&f, NULL, "explain " ID_A " /IOUserResources");
	ASSERT_CONTAINS(out, "but the bundle is disabled: crash loop");
	free(out);
	/* no more attempts once disabled */
	{
		char *log1 = fixture_log(&f), *log2;
		size_t starts1 = 0, starts2 = 0;
		usleep(500000);
		log2 = fixture_log(&f);
		for (char *p = log1; (p = strstr(p, "testdrv starting")); p++)
			starts1++;
		for (char *p = log2; (p = strstr(p, "testdrv starting")); p++)
			starts2++;
		ASSERT_EQ(starts1, 4);
		ASSERT_EQ(starts2, starts1);
		free(log1);
		free(log2);
	}
	fixture_stop(&f);
}

TEST(failed_start_falls_back_to_next_personality)
{
	struct fixture f;
	uint64_t id;
	char *b, *out;

	fixture_init(&f);
	fixture_set_machine(&f, WIDGET_SERVICE);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("Picky", ID_A, "UDKTestDevice",
					    "<key>IOProbeScore</key><integer>5000</integer>"
					    "<key>TestBehavior</key><string>fail-start</string>"));
	fixture_add_bundle(&f, "B.dext", ID_B,
			   TEST_PERSONALITY("Fallback", ID_B, "UDKTestDevice", "<key>IOProbeScore</key><integer>1</integer>"));
	fixture_start(&f, NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	b = service_bundle(&f, id);
	ASSERT_STREQ(b, ID_B);
	free(b);
	out = fixture_udkctl(&f, NULL, "explain " ID_A " /widget0");
	ASSERT_CONTAINS(out, "its Start() failed on this service");
	free(out);
	b = fixture_log(&f);
	ASSERT_CONTAINS(b, "Start() failed: ENODEV: the test device is not there (fail-start)");
	free(b);
	out = fixture_udkctl(&f, NULL, "drivers " ID_A);
	ASSERT_CONTAINS(out, "crashed 0 times");
	free(out);
	fixture_stop(&f);
}

TEST(start_that_never_returns_is_killed_at_its_deadline)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"
					    "<key>TestBehavior</key><string>hang-start</string>"
					    "<key>UDKDeadlines</key><dict><key>Start</key><integer>300</integer></dict>"));
	fixture_start(&f, "--crash-limit", "2", "--restart-base-ms", "20", NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_A, ": disabled", 20000));
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "(UDK_E_DEADLINE): deadline: Start() of TestDriver on IOUserResources did not return "
			     "within 300 ms");
	free(out);
	/* udkctl drivers says so too, with the code: never a bare SIGKILL (issue 20) */
	out = fixture_udkctl(&f, NULL, "drivers " ID_A);
	ASSERT_CONTAINS(out, "UDK_E_DEADLINE during start: killed by udkd: deadline: Start() of TestDriver on "
			     "IOUserResources did not return within 300 ms");
	ASSERT_NOT_CONTAINS(out, "SIGKILL");
	free(out);
	fixture_stop(&f);
}

TEST(hung_driver_is_found_by_the_watchdog)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"
					    "<key>TestBehavior</key><string>hang-later</string>"));
	fixture_start(&f, "--watchdog-ms", "200", "--crash-limit", "100", NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_A,
					"UDK_E_DEADLINE during running: killed by udkd: watchdog: the driver runtime's "
					"default queue did not answer udkd's ping within 200 ms",
					15000));
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "stopped answering: no reply to a ping for 200 ms");
	free(out);
	fixture_stop(&f);
}

TEST(bad_bundles_are_reported_and_others_still_load)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_add_bundle(&f, "Good.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	/* not XML at all */
	fixture_add_raw_bundle(&f, "Garbage.dext", "this is not a plist", NULL);
	/* a wrong type, with the line */
	fixture_add_raw_bundle(&f, "BadScore.dext",
			       "<plist version=\"1.0\"><dict>\n"
			       "<key>CFBundleIdentifier</key><string>org.udk.test.badscore</string>\n"
			       "<key>CFBundleExecutable</key><string>testdrv</string>\n"
			       "<key>IOKitPersonalities</key><dict><key>P</key><dict>\n"
			       "<key>IOProviderClass</key><string>IOUserResources</string>\n"
			       "<key>IOUserClass</key><string>TestDriver</string>\n"
			       "<key>IOUserServerName</key><string>org.udk.test.badscore</string>\n"
			       "<key>IOProbeScore</key><string>1000</string>\n"
			       "<key>IOProbScore</key><integer>1</integer>\n"
			       "</dict></dict></dict></plist>\n",
			       build_path("tests/testdrv"));
	/* an executable that is not there */
	fixture_add_raw_bundle(&f, "NoExe.dext",
			       "<plist version=\"1.0\"><dict>\n"
			       "<key>CFBundleIdentifier</key><string>org.udk.test.noexe</string>\n"
			       "<key>CFBundleExecutable</key><string>missing</string>\n"
			       "</dict></plist>\n",
			       NULL);
	/* a bad integer: the line number is in the message */
	fixture_add_raw_bundle(&f, "BadInt.dext",
			       "<plist version=\"1.0\"><dict>\n"
			       "<key>CFBundleIdentifier</key><string>org.udk.test.badint</string>\n"
			       "<key>Count</key><integer>12abc</integer>\n"
			       "</dict></plist>\n",
			       NULL);
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "TestDriver", 10000);
	out = fixture_udkctl(&f, &st, "drivers");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "(Garbage.dext): invalid");
	ASSERT_CONTAINS(out, "error: Info.plist: line 1: XML error");
	ASSERT_CONTAINS(out, "error: Info.plist IOKitPersonalities.P.IOProbeScore: must be an <integer>, not string");
	ASSERT_CONTAINS(out, "warning: Info.plist IOKitPersonalities.P.IOProbScore: unknown key; did you mean "
			     "\"IOProbeScore\"?");
	ASSERT_CONTAINS(out, "error: missing: the executable named by CFBundleExecutable does not exist in NoExe.dext");
	ASSERT_CONTAINS(out, "error: Info.plist: line 3: Count: <integer> \"12abc\" is not a 64-bit number");
	ASSERT_CONTAINS(out, ID_A " (Good.dext) 1.0: enabled");
	free(out);
	fixture_stop(&f);
}

TEST(provider_is_told_when_its_client_driver_dies)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	uint64_t nub, drv;

	fixture_init(&f);
	/* A publishes a nub; B drives the nub */
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("Family", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"
					    "<key>TestBehavior</key><string>publish-nub</string>"));
	fixture_add_bundle(&f, "B.dext", ID_B, TEST_PERSONALITY("OnNub", ID_B, "TestNub", ""));
	fixture_start(&f, "--restart-base-ms", "20", NULL);
	nub = fixture_wait_class(&f, "TestNub", 10000);
	for (int i = 0;; i++) {
		struct udk_value *m = udk_value_new_dict();
		uint64_t *ids = NULL;
		size_t n = 0;
		udk_dict_set_string(m, "IOProviderClass", "TestDriver");
		udk_dict_set_take(m, "IOPropertyMatch", udk_value_new_dict());
		udk_dict_set_string(udk_dict_get(m, "IOPropertyMatch"), "CFBundleIdentifier", ID_B);
		ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
		udk_value_unref(m);
		if (n) {
			drv = ids[0];
			free(ids);
			break;
		}
		free(ids);
		ASSERT_LE(i, 500);
		usleep(20000);
	}
	ASSERT_OK(udk_client_open(f.client, drv, 0, &conn));
	udk_connection_call(conn, SEL_CRASH, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL);
	udk_connection_unref(conn);
	ASSERT_TRUE(fixture_wait_output(&f, "props /IOUserResources/TestDriver/TestNub", "\"NubResets\" = 1", 10000));
	(void)nub;
	fixture_stop(&f);
}

TEST(bundles_added_and_removed_while_running_rematch)
{
	struct fixture f;
	char path[600], *out;

	fixture_init(&f);
	fixture_start(&f, NULL);
	out = fixture_udkctl(&f, NULL, "drivers");
	ASSERT_CONTAINS(out, "no driver bundles");
	free(out);
	/* assemble the bundle elsewhere and move it in, as udk-bundle does */
	fixture_add_bundle(&f, "A.dext.tmp", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	{
		char from[600];
		snprintf(from, sizeof(from), "%s/A.dext.tmp", f.bundles);
		snprintf(path, sizeof(path), "%s/A.dext", f.bundles);
		ASSERT_OK(rename(from, path));
	}
	fixture_wait_class(&f, "TestDriver", 10000);
	/* remove it: the instance goes */
	{
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", path);
		ASSERT_EQ(system(cmd), 0);
	}
	ASSERT_TRUE(fixture_wait_output(&f, "drivers", "no driver bundles", 10000));
	out = fixture_udkctl(&f, NULL, "tree");
	ASSERT_FALSE(strstr(out, "TestDriver") != NULL);
	free(out);
	fixture_stop(&f);
}

TEST(restart_and_log_level_commands)
{
	struct fixture f;
	uint64_t id, pid;
	char *out;
	int st;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_start(&f, NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	pid = instance_pid(&f, id);
	out = fixture_udkctl(&f, &st, "log-level " ID_A " debug");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "log level of " ID_A " is now debug");
	free(out);
	out = fixture_udkctl(&f, &st, "log-level " ID_A " loud");
	ASSERT_EQ(st, 1);
	ASSERT_CONTAINS(out, "level must be one of error, warning, notice, info, debug (EINVAL)");
	free(out);
	out = fixture_udkctl(&f, &st, "restart " ID_A);
	ASSERT_EQ(st, 0);
	free(out);
	for (int i = 0; i < 500; i++) {
		struct udk_value *m = udk_matching_class("TestDriver");
		uint64_t *ids = NULL;
		size_t n = 0;
		ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
		udk_value_unref(m);
		if (n == 1 && ids[0] != id) {
			ASSERT_NE(instance_pid(&f, ids[0]), pid);
			free(ids);
			goto restarted;
		}
		free(ids);
		usleep(20000);
	}
	FAIL("the driver did not come back after restart");
restarted:
	out = fixture_udkctl(&f, &st, "restart org.nothing.here");
	ASSERT_EQ(st, 1);
	ASSERT_CONTAINS(out, "no driver bundle, identifier or class named \"org.nothing.here\"; `udkctl drivers` "
			     "lists them (ENOENT)");
	free(out);
	fixture_stop(&f);
}

TEST(debug_starts_the_driver_stopped_and_prints_gdb)
{
	struct fixture f;
	char *out, status_path[64], *line = NULL;
	int st;
	long pid = 0;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "TestDriver", 10000);
	out = fixture_udkctl(&f, &st, "debug " ID_A);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "gdb -p ");
	line = strstr(out, "gdb -p ");
	pid = strtol(line + 7, NULL, 10);
	ASSERT_GE(pid, 2);
	free(out);
	/* it stops itself before saying hello; wait for that */
	snprintf(status_path, sizeof(status_path), "/proc/%ld/status", pid);
	for (int i = 0; i < 250; i++) {
		char *s = NULL;
		size_t n = 0;
		FILE *fp = fopen(status_path, "r");
		bool stopped = false;
		ASSERT_NOT_NULL(fp);
		while (getline(&s, &n, fp) > 0)
			if (strncmp(s, "State:", 6) == 0 && strchr(s, 'T'))
				stopped = true;
		free(s);
		fclose(fp);
		if (stopped)
			goto ok;
		usleep(20000);
	}
	FAIL("the debug process never stopped");
ok:
	/* continuing it (as gdb would) lets it start normally */
	kill((pid_t)pid, SIGCONT);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_A, "running, pid", 10000));
	fixture_stop(&f);
}

TEST(driver_sending_garbage_is_killed_and_udkd_carries_on)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"
					    "<key>TestBehavior</key><string>garbage</string>"));
	fixture_add_bundle(&f, "B.dext", ID_B,
			   TEST_PERSONALITY("B", ID_B, "IOUserResources", "<key>IOMatchCategory</key><string>B</string>"));
	fixture_start(&f, "--crash-limit", "2", "--restart-base-ms", "20", NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_A, ": disabled", 10000));
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "sent a malformed message: message of 7 bytes is shorter than its 16-byte header");
	free(out);
	/* the well-behaved driver and udkd are fine (B may still be starting on a loaded machine) */
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_B, "running, pid", 10000));
	out = fixture_udkctl(&f, &st, "drivers " ID_B);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "crashed 0 times");
	free(out);
	fixture_stop(&f);
}
