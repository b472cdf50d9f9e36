/* SPDX-License-Identifier: MIT */
/*
 * quota.h - what one local user, one connection or one bundle may make
 * udkd hold (internal).  docs/security.md, "Limits: resources", lists them.
 *
 * Every cap has a name ("connections_per_uid"), a default, and can be set
 * with `udkd --limit NAME=N`; `udkctl status` shows them with what is in
 * use.  A refusal is UDK_E_LIMIT (counts) or UDK_E_TOO_LARGE (sizes) with
 * a sentence that names the limit.
 *
 * Descriptors: the connection caps follow udkd's RLIMIT_NOFILE, read
 * again at every accept.  A share of it is kept for drivers (their
 * sockets, pidfds and logs) and for root; unprivileged users together get
 * the rest (counting three descriptors a connection), one user at most a
 * quarter of that.  A few descriptors are
 * held open as a reserve and given up only to restart a driver or to take
 * (and answer) a connection when udkd is out of descriptors.
 */
#ifndef UDKD_QUOTA_H
#define UDKD_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <udk/value.h>

enum limit_id {
	LIM_CONNECTIONS_PER_UID,		/* connections of one unprivileged uid (0: auto) */
	LIM_CONNECTIONS_UNPRIVILEGED,		/* all unprivileged connections together (0: auto) */
	LIM_FD_RESERVE,				/* descriptors held back for restarts */
	LIM_REQUEST_BYTES,			/* a request from an unprivileged peer */
	LIM_REQUEST_BYTES_PRIVILEGED,		/* a request from root or udkd's uid */
	LIM_MATCH_BYTES,			/* a matching dictionary, encoded */
	LIM_MATCH_DEPTH,			/* its nesting */
	LIM_SUBSCRIPTIONS_PER_CONNECTION,
	LIM_SUBSCRIPTIONS_PER_UID,
	LIM_OPENS_PER_CONNECTION,		/* user-client opens waiting for a driver */
	LIM_QUEUED_PER_CONNECTION,		/* bytes of replies and notifications not yet read */
	LIM_QUEUED_PER_UID,
	LIM_QUEUED_ALL_CLIENTS,
	LIM_SERVICES_PER_BUNDLE,		/* services a bundle's processes published */
	LIM_RESOURCES_PER_BUNDLE,		/* IOResources it published */
	LIM_PROCESSES_PER_BUNDLE,		/* its processes running at once */
	LIM_COUNT
};

struct quota;

int quota_new(struct quota **ret);
void quota_free(struct quota *l);
/* "NAME=N" (with K, M or G suffixes for sizes); -EINVAL with a reason. */
int quota_set(struct quota *l, const char *assignment);
/* The value in force (the automatic ones computed from RLIMIT_NOFILE now). */
uint64_t quota_get(const struct quota *l, enum limit_id id);
const char *quota_name(enum limit_id id);
/* Root and udkd's own uid are privileged: they manage udkd. */
bool quota_privileged(uid_t uid);

/* ---- per-uid accounting (control.c) ---- */

/*
 * May a new connection of @uid be served?  @fd is the descriptor accept()
 * returned.  0, or -UDK_E_LIMIT with a reason naming the limit.
 */
int quota_admit_connection(struct quota *l, uid_t uid, int fd);
void quota_connection_opened(struct quota *l, uid_t uid);
void quota_connection_closed(struct quota *l, uid_t uid);
/* A subscription of @uid whose connection holds @on_connection already. */
int quota_admit_subscription(struct quota *l, uid_t uid, size_t on_connection);
void quota_subscriptions_changed(struct quota *l, uid_t uid, long delta);
/* Bytes queued for @uid's connections changed; the totals follow. */
void quota_queued_changed(struct quota *l, uid_t uid, long long delta);
/*
 * May @uid's connection, which has @on_connection bytes queued, queue
 * @more?  0, or -UDK_E_LIMIT with a reason.
 */
int quota_admit_queued(struct quota *l, uid_t uid, size_t on_connection, size_t more);

/* ---- per-bundle (launcher.c) ---- */

/* A bundle @identifier wants to publish one more resource: 0, or -UDK_E_LIMIT. */
int quota_admit_resource(struct quota *l, const char *identifier);

/* ---- the descriptor reserve ---- */

/* Open the reserve (LIM_FD_RESERVE descriptors on /dev/null). */
void quota_fd_refill(struct quota *l);
/* Close up to @n reserved descriptors so the next open() succeeds; how many. */
unsigned quota_fd_release(struct quota *l, unsigned n);

/* {limits: {name: value}, ...} for udkctl status; per-uid usage for @privileged viewers, else @viewer's. */
struct udk_value *quota_describe(struct quota *l, bool privileged, uid_t viewer);

#endif
