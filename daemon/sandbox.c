/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - driver process confinement (see sandbox.h).
 *
 * A driver process gets:
 *
 *   its own uid and gid (udkd running as root), no supplementary groups,
 *   no privileges (PR_SET_NO_NEW_PRIVS), no capabilities even if it keeps
 *   uid 0 (securebits NOROOT, an empty bounding set), so it can neither
 *   signal nor ptrace nor read the /proc files of udkd or other drivers;
 *
 *   landlock: read-only access to its bundle, read access to the system's
 *   shared libraries and to udk's own (UDK_LIBDIR, from the prefix: a
 *   driver may link libudk-driver.so), its own /proc/PID, /dev/null; execute permission for
 *   its executable and its ELF interpreter only; no TCP (ABI 4), no
 *   abstract unix sockets and no signals outside itself (ABI 6);
 *
 *   a seccomp filter (default allow, a list of denials, EPERM unless noted):
 *   no new sockets (EACCES) and no connect/bind/listen/accept, no fork or
 *   vfork or clone without CLONE_THREAD or with namespace flags (clone3
 *   gets ENOSYS so glibc falls back to clone for threads), no exec except
 *   the launch itself (execveat of SANDBOX_EXEC_FD), no ptrace,
 *   process_vm_*, pidfd_open/getfd or signals to other processes, no
 *   raising limits (setrlimit, prlimit64 with a new limit), no uid/gid
 *   changes, no mount/namespace/chroot/bpf/perf/io_uring/keyring/module/
 *   clock/reboot calls, no device nodes;
 *
 *   resource limits: descriptors, threads (with its own uid), data size,
 *   no core dumps, locked memory;
 *
 *   fds 0-3 only (stdin /dev/null, stdout/stderr to udkd's log, fd 3 to
 *   udkd), so it has only the device channels and memory it is handed.
 *
 * The filter is compiled once; the only per-process value, the driver's
 * pid for the signal rules, is patched into the compiled program in the
 * child (PID_MARK below).
 */
#include <elf.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/securebits.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>

#include "buf.h"
#include "sandbox.h"
#include "udk-config.h"
#include "util.h"

/* A value no pid takes (pid_max is at most 2^22): replaced by the driver's pid. */
#define PID_MARK 0x7ffe1234u

/* Landlock, declared here so the build does not depend on new kernel headers. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_ALL_V1 ((1ull << 13) - 1)
#define LL_FS_REFER (1ull << 13)	/* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)	/* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)	/* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)	/* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif

struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct sandbox {
	struct sock_filter *prog;
	unsigned short prog_len;
	int landlock_abi;
	char *seccomp_error;
};

static int
ll_create(const struct ll_ruleset_attr *attr, size_t size, uint32_t flags)
{
	return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

/* ---- the seccomp filter, compiled once ---- */

static int
deny(scmp_filter_ctx ctx, int err, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
}

static int
build_filter(struct sandbox *sb)
{
	static const char *const denied[] = {
		"connect", "bind", "listen", "accept", "accept4", "ptrace", "process_vm_readv", "process_vm_writev",
		"pidfd_open", "pidfd_getfd", "pidfd_send_signal", "tkill", "fork", "vfork", "execve", "setrlimit",
		"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
		"setgroups", "capset", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
		"mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "bpf",
		"perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
		"keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "reboot", "init_module",
		"finit_module", "delete_module", "swapon", "swapoff", "acct", "iopl", "ioperm", "syslog",
		"quotactl", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
		"setdomainname", "mknod", "mknodat", "name_to_handle_at", "open_by_handle_at", "lookup_dcookie",
		"vhangup", "kcmp", "fanotify_init",
	};
	static const uint64_t ns_flags[] = {
		CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int memfd = -1, r = 0;
	struct stat st;

	if (!ctx)
		return udk_set_reason(-ENOMEM, "libseccomp cannot start a filter");
	/*
	 * A binary tree of syscall numbers rather than a list: loading the
	 * filter in each driver, the kernel runs it for every syscall number
	 * to build its allow cache (seccomp_cache_prepare), under a lock with
	 * interrupts off; through a list of ~90 denials that was most of what
	 * the sandbox cost a spawn.  It also shortens every filtered call.
	 * (A libseccomp without it keeps the list: the same rules.)
	 */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0) {
		/* the same filter, slower to load */
	}
	for (size_t i = 0; i < ARRAY_SIZE(denied) && r >= 0; i++)
		r = deny(ctx, EPERM, denied[i]);
	/* sockets: the driver gets its connections from udkd */
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
	/* threads only */
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	for (size_t i = 0; i < ARRAY_SIZE(ns_flags) && r >= 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0_64(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* the launch is the only exec */
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 1,
				     SCMP_A0_32(SCMP_CMP_NE, SANDBOX_EXEC_FD));
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 1,
				     SCMP_A4_32(SCMP_CMP_NE, AT_EMPTY_PATH));
	/* reading limits is fine, setting them is not */
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prlimit64), 1, SCMP_A2_64(SCMP_CMP_NE, 0));
	/* signals to itself only */
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1, SCMP_A0_32(SCMP_CMP_NE, PID_MARK));
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1,
				     SCMP_A0_32(SCMP_CMP_NE, PID_MARK));
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_sigqueueinfo), 1,
				     SCMP_A0_32(SCMP_CMP_NE, PID_MARK));
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_tgsigqueueinfo), 1,
				     SCMP_A0_32(SCMP_CMP_NE, PID_MARK));
	if (r < 0) {
		seccomp_release(ctx);
		return udk_set_reason(r, "libseccomp refused a rule: %s", strerror(-r));
	}
	memfd = memfd_create("udk-seccomp", MFD_CLOEXEC);
	if (memfd < 0 || (r = seccomp_export_bpf(ctx, memfd)) < 0 || fstat(memfd, &st) < 0 ||
	    st.st_size % sizeof(struct sock_filter) || st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = r < 0 ? r : -errno ? -errno : -EINVAL;
		seccomp_release(ctx);
		if (memfd >= 0)
			close(memfd);
		return udk_set_reason(r, "cannot compile the seccomp filter: %s", strerror(-r));
	}
	seccomp_release(ctx);
	sb->prog = malloc((size_t)st.st_size);
	sb->prog_len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	if (!sb->prog || pread(memfd, sb->prog, (size_t)st.st_size, 0) != st.st_size) {
		close(memfd);
		return udk_set_reason(-EIO, "cannot read the compiled seccomp filter");
	}
	close(memfd);
	return 0;
}

int
sandbox_new(struct sandbox **ret)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	int r, abi;

	if (!sb)
		return -ENOMEM;
	r = build_filter(sb);
	if (r < 0) {
		sandbox_free(sb);
		return r;
	}
	abi = ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	sb->landlock_abi = abi > 0 ? abi : 0;
	*ret = sb;
	return 0;
}

void
sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	free(sb->prog);
	free(sb->seccomp_error);
	free(sb);
}

int
sandbox_landlock_abi(const struct sandbox *sb)
{
	return sb ? sb->landlock_abi : 0;
}

struct udk_value *
sandbox_describe(const struct sandbox *sb)
{
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_bool(v, "seccomp", sb && sb->prog);
	udk_dict_set_int(v, "seccomp_instructions", sb ? sb->prog_len : 0);
	udk_dict_set_int(v, "landlock_abi", sb ? sb->landlock_abi : 0);
	return v;
}

/* ---- in the child ---- */

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(2, "udkd: cannot sandbox the driver: %s\n", msg);
	_exit(126);
}

/* The ELF interpreter the executable at @fd names, or "" (static). */
static void
elf_interp(int fd, char *out, size_t len)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	out[0] = 0;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph))
		return;
	for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			return;
		if (ph.p_type == PT_INTERP && ph.p_filesz > 1 && ph.p_filesz < len) {
			if (pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
				out[0] = 0;
			else
				out[ph.p_filesz - 1] = 0;
			return;
		}
	}
}

static void
ll_allow_fd(int ruleset, int fd, uint64_t access, uint64_t handled)
{
	struct ll_path_beneath pb = { .allowed_access = access & handled, .parent_fd = fd };

	syscall(SYS_landlock_add_rule, ruleset, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0);
}

static void
ll_allow(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return; /* not on this system */
	/* only directories may carry directory rights */
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
	ll_allow_fd(ruleset, fd, access, handled);
	close(fd);
}

/* The directories of shared libraries a driver may read (and sandbox_explain_loader_error names). */
static const char *const lib_dirs[] = {
	"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib",
	UDK_LIBDIR, /* udk's shared libraries wherever its prefix is */
};

const char *const *
sandbox_lib_dirs(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(lib_dirs);
	return lib_dirs;
}

char *
sandbox_explain_loader_error(const char *line, bool sandboxed)
{
	static const char marker[] = "error while loading shared libraries: ";
	const char *p = line ? strstr(line, marker) : NULL, *colon, *why;
	_cleanup_free_ char *lib = NULL, *dirs = NULL;
	struct buf b;

	if (!p)
		return NULL;
	p += sizeof(marker) - 1;
	colon = strstr(p, ": ");
	if (!colon || colon == p || colon - p > 255)
		return NULL;
	lib = strndup(p, (size_t)(colon - p));
	why = colon + 2;
	/* "cannot open shared object file: No such file or directory": the errno is what tells */
	if (startswith(why, "cannot open shared object file: "))
		why += strlen("cannot open shared object file: ");
	buf_init(&b, 0);
	for (size_t i = 0; i < ARRAY_SIZE(lib_dirs); i++) {
		bool inside = false;
		/* UDK_LIBDIR under /usr/lib is named once, as /usr/lib */
		for (size_t j = 0; j < i; j++) {
			size_t n = strlen(lib_dirs[j]);
			inside |= !strncmp(lib_dirs[i], lib_dirs[j], n) && (lib_dirs[i][n] == '/' || !lib_dirs[i][n]);
		}
		if (!inside)
			buf_printf(&b, "%s%s", b.len ? ", " : "", lib_dirs[i]);
	}
	dirs = buf_steal_string(&b);
	if (!lib || !dirs)
		return NULL;
	if (!sandboxed)
		return strdup_printf("the driver needs the shared library %s, which the loader could not load (%s). "
				     "Install %s where the loader looks (its RUNPATH: link with -Wl,-rpath,DIR; "
				     "or /etc/ld.so.conf), or link it statically",
				     lib, why, lib);
	if (strstr(why, "Permission denied"))
		return strdup_printf("the driver needs the shared library %s, which the sandbox does not let it read "
				     "(%s): a driver loads libraries only from %s. Install %s in one of them, or "
				     "link it statically (udk's own: `pkg-config --static`, or a family's "
				     "pkg-config file, which is static)",
				     lib, why, dirs, lib);
	return strdup_printf("the driver needs the shared library %s, which the loader could not load (%s): in the "
			     "sandbox a driver loads libraries only from %s, found through /etc/ld.so.cache or the "
			     "executable's RUNPATH. Install %s in one of them (link with -Wl,-rpath,DIR when DIR is "
			     "not in /etc/ld.so.conf), or link it statically (udk's own: `pkg-config --static`, or "
			     "a family's pkg-config file, which is static)",
			     lib, why, dirs, lib);
}

static int
landlock_prepare(const struct sandbox *sb, const struct sandbox_spec *spec)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t size = sizeof(attr.handled_access_fs);
	uint64_t fs = LL_FS_ALL_V1, ro = LL_FS_READ_FILE | LL_FS_READ_DIR;
	char interp[PATH_MAX], proc[32];
	int rs;
	static const char *const libs[] = {
		"/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo", "/sys/devices/system/cpu",
	};

	if (sb->landlock_abi <= 0)
		return -1;
	if (sb->landlock_abi >= 2)
		fs |= LL_FS_REFER;
	if (sb->landlock_abi >= 3)
		fs |= LL_FS_TRUNCATE;
	if (sb->landlock_abi >= 5)
		fs |= LL_FS_IOCTL_DEV;
	attr.handled_access_fs = fs;
	if (sb->landlock_abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (sb->landlock_abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	rs = ll_create(&attr, size, 0);
	if (rs < 0)
		die("landlock_create_ruleset: %s", strerror(errno));
	ll_allow(rs, spec->bundle_path, ro, fs);
	for (size_t i = 0; i < ARRAY_SIZE(lib_dirs); i++)
		ll_allow(rs, lib_dirs[i], ro, fs);
	for (size_t i = 0; i < ARRAY_SIZE(libs); i++)
		ll_allow(rs, libs[i], ro, fs);
	snprintf(proc, sizeof(proc), "/proc/%d", (int)getpid());
	ll_allow(rs, proc, ro, fs);
	ll_allow(rs, "/dev/null", LL_FS_READ_FILE | LL_FS_WRITE_FILE, fs);
	ll_allow(rs, "/dev/urandom", LL_FS_READ_FILE, fs);
	/* execute: the driver and its ELF interpreter, nothing else */
	ll_allow_fd(rs, SANDBOX_EXEC_FD, LL_FS_EXECUTE | LL_FS_READ_FILE, fs);
	elf_interp(SANDBOX_EXEC_FD, interp, sizeof(interp));
	if (interp[0])
		ll_allow(rs, interp, LL_FS_EXECUTE | LL_FS_READ_FILE, fs);
	return rs;
}

static void
set_limit(int resource, rlim_t value, const char *name)
{
	struct rlimit rl = { value, value }, cur;

	/* only ever lower a limit */
	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < value)
		rl.rlim_cur = rl.rlim_max = cur.rlim_max;
	if (setrlimit(resource, &rl) < 0)
		die("setrlimit(%s, %llu): %s", name, (unsigned long long)value, strerror(errno));
}

void
sandbox_exec(const struct sandbox *sb, const struct sandbox_spec *spec, char *const argv[], char *const envp[])
{
	struct sock_fprog fprog;
	struct sock_filter prog[BPF_MAXINSNS];
	uint32_t pid = (uint32_t)getpid();
	int rs;

	/* landlock rules are made while udkd's rights still reach the paths */
	rs = landlock_prepare(sb, spec);

	set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
	set_limit(RLIMIT_NOFILE, spec->files ? spec->files : 1024, "RLIMIT_NOFILE");
	if (spec->memory)
		set_limit(RLIMIT_DATA, spec->memory, "RLIMIT_DATA");
	set_limit(RLIMIT_MEMLOCK, 64u << 20, "RLIMIT_MEMLOCK");
	set_limit(RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE");

	/*
	 * No capabilities, even when the driver keeps uid 0 (udkd root with
	 * --driver-uid-base 0): root gets no capabilities back at exec, and
	 * the bounding set is empty.
	 */
	if (geteuid() == 0) {
		if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
						    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
			  0, 0, 0) < 0)
			die("PR_SET_SECUREBITS: %s", strerror(errno));
		for (int cap = 0; cap <= 63; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				die("PR_CAPBSET_DROP(%d): %s", cap, strerror(errno));
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);

	if (spec->uid) {
		/* NPROC counts threads per uid: meaningful once the uid is the driver's own */
		if (spec->threads)
			set_limit(RLIMIT_NPROC, spec->threads, "RLIMIT_NPROC");
		/* the system calls themselves: this process shares udkd's memory, glibc's
		 * wrappers would try to change every thread it believes udkd has */
		if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) < 0 ||
		    syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) < 0)
			die("cannot switch to uid %u: %s", (unsigned)spec->uid, strerror(errno));
	}
	{
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		memset(data, 0, sizeof(data));
		if (syscall(SYS_capset, &hdr, data) < 0)
			die("capset: %s", strerror(errno));
	}
	/* changing credentials cleared it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(126);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (rs >= 0) {
		if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
			die("landlock_restrict_self: %s", strerror(errno));
		close(rs);
	}

	/* the compiled filter with this process's pid in the signal rules (on the
	 * stack: this process shares udkd's memory and allocates nothing) */
	if (sb->prog_len > BPF_MAXINSNS)
		die("the seccomp filter is longer than %d instructions", BPF_MAXINSNS);
	memcpy(prog, sb->prog, sb->prog_len * sizeof(*prog));
	for (unsigned i = 0; i < sb->prog_len; i++)
		if (BPF_CLASS(prog[i].code) == BPF_JMP && BPF_SRC(prog[i].code) == BPF_K && prog[i].k == PID_MARK)
			prog[i].k = pid;
	fprog.len = sb->prog_len;
	fprog.filter = prog;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0)
		die("loading the seccomp filter: %s", strerror(errno));

	syscall(SYS_execveat, SANDBOX_EXEC_FD, "", argv, envp, AT_EMPTY_PATH);
	dprintf(2, "udkd: cannot execute the driver: %s\n", strerror(errno));
}
