/* SPDX-License-Identifier: MIT */
/* test.c - the runner behind test.h: fork per test, timeout, fd-leak check, TAP. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

extern const struct udk_test *__start_udk_test_section[];
extern const struct udk_test *__stop_udk_test_section[];

/* Keep the section alive in programs with no tests. */
static const struct udk_test *dummy_ptr TEST_SECTION = NULL;

static char tmpdir_path[256];
static const char *current_test;

#define EXIT_SKIP 77

void
test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# %s:%d: %s: ", file, line, current_test ? current_test : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

void
test_log(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
test_skip(const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen("/dev/stderr", "w");

	va_start(ap, fmt);
	if (f) {
		fputs("# SKIP reason: ", f);
		vfprintf(f, fmt, ap);
		fputc('\n', f);
		fclose(f);
	}
	va_end(ap);
	_exit(EXIT_SKIP);
}

void
test_set_timeout(unsigned seconds)
{
	if (getenv("UDK_TEST_NOFORK"))
		return; /* no timeout was armed: keep it that way */
	alarm(seconds);
}

const char *
test_build_root(void)
{
	const char *r = getenv("UDK_BUILD_ROOT");
	return r ? r : ".";
}

const char *
test_source_root(void)
{
	const char *r = getenv("UDK_SOURCE_ROOT");
	return r ? r : "..";
}

const char *
test_tmpdir(void)
{
	if (!tmpdir_path[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir_path, sizeof(tmpdir_path), "%s/udk-test-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir_path)) {
			tmpdir_path[0] = '\0';
			FAIL("mkdtemp: %m");
		}
	}
	return tmpdir_path;
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
test_remove_tree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int
test_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
count_fds(void)
{
	int n = test_count_dir("/proc/self/fd");
	return n < 0 ? n : n - 1; /* the DIR itself */
}

static void
run_child(const struct udk_test *t)
{
	int before, after;

	current_test = t->name;
	before = count_fds();
	t->fn();
	after = count_fds();
	if (tmpdir_path[0])
		test_remove_tree(tmpdir_path);
	if (before >= 0 && after > before) {
		fprintf(stderr, "# %s leaked %d file descriptor(s)\n", t->name, after - before);
		_exit(3);
	}
	fflush(stdout);
	fflush(stderr);
	exit(0);
}

static bool
selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	const struct udk_test **p;
	int n = 0, i = 0, failed = 0;
	const char *tmo_env = getenv("UDK_TEST_TIMEOUT");
	int default_timeout = tmo_env ? atoi(tmo_env) : 60;
	bool nofork = getenv("UDK_TEST_NOFORK") != NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (p = __start_udk_test_section; p < __stop_udk_test_section; p++)
		if (*p && selected((*p)->name, argc, argv))
			n++;
	printf("1..%d\n", n);
	for (p = __start_udk_test_section; p < __stop_udk_test_section; p++) {
		const struct udk_test *t = *p;
		int status = 0;
		pid_t pid;

		if (!t || !selected(t->name, argc, argv))
			continue;
		i++;
		if (nofork) {
			run_child(t);
			continue;
		}
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			setpgid(0, 0);
			alarm((unsigned)(t->timeout ? t->timeout : default_timeout));
			run_child(t);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		/* anything the test started and left behind goes with it */
		kill(-pid, SIGKILL);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d %s\n", i, t->name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP) {
			printf("ok %d %s # SKIP\n", i, t->name);
		} else {
			failed++;
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
				printf("not ok %d %s # timed out\n", i, t->name);
			else if (WIFSIGNALED(status))
				printf("not ok %d %s # signal %s\n", i, t->name, sigabbrev_np(WTERMSIG(status)));
			else
				printf("not ok %d %s # exit status %d\n", i, t->name, WEXITSTATUS(status));
		}
	}
	return failed ? 1 : 0;
}
