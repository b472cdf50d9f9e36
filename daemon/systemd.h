/* SPDX-License-Identifier: MIT */
/*
 * systemd.h - udkd under systemd, without libsystemd (internal): the
 * socket of socket activation, readiness notification, and the journal's
 * native protocol.  Each is a few lines of a stable, documented protocol
 * (sd_listen_fds(3), sd_notify(3), systemd's "Native Journal Protocol"), so
 * a root daemon does not link a library for them.
 */
#ifndef UDKD_SYSTEMD_H
#define UDKD_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>

/* sd_listen_fds(3)'s first descriptor */
#define SYSTEMD_LISTEN_FDS_START 3

/*
 * The listening socket systemd passed (LISTEN_PID is us, LISTEN_FDS 1):
 * its descriptor, marked close-on-exec, with LISTEN_* removed from the
 * environment; -1 when there is none; -errno, with a reason, when what was
 * passed is not one listening AF_UNIX SOCK_SEQPACKET socket at @path.
 */
int systemd_listen_fd(const char *path);

/* Tell the service manager (NOTIFY_SOCKET) @state, e.g. "READY=1"; nothing without one. */
void systemd_notify(const char *state);

/* Whether stderr is the journal's stream (JOURNAL_STREAM names fd 2). */
bool journal_stream_is_stderr(void);

/* A datagram socket connected to the journal at @path (NULL: systemd's), or -errno. */
int journal_connect(const char *path);

/*
 * One entry: PRIORITY=@priority, MESSAGE=@message, SYSLOG_IDENTIFIER=udkd
 * and @n_fields more "KEY=value" strings (keys: A-Z, 0-9, _).  Values may
 * hold any byte (the length-prefixed form is used when they have a
 * newline).  -errno when the journal did not take it.
 */
int journal_send(int fd, int priority, const char *message, const char *const *fields, size_t n_fields);

/* The entry journal_send() would send, for tests: malloc'ed, *len bytes. */
int journal_format(int priority, const char *message, const char *const *fields, size_t n_fields, char **ret,
		   size_t *ret_len);

#endif
