/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

const char *
build_path(const char *rel)
{
	static char buf[8][512];
	static int slot;
	char *b = buf[slot++ % 8];

	snprintf(b, 512, "%s/%s", test_build_root(), rel);
	return b;
}

void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		FAIL("cannot write %s: %m", path);
	fputs(text, f);
	fclose(f);
}

static void
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n;

	if (in < 0 || out < 0)
		FAIL("cannot copy %s to %s: %m", from, to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			FAIL("short write to %s", to);
	close(in);
	close(out);
}

void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", test_tmpdir());
	snprintf(f->runtime, sizeof(f->runtime), "%s/run", f->dir);
	snprintf(f->bundles, sizeof(f->bundles), "%s/bundles", f->dir);
	snprintf(f->machine, sizeof(f->machine), "%s/machine.plist", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/udkd.log", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	/* drivers run under their own uids: they must reach their bundles */
	chmod(f->dir, 0755);
	mkdir(f->bundles, 0755);
	mkdir(f->state, 0755);
	fixture_developer_mode(f, true);
	fixture_set_machine(f, "");
}

static void
add_bundle(struct fixture *f, const char *dirname, const char *info_plist, const char *exe, const char *exe_name)
{
	char path[600], file[700];

	snprintf(path, sizeof(path), "%s/%s", f->bundles, dirname);
	mkdir(path, 0755);
	snprintf(file, sizeof(file), "%s/Info.plist", path);
	write_text(file, info_plist);
	snprintf(file, sizeof(file), "%s/Entitlements.plist", path);
	write_text(file, FIXTURE_ENTITLEMENTS);
	if (exe) {
		snprintf(file, sizeof(file), "%s/%s", path, exe_name);
		copy_file(exe, file);
	}
}

void
fixture_bundle_file(struct fixture *f, const char *dirname, const char *file, const char *text)
{
	char path[900];

	snprintf(path, sizeof(path), "%s/%s/%s", f->bundles, dirname, file);
	write_text(path, text);
}

void
fixture_developer_mode(struct fixture *f, bool on)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/developer-mode", f->state);
	if (on)
		write_text(path, "on\n");
	else
		unlink(path);
}

void
fixture_add_raw_bundle(struct fixture *f, const char *dirname, const char *info_plist, const char *exe)
{
	add_bundle(f, dirname, info_plist, exe, "testdrv");
}

void
fixture_add_bundle_exe(struct fixture *f, const char *dirname, const char *id, const char *exe,
		       const char *personalities)
{
	const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	char *info = NULL;

	if (asprintf(&info,
		     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<plist version=\"1.0\"><dict>\n"
		     "<key>CFBundleIdentifier</key><string>%s</string>\n"
		     "<key>CFBundleExecutable</key><string>%s</string>\n"
		     "<key>CFBundleVersion</key><string>1.0</string>\n"
		     "<key>CFBundlePackageType</key><string>DEXT</string>\n"
		     "<key>IOKitPersonalities</key><dict>%s</dict>\n"
		     "</dict></plist>\n",
		     id, base, personalities) < 0)
		FAIL("oom");
	add_bundle(f, dirname, info, build_path(exe), base);
	free(info);
}

void
fixture_add_bundle(struct fixture *f, const char *dirname, const char *id, const char *personalities)
{
	fixture_add_bundle_exe(f, dirname, id, "tests/testdrv", personalities);
}

void
fixture_set_machine_devices(struct fixture *f, const char *services, const char *devices)
{
	char *m = NULL;

	if (asprintf(&m,
		     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<plist version=\"1.0\"><dict><key>Services</key><array>%s</array>"
		     "<key>Devices</key><array>%s</array></dict></plist>\n",
		     services, devices) < 0)
		FAIL("oom");
	write_text(f->machine, m);
	free(m);
}

void
fixture_set_machine(struct fixture *f, const char *services)
{
	fixture_set_machine_devices(f, services, "");
}

void
fixture_start(struct fixture *f, ...)
{
	const char *argv[64];
	int n = 0, r;
	pid_t parent;
	va_list ap;

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
	va_start(ap, f);
	for (const char *a; (a = va_arg(ap, const char *)) && n < 62;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	parent = getpid();
	f->udkd = fork();
	if (f->udkd < 0)
		FAIL("fork: %m");
	if (f->udkd == 0) {
		int fd;

		/* a test killed (a timeout, or a long campaign stopped with SIGTERM) takes its udkd with it,
		 * and udkd its drivers and models */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(126);
		fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		r = udk_client_new(f->runtime, &f->client);
		if (r >= 0)
			return;
		if (waitpid(f->udkd, NULL, WNOHANG) == f->udkd) {
			char *log = fixture_log(f);
			f->udkd = 0;
			FAIL("udkd exited at start; its log:\n%s", log);
		}
		usleep(10000);
	}
	FAIL("udkd did not come up in 5 s");
}

void
fixture_stop(struct fixture *f)
{
	int status = 0;

	udk_client_unref(f->client);
	f->client = NULL;
	if (f->udkd <= 0)
		return;
	kill(f->udkd, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(f->udkd, &status, WNOHANG) == f->udkd) {
			f->udkd = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				char *log = fixture_log(f);
				FAIL("udkd did not exit cleanly (status 0x%x); its log:\n%s", status, log);
			}
			return;
		}
		usleep(10000);
	}
	kill(f->udkd, SIGKILL);
	waitpid(f->udkd, NULL, 0);
	f->udkd = 0;
	FAIL("udkd did not stop within 10 s of SIGTERM");
}

char *
fixture_log(struct fixture *f)
{
	FILE *fp = fopen(f->log, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	if (!fp)
		return strdup("");
	mem = open_memstream(&buf, &len);
	for (int c; (c = fgetc(fp)) != EOF;)
		fputc(c, mem);
	fclose(fp);
	fclose(mem);
	return buf;
}

char *
fixture_udkctl(struct fixture *f, int *ret_status, const char *args)
{
	char *cmd = NULL, *out = NULL;
	size_t len = 0;
	FILE *p, *mem;
	int status;

	if (asprintf(&cmd, "%s --runtime-dir %s %s 2>&1", build_path("tools/udkctl"), f->runtime, args) < 0)
		FAIL("oom");
	p = popen(cmd, "re");
	if (!p)
		FAIL("popen: %m");
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	status = pclose(p);
	free(cmd);
	if (ret_status)
		*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	return out;
}

uint64_t
fixture_wait_class(struct fixture *f, const char *class_name, int timeout_ms)
{
	struct udk_value *m = udk_matching_class(class_name);
	uint64_t id = 0;
	int r = udk_client_wait_for_service(f->client, m, timeout_ms, &id);

	udk_value_unref(m);
	if (r < 0) {
		char *log = fixture_log(f);
		FAIL("no %s within %d ms (%s); udkd log:\n%s", class_name, timeout_ms, udk_error_name(r), log);
	}
	return id;
}

bool
fixture_poll(int timeout_ms, bool (*cond)(void *), void *data)
{
	for (int waited = 0;; waited += 20) {
		if (cond(data))
			return true;
		if (waited >= timeout_ms)
			return false;
		usleep(20000);
	}
}

bool
fixture_wait_output(struct fixture *f, const char *args, const char *needle, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		char *out = fixture_udkctl(f, NULL, args);
		bool hit = strstr(out, needle) != NULL;
		if (hit || waited >= timeout_ms) {
			if (!hit)
				test_log("udkctl %s never said \"%s\"; last output:\n%s", args, needle, out);
			free(out);
			return hit;
		}
		free(out);
		usleep(50000);
	}
}

bool
fixture_wait_log(struct fixture *f, const char *needle, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		char *log = fixture_log(f);
		bool hit = strstr(log, needle) != NULL;
		if (hit || waited >= timeout_ms) {
			if (!hit)
				test_log("udkd's log never said \"%s\"; the log:\n%s", needle, log);
			free(log);
			return hit;
		}
		free(log);
		usleep(50000);
	}
}

char *
test_sh(int *ret_status, const char *fmt, ...)
{
	char *cmd = NULL, *out = NULL;
	size_t len = 0;
	va_list ap;
	FILE *p, *mem;
	char buf[4096];
	size_t n;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	mem = open_memstream(&out, &len);
	p = popen(cmd, "re");
	if (!p || !mem)
		FAIL("cannot run %s", cmd);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, mem);
	st = pclose(p);
	fclose(mem);
	if (ret_status)
		*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	free(cmd);
	return out;
}
