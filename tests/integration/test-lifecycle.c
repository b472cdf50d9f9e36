/* SPDX-License-Identifier: MIT */
/*
 * The driver lifecycle (daemon/lifecycle.c): `udkctl install`, `upgrade`
 * (under load, and rolled back when the new version cannot start),
 * `uninstall`, a udkd killed in the middle of an upgrade, and `udkctl
 * report`.
 *
 * Bundles are written outside udkd's bundle directory (DIR/src1, src2) and
 * installed from there, as a user would.
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.lifecycle"

static char *
udkctl(struct fixture *f, int *ret_status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static char *
udkctl(struct fixture *f, int *ret_status, const char *fmt, ...)
{
	char *args = NULL, *out;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&args, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	out = fixture_udkctl(f, ret_status, args);
	test_log("udkctl %s -> %s", args, out);
	free(args);
	return out;
}

/* Every entry of @path, hidden ones too (the copies udkd makes are .udk-install-*). */
static int
count_all(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Bundle Lc.dext of testdrv in DIR/@src with @version and TestBehavior @behavior. */
static void
make_src_on(struct fixture *f, const char *src, const char *version, const char *behavior, const char *provider)
{
	char *out;
	int st;
	char path[700], file[800];

	snprintf(path, sizeof(path), "%s/%s/Lc.dext", f->dir, src);
	out = test_sh(&st, "rm -rf '%s' && mkdir -p '%s' && cp '%s' '%s/testdrv' 2>&1", path, path,
		 build_path("tests/testdrv"), path);
	if (st != 0)
		FAIL("cannot make %s: %s", path, out);
	free(out);
	snprintf(file, sizeof(file), "%s/Info.plist", path);
	{
		char *info = NULL;
		if (asprintf(&info,
			     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
			     "<key>CFBundleIdentifier</key><string>" ID "</string>\n"
			     "<key>CFBundleExecutable</key><string>testdrv</string>\n"
			     "<key>CFBundleVersion</key><string>%s</string>\n"
			     "<key>CFBundlePackageType</key><string>DEXT</string>\n"
			     "<key>IOKitPersonalities</key><dict>" TEST_PERSONALITY("L", ID, "%s",
										   "<key>TestBehavior</key><string>%s</string>")
			     "</dict>\n</dict></plist>\n",
			     version, provider, behavior) < 0)
			FAIL("oom");
		write_text(file, info);
		free(info);
	}
	snprintf(file, sizeof(file), "%s/Entitlements.plist", path);
	write_text(file, FIXTURE_ENTITLEMENTS);
}

static void
make_src(struct fixture *f, const char *src, const char *version, const char *behavior)
{
	make_src_on(f, src, version, behavior, "IOUserResources");
}

static void
keygen(struct fixture *f, const char *name)
{
	int st;
	char *out = test_sh(&st, "%s keygen --comment 'test key %s' %s/%s 2>&1", build_path("tools/udk-sign"), name, f->dir,
		       name);
	if (st != 0)
		FAIL("keygen: %s", out);
	free(out);
}

static void
sign_src(struct fixture *f, const char *key, const char *src)
{
	int st;
	char *out = test_sh(&st, "%s sign --key %s/%s.secret %s/%s/Lc.dext 2>&1", build_path("tools/udk-sign"), f->dir, key,
		       f->dir, src);
	if (st != 0)
		FAIL("sign: %s", out);
	free(out);
}

static bool
installed_version(struct fixture *f, const char *version)
{
	char needle[100];
	snprintf(needle, sizeof(needle), ID " (Lc.dext) %s: enabled", version);
	return fixture_wait_output(f, "drivers " ID, needle, 20000);
}

static bool
running(struct fixture *f)
{
	return fixture_wait_output(f, "drivers " ID, "running, pid", 20000);
}

/* Open the test driver's user client and call Add(2, 3). */
static int
open_and_add(struct fixture *f, struct udk_connection **ret)
{
	uint64_t id = 0, in[2] = { 2, 3 }, out[1] = { 0 };
	uint32_t n_out = 1;
	int r;

	r = udk_client_find_service(f->client, "TestDriver", &id);
	if (r < 0)
		return r;
	r = udk_client_open(f->client, id, 0, ret);
	if (r < 0)
		return r;
	r = udk_connection_call(*ret, SEL_ADD, in, 2, NULL, 0, out, &n_out, NULL, 0);
	if (r == 0 && out[0] != 5)
		FAIL("Add(2, 3) = %llu", (unsigned long long)out[0]);
	return r;
}

static void
start(struct fixture *f, bool developer, const char *extra)
{
	fixture_developer_mode(f, developer);
	if (extra)
		fixture_start(f, "--crash-limit", "2", "--restart-base-ms", "20", extra, "600000", NULL);
	else
		fixture_start(f, "--crash-limit", "2", "--restart-base-ms", "20", NULL);
}

static void
install_ok(struct fixture *f, const char *src, const char *expect)
{
	int st;
	char *out = udkctl(f, &st, "install %s/%s/Lc.dext", f->dir, src);
	if (st != 0)
		FAIL("install failed: %s", out);
	ASSERT_CONTAINS(out, expect);
	free(out);
}

TEST(install_signed_and_waiting_for_trust)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	char path[400];
	char *out;
	int st;

	fixture_init(&f);
	keygen(&f, "vendor");
	make_src(&f, "src1", "1.0", "normal");
	sign_src(&f, "vendor", "src1");
	start(&f, false, NULL);

	/* signed by a key udkd does not trust yet: installed, waiting for trust */
	install_ok(&f, "src1", "waiting-for-trust");
	snprintf(path, sizeof(path), "%s/Lc.dext/Info.plist", f.bundles);
	ASSERT_EQ(access(path, F_OK), 0);
	ASSERT_EQ(count_all(f.bundles), 1);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: waiting-for-trust", 5000));
	out = udkctl(&f, &st, "--json drivers " ID);
	ASSERT_CONTAINS(out, "\"waiting-for-trust\"");
	free(out);

	/* trusting the key activates it */
	out = udkctl(&f, &st, "trust add %s/vendor.public", f.dir);
	ASSERT_EQ(st, 0);
	free(out);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: activated", 5000));
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));
	udk_connection_unref(conn);

	/* the same identifier again: install refuses, upgrade is the way */
	out = udkctl(&f, &st, "install %s/src1/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "udkctl upgrade");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 1);
	fixture_stop(&f);
}

TEST(install_bad_bundles_refused_nothing_copied)
{
	struct fixture f;
	char file[600];
	char *out;
	int st;

	fixture_init(&f);
	keygen(&f, "vendor");
	start(&f, false, NULL);
	out = udkctl(&f, &st, "trust add %s/vendor.public", f.dir);
	free(out);

	/* unsigned outside developer mode */
	make_src(&f, "src1", "1.0", "normal");
	out = udkctl(&f, &st, "install %s/src1/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "UDK_E_UNSIGNED");
	ASSERT_CONTAINS(out, "nothing was copied");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 0);

	/* changed after signing */
	sign_src(&f, "vendor", "src1");
	snprintf(file, sizeof(file), "%s/src1/Lc.dext/firmware.bin", f.dir);
	write_text(file, "added after signing\n");
	out = udkctl(&f, &st, "install %s/src1/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "UDK_E_BAD_SIGNATURE");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 0);

	/* a manifest error */
	make_src(&f, "src2", "1.0", "normal");
	snprintf(file, sizeof(file), "%s/src2/Lc.dext/Info.plist", f.dir);
	write_text(file, "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleExecutable</key>"
			 "<string>testdrv</string></dict></plist>\n");
	out = udkctl(&f, &st, "install %s/src2/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "UDK_E_BAD_MANIFEST");
	ASSERT_CONTAINS(out, "CFBundleIdentifier");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 0);

	/* an executable that is no program */
	make_src(&f, "src3", "1.0", "normal");
	snprintf(file, sizeof(file), "%s/src3/Lc.dext/testdrv", f.dir);
	write_text(file, "this is text, not a program\n");
	chmod(file, 0755);
	sign_src(&f, "vendor", "src3");
	out = udkctl(&f, &st, "install %s/src3/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "UDK_E_EXEC_FORMAT");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 0);

	/* not a bundle at all */
	out = udkctl(&f, &st, "install %s/vendor.public", f.dir);
	ASSERT_NE(st, 0);
	free(out);
	ASSERT_EQ(count_all(f.bundles), 0);
	out = udkctl(&f, &st, "drivers");
	ASSERT_CONTAINS(out, "no driver bundles");
	free(out);
	fixture_stop(&f);
}

/* ---- an app calling all through an upgrade ---- */

struct load {
	struct fixture *f;
	bool sleeper;			/* Sleep(20 ms) calls: one is in flight when the upgrade comes */
	atomic_bool upgraded;
	atomic_bool stop;
	atomic_uint ok, ok_after, replaced, open_refusals, bad;
	atomic_bool first;
	int bad_code;
};

static void *
app_thread(void *data)
{
	struct load *l = data;
	struct udk_connection *conn = NULL;

	while (!atomic_load(&l->stop)) {
		uint64_t in[2] = { 20, 22 }, out[1] = { 0 };
		uint32_t n_out = 1;
		int r;

		if (!conn) {
			uint64_t id = 0;
			r = udk_client_find_service(l->f->client, "TestDriver", &id);
			if (r == 0)
				r = udk_client_open(l->f->client, id, 0, &conn);
			if (r < 0) {
				/* between versions: the service is gone, starting, or being replaced */
				conn = NULL;
				if (r != -UDK_E_NO_SUCH_SERVICE && r != -EAGAIN && r != -UDK_E_DRIVER_REPLACED &&
				    r != -UDK_E_TERMINATED && r != -UDK_E_DRIVER_DIED) {
					l->bad_code = r;
					atomic_fetch_add(&l->bad, 1);
				}
				atomic_fetch_add(&l->open_refusals, 1);
				usleep(2000);
				continue;
			}
		}
		if (l->sleeper) {
			uint64_t ms = 20;
			n_out = 0;
			r = udk_connection_call(conn, SEL_SLEEP, &ms, 1, NULL, 0, NULL, &n_out, NULL, 0);
			out[0] = 42;
		} else {
			r = udk_connection_call(conn, SEL_ADD, in, 2, NULL, 0, out, &n_out, NULL, 0);
		}
		if (r == 0 && out[0] == 42) {
			atomic_fetch_add(&l->ok, 1);
			atomic_store(&l->first, true);
			if (atomic_load(&l->upgraded))
				atomic_fetch_add(&l->ok_after, 1);
			continue;
		}
		if (r == -UDK_E_DRIVER_REPLACED) {
			atomic_fetch_add(&l->replaced, 1);
		} else {
			/* anything else, UDK_E_DRIVER_DIED included, means a call the drain lost */
			l->bad_code = r ? r : -EBADMSG;
			atomic_fetch_add(&l->bad, 1);
		}
		udk_connection_unref(conn);
		conn = NULL;
	}
	udk_connection_unref(conn);
	return NULL;
}

static bool
load_started(void *data)
{
	return atomic_load(&((struct load *)data)->first);
}

static bool
served_after(void *data)
{
	return atomic_load(&((struct load *)data)->ok_after) >= 50;
}

TEST_FULL(upgrade_under_load, 240)
{
	struct fixture f;
	struct load l = { 0 }, sl = { 0 };
	pthread_t t, st_thread;
	char path[600];
	char *out;
	int st;

	fixture_init(&f);
	make_src(&f, "src1", "1.0", "normal");
	make_src(&f, "src2", "2.0", "normal");
	start(&f, true, NULL);
	install_ok(&f, "src1", "activated");
	ASSERT_TRUE(running(&f));

	l.f = &f;
	sl.f = &f;
	sl.sleeper = true;
	pthread_create(&t, NULL, app_thread, &l);
	pthread_create(&st_thread, NULL, app_thread, &sl);
	ASSERT_TRUE(fixture_poll(20000, load_started, &l));
	ASSERT_TRUE(fixture_poll(20000, load_started, &sl));

	out = udkctl(&f, &st, "upgrade %s/src2/Lc.dext", f.dir);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "activated");
	ASSERT_CONTAINS(out, "upgraded from version 1.0 to 2.0");
	free(out);
	atomic_store(&l.upgraded, true);
	atomic_store(&sl.upgraded, true);
	/* the new version serves the same app */
	ASSERT_TRUE(fixture_poll(30000, served_after, &l));
	atomic_store(&l.stop, true);
	atomic_store(&sl.stop, true);
	pthread_join(t, NULL);
	pthread_join(st_thread, NULL);
	test_log("sleeping calls: %u ok (%u after the upgrade), %u ended with UDK_E_DRIVER_REPLACED, %u bad", sl.ok,
		 sl.ok_after, sl.replaced, sl.bad);
	if (sl.bad)
		FAIL("%u sleeping calls or opens ended with %s", sl.bad, udk_error_name(sl.bad_code));
	ASSERT_GE(sl.replaced, 1u);
	test_log("calls: %u ok (%u after the upgrade), %u ended with UDK_E_DRIVER_REPLACED, %u opens refused, %u bad",
		 l.ok, l.ok_after, l.replaced, l.open_refusals, l.bad);
	if (l.bad)
		FAIL("%u calls or opens ended with %s, not success or a named switch-over code", l.bad,
		     udk_error_name(l.bad_code));
	/* the connection open during the upgrade was told, not cut silently */
	ASSERT_GE(l.replaced, 1u);

	ASSERT_TRUE(installed_version(&f, "2.0"));
	out = udkctl(&f, &st, "--json drivers " ID);
	ASSERT_CONTAINS(out, "\"activated\"");
	ASSERT_CONTAINS(out, "\"from_version\": \"1.0\"");
	free(out);
	/* the old version set aside is gone once the new one is activated */
	snprintf(path, sizeof(path), "%s/Lc.dext.previous", f.bundles);
	for (int i = 0; i < 500 && access(path, F_OK) == 0; i++)
		usleep(10000);
	ASSERT_NE(access(path, F_OK), 0);
	ASSERT_EQ(count_all(f.bundles), 1);
	fixture_stop(&f);
}

TEST_FULL(rollback_when_the_new_version_cannot_start, 240)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	char *out;
	int st;

	fixture_init(&f);
	make_src(&f, "src1", "1.0", "normal");
	make_src(&f, "src2", "2.0", "exit-start");
	start(&f, true, NULL);
	install_ok(&f, "src1", "activated");
	ASSERT_TRUE(running(&f));

	out = udkctl(&f, &st, "upgrade %s/src2/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "rolled-back");
	ASSERT_CONTAINS(out, "version 2.0 failed to start");
	ASSERT_CONTAINS(out, "version 1.0 was restored");
	free(out);

	/* the old version is back and serves calls */
	ASSERT_TRUE(installed_version(&f, "1.0"));
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));
	udk_connection_unref(conn);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: rolled-back: version 2.0 failed to start", 5000));
	out = udkctl(&f, &st, "--json drivers " ID);
	ASSERT_CONTAINS(out, "\"rolled-back\"");
	ASSERT_CONTAINS(out, "times in a row");
	free(out);
	out = udkctl(&f, &st, "explain " ID " /IOUserResources");
	ASSERT_CONTAINS(out, "lifecycle: rolled-back");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 1);

	/* a Start() that returns an error rolls back too */
	make_src(&f, "src3", "3.0", "fail-start");
	out = udkctl(&f, &st, "upgrade %s/src3/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "version 3.0 failed to start");
	free(out);
	ASSERT_TRUE(installed_version(&f, "1.0"));
	ASSERT_TRUE(running(&f));

	/* a version put in place by hand afterwards is not "rolled back" */
	make_src(&f, "src4", "4.0", "normal");
	out = test_sh(&st, "rm -rf %s/Lc.dext && cp -r %s/src4/Lc.dext %s/ 2>&1", f.bundles, f.dir, f.bundles);
	ASSERT_EQ(st, 0);
	free(out);
	out = udkctl(&f, &st, "rescan");
	free(out);
	ASSERT_TRUE(installed_version(&f, "4.0"));
	out = udkctl(&f, &st, "drivers " ID);
	ASSERT_NOT_CONTAINS(out, "rolled-back");
	free(out);
	fixture_stop(&f);
}

/* A version that starts on one device and fails on the other is rolled back, not activated by the first. */
TEST_FULL(rollback_when_the_new_version_fails_on_one_of_its_devices, 240)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_set_machine(&f, "<dict><key>Name</key><string>widget0</string>"
				"<key>Class</key><string>UDKTestDevice</string></dict>"
				"<dict><key>Name</key><string>widget1</string>"
				"<key>Class</key><string>UDKTestDevice</string></dict>");
	make_src_on(&f, "src1", "1.0", "normal", "UDKTestDevice");
	/* on widget1 Start() fails 300 ms after widget0's returned */
	make_src_on(&f, "src2", "2.0", "fail-start-on:widget1", "UDKTestDevice");
	start(&f, true, NULL);
	install_ok(&f, "src1", "activated");
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "instance /widget0/TestDriver: running", 10000));
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "instance /widget1/TestDriver: running", 10000));

	out = udkctl(&f, &st, "upgrade %s/src2/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "rolled-back");
	ASSERT_CONTAINS(out, "version 2.0 failed to start");
	ASSERT_CONTAINS(out, "the test device widget1 is not there");
	ASSERT_CONTAINS(out, "version 1.0 was restored");
	free(out);
	ASSERT_TRUE(installed_version(&f, "1.0"));
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "instance /widget0/TestDriver: running", 10000));
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "instance /widget1/TestDriver: running", 10000));
	fixture_stop(&f);
}

TEST(uninstall)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	uint64_t in[2] = { 1, 1 }, o[1];
	uint32_t n_out = 1;
	char *out;
	int st;

	fixture_init(&f);
	make_src(&f, "src1", "1.0", "normal");
	start(&f, true, NULL);
	install_ok(&f, "src1", "activated");
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));

	out = udkctl(&f, &st, "uninstall " ID);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "uninstalled");
	free(out);
	/* the app's connection ends with a named code */
	ASSERT_ERR(udk_connection_call(conn, SEL_ADD, in, 2, NULL, 0, o, &n_out, NULL, 0), -UDK_E_DRIVER_REPLACED);
	/* ... and says that reopening cannot help */
	ASSERT_CONTAINS(udk_error_reason(), "Reopening cannot help");
	udk_connection_unref(conn);
	for (int i = 0; i < 500 && count_all(f.bundles) != 0; i++)
		usleep(10000);
	ASSERT_EQ(count_all(f.bundles), 0);
	out = udkctl(&f, &st, "drivers");
	ASSERT_CONTAINS(out, "no driver bundles");
	free(out);
	out = udkctl(&f, &st, "uninstall " ID);
	ASSERT_NE(st, 0);
	free(out);
	fixture_stop(&f);
}

/* udkd is gone (killed): reap it. */
static void
reap(struct fixture *f)
{
	int status = 0;

	udk_client_unref(f->client);
	f->client = NULL;
	waitpid(f->udkd, &status, 0);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	f->udkd = 0;
}

TEST_FULL(restart_midway_through_an_upgrade, 300)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	char path[600];
	char *out;
	int st;

	fixture_init(&f);
	make_src(&f, "src1", "1.0", "normal");
	make_src(&f, "src2", "2.0", "hang-start");
	make_src(&f, "src3", "3.0", "normal");
	/* 0. udkd dies during an install, before the copy is in place: the next udkd forgets
	 *    it and removes the copy */
	setenv("UDKD_TEST_LIFECYCLE_KILL_AT", "installing", 1);
	start(&f, true, NULL);
	unsetenv("UDKD_TEST_LIFECYCLE_KILL_AT");
	out = udkctl(&f, &st, "install %s/src1/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	free(out);
	reap(&f);
	ASSERT_EQ(count_all(f.bundles), 1); /* the copy, .udk-install-* */
	start(&f, true, NULL);
	ASSERT_EQ(count_all(f.bundles), 0);
	out = udkctl(&f, &st, "drivers");
	ASSERT_CONTAINS(out, "no driver bundles");
	free(out);
	install_ok(&f, "src1", "activated");
	ASSERT_TRUE(running(&f));
	fixture_stop(&f);

	/* 0b. udkd dies with the upgrade prepared, the old version still in place: it stays */
	setenv("UDKD_TEST_LIFECYCLE_KILL_AT", "prepared", 1);
	start(&f, true, NULL);
	unsetenv("UDKD_TEST_LIFECYCLE_KILL_AT");
	out = udkctl(&f, &st, "upgrade %s/src3/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	free(out);
	reap(&f);
	start(&f, true, NULL);
	ASSERT_TRUE(installed_version(&f, "1.0"));
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: activated: udkd stopped before version 3.0 was in place",
					5000));
	ASSERT_EQ(count_all(f.bundles), 1);
	ASSERT_TRUE(running(&f));
	fixture_stop(&f);

	/* 1. udkd dies after setting the old version aside, before the new one is in place:
	 *    the next udkd restores the old one */
	setenv("UDKD_TEST_LIFECYCLE_KILL_AT", "set-aside", 1);
	start(&f, true, NULL);
	unsetenv("UDKD_TEST_LIFECYCLE_KILL_AT");
	out = udkctl(&f, &st, "upgrade %s/src3/Lc.dext", f.dir);
	ASSERT_NE(st, 0);
	free(out);
	reap(&f);
	snprintf(path, sizeof(path), "%s/Lc.dext", f.bundles);
	ASSERT_NE(access(path, F_OK), 0); /* the moment it died: nothing at the path */
	start(&f, true, NULL);
	ASSERT_TRUE(installed_version(&f, "1.0"));
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: rolled-back: udkd stopped in the middle", 5000));
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));
	udk_connection_unref(conn);
	conn = NULL;
	fixture_stop(&f);

	/* 2. udkd dies right after the new version is in place: the next udkd resumes the
	 *    upgrade, the new version starts and is activated */
	setenv("UDKD_TEST_LIFECYCLE_KILL_AT", "swapped", 1);
	start(&f, true, NULL);
	unsetenv("UDKD_TEST_LIFECYCLE_KILL_AT");
	out = udkctl(&f, &st, "upgrade %s/src3/Lc.dext", f.dir);
	free(out);
	reap(&f);
	start(&f, true, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: activated: upgraded from version 1.0 to 3.0",
					20000));
	ASSERT_TRUE(installed_version(&f, "3.0"));
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));
	udk_connection_unref(conn);
	conn = NULL;
	fixture_stop(&f);

	/* 3. SIGKILL while the new version hangs in Start(): still upgrading.  The next udkd
	 *    (with a short Start deadline) gives it its chances, then restores 3.0 */
	start(&f, true, "--start-timeout-ms");
	ASSERT_TRUE(running(&f));
	out = udkctl(&f, &st, "upgrade --no-wait %s/src2/Lc.dext", f.dir);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "upgrading");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "starting, pid", 20000));
	out = udkctl(&f, &st, "--json drivers " ID);
	ASSERT_CONTAINS(out, "\"upgrading\"");
	free(out);
	kill(f.udkd, SIGKILL);
	reap(&f);
	fixture_start(&f, "--crash-limit", "1", "--start-timeout-ms", "2000", NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "lifecycle: rolled-back: version 2.0 failed to start", 30000));
	ASSERT_TRUE(installed_version(&f, "3.0"));
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));
	udk_connection_unref(conn);
	snprintf(path, sizeof(path), "%s/Lc.dext.previous", f.bundles);
	ASSERT_NE(access(path, F_OK), 0);
	fixture_stop(&f);
}

/* Read a whole file (malloc'ed, NUL-terminated); NULL if it cannot. */
static char *
slurp(const char *path, size_t *ret_len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	if (!fp)
		return NULL;
	mem = open_memstream(&buf, &len);
	for (int c; (c = fgetc(fp)) != EOF;)
		fputc(c, mem);
	fclose(fp);
	fclose(mem);
	if (ret_len)
		*ret_len = len;
	return buf;
}

TEST(report_has_everything_and_no_secret)
{
	static const char *const files[] = { "README.txt",   "system.txt", "status.json", "registry.json",
					     "drivers.json", "power.json", "trust.json",  "access.json",
					     "devices.json", "logs/" ID ".log" };
	struct fixture f;
	struct udk_connection *conn = NULL;
	char path[700], top[600];
	char *out, *secret, *tok, *seed;
	size_t seed_len = 0;
	int st;

	fixture_init(&f);
	keygen(&f, "vendor");
	make_src(&f, "src1", "1.0", "normal");
	sign_src(&f, "vendor", "src1");
	start(&f, false, NULL);
	out = udkctl(&f, &st, "trust add %s/vendor.public", f.dir);
	free(out);
	install_ok(&f, "src1", "activated");
	ASSERT_TRUE(running(&f));
	ASSERT_OK(open_and_add(&f, &conn));
	udk_connection_unref(conn);

	out = udkctl(&f, &st, "report -o %s/report.tar.gz", f.dir);
	ASSERT_EQ(st, 0);
	free(out);
	out = test_sh(&st, "tar -tzf %s/report.tar.gz", f.dir);
	ASSERT_EQ(st, 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		ASSERT_CONTAINS(out, files[i]);
	free(out);
	out = test_sh(&st, "mkdir -p %s/unpacked && tar -xzf %s/report.tar.gz -C %s/unpacked && cd %s/unpacked/udk-report-* "
		      "&& pwd | tr -d '\\n'",
		 f.dir, f.dir, f.dir, f.dir);
	ASSERT_EQ(st, 0);
	snprintf(top, sizeof(top), "%s", out);
	free(out);

	/* what each file holds */
	snprintf(path, sizeof(path), "%s/system.txt", top);
	out = slurp(path, NULL);
	ASSERT_NOT_NULL(out);
	ASSERT_CONTAINS(out, "kernel: Linux");
	ASSERT_CONTAINS(out, "MemTotal");
	ASSERT_CONTAINS(out, "udk version");
	free(out);
	snprintf(path, sizeof(path), "%s/drivers.json", top);
	out = slurp(path, NULL);
	ASSERT_CONTAINS(out, ID);
	ASSERT_CONTAINS(out, "\"lifecycle\"");
	ASSERT_CONTAINS(out, "\"crash_history\"");
	free(out);
	snprintf(path, sizeof(path), "%s/registry.json", top);
	out = slurp(path, NULL);
	ASSERT_CONTAINS(out, "TestDriver");
	free(out);
	snprintf(path, sizeof(path), "%s/trust.json", top);
	out = slurp(path, NULL);
	ASSERT_CONTAINS(out, "test key vendor");
	free(out);
	snprintf(path, sizeof(path), "%s/logs/" ID ".log", top);
	out = slurp(path, NULL);
	ASSERT_CONTAINS(out, "testdrv starting");
	free(out);

	/* no byte of the secret key: neither its text nor the seed itself */
	snprintf(path, sizeof(path), "%s/vendor.secret", f.dir);
	secret = slurp(path, NULL);
	ASSERT_NOT_NULL(secret);
	tok = strchr(secret, ' ');
	ASSERT_NOT_NULL(tok);
	tok++;
	*strchr(tok, ' ') = '\0';
	ASSERT_GE(strlen(tok), 40u);
	out = test_sh(&st, "printf %%s '%s' | base64 -d > %s/seed.bin", tok, f.dir);
	free(out);
	snprintf(path, sizeof(path), "%s/seed.bin", f.dir);
	seed = slurp(path, &seed_len);
	ASSERT_EQ(seed_len, 64u);
	out = test_sh(&st, "find %s -type f", top);
	for (char *save = NULL, *file = strtok_r(out, "\n", &save); file; file = strtok_r(NULL, "\n", &save)) {
		size_t len = 0;
		char *data = slurp(file, &len);
		ASSERT_NOT_NULL(data);
		if (memmem(data, len, tok, 16) || memmem(data, len, seed, 32))
			FAIL("%s holds the secret key", file);
		free(data);
	}
	free(out);
	free(seed);
	free(secret);
	fixture_stop(&f);
}

/* Run udkctl @args (NULL-terminated) as @uid; returns its output, *ret_status its exit status. */
static char *
udkctl_as(struct fixture *f, uid_t uid, int *ret_status, const char *const *args)
{
	const char *argv[16];
	char *out = NULL;
	size_t len = 0, n = 0;
	FILE *mem = open_memstream(&out, &len);
	int p[2], status = 0;
	char buf[1024];
	ssize_t k;
	pid_t pid;

	argv[n++] = build_path("tools/udkctl");
	argv[n++] = "--runtime-dir";
	argv[n++] = f->runtime;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	if (!mem || pipe(p) < 0)
		FAIL("pipe: %m");
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((k = read(p[0], buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)k, mem);
	close(p[0]);
	waitpid(pid, &status, 0);
	fclose(mem);
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	test_log("udkctl (uid %u) -> %s", (unsigned)uid, out);
	return out;
}

TEST(only_root_or_udkds_user_installs)
{
	struct fixture f;
	char src[600];
	char *out;
	int st;

	if (geteuid() != 0)
		test_skip("needs root to run udkctl as another user");
	fixture_init(&f);
	make_src(&f, "src1", "1.0", "normal");
	start(&f, true, NULL);
	snprintf(src, sizeof(src), "%s/src1/Lc.dext", f.dir);
	out = udkctl_as(&f, 4242, &st, (const char *const[]){ "install", src, NULL });
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "only root or the user running udkd");
	free(out);
	ASSERT_EQ(count_all(f.bundles), 0);
	install_ok(&f, "src1", "activated");
	out = udkctl_as(&f, 4242, &st, (const char *const[]){ "uninstall", ID, NULL });
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "only root or the user running udkd");
	free(out);
	/* reading the states is open to everyone; the drivers' output is not */
	out = udkctl_as(&f, 4242, &st, (const char *const[]){ "drivers", ID, NULL });
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "lifecycle: activated");
	free(out);
	ASSERT_TRUE(running(&f));
	fixture_stop(&f);
}
