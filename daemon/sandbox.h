/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h - confining a driver process (internal).
 *
 * sandbox_new() runs once in udkd: it compiles the seccomp filter (with
 * libseccomp) and probes landlock.  sandbox_exec() runs in the child,
 * between clone() and exec (the child shares udkd's memory: CLONE_VM |
 * CLONE_VFORK, so it allocates nothing and changes nothing of udkd's):
 * it drops to the driver's own uid, applies resource limits, landlock
 * rules and the filter, and executes the driver from a descriptor.  See docs/security.md for what is denied and why.
 */
#ifndef UDKD_SANDBOX_H
#define UDKD_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <udk/value.h>

/* The driver's executable is at this descriptor number during exec. */
#define SANDBOX_EXEC_FD 1000

struct sandbox;

struct sandbox_spec {
	const char *bundle_path;	/* read-only for the driver */
	uid_t uid;			/* 0: keep udkd's */
	gid_t gid;
	uint64_t memory;		/* RLIMIT_DATA, 0: none */
	unsigned files;			/* RLIMIT_NOFILE */
	unsigned threads;		/* RLIMIT_NPROC (with an own uid only) */
};

int sandbox_new(struct sandbox **ret);
void sandbox_free(struct sandbox *sb);
/* The landlock ABI in force (0: none), for status output. */
int sandbox_landlock_abi(const struct sandbox *sb);
struct udk_value *sandbox_describe(const struct sandbox *sb);

/*
 * In the child: confine and execute the file open at SANDBOX_EXEC_FD.
 * Returns only on failure, having written the reason to stderr.  Needs
 * about 40 KiB of stack (the filter is patched there).
 */
void sandbox_exec(const struct sandbox *sb, const struct sandbox_spec *spec, char *const argv[],
		  char *const envp[]);

/*
 * A driver's line of output during launch that is the dynamic loader's
 * "error while loading shared libraries: LIB: REASON": what it means and
 * what to do, naming the library and the directories the sandbox admits
 * (malloc'ed), or NULL for any other line.
 */
char *sandbox_explain_loader_error(const char *line, bool sandboxed);

/* The directories of shared libraries a sandboxed driver may read (bundle.c checks DT_NEEDED against them). */
const char *const *sandbox_lib_dirs(size_t *ret_n);

#endif
