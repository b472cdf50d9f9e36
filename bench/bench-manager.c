/* SPDX-License-Identifier: MIT */
/*
 * bench-manager - what the manager costs, as ratios against a baseline
 * measured in the same run:
 *
 *   1. match + spawn + Start() + RegisterService for N providers (1000),
 *      against fork+exec+wait of a trivial program N times;
 *   2. SIGKILL of a driver until its replacement has served a call,
 *      against one fork+exec+wait of the trivial program.
 *
 *   bench-manager [N] [KILLS]
 *
 * Prints a table and a JSON line (for the closing notes of issues).
 */
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

extern char **environ;

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
spawn_trivial(int n)
{
	const char *prog = build_path("bench/trivial");
	char *argv[] = { (char *)prog, NULL };
	double t0 = now_s();

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;
		if (pid == 0) {
			execv(prog, argv);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			FAIL("trivial program failed");
	}
	return now_s() - t0;
}

struct counter {
	int arrivals;
};

static void
on_arrival(struct udk_client *c, enum udk_notification_type type, uint64_t id, const char *name, void *userdata)
{
	struct counter *k = userdata;

	(void)c;
	(void)type;
	(void)id;
	(void)name;
	k->arrivals++;
}

static double
cmp_median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n ? v[n / 2] : 0;
}

static double
percentile(double *sorted, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);
	return n ? sorted[i] : 0;
}

TEST_FULL(bench, 1800)
{
	const char *ns = getenv("UDK_BENCH_N"), *ks = getenv("UDK_BENCH_KILLS"), *sb = getenv("UDK_BENCH_SANDBOX");
	/* UDK_BENCH_SANDBOX=0: drivers unconfined (udkd --no-sandbox), to see what the sandbox costs */
	bool sandbox = !(sb && strcmp(sb, "0") == 0);
	int n = ns ? atoi(ns) : 1000, kills = ks ? atoi(ks) : 30;
	struct fixture f;
	struct counter k = { 0 };
	struct udk_value *m;
	char *services, *w;
	double base_n, t_match, base_one, restart[1024];
	size_t cap = (size_t)n * 200 + 64;

	if (n < 1 || kills < 1 || kills > 1024)
		FAIL("bad N or KILLS");
	fixture_init(&f);
	services = malloc(cap);
	w = services;
	for (int i = 0; i < n; i++)
		w += snprintf(w, cap - (size_t)(w - services),
			      "<dict><key>Name</key><string>dev%d</string><key>Class</key><string>BenchDevice</string>"
			      "</dict>",
			      i);
	fixture_set_machine(&f, services);
	free(services);

	/* warm the page cache and the allocator for both sides */
	spawn_trivial(20);
	base_n = spawn_trivial(n);

	/* 1: N providers, one bundle arrives: one process each, beyond udkd's default of 128 a bundle */
	{
		char procs[64];
		snprintf(procs, sizeof(procs), "processes_per_bundle=%d", n);
		fixture_start(&f, "--log-level", "notice", "--watchdog-ms", "0", "--limit", procs,
			      sandbox ? NULL : "--no-sandbox", NULL);
	}
	m = udk_matching_class("TestDriver");
	ASSERT_OK(udk_client_add_notification(f.client, UDK_NOTIFY_ARRIVAL, m, on_arrival, &k, NULL));
	fixture_add_bundle(&f, "Bench.dext.tmp", "org.udk.bench",
			   TEST_PERSONALITY("Bench", "org.udk.bench", "BenchDevice", ""));
	{
		char from[600], to[600];
		snprintf(from, sizeof(from), "%s/Bench.dext.tmp", f.bundles);
		snprintf(to, sizeof(to), "%s/Bench.dext", f.bundles);
		ASSERT_OK(rename(from, to));
	}
	double t0 = now_s();
	{
		char *out = fixture_udkctl(&f, NULL, "rescan");
		free(out);
	}
	while (k.arrivals < n) {
		int r = udk_client_dispatch(f.client, 10000);
		if (r <= 0 && now_s() - t0 > 600)
			FAIL("only %d of %d drivers started", k.arrivals, n);
	}
	t_match = now_s() - t0;
	udk_value_unref(m);
	fixture_stop(&f);

	/* 2: kill, restart, serve */
	fixture_init(&f);
	fixture_add_bundle(&f, "K.dext", "org.udk.bench.k",
			   TEST_PERSONALITY("K", "org.udk.bench.k", "IOUserResources",
					    "<key>IOMatchCategory</key><string>K</string>"));
	fixture_start(&f, "--log-level", "notice", "--crash-limit", "1000", "--restart-base-ms", "0",
		      sandbox ? NULL : "--no-sandbox", NULL);
	base_one = spawn_trivial(kills) / kills;
	for (int i = 0; i < kills; i++) {
		struct udk_connection *conn = NULL;
		uint64_t id = fixture_wait_class(&f, "TestDriver", 10000), pid = 0, out[1], in[2] = { 1, 2 };
		uint32_t n_out = 1;
		double t;

		ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
		ASSERT_OK(udk_connection_call(conn, 3 /* GetPid */, NULL, 0, NULL, 0, &pid, &n_out, NULL, NULL));
		udk_connection_unref(conn);
		m = udk_matching_class("TestDriver");
		t = now_s();
		kill((pid_t)pid, SIGKILL);
		/* the same id may still be registered for a moment: wait for a new one */
		for (;;) {
			uint64_t nid;
			ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &nid));
			if (nid == id) {
				udk_client_dispatch(f.client, 1);
				continue;
			}
			conn = NULL;
			if (udk_client_open(f.client, nid, 0, &conn) < 0)
				continue;
			n_out = 1;
			ASSERT_OK(udk_connection_call(conn, 1 /* Add */, in, 2, NULL, 0, out, &n_out, NULL, NULL));
			udk_connection_unref(conn);
			break;
		}
		restart[i] = now_s() - t;
		udk_value_unref(m);
	}
	fixture_stop(&f);

	double med = cmp_median(restart, kills);
	printf("# manager benchmark (%d providers, %d kills%s)\n", n, kills, sandbox ? "" : ", drivers NOT sandboxed");
	printf("#   baseline: fork+exec+wait of a trivial program x%d   %8.1f ms\n", n, base_n * 1e3);
	printf("#   match+spawn+Start+Register of %d drivers           %8.1f ms   ratio %.2f\n", n, t_match * 1e3,
	       t_match / base_n);
	printf("#   baseline: one fork+exec+wait                          %8.3f ms\n", base_one * 1e3);
	printf("#   SIGKILL -> replacement served a call: median %.3f ms (ratio %.1f), p90 %.3f ms, max %.3f ms\n",
	       med * 1e3, med / base_one, percentile(restart, kills, 0.9) * 1e3, restart[kills - 1] * 1e3);
	printf("BENCH {\"bench\":\"manager\",\"sandboxed\":%s,\"providers\":%d,\"spawn_baseline_ms\":%.1f,\"match_spawn_start_ms\":%.1f,"
	       "\"ratio_start\":%.3f,\"one_spawn_ms\":%.3f,\"restart_median_ms\":%.3f,\"restart_p90_ms\":%.3f,"
	       "\"ratio_restart\":%.2f}\n",
	       sandbox ? "true" : "false", n, base_n * 1e3, t_match * 1e3, t_match / base_n, base_one * 1e3, med * 1e3,
	       percentile(restart, kills, 0.9) * 1e3, med / base_one);
}
