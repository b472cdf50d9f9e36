/* SPDX-License-Identifier: MIT */
/*
 * control.c - the control socket, $RUNTIME/udkd.sock.
 *
 * Apps (through libudk) and udkctl connect here to read the registry,
 * subscribe to notifications and open user clients.  udkd brokers a user
 * client once: it asks the driver's NewUserClient() and hands the app one
 * end of a fresh socketpair; afterwards the app and the driver talk
 * directly.  A client that sends something malformed gets OP_ERROR with a
 * reason and is disconnected; nothing else is affected.
 *
 * The requests and their fields are defined in lib/common/proto.xml: the
 * generated table (proto-control-table.h) decodes and checks each body
 * and calls handle_control_OPNAME() below with the decoded request.
 */
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "outbox.h"
#include "proto.h"
#include "proto-control-table.h"
#include "quota.h"
#include "sandbox.h"
#include "systemd.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

/* How long accept() rests when udkd is out of descriptors even after its reserve. */
#define ACCEPT_PAUSE_MS 100
/* Requests larger than this (root's) return their memory to the system when done. */
#define TRIM_AFTER (256u << 10)

struct subscription {
	uint64_t cookie;
	char type[16];
	struct udk_value *match;
};

struct client {
	unsigned refcount;
	struct client *next;
	struct udkd *d;
	int fd;
	struct loop_source *src;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char *name;
	bool dead;
	bool hello;
	struct subscription *subs;
	size_t n_subs;
	struct outbox out;
	unsigned opens;			/* OP_OPEN requests waiting for a driver */
	struct app_pin *pin;		/* the peer, pinned at accept (access.c) */
};

const struct app_identity *
client_identity(struct udkd *d, struct client *c)
{
	(void)d;
	return app_pin_identity(c->pin);
}

struct client *
client_ref(struct client *c)
{
	if (c)
		c->refcount++;
	return c;
}

void
client_unref(struct client *c)
{
	if (!c || --c->refcount > 0)
		return;
	for (size_t i = 0; i < c->n_subs; i++)
		udk_value_unref(c->subs[i].match);
	outbox_clear(&c->out);
	app_pin_unref(c->pin);
	free(c->subs);
	free(c->name);
	free(c);
}

static void
client_close(struct udkd *d, struct client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	loop_source_remove(c->src);
	c->src = NULL;
	close(c->fd);
	c->fd = -1;
	/* what it held counts no more, even while references linger */
	outbox_clear(&c->out);
	c->out.hooks = NULL;
	for (size_t i = 0; i < c->n_subs; i++)
		udk_value_unref(c->subs[i].match);
	quota_subscriptions_changed(d->quota, c->uid, -(long)c->n_subs);
	c->n_subs = 0;
	quota_connection_closed(d->quota, c->uid);
	/* a descriptor came free: top the reserve up */
	quota_fd_refill(d->quota);
	for (struct client **pp = &d->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	client_unref(c);
}

/* Send without ever blocking; a client that does not read is dropped. */
static int
client_send(struct udkd *d, struct client *c, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	    const struct udk_value *body, const int *fds, unsigned n_fds)
{
	int r;

	if (c->dead)
		return -EPIPE;
	r = outbox_send(&c->out, c->fd, op, flags, serial, status, body, fds, n_fds);
	if (r == 1) {
		/* no more requests until it has read its replies: what it can
		 * make udkd hold stays at about one reply */
		loop_source_set_events(c->src, EPOLLOUT);
		return 0;
	}
	if (r == -ENOBUFS)
		log_warning(d, "client %s (pid %d, uid %u) does not read what udkd sends (%s); disconnecting it",
			    c->name ? c->name : "?", c->pid, (unsigned)c->uid,
			    udk_error_reason() ? udk_error_reason() : "too much queued");
	if (r < 0)
		client_close(d, c);
	return r;
}

void
client_reply(struct udkd *d, struct client *c, uint16_t op, uint32_t serial, int status, const char *reason,
	     const struct udk_value *body, const int *fds, unsigned n_fds)
{
	struct udk_value *b = NULL;
	if (!c || c->dead)
		return;
	if (status < 0 && reason) {
		b = body ? udk_value_copy(body) : udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason);
		body = b;
	}
	client_send(d, c, op, WIRE_F_REPLY, serial, status, body, fds, n_fds);
	udk_value_unref(b);
}

static void
protocol_error(struct udkd *d, struct client *c, const char *why)
{
	struct udk_value *b = udk_value_new_dict();

	log_warning(d, "client %s (pid %d) sent a bad message: %s; disconnecting it", c->name ? c->name : "?",
		    c->pid, why);
	udk_dict_set_int(b, "code", -UDK_E_PROTOCOL);
	udk_dict_set_string(b, "reason", why);
	client_send(d, c, OP_ERROR, WIRE_F_ONEWAY, 0, -UDK_E_PROTOCOL, b, NULL, 0);
	udk_value_unref(b);
	client_close(d, c);
}

void
control_notify(struct udkd *d, struct service *s, const char *type)
{
	control_notify_changed(d, s, type, NULL);
}

void
control_notify_changed(struct udkd *d, struct service *s, const char *type, const struct udk_value *changed)
{
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		for (size_t i = 0; i < c->n_subs && !c->dead; i++) {
			struct subscription *sub = &c->subs[i];
			struct udk_value *b;
			char *path;

			if (!streq(sub->type, type) || !match_dictionary(d, sub->match, s))
				continue;
			b = udk_value_new_dict();
			path = service_path(s);
			udk_dict_set_uint(b, "cookie", sub->cookie);
			udk_dict_set_string(b, "type", type);
			udk_dict_set_uint(b, "id", s->id);
			udk_dict_set_string(b, "name", s->name);
			if (path)
				udk_dict_set_string(b, "path", path);
			free(path);
			/* what changed, with its new values, so a subscriber
			 * needs no second round trip */
			if (changed)
				udk_dict_set(b, "properties", (struct udk_value *)changed);
			if (client_send(d, c, OP_NOTIFY, WIRE_F_ONEWAY, 0, 0, b, NULL, 0) < 0) {
				udk_value_unref(b);
				break;
			}
			udk_value_unref(b);
		}
	}
}

/* ---- registry queries ---- */

static unsigned
value_depth(const struct udk_value *v)
{
	unsigned deepest = 0;

	switch (udk_value_get_type(v)) {
	case UDK_VALUE_ARRAY:
		for (size_t i = 0; i < udk_array_size(v); i++)
			deepest = MAX(deepest, value_depth(udk_array_get(v, i)));
		return deepest + 1;
	case UDK_VALUE_DICT:
		for (size_t i = 0; i < udk_dict_size(v); i++)
			deepest = MAX(deepest, value_depth(udk_dict_value_at(v, i)));
		return deepest + 1;
	default:
		return 0;
	}
}

/*
 * A matching dictionary is evaluated against every service (finds) or
 * kept for as long as a subscription lives: its size and nesting are
 * capped.  0, or a refusal already sent.
 */
static int
check_match(struct udkd *d, struct client *c, struct wire_msg *m, const struct udk_value *match)
{
	uint64_t max = quota_get(d->quota, LIM_MATCH_BYTES), max_depth = quota_get(d->quota, LIM_MATCH_DEPTH);
	uint8_t *enc = NULL;
	size_t len = 0;
	unsigned depth;
	char *why = NULL;

	if (udk_value_get_type(match) != UDK_VALUE_DICT) {
		client_reply(d, c, m->h.op, m->h.serial, -EINVAL, "match must be a dictionary", NULL, NULL, 0);
		return -EINVAL;
	}
	if (wire_encode_value(match, &enc, &len) < 0 || len > max)
		why = strdup_printf("the matching dictionary takes %zu bytes; udkd accepts up to %llu (limit "
				    "matching_dictionary_bytes): match on fewer or shorter properties",
				    len, (unsigned long long)max);
	else if ((depth = value_depth(match)) > max_depth)
		why = strdup_printf("the matching dictionary is nested %u levels deep; udkd accepts up to %llu "
				    "levels (limit matching_dictionary_depth)",
				    depth, (unsigned long long)max_depth);
	free(enc);
	if (!why)
		return 0;
	client_reply(d, c, m->h.op, m->h.serial, -UDK_E_TOO_LARGE, why, NULL, NULL, 0);
	free(why);
	return -UDK_E_TOO_LARGE;
}

struct tree_ctx {
	bool props;
	struct udk_value *list;
};

static void
collect_tree(struct udkd *d, struct service *s, void *data)
{
	struct tree_ctx *t = data;

	udk_array_append_take(t->list, service_describe(d, s, t->props));
}

static void
handle_control_tree(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_tree_req *req)
{
	struct tree_ctx t = { req->has_properties && req->properties, udk_value_new_array() };
	struct udk_value *body = udk_value_new_dict();

	registry_walk(d, collect_tree, &t);
	udk_dict_set_take(body, "services", t.list);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

struct find_ctx {
	struct udk_value *match;
	struct udk_value *ids;
};

static void
collect_matching(struct udkd *d, struct service *s, void *data)
{
	struct find_ctx *f = data;

	if (s->state == SVC_REGISTERED && match_dictionary(d, f->match, s))
		udk_array_append_take(f->ids, udk_value_new_uint(s->id));
}

static void
handle_control_find(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_find_req *req)
{
	struct find_ctx f = { .match = (struct udk_value *)req->match, .ids = udk_value_new_array() };
	struct udk_value *body = udk_value_new_dict();

	if (check_match(d, c, m, f.match) < 0) {
		udk_value_unref(f.ids);
		udk_value_unref(body);
		return;
	}
	registry_walk(d, collect_matching, &f);
	udk_dict_set_take(body, "ids", f.ids);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* The service a request names by {id} or else {path}. */
static struct service *
service_arg(struct udkd *d, bool has_id, uint64_t id, const char *path)
{
	if (has_id)
		return service_by_id(d, id);
	if (path)
		return service_by_path(d, path);
	return NULL;
}

static void
handle_control_properties(struct udkd *d, struct client *c, struct wire_msg *m,
			  const struct proto_properties_req *req)
{
	struct service *s = service_arg(d, req->has_id, req->id, req->path);
	struct udk_value *body;

	if (!s) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_NO_SUCH_SERVICE,
			     "no such service; it may have been terminated", NULL, NULL, 0);
		return;
	}
	body = service_describe(d, s, true);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

static void
handle_control_subscribe(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_subscribe_req *req)
{
	const char *type = req->type;
	struct udk_value *match = (struct udk_value *)req->match;
	struct subscription *n;

	/* proto.xml lists its values */
	if (!type) {
		client_reply(d, c, m->h.op, m->h.serial, -EINVAL,
			     "type must be \"arrival\", \"termination\" or \"property\"", NULL, NULL, 0);
		return;
	}
	if (!match || !req->has_cookie) {
		client_reply(d, c, m->h.op, m->h.serial, -EINVAL, "match must be a dictionary and cookie an integer",
			     NULL, NULL, 0);
		return;
	}
	if (check_match(d, c, m, match) < 0)
		return;
	if (quota_admit_subscription(d->quota, c->uid, c->n_subs) < 0) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_LIMIT, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	n = reallocarray(c->subs, c->n_subs + 1, sizeof(*n));
	if (!n) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	c->subs = n;
	n = &c->subs[c->n_subs++];
	memset(n, 0, sizeof(*n));
	n->cookie = req->cookie;
	snprintf(n->type, sizeof(n->type), "%s", type);
	n->match = udk_value_ref(match);
	quota_subscriptions_changed(d->quota, c->uid, 1);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
}

static void
handle_control_unsubscribe(struct udkd *d, struct client *c, struct wire_msg *m,
			   const struct proto_unsubscribe_req *req)
{
	uint64_t cookie = req->cookie;
	size_t w = 0;

	for (size_t i = 0; i < c->n_subs; i++) {
		if (c->subs[i].cookie == cookie) {
			udk_value_unref(c->subs[i].match);
			continue;
		}
		c->subs[w++] = c->subs[i];
	}
	quota_subscriptions_changed(d->quota, c->uid, -(long)(c->n_subs - w));
	c->n_subs = w;
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
}

/* ---- opening user clients ---- */

struct open_req {
	struct client *client;
	uint32_t serial;
	int app_fd;		/* the app's end, sent once the driver agrees */
	int drv_fd;		/* a copy of the driver's end: launcher_uc_opened() keeps it */
	uint64_t service;
};

static void
open_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	struct open_req *o = data;

	if (status >= 0) {
		struct udk_value *body = udk_value_new_dict();
		uint64_t object = udk_value_get_uint(udk_dict_get(reply->body, "object"), 0);
		access_link_opened(d, client_identity(d, o->client), o->client->pid, o->client->name, p, object);
		launcher_uc_opened(d, p, object, o->service, o->drv_fd);
		o->drv_fd = -1;
		udk_dict_set_uint(body, "object", object);
		udk_dict_set_uint(body, "service", o->service);
		client_reply(d, o->client, OP_OPEN, o->serial, 0, NULL, body, &o->app_fd, 1);
		udk_value_unref(body);
	} else {
		const char *reason = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
		client_reply(d, o->client, OP_OPEN, o->serial, status,
			     reason ? reason : "the driver refused to open a user client", NULL, NULL, 0);
	}
	close(o->app_fd);
	if (o->drv_fd >= 0)
		close(o->drv_fd);
	if (o->client->opens)
		o->client->opens--;
	client_unref(o->client);
	free(o);
}

/* An open that waited for the app's identity (access.c): decoded again from the kept body. */
static void
open_again(struct udkd *d, struct client *c, struct wire_msg *m)
{
	struct proto_open_req req;
	char why[256];
	int r;

	if (c->dead)
		return;
	r = proto_open_decode(m->body, &req, why, sizeof(why));
	if (r < 0)
		client_reply(d, c, m->h.op, m->h.serial, r, why, NULL, NULL, 0);
	else
		handle_control_open(d, c, m, &req);
}

static void
handle_control_open(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_open_req *req)
{
	struct service *s = service_arg(d, req->has_id, req->id, req->path);
	int64_t type = req->has_type ? req->type : 0;
	struct driver_proc *p;
	struct udk_value *body, *who;
	const struct udk_value *ucp = NULL;
	struct open_req *o;
	int sv[2], r;

	if (!s || s->state == SVC_TERMINATED) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_NO_SUCH_SERVICE,
			     "no such service; it may have been terminated", NULL, NULL, 0);
		return;
	}
	p = s->owner;
	if (p && p->kind == PROC_KIND_MODEL) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_UNSUPPORTED,
			     "this service is the device itself; open the driver that is attached to it", NULL, NULL,
			     0);
		return;
	}
	/* a driver may register before Start() returns; the request waits
	 * on its queue until Start() is done */
	if (!p || (p->state != PROC_RUNNING && p->state != PROC_STARTING)) {
		client_reply(d, c, m->h.op, m->h.serial, p && p->state != PROC_DEAD ? -EAGAIN : -UDK_E_NO_SUCH_SERVICE,
			     p && p->state != PROC_DEAD
				     ? "the driver of this service is still starting; wait for its arrival notification"
				     : "no running driver answers for this service, so it has no user clients",
			     NULL, NULL, 0);
		return;
	}
	if (p->bundle) {
		const char *why = NULL;
		if (lifecycle_refuses_open(d, p->bundle, &why)) {
			client_reply(d, c, m->h.op, m->h.serial, -UDK_E_DRIVER_REPLACED, why, NULL, NULL, 0);
			return;
		}
	}
	if (s->state != SVC_REGISTERED) {
		client_reply(d, c, m->h.op, m->h.serial, -EAGAIN,
			     "the service is not registered yet; its driver must call udk_service_register()", NULL,
			     NULL, 0);
		return;
	}
	/* the user client comes from the personality of the instance that answers for @s */
	{
		struct service *inst = s;
		while (inst && (inst->istate == INST_NONE || inst->owner != p))
			inst = inst->provider;
		ucp = inst && inst->personality ? udk_dict_get(inst->personality->dict, "UserClientProperties") : NULL;
	}
	/* the app's identity is hashed on a worker: the open waits for it, not the loop */
	if (p->bundle && app_pin_wait(d, c->pin, c, m, open_again))
		return;
	if (p->bundle && access_check_pinned(d, c->pin, m, p->bundle, ucp) < 0) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_NOT_PERMITTED, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	if (c->opens >= quota_get(d->quota, LIM_OPENS_PER_CONNECTION)) {
		char *why = strdup_printf("this connection already waits for %u user clients to open (limit "
					  "opens_in_flight_per_connection %llu): wait for their answers",
					  c->opens,
					  (unsigned long long)quota_get(d->quota, LIM_OPENS_PER_CONNECTION));
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_LIMIT, why, NULL, NULL, 0);
		free(why);
		return;
	}
	/* an idled driver wakes first: its queue runs SetPowerState(on) before NewUserClient.
	 * The instance is the one that answers for @s (a one-process server runs several). */
	{
		struct service *inst = s;
		while (inst && (inst->istate == INST_NONE || inst->owner != p))
			inst = inst->provider;
		power_activity(d, inst ? inst : p->instance);
	}
	if (wire_socketpair(sv) < 0) {
		client_reply(d, c, m->h.op, m->h.serial, -errno, "cannot create a socket pair", NULL, NULL, 0);
		return;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		close(sv[0]);
		close(sv[1]);
		client_reply(d, c, m->h.op, m->h.serial, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	o->client = client_ref(c);
	o->serial = m->h.serial;
	o->app_fd = sv[0];
	o->drv_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
	o->service = s->id;
	body = udk_value_new_dict();
	who = udk_value_new_dict();
	udk_dict_set_int(who, "pid", c->pid);
	udk_dict_set_int(who, "uid", c->uid);
	if (c->name)
		udk_dict_set_string(who, "name", c->name);
	udk_dict_set_uint(body, "object", s->id);
	udk_dict_set_int(body, "type", type);
	udk_dict_set_take(body, "client", who);
	c->opens++;
	r = proc_request(d, p, OP_DRV_NEW_USER_CLIENT, body, &sv[1], 1, d->cfg.request_timeout_ms, open_done, o);
	udk_value_unref(body);
	close(sv[1]);
	if (r < 0) {
		c->opens--;
		close(o->app_fd);
		if (o->drv_fd >= 0)
			close(o->drv_fd);
		client_unref(o->client);
		free(o);
		client_reply(d, c, m->h.op, m->h.serial, r, "cannot reach the driver", NULL, NULL, 0);
	}
}

/* ---- management ---- */

static void
handle_control_drivers(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_drivers_req *req)
{
	struct udk_value *body = udk_value_new_dict();
	struct udk_value *list = udk_value_new_array();
	const char *only = req->driver;

	for (size_t i = 0; i < d->n_bundles; i++) {
		struct bundle *b = d->bundles[i];
		if (b->removed)
			continue;
		if (only && bundle_find(d, only) != b)
			continue;
		udk_array_append_take(list, bundle_describe(d, b));
	}
	if (only && udk_array_size(list) == 0) {
		udk_value_unref(list);
		udk_value_unref(body);
		client_reply(d, c, m->h.op, m->h.serial, -ENOENT, "no such driver bundle; `udkctl drivers` lists them",
			     NULL, NULL, 0);
		return;
	}
	udk_dict_set_take(body, "bundles", list);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

static struct bundle *
bundle_arg(struct udkd *d, struct client *c, struct wire_msg *m, const char *name)
{
	struct bundle *b = bundle_find(d, name);

	if (!b) {
		char *why = strdup_printf("no driver bundle, identifier or class named \"%s\"; `udkctl drivers` "
					  "lists them",
					  name ? name : "");
		client_reply(d, c, m->h.op, m->h.serial, -ENOENT, why, NULL, NULL, 0);
		free(why);
	}
	return b;
}

/* Mutating requests need udkd's uid or root (proto.xml marks them manage="yes"). */
static bool
allowed_to_manage(struct udkd *d, struct client *c, struct wire_msg *m)
{
	if (c->uid == 0 || c->uid == getuid())
		return true;
	client_reply(d, c, m->h.op, m->h.serial, -EPERM,
		     "only root or the user running udkd may change drivers; run udkctl as that user", NULL, NULL, 0);
	return false;
}

static void
handle_control_restart(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_restart_req *req)
{
	struct bundle *b;

	if (!(b = bundle_arg(d, c, m, req->driver)))
		return;
	if (!b->loadable) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_BAD_MANIFEST,
			     "the bundle has errors; fix them (see `udkctl drivers`) and run `udkctl rescan`", NULL,
			     NULL, 0);
		return;
	}
	log_notice(d, "restarting %s by request", b->identifier);
	launcher_restart_bundle(d, b);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
}

static void
handle_control_log_level(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_log_level_req *req)
{
	int level = udk_log_level_parse(req->level);
	const char *name = req->driver;
	struct bundle *b;

	if (level < 0) {
		client_reply(d, c, m->h.op, m->h.serial, -EINVAL,
			     "level must be one of error, warning, notice, info, debug", NULL, NULL, 0);
		return;
	}
	if (!name || streq(name, "udkd")) {
		d->cfg.log_level = level;
		client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
		return;
	}
	if (!(b = bundle_arg(d, c, m, name)))
		return;
	b->log_level = level;
	{
		struct udk_value *body = proto_drv_set_log_level_encode(&(struct proto_drv_set_log_level_req){
			.has_level = true, .level = level });
		for (struct driver_proc *p = d->procs; p && body; p = p->next)
			if (p->bundle == b && p->state != PROC_DEAD)
				proc_send(d, p, OP_DRV_SET_LOG_LEVEL, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
		udk_value_unref(body);
	}
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
}

static void
handle_control_debug(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_debug_req *req)
{
	struct bundle *b;

	if (!(b = bundle_arg(d, c, m, req->driver)))
		return;
	if (b->debug_waiter) {
		client_reply(d, c, m->h.op, m->h.serial, -EBUSY, "another udkctl debug is already waiting for this driver",
			     NULL, NULL, 0);
		return;
	}
	b->debug_next = true;
	b->debug_waiter = client_ref(c);
	b->debug_serial = m->h.serial;
	log_notice(d, "%s: the next process starts stopped for a debugger", b->identifier);
	/* restart what runs now, so the next process is the debug one */
	launcher_restart_bundle(d, b);
}

struct rescan_req {
	struct client *c;
	uint16_t op;
	uint32_t serial;
};

static void
rescan_done(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed, void *data)
{
	struct rescan_req *q = data;
	struct udk_value *body = proto_rescan_reply_encode(&(struct proto_rescan_rep){
		.has_added = true, .added = added, .has_reloaded = true, .reloaded = reloaded,
		.has_removed = true, .removed = removed });

	client_reply(d, q->c, q->op, q->serial, status, status < 0 ? "udkd is stopping" : NULL, body, NULL, 0);
	udk_value_unref(body);
	client_unref(q->c);
	free(q);
}

static void
handle_control_rescan(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_rescan_req *req)
{
	struct rescan_req *q;

	/* bundles are read and verified on a worker; the answer comes when they are in place */
	q = calloc(1, sizeof(*q));
	if (!q) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	q->c = client_ref(c);
	q->op = m->h.op;
	q->serial = m->h.serial;
	if (bundles_rescan(d, rescan_done, q) < 0) {
		client_unref(q->c);
		free(q);
		client_reply(d, c, m->h.op, m->h.serial, -ENOMEM, NULL, NULL, NULL, 0);
	}
}

static void
handle_control_status(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_status_req *req)
{
	struct udk_value *body = udk_value_new_dict();
	struct udk_value *dirs = udk_value_new_array();
	unsigned procs = 0;
	uint64_t to_drivers = 0;

	for (struct driver_proc *p = d->procs; p; p = p->next)
		procs++;
	udk_dict_set_int(body, "pid", getpid());
	udk_dict_set_string(body, "runtime_dir", d->runtime_dir);
	for (size_t i = 0; i < d->n_bundle_dirs; i++)
		udk_array_append_take(dirs, udk_value_new_string(d->bundle_dirs[i]));
	udk_dict_set_take(body, "bundle_dirs", dirs);
	udk_dict_set_int(body, "services", (int64_t)d->reg.n_all);
	udk_dict_set_int(body, "driver_processes", procs);
	udk_dict_set_int(body, "bundles", (int64_t)d->n_bundles);
	if (d->machine_path)
		udk_dict_set_string(body, "machine", d->machine_path);
	udk_dict_set_bool(body, "developer_mode", d->trust.developer);
	udk_dict_set_string(body, "state_dir", d->trust.state_dir);
	udk_dict_set_take(body, "sandbox", sandbox_describe(d->sandbox));
	{
		struct udk_value *q = quota_describe(d->quota, quota_privileged(c->uid), c->uid);
		udk_dict_set(body, "limits", udk_dict_get(q, "limits"));
		udk_dict_set(body, "usage", udk_dict_get(q, "usage"));
		udk_value_unref(q);
		udk_dict_set_take(body, "input_limits", bundle_input_limits());
	}
	for (struct driver_proc *p = d->procs; p; p = p->next)
		to_drivers += p->out.bytes;
	udk_dict_set_uint(body, "queued_bytes_to_drivers", to_drivers);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

static void
handle_control_explain(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_explain_req *req)
{
	struct udk_value *rep = NULL;
	int r = match_explain(d, req->driver, req->service, &rep);

	if (r < 0) {
		client_reply(d, c, m->h.op, m->h.serial, r, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, rep, NULL, 0);
	udk_value_unref(rep);
}

static void
handle_control_set_property(struct udkd *d, struct client *c, struct wire_msg *m,
			    const struct proto_set_property_req *req)
{
	struct service *s = service_arg(d, req->has_id, req->id, req->path);
	const char *key = req->key;
	struct udk_value *val = (struct udk_value *)req->value;
	struct udk_value *props;

	if (!s || s->owner || !key || !val) {
		client_reply(d, c, m->h.op, m->h.serial, !s ? -UDK_E_NO_SUCH_SERVICE : -EPERM,
			     "only services from the machine description can be changed from outside; drivers own "
			     "theirs",
			     NULL, NULL, 0);
		return;
	}
	props = udk_value_new_dict();
	udk_dict_set(props, key, val);
	service_set_properties(d, s, props);
	udk_value_unref(props);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
}

static void
handle_control_sim(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_sim_req *req)
{
	const char *action = req->action;
	const char *name = req->name;
	struct device_model *dm = NULL;
	struct udk_value *body;
	int r = 0;

	if (!streq(action, "list")) {
		if (!allowed_to_manage(d, c, m))
			return;
		r = model_lookup(d, name, &dm);
		if (r < 0) {
			client_reply(d, c, m->h.op, m->h.serial, r, udk_error_reason(), NULL, NULL, 0);
			return;
		}
	}
	if (streq(action, "plug"))
		r = model_plug(d, dm);
	else if (streq(action, "unplug"))
		model_unplug(d, dm, "unplugged by request");
	else if (!streq(action, "list"))
		r = udk_set_reason(-EINVAL, "action must be list, plug or unplug");
	if (r < 0) {
		client_reply(d, c, m->h.op, m->h.serial, r, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	{
		struct udk_value *devices = models_describe(d);
		body = proto_sim_reply_encode(&(struct proto_sim_rep){ .devices = devices });
		udk_value_unref(devices);
	}
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* ---- families ---- */

static struct udk_value *
strings_value(const char *const *list)
{
	struct udk_value *a = udk_value_new_array();
	for (const char *const *k = list; k && *k; k++)
		udk_array_append_take(a, udk_value_new_string(*k));
	return a;
}

static void
handle_control_families(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_families_req *req)
{
	struct udk_value *body = udk_value_new_dict(), *list = udk_value_new_array();

	for (size_t i = 0; i < udkd_n_families; i++) {
		const struct udkd_family *f = udkd_families[i];
		struct udk_value *e = udk_value_new_dict(), *classes = udk_value_new_array();
		struct udk_value *ents = udk_value_new_array();

		udk_dict_set_string(e, "name", f->name);
		if (f->title)
			udk_dict_set_string(e, "title", f->title);
		if (f->docs)
			udk_dict_set_string(e, "docs", f->docs);
		for (const struct udkd_family_class *k = f->classes; k && k->name; k++) {
			struct udk_value *ce = udk_value_new_dict();
			const char *ent = family_class_entitlement(f, k->name);
			udk_dict_set_string(ce, "name", k->name);
			udk_dict_set_string(ce, "super", k->super ? k->super : "IOService");
			if (ent) {
				char *full = strdup_printf("com.apple.developer.driverkit.%s", ent);
				udk_dict_set_string(ce, "entitlement", full);
				free(full);
			}
			if (k->role)
				udk_dict_set_string(ce, "role", k->role);
			udk_array_append_take(classes, ce);
		}
		udk_dict_set_take(e, "classes", classes);
		udk_dict_set_take(e, "keys", strings_value(f->matcher ? f->matcher->keys : NULL));
		for (const struct udkd_family_entitlement *x = f->entitlements; x && x->name; x++) {
			char *full = strdup_printf("com.apple.developer.driverkit.%s", x->name);
			udk_array_append_take(ents, udk_value_new_string(full));
			free(full);
		}
		udk_dict_set_take(e, "entitlements", ents);
		if (f->model_kind)
			udk_dict_set_string(e, "model_kind", f->model_kind);
		if (f->op_count) {
			udk_dict_set_int(e, "op_base", f->op_base);
			udk_dict_set_int(e, "op_count", f->op_count);
		}
		if (f->describe)
			udk_dict_set_take(e, "state", f->describe(d));
		udk_array_append_take(list, e);
	}
	udk_dict_set_take(body, "families", list);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* ---- trust, developer mode, access grants ---- */

static void
reply_result(struct udkd *d, struct client *c, struct wire_msg *m, int r, struct udk_value *body)
{
	if (r < 0)
		client_reply(d, c, m->h.op, m->h.serial, r, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
			     NULL, NULL, 0);
	else
		client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* A trust change answered once bundles changed on disk since they were read are read again. */
static void
trust_rescanned(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed, void *data)
{
	struct rescan_req *q = data;
	struct udk_value *body = trust_describe(d);

	(void)status; /* the key is added either way; a cancelled rescan only means udkd is stopping */
	(void)added;
	(void)reloaded;
	(void)removed;
	client_reply(d, q->c, q->op, q->serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
	client_unref(q->c);
	free(q);
}

static void
handle_control_trust(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_trust_req *req)
{
	const char *action = req->action;
	struct udk_value *body = NULL;
	int r = 0;

	if (!streq(action, "list") && !allowed_to_manage(d, c, m))
		return;
	if (streq(action, "add")) {
		struct rescan_req *q;
		r = trust_add(d, req->key, &body);
		udk_value_unref(body);
		body = NULL;
		/*
		 * "Sign, then trust add" (the UDK_E_UNSIGNED recipe): a bundle
		 * signed since it was read is read again before the answer, so it
		 * is judged by its signature at once (issue 18 point 3).
		 */
		if (r >= 0 && (q = calloc(1, sizeof(*q)))) {
			q->c = client_ref(c);
			q->op = m->h.op;
			q->serial = m->h.serial;
			if (bundles_rescan(d, trust_rescanned, q) >= 0)
				return;
			client_unref(q->c);
			free(q);
		}
	} else if (streq(action, "remove")) {
		r = trust_remove(d, req->id);
	} else if (!streq(action, "list")) {
		r = udk_set_reason(-EINVAL, "action must be list, add or remove");
	}
	if (r >= 0)
		body = trust_describe(d);
	reply_result(d, c, m, r, body);
}

static void
handle_control_developer(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_developer_req *req)
{
	const char *action = req->action;
	struct udk_value *body = NULL;
	int r = 0;

	if (streq(action, "on") || streq(action, "off")) {
		if (!allowed_to_manage(d, c, m))
			return;
		r = trust_set_developer(d, streq(action, "on"));
	} else if (!streq(action, "status")) {
		r = udk_set_reason(-EINVAL, "action must be on, off or status");
	}
	if (r >= 0) {
		struct udk_value *sandbox = sandbox_describe(d->sandbox);
		body = proto_developer_reply_encode(&(struct proto_developer_rep){
			.has_developer_mode = true, .developer_mode = d->trust.developer, .sandbox = sandbox });
		udk_value_unref(sandbox);
	}
	reply_result(d, c, m, r, body);
}

static void
handle_control_access(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_access_req *req)
{
	const char *action = req->action;
	const char *driver = req->driver;
	const char *app = req->app;
	struct udk_value *body = NULL;
	int r = 0;

	if ((streq(action, "grant") || streq(action, "revoke")) && !allowed_to_manage(d, c, m))
		return;
	if (req->family && (streq(action, "grant") || streq(action, "revoke"))) {
		/* a family's device grant: --FAMILY WHAT DRIVER */
		const char *family = req->family, *what = req->what;
		r = streq(action, "grant") ? access_device_grant(d, family, what, driver, &body)
					   : access_device_revoke(d, family, what, driver, &body);
		reply_result(d, c, m, r, body);
		return;
	}
	/* grant and explain hash files on a worker and answer themselves */
	if (streq(action, "grant"))
		return access_grant_start(d, c, c->pin, m, req);
	if (streq(action, "explain"))
		return access_explain_start(d, c, c->pin, m, req);
	if (streq(action, "list"))
		body = access_describe(d, driver, c->uid);
	else if (streq(action, "revoke"))
		r = access_revoke(d, driver, app, &body);
	else
		r = udk_set_reason(-EINVAL, "action must be list, grant, revoke or explain");
	reply_result(d, c, m, r, body);
}

static void
handle_control_power(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_power_req *req)
{
	if (!streq(req->action, "list") && !allowed_to_manage(d, c, m))
		return;
	power_control(d, c, m, req);
}

static void
handle_control_ping(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_ping_req *req)
{
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, NULL, NULL, 0);
}

static void
handle_control_hello(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_hello_req *req)
{
	struct udk_value *body;

	if (!req->has_version || req->version != PROTO_VERSION) {
		client_reply(d, c, m->h.op, m->h.serial, -UDK_E_VERSION,
			     "this udkd speaks another protocol version; use the libudk it came with", NULL, NULL, 0);
		return;
	}
	c->hello = true;
	free(c->name);
	c->name = req->name ? strdup(req->name) : NULL;
	body = proto_hello_reply_encode(&(struct proto_hello_rep){
		.has_version = true, .version = PROTO_VERSION, .has_pid = true, .pid = getpid() });
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

static void
handle_control_lookup(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_lookup_req *req)
{
	struct service *s = service_by_path(d, req->path);
	struct udk_value *body = proto_lookup_reply_encode(&(struct proto_lookup_rep){
		.has_id = s != NULL, .id = s ? s->id : 0 });

	client_reply(d, c, m->h.op, m->h.serial, s ? 0 : -UDK_E_NO_SUCH_SERVICE,
		     s ? NULL : "no service at that path; `udkctl tree` shows them", body, NULL, 0);
	udk_value_unref(body);
}

/* The driver lifecycle (daemon/lifecycle.c) */
static void
handle_control_install(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_install_req *req)
{
	lifecycle_install(d, c, m, req);
}

static void
handle_control_uninstall(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_uninstall_req *req)
{
	lifecycle_uninstall(d, c, m, req);
}

static void
handle_control_driver_logs(struct udkd *d, struct client *c, struct wire_msg *m,
			   const struct proto_driver_logs_req *req)
{
	lifecycle_logs(d, c, m, req);
}

/* One request: the generated table (proto.xml) decodes and checks its body, then its handler runs. */
static void
handle(struct udkd *d, struct client *c, struct wire_msg *m)
{
	const struct proto_control_handler *h;
	union proto_control_req req;
	char why[256];
	int r;

	if (m->h.flags & WIRE_F_REPLY) {
		protocol_error(d, c, "clients do not send replies to udkd");
		return;
	}
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT && m->h.op != OP_PING) {
		protocol_error(d, c, "request body must be an encoded dictionary");
		return;
	}
	if (!c->hello && m->h.op != OP_HELLO && m->h.op != OP_PING) {
		protocol_error(d, c, "the first request must be a hello");
		return;
	}
	h = proto_control_handler(m->h.op);
	if (!h) {
		client_reply(d, c, m->h.op, m->h.serial, -EOPNOTSUPP, "udkd does not know this request", NULL, NULL, 0);
		return;
	}
	if (h->manage && !allowed_to_manage(d, c, m))
		return;
	r = h->info->decode(m->body, &req, why, sizeof(why));
	if (r < 0) {
		client_reply(d, c, m->h.op, m->h.serial, r, why, NULL, NULL, 0);
		return;
	}
	h->handle(d, c, m, &req);
}

/* The largest request @c may send with this header (wire_recv_limited). */
static size_t
request_limit(const struct wire_header *h, void *data)
{
	struct client *c = data;
	struct quota *q = c->d->quota;

	if (quota_privileged(c->uid))
		return quota_get(q, LIM_REQUEST_BYTES_PRIVILEGED);
	if (h->op == OP_FIND || h->op == OP_SUBSCRIBE)
		return quota_get(q, LIM_REQUEST_BYTES) + quota_get(q, LIM_MATCH_BYTES);
	return quota_get(q, LIM_REQUEST_BYTES);
}

static void
refuse_large(struct udkd *d, struct client *c, struct wire_msg *m)
{
	char *why;

	if (m->h.flags & (WIRE_F_REPLY | WIRE_F_ONEWAY))
		return;
	why = strdup_printf("a request of %zu bytes is larger than the %zu bytes udkd accepts for it (limit %s)",
			    m->len, request_limit(&m->h, c),
			    quota_privileged(c->uid) ? "request_bytes_privileged"
			    : m->h.op == OP_FIND || m->h.op == OP_SUBSCRIBE ? "request_bytes + matching_dictionary_bytes"
									 : "request_bytes");
	log_info(d, "client %s (pid %d, uid %u): %s", c->name ? c->name : "?", c->pid, (unsigned)c->uid,
		 why ? why : "request too large");
	client_reply(d, c, m->h.op, m->h.serial, -UDK_E_TOO_LARGE, why, NULL, NULL, 0);
	free(why);
}

static void
on_client(struct loop *l, int fd, uint32_t events, void *data)
{
	struct client *c = data;
	struct udkd *d = c->d;

	(void)l;
	client_ref(c);
	if (events & EPOLLOUT) {
		int r = outbox_flush(&c->out, c->fd);
		if (r < 0)
			client_close(d, c);
		else if (r == 0)
			loop_source_set_events(c->src, EPOLLIN);
	}
	/* replies still queued: it reads those first; a hang-up ends it */
	if (!c->dead && outbox_pending(&c->out)) {
		if (events & (EPOLLHUP | EPOLLERR))
			client_close(d, c);
		client_unref(c);
		return;
	}
	/* a few requests per turn: one busy peer does not hold the loop from the rest */
	for (int i = 0; i < (quota_privileged(c->uid) ? 32 : 4) && !c->dead && !outbox_pending(&c->out) &&
			(events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	     i++) {
		struct wire_msg m;
		int r = wire_recv_limited(fd, &m, true, request_limit, c);
		bool big;

		if (r == -EAGAIN)
			break;
		if (r == -EMSGSIZE) {
			/* never read: the connection goes on */
			refuse_large(d, c, &m);
			continue;
		}
		if (r == -EBADMSG) {
			protocol_error(d, c, udk_error_reason() ? udk_error_reason() : "malformed message");
			break;
		}
		if (r < 0) {
			client_close(d, c);
			break;
		}
		if (m.n_fds) {
			wire_msg_clear(&m);
			protocol_error(d, c, "requests to udkd carry no file descriptors");
			break;
		}
		handle(d, c, &m);
		big = m.len > TRIM_AFTER;
		wire_msg_clear(&m);
		/* a large request decodes into many small blocks; give them back */
		if (big)
			malloc_trim(0);
	}
	client_unref(c);
}

/* Outbox hooks: the bytes queued for a client count for its uid. */
static int
client_admit_queued(struct outbox *ob, size_t more, void *data)
{
	struct client *c = data;

	return quota_admit_queued(c->d->quota, c->uid, ob->bytes, more);
}

static void
client_account_queued(struct outbox *ob, long long delta, void *data)
{
	struct client *c = data;

	(void)ob;
	quota_queued_changed(c->d->quota, c->uid, delta);
}

static const struct outbox_hooks client_outbox_hooks = { client_admit_queued, client_account_queued };

int
control_adopt(struct udkd *d, int fd, pid_t pid, uid_t uid, gid_t gid)
{
	struct client *c = calloc(1, sizeof(*c));
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->refcount = 1;
	c->d = d;
	c->fd = fd;
	c->pid = pid;
	c->uid = uid;
	c->gid = gid;
	outbox_init(&c->out);
	c->out.hooks = &client_outbox_hooks;
	c->out.hooks_data = c;
	/* who the peer is, taken now: see access.c */
	c->pin = app_pin_new(d, fd, pid, uid, gid);
	if (!c->pin) {
		close(fd);
		free(c);
		return -ENOMEM;
	}
	r = loop_add_fd(d->loop, fd, EPOLLIN, on_client, c, &c->src);
	if (r < 0) {
		close(fd);
		app_pin_unref(c->pin);
		free(c);
		return r;
	}
	quota_connection_opened(d->quota, uid);
	c->next = d->clients;
	d->clients = c;
	return 0;
}

/* A connection udkd will not serve: say why, then hang up. */
static void
refuse_connection(struct udkd *d, int fd, const struct ucred *cred, int code, const char *why)
{
	static uint64_t last_log_ns;
	static unsigned long quiet;
	struct udk_value *b = udk_value_new_dict();

	udk_dict_set_int(b, "code", code);
	udk_dict_set_string(b, "reason", why);
	wire_send_value(fd, OP_ERROR, WIRE_F_ONEWAY, 0, code, b, NULL, 0);
	udk_value_unref(b);
	close(fd);
	/* a flood must not flood the log too: one line per second at most */
	if (now_ns() - last_log_ns >= 1000000000ull) {
		log_warning(d, "refused a connection from pid %d, uid %u: %s%s", cred->pid, (unsigned)cred->uid, why,
			    quiet ? " (and others since the last such message)" : "");
		last_log_ns = now_ns();
		quiet = 0;
	} else {
		quiet++;
	}
}

static void
resume_accept(struct loop *l, void *data)
{
	struct udkd *d = data;

	(void)l;
	d->accept_paused = false;
	if (d->listen_src)
		loop_source_set_events(d->listen_src, EPOLLIN);
}

static void
on_accept(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udkd *d = data;
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	bool borrowed = false;
	int cfd;

	(void)l;
	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0 && (errno == EMFILE || errno == ENFILE) && quota_fd_release(d->quota, 1) == 1) {
		/* out of descriptors: take one from the reserve, so the peer is
		 * answered (root) or told why (anyone else), not left hanging */
		borrowed = true;
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	}
	if (cfd < 0) {
		if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) && !d->accept_paused) {
			/* level-triggered: without a pause this would spin */
			log_warning(d, "cannot accept connections: %s; trying again in %d ms", strerror(errno),
				    ACCEPT_PAUSE_MS);
			d->accept_paused = true;
			loop_source_set_events(d->listen_src, 0);
			loop_add_timer(d->loop, now_ns() + ACCEPT_PAUSE_MS * 1000000ull, resume_accept, d, NULL);
		}
		if (borrowed)
			quota_fd_refill(d->quota);
		return;
	}
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(cfd);
		return;
	}
	if (quota_admit_connection(d->quota, cred.uid, borrowed ? INT_MAX : cfd) < 0) {
		refuse_connection(d, cfd, &cred, -UDK_E_LIMIT, udk_error_reason());
	} else if (control_adopt(d, cfd, cred.pid, cred.uid, cred.gid) < 0) {
		/* control_adopt closed it */
	}
	if (borrowed)
		quota_fd_refill(d->quota);
}

/* the listening socket came from systemd (socket activation) */
static bool listen_inherited;

int
control_listen(struct udkd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path))
		return udk_set_reason(-ENAMETOOLONG, "socket path %s is too long; use a shorter --runtime-dir",
				      d->socket_path);
	/* socket activation (udkd.socket): systemd made the socket and keeps it */
	fd = systemd_listen_fd(d->socket_path);
	if (fd < -1)
		return fd;
	if (fd >= 0) {
		listen_inherited = true;
		d->listen_fd = fd;
		log_info(d, "listening on %s, the socket systemd passed", d->socket_path);
		goto listening;
	}
	memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* a socket left by a dead udkd is removed; a live one is not */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		struct ucred cr = { 0 };
		socklen_t len = sizeof(cr);
		char pid[32] = "", how[40] = "stop it";

		/* the listening socket's credentials: the running udkd's pid */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.pid > 0) {
			snprintf(pid, sizeof(pid), " (pid %d)", (int)cr.pid);
			snprintf(how, sizeof(how), "kill %d", (int)cr.pid);
		}
		close(fd);
		return udk_set_reason(-UDK_E_ALREADY_RUNNING,
				      "another udkd%s is already running on %s. Stop it first (%s), or start this "
				      "one with another runtime directory: --runtime-dir DIR (apps and udkctl find it "
				      "through UDK_RUNTIME_DIR=DIR)",
				      pid, d->socket_path, how);
	}
	close(fd);
	unlink(d->socket_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		int r = -errno;
		close(fd);
		return udk_set_reason(r, "cannot listen on %s: %s", d->socket_path, strerror(-r));
	}
	/* anyone may read the registry; management checks the peer's uid */
	chmod(d->socket_path, 0666);
	d->listen_fd = fd;
listening:
	if (!d->quota && quota_new(&d->quota) < 0) {
		close(fd);
		d->listen_fd = -1;
		return -ENOMEM;
	}
	quota_fd_refill(d->quota);
	return loop_add_fd(d->loop, fd, EPOLLIN, on_accept, d, &d->listen_src);
}

void
control_fini(struct udkd *d)
{
	while (d->clients)
		client_close(d, d->clients);
	if (d->listen_fd >= 0) {
		loop_source_remove(d->listen_src);
		close(d->listen_fd);
		d->listen_fd = -1;
		/* systemd's socket stays for the next activation */
		if (!listen_inherited)
			unlink(d->socket_path);
	}
	quota_free(d->quota);
	d->quota = NULL;
}
