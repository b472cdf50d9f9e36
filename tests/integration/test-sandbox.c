/* SPDX-License-Identifier: MIT */
/*
 * The driver sandbox: a hostile driver (tests/drivers/hostile.c) tries
 * every escape in hostile.h, one call each, while another driver (the
 * victim) runs beside it.  Every attempt must be denied with EPERM, EACCES
 * or ENOSYS; afterwards udkd and the victim are alive and serving.
 *
 * It runs twice: with the drivers' own uids (udkd as root), and with
 * --driver-uid-base 0 so that the drivers keep udkd's uid and only the
 * seccomp filter, landlock and the dropped capabilities stand in the way.
 */
#include <signal.h>
#include <unistd.h>

#include <udk/client.h>

#include "../drivers/hostile.h"
#include "fixture.h"
#include "test.h"

#define ID_HOSTILE "org.udk.test.hostile"
#define ID_VICTIM "org.udk.test.victim"

static const struct {
	const char *name;
	const char *what;
} attempts[HOSTILE_COUNT] = {
#define HOSTILE_ROW(n, text) { #n, text },
	HOSTILE_ATTEMPTS(HOSTILE_ROW)
#undef HOSTILE_ROW
};

static uint64_t
wait_bundle(struct fixture *f, const char *id)
{
	struct udk_value *m = udk_value_new_dict();
	uint64_t sid = 0;

	udk_dict_set_string(m, "CFBundleIdentifier", id);
	ASSERT_OK(udk_client_wait_for_service(f->client, m, 10000, &sid));
	udk_value_unref(m);
	return sid;
}

static uid_t
uid_of(pid_t pid)
{
	char path[64], line[256];
	FILE *fp;
	unsigned ruid = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		FAIL("cannot read %s: %m", path);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "Uid: %u", &ruid) == 1)
			break;
	fclose(fp);
	return ruid;
}

static void
campaign(bool own_uids)
{
	struct fixture f;
	struct udk_connection *hostile = NULL, *victim = NULL;
	uint64_t hid, vid, victim_pid = 0, pid_after = 0;
	unsigned denied = 0;
	uint32_t n;

	fixture_init(&f);
	fixture_add_bundle_exe(&f, "Hostile.dext", ID_HOSTILE, "tests/hostile",
			       "<key>H</key><dict>"
			       "<key>IOUserClass</key><string>HostileDriver</string>"
			       "<key>IOUserServerName</key><string>" ID_HOSTILE "</string>"
			       "<key>IOProviderClass</key><string>IOUserResources</string>"
			       "<key>IOMatchCategory</key><string>H</string>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key>"
			       "<string>HostileUserClient</string></dict></dict>");
	fixture_add_bundle(&f, "Victim.dext", ID_VICTIM,
			   TEST_PERSONALITY("V", ID_VICTIM, "IOUserResources", "<key>IOMatchCategory</key><string>V</string>"));
	if (own_uids)
		fixture_start(&f, NULL);
	else
		fixture_start(&f, "--driver-uid-base", "0", NULL);
	hid = wait_bundle(&f, ID_HOSTILE);
	vid = wait_bundle(&f, ID_VICTIM);
	ASSERT_OK(udk_client_open(f.client, vid, 0, &victim));
	n = 1;
	ASSERT_OK(udk_connection_call(victim, SEL_GET_PID, NULL, 0, NULL, 0, &victim_pid, &n, NULL, NULL));
	ASSERT_OK(udk_client_open(f.client, hid, 0, &hostile));
	if (own_uids && geteuid() == 0) {
		ASSERT_NE(uid_of((pid_t)victim_pid), 0);
		ASSERT_NE(uid_of((pid_t)victim_pid), uid_of(f.udkd));
		test_log("the victim runs as uid %u", (unsigned)uid_of((pid_t)victim_pid));
	}

	for (int i = 0; i < HOSTILE_COUNT; i++) {
		uint64_t in[3] = { (uint64_t)i, (uint64_t)f.udkd, victim_pid }, out[2] = { 0, 0 };
		char text[HOSTILE_TEXT] = "";
		size_t tl = sizeof(text);
		int r;

		n = 2;
		r = udk_connection_call(hostile, 0, in, 3, NULL, 0, out, &n, text, &tl);
		if (r < 0)
			FAIL("attempt %d (%s) broke the call: %s: %s", i, attempts[i].what, udk_error_name(r),
			     udk_error_reason() ? udk_error_reason() : "");
		text[sizeof(text) - 1] = 0;
		test_log("%-20s %-62s %s", attempts[i].name, attempts[i].what, text);
		if (out[0])
			FAIL("ESCAPE: %s (%s): %s", attempts[i].name, attempts[i].what, text);
		denied++;
	}
	ASSERT_EQ(denied, HOSTILE_COUNT);
	ASSERT_GE(denied, 15);

	/* everyone is still there: udkd, the victim (same pid), the hostile driver */
	n = 1;
	ASSERT_OK(udk_connection_call(victim, SEL_GET_PID, NULL, 0, NULL, 0, &pid_after, &n, NULL, NULL));
	ASSERT_EQ(pid_after, victim_pid);
	ASSERT_EQ(kill(f.udkd, 0), 0);
	{
		char *out = fixture_udkctl(&f, NULL, "drivers " ID_HOSTILE);
		ASSERT_CONTAINS(out, "running, pid");
		ASSERT_CONTAINS(out, "crashed 0 times");
		free(out);
	}
	udk_connection_unref(hostile);
	udk_connection_unref(victim);
	fixture_stop(&f);
}

TEST(hostile_driver_with_its_own_uid_is_denied_every_escape)
{
	if (geteuid() != 0)
		test_skip("drivers get their own uids only when udkd runs as root");
	campaign(true);
}

TEST(hostile_driver_with_udkds_uid_is_still_denied_every_escape)
{
	campaign(false);
}
