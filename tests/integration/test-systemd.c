/* SPDX-License-Identifier: MIT */
/*
 * udkd under systemd, without systemd running (docs/packaging.md):
 *
 *   - the journal: with --log-target journal:SOCKET udkd writes the
 *     journal's native protocol to a socket this test holds; a driver's
 *     lines carry UDK_DRIVER=its bundle identifier and its pid;
 *   - socket activation: udkd takes the listening socket passed as fd 3
 *     (LISTEN_PID, LISTEN_FDS), refuses one at another path, and leaves
 *     it in place when it stops; readiness and stopping reach NOTIFY_SOCKET;
 *   - a driver linked against a shared library the sandbox does not admit
 *     (the build's libudk-driver.so) fails at launch with exit 127, and
 *     udkd says which library and what to do;
 *   - data/udkd.service.in, checked against what udkd does: udkd runs
 *     with only the unit's CapabilityBoundingSet and no_new_privs (as
 *     root): drivers get their own uids, an app of another user is
 *     admitted by a grant (its identity read from /proc), a killed driver
 *     is restarted, udkd stops its drivers; and, under strace, udkd, its
 *     drivers and models make no system call of the unit's
 *     SystemCallFilter=~ groups, open no socket of a family outside
 *     RestrictAddressFamilies=, map no memory writable and executable
 *     (MemoryDenyWriteExecute=) and make no namespace (RestrictNamespaces=).
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define ID_JOURNAL "org.udk.test.journal"
#define ID_DYN "org.udk.test.dyn"
#define ID_CAPS "org.udk.test.caps"
#define APP_UID 4243

#define RESOURCE_PERSONALITY(name, id, cls)                                                                    \
	"<key>" name "</key><dict>"                                                                            \
	"<key>IOUserClass</key><string>" cls "</string>"                                                       \
	"<key>IOUserServerName</key><string>" id "</string>"                                                   \
	"<key>IOProviderClass</key><string>IOUserResources</string>"                                           \
	"<key>IOMatchCategory</key><string>" name "</string>"                                                  \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>TestUserClient</string></dict>"    \
	"</dict>"

static int
bind_unix(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		FAIL("socket for %s: %m", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("bind %s: %m", path);
	if (type == SOCK_SEQPACKET && listen(fd, 16) < 0)
		FAIL("listen %s: %m", path);
	return fd;
}

/* What to do in the child before exec, and what to run udkd under. */
struct spawn {
	const char *const *prefix;	/* e.g. setpriv ...; NULL: none */
	int listen_fd;			/* passed as fd 3 with LISTEN_*, or -1 */
	const char *notify;		/* NOTIFY_SOCKET, or NULL */
	bool no_connect;		/* do not wait for udkd to answer */
	/*
	 * No LeakSanitizer in udkd (ASan builds): it cannot run under ptrace
	 * (strace), and udkd's refusals at start exit without freeing what
	 * option parsing allocated, as all its start-up refusals do.
	 */
	bool no_leak_check;
};

/* fixture_start(), with a prefix command, socket activation and notification. */
static void
spawn_udkd(struct fixture *f, const struct spawn *sp, ...)
{
	const char *argv[80];
	int n = 0;
	va_list ap;

	for (size_t i = 0; sp->prefix && sp->prefix[i]; i++)
		argv[n++] = sp->prefix[i];
	argv[n++] = build_path("daemon/udkd");
	argv[n++] = "--runtime-dir";
	argv[n++] = f->runtime;
	argv[n++] = "--bundles";
	argv[n++] = f->bundles;
	argv[n++] = "--machine";
	argv[n++] = f->machine;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	argv[n++] = "--state-dir";
	argv[n++] = f->state;
	va_start(ap, sp);
	for (const char *a; (a = va_arg(ap, const char *)) && n < 78;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	f->udkd = fork();
	if (f->udkd < 0)
		FAIL("fork: %m");
	if (f->udkd == 0) {
		int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		char pid[32];
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (sp->listen_fd >= 0) {
			/* dup2 onto itself keeps close-on-exec: clear it */
			if (sp->listen_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(sp->listen_fd, 3) < 0)
				_exit(126);
			snprintf(pid, sizeof(pid), "%d", (int)getpid());
			setenv("LISTEN_PID", pid, 1);
			setenv("LISTEN_FDS", "1", 1);
		}
		if (sp->notify)
			setenv("NOTIFY_SOCKET", sp->notify, 1);
		if (sp->no_leak_check && getenv("ASAN_OPTIONS")) {
			char *o = NULL;
			if (asprintf(&o, "%s:detect_leaks=0", getenv("ASAN_OPTIONS")) > 0)
				setenv("ASAN_OPTIONS", o, 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (sp->no_connect)
		return;
	for (int i = 0; i < 1500; i++) {
		if (udk_client_new(f->runtime, &f->client) >= 0)
			return;
		if (waitpid(f->udkd, NULL, WNOHANG) == f->udkd) {
			char *log = fixture_log(f);
			f->udkd = 0;
			FAIL("udkd exited at start; its log:\n%s", log);
		}
		usleep(10000);
	}
	FAIL("udkd did not come up in 15 s");
}

/* udkd's exit status after SIGTERM to @pid (udkd itself) and waiting for f->udkd. */
static int
stop_udkd(struct fixture *f, pid_t pid)
{
	int status = 0;

	udk_client_unref(f->client);
	f->client = NULL;
	kill(pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(f->udkd, &status, WNOHANG) == f->udkd) {
			f->udkd = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	kill(f->udkd, SIGKILL);
	waitpid(f->udkd, NULL, 0);
	f->udkd = 0;
	FAIL("udkd did not stop within 30 s of SIGTERM");
}

/* ---- the journal ---- */

struct jentry {
	char *fields[32];	/* "KEY=value", NUL-terminated copies */
	size_t n;
};

/* Parse one datagram of the native protocol (both forms). */
static void
parse_entry(const char *p, size_t len, struct jentry *e)
{
	const char *end = p + len;

	e->n = 0;
	while (p < end && e->n < 32) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		if (!nl)
			FAIL("entry does not end in a newline");
		eq = memchr(p, '=', (size_t)(nl - p));
		if (eq) {
			e->fields[e->n++] = strndup(p, (size_t)(nl - p));
			p = nl + 1;
		} else {
			uint64_t vlen;
			char *f;
			if (nl + 1 + 8 > end)
				FAIL("length-prefixed field cut short");
			memcpy(&vlen, nl + 1, 8);
			if (nl + 1 + 8 + vlen + 1 > end)
				FAIL("length-prefixed field longer than the entry");
			if (asprintf(&f, "%.*s=%.*s", (int)(nl - p), p, (int)vlen, nl + 9) < 0)
				FAIL("oom");
			e->fields[e->n++] = f;
			p = nl + 9 + vlen + 1;
		}
	}
}

static const char *
field(const struct jentry *e, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->fields[i], key, kl) && e->fields[i][kl] == '=')
			return e->fields[i] + kl + 1;
	return NULL;
}

static void
free_entry(struct jentry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->fields[i]);
	e->n = 0;
}

/* Read entries from @fd until one has MESSAGE containing @needle (and UDK_DRIVER if @driver). */
static bool
find_entry(int fd, const char *needle, const char *driver, struct jentry *out, int timeout_ms)
{
	static char buf[65536];

	for (int waited = 0; waited < timeout_ms;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&pf, 1, 100) <= 0) {
			waited += 100;
			continue;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			continue;
		parse_entry(buf, (size_t)n, out);
		if (field(out, "MESSAGE") && strstr(field(out, "MESSAGE"), needle) &&
		    (!driver || streq(field(out, "UDK_DRIVER"), driver)))
			return true;
		free_entry(out);
	}
	return false;
}

TEST_FULL(journal_fields, 120)
{
	struct fixture f;
	struct jentry e = { 0 };
	char sock[400], target[420], pid[32];
	uint64_t sid;
	int jfd;
	char *log, *out;
	int64_t dpid;

	fixture_init(&f);
	snprintf(sock, sizeof(sock), "%s/journal.sock", f.dir);
	snprintf(target, sizeof(target), "journal:%s", sock);
	jfd = bind_unix(sock, SOCK_DGRAM);
	fixture_add_bundle(&f, "Journal.dext", ID_JOURNAL,
			   TEST_PERSONALITY("J", ID_JOURNAL, "IOUserResources",
					    "<key>IOMatchCategory</key><string>J</string>"));
	fixture_start(&f, "--log-target", target, NULL);

	/* udkd's own lines: no driver field */
	ASSERT_TRUE(find_entry(jfd, "ready on", NULL, &e, 10000));
	ASSERT_STREQ(field(&e, "SYSLOG_IDENTIFIER"), "udkd");
	ASSERT_STREQ(field(&e, "UDK_SOURCE"), "udkd");
	ASSERT_STREQ(field(&e, "PRIORITY"), "5"); /* notice */
	ASSERT_TRUE(field(&e, "UDK_DRIVER") == NULL);
	free_entry(&e);

	sid = fixture_wait_class(&f, "TestDriver", 10000);
	ASSERT_TRUE(sid != 0);
	/* the driver's own line, udk_log_info() in testdrv's start */
	ASSERT_TRUE(find_entry(jfd, "testdrv starting on", ID_JOURNAL, &e, 10000));
	ASSERT_STREQ(field(&e, "PRIORITY"), "6"); /* info */
	ASSERT_STREQ(field(&e, "SYSLOG_IDENTIFIER"), "udkd");
	ASSERT_NOT_NULL(field(&e, "UDK_DRIVER_PID"));
	/* the pid is the driver's: the one udkctl drivers shows */
	out = fixture_udkctl(&f, NULL, "drivers " ID_JOURNAL);
	dpid = strtoll(field(&e, "UDK_DRIVER_PID"), NULL, 10);
	snprintf(pid, sizeof(pid), "pid %lld", (long long)dpid);
	if (!strstr(out, pid))
		FAIL("UDK_DRIVER_PID=%lld, but udkctl drivers says:\n%s", (long long)dpid, out);
	free(out);
	/* MESSAGE keeps the prefix other targets show */
	ASSERT_TRUE(!strncmp(field(&e, "MESSAGE"), ID_JOURNAL "[", strlen(ID_JOURNAL) + 1));
	free_entry(&e);

	/* nothing of it went to stderr */
	log = fixture_log(&f);
	if (strstr(log, "testdrv starting on") || strstr(log, "ready on"))
		FAIL("with the journal as target, lines still went to stderr:\n%s", log);
	free(log);
	fixture_stop(&f);
	close(jfd);
}

TEST_FULL(journal_unreachable_is_an_error, 60)
{
	struct fixture f;
	char target[420];
	int status;
	char *log;

	fixture_init(&f);
	snprintf(target, sizeof(target), "journal:%s/nobody-listens.sock", f.dir);
	spawn_udkd(&f, &(struct spawn){ .listen_fd = -1, .no_connect = true, .no_leak_check = true }, "--log-target",
		   target, NULL);
	waitpid(f.udkd, &status, 0);
	f.udkd = 0;
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "cannot reach the journal at");
	ASSERT_CONTAINS(log, "nobody-listens.sock");
	free(log);
}

/* ---- socket activation and readiness ---- */

static char *
recv_text(int fd, int timeout_ms)
{
	char buf[256];
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pf, 1, timeout_ms) <= 0)
		return NULL;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	return strdup(buf);
}

TEST_FULL(socket_activation_and_notify, 120)
{
	struct fixture f;
	char sock[400], notify[400], *msg, *out;
	struct stat st;
	int lfd, nfd, st_code;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c;

	fixture_init(&f);
	mkdir(f.runtime, 0755);
	snprintf(sock, sizeof(sock), "%s/udkd.sock", f.runtime);
	snprintf(notify, sizeof(notify), "%s/notify.sock", f.dir);
	lfd = bind_unix(sock, SOCK_SEQPACKET);
	nfd = bind_unix(notify, SOCK_DGRAM);
	spawn_udkd(&f, &(struct spawn){ .listen_fd = lfd, .notify = notify }, NULL);

	msg = recv_text(nfd, 10000);
	ASSERT_STREQ(msg, "READY=1");
	free(msg);
	out = fixture_udkctl(&f, &st_code, "status");
	ASSERT_EQ(st_code, 0);
	free(out);
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "the socket systemd passed");
	free(out);

	ASSERT_EQ(stop_udkd(&f, f.udkd), 0);
	msg = recv_text(nfd, 10000);
	ASSERT_STREQ(msg, "STOPPING=1");
	free(msg);
	/* systemd's socket outlives udkd: the next client waits in its backlog */
	ASSERT_TRUE(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
	c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	ASSERT_TRUE(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(c);
	close(lfd);
	close(nfd);
}

TEST_FULL(socket_activation_at_another_path_is_refused, 60)
{
	struct fixture f;
	char other[400], *log;
	int lfd, status;

	fixture_init(&f);
	snprintf(other, sizeof(other), "%s/other.sock", f.dir);
	lfd = bind_unix(other, SOCK_SEQPACKET);
	spawn_udkd(&f, &(struct spawn){ .listen_fd = lfd, .no_connect = true, .no_leak_check = true }, NULL);
	waitpid(f.udkd, &status, 0);
	f.udkd = 0;
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "systemd passed a socket at");
	ASSERT_CONTAINS(log, "other.sock");
	ASSERT_CONTAINS(log, "ListenSequentialPacket=");
	free(log);
	close(lfd);
}

/* ---- a shared library the sandbox does not admit ---- */

/* Rename the library testdyn needs in the bundle's copy (same length), so only the loader finds out. */
static void
rename_needed_library(struct fixture *f, const char *dirname, const char *exe)
{
	static const char from[] = "libudk-driver.so.0", to[] = "libudk-drivex.so.0";
	char path[600];
	struct stat st;
	char *data, *at;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", f->bundles, dirname, exe);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(fstat(fd, &st));
	data = malloc((size_t)st.st_size);
	ASSERT_NOT_NULL(data);
	ASSERT_EQ(pread(fd, data, (size_t)st.st_size, 0), st.st_size);
	at = memmem(data, (size_t)st.st_size, from, sizeof(from));
	ASSERT_NOT_NULL(at);
	ASSERT_EQ(pwrite(fd, to, sizeof(to) - 1, at - data), (ssize_t)(sizeof(to) - 1));
	free(data);
	close(fd);
}

TEST_FULL(loader_failure_is_explained, 180)
{
	struct fixture f;

	/* found only through a RUNPATH the sandbox hides: caught when the bundle loads, never launched */
	fixture_init(&f);
	fixture_add_bundle_exe(&f, "Dyn.dext", ID_DYN, "tests/testdyn",
			       RESOURCE_PERSONALITY("Dyn", ID_DYN, "DynDriver"));
	fixture_start(&f, NULL);
	{
		char *out = fixture_udkctl(&f, NULL, "drivers " ID_DYN);
		ASSERT_CONTAINS(out, "needs the shared library libudk-driver.so.0, which its RUNPATH finds in");
		ASSERT_CONTAINS(out, "a directory the driver sandbox hides");
		ASSERT_CONTAINS(out, "Link it statically");
		ASSERT_CONTAINS(out, "UDK_E_LIBRARY");
		ASSERT_CONTAINS(out, "started 0 times");
		free(out);
	}
	fixture_stop(&f);

	/* a library found nowhere: a warning at load, and the loader's exit 127 explained */
	fixture_init(&f);
	fixture_add_bundle_exe(&f, "Dyn.dext", ID_DYN, "tests/testdyn",
			       RESOURCE_PERSONALITY("Dyn", ID_DYN, "DynDriver"));
	rename_needed_library(&f, "Dyn.dext", "testdyn");
	fixture_start(&f, "--crash-limit", "2", "--restart-base-ms", "10", NULL);
	/* the instance's reason, then the crash loop's */
	if (!fixture_wait_output(&f, "drivers " ID_DYN, "crash loop", 60000)) {
		char *out = fixture_udkctl(&f, NULL, "drivers " ID_DYN), *log = fixture_log(&f);
		FAIL("no crash loop; udkctl drivers:\n%s\nudkd's log:\n%s", out, log);
	}
	{
		char *out = fixture_udkctl(&f, NULL, "drivers " ID_DYN);
		ASSERT_CONTAINS(out, "needs the shared library libudk-drivex.so.0, which udkd finds in none of the system "
				     "library directories");
		ASSERT_CONTAINS(out, "exited with status 127 during launch: the driver needs the shared library "
				     "libudk-drivex.so.0, which the loader could not load (No such file or directory)");
		ASSERT_CONTAINS(out, "a driver loads libraries only from /usr/lib, /lib");
		ASSERT_CONTAINS(out, "or link it statically");
		free(out);
		out = fixture_udkctl(&f, NULL, "--json drivers " ID_DYN);
		/* the crash record has the library's code, not a bare "driver died" */
		ASSERT_CONTAINS(out, "\"code\": \"UDK_E_LIBRARY\",\n          \"reason\": \"the driver exited with status 127 "
				     "during launch: the driver needs the shared library libudk-drivex.so.0");
		free(out);
	}
	fixture_stop(&f);

	/* the same bundle without the sandbox: the library was the only problem */
	fixture_init(&f);
	fixture_add_bundle_exe(&f, "Dyn.dext", ID_DYN, "tests/testdyn",
			       RESOURCE_PERSONALITY("Dyn", ID_DYN, "DynDriver"));
	fixture_start(&f, "--no-sandbox", NULL);
	ASSERT_TRUE(fixture_wait_class(&f, "DynDriver", 20000) != 0);
	fixture_stop(&f);
}

/* ---- the unit's directives, against what udkd does ---- */

/* The value of @key= in data/udkd.service.in (malloc'ed, the last one if repeated). */
static char *
unit_value(const char *key)
{
	char path[600], line[1024], *v = NULL;
	size_t kl = strlen(key);
	FILE *fp;

	snprintf(path, sizeof(path), "%s/data/udkd.service.in", test_source_root());
	fp = fopen(path, "r");
	if (!fp)
		FAIL("cannot read %s: %m", path);
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			line[strcspn(line, "\n")] = 0;
			free(v);
			v = strdup(line + kl + 1);
		}
	fclose(fp);
	if (!v)
		FAIL("%s has no %s=", path, key);
	return v;
}

static unsigned
uid_of(pid_t pid)
{
	char path[64], line[256];
	unsigned uid = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "Uid: %u", &uid) == 1)
			break;
	fclose(fp);
	return uid;
}

static char *
proc_status_line(pid_t pid, const char *key)
{
	char path[64], line[256];
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return NULL;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, key, strlen(key))) {
			fclose(fp);
			line[strcspn(line, "\n")] = 0;
			return strdup(line + strlen(key));
		}
	fclose(fp);
	return NULL;
}

/* The pid of @id's running instance (udkctl --json drivers ID), or 0. */
static int64_t
driver_pid(struct fixture *f, const char *id)
{
	char args[200], *out, *p;
	int64_t pid = 0;

	snprintf(args, sizeof(args), "--json drivers %s", id);
	out = fixture_udkctl(f, NULL, args);
	if ((p = strstr(out, "\"state\": \"running\"")) && (p = strstr(p, "\"pid\"")))
		pid = strtoll(p + 5 + strspn(p + 5, " :"), NULL, 10);
	free(out);
	return pid;
}

/* Run @argv as @uid; its output (malloc'ed), exit status in *ret. */
static char *
run_as(uid_t uid, int *ret, const char *const argv[])
{
	int p[2], status = 0;
	char *out = NULL;
	size_t len = 0;
	FILE *mem;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		FAIL("pipe: %m");
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	mem = open_memstream(&out, &len);
	for (;;) {
		char buf[1024];
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, mem);
	}
	close(p[0]);
	fclose(mem);
	waitpid(pid, &status, 0);
	*ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return out;
}

/* A bundle of testdrv that only granted apps may open (no allow-any-userclient-access). */
static void
add_granted_only_bundle(struct fixture *f)
{
	fixture_add_bundle(f, "Caps.dext", ID_CAPS,
			   TEST_PERSONALITY("Caps", ID_CAPS, "IOUserResources",
					    "<key>IOMatchCategory</key><string>Caps</string>"));
	fixture_bundle_file(f, "Caps.dext", "Entitlements.plist",
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
			    "<key>com.apple.developer.driverkit</key><true/></dict></plist>\n");
}

TEST_FULL(unit_capability_bounding_set, 240)
{
	struct fixture f;
	char *caps = unit_value("CapabilityBoundingSet"), *setpriv_caps = NULL, *bnd, *out;
	const char *prefix[8];
	char grant[800], app[600];
	unsigned long long mask = 0, want = 0;
	int64_t pid1, pid2;
	int st;

	if (geteuid() != 0)
		test_skip("udkd's capabilities matter only as root");
	if (access("/usr/bin/setpriv", X_OK) != 0)
		test_skip("setpriv (util-linux) is not installed");
	/* CAP_SETUID CAP_KILL ... -> -all,+setuid,+kill,... (and the mask to expect) */
	{
		static const struct {
			const char *name;
			int bit;
		} bits[] = {
			{ "CAP_CHOWN", 0 },  { "CAP_DAC_OVERRIDE", 1 }, { "CAP_DAC_READ_SEARCH", 2 }, { "CAP_FOWNER", 3 },
			{ "CAP_KILL", 5 },   { "CAP_SETGID", 6 },	{ "CAP_SETUID", 7 },	      { "CAP_SETPCAP", 8 },
			{ "CAP_SYS_PTRACE", 19 }, { "CAP_SYS_ADMIN", 21 }, { "CAP_SYS_RESOURCE", 24 },
		};
		char buf[512] = "-all";
		char *save = NULL, *copy = strdup(caps);
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			bool known = false;
			for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
				if (streq(t, bits[i].name)) {
					want |= 1ull << bits[i].bit;
					known = true;
				}
			if (!known)
				FAIL("the unit names %s, which this test does not know", t);
			strcat(buf, ",+");
			for (const char *c = t + 4; *c; c++) {
				size_t l = strlen(buf);
				buf[l] = (char)(*c >= 'A' && *c <= 'Z' ? *c | 0x20 : *c);
				buf[l + 1] = 0;
			}
		}
		free(copy);
		setpriv_caps = strdup(buf);
	}
	prefix[0] = "/usr/bin/setpriv";
	prefix[1] = "--bounding-set";
	prefix[2] = setpriv_caps;
	prefix[3] = "--inh-caps=-all";
	prefix[4] = "--no-new-privs";
	prefix[5] = NULL;

	fixture_init(&f);
	add_granted_only_bundle(&f);
	spawn_udkd(&f, &(struct spawn){ .prefix = prefix, .listen_fd = -1 }, NULL);
	bnd = proc_status_line(f.udkd, "CapBnd:");
	ASSERT_NOT_NULL(bnd);
	mask = strtoull(bnd, NULL, 16);
	if (mask != want)
		FAIL("udkd's bounding set is %s, the unit's (%s) is %llx", bnd, caps, want);
	free(bnd);
	bnd = proc_status_line(f.udkd, "NoNewPrivs:");
	ASSERT_TRUE(bnd && strtol(bnd, NULL, 10) == 1);
	free(bnd);

	/* drivers run as their own uids (CAP_SETUID, CAP_SETGID, CAP_SETPCAP) */
	ASSERT_TRUE(fixture_wait_class(&f, "TestDriver", 20000) != 0);
	/* the service registers from Start(); udkctl may list the instance as running a moment later */
	for (int i = 0; i < 1000 && (pid1 = driver_pid(&f, ID_CAPS)) <= 0; i++)
		usleep(20000);
	if (pid1 <= 0) {
		out = fixture_udkctl(&f, NULL, "--json drivers " ID_CAPS);
		FAIL("no running instance of %s in 20 s:\n%s", ID_CAPS, out);
	}
	if (uid_of((pid_t)pid1) < 2130706432u)
		FAIL("the driver runs as uid %u, not one of its own", uid_of((pid_t)pid1));

	/* an app of another user, admitted by a grant: udkd reads its identity (CAP_SYS_PTRACE) */
	snprintf(app, sizeof(app), "%s/app", f.dir);
	{
		char *cmd = NULL;
		if (asprintf(&cmd, "cp %s %s && chmod 755 %s", build_path("tests/hostile-app"), app, app) < 0 ||
		    system(cmd) != 0)
			FAIL("cannot copy hostile-app");
		free(cmd);
	}
	snprintf(grant, sizeof(grant), "access grant %s %s", ID_CAPS, app);
	out = fixture_udkctl(&f, &st, grant);
	if (st != 0)
		FAIL("udkctl %s: %s", grant, out);
	free(out);
	out = run_as(APP_UID, &st, (const char *const[]){ app, "open", f.runtime, ID_CAPS, NULL });
	if (!strstr(out, "open: ok"))
		FAIL("the granted app of uid %d was not admitted: %s\nudkd's log:\n%s", APP_UID, out, fixture_log(&f));
	free(out);

	/* a driver killed is restarted; udkd can signal its uid (CAP_KILL) */
	ASSERT_TRUE(kill((pid_t)pid1, SIGKILL) == 0);
	for (int i = 0; i < 1000 && ((pid2 = driver_pid(&f, ID_CAPS)) == pid1 || pid2 <= 0); i++)
		usleep(20000);
	ASSERT_TRUE(pid2 > 0 && pid2 != pid1);
	out = fixture_udkctl(&f, &st, "restart " ID_CAPS);
	free(out);
	/* and it stops them all, cleanly */
	fixture_stop(&f);
	free(setpriv_caps);
	free(caps);
}

/* Expand systemd's syscall groups (systemd-analyze syscall-filter @a @b ...) into a newline list. */
static char *
expand_groups(const char *groups)
{
	char *cmd = NULL, *out = NULL;
	size_t len = 0;
	FILE *p, *mem;
	char line[256];

	if (asprintf(&cmd, "systemd-analyze syscall-filter %s 2>/dev/null", groups) < 0)
		FAIL("oom");
	p = popen(cmd, "r");
	if (!p)
		FAIL("popen: %m");
	mem = open_memstream(&out, &len);
	while (fgets(line, sizeof(line), p)) {
		char *s = line + strspn(line, " ");
		s[strcspn(s, "\n")] = 0;
		if (*s && *s != '#' && *s != '@')
			fprintf(mem, "\n%s\n", s);
	}
	pclose(p);
	fclose(mem);
	free(cmd);
	return out;
}

TEST_FULL(unit_syscall_filter_and_restrictions, 600)
{
	struct fixture f;
	char trace[400], *filter = unit_value("SystemCallFilter"), *denied, *families, *out;
	const char *prefix[8];
	int64_t udkd_pid = 0;
	FILE *fp;
	char line[4096];
	size_t calls = 0;

	if (access("/usr/bin/strace", X_OK) != 0)
		test_skip("strace is not installed");
	if (system("command -v systemd-analyze >/dev/null 2>&1") != 0)
		test_skip("systemd-analyze is not installed");
	if (filter[0] != '~')
		FAIL("SystemCallFilter= is expected to be a deny list (~...), is %s", filter);
	denied = expand_groups(filter + 1);
	if (!strstr(denied, "\nclock_settime\n") || !strstr(denied, "\ninit_module\n"))
		FAIL("systemd-analyze did not expand %s: %s", filter, denied);
	families = unit_value("RestrictAddressFamilies");

	fixture_init(&f);
	snprintf(trace, sizeof(trace), "%s/strace.out", f.dir);
	prefix[0] = "/usr/bin/strace";
	prefix[1] = "-f";
	prefix[2] = "-qq";
	prefix[3] = "-o";
	prefix[4] = trace;
	prefix[5] = "--";
	prefix[6] = NULL;
	fixture_add_bundle(&f, "Trace.dext", ID_JOURNAL,
			   TEST_PERSONALITY("T", ID_JOURNAL, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"));
	fixture_add_bundle_exe(&f, "Pci.dext", "org.udk.test.tracepci", "tests/testpci",
			       TESTPCI_PERSONALITY("P", "org.udk.test.tracepci", ""));
	fixture_set_machine_devices(&f, "", TEST_DEVICE("pcitest0", "pci-test", ""));
	spawn_udkd(&f, &(struct spawn){ .prefix = prefix, .listen_fd = -1, .no_leak_check = true }, NULL);
	ASSERT_TRUE(fixture_wait_class(&f, "TestDriver", 60000) != 0);
	ASSERT_TRUE(fixture_wait_class(&f, "TestPciDriver", 60000) != 0);
	/* an app's call, a driver crash and restart, a stop: the paths udkd takes */
	{
		struct udk_connection *conn = NULL;
		uint64_t id = fixture_wait_class(&f, "TestDriver", 1000), in[2] = { 40, 2 }, o[1];
		uint32_t n = 1;
		ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
		ASSERT_OK(udk_connection_call(conn, SEL_ADD, in, 2, NULL, 0, o, &n, NULL, NULL));
		udk_connection_unref(conn);
	}
	out = fixture_udkctl(&f, NULL, "--json status");
	{
		char *p = strstr(out, "\"pid\"");
		if (p)
			udkd_pid = strtoll(p + 5 + strspn(p + 5, " :"), NULL, 10);
	}
	free(out);
	ASSERT_TRUE(udkd_pid > 0);
	ASSERT_EQ(stop_udkd(&f, (pid_t)udkd_pid), 0);

	fp = fopen(trace, "r");
	if (!fp)
		FAIL("no strace output: %m");
	while (fgets(line, sizeof(line), fp)) {
		char name[64], key[80];
		/* "PID name(args) = result" */
		if (sscanf(line, "%*d %63[a-z0-9_](", name) != 1)
			continue;
		calls++;
		snprintf(key, sizeof(key), "\n%s\n", name);
		if (strstr(denied, key))
			FAIL("udkd or a driver called %s, which the unit's SystemCallFilter=%s denies:\n%s", name,
			     filter, line);
		if (streq(name, "socket")) {
			char fam[32] = "";
			if (sscanf(line, "%*d socket(%31[A-Z0-9_]", fam) == 1 && !strstr(families, fam))
				FAIL("a socket of family %s, outside RestrictAddressFamilies=%s:\n%s", fam, families, line);
		}
		if ((streq(name, "mmap") || streq(name, "mprotect") || streq(name, "pkey_mprotect")) &&
		    strstr(line, "PROT_WRITE") && strstr(line, "PROT_EXEC"))
			FAIL("memory mapped writable and executable, which MemoryDenyWriteExecute= denies:\n%s", line);
		if ((streq(name, "unshare") || streq(name, "setns") || strstr(name, "clone")) &&
		    strstr(line, "CLONE_NEW"))
			FAIL("a namespace, which RestrictNamespaces= denies:\n%s", line);
	}
	fclose(fp);
	test_log("%zu system calls of udkd, its drivers and its model checked", calls);
	ASSERT_TRUE(calls > 1000);
	free(denied);
	free(families);
	free(filter);
}
