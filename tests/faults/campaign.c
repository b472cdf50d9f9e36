/* SPDX-License-Identifier: MIT */
/*
 * The fault-injection campaign: udkd runs three copies of the test driver
 * while client threads keep calling them with verified data, and the
 * injector hits the drivers with one fault after another:
 *
 *   kill        SIGKILL at a random moment
 *   stop        SIGSTOP (udkd's watchdog must find and kill it)
 *   abort       abort() inside a callback
 *   exit        exit() inside a callback
 *   power       never acknowledge SetPowerState, during a system sleep
 *   garbage     junk, truncated, oversized or bogus messages to udkd
 *   fd-leak     descriptors opened and never closed
 *   memory      memory exhaustion (handled, or fatal)
 *   slow        a reply slower than the caller's deadline
 *   client      an app killed in the middle of a call
 *   model-kill  SIGKILL of a device model (simulated PCI hardware) under
 *               its driver; the device is plugged in again
 *   model-stop  SIGSTOP of a device model (udkd's watchdog kills it)
 *
 * and local users attacking udkd itself, from a spare unprivileged uid
 * (tests/faults/hostile-client.c):
 *
 *   slow-reader requests that are never read (udkd must stop reading it)
 *   flood       connections until udkd refuses one (UDK_E_LIMIT), held
 *   huge        one request of 16-64 MiB (refused from its header,
 *               UDK_E_TOO_LARGE, udkd's peak memory must not grow)
 *   deep        request bodies nested far deeper than the decoder allows
 *               (UDK_E_PROTOCOL or UDK_E_TOO_LARGE), and `access explain` of
 *               an app whose APP.udksig nests 100,000 arrays (answered,
 *               never a crash)
 *
 * After every fault these invariants are checked:
 *
 *   udkd alive and answering within 2 s;
 *   every client call returned success or a named error (UDK_E_*), within
 *   its deadline (plus slack for a shared machine);
 *   no completed call lost or corrupted data (echo and copy are verified);
 *   udkd has no extra processes, zombies, descriptors or /dev/shm files;
 *   the driver is back in service (a fresh open and call succeed), or
 *   was disabled with a reason (then `udkctl restart` brings it back).
 *
 * UDK_FAULTS (default 2000) sets the number of faults, UDK_FAULT_SEED the
 * random seed, UDK_FAULT_REPORT a file for the JSON summary, UDK_FAULT_SAMPLES
 * a file for every recovery time (scripts/faults.sh merges campaigns run
 * side by side with them).  A violation
 * fails the test with what was seen.  See docs/faults.md.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define N_DRIVERS 3
#define N_WORKERS 2
#define CALL_TIMEOUT_MS 3000
#define DEADLINE_SLACK_MS 1500
#define RECOVERY_LIMIT_MS 15000
/* besides the drivers: the pci-test model and the testpci driver on it */
#define N_CHILDREN (N_DRIVERS + 2)
#define PCI_ID "org.udk.fault.pci"

static const char *const ids[N_DRIVERS] = { "org.udk.fault.a", "org.udk.fault.b", "org.udk.fault.c" };

enum fault {
	F_KILL,
	F_STOP,
	F_ABORT,
	F_EXIT,
	F_POWER,
	F_GARBAGE,
	F_FD_LEAK,
	F_MEMORY,
	F_SLOW,
	F_CLIENT,
	F_MODEL_KILL,
	F_MODEL_STOP,
	F_SLOW_READER,
	F_FLOOD,
	F_HUGE,
	F_DEEP,
	F_COUNT,
};

static const char *const fault_names[F_COUNT] = {
	"kill", "stop", "abort", "exit", "power", "garbage", "fd-leak", "memory", "slow", "client", "model-kill",
	"model-stop", "slow-reader", "flood", "huge", "deep",
};

/* The local attacker's account: not root, not udkd's, not a driver's. */
#define ATTACKER_UID 61234u
/* Lowered for the campaign so a flood is quick; the default follows RLIMIT_NOFILE. */
#define FLOOD_CAP "256"

struct stats {
	unsigned injected[F_COUNT];
	unsigned survived[F_COUNT];
	unsigned disabled_restarts;
	uint64_t *recovery_us;
	size_t n_recovery;
};

static struct fixture fx;
static atomic_bool stop_workers;
static atomic_ulong calls_ok, calls_err, bytes_verified;
static pthread_mutex_t viol_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_violation[1024];
static atomic_uint violations;
static char err_names[64][32];
static unsigned err_counts[64];

static void
violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
violation(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&viol_lock);
	if (!violations) {
		va_start(ap, fmt);
		vsnprintf(first_violation, sizeof(first_violation), fmt, ap);
		va_end(ap);
	}
	violations++;
	pthread_mutex_unlock(&viol_lock);
}

static void
count_error(int r)
{
	const char *name = udk_error_name(r) ? udk_error_name(r) : "?";

	pthread_mutex_lock(&viol_lock);
	for (size_t i = 0; i < 64; i++) {
		if (!err_names[i][0])
			snprintf(err_names[i], sizeof(err_names[i]), "%s", name);
		if (streq(err_names[i], name)) {
			err_counts[i]++;
			break;
		}
	}
	pthread_mutex_unlock(&viol_lock);
}

static uint64_t
now_ms_(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A named error: one of udk's codes, or an errno the call documents. */
static bool
named(int r)
{
	const char *n = udk_error_name(r);
	return r < 0 && n && (strncmp(n, "UDK_E_", 6) == 0 || streq(n, "EAGAIN") || streq(n, "ENOMEM") ||
			      streq(n, "ECONNRESET") || streq(n, "EPIPE") || streq(n, "EMFILE"));
}

static int
open_driver(struct udk_client *c, int which, int timeout_ms, struct udk_connection **ret)
{
	struct udk_value *m = udk_value_new_dict();
	uint64_t id = 0;
	int r;

	udk_dict_set_string(m, "CFBundleIdentifier", ids[which]);
	r = udk_client_wait_for_service(c, m, timeout_ms, &id);
	udk_value_unref(m);
	if (r < 0)
		return r;
	r = udk_client_open(c, id, 0, ret);
	if (r >= 0)
		udk_connection_set_timeout(*ret, CALL_TIMEOUT_MS);
	return r;
}

/* ---- the clients ---- */

struct copy_args {
	uint64_t len, src, dst;
};

static void *
worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	struct udk_client *c = NULL;
	struct udk_connection *conn[N_DRIVERS] = { 0 };
	uint8_t in[4096], out[4096];
	static _Thread_local uint8_t src[65536], dst[65536];

	if (udk_client_new(fx.runtime, &c) < 0) {
		violation("a worker cannot connect to udkd");
		return NULL;
	}
	while (!atomic_load(&stop_workers)) {
		int which = (int)(rand_r(&seed) % N_DRIVERS), kind = (int)(rand_r(&seed) % 3), r;
		uint64_t t0;

		if (!conn[which]) {
			r = open_driver(c, which, 2000, &conn[which]);
			if (r < 0) {
				if (!named(r))
					violation("opening %s failed with an unnamed error %d", ids[which], r);
				count_error(r);
				usleep(2000);
				continue;
			}
		}
		t0 = now_ms_();
		if (kind == 0) {
			size_t len = 1 + rand_r(&seed) % sizeof(in), ol = sizeof(out);
			for (size_t i = 0; i < len; i++)
				in[i] = (uint8_t)rand_r(&seed);
			r = udk_connection_call(conn[which], SEL_ECHO, NULL, 0, in, len, NULL, NULL, out, &ol);
			if (r == 0 && (ol != len || memcmp(in, out, len) != 0))
				violation("echo of %zu bytes through %s came back different (%zu bytes)", len, ids[which],
					  ol);
			else if (r == 0)
				atomic_fetch_add(&bytes_verified, len);
		} else if (kind == 1) {
			struct copy_args ca = { 1 + rand_r(&seed) % sizeof(src), (uint64_t)(uintptr_t)src,
						(uint64_t)(uintptr_t)dst };
			for (size_t i = 0; i < ca.len; i++)
				src[i] = (uint8_t)rand_r(&seed);
			struct udk_memory_range rr[2] = { { src, ca.len, UDK_MEMORY_DIRECTION_OUT },
							  { dst, ca.len, UDK_MEMORY_DIRECTION_IN } };
			struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = &ca,
						   .struct_input_size = sizeof(ca), .ranges = rr, .n_ranges = 2 };
			memset(dst, 0, ca.len);
			r = udk_connection_call_args(conn[which], SEL_COPY, &a);
			if (r == 0 && memcmp(src, dst, ca.len) != 0)
				violation("a completed copy of %llu bytes through %s lost or corrupted data",
					  (unsigned long long)ca.len, ids[which]);
			else if (r == 0)
				atomic_fetch_add(&bytes_verified, ca.len);
		} else {
			uint64_t a[2] = { rand_r(&seed), rand_r(&seed) }, sum = 0;
			uint32_t n = 1;
			r = udk_connection_call(conn[which], SEL_ADD, a, 2, NULL, 0, &sum, &n, NULL, NULL);
			if (r == 0 && sum != a[0] + a[1])
				violation("Add(%llu, %llu) through %s returned %llu", (unsigned long long)a[0],
					  (unsigned long long)a[1], ids[which], (unsigned long long)sum);
		}
		if (now_ms_() - t0 > CALL_TIMEOUT_MS + DEADLINE_SLACK_MS)
			violation("a call to %s took %llu ms, past its %d ms deadline", ids[which],
				  (unsigned long long)(now_ms_() - t0), CALL_TIMEOUT_MS);
		if (r == 0) {
			atomic_fetch_add(&calls_ok, 1);
			continue;
		}
		atomic_fetch_add(&calls_err, 1);
		count_error(r);
		if (!named(r))
			violation("a call to %s failed with an unnamed error %d (%s)", ids[which], r,
				  udk_error_reason() ? udk_error_reason() : "");
		/* the connection is done for: a new process will need a new one */
		udk_connection_unref(conn[which]);
		conn[which] = NULL;
	}
	for (int i = 0; i < N_DRIVERS; i++)
		udk_connection_unref(conn[i]);
	udk_client_unref(c);
	return NULL;
}

/* ---- what udkd has ---- */

#define count_dir test_count_dir

static int
udkd_fds(void)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)fx.udkd);
	return count_dir(p);
}

/* udkd's children, and how many of them are zombies. */
static int
udkd_children(int *zombies)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	*zombies = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[300], buf[512], *rp;
		int fd, ppid = 0;
		ssize_t len;
		char st = '?';
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		rp = strrchr(buf, ')');
		if (!rp || sscanf(rp + 2, "%c %d", &st, &ppid) != 2)
			continue;
		if (ppid == fx.udkd) {
			n++;
			if (st == 'Z')
				(*zombies)++;
		}
	}
	closedir(d);
	return n;
}

static pid_t
driver_pid(struct udk_client *c, int which)
{
	struct udk_connection *conn = NULL;
	uint64_t pid = 0;
	uint32_t n = 1;

	if (open_driver(c, which, 2000, &conn) < 0)
		return -1;
	if (udk_connection_call(conn, SEL_GET_PID, NULL, 0, NULL, 0, &pid, &n, NULL, NULL) < 0)
		pid = 0;
	udk_connection_unref(conn);
	return pid > 0 ? (pid_t)pid : -1;
}

static int base_fds, base_shm;

static bool
settled(void *data)
{
	int z = 0, kids = udkd_children(&z);
	(void)data;
	return kids == N_CHILDREN && z == 0 && udkd_fds() == base_fds && count_dir("/dev/shm") == base_shm;
}

/* ---- faults ---- */

/* Call one selector on a fresh connection to @which; the result does not matter. */
static void
poke(struct udk_client *c, int which, uint64_t sel, const uint64_t *in, uint32_t n_in, int timeout_ms)
{
	struct udk_connection *conn = NULL;
	uint64_t out[2];
	uint32_t n_out = 2;
	int r;

	if (open_driver(c, which, 2000, &conn) < 0)
		return;
	udk_connection_set_timeout(conn, timeout_ms);
	r = udk_connection_call(conn, sel, in, n_in, NULL, 0, out, &n_out, NULL, NULL);
	if (r < 0 && !named(r))
		violation("selector %llu of %s failed with an unnamed error %d", (unsigned long long)sel, ids[which], r);
	udk_connection_unref(conn);
}

static pid_t model_victim; /* the model process a fault hit */

static long
udkd_kb(const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)fx.udkd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Run tests/hostile-client as the attacker's uid; its exit status says whether udkd answered as documented. */
static void
attack(const char *mode, unsigned n, const char *extra)
{
	char arg[32], out[512] = "";
	int pfd[2], st = 0;
	ssize_t len;
	pid_t child;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return;
	snprintf(arg, sizeof(arg), "%u", n);
	child = fork();
	if (child == 0) {
		struct rlimit rl;
		dup2(pfd[1], 1);
		/* enough descriptors for a flood */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (setgroups(0, NULL) < 0 || setgid(ATTACKER_UID) < 0 || setuid(ATTACKER_UID) < 0)
			_exit(3);
		execl(build_path("tests/hostile-client"), "hostile-client", fx.runtime, mode, arg, extra, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	len = read(pfd[0], out, sizeof(out) - 1);
	out[len > 0 ? len : 0] = 0;
	close(pfd[0]);
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		violation("hostile client %s %u: %s (exit status 0x%x)", mode, n, out[0] ? out : "failed", st);
}

static void
inject(struct udk_client *c, enum fault f, int which, unsigned *seed)
{
	pid_t pid;

	switch (f) {
	case F_KILL:
	case F_STOP:
		pid = driver_pid(c, which);
		if (pid <= 0)
			return;
		usleep(rand_r(seed) % 3000);
		kill(pid, f == F_KILL ? SIGKILL : SIGSTOP);
		break;
	case F_ABORT:
		poke(c, which, SEL_CRASH, NULL, 0, 2000);
		break;
	case F_EXIT: {
		uint64_t st = 1 + rand_r(seed) % 100;
		poke(c, which, SEL_EXIT, &st, 1, 2000);
		break;
	}
	case F_POWER: {
		uint64_t never = 1;
		int st;
		char *out;
		poke(c, which, SEL_POWER_MODE, &never, 1, 2000);
		out = fixture_udkctl(&fx, &st, "system sleep");
		if (st != 0 || !strstr(out, "missed the deadline"))
			violation("system sleep with a driver that never acknowledges: %s", out);
		free(out);
		out = fixture_udkctl(&fx, &st, "system wake");
		if (st != 0)
			violation("system wake failed: %s", out);
		free(out);
		break;
	}
	case F_GARBAGE: {
		uint64_t mode = rand_r(seed) % 4;
		poke(c, which, SEL_GARBAGE, &mode, 1, 2000);
		break;
	}
	case F_FD_LEAK: {
		uint64_t n = 16;
		poke(c, which, SEL_LEAK_FDS, &n, 1, 2000);
		break;
	}
	case F_MEMORY: {
		uint64_t in[2] = { 768, rand_r(seed) % 2 };
		poke(c, which, SEL_EAT_MEMORY, in, 2, 5000);
		break;
	}
	case F_SLOW: {
		struct udk_connection *conn = NULL;
		uint64_t ms = 400, t0;
		int r;
		if (open_driver(c, which, 2000, &conn) < 0)
			return;
		udk_connection_set_timeout(conn, 100);
		t0 = now_ms_();
		r = udk_connection_call(conn, SEL_SLEEP, &ms, 1, NULL, 0, NULL, NULL, NULL, NULL);
		if (r != -UDK_E_DEADLINE)
			violation("a 400 ms call with a 100 ms deadline gave %s, not UDK_E_DEADLINE", udk_error_name(r));
		if (now_ms_() - t0 > 100 + DEADLINE_SLACK_MS)
			violation("a call with a 100 ms deadline took %llu ms", (unsigned long long)(now_ms_() - t0));
		udk_connection_unref(conn);
		break;
	}
	case F_CLIENT: {
		int pfd[2];
		char buf[16];
		pid_t child;
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return;
		child = fork();
		if (child == 0) {
			dup2(pfd[1], 1);
			execl(build_path("tests/victim-client"), "victim-client", fx.runtime, ids[which], (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		if (read(pfd[0], buf, sizeof(buf)) > 0)
			usleep(1000 + rand_r(seed) % 30000);
		close(pfd[0]);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		break;
	}
	case F_SLOW_READER:
		attack("slow-reader", 20 + rand_r(seed) % 100, NULL);
		break;
	case F_FLOOD:
		attack("flood", 50 + rand_r(seed) % 150, NULL);
		break;
	case F_HUGE: {
		long hwm0 = udkd_kb("VmHWM"), hwm1;
		unsigned mib = 16 + rand_r(seed) % 49;
		attack("huge", mib, NULL);
		hwm1 = udkd_kb("VmHWM");
		if (hwm0 > 0 && hwm1 - hwm0 > 32 * 1024)
			violation("a %u MiB request from a local user grew udkd's peak memory from %ld to %ld KiB", mib,
				  hwm0, hwm1);
		break;
	}
	case F_DEEP:
		/* bodies, and an APP.udksig of 100,000 nested arrays for access explain */
		attack("deep", 100000, ids[which]);
		break;
	case F_MODEL_KILL:
	case F_MODEL_STOP: {
		char *out = fixture_udkctl(&fx, NULL, "sim list"), *p = strstr(out, "pid ");
		pid = p ? (pid_t)strtol(p + 4, NULL, 10) : 0;
		free(out);
		if (pid > 0)
			kill(pid, f == F_MODEL_KILL ? SIGKILL : SIGSTOP);
		model_victim = pid;
		break;
	}
	default:
		break;
	}
}

/*
 * The model runs (a new process, if a fault hit the old one) and the
 * driver on it too; plug the device in again when it is gone.
 */
static bool
model_recovered(void)
{
	uint64_t end = now_ms_() + RECOVERY_LIMIT_MS;

	while (now_ms_() < end) {
		char *sim = fixture_udkctl(&fx, NULL, "sim list");
		char *drv = fixture_udkctl(&fx, NULL, "drivers " PCI_ID);
		char *pp = strstr(sim, ": plugged, pid ");
		bool up = pp && strtol(pp + 15, NULL, 10) != model_victim && strstr(drv, "running, pid");
		bool gone = strstr(sim, ": gone") != NULL;
		if (gone && !strstr(sim, "sim plug pcitest0"))
			violation("a gone device does not say how to bring it back:\n%s", sim);
		free(sim);
		free(drv);
		if (up)
			return true;
		if (gone)
			free(fixture_udkctl(&fx, NULL, "sim plug pcitest0"));
		/* a driver the watchdog killed again and again (a loaded machine) is disabled, with a reason */
		drv = fixture_udkctl(&fx, NULL, "drivers " PCI_ID);
		if (strstr(drv, ": disabled")) {
			if (!strstr(drv, "reason: "))
				violation("%s was disabled without a reason:\n%s", PCI_ID, drv);
			free(fixture_udkctl(&fx, NULL, "restart " PCI_ID));
		}
		free(drv);
		usleep(5000);
	}
	return false;
}

/* Back in service: a fresh open and a verified call; a disabled driver is restarted. */
static bool
recovered(struct udk_client *c, int which, struct stats *s)
{
	uint64_t end = now_ms_() + RECOVERY_LIMIT_MS;
	char args[128];

	while (now_ms_() < end) {
		struct udk_connection *conn = NULL;
		uint64_t a[2] = { 20, 22 }, sum = 0;
		uint32_t n = 1;
		if (open_driver(c, which, 200, &conn) >= 0) {
			int r = udk_connection_call(conn, SEL_ADD, a, 2, NULL, 0, &sum, &n, NULL, NULL);
			udk_connection_unref(conn);
			if (r == 0 && sum == 42)
				return true;
		}
		snprintf(args, sizeof(args), "drivers %s", ids[which]);
		{
			char *out = fixture_udkctl(&fx, NULL, args);
			bool disabled = strstr(out, ": disabled") != NULL;
			if (disabled && !strstr(out, "reason: "))
				violation("%s was disabled without a reason:\n%s", ids[which], out);
			free(out);
			if (disabled) {
				snprintf(args, sizeof(args), "restart %s", ids[which]);
				free(fixture_udkctl(&fx, NULL, args));
				s->disabled_restarts++;
			}
		}
		usleep(5000);
	}
	return false;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The summary, as a log and as JSON in UDK_FAULT_REPORT.  Written every
 * REPORT_EVERY faults as well as at the end ("complete": false until
 * then, through a temporary file and a rename), so a run that is killed
 * still leaves its figures.
 */
#define REPORT_EVERY 500

/*
 * UDK_FAULT_SAMPLES: every recovery time so far, in microseconds, one a
 * line, written beside each report, so that scripts/faults.sh can merge
 * the campaigns it runs side by side into exact percentiles.
 */
static void
write_samples(const struct stats *s)
{
	const char *path = getenv("UDK_FAULT_SAMPLES");
	char tmp[4096];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.part", path);
	f = fopen(tmp, "we");
	if (!f) {
		test_log("cannot write the samples %s: %m", tmp);
		return;
	}
	for (size_t i = 0; i < s->n_recovery; i++)
		fprintf(f, "%llu\n", (unsigned long long)s->recovery_us[i]);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		test_log("cannot write the samples %s: %m", path);
}

static void
report(const struct stats *s, unsigned seed0, unsigned requested, bool complete, uint64_t started)
{
	const char *path = getenv("UDK_FAULT_REPORT");
	uint64_t *sorted = malloc((s->n_recovery ? s->n_recovery : 1) * sizeof(*sorted));
	double med = 0, p99 = 0, secs = (double)(now_ms_() - started) / 1000;
	unsigned injected = 0, survived = 0;
	char tmp[4096];
	FILE *rep;

	if (sorted && s->n_recovery) {
		memcpy(sorted, s->recovery_us, s->n_recovery * sizeof(*sorted));
		qsort(sorted, s->n_recovery, sizeof(*sorted), cmp_u64);
		med = (double)sorted[s->n_recovery / 2] / 1000;
		p99 = (double)sorted[(s->n_recovery * 99) / 100] / 1000;
	}
	free(sorted);
	for (int f = 0; f < F_COUNT; f++) {
		injected += s->injected[f];
		survived += s->survived[f];
	}
	if (complete) {
		for (int f = 0; f < F_COUNT; f++)
			test_log("  %-11s injected %5u, survived %5u", fault_names[f], s->injected[f], s->survived[f]);
		for (int k = 0; k < 64 && err_names[k][0]; k++)
			test_log("  calls that failed with %s: %u", err_names[k], err_counts[k]);
		test_log("campaign: %u faults injected, %u survived, %u invariant violations; recovery median %.2f "
			 "ms, p99 %.2f ms; %lu calls succeeded (%lu bytes verified), %lu failed with named errors; "
			 "%u disabled drivers restarted; %.1f s",
			 injected, survived, (unsigned)violations, med, p99, (unsigned long)calls_ok,
			 (unsigned long)bytes_verified, (unsigned long)calls_err, s->disabled_restarts, secs);
	}
	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.part", path);
	rep = fopen(tmp, "we");
	if (!rep) {
		test_log("cannot write the report %s: %m", tmp);
		return;
	}
	fprintf(rep,
		"{\"seed\": %u, \"requested\": %u, \"complete\": %s, \"injected\": %u, \"survived\": %u, "
		"\"violations\": %u, \"recovery_median_ms\": %.3f, \"recovery_p99_ms\": %.3f, \"calls_ok\": %lu, "
		"\"calls_failed_named\": %lu, \"bytes_verified\": %lu, \"disabled_restarts\": %u, "
		"\"seconds\": %.1f, \"by_fault\": {",
		seed0, requested, complete ? "true" : "false", injected, survived, (unsigned)violations, med, p99,
		(unsigned long)calls_ok, (unsigned long)calls_err, (unsigned long)bytes_verified,
		s->disabled_restarts, secs);
	for (int f = 0; f < F_COUNT; f++)
		fprintf(rep, "%s\"%s\": [%u, %u]", f ? ", " : "", fault_names[f], s->injected[f], s->survived[f]);
	fprintf(rep, "}");
	if (violations) {
		pthread_mutex_lock(&viol_lock);
		fputs(", \"first_violation\": \"", rep);
		for (const char *p = first_violation; *p; p++) {
			if (*p == '"' || *p == '\\')
				fprintf(rep, "\\%c", *p);
			else if ((unsigned char)*p < 0x20)
				fprintf(rep, "\\u%04x", (unsigned char)*p);
			else
				fputc(*p, rep);
		}
		fputs("\"", rep);
		pthread_mutex_unlock(&viol_lock);
	}
	fprintf(rep, "}\n");
	if (fclose(rep) != 0 || rename(tmp, path) < 0)
		test_log("cannot write the report %s: %m", path);
	write_samples(s);
}

/*
 * The harness's alarm scales with the count asked for: an hour for the
 * 2,000 of CI (as before), and half a second per fault beyond that, which
 * covers a machine doing two faults a second (a quiet 2-core one does about
 * eight: most faults wait for a watchdog period, a deadline or a restart).
 */
static unsigned
campaign_timeout(unsigned n_faults)
{
	unsigned long t = 600ul + n_faults / 2;
	return t < 3600 ? 3600 : t > 7u * 24 * 3600 ? 7u * 24 * 3600 : (unsigned)t;
}

TEST_FULL(fault_campaign, 3600)
{
	const char *env = getenv("UDK_FAULTS"), *seed_env = getenv("UDK_FAULT_SEED");
	unsigned n_faults = env ? (unsigned)strtoul(env, NULL, 10) : 2000;
	const unsigned seed0 = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
	unsigned seed = seed0;
	struct stats s = { 0 };
	pthread_t workers[N_WORKERS];
	struct udk_client *c = NULL;
	uint64_t started = now_ms_();
	unsigned survived = 0;

	test_set_timeout(campaign_timeout(n_faults));
	test_log("seed %u (UDK_FAULT_SEED=%u reproduces the sequence), %u faults, %u s allowed", seed0, seed0,
		 n_faults, campaign_timeout(n_faults));
	if (geteuid() != 0)
		test_log("not root: the local-attacker faults (slow-reader, flood, huge, deep) need a spare uid and are "
			 "replaced by kill");
	s.recovery_us = calloc(n_faults ? n_faults : 1, sizeof(*s.recovery_us));
	fixture_init(&fx);
	fixture_set_machine_devices(&fx, "", TEST_DEVICE("pcitest0", "pci-test",
							  "<key>Location</key><string>00:05.0</string>"));
	fixture_add_bundle_exe(&fx, "Pci.dext", PCI_ID, "tests/testpci", TESTPCI_PERSONALITY("P", PCI_ID, ""));
	for (int i = 0; i < N_DRIVERS; i++) {
		char dir[64], *pers = NULL;
		snprintf(dir, sizeof(dir), "F%d.dext", i);
		if (asprintf(&pers,
			     "<key>F</key><dict>"
			     "<key>IOClass</key><string>IOUserService</string>"
			     "<key>IOUserClass</key><string>TestDriver</string>"
			     "<key>IOUserServerName</key><string>%s</string>"
			     "<key>IOProviderClass</key><string>IOUserResources</string>"
			     "<key>IOMatchCategory</key><string>F%d</string>"
			     "<key>UserClientProperties</key><dict><key>IOClass</key><string>IOUserUserClient</string>"
			     "<key>IOUserClass</key><string>TestUserClient</string></dict>"
			     "<key>UDKDeadlines</key><dict><key>SetPowerState</key><integer>150</integer>"
			     "<key>Start</key><integer>3000</integer></dict>"
			     "<key>UDKResourceLimits</key><dict><key>Memory</key><integer>536870912</integer></dict>"
			     "</dict>",
			     ids[i], i) < 0)
			FAIL("oom");
		fixture_add_bundle(&fx, dir, ids[i], pers);
		free(pers);
	}
	fixture_start(&fx, "--watchdog-ms", "250", "--crash-limit", "4", "--restart-base-ms", "10", "--restart-max-ms",
		      "100", "--stop-timeout-ms", "300", "--request-timeout-ms", "2000", "--log-level", "notice", "--limit",
		      "connections_per_uid=" FLOOD_CAP, NULL);
	ASSERT_OK(udk_client_new(fx.runtime, &c));
	for (int i = 0; i < N_DRIVERS; i++)
		ASSERT_TRUE(recovered(c, i, &s));
	ASSERT_TRUE(model_recovered());

	for (int i = 0; i < N_WORKERS; i++)
		pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	usleep(200000);
	{
		int z;
		/* the baseline: every driver up, every worker connected */
		for (int i = 0; i < 200 && udkd_children(&z) != N_CHILDREN; i++)
			usleep(10000);
		base_fds = udkd_fds();
		base_shm = count_dir("/dev/shm");
		test_log("baseline: udkd has %d descriptors, %d children; /dev/shm has %d entries", base_fds,
			 udkd_children(&z), base_shm);
	}

	for (unsigned i = 0; i < n_faults && !violations; i++) {
		enum fault f = (enum fault)(rand_r(&seed) % F_COUNT);
		/* the local attacker needs an account of its own, which only root can switch to */
		if (f >= F_SLOW_READER && geteuid() != 0)
			f = F_KILL;
		int which = (int)(rand_r(&seed) % N_DRIVERS);
		uint64_t t0 = now_us(), t_ping;
		struct udk_value *tree = NULL;
		unsigned before = violations;

		s.injected[f]++;
		model_victim = 0;
		inject(c, f, which, &seed);
		if ((f == F_MODEL_KILL || f == F_MODEL_STOP) && !model_recovered()) {
			violation("fault %u (%s): the device and its driver are not back after %d ms", i, fault_names[f],
				  RECOVERY_LIMIT_MS);
			break;
		}
		if (!recovered(c, which, &s)) {
			char *log = fixture_log(&fx);
			size_t l = strlen(log);
			violation("fault %u (%s on %s): the driver is neither back in service nor disabled after %d ms; "
				  "udkd log tail:\n%s",
				  i, fault_names[f], ids[which], RECOVERY_LIMIT_MS, log + (l > 3000 ? l - 3000 : 0));
			free(log);
			break;
		}
		s.recovery_us[s.n_recovery++] = now_us() - t0;
		/* the other drivers too (a system sleep touched them all) */
		for (int k = 0; k < N_DRIVERS; k++)
			if (k != which && !recovered(c, k, &s))
				violation("fault %u (%s on %s): %s did not come back", i, fault_names[f], ids[which], ids[k]);
		/* udkd answers */
		t_ping = now_ms_();
		if (udk_client_copy_tree(c, false, &tree) < 0 || now_ms_() - t_ping > 2000)
			violation("fault %u (%s): udkd did not answer within 2 s", i, fault_names[f]);
		udk_value_unref(tree);
		if (kill(fx.udkd, 0) < 0)
			violation("fault %u (%s): udkd is gone", i, fault_names[f]);
		/* nothing leaked: once every driver is back (any fault, or the watchdog on a
		 * loaded machine, may have taken one down again meanwhile) */
		if (!fixture_poll(5000, settled, NULL) && model_recovered()) {
			for (int k = 0; k < N_DRIVERS; k++)
				recovered(c, k, &s);
		}
		if (!fixture_poll(5000, settled, NULL)) {
			int z = 0, kids = udkd_children(&z);
			violation("fault %u (%s on %s): udkd has %d children (%d zombies, want %d), %d descriptors "
				  "(baseline %d), /dev/shm %d entries (baseline %d)",
				  i, fault_names[f], ids[which], kids, z, N_CHILDREN, udkd_fds(), base_fds,
				  count_dir("/dev/shm"), base_shm);
		}
		if (violations == before) {
			s.survived[f]++;
			survived++;
		}
		if ((i + 1) % REPORT_EVERY == 0) {
			test_log("%u faults, %u survived, %lu calls ok, %lu failed with named errors, %.1f s", i + 1,
				 survived, (unsigned long)calls_ok, (unsigned long)calls_err,
				 (double)(now_ms_() - started) / 1000);
			report(&s, seed0, n_faults, false, started);
		}
	}
	atomic_store(&stop_workers, true);
	for (int i = 0; i < N_WORKERS; i++)
		pthread_join(workers[i], NULL);

	report(&s, seed0, n_faults, true, started);
	udk_client_unref(c);
	free(s.recovery_us);
	if (violations)
		FAIL("%u invariant violation(s); the first: %s", (unsigned)violations, first_violation);
	fixture_stop(&fx);
}
