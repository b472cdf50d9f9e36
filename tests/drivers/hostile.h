/* SPDX-License-Identifier: MIT */
/*
 * hostile.h - the escapes the hostile test driver attempts, shared by the
 * driver (tests/drivers/hostile.c) and its test (test-sandbox.c).
 *
 * Selector 0 "Attempt": scalars in {attempt, udkd pid, victim driver pid}
 * -> scalars out {escaped (0/1), errno}, structure out: a sentence.
 */
#ifndef UDK_TEST_HOSTILE_H
#define UDK_TEST_HOSTILE_H

#define HOSTILE_TEXT 256

#define HOSTILE_ATTEMPTS(X)                                                                     \
	X(READ_ETC_PASSWD, "open /etc/passwd (a file outside its bundle)")                      \
	X(READ_PROC_1, "read /proc/1/environ (another process's secrets)")                      \
	X(WRITE_OWN_BUNDLE, "open its own Info.plist for writing")                               \
	X(CREATE_TMP_FILE, "create a file in /tmp")                                              \
	X(MKDIR_TMP, "create a directory in /tmp")                                               \
	X(OPEN_DEV_MEM, "open /dev/kmsg")                                                        \
	X(SOCKET_INET, "open a TCP socket")                                                      \
	X(SOCKET_UNIX, "open a unix socket (to reach udkd or other services)")                   \
	X(SOCKET_NETLINK, "open a netlink socket")                                               \
	X(PTRACE_UDKD, "ptrace-attach to udkd")                                                  \
	X(VM_READ_VICTIM, "process_vm_readv another driver's memory")                            \
	X(PROC_MEM_VICTIM, "open /proc/<other driver>/mem")                                      \
	X(PROC_FD_VICTIM, "open another driver's descriptors through /proc/<pid>/fd")            \
	X(PIDFD_GETFD_VICTIM, "pidfd_open another driver to steal its descriptors")              \
	X(KILL_VICTIM, "SIGKILL another driver")                                                 \
	X(SIGNAL_UDKD, "signal udkd")                                                            \
	X(FORK, "fork a child process")                                                          \
	X(EXEC_SHELL, "execve /bin/sh")                                                          \
	X(EXECVEAT_SHELL, "execveat /bin/sh through a directory descriptor")                     \
	X(CLONE_NEWNS, "clone into a new mount namespace")                                       \
	X(UNSHARE_USER, "unshare a user namespace")                                              \
	X(MOUNT_TMPFS, "mount a tmpfs")                                                          \
	X(CHROOT, "chroot")                                                                      \
	X(SETUID_ROOT, "setuid(0)")                                                              \
	X(RAISE_NOFILE, "raise its descriptor limit")                                            \
	X(PRLIMIT_RAISE, "raise its memory limit with prlimit")                                  \
	X(MKNOD, "create a device node")                                                         \
	X(IO_URING, "set up io_uring (a way around the syscall filter)")                         \
	X(BPF, "load a BPF program")                                                             \
	X(PERF_EVENT, "open a perf event")                                                       \
	X(WRITE_RO_FILE_MAP, "write through a read-only mapping of its own executable")          \
	X(WRITE_SEALED_MEMFD, "write through a mapping of sealed (read-only) shared memory")     \
	X(USERFAULTFD, "create a userfaultfd")                                                   \
	X(KEYCTL, "reach the kernel keyring")

#define HOSTILE_ENUM(name, text) HOSTILE_##name,
enum { HOSTILE_ATTEMPTS(HOSTILE_ENUM) HOSTILE_COUNT };
#undef HOSTILE_ENUM

#endif
