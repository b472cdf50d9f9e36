/* SPDX-License-Identifier: MIT */
/* quota.c - per-user, per-connection and per-bundle caps of udkd (see quota.h). */
#include <fcntl.h>
#include <sys/resource.h>

#include "quota.h"
#include "util.h"

/* Kept for drivers: at least this many descriptors, or a quarter of the limit. */
#define DRIVER_SHARE_MIN 256u
/* Connections only root and udkd's uid may use. */
#define ROOT_HEADROOM 64u
/* The daemon's own descriptors: listen socket, epoll, signalfd, inotify, logs. */
#define BASE_FDS 32u
/* What one connection costs: its socket, and the pidfd and executable that pin the peer (access.c). */
#define FDS_PER_CONNECTION 3u
#define MAX_RESERVE 64u

struct uid_usage {
	struct uid_usage *next;
	uid_t uid;
	unsigned connections;
	unsigned long subscriptions;
	size_t queued;
};

struct bundle_usage {
	struct bundle_usage *next;
	char *identifier;
	unsigned resources;
};

struct quota {
	uint64_t value[LIM_COUNT];		/* 0 for the automatic ones */
	struct uid_usage *uids;
	unsigned connections, unprivileged;
	size_t queued;
	struct bundle_usage *bundles;
	int reserve[MAX_RESERVE];
	unsigned n_reserve;
	unsigned long refused;			/* connections refused so far */
};

static const struct {
	const char *name;
	uint64_t def;
	bool bytes;
} table[LIM_COUNT] = {
	[LIM_CONNECTIONS_PER_UID] = { "connections_per_uid", 0, false },
	[LIM_CONNECTIONS_UNPRIVILEGED] = { "connections_unprivileged", 0, false },
	[LIM_FD_RESERVE] = { "fd_reserve", 16, false },
	[LIM_REQUEST_BYTES] = { "request_bytes", 8u << 10, true },
	[LIM_REQUEST_BYTES_PRIVILEGED] = { "request_bytes_privileged", 1u << 20, true },
	[LIM_MATCH_BYTES] = { "matching_dictionary_bytes", 8u << 10, true },
	[LIM_MATCH_DEPTH] = { "matching_dictionary_depth", 8, false },
	[LIM_SUBSCRIPTIONS_PER_CONNECTION] = { "subscriptions_per_connection", 64, false },
	[LIM_SUBSCRIPTIONS_PER_UID] = { "subscriptions_per_uid", 256, false },
	[LIM_OPENS_PER_CONNECTION] = { "opens_in_flight_per_connection", 8, false },
	[LIM_QUEUED_PER_CONNECTION] = { "queued_bytes_per_connection", 4u << 20, true },
	[LIM_QUEUED_PER_UID] = { "queued_bytes_per_uid", 32u << 20, true },
	[LIM_QUEUED_ALL_CLIENTS] = { "queued_bytes_all_clients", 256u << 20, true },
	[LIM_SERVICES_PER_BUNDLE] = { "services_per_bundle", 1024, false },
	[LIM_RESOURCES_PER_BUNDLE] = { "resources_per_bundle", 64, false },
	[LIM_PROCESSES_PER_BUNDLE] = { "processes_per_bundle", 128, false },
};

int
quota_new(struct quota **ret)
{
	struct quota *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	for (int i = 0; i < LIM_COUNT; i++)
		l->value[i] = table[i].def;
	*ret = l;
	return 0;
}

void
quota_free(struct quota *l)
{
	if (!l)
		return;
	quota_fd_release(l, l->n_reserve);
	while (l->uids) {
		struct uid_usage *u = l->uids;
		l->uids = u->next;
		free(u);
	}
	while (l->bundles) {
		struct bundle_usage *b = l->bundles;
		l->bundles = b->next;
		free(b->identifier);
		free(b);
	}
	free(l);
}

const char *
quota_name(enum limit_id id)
{
	return id < LIM_COUNT ? table[id].name : "?";
}

int
quota_set(struct quota *l, const char *assignment)
{
	const char *eq = assignment ? strchr(assignment, '=') : NULL;
	char *end = NULL;
	unsigned long long v;

	if (!eq)
		return udk_set_reason(-EINVAL, "--limit takes NAME=N, e.g. connections_per_uid=256");
	for (int i = 0; i < LIM_COUNT; i++) {
		if (strlen(table[i].name) != (size_t)(eq - assignment) ||
		    strncmp(table[i].name, assignment, (size_t)(eq - assignment)) != 0)
			continue;
		errno = 0;
		v = strtoull(eq + 1, &end, 10);
		if (table[i].bytes && end && (*end == 'K' || *end == 'M' || *end == 'G')) {
			v <<= *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
			end++;
		}
		if (errno || !end || end == eq + 1 || *end || (v == 0 && i != LIM_CONNECTIONS_PER_UID &&
							      i != LIM_CONNECTIONS_UNPRIVILEGED))
			return udk_set_reason(-EINVAL, "--limit %s: \"%s\" is not a positive number%s", table[i].name,
					      eq + 1, table[i].bytes ? " of bytes (K, M and G suffixes work)" : "");
		if (i == LIM_FD_RESERVE && v > MAX_RESERVE)
			return udk_set_reason(-EINVAL, "--limit fd_reserve: at most %u", MAX_RESERVE);
		l->value[i] = v;
		return 0;
	}
	return udk_set_reason(-EINVAL, "--limit: no limit named \"%.*s\"; `udkctl status` lists them",
			      (int)(eq - assignment), assignment);
}

bool
quota_privileged(uid_t uid)
{
	return uid == 0 || uid == getuid();
}

/* ---- descriptors ---- */

static unsigned
fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
		return 1u << 20;
	return (unsigned)rl.rlim_cur;
}

static unsigned
driver_share(unsigned fdmax)
{
	return MAX(DRIVER_SHARE_MIN, fdmax / 4);
}

static uint64_t
pool_auto(const struct quota *l, unsigned fdmax)
{
	uint64_t keep = driver_share(fdmax) + ROOT_HEADROOM + l->value[LIM_FD_RESERVE] + BASE_FDS;

	return fdmax > keep + 32 ? (fdmax - keep) / FDS_PER_CONNECTION : 16;
}

uint64_t
quota_get(const struct quota *l, enum limit_id id)
{
	unsigned fdmax;
	uint64_t pool;

	if (id >= LIM_COUNT)
		return 0;
	if (!l)
		return table[id].def ? table[id].def : 16;
	if (l->value[id] || (id != LIM_CONNECTIONS_PER_UID && id != LIM_CONNECTIONS_UNPRIVILEGED))
		return l->value[id];
	fdmax = fd_limit();
	pool = l->value[LIM_CONNECTIONS_UNPRIVILEGED] ? l->value[LIM_CONNECTIONS_UNPRIVILEGED] : pool_auto(l, fdmax);
	if (id == LIM_CONNECTIONS_UNPRIVILEGED)
		return pool;
	/* one user may take a quarter of the pool, so others still get in */
	return MIN(MAX(pool / 4, 16u), 1024u);
}

void
quota_fd_refill(struct quota *l)
{
	unsigned want;

	if (!l)
		return;
	want = (unsigned)MIN(l->value[LIM_FD_RESERVE], (uint64_t)MAX_RESERVE);
	while (l->n_reserve < want) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		l->reserve[l->n_reserve++] = fd;
	}
}

unsigned
quota_fd_release(struct quota *l, unsigned n)
{
	unsigned done = 0;

	while (l && done < n && l->n_reserve > 0) {
		close(l->reserve[--l->n_reserve]);
		done++;
	}
	return done;
}

/* ---- per uid ---- */

static struct uid_usage *
usage(struct quota *l, uid_t uid, bool create)
{
	struct uid_usage *u;

	for (u = l->uids; u; u = u->next)
		if (u->uid == uid)
			return u;
	if (!create || !(u = calloc(1, sizeof(*u))))
		return NULL;
	u->uid = uid;
	u->next = l->uids;
	l->uids = u;
	return u;
}

/* Forget a uid that holds nothing any more. */
static void
usage_gc(struct quota *l, struct uid_usage *u)
{
	if (!u || u->connections || u->subscriptions || u->queued)
		return;
	for (struct uid_usage **pp = &l->uids; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			free(u);
			return;
		}
}

int
quota_admit_connection(struct quota *l, uid_t uid, int fd)
{
	struct uid_usage *u = usage(l, uid, false);
	unsigned fdmax = fd_limit();
	uint64_t per_uid = quota_get(l, LIM_CONNECTIONS_PER_UID);
	uint64_t pool = quota_get(l, LIM_CONNECTIONS_UNPRIVILEGED);
	int r = 0;

	if (quota_privileged(uid))
		return 0;
	if (u && u->connections >= per_uid)
		r = udk_set_reason(-UDK_E_LIMIT,
				   "uid %u already has %u connections to udkd, the most one user may have "
				   "(limit connections_per_uid %llu): close some, or ask the administrator to raise it "
				   "(udkd --limit connections_per_uid=N)",
				   (unsigned)uid, u->connections, (unsigned long long)per_uid);
	else if (l->unprivileged >= pool || (unsigned)fd >= fdmax - MIN(fdmax, driver_share(fdmax)))
		r = udk_set_reason(-UDK_E_LIMIT,
				   "udkd has given users all the connections it can (limit connections_unprivileged "
				   "%llu; the rest of its %u descriptors is kept for drivers and root): try again "
				   "later",
				   (unsigned long long)pool, fdmax);
	if (r < 0)
		l->refused++;
	return r;
}

void
quota_connection_opened(struct quota *l, uid_t uid)
{
	struct uid_usage *u = usage(l, uid, true);

	if (u)
		u->connections++;
	l->connections++;
	if (!quota_privileged(uid))
		l->unprivileged++;
}

void
quota_connection_closed(struct quota *l, uid_t uid)
{
	struct uid_usage *u = usage(l, uid, false);

	if (u && u->connections)
		u->connections--;
	if (l->connections)
		l->connections--;
	if (!quota_privileged(uid) && l->unprivileged)
		l->unprivileged--;
	usage_gc(l, u);
}

int
quota_admit_subscription(struct quota *l, uid_t uid, size_t on_connection)
{
	struct uid_usage *u = usage(l, uid, false);
	uint64_t per_conn = l->value[LIM_SUBSCRIPTIONS_PER_CONNECTION];
	uint64_t per_uid = l->value[LIM_SUBSCRIPTIONS_PER_UID];

	if (on_connection >= per_conn)
		return udk_set_reason(-UDK_E_LIMIT,
				      "this connection already has %zu notifications (limit "
				      "subscriptions_per_connection %llu): remove some with udk_notification_remove()",
				      on_connection, (unsigned long long)per_conn);
	if (!quota_privileged(uid) && u && u->subscriptions >= per_uid)
		return udk_set_reason(-UDK_E_LIMIT,
				      "uid %u already has %lu notifications on all its connections (limit "
				      "subscriptions_per_uid %llu): remove some",
				      (unsigned)uid, u->subscriptions, (unsigned long long)per_uid);
	return 0;
}

void
quota_subscriptions_changed(struct quota *l, uid_t uid, long delta)
{
	struct uid_usage *u = usage(l, uid, delta > 0);

	if (!u)
		return;
	if (delta < 0 && (unsigned long)-delta > u->subscriptions)
		u->subscriptions = 0;
	else
		u->subscriptions = (unsigned long)((long)u->subscriptions + delta);
	usage_gc(l, u);
}

void
quota_queued_changed(struct quota *l, uid_t uid, long long delta)
{
	struct uid_usage *u = usage(l, uid, delta > 0);

	if (delta < 0 && (size_t)-delta > l->queued)
		l->queued = 0;
	else
		l->queued = (size_t)((long long)l->queued + delta);
	if (!u)
		return;
	if (delta < 0 && (size_t)-delta > u->queued)
		u->queued = 0;
	else
		u->queued = (size_t)((long long)u->queued + delta);
	usage_gc(l, u);
}

int
quota_admit_queued(struct quota *l, uid_t uid, size_t on_connection, size_t more)
{
	struct uid_usage *u = usage(l, uid, false);
	uint64_t per_conn = l->value[LIM_QUEUED_PER_CONNECTION];
	uint64_t per_uid = l->value[LIM_QUEUED_PER_UID];
	uint64_t all = l->value[LIM_QUEUED_ALL_CLIENTS];

	/* a reply that does not fit an empty queue still goes: the peer reads it or is dropped */
	if (on_connection && on_connection + more > per_conn)
		return udk_set_reason(-UDK_E_LIMIT,
				      "%zu bytes of replies and notifications wait for this connection to read them "
				      "(limit queued_bytes_per_connection %llu)",
				      on_connection, (unsigned long long)per_conn);
	if (quota_privileged(uid))
		return 0;
	if (u && u->queued + more > per_uid)
		return udk_set_reason(-UDK_E_LIMIT,
				      "%zu bytes wait for the connections of uid %u to read them (limit "
				      "queued_bytes_per_uid %llu)",
				      u->queued, (unsigned)uid, (unsigned long long)per_uid);
	if (l->queued + more > all)
		return udk_set_reason(-UDK_E_LIMIT,
				      "%zu bytes wait for clients to read them (limit queued_bytes_all_clients %llu)",
				      l->queued, (unsigned long long)all);
	return 0;
}

/* ---- per bundle ---- */

int
quota_admit_resource(struct quota *l, const char *identifier)
{
	struct bundle_usage *b;
	uint64_t max = l->value[LIM_RESOURCES_PER_BUNDLE];

	if (!identifier)
		identifier = "?";
	for (b = l->bundles; b; b = b->next)
		if (streq(b->identifier, identifier))
			break;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || !(b->identifier = strdup(identifier))) {
			free(b);
			return -ENOMEM;
		}
		b->next = l->bundles;
		l->bundles = b;
	}
	if (b->resources >= max)
		return udk_set_reason(-UDK_E_LIMIT,
				      "%s has published %u resources, the most a bundle may (limit "
				      "resources_per_bundle %llu)",
				      identifier, b->resources, (unsigned long long)max);
	b->resources++;
	return 0;
}

/* ---- udkctl status ---- */

struct udk_value *
quota_describe(struct quota *l, bool privileged, uid_t viewer)
{
	struct udk_value *v = udk_value_new_dict(), *lim = udk_value_new_dict(), *use = udk_value_new_dict();
	struct udk_value *uids = udk_value_new_array();
	unsigned fdmax = fd_limit();

	for (int i = 0; i < LIM_COUNT; i++)
		udk_dict_set_uint(lim, table[i].name, quota_get(l, (enum limit_id)i));
	udk_dict_set_take(v, "limits", lim);
	udk_dict_set_uint(use, "fd_limit", fdmax);
	udk_dict_set_uint(use, "fds_kept_for_drivers", driver_share(fdmax));
	udk_dict_set_uint(use, "fds_reserved", l->n_reserve);
	udk_dict_set_uint(use, "connections", l->connections);
	udk_dict_set_uint(use, "connections_unprivileged", l->unprivileged);
	udk_dict_set_uint(use, "connections_refused", l->refused);
	udk_dict_set_uint(use, "queued_bytes_all_clients", l->queued);
	for (struct uid_usage *u = l->uids; u; u = u->next) {
		struct udk_value *e;
		if (!privileged && u->uid != viewer)
			continue;
		e = udk_value_new_dict();
		udk_dict_set_uint(e, "uid", u->uid);
		udk_dict_set_uint(e, "connections", u->connections);
		udk_dict_set_uint(e, "subscriptions", u->subscriptions);
		udk_dict_set_uint(e, "queued_bytes", u->queued);
		udk_array_append_take(uids, e);
	}
	udk_dict_set_take(use, "uids", uids);
	udk_dict_set_take(v, "usage", use);
	return v;
}
