/* SPDX-License-Identifier: MIT */
/*
 * bench-manager - what the manager costs, as ratios against a baseline
 * measured in the same run:
 *
 *   1. match + spawn + Start() + RegisterService for N providers (1000),
 *      against fork+exec+wait of a trivial program N times;
 *   2. SIGKILL of a driver until its replacement has served a call,
 *      against one fork+exec+wait of the trivial program;
 *   both with the drivers sandboxed and again unconfined, so the run
 *   also says what the sandbox itself costs.
 *
 *   bench-manager [N] [KILLS]
 *
 * Prints a table and a JSON line (for the closing notes of issues).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
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

/*
 * The driver program itself, started bare (no udkd, no sandbox) on a
 * socket of its own as its udkd channel, until its runtime sends its
 * first message (the hello): what any restart has to pay before udkd
 * can give the driver its device.  Median of n, in seconds.
 */
static double
spawn_driver_to_hello(int n)
{
	const char *prog = build_path("tests/testdrv");
	char *argv[] = { (char *)"testdrv", NULL }, *envp[] = { (char *)"UDK_DRIVER_FD=3", NULL };
	double t[1024] = { 0 };

	for (int i = 0; i < n; i++) {
		int sv[2], st;
		char buf[4096];
		double t0;
		pid_t pid;

		ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
		t0 = now_s();
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			/* quiet: it says udkd is gone once the benchmark closes the socket */
			if (dup2(sv[1], 3) < 0 || null < 0 || dup2(null, 2) < 0)
				_exit(126);
			execve(prog, argv, envp);
			_exit(127);
		}
		close(sv[1]);
		if (recv(sv[0], buf, sizeof(buf), 0) <= 0)
			FAIL("%s sent no hello on its udkd channel", prog);
		t[i] = now_s() - t0;
		close(sv[0]); /* the runtime sees udkd gone and exits */
		waitpid(pid, &st, 0);
	}
	return cmp_median(t, n);
}

/* a pass leaves its bundle behind in the test's one directory: the next starts without it */
static void
remove_bundle(const struct fixture *f, const char *dirname)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", f->bundles, dirname);
	test_remove_tree(path);
}

struct pass {
	bool sandbox;
	double base_n, t_match, base_one, med, p90, max;
	/* medians of the steps of SIGKILL -> served: new service registered, opened, called */
	double registered, opened, called;
	/* the driver program started bare, to its hello (median) */
	double driver_hello;
};

/* 1: N providers, one bundle arrives: one process each, beyond udkd's default of 128 a bundle */
static double
start_many(int n, bool sandbox)
{
	struct fixture f;
	struct counter k = { 0 };
	struct udk_value *m;
	char *services, *w, procs[64];
	size_t cap = (size_t)n * 200 + 64;
	double t0, t;

	fixture_init(&f);
	services = malloc(cap);
	ASSERT_TRUE(services != NULL);
	w = services;
	for (int i = 0; i < n; i++)
		w += snprintf(w, cap - (size_t)(w - services),
			      "<dict><key>Name</key><string>dev%d</string><key>Class</key><string>BenchDevice</string>"
			      "</dict>",
			      i);
	fixture_set_machine(&f, services);
	free(services);
	snprintf(procs, sizeof(procs), "processes_per_bundle=%d", n);
	fixture_start(&f, "--log-level", "notice", "--watchdog-ms", "0", "--limit", procs,
		      sandbox ? NULL : "--no-sandbox", NULL);
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
	t0 = now_s();
	{
		char *out = fixture_udkctl(&f, NULL, "rescan");
		free(out);
	}
	while (k.arrivals < n) {
		int r = udk_client_dispatch(f.client, 10000);
		if (r <= 0 && now_s() - t0 > 600)
			FAIL("only %d of %d drivers started", k.arrivals, n);
	}
	t = now_s() - t0;
	udk_value_unref(m);
	fixture_stop(&f);
	remove_bundle(&f, "Bench.dext");
	return t;
}

/* 2: kill, restart, serve */
static void
kill_restart(int kills, bool sandbox, struct pass *p)
{
	struct fixture f;
	double restart[1024], registered[1024], opened[1024], called[1024];

	fixture_init(&f);
	fixture_add_bundle(&f, "K.dext", "org.udk.bench.k",
			   TEST_PERSONALITY("K", "org.udk.bench.k", "IOUserResources",
					    "<key>IOMatchCategory</key><string>K</string>"));
	fixture_start(&f, "--log-level", "notice", "--crash-limit", "1000", "--restart-base-ms", "0",
		      sandbox ? NULL : "--no-sandbox", NULL);
	p->base_one = spawn_trivial(kills) / kills;
	p->driver_hello = spawn_driver_to_hello(kills);
	for (int i = 0; i < kills; i++) {
		struct udk_connection *conn = NULL;
		struct udk_value *m;
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
			double t_reg, t_open;

			ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &nid));
			if (nid == id) {
				udk_client_dispatch(f.client, 1);
				continue;
			}
			t_reg = now_s();
			conn = NULL;
			if (udk_client_open(f.client, nid, 0, &conn) < 0)
				continue;
			t_open = now_s();
			n_out = 1;
			ASSERT_OK(udk_connection_call(conn, 1 /* Add */, in, 2, NULL, 0, out, &n_out, NULL, NULL));
			restart[i] = now_s() - t;
			registered[i] = t_reg - t;
			opened[i] = t_open - t_reg;
			called[i] = t + restart[i] - t_open;
			udk_connection_unref(conn);
			break;
		}
		udk_value_unref(m);
	}
	fixture_stop(&f);
	remove_bundle(&f, "K.dext");
	p->med = cmp_median(restart, kills);
	p->p90 = percentile(restart, kills, 0.9);
	p->max = restart[kills - 1];
	p->registered = cmp_median(registered, kills);
	p->opened = cmp_median(opened, kills);
	p->called = cmp_median(called, kills);
}

/*
 * Each pass measures its own baseline just before it.  By default two
 * passes, the drivers sandboxed and then unconfined (udkd --no-sandbox),
 * so that one run says what the sandbox itself costs.
 * UDK_BENCH_SANDBOX=0: the unconfined pass alone; =1: the sandboxed alone.
 */
TEST_FULL(bench, 1800)
{
	const char *ns = getenv("UDK_BENCH_N"), *ks = getenv("UDK_BENCH_KILLS"), *sb = getenv("UDK_BENCH_SANDBOX");
	int n = ns ? atoi(ns) : 1000, kills = ks ? atoi(ks) : 30, n_pass = 0;
	struct pass passes[2] = { 0 };

	if (n < 1 || kills < 1 || kills > 1024)
		FAIL("bad N or KILLS");
	if (!sb || strcmp(sb, "0") != 0)
		passes[n_pass++].sandbox = true;
	if (!sb || strcmp(sb, "1") != 0)
		passes[n_pass++].sandbox = false;
	/* warm the page cache and the allocator for both sides */
	spawn_trivial(20);
	for (int i = 0; i < n_pass; i++) {
		struct pass *p = &passes[i];

		p->base_n = spawn_trivial(n);
		p->t_match = start_many(n, p->sandbox);
		kill_restart(kills, p->sandbox, p);
	}

	printf("# manager benchmark (%d providers, %d kills)\n", n, kills);
	for (int i = 0; i < n_pass; i++) {
		const struct pass *p = &passes[i];

		printf("#  drivers %s\n", p->sandbox ? "sandboxed" : "NOT sandboxed (udkd --no-sandbox)");
		printf("#   baseline: fork+exec+wait of a trivial program x%d   %8.1f ms\n", n, p->base_n * 1e3);
		printf("#   match+spawn+Start+Register of %d drivers           %8.1f ms   ratio %.2f\n", n,
		       p->t_match * 1e3, p->t_match / p->base_n);
		printf("#   baseline: one fork+exec+wait                          %8.3f ms\n", p->base_one * 1e3);
		printf("#   SIGKILL -> replacement served a call: median %.3f ms (ratio %.1f), p90 %.3f ms, max %.3f ms\n",
		       p->med * 1e3, p->med / p->base_one, p->p90 * 1e3, p->max * 1e3);
		printf("#     its steps (medians): killed -> new service registered and announced %.3f ms, "
		       "open %.3f ms, first call %.3f ms\n",
		       p->registered * 1e3, p->opened * 1e3, p->called * 1e3);
		printf("#   baseline: the driver program started bare, to its hello  %.3f ms; SIGKILL -> served %.2fx "
		       "that\n",
		       p->driver_hello * 1e3, p->med / p->driver_hello);
	}
	if (n_pass == 2)
		printf("#   the sandbox itself: start of %d drivers %.2fx unconfined, SIGKILL -> served %.2fx "
		       "(each against its own pass's baseline)\n",
		       n, (passes[0].t_match / passes[0].base_n) / (passes[1].t_match / passes[1].base_n),
		       (passes[0].med / passes[0].base_one) / (passes[1].med / passes[1].base_one));
	{
		const struct pass *p = &passes[0];

		printf("BENCH {\"bench\":\"manager\",\"sandboxed\":%s,\"providers\":%d,\"spawn_baseline_ms\":%.1f,"
		       "\"match_spawn_start_ms\":%.1f,\"ratio_start\":%.3f,\"one_spawn_ms\":%.3f,\"restart_median_ms\":%.3f,"
		       "\"restart_p90_ms\":%.3f,\"ratio_restart\":%.2f,\"restart_registered_ms\":%.3f,"
		       "\"restart_open_ms\":%.3f,\"restart_call_ms\":%.3f,\"driver_hello_ms\":%.3f,"
		       "\"ratio_restart_driver_hello\":%.2f",
		       p->sandbox ? "true" : "false", n, p->base_n * 1e3, p->t_match * 1e3, p->t_match / p->base_n,
		       p->base_one * 1e3, p->med * 1e3, p->p90 * 1e3, p->med / p->base_one, p->registered * 1e3,
		       p->opened * 1e3, p->called * 1e3, p->driver_hello * 1e3, p->med / p->driver_hello);
		if (n_pass == 2) {
			const struct pass *u = &passes[1];

			printf(",\"unconfined_spawn_baseline_ms\":%.1f,\"unconfined_match_spawn_start_ms\":%.1f,"
			       "\"unconfined_ratio_start\":%.3f,\"unconfined_one_spawn_ms\":%.3f,"
			       "\"unconfined_restart_median_ms\":%.3f,\"unconfined_ratio_restart\":%.2f,"
			       "\"sandbox_ratio_start\":%.3f,\"sandbox_ratio_restart\":%.3f",
			       u->base_n * 1e3, u->t_match * 1e3, u->t_match / u->base_n, u->base_one * 1e3,
			       u->med * 1e3, u->med / u->base_one,
			       (p->t_match / p->base_n) / (u->t_match / u->base_n),
			       (p->med / p->base_one) / (u->med / u->base_one));
		}
		printf("}\n");
	}
}
