/* SPDX-License-Identifier: MIT */
/*
 * What an app sees when things go wrong on the other side (issue 18,
 * points 4-8; issue 20, "apps learn the true cause"):
 *
 *   - a user client's start() refuses with a code and a sentence: the app
 *     gets both;
 *   - close, then open again at once: never UDK_E_BUSY;
 *   - the driver dies: pending and later calls, data queue waits and
 *     udk_connection_dispatch() all say UDK_E_DRIVER_DIED, with why;
 *   - the device is unplugged during a call: UDK_E_HARDWARE_GONE, every
 *     time, never UDK_E_DRIVER_DIED;
 *   - a user-client queue hangs: udkd's watchdog kills the driver and
 *     names the queue;
 *   - a data queue's doorbell does not stay readable once drained.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <udk/client.h>
#include <udk/ring.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.appside"
#define CAPTURE_ID "org.udk.example.capture"
#define PCI_ID "org.udk.test.appside.pci"

/* testpci's selectors (tests/drivers/testpci.c) */
#define P_SLEEP 16
#define P_CFG_READ32 0

/* ---- a call on another thread, joined with a bound so a hang fails ---- */

struct bg_call {
	pthread_t t;
	struct udk_connection *conn;
	uint64_t selector;
	uint64_t arg;
	int r;
	char reason[512];
	bool done;
	pthread_mutex_t m;
	pthread_cond_t c;
};

static void *
bg_call_run(void *data)
{
	struct bg_call *b = data;
	int r = udk_connection_call(b->conn, b->selector, &b->arg, 1, NULL, 0, NULL, NULL, NULL, NULL);

	pthread_mutex_lock(&b->m);
	b->r = r;
	snprintf(b->reason, sizeof(b->reason), "%s", udk_error_reason() ? udk_error_reason() : "");
	b->done = true;
	pthread_cond_signal(&b->c);
	pthread_mutex_unlock(&b->m);
	return NULL;
}

static void
bg_call_start(struct bg_call *b, struct udk_connection *conn, uint64_t selector, uint64_t arg)
{
	memset(b, 0, sizeof(*b));
	b->conn = conn;
	b->selector = selector;
	b->arg = arg;
	pthread_mutex_init(&b->m, NULL);
	pthread_cond_init(&b->c, NULL);
	ASSERT_EQ(pthread_create(&b->t, NULL, bg_call_run, b), 0);
}

/* Wait for the call to return (a hang is a failure, not a time limit on the result). */
static void
bg_call_join(struct bg_call *b, int seconds, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&b->m);
	while (!b->done)
		if (pthread_cond_timedwait(&b->c, &b->m, &ts) != 0)
			break;
	pthread_mutex_unlock(&b->m);
	if (!b->done)
		FAIL("%s: the app's call is still waiting after %d s", what, seconds);
	pthread_join(b->t, NULL);
	pthread_cond_destroy(&b->c);
	pthread_mutex_destroy(&b->m);
}

/* ---- the capture example: start() refuses a second app ---- */

static void
capture_up(struct fixture *f, uint64_t *ret_id)
{
	fixture_init(f);
	fixture_set_machine_devices(f, "",
				    TEST_DEVICE("capture0", "capture-card",
						"<key>Properties</key><dict><key>Width</key><integer>64</integer>"
						"<key>Height</key><integer>48</integer></dict>"));
	fixture_add_bundle_exe(f, "Capture.dext", CAPTURE_ID, "drivers/capture-driver",
			       "<key>CaptureCard</key><dict>"
			       "<key>IOUserClass</key><string>CaptureDriver</string>"
			       "<key>IOUserServerName</key><string>" CAPTURE_ID "</string>"
			       "<key>IOProviderClass</key><string>IOPCIDevice</string>"
			       "<key>IOPCIPrimaryMatch</key><string>0xca9f1234</string>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key>"
			       "<string>CaptureUserClient</string></dict></dict>");
	fixture_start(f, NULL);
	*ret_id = fixture_wait_class(f, "CaptureDriver", 10000);
}

TEST(start_refusal_reaches_the_app_with_its_code_and_sentence)
{
	struct fixture f;
	struct udk_connection *a = NULL, *b = NULL;
	uint64_t id;

	capture_up(&f, &id);
	ASSERT_OK(udk_client_open(f.client, id, 0, &a));
	/* the capture user client's start() says: UDK_E_BUSY, "the capture card is in use by another app" */
	ASSERT_ERR(udk_client_open(f.client, id, 0, &b), -UDK_E_BUSY);
	ASSERT_NOT_NULL(udk_error_reason());
	ASSERT_CONTAINS(udk_error_reason(), "the capture card is in use by another app");
	udk_connection_unref(a);
	fixture_stop(&f);
}

TEST(close_then_reopen_at_once_is_never_busy)
{
	struct fixture f;
	uint64_t id;

	capture_up(&f, &id);
	for (int i = 0; i < 50; i++) {
		struct udk_connection *c = NULL;
		int r = udk_client_open(f.client, id, 0, &c);
		if (r < 0)
			FAIL("open %d after a close: %s (%s)", i, udk_error_name(r),
			     udk_error_reason() ? udk_error_reason() : "");
		/* half the time through close, half through the last unref */
		if (i % 2 == 0)
			ASSERT_OK(udk_connection_close(c));
		udk_connection_unref(c);
	}
	fixture_stop(&f);
}

/* ---- the test driver: death, data queues, dispatch, the watchdog ---- */

static void testdrv_up(struct fixture *f, uint64_t *ret_id, const char *watchdog_ms);

/* Closing is also how an app cancels a call another thread waits on: that
 * close does not wait behind it. */
TEST(close_with_a_call_out_on_another_thread_cancels_it)
{
	struct fixture f;
	struct udk_connection *a = NULL;
	struct bg_call bg;
	uint64_t id;

	testdrv_up(&f, &id, NULL);
	ASSERT_OK(udk_client_open(f.client, id, 0, &a));
	bg_call_start(&bg, a, SEL_SLEEP, 40000);
	usleep(100000); /* let it go out (if not, it fails the same way) */
	ASSERT_OK(udk_connection_close(a));
	bg_call_join(&bg, 20, "a call cancelled by close");
	ASSERT_EQ(bg.r, -UDK_E_TERMINATED);
	ASSERT_CONTAINS(bg.reason, "closed by the app");
	udk_connection_unref(a);
	fixture_stop(&f);
}

static void
testdrv_up(struct fixture *f, uint64_t *ret_id, const char *watchdog_ms)
{
	fixture_init(f);
	fixture_add_bundle(f, "A.dext", ID,
			   TEST_PERSONALITY("A", ID, "IOUserResources", "<key>IOMatchCategory</key><string>A</string>"));
	if (watchdog_ms)
		fixture_start(f, "--watchdog-ms", watchdog_ms, "--crash-limit", "100", NULL);
	else
		fixture_start(f, NULL);
	*ret_id = fixture_wait_class(f, "TestDriver", 10000);
}

TEST(driver_crash_is_driver_died_for_pending_and_later_calls)
{
	struct fixture f;
	struct udk_connection *a = NULL, *b = NULL;
	struct bg_call bg;
	uint64_t id, in[2] = { 1, 2 }, out = 0;
	uint32_t n = 1;

	testdrv_up(&f, &id, NULL);
	ASSERT_OK(udk_client_open(f.client, id, 0, &a));
	ASSERT_OK(udk_client_open(f.client, id, 0, &b));
	/* a call pending on one user client; the process crashes through the other */
	bg_call_start(&bg, a, SEL_SLEEP, 20000);
	ASSERT_ERR(udk_connection_call(b, SEL_CRASH, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_DRIVER_DIED);
	bg_call_join(&bg, 60, "a call pending when the driver crashed");
	ASSERT_EQ(bg.r, -UDK_E_DRIVER_DIED);
	ASSERT_CONTAINS(bg.reason, "died: killed by SIGABRT");
	ASSERT_CONTAINS(bg.reason, "Reopen the service once it is back");
	/* and every later call */
	ASSERT_ERR(udk_connection_call(a, SEL_ADD, in, 2, NULL, 0, &out, &n, NULL, NULL), -UDK_E_DRIVER_DIED);
	ASSERT_CONTAINS(udk_error_reason(), "Reopen");
	/* dispatch says so too, instead of 0 for ever on a readable fd */
	ASSERT_ERR(udk_connection_dispatch(a, 1000), -UDK_E_DRIVER_DIED);
	ASSERT_ERR(udk_connection_dispatch(b, 0), -UDK_E_DRIVER_DIED);
	udk_connection_unref(a);
	udk_connection_unref(b);
	fixture_stop(&f);
}

struct ring_wait {
	struct udk_ring *ring;
	int r;
	char reason[512];
	bool done;
	pthread_mutex_t m;
	pthread_cond_t c;
};

static void *
ring_wait_run(void *data)
{
	struct ring_wait *w = data;
	uint8_t rec[256];
	uint32_t len = 0;
	int r;

	/* wait for ever: only the driver's death may end it */
	do
		r = udk_ring_dequeue_wait(w->ring, rec, sizeof(rec), &len, -1);
	while (r >= 0);
	pthread_mutex_lock(&w->m);
	w->r = r;
	snprintf(w->reason, sizeof(w->reason), "%s", udk_error_reason() ? udk_error_reason() : "");
	w->done = true;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
	return NULL;
}

TEST(data_queue_wait_ends_with_driver_died)
{
	struct fixture f;
	struct udk_connection *a = NULL, *b = NULL;
	struct ring_wait w = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };
	struct timespec ts;
	pthread_t t;
	uint64_t id, in[2] = { 5, 64 };

	testdrv_up(&f, &id, NULL);
	ASSERT_OK(udk_client_open(f.client, id, 0, &a));
	ASSERT_OK(udk_client_open(f.client, id, 0, &b));
	ASSERT_OK(udk_connection_map_data_queue(a, 0, &w.ring));
	/* a few records first: they are served, then the wait blocks */
	ASSERT_OK(udk_connection_call(a, SEL_STREAM, in, 2, NULL, 0, NULL, NULL, NULL, NULL));
	ASSERT_EQ(pthread_create(&t, NULL, ring_wait_run, &w), 0);
	ASSERT_ERR(udk_connection_call(b, SEL_CRASH, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_DRIVER_DIED);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	pthread_mutex_lock(&w.m);
	while (!w.done)
		if (pthread_cond_timedwait(&w.c, &w.m, &ts) != 0)
			break;
	pthread_mutex_unlock(&w.m);
	if (!w.done)
		FAIL("udk_ring_dequeue_wait(-1) still waits 60 s after the driver died");
	pthread_join(t, NULL);
	ASSERT_EQ(w.r, -UDK_E_DRIVER_DIED);
	ASSERT_CONTAINS(w.reason, "this data queue's connection ended");
	ASSERT_CONTAINS(w.reason, "killed by SIGABRT");
	udk_ring_unref(w.ring);
	udk_connection_unref(a);
	udk_connection_unref(b);
	fixture_stop(&f);
}

TEST(drained_doorbell_is_not_readable)
{
	struct fixture f;
	struct udk_connection *a = NULL;
	struct udk_ring *ring = NULL;
	uint64_t id, in[2] = { 50, 64 };
	uint8_t rec[256];
	uint32_t len;
	unsigned got = 0;

	testdrv_up(&f, &id, NULL);
	ASSERT_OK(udk_client_open(f.client, id, 0, &a));
	ASSERT_OK(udk_connection_map_data_queue(a, 0, &ring));
	ASSERT_OK(udk_connection_call(a, SEL_STREAM, in, 2, NULL, 0, NULL, NULL, NULL, NULL));
	/* the documented loop: arm, poll, dequeue until -EAGAIN; never read() the fd */
	while (got < in[0]) {
		struct pollfd p = { .fd = udk_ring_get_fd(ring), .events = POLLIN };
		if (udk_ring_arm_doorbell(ring) == 0)
			ASSERT_EQ(poll(&p, 1, 30000), 1);
		while (udk_ring_dequeue(ring, rec, sizeof(rec), &len) == 0)
			got++;
	}
	ASSERT_EQ(got, 50);
	/* all drained, nothing more comes: armed again, the fd is not readable */
	{
		struct pollfd p = { .fd = udk_ring_get_fd(ring), .events = POLLIN };
		ASSERT_EQ(udk_ring_arm_doorbell(ring), 0);
		ASSERT_EQ(poll(&p, 1, 0), 0);
	}
	udk_ring_unref(ring);
	udk_connection_unref(a);
	fixture_stop(&f);
}

TEST(watchdog_kills_a_hung_user_client_queue_and_names_it)
{
	struct fixture f;
	struct udk_connection *a = NULL;
	uint64_t id, ms = 60000;
	char *out;

	testdrv_up(&f, &id, "300");
	ASSERT_OK(udk_client_open(f.client, id, 0, &a));
	/* the method blocks its user client's queue; the default queue is idle and answers pings */
	ASSERT_ERR(udk_connection_call(a, SEL_SLEEP, &ms, 1, NULL, 0, NULL, NULL, NULL, NULL), -UDK_E_DRIVER_DIED);
	ASSERT_CONTAINS(udk_error_reason(), "UDK_E_DEADLINE");
	/* 12 ping intervals: a long method is not a hang */
	ASSERT_CONTAINS(udk_error_reason(), "queue 'uc-TestUserClient' did not answer within 3600 ms");
	udk_connection_unref(a);
	/* udkctl shows the same cause */
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID, "queue 'uc-TestUserClient'", 10000));
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "did not run udkd's heartbeat");
	free(out);
	fixture_stop(&f);
}

/* ---- unplug during a pending call ---- */

static void
pci_up(struct fixture *f)
{
	fixture_init(f);
	fixture_set_machine_devices(f, "", TEST_DEVICE("pcitest0", "pci-test", ""));
	fixture_add_bundle_exe(f, "P.dext", PCI_ID, "tests/testpci", TESTPCI_PERSONALITY("P", PCI_ID, ""));
	fixture_start(f, "--restart-base-ms", "20", NULL);
}

static void
plug(struct fixture *f)
{
	int st = -1;
	char *out = NULL;

	/* the unplugged model may still be exiting: plug until taken */
	for (int i = 0; i < 400 && st != 0; i++) {
		if (i)
			usleep(25000);
		free(out);
		out = fixture_udkctl(f, &st, "sim plug pcitest0");
	}
	if (st != 0)
		FAIL("udkctl sim plug pcitest0 keeps failing: %s", out);
	free(out);
}

TEST(unplug_during_a_call_is_hardware_gone_every_time)
{
	struct fixture f;
	int gone = 0;

	pci_up(&f);
	for (int i = 0; i < 20; i++) {
		struct udk_connection *c = NULL;
		struct bg_call bg;
		uint64_t id, off = 0, v = 0;
		uint32_t n = 1;
		char *out;

		id = fixture_wait_class(&f, "TestPciDriver", 15000);
		ASSERT_OK(udk_client_open(f.client, id, 0, &c));
		/* a slow method: unplugged while it runs, or before it reaches the driver */
		bg_call_start(&bg, c, P_SLEEP, 10000);
		usleep(20000u * (unsigned)(i % 5));
		out = fixture_udkctl(&f, NULL, "sim unplug pcitest0");
		free(out);
		bg_call_join(&bg, 60, "a call pending during the unplug");
		if (bg.r != -UDK_E_HARDWARE_GONE)
			FAIL("round %d: the pending call gave %s (%s), not UDK_E_HARDWARE_GONE", i, udk_error_name(bg.r),
			     bg.reason);
		ASSERT_CONTAINS(bg.reason, "Reopening cannot help until the device is back");
		/* later calls too */
		ASSERT_ERR(udk_connection_call(c, P_CFG_READ32, &off, 1, NULL, 0, &v, &n, NULL, NULL),
			   -UDK_E_HARDWARE_GONE);
		gone++;
		udk_connection_unref(c);
		plug(&f);
	}
	ASSERT_EQ(gone, 20);
	fixture_stop(&f);
}

TEST(model_death_is_hardware_gone)
{
	struct fixture f;
	struct udk_connection *c = NULL;
	struct bg_call bg;
	uint64_t id;
	char *out, *p;
	long pid = 0;

	pci_up(&f);
	id = fixture_wait_class(&f, "TestPciDriver", 15000);
	ASSERT_OK(udk_client_open(f.client, id, 0, &c));
	out = fixture_udkctl(&f, NULL, "sim list");
	p = strstr(out, "pid ");
	if (p)
		pid = strtol(p + 4, NULL, 10);
	if (pid <= 0)
		FAIL("no model pid in `udkctl sim list`: %s", out);
	free(out);
	bg_call_start(&bg, c, P_SLEEP, 10000);
	usleep(20000);
	ASSERT_EQ(kill((pid_t)pid, SIGKILL), 0);
	bg_call_join(&bg, 60, "a call pending when the model died");
	if (bg.r != -UDK_E_HARDWARE_GONE)
		FAIL("the pending call gave %s (%s), not UDK_E_HARDWARE_GONE", udk_error_name(bg.r), bg.reason);
	ASSERT_CONTAINS(bg.reason, "the device is gone");
	udk_connection_unref(c);
	fixture_stop(&f);
}
