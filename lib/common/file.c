/* SPDX-License-Identifier: MIT */
/* file.c - bounded, non-blocking reads of files a peer may have chosen (see file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "file.h"
#include "util.h"

const char *
file_kind(const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "not a regular file";
	}
}

int
file_open_regular(int dirfd, const char *name, size_t max, bool follow, struct stat *ret_st)
{
	_cleanup_close_ int pfd = -1;
	struct stat st, st2;
	char proc[64];
	int fd;

	/*
	 * O_PATH first: neither a FIFO nor a device is opened for real (an open
	 * can block, or have effects of its own), and the inode is checked
	 * before anything is read.
	 */
	pfd = openat(dirfd, name, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (max && (uint64_t)st.st_size > max)
		return -EFBIG;
	/* the same inode, now readable; O_NONBLOCK in case it was swapped meanwhile */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) /* no /proc: open by name, checked below */
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || !S_ISREG(st2.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (ret_st)
		*ret_st = st2;
	return fd;
}

int
file_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0, cap;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	/* the size may change underneath: never read more than @max */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;
		if (len == cap) {
			char *nb;
			if (cap > max)
				return -EFBIG;
			cap = MIN(cap * 2, max + 1);
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return -EFBIG;
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int
file_read_regular(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = file_open_regular(dirfd, name, max, false, NULL);
	if (fd < 0)
		return fd;
	r = file_read_fd(fd, max, ret_buf, ret_len);
	return r;
}

int
file_check_private_dir(const char *what, const char *path, char **ret_reason)
{
	struct stat st;
	uid_t me = geteuid();

	*ret_reason = NULL;
	if (lstat(path, &st) < 0) {
		int r = -errno;
		*ret_reason = strdup_printf("cannot examine the %s %s: %s", what, path, strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		*ret_reason = strdup_printf("the %s %s is %s, not a directory: remove it, or choose another "
					    "directory",
					    what, path, file_kind(&st));
		return -ENOTDIR;
	}
	if (st.st_uid != me && st.st_uid != 0) {
		*ret_reason = strdup_printf("the %s %s belongs to uid %u (mode %04o), not to udkd (uid %u): another "
					    "user made it and could have put files or a socket in it. Remove it "
					    "(`rm -r %s`) and start udkd again, or give udkd a directory of its own",
					    what, path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
					    (unsigned)me, path);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		mode_t fixed = (st.st_mode & 07777) & ~(mode_t)(S_IWGRP | S_IWOTH | S_ISVTX);
		if (st.st_uid == me && chmod(path, fixed) == 0) {
			*ret_reason = strdup_printf("the %s %s was writable by %s (mode %04o); udkd made it %04o",
						    what, path, (st.st_mode & S_IWOTH) ? "every user" : "its group",
						    (unsigned)(st.st_mode & 07777), (unsigned)fixed);
			return 1;
		}
		*ret_reason = strdup_printf("the %s %s is writable by %s (mode %04o, owner uid %u), so other users "
					    "could change what udkd keeps there: `chmod go-w %s`",
					    what, path, (st.st_mode & S_IWOTH) ? "every user" : "its group",
					    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, path);
		return -EPERM;
	}
	return 0;
}

void
file_sync_dir_of(const char *path)
{
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	int fd;

	if (slash && slash != dir) {
		*slash = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	free(dir);
}

int
file_replace(const char *path, const void *data, size_t len, unsigned mode)
{
	char *tmp = strdup_printf("%s.tmp", path);
	int fd, r = 0;

	if (!tmp)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
	} else {
		if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0)
			r = -EIO;
		close(fd);
		if (r == 0 && rename(tmp, path) < 0)
			r = -errno;
	}
	if (r < 0)
		unlink(tmp);
	else
		file_sync_dir_of(path);
	free(tmp);
	return r;
}
