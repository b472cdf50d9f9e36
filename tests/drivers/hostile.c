/* SPDX-License-Identifier: MIT */
/*
 * hostile - a driver that tries to escape its sandbox, one attempt per
 * call (see hostile.h).  Each attempt reports whether the system call
 * succeeded ("escaped") and the errno it got.  A denial must be EPERM,
 * EACCES or ENOSYS: any other failure means the check was passed and
 * something else stopped it, which the test also counts as an escape.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/perf_event.h>

#include <udk/driver.h>
#include <udk/userclient.h>

#include "hostile.h"

static const char *const attempt_names[] = {
#define HOSTILE_NAME(name, text) #name,
	HOSTILE_ATTEMPTS(HOSTILE_NAME)
#undef HOSTILE_NAME
};

struct outcome {
	bool escaped;
	int err;
	char text[HOSTILE_TEXT];
};

/* A call returned @r (<0 with errno on failure). */
static void
judge(struct outcome *o, long r, const char *what)
{
	int e = r < 0 ? errno : 0;

	o->err = e;
	o->escaped = r >= 0 || (e != EPERM && e != EACCES && e != ENOSYS);
	snprintf(o->text, sizeof(o->text), "%s: %s", what,
		 r >= 0 ? "SUCCEEDED" : strerrorname_np(e) ? strerrorname_np(e) : strerror(e));
}

static void
try_open(struct outcome *o, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);

	judge(o, fd, path);
	if (fd >= 0) {
		close(fd);
		if (flags & O_CREAT)
			unlink(path);
	}
}

static void
attempt(int which, pid_t udkd, pid_t victim, struct outcome *o)
{
	char path[256];
	long r;

	switch (which) {
	case HOSTILE_READ_ETC_PASSWD:
		try_open(o, "/etc/passwd", O_RDONLY);
		break;
	case HOSTILE_READ_PROC_1:
		try_open(o, "/proc/1/environ", O_RDONLY);
		break;
	case HOSTILE_WRITE_OWN_BUNDLE: {
		const char *b = getenv("UDK_BUNDLE_PATH");
		snprintf(path, sizeof(path), "%s/Info.plist", b ? b : ".");
		try_open(o, path, O_WRONLY);
		break;
	}
	case HOSTILE_CREATE_TMP_FILE:
		snprintf(path, sizeof(path), "/tmp/udk-hostile-%d", (int)getpid());
		try_open(o, path, O_WRONLY | O_CREAT | O_EXCL);
		break;
	case HOSTILE_MKDIR_TMP:
		snprintf(path, sizeof(path), "/tmp/udk-hostile-dir-%d", (int)getpid());
		r = mkdir(path, 0755);
		judge(o, r, path);
		if (r == 0)
			rmdir(path);
		break;
	case HOSTILE_OPEN_DEV_MEM:
		try_open(o, "/dev/kmsg", O_RDONLY);
		break;
	case HOSTILE_SOCKET_INET:
	case HOSTILE_SOCKET_UNIX:
	case HOSTILE_SOCKET_NETLINK: {
		int dom = which == HOSTILE_SOCKET_INET ? AF_INET : which == HOSTILE_SOCKET_UNIX ? AF_UNIX : AF_NETLINK;
		int fd = socket(dom, which == HOSTILE_SOCKET_NETLINK ? SOCK_RAW : SOCK_STREAM, 0);
		judge(o, fd, "socket");
		if (fd >= 0)
			close(fd);
		break;
	}
	case HOSTILE_PTRACE_UDKD:
		r = ptrace(PTRACE_ATTACH, udkd, NULL, NULL);
		judge(o, r, "ptrace(PTRACE_ATTACH, udkd)");
		if (r == 0)
			ptrace(PTRACE_DETACH, udkd, NULL, NULL);
		break;
	case HOSTILE_VM_READ_VICTIM: {
		char buf[64];
		struct iovec local = { buf, sizeof(buf) }, remote = { (void *)(uintptr_t)0x10000, sizeof(buf) };
		r = process_vm_readv(victim, &local, 1, &remote, 1, 0);
		/* EFAULT means the permission check passed: an escape */
		judge(o, r, "process_vm_readv(victim)");
		break;
	}
	case HOSTILE_PROC_MEM_VICTIM:
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)victim);
		try_open(o, path, O_RDONLY);
		break;
	case HOSTILE_PROC_FD_VICTIM:
		snprintf(path, sizeof(path), "/proc/%d/fd/3", (int)victim);
		try_open(o, path, O_RDWR);
		break;
	case HOSTILE_PIDFD_GETFD_VICTIM: {
		long pfd = syscall(SYS_pidfd_open, victim, 0);
		if (pfd >= 0) {
			r = syscall(SYS_pidfd_getfd, (int)pfd, 3, 0);
			judge(o, r, "pidfd_getfd(victim, 3)");
			if (r >= 0)
				close((int)r);
			close((int)pfd);
		} else {
			judge(o, pfd, "pidfd_open(victim)");
		}
		break;
	}
	case HOSTILE_KILL_VICTIM:
		r = kill(victim, SIGKILL);
		judge(o, r, "kill(victim, SIGKILL)");
		break;
	case HOSTILE_SIGNAL_UDKD:
		r = kill(udkd, 0);
		judge(o, r, "kill(udkd, 0)");
		break;
	case HOSTILE_FORK: {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		judge(o, p, "fork()");
		if (p > 0)
			waitpid(p, NULL, 0);
		break;
	}
	case HOSTILE_EXEC_SHELL: {
		char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"exit 0", NULL };
		r = execve("/bin/sh", argv, environ);
		judge(o, r, "execve(/bin/sh)");
		break;
	}
	case HOSTILE_EXECVEAT_SHELL: {
		char *argv[] = { (char *)"sh", (char *)"-c", (char *)"exit 0", NULL };
		int dfd = open("/bin", O_PATH | O_DIRECTORY | O_CLOEXEC);
		r = syscall(SYS_execveat, dfd >= 0 ? dfd : AT_FDCWD, dfd >= 0 ? "sh" : "/bin/sh", argv, environ, 0);
		judge(o, r, "execveat(/bin, sh)");
		if (dfd >= 0)
			close(dfd);
		break;
	}
	case HOSTILE_CLONE_NEWNS:
		r = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
		if (r == 0)
			_exit(0);
		judge(o, r, "clone(CLONE_NEWNS)");
		if (r > 0)
			waitpid((pid_t)r, NULL, 0);
		break;
	case HOSTILE_UNSHARE_USER:
		judge(o, unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)");
		break;
	case HOSTILE_MOUNT_TMPFS:
		r = mount("none", "/tmp", "tmpfs", 0, NULL);
		judge(o, r, "mount(tmpfs, /tmp)");
		if (r == 0)
			umount("/tmp");
		break;
	case HOSTILE_CHROOT:
		judge(o, chroot("/"), "chroot(/)");
		break;
	case HOSTILE_SETUID_ROOT:
		judge(o, setuid(0), "setuid(0)");
		break;
	case HOSTILE_RAISE_NOFILE: {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max = rl.rlim_max + 1024;
		judge(o, setrlimit(RLIMIT_NOFILE, &rl), "setrlimit(RLIMIT_NOFILE, +1024)");
		break;
	}
	case HOSTILE_PRLIMIT_RAISE: {
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
		judge(o, prlimit(0, RLIMIT_DATA, &rl, NULL), "prlimit(RLIMIT_DATA, infinity)");
		break;
	}
	case HOSTILE_MKNOD:
		snprintf(path, sizeof(path), "/tmp/udk-hostile-null-%d", (int)getpid());
		r = mknod(path, S_IFCHR | 0666, makedev(1, 3));
		judge(o, r, "mknod(/dev/null twin)");
		if (r == 0)
			unlink(path);
		break;
	case HOSTILE_IO_URING:
		r = syscall(SYS_io_uring_setup, 4, calloc(1, 256));
		judge(o, r, "io_uring_setup");
		if (r >= 0)
			close((int)r);
		break;
	case HOSTILE_BPF: {
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.map_type = BPF_MAP_TYPE_ARRAY;
		attr.key_size = 4;
		attr.value_size = 4;
		attr.max_entries = 1;
		r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
		judge(o, r, "bpf(BPF_MAP_CREATE)");
		if (r >= 0)
			close((int)r);
		break;
	}
	case HOSTILE_PERF_EVENT: {
		struct perf_event_attr pa;
		memset(&pa, 0, sizeof(pa));
		pa.size = sizeof(pa);
		pa.type = PERF_TYPE_SOFTWARE;
		pa.config = PERF_COUNT_SW_CPU_CLOCK;
		r = syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
		judge(o, r, "perf_event_open");
		if (r >= 0)
			close((int)r);
		break;
	}
	case HOSTILE_WRITE_RO_FILE_MAP: {
		/* through the link itself: udkd runs a sealed copy, which has no path */
		int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		void *p;
		p = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
		if (p == MAP_FAILED) {
			judge(o, -1, "mapping its executable read-only");
			o->escaped = true;
		} else {
			judge(o, mprotect(p, 4096, PROT_READ | PROT_WRITE), "mprotect(read-only file mapping, WRITE)");
			munmap(p, 4096);
		}
		if (fd >= 0)
			close(fd);
		break;
	}
	case HOSTILE_WRITE_SEALED_MEMFD: {
		int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		void *p = MAP_FAILED;
		if (fd < 0 || ftruncate(fd, 4096) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
		    (p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
			judge(o, -1, "setting up sealed memory");
			o->escaped = true;
		} else {
			r = mprotect(p, 4096, PROT_READ | PROT_WRITE);
			if (r < 0) {
				char x = 1;
				r = pwrite(fd, &x, 1, 0);
			}
			judge(o, r, "mprotect(sealed shared memory, WRITE), then pwrite");
		}
		if (p != MAP_FAILED)
			munmap(p, 4096);
		if (fd >= 0)
			close(fd);
		break;
	}
	case HOSTILE_USERFAULTFD:
		r = syscall(SYS_userfaultfd, O_CLOEXEC);
		judge(o, r, "userfaultfd");
		if (r >= 0)
			close((int)r);
		break;
	case HOSTILE_KEYCTL:
		r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 1);
		judge(o, r, "keyctl(GET_KEYRING_ID, session)");
		break;
	default:
		snprintf(o->text, sizeof(o->text), "no attempt %d", which);
		o->escaped = true;
		break;
	}
}

static int
m_attempt(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct outcome o = { 0 };
	int which = (int)a->scalar_input[0];

	(void)uc;
	(void)ref;
	if (which < 0 || which >= HOSTILE_COUNT)
		return udk_error_set(-EINVAL, "attempt %d does not exist", which);
	attempt(which, (pid_t)a->scalar_input[1], (pid_t)a->scalar_input[2], &o);
	udk_log_notice("hostile: %s: %s%s", attempt_names[which], o.text, o.escaped ? " (ESCAPED)" : " (denied)");
	a->scalar_output[0] = o.escaped;
	a->scalar_output[1] = (uint64_t)o.err;
	a->scalar_output_count = 2;
	memcpy(a->struct_output, o.text, sizeof(o.text));
	a->struct_output_size = sizeof(o.text);
	return 0;
}

static const struct udk_method_dispatch methods[] = {
	{ m_attempt, "Attempt", 0, 3, 0, 2, HOSTILE_TEXT },
};

static int
drv_start(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	return udk_service_register(self);
}

static int
drv_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret)
{
	(void)type;
	return udk_user_client_create(self, "HostileUserClient", ret);
}

static const struct udk_class hostile_driver = {
	UDK_CLASS_INIT,
	.name = "HostileDriver",
	.start = drv_start,
	.new_user_client = drv_new_user_client,
};

static const struct udk_class hostile_user_client = {
	UDK_CLASS_INIT,
	.name = "HostileUserClient",
	.methods = methods,
	.n_methods = 1,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &hostile_driver, &hostile_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
