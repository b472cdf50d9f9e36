/* SPDX-License-Identifier: MIT */
/*
 * Power management: the power tree's order during system sleep and wake, a
 * driver that never acknowledges SetPowerState, the first transition only
 * after Start() returned, idle power-down, busy marks and a driver's own
 * requests.
 */
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define ID_PARENT "org.udk.test.parent"
#define ID_CHILD "org.udk.test.child"

/* The sequence number of the last event of @kind for the instance at @path in `udkctl power`. */
static long
event_seq(struct fixture *f, const char *path, const char *kind)
{
	char *out = fixture_udkctl(f, NULL, "power"), *save = NULL;
	char cur[300] = "", want[64];
	long seq = -1;

	snprintf(want, sizeof(want), "(%s)", kind);
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ')
			line++;
		if (*line == '/') {
			sscanf(line, "%299s", cur);
		} else if (*line == '#' && streq(cur, path) && strstr(line, want)) {
			seq = strtol(line + 1, NULL, 10);
		}
	}
	free(out);
	return seq;
}

static struct udk_connection *
open_bundle(struct fixture *f, const char *id)
{
	struct udk_value *m = udk_value_new_dict();
	struct udk_connection *c = NULL;
	uint64_t sid = 0;

	udk_dict_set_string(m, "CFBundleIdentifier", id);
	ASSERT_OK(udk_client_wait_for_service(f->client, m, 10000, &sid));
	udk_value_unref(m);
	ASSERT_OK(udk_client_open(f->client, sid, 0, &c));
	return c;
}

static uint64_t
driver_state(struct udk_connection *c, uint64_t *calls)
{
	uint64_t out[2] = { 9, 0 };
	uint32_t n = 2;

	ASSERT_OK(udk_connection_call(c, SEL_POWER_STATE, NULL, 0, NULL, 0, out, &n, NULL, NULL));
	if (calls)
		*calls = out[1];
	return out[0];
}

static void
tree(struct fixture *f, const char *parent_extra, const char *child_extra)
{
	char parent[2048], child[2048];

	fixture_init(f);
	snprintf(parent, sizeof(parent), "%s%s",
		 "<key>TestBehavior</key><string>publish-nub</string>"
		 "<key>IOMatchCategory</key><string>P</string>",
		 parent_extra);
	snprintf(child, sizeof(child), "%s", child_extra);
	{
		char *p1 = NULL, *p2 = NULL;
		if (asprintf(&p1, TEST_PERSONALITY("P", ID_PARENT, "IOUserResources", "%s"), parent) < 0 ||
		    asprintf(&p2, TEST_PERSONALITY("C", ID_CHILD, "TestNub", "%s"), child) < 0)
			FAIL("oom");
		fixture_add_bundle(f, "Parent.dext", ID_PARENT, p1);
		fixture_add_bundle(f, "Child.dext", ID_CHILD, p2);
		free(p1);
		free(p2);
	}
}

#define PARENT_PATH "/IOUserResources/TestDriver"
#define CHILD_PATH "/IOUserResources/TestDriver/TestNub/TestDriver"

TEST(system_sleep_lowers_children_first_and_wake_raises_parents_first)
{
	struct fixture f;
	struct udk_connection *pc, *cc;
	char *out;
	int st;

	tree(&f, "", "");
	fixture_start(&f, NULL);
	pc = open_bundle(&f, ID_PARENT);
	cc = open_bundle(&f, ID_CHILD);
	ASSERT_EQ(driver_state(pc, NULL), 2);

	out = fixture_udkctl(&f, &st, "system sleep");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "system sleep: off; 2 driver(s) changed state, 0 missed");
	free(out);
	ASSERT_EQ(driver_state(pc, NULL), 0);
	ASSERT_EQ(driver_state(cc, NULL), 0);
	{
		long ps = event_seq(&f, PARENT_PATH, "sleep"), cs = event_seq(&f, CHILD_PATH, "sleep");
		test_log("sleep order: child #%ld, parent #%ld", cs, ps);
		ASSERT_GE(cs, 1);
		ASSERT_TRUE(cs < ps);
	}
	out = fixture_udkctl(&f, &st, "power");
	ASSERT_CONTAINS(out, "system: off");
	free(out);

	out = fixture_udkctl(&f, &st, "system wake");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "system wake: on; 2 driver(s) changed state");
	free(out);
	ASSERT_EQ(driver_state(pc, NULL), 2);
	ASSERT_EQ(driver_state(cc, NULL), 2);
	{
		long ps = event_seq(&f, PARENT_PATH, "wake"), cs = event_seq(&f, CHILD_PATH, "wake");
		test_log("wake order: parent #%ld, child #%ld", ps, cs);
		ASSERT_GE(ps, 1);
		ASSERT_TRUE(ps < cs);
	}
	udk_connection_unref(pc);
	udk_connection_unref(cc);
	fixture_stop(&f);
}

TEST(a_driver_that_never_acknowledges_is_reported_killed_restarted_and_the_sleep_completes)
{
	struct fixture f;
	struct udk_connection *pc, *cc;
	uint64_t pid_before = 0, pid_after = 0, mode = 1;
	uint32_t n;
	char *out;
	int st;

	tree(&f, "", "<key>UDKDeadlines</key><dict><key>SetPowerState</key><integer>200</integer></dict>");
	fixture_start(&f, NULL);
	pc = open_bundle(&f, ID_PARENT);
	cc = open_bundle(&f, ID_CHILD);
	n = 1;
	ASSERT_OK(udk_connection_call(cc, SEL_GET_PID, NULL, 0, NULL, 0, &pid_before, &n, NULL, NULL));
	ASSERT_OK(udk_connection_call(cc, SEL_POWER_MODE, &mode, 1, NULL, 0, NULL, NULL, NULL, NULL));

	out = fixture_udkctl(&f, &st, "system sleep");
	ASSERT_EQ(st, 0);
	test_log("%s", out);
	ASSERT_CONTAINS(out, "system sleep: off");
	ASSERT_CONTAINS(out, "1 missed the deadline");
	free(out);
	/* the parent went down without waiting for the child any longer */
	ASSERT_EQ(driver_state(pc, NULL), 0);

	/* reported with the state and the time waited */
	out = fixture_udkctl(&f, &st, "power");
	ASSERT_CONTAINS(out, "missed SetPowerState deadlines: 1");
	ASSERT_CONTAINS(out, ID_CHILD " on " CHILD_PATH ": on -> off during sleep, no acknowledgement after");
	free(out);
	{
		char *log = fixture_log(&f);
		ASSERT_CONTAINS(log, "did not acknowledge SetPowerState(on -> off) during sleep within 200 ms");
		free(log);
	}
	/* restarted under the crash policy; it starts into the system's state */
	udk_connection_unref(cc);
	cc = NULL;
	for (int i = 0; i < 200 && !pid_after; i++) {
		struct udk_connection *c2 = open_bundle(&f, ID_CHILD);
		uint64_t p = 0;
		n = 1;
		if (udk_connection_call(c2, SEL_GET_PID, NULL, 0, NULL, 0, &p, &n, NULL, NULL) == 0 && p != pid_before) {
			uint64_t calls = 0;
			if (driver_state(c2, &calls) == 0 && calls == 1)
				pid_after = p;
		}
		if (pid_after)
			cc = c2;
		else
			udk_connection_unref(c2);
		usleep(20000);
	}
	ASSERT_NE(pid_after, 0);
	ASSERT_NE(pid_after, pid_before);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_CHILD, "UDK_E_POWER_TIMEOUT during running: killed by udkd: power:",
					5000));
	ASSERT_TRUE(fixture_wait_output(&f, "power", "(start): ok", 5000));

	out = fixture_udkctl(&f, &st, "system wake");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "0 missed");
	free(out);
	ASSERT_EQ(driver_state(cc, NULL), 2);
	ASSERT_EQ(driver_state(pc, NULL), 2);
	udk_connection_unref(pc);
	udk_connection_unref(cc);
	fixture_stop(&f);
}

TEST(the_first_power_change_comes_only_after_start_returned)
{
	struct fixture f;
	struct udk_connection *c;
	char *out, *props;
	int st;
	uint64_t calls = 0;

	fixture_init(&f);
	fixture_add_bundle(&f, "Slow.dext", ID_PARENT,
			   TEST_PERSONALITY("S", ID_PARENT, "IOUserResources",
					    "<key>TestBehavior</key><string>slow-start</string>"
					    "<key>TestStartMs</key><integer>3000</integer>"));
	fixture_start(&f, NULL);
	/* the driver is inside its 3 s Start() now (long, so a loaded machine still
	 * gets the sleep request in while it lasts) */
	ASSERT_TRUE(fixture_wait_output(&f, "power", "starting (joins the power tree when Start returns)", 5000));
	out = fixture_udkctl(&f, &st, "system sleep");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "0 driver(s) changed state");
	free(out);
	c = open_bundle(&f, ID_PARENT);
	ASSERT_TRUE(fixture_wait_output(&f, "power", "on -> off (start): ok", 5000));
	ASSERT_EQ(driver_state(c, &calls), 0);
	ASSERT_EQ(calls, 1);
	props = fixture_udkctl(&f, NULL, "--json tree --properties");
	ASSERT_FALSE(strstr(props, "PowerBeforeStart") != NULL);
	free(props);
	free(fixture_udkctl(&f, NULL, "system wake"));
	ASSERT_EQ(driver_state(c, NULL), 2);
	udk_connection_unref(c);
	fixture_stop(&f);
}

TEST(idle_drivers_go_low_and_activity_busy_marks_and_requests_bring_them_back)
{
	struct fixture f;
	struct udk_connection *c, *c2;
	uint64_t one = 1, zero = 0, low = 1;

	fixture_init(&f);
	fixture_add_bundle(&f, "Idle.dext", ID_PARENT,
			   TEST_PERSONALITY("I", ID_PARENT, "IOUserResources",
					    "<key>UDKIdleTimeoutMs</key><integer>150</integer>"));
	fixture_start(&f, NULL);
	c = open_bundle(&f, ID_PARENT);
	/* idle: on -> low */
	ASSERT_TRUE(fixture_wait_output(&f, "power", "on -> low (idle): ok", 5000));
	ASSERT_EQ(driver_state(c, NULL), 1);
	/* an app opening a user client wakes it first */
	c2 = open_bundle(&f, ID_PARENT);
	ASSERT_EQ(driver_state(c2, NULL), 2);
	ASSERT_TRUE(fixture_wait_output(&f, "power", "low -> on (activity): ok", 5000));
	udk_connection_unref(c2);
	/* busy: stays on past the idle timeout */
	ASSERT_OK(udk_connection_call(c, SEL_SET_BUSY, &one, 1, NULL, 0, NULL, NULL, NULL, NULL));
	usleep(400000);
	ASSERT_EQ(driver_state(c, NULL), 2);
	ASSERT_TRUE(fixture_wait_output(&f, "power", ", busy", 2000));
	/* not busy: idles again */
	ASSERT_OK(udk_connection_call(c, SEL_SET_BUSY, &zero, 1, NULL, 0, NULL, NULL, NULL, NULL));
	for (int i = 0; i < 250 && driver_state(c, NULL) != 1; i++)
		usleep(20000);
	ASSERT_EQ(driver_state(c, NULL), 1);
	/* its own request: to ON, then to LOW */
	ASSERT_OK(udk_connection_call(c, SEL_REQUEST_POWER, &(uint64_t){ 2 }, 1, NULL, 0, NULL, NULL, NULL, NULL));
	for (int i = 0; i < 250 && driver_state(c, NULL) != 2; i++)
		usleep(20000);
	ASSERT_EQ(driver_state(c, NULL), 2);
	ASSERT_OK(udk_connection_call(c, SEL_REQUEST_POWER, &low, 1, NULL, 0, NULL, NULL, NULL, NULL));
	ASSERT_TRUE(fixture_wait_output(&f, "power", "(request): ok", 5000));
	udk_connection_unref(c);
	fixture_stop(&f);
}
