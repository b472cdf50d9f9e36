/* SPDX-License-Identifier: MIT */
/*
 * file.h - reading files a peer may have chosen, without ever blocking on
 * them (internal).
 *
 * udkd reads files that local users name or can write: an app's
 * executable and its APP.udksig, bundles' manifests.  Any of them may be a
 * FIFO (open() blocks until a writer comes), a device (/dev/zero never
 * ends), a symbolic link to a secret, or huge.  So every such file is
 *
 *   opened with O_NONBLOCK | O_NOFOLLOW | O_NOCTTY (a FIFO open returns at
 *   once, a final symlink is refused),
 *   checked on the descriptor with fstat(): regular files only,
 *   read at most @max bytes, whatever the file claims or grows to.
 *
 * Errors are -errno values; callers say which file in their reason.
 */
#ifndef UDK_COMMON_FILE_H
#define UDK_COMMON_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/*
 * Open @name (relative to @dirfd, or AT_FDCWD) for reading: a regular file
 * or -EINVAL ("not a regular file"), -ELOOP for a symbolic link, -EFBIG
 * when larger than @max (0: no size check).  @st receives the fstat.
 * With @follow, a final symbolic link is followed (the target is still
 * checked on the fd).  Returns the fd (O_CLOEXEC, O_NONBLOCK).
 */
int file_open_regular(int dirfd, const char *name, size_t max, bool follow, struct stat *st);

/*
 * Read the whole of the regular file open at @fd from offset 0, at most
 * @max bytes (-EFBIG beyond).  The buffer is NUL-terminated (not counted).
 */
int file_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* file_open_regular() + file_read_fd(). */
int file_read_regular(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len);

/*
 * A directory udkd keeps its socket or its state in: it must be a real
 * directory (not a symbolic link) owned by root or by udkd's own uid, and
 * nobody else may write to it.  Returns 0 when it is so, 1 when it was
 * fixed (udkd's own directory with too open a mode: made 0755), or
 * -EPERM / -ENOTDIR / -errno with *ret_reason (malloc'ed) naming the
 * directory, its owner and mode, and what to do.
 */
int file_check_private_dir(const char *what, const char *path, char **ret_reason);

/* What @st is, in a word or two, for messages: "a FIFO", "a directory"... */
const char *file_kind(const struct stat *st);

/*
 * Replace the file @path as a whole with @len bytes of @data: written to
 * "PATH.tmp" (O_NOFOLLOW, @mode), fsynced, renamed over @path, then the
 * directory fsynced, so a crash leaves either the old file or the new one.
 * 0 or -errno; the temporary file is removed on failure.
 */
int file_replace(const char *path, const void *data, size_t len, unsigned mode);

/* fsync the directory holding @path (after a rename into it); best effort. */
void file_sync_dir_of(const char *path);

#endif
