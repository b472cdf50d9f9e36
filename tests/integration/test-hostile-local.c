/* SPDX-License-Identifier: MIT */
/*
 * udkd against a local user without privileges, and against hostile
 * bundles (issue 17, attacks 1-4 and 8-12): one test per attack.  Each
 * failed on the code before the fix (a crash, a hang, a bypass, a leak)
 * and passes after it.
 *
 * The tests run as root; the attacker's side runs as ATTACKER_UID, a uid
 * with no account and no rights, through fork and setresuid.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "proto.h"
#include "test.h"
#include "wire.h"

#define ATTACKER_UID 4242
#define ID_BAD "org.udk.test.bad"
#define ID_GOOD "org.udk.test.good"

/* ---- running things as someone ---- */

static void
become(uid_t uid)
{
	if (uid == 0)
		return;
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(126);
}

/*
 * Run @argv as @uid; returns its output (stdout and stderr, malloc'ed).
 * *ret_status: its exit status, or -1 when it had not finished after
 * @deadline_s seconds (a hang: it is killed).  The deadline only tells a
 * hang from an answer; it is not a performance threshold.
 */
static char *
run_as(uid_t uid, int deadline_s, int *ret_status, const char *const argv[])
{
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	int p[2], status = 0;
	pid_t pid;
	bool hung = false;

	if (!mem || pipe2(p, O_CLOEXEC) < 0)
		FAIL("pipe: %m");
	pid = fork();
	if (pid < 0)
		FAIL("fork: %m");
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		become(uid);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		char buf[4096];
		ssize_t n;
		int r = poll(&pf, 1, deadline_s * 1000);
		if (r == 0) {
			hung = true;
			kill(pid, SIGKILL);
			break;
		}
		n = read(p[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, mem);
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	fclose(mem);
	if (ret_status)
		*ret_status = hung ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return out;
}

/* udkctl ARGS (split at spaces) as @uid. */
static char *
udkctl_as(struct fixture *f, uid_t uid, int deadline_s, int *ret_status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static char *
udkctl_as(struct fixture *f, uid_t uid, int deadline_s, int *ret_status, const char *fmt, ...)
{
	const char *argv[32];
	char *args = NULL, *save = NULL, *out;
	va_list ap;
	int n = 0;

	va_start(ap, fmt);
	if (vasprintf(&args, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	argv[n++] = build_path("tools/udkctl");
	argv[n++] = "--runtime-dir";
	argv[n++] = f->runtime;
	for (char *t = strtok_r(args, " ", &save); t && n < 31; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n] = NULL;
	out = run_as(uid, deadline_s, ret_status, argv);
	free(args);
	return out;
}

static char *
sh(int *ret_status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
sh(int *ret_status, const char *fmt, ...)
{
	char *cmd = NULL;
	const char *argv[4] = { "/bin/sh", "-c", NULL, NULL };
	va_list ap;
	char *out;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	argv[2] = cmd;
	out = run_as(0, 120, ret_status, argv);
	free(cmd);
	return out;
}

/* udkd is still the process the fixture started, and answers. */
static void
assert_udkd_alive(struct fixture *f)
{
	int st, status;
	char *out;

	if (waitpid(f->udkd, &status, WNOHANG) == f->udkd) {
		char *log = fixture_log(f);
		f->udkd = 0;
		FAIL("udkd died (%s %d); its log:\n%s", WIFSIGNALED(status) ? "signal" : "exit status",
		     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), log);
	}
	out = udkctl_as(f, 0, 60, &st, "status");
	if (st != 0)
		FAIL("udkd does not answer `udkctl status` (%d): %s", st, out);
	free(out);
}

/* A directory of the attacker's own, inside the fixture. */
static const char *
attacker_dir(struct fixture *f)
{
	static char path[400];

	snprintf(path, sizeof(path), "%s/attacker", f->dir);
	mkdir(path, 0755);
	if (chown(path, ATTACKER_UID, ATTACKER_UID) < 0)
		FAIL("chown %s: %m", path);
	return path;
}

static void
write_bytes_as(uid_t uid, const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		FAIL("cannot write %s: %m", path);
	close(fd);
	if (uid && chown(path, uid, uid) < 0)
		FAIL("chown %s: %m", path);
}

static void
copy_as(uid_t uid, const char *from, const char *to)
{
	int st;
	char *out = sh(&st, "cp %s %s && chmod 0755 %s", from, to, to);

	if (st != 0)
		FAIL("cp: %s", out);
	free(out);
	if (uid && chown(to, uid, uid) < 0)
		FAIL("chown %s: %m", to);
}

/* Two drivers on IOUserResources; Bad.dext admits only apps it was told about. */
static void
two_bundles(struct fixture *f)
{
	fixture_init(f);
	fixture_add_bundle(f, "Good.dext", ID_GOOD,
			   TEST_PERSONALITY("G", ID_GOOD, "IOUserResources", "<key>IOMatchCategory</key><string>G</string>"));
	fixture_add_bundle(f, "Bad.dext", ID_BAD,
			   TEST_PERSONALITY("B", ID_BAD, "IOUserResources", "<key>IOMatchCategory</key><string>B</string>"));
	fixture_bundle_file(f, "Bad.dext", "Entitlements.plist",
			    "<plist version=\"1.0\"><dict><key>com.apple.developer.driverkit</key><true/>"
			    "</dict></plist>\n");
}

static bool
running(struct fixture *f, const char *id)
{
	char args[300];
	snprintf(args, sizeof(args), "drivers %s", id);
	return fixture_wait_output(f, args, "running, pid", 20000);
}

/* ---- a raw control connection (what any local user can open) ---- */

static int
raw_connect(struct fixture *f, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct udk_value *hello = udk_value_new_dict();
	struct wire_msg m;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (strlen(f->runtime) + sizeof("/udkd.sock") > sizeof(sa.sun_path))
		FAIL("runtime directory path too long");
	memcpy(sa.sun_path, f->runtime, strlen(f->runtime));
	memcpy(sa.sun_path + strlen(f->runtime), "/udkd.sock", sizeof("/udkd.sock"));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("connect %s: %m", sa.sun_path);
	udk_dict_set_int(hello, "version", PROTO_VERSION);
	udk_dict_set_string(hello, "name", name);
	if (wire_send_value(fd, OP_HELLO, 0, 1, 0, hello, NULL, 0) < 0 || wire_recv(fd, &m, false) < 0)
		FAIL("hello failed");
	if (m.h.status < 0)
		FAIL("hello refused: %d", m.h.status);
	wire_msg_clear(&m);
	udk_value_unref(hello);
	return fd;
}

/* Wait for the reply to @serial (notifications are skipped); -ETIMEDOUT after @timeout_ms. */
static int
raw_reply(int fd, uint32_t serial, int timeout_ms, struct udk_value **ret_body)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct wire_msg m;
		int r = poll(&p, 1, timeout_ms);
		if (r == 0)
			return -ETIMEDOUT;
		if (wire_recv(fd, &m, false) < 0)
			return -ECONNRESET;
		if (!(m.h.flags & WIRE_F_REPLY) || m.h.serial != serial) {
			wire_msg_clear(&m);
			continue;
		}
		r = m.h.status;
		if (ret_body)
			*ret_body = udk_value_ref(m.body);
		wire_msg_clear(&m);
		return r;
	}
}

static int
raw_call(int fd, uint32_t serial, uint16_t op, struct udk_value *body, struct udk_value **ret_body)
{
	int r = wire_send_value(fd, op, 0, serial, 0, body, NULL, 0);
	udk_value_unref(body);
	if (r < 0)
		return r;
	return raw_reply(fd, serial, 60000, ret_body);
}

/* The bundle's description, as `udkctl drivers` gets it. */
static struct udk_value *
describe(int fd, const char *id)
{
	static uint32_t serial = 1000;
	struct udk_value *b = udk_value_new_dict(), *reply = NULL, *one;
	int r;

	udk_dict_set_string(b, "driver", id);
	r = raw_call(fd, serial++, OP_DRIVERS, b, &reply);
	if (r < 0) {
		udk_value_unref(reply);
		return NULL;
	}
	one = udk_value_ref(udk_array_get(udk_dict_get(reply, "bundles"), 0));
	udk_value_unref(reply);
	return one;
}

/* ---- hostile files ---- */

/* A binary plist of @depth arrays, each holding the next. */
static uint8_t *
deep_bplist(unsigned depth, size_t *ret_len)
{
	size_t n = (size_t)depth + 1, objs = 8, table = objs + 5 * (size_t)depth + 1, len = table + 4 * n + 32;
	uint8_t *p = calloc(1, len), *t;

	if (!p)
		FAIL("oom");
	memcpy(p, "bplist00", 8);
	for (size_t i = 0; i < n; i++) {
		size_t off = objs + 5 * i;
		uint32_t next = (uint32_t)(i + 1);
		p[off] = i < depth ? 0xa1 : 0xa0;
		if (i < depth) {
			p[off + 1] = (uint8_t)(next >> 24);
			p[off + 2] = (uint8_t)(next >> 16);
			p[off + 3] = (uint8_t)(next >> 8);
			p[off + 4] = (uint8_t)next;
		}
		p[table + 4 * i] = (uint8_t)(off >> 24);
		p[table + 4 * i + 1] = (uint8_t)(off >> 16);
		p[table + 4 * i + 2] = (uint8_t)(off >> 8);
		p[table + 4 * i + 3] = (uint8_t)off;
	}
	t = p + len - 32;
	t[6] = 4; /* offset size */
	t[7] = 4; /* reference size */
	for (int i = 0; i < 8; i++) {
		t[8 + 7 - i] = (uint8_t)((uint64_t)n >> (8 * i));		  /* objects */
		t[16 + 7 - i] = 0;						  /* top object */
		t[24 + 7 - i] = (uint8_t)((uint64_t)table >> (8 * i));	  /* offset table */
	}
	*ret_len = len;
	return p;
}

/* ---- 1: deep property lists ---- */

TEST_FULL(deep_binary_plists_from_a_user_or_a_bundle_are_refused_and_udkd_lives, 300)
{
	struct fixture f;
	const char *dir;
	char app[600], sig[700], path[700], *out;
	const char *argv[6];
	uint8_t *deep;
	size_t len;
	int st;

	two_bundles(&f);
	dir = attacker_dir(&f);
	deep = deep_bplist(100000, &len);
	snprintf(app, sizeof(app), "%s/app", dir);
	copy_as(ATTACKER_UID, build_path("tests/hostile-app"), app);
	snprintf(sig, sizeof(sig), "%s/app.udksig", dir);
	write_bytes_as(ATTACKER_UID, sig, deep, len);
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_BAD));

	/* APP.udksig, through explain */
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "access explain %s %s", ID_BAD, app);
	test_log("explain: %s", out);
	ASSERT_CONTAINS(out, "refused (UDK_E_NOT_PERMITTED)");
	free(out);
	assert_udkd_alive(&f);

	/* APP.udksig, through opening a user client as that app */
	argv[0] = app;
	argv[1] = "open";
	argv[2] = f.runtime;
	argv[3] = ID_BAD;
	argv[4] = NULL;
	out = run_as(ATTACKER_UID, 60, &st, argv);
	test_log("open: %s", out);
	ASSERT_CONTAINS(out, "open: UDK_E_NOT_PERMITTED");
	free(out);
	assert_udkd_alive(&f);
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "nested deeper than 32 levels");
	free(out);

	/* a bundle's binary Info.plist */
	snprintf(path, sizeof(path), "%s/Deep.dext", f.bundles);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/Deep.dext/Info.plist", f.bundles);
	write_bytes_as(0, path, deep, len);
	free(udkctl_as(&f, 0, 120, &st, "rescan"));
	assert_udkd_alive(&f);
	out = udkctl_as(&f, 0, 60, &st, "drivers Deep.dext");
	test_log("%s", out);
	ASSERT_CONTAINS(out, "(Deep.dext): invalid");
	ASSERT_CONTAINS(out, "nested deeper than 32 levels");
	free(out);
	free(deep);
	ASSERT_TRUE(running(&f, ID_GOOD));
	fixture_stop(&f);
}

/* ---- 2: hangs ---- */

TEST_FULL(fifos_and_endless_files_get_an_answer_and_root_is_served_during_a_long_hash, 300)
{
	struct fixture f;
	const char *dir;
	char fifo[600], app[600], sigfifo[700], path[700], big[600], *out;
	int st, fd;

	two_bundles(&f);
	dir = attacker_dir(&f);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ASSERT_OK(mkfifo(fifo, 0666));
	ASSERT_OK(chown(fifo, ATTACKER_UID, ATTACKER_UID));
	snprintf(app, sizeof(app), "%s/app", dir);
	copy_as(ATTACKER_UID, "/bin/true", app);
	snprintf(sigfifo, sizeof(sigfifo), "%s/app.udksig", dir);
	ASSERT_OK(mkfifo(sigfifo, 0666));
	ASSERT_OK(chown(sigfifo, ATTACKER_UID, ATTACKER_UID));
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_BAD));

	/* /dev/zero never ends */
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "access explain %s /dev/zero", ID_BAD);
	test_log("/dev/zero: %s", out);
	ASSERT_NE(st, -1);
	ASSERT_CONTAINS(out, "not a regular file");
	free(out);
	/* a FIFO as the app */
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "access explain %s %s", ID_BAD, fifo);
	test_log("FIFO app: %s", out);
	ASSERT_NE(st, -1);
	ASSERT_CONTAINS(out, "not a regular file");
	free(out);
	/* a FIFO as APP.udksig */
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "access explain %s %s", ID_BAD, app);
	test_log("FIFO APP.udksig: %s", out);
	ASSERT_NE(st, -1);
	ASSERT_CONTAINS(out, "refused (UDK_E_NOT_PERMITTED)");
	free(out);
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "app.udksig: its signature is not accepted: cannot be read: it is not a regular file");
	free(out);
	assert_udkd_alive(&f);

	/* a FIFO as a bundle's Info.plist */
	snprintf(path, sizeof(path), "%s/Fifo.dext", f.bundles);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/Fifo.dext/Info.plist", f.bundles);
	ASSERT_OK(mkfifo(path, 0644));
	out = udkctl_as(&f, 0, 60, &st, "rescan");
	ASSERT_NE(st, -1);
	free(out);
	out = udkctl_as(&f, 0, 60, &st, "drivers Fifo.dext");
	test_log("%s", out);
	ASSERT_CONTAINS(out, "Info.plist: is not a regular file");
	free(out);

	/*
	 * A long hash (a 256 MiB file, all holes) asked for by the attacker:
	 * root's tree is answered while it runs.
	 */
	snprintf(big, sizeof(big), "%s/big", dir);
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(ftruncate(fd, 256ll << 20));
	close(fd);
	ASSERT_OK(chown(big, ATTACKER_UID, ATTACKER_UID));
	{
		int ready[2], root = raw_connect(&f, "root");
		struct udk_value *tree = NULL;
		pid_t attacker;
		char c;

		ASSERT_OK(pipe2(ready, O_CLOEXEC));
		attacker = fork();
		ASSERT_TRUE(attacker >= 0);
		if (attacker == 0) {
			struct udk_value *body = udk_value_new_dict();
			int sock;
			become(ATTACKER_UID);
			sock = raw_connect(&f, "hasher");
			udk_dict_set_string(body, "action", "explain");
			udk_dict_set_string(body, "driver", ID_BAD);
			udk_dict_set_string(body, "app", big);
			if (wire_send_value(sock, OP_ACCESS, 0, 7, 0, body, NULL, 0) < 0)
				_exit(3);
			if (write(ready[1], "x", 1) != 1)
				_exit(3);
			/* exits once the explain is answered */
			raw_reply(sock, 7, 600000, NULL);
			_exit(0);
		}
		close(ready[1]);
		ASSERT_EQ(read(ready[0], &c, 1), 1);
		close(ready[0]);
		/*
		 * Give udkd a moment to read the explain first (an idle udkd does at
		 * once; this only keeps a loop that hashes in place from answering
		 * the tree first by luck).  Then root's tree, on a connection made
		 * before: one round trip.
		 */
		usleep(200000);
		ASSERT_OK(raw_call(root, 3, OP_TREE, udk_value_new_dict(), &tree));
		ASSERT_NOT_NULL(udk_dict_get(tree, "services"));
		udk_value_unref(tree);
		close(root);
		/* the attacker's hash is still running: root did not wait for it */
		ASSERT_EQ(waitpid(attacker, NULL, WNOHANG), 0);
		ASSERT_EQ(waitpid(attacker, &st, 0), attacker);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_udkd_alive(&f);
	fixture_stop(&f);
}

/* ---- 3: identity pinned at connect ---- */

TEST_FULL(a_connection_handed_to_a_child_after_exec_of_a_granted_app_is_refused, 120)
{
	struct fixture f;
	const char *dir;
	char granted[600], app[600], *out;
	const char *argv[7];
	int st;

	two_bundles(&f);
	dir = attacker_dir(&f);
	snprintf(granted, sizeof(granted), "%s/granted", f.dir);
	copy_as(0, "/bin/sleep", granted);
	snprintf(app, sizeof(app), "%s/app", dir);
	copy_as(ATTACKER_UID, build_path("tests/hostile-app"), app);
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_BAD));
	out = udkctl_as(&f, 0, 60, &st, "access grant %s %s", ID_BAD, granted);
	ASSERT_EQ(st, 0);
	free(out);

	/* connect, fork, the parent execs the granted app, the child opens */
	argv[0] = app;
	argv[1] = "forkexec";
	argv[2] = f.runtime;
	argv[3] = ID_BAD;
	argv[4] = granted;
	argv[5] = NULL;
	out = run_as(ATTACKER_UID, 60, &st, argv);
	test_log("%s", out);
	ASSERT_CONTAINS(out, "child open: UDK_E_NOT_PERMITTED");
	free(out);
	out = udkctl_as(&f, 0, 60, &st, "access list %s", ID_BAD);
	ASSERT_TRUE(!strstr(out, "allowed by grant"));
	free(out);

	/* the same app, run by the same user without the trick, is refused too; the log says why */
	argv[1] = "open";
	argv[4] = NULL;
	out = run_as(ATTACKER_UID, 60, &st, argv);
	ASSERT_CONTAINS(out, "open: UDK_E_NOT_PERMITTED");
	free(out);
	assert_udkd_alive(&f);
	fixture_stop(&f);
}

/* ---- 4: verify what you run, run what you verified ---- */

static void
keygen(struct fixture *f)
{
	int st;
	char *out = sh(&st, "%s keygen --comment vendor %s/vendor", build_path("tools/udk-sign"), f->dir);

	if (st != 0)
		FAIL("keygen: %s", out);
	free(out);
}

static void
sign(struct fixture *f, const char *bundle)
{
	int st;
	char *out = sh(&st, "%s sign --key %s/vendor.secret %s/%s", build_path("tools/udk-sign"), f->dir, f->bundles,
		       bundle);

	if (st != 0)
		FAIL("sign: %s", out);
	free(out);
}

static void
trust_vendor(struct fixture *f)
{
	int st;
	char *out = udkctl_as(f, 0, 60, &st, "trust add %s/vendor.public", f->dir);
	if (st != 0)
		FAIL("trust add: %s", out);
	free(out);
}

static char *
sha256_of(const char *path)
{
	int st;
	char *out = sh(&st, "sha256sum < %s", path);

	if (st != 0 || strlen(out) < 64)
		FAIL("sha256sum %s: %s", path, out);
	out[64] = '\0';
	return out;
}

/*
 * The owner of a bundle (or anyone who can write its directory) swapping
 * one of its files for another, atomically (RENAME_EXCHANGE), every
 * @pause_us microseconds, while udkd reloads it.
 */
struct swapper {
	pid_t pid;
	const char *target, *other;
};

static void
swap_start(struct swapper *s, const char *target, const char *other, unsigned pause_us)
{
	s->target = target;
	s->other = other;
	s->pid = fork();
	if (s->pid < 0)
		FAIL("fork: %m");
	if (s->pid == 0) {
		for (;;) {
			if (renameat2(AT_FDCWD, target, AT_FDCWD, other, RENAME_EXCHANGE) < 0)
				_exit(1);
			if (pause_us)
				usleep(pause_us);
		}
	}
}

/* Stop, and leave the file whose SHA-256 is @want at the target. */
static void
swap_stop(struct swapper *s, const char *want)
{
	char *h;

	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	h = sha256_of(s->target);
	if (!streq(h, want) && renameat2(AT_FDCWD, s->target, AT_FDCWD, s->other, RENAME_EXCHANGE) < 0)
		FAIL("renameat2: %m");
	free(h);
}

TEST_FULL(entitlements_swapped_during_reloads_are_never_enforced_as_signed, 600)
{
	struct fixture f;
	struct swapper sw;
	char evil_ent[600], target[700], *signed_hash;
	int sock, valid = 0, refused = 0;

	two_bundles(&f);
	fixture_developer_mode(&f, false);
	keygen(&f);
	sign(&f, "Bad.dext");
	sign(&f, "Good.dext");
	snprintf(target, sizeof(target), "%s/Bad.dext/Entitlements.plist", f.bundles);
	snprintf(evil_ent, sizeof(evil_ent), "%s/ent-evil", f.dir);
	signed_hash = sha256_of(target);
	write_text(evil_ent, "<plist version=\"1.0\"><dict><key>com.apple.developer.driverkit</key><true/>"
			     "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>"
			     "</dict></plist>\n");
	fixture_start(&f, NULL);
	trust_vendor(&f);
	ASSERT_TRUE(running(&f, ID_BAD));
	sock = raw_connect(&f, "checker");

	swap_start(&sw, target, evil_ent, 0);
	for (int i = 0; i < 60; i++) {
		struct udk_value *b, *sg;
		ASSERT_OK(raw_call(sock, 100 + (uint32_t)i, OP_RESCAN, udk_value_new_dict(), NULL));
		b = describe(sock, ID_BAD);
		ASSERT_NOT_NULL(b);
		sg = udk_dict_get(b, "signature");
		if (streq(udk_dict_get_string(sg, "status"), "valid")) {
			/* what udkd enforces is what the signature covers */
			if (udk_dict_get(udk_dict_get(b, "entitlements"),
					 "com.apple.developer.driverkit.allow-any-userclient-access")) {
				swap_stop(&sw, signed_hash);
				FAIL("reload %d: the signature is valid but udkd enforces the swapped-in entitlements", i);
			}
			valid++;
		} else {
			refused++;
		}
		udk_value_unref(b);
	}
	swap_stop(&sw, signed_hash);
	test_log("60 reloads: %d verified with the signed entitlements, %d refused as changed", valid, refused);
	free(signed_hash);
	close(sock);
	fixture_stop(&f);
}

TEST_FULL(an_executable_swapped_over_many_reloads_never_runs_unsigned, 900)
{
	struct fixture f;
	struct swapper sw;
	char evil[600], target[700], *good_hash;
	int sock, ran = 0;

	two_bundles(&f);
	fixture_developer_mode(&f, false);
	keygen(&f);
	sign(&f, "Bad.dext");
	sign(&f, "Good.dext");
	snprintf(target, sizeof(target), "%s/Bad.dext/testdrv", f.bundles);
	snprintf(evil, sizeof(evil), "%s/exe-evil", f.dir);
	free(sh(NULL, "cp %s %s && echo UNSIGNED-CODE >> %s", target, evil, evil));
	good_hash = sha256_of(target);
	fixture_start(&f, "--restart-base-ms", "10", NULL);
	trust_vendor(&f);
	ASSERT_TRUE(running(&f, ID_BAD));
	sock = raw_connect(&f, "checker");

	/* one swap every 10 ms: now and then one lands between the hash and the launch */
	swap_start(&sw, target, evil, 10000);
	for (int i = 0; i < 150; i++) {
		struct udk_value *b;
		pid_t pid = 0;
		ASSERT_OK(raw_call(sock, 100 + (uint32_t)i, OP_RESCAN, udk_value_new_dict(), NULL));
		/* the driver that runs now, if the reloaded bundle was accepted */
		for (int k = 0; k < 100 && !pid; k++) {
			struct udk_value *is;
			b = describe(sock, ID_BAD);
			if (!b)
				break;
			is = udk_dict_get(b, "instances");
			for (size_t j = 0; j < udk_array_size(is); j++)
				if (streq(udk_dict_get_string(udk_array_get(is, j), "state"), "running"))
					pid = (pid_t)udk_dict_get_int(udk_array_get(is, j), "pid", 0);
			if (!streq(udk_dict_get_string(udk_dict_get(b, "signature"), "status"), "valid") ||
			    udk_dict_get_string(b, "refusal"))
				k = 100; /* refused: nothing runs */
			udk_value_unref(b);
			if (!pid && k < 100)
				usleep(20000);
		}
		if (pid > 0) {
			char exe[64], *h;
			snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
			h = sha256_of(exe);
			if (!streq(h, good_hash)) {
				swap_stop(&sw, good_hash);
				FAIL("reload %d: the driver (pid %d) runs code with SHA-256 %.16s..., not the signed %.16s...",
				     i, (int)pid, h, good_hash);
			}
			free(h);
			ran++;
		}
	}
	swap_stop(&sw, good_hash);
	test_log("150 reloads: the signed executable ran %d times, nothing else ran", ran);
	ASSERT_GE(ran, 1);
	free(good_hash);
	close(sock);
	fixture_stop(&f);
}

TEST(bundles_other_users_can_write_are_refused_outside_developer_mode)
{
	struct fixture f;
	char path[600], *out;
	int st;

	two_bundles(&f);
	fixture_developer_mode(&f, false);
	keygen(&f);
	sign(&f, "Bad.dext");
	sign(&f, "Good.dext");
	/* a user's bundle directory: they could swap any file in it */
	snprintf(path, sizeof(path), "%s/Bad.dext", f.bundles);
	ASSERT_OK(chown(path, ATTACKER_UID, ATTACKER_UID));
	fixture_start(&f, NULL);
	trust_vendor(&f);
	ASSERT_TRUE(running(&f, ID_GOOD));
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " ID_BAD, "refused (UDK_E_UNSAFE_PATH)", 10000));
	out = udkctl_as(&f, 0, 60, &st, "drivers %s", ID_BAD);
	test_log("%s", out);
	ASSERT_CONTAINS(out, "is owned by uid 4242");
	free(out);
	/* developer mode runs it, loudly */
	free(udkctl_as(&f, 0, 60, &st, "developer on"));
	ASSERT_TRUE(running(&f, ID_BAD));
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "other users could change what udkd runs as this driver");
	free(out);
	fixture_stop(&f);
}

/* ---- 8: no hashes of files the asker cannot read ---- */

TEST(explain_hashes_only_what_the_asker_may_read)
{
	struct fixture f;
	char secret[600], *out, *hash;
	int st;

	two_bundles(&f);
	snprintf(secret, sizeof(secret), "%s/secret", f.dir);
	write_text(secret, "root's secret\n");
	ASSERT_OK(chmod(secret, 0600));
	hash = sha256_of(secret);
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_BAD));

	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "--json access explain %s %s", ID_BAD, secret);
	test_log("as uid %d: %s", ATTACKER_UID, out);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "Permission denied");
	ASSERT_TRUE(!strstr(out, hash));
	free(out);
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "access explain %s /etc/shadow", ID_BAD);
	ASSERT_CONTAINS(out, "Permission denied");
	free(out);
	/* root may */
	out = udkctl_as(&f, 0, 60, &st, "--json access explain %s %s", ID_BAD, secret);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, hash);
	free(out);
	free(hash);
	fixture_stop(&f);
}

/* ---- 9: a manifest with 35,000 personalities ---- */

TEST_FULL(a_huge_manifest_is_refused_by_name_and_quickly, 300)
{
	struct fixture f;
	char path[600], *out;
	FILE *fp;
	int st;

	two_bundles(&f);
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_GOOD));
	snprintf(path, sizeof(path), "%s/Huge.dext", f.bundles);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/Huge.dext/Info.plist", f.bundles);
	fp = fopen(path, "w");
	ASSERT_NOT_NULL(fp);
	fprintf(fp, "<plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>org.udk.test.huge</string>"
		    "<key>CFBundleExecutable</key><string>testdrv</string><key>IOKitPersonalities</key><dict>");
	for (int i = 0; i < 35000; i++)
		fprintf(fp, "<key>P%d</key><dict/>\n", i);
	fprintf(fp, "</dict></dict></plist>\n");
	fclose(fp);
	out = udkctl_as(&f, 0, 250, &st, "rescan");
	ASSERT_EQ(st, 0);
	free(out);
	out = udkctl_as(&f, 0, 60, &st, "drivers Huge.dext");
	ASSERT_CONTAINS(out, "IOKitPersonalities: holds 35000 personalities; a bundle may have at most 1024");
	free(out);

	/* 35,000 keys in one dictionary and the last one twice: found, with its line */
	fp = fopen(path, "w");
	ASSERT_NOT_NULL(fp);
	fprintf(fp, "<plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>org.udk.test.huge</string>\n");
	for (int i = 0; i < 35000; i++)
		fprintf(fp, "<key>K%d</key><true/>\n", i);
	fprintf(fp, "<key>K34999</key><true/>\n</dict></plist>\n");
	fclose(fp);
	out = udkctl_as(&f, 0, 250, &st, "rescan");
	ASSERT_EQ(st, 0);
	free(out);
	out = udkctl_as(&f, 0, 60, &st, "drivers Huge.dext");
	ASSERT_CONTAINS(out, "line 35002: key \"K34999\" appears twice in this dictionary (first on line 35001)");
	free(out);
	assert_udkd_alive(&f);
	fixture_stop(&f);
}

/* ---- 10: diagnostics that say what is true ---- */

TEST_FULL(diagnostics_name_the_real_problem, 120)
{
	struct fixture f;
	char path[600], *out;
	int st;

	two_bundles(&f);
	fixture_developer_mode(&f, false);
	/* an Info.plist that cannot be read (a symbolic link) */
	fixture_add_bundle(&f, "Unreadable.dext", "org.udk.test.unreadable",
			   TEST_PERSONALITY("U", "org.udk.test.unreadable", "IOUserResources", ""));
	snprintf(path, sizeof(path), "%s/Unreadable.dext/Info.plist", f.bundles);
	ASSERT_OK(unlink(path));
	ASSERT_OK(symlink("/etc/hostname", path));
	/* a signed bundle that is invalid: never "accepted now" */
	fixture_add_raw_bundle(&f, "Invalid.dext",
			       "<plist version=\"1.0\"><dict>\n"
			       "<key>CFBundleIdentifier</key><string>org.udk.test.invalid</string>\n"
			       "<key>CFBundleExecutable</key><string>missing</string>\n"
			       "</dict></plist>\n",
			       build_path("tests/testdrv"));
	keygen(&f);
	sign(&f, "Invalid.dext");
	/* a probe score past 64 bits, and one past 32 */
	fixture_add_bundle(&f, "Score.dext", "org.udk.test.score",
			   TEST_PERSONALITY("S", "org.udk.test.score", "IOUserResources",
					    "<key>IOProbeScore</key><integer>99999999999999999999</integer>"));
	fixture_add_bundle(&f, "Score32.dext", "org.udk.test.score32",
			   TEST_PERSONALITY("S", "org.udk.test.score32", "IOUserResources",
					    "<key>IOProbeScore</key><integer>4294967296</integer>"));
	/* the only personality can never match: no IOProviderClass */
	fixture_add_raw_bundle(&f, "Never.dext",
			       "<plist version=\"1.0\"><dict>\n"
			       "<key>CFBundleIdentifier</key><string>org.udk.test.never</string>\n"
			       "<key>CFBundleExecutable</key><string>testdrv</string>\n"
			       "<key>IOKitPersonalities</key><dict><key>N</key><dict>\n"
			       "<key>IOUserClass</key><string>TestDriver</string>\n"
			       "<key>IOUserServerName</key><string>org.udk.test.never</string>\n"
			       "</dict></dict></dict></plist>\n",
			       build_path("tests/testdrv"));
	sign(&f, "Never.dext");
	fixture_start(&f, NULL);
	trust_vendor(&f);

	out = udkctl_as(&f, 0, 60, &st, "drivers Unreadable.dext");
	test_log("%s", out);
	ASSERT_CONTAINS(out, "Info.plist: is a symbolic link");
	ASSERT_CONTAINS(out, "signature: not checked");
	ASSERT_TRUE(!strstr(out, "signature: valid"));
	ASSERT_TRUE(!strstr(out, "UDK_E_UNTRUSTED_KEY"));
	free(out);

	out = fixture_log(&f);
	ASSERT_TRUE(!strstr(out, "Invalid.dext is accepted now"));
	free(out);
	out = udkctl_as(&f, 0, 60, &st, "drivers Invalid.dext");
	ASSERT_CONTAINS(out, "(Invalid.dext): invalid");
	free(out);

	out = udkctl_as(&f, 0, 60, &st, "drivers Score.dext");
	test_log("%s", out);
	ASSERT_CONTAINS(out, "IOKitPersonalities.S.IOProbeScore: <integer> \"99999999999999999999\" is not a 64-bit");
	free(out);
	out = udkctl_as(&f, 0, 60, &st, "drivers Score32.dext");
	ASSERT_CONTAINS(out, "IOKitPersonalities.S.IOProbeScore: 4294967296 does not fit in 32 bits");
	free(out);

	out = udkctl_as(&f, 0, 60, &st, "drivers Never.dext");
	test_log("%s", out);
	ASSERT_TRUE(!strstr(out, ": enabled"));
	ASSERT_CONTAINS(out, "(Never.dext): unusable");
	ASSERT_CONTAINS(out, "none of its personalities can ever match");
	free(out);
	fixture_stop(&f);
}

/* ---- 11: log lines are the daemon's own ---- */

TEST(a_client_name_cannot_forge_a_log_line)
{
	struct fixture f;
	const char *forged = "12:00:00.000 notice  udkd: granted /tmp/evil access to " ID_BAD;
	char name[300], *log;
	pid_t pid;
	int st;

	two_bundles(&f);
	fixture_start(&f, NULL);
	snprintf(name, sizeof(name), "innocent\n%s\n\x1b[2J", forged);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int sock;
		become(ATTACKER_UID);
		sock = raw_connect(&f, name);
		/* a malformed request: udkd logs the client's name as it drops it */
		if (wire_send(sock, OP_TREE, 0, 2, 0, "junk", 4, NULL, 0) < 0)
			_exit(3);
		raw_reply(sock, 2, 10000, NULL);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(fixture_wait_output(&f, "status", "", 1000));
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "client innocent\\n12:00:00.000 notice  udkd: granted");
	ASSERT_CONTAINS(log, "\\x1b[2J");
	for (char *line = log; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, forged, strlen(forged)) == 0)
			FAIL("udkd's log holds a line the client wrote:\n%s", log);
	free(log);
	fixture_stop(&f);
}

/* ---- 12: directories made by someone else ---- */

/* Start udkd with these directories; its exit status, or -1 if it keeps running (then stopped). */
static int
start_udkd_expecting_exit(struct fixture *f, const char *runtime, const char *state)
{
	const char *argv[] = { build_path("daemon/udkd"), "--runtime-dir", runtime, "--bundles", f->bundles,
			       "--state-dir", state, NULL };
	pid_t pid = fork();
	int status = 0;

	if (pid < 0)
		FAIL("fork: %m");
	if (pid == 0) {
		int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(20000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

TEST_FULL(runtime_and_state_directories_of_another_user_are_refused, 120)
{
	struct fixture f;
	char run[600], state[600], dev[700], *log;
	int r;

	two_bundles(&f);
	/* the attacker made the runtime directory first */
	snprintf(run, sizeof(run), "%s/attacker-run", f.dir);
	ASSERT_OK(mkdir(run, 0777));
	ASSERT_OK(chmod(run, 0777));
	ASSERT_OK(chown(run, ATTACKER_UID, ATTACKER_UID));
	r = start_udkd_expecting_exit(&f, run, f.state);
	log = fixture_log(&f);
	test_log("udkd exited with %d: %s", r, log);
	ASSERT_EQ(r, 1);
	ASSERT_CONTAINS(log, "the runtime directory ");
	ASSERT_CONTAINS(log, "belongs to uid 4242 (mode 0777)");
	free(log);

	/* ... or the state directory, with developer mode turned on in it */
	snprintf(state, sizeof(state), "%s/attacker-state", f.dir);
	ASSERT_OK(mkdir(state, 0755));
	snprintf(dev, sizeof(dev), "%s/developer-mode", state);
	write_text(dev, "on\n");
	ASSERT_OK(chown(dev, ATTACKER_UID, ATTACKER_UID));
	ASSERT_OK(chown(state, ATTACKER_UID, ATTACKER_UID));
	r = start_udkd_expecting_exit(&f, f.runtime, state);
	log = fixture_log(&f);
	ASSERT_EQ(r, 1);
	ASSERT_CONTAINS(log, "the state directory ");
	ASSERT_CONTAINS(log, "belongs to uid 4242");
	free(log);

	/* udkd's own directory with too open a mode is fixed, and said so */
	mkdir(f.runtime, 0777);
	ASSERT_OK(chmod(f.runtime, 0777));
	fixture_start(&f, NULL);
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "was writable by every user (mode 0777); udkd made it 0755");
	free(log);
	fixture_stop(&f);
}

TEST(access_list_shows_other_users_apps_only_to_root)
{
	struct fixture f;
	struct udk_connection *conn = NULL;
	char self[512], *out;
	ssize_t n;
	uint64_t id;
	int st;

	two_bundles(&f);
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_BAD));
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ASSERT_TRUE(n > 0);
	self[n] = '\0';
	{
		struct udk_value *m = udk_value_new_dict();
		udk_dict_set_string(m, "CFBundleIdentifier", ID_BAD);
		ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &id));
		udk_value_unref(m);
	}
	/* root's test program asks and is refused: a request of root's */
	ASSERT_ERR(udk_client_open(f.client, id, 0, &conn), -UDK_E_NOT_PERMITTED);
	out = udkctl_as(&f, 0, 60, &st, "access list %s", ID_BAD);
	ASSERT_CONTAINS(out, self);
	free(out);
	/* read-only commands stay open to everyone, but not other users' apps */
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "access list %s", ID_BAD);
	test_log("as uid %d: %s", ATTACKER_UID, out);
	ASSERT_EQ(st, 0);
	ASSERT_TRUE(!strstr(out, self));
	free(out);
	out = udkctl_as(&f, ATTACKER_UID, 60, &st, "drivers %s", ID_BAD);
	ASSERT_EQ(st, 0);
	free(out);
	fixture_stop(&f);
}
