/* SPDX-License-Identifier: MIT */
/* util.h - small helpers shared by every udk component (internal). */
#ifndef UDK_COMMON_UTIL_H
#define UDK_COMMON_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <udk/udk.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))

/* Hand over ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

#define udk_return_val_if_fail(expr, val)                                       \
	do {                                                                    \
		if (!(expr))                                                    \
			return (val);                                           \
	} while (0)

static inline void
freep(void *p)
{
	free(*(void **)p);
}

static inline void
closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void
fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#ifndef UDK_STREQ_DEFINED
#define UDK_STREQ_DEFINED
static inline bool
streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}
#endif

static inline bool
startswith(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Monotonic clock in nanoseconds / milliseconds. */
static inline uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
now_ms(void)
{
	return now_ns() / 1000000ull;
}

/* Wall clock, for logs and crash histories. */
static inline uint64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* asprintf that returns NULL on failure. */
char *
strdup_printf(const char *fmt, ...) UDK_PRINTF(1, 2);

/* Set the thread's reason sentence (see udk_error_reason()); returns @code. */
int
udk_set_reason(int code, const char *fmt, ...) UDK_PRINTF(2, 3);
void
udk_clear_reason(void);
/* When a UDK_E_* code happens and what to do about it (lib/common/error.c's
 * table); NULL for errno codes. */
const char *
udk_error_when(int code);
const char *
udk_error_fix(int code);
/* "UDK_E_DEADLINE" or "DEADLINE" -> -UDK_E_DEADLINE; 0 when unknown. */
int
udk_error_parse(const char *name);
/* Store a reason that arrived from a peer (NULL clears). */
void
udk_set_reason_str(const char *reason);

/* Read a whole file, at most @max bytes; -EFBIG beyond. */
int
read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* Same, relative to a directory fd, never following a final symlink. */
int
read_file_at(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len);

/* Set FD_CLOEXEC / O_NONBLOCK. */
int
fd_set_cloexec(int fd, bool on);
int
fd_set_nonblock(int fd, bool on);

/* mkdir -p with @mode for each missing component. */
int
mkdir_p(const char *path, unsigned mode);

/* Parse a decimal or 0x-hex unsigned 64-bit number, the whole string. */
int
parse_u64(const char *s, uint64_t *ret);

#endif
