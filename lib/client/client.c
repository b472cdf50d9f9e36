/* SPDX-License-Identifier: MIT */
/* client.c - an app's connection to udkd (see include/udk/client.h). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <limits.h>
#include <sys/un.h>

#include "private.h"
#include "proto.h"
#include "udk-config.h"
#include "util.h"

struct udk_notification {
	struct udk_notification *next;
	struct udk_client *client;
	uint64_t cookie;
	enum udk_notification_type type;
	udk_notify_fn fn;
	void *userdata;
	bool removed;
};

struct event {
	struct event *next;
	uint64_t cookie;
	enum udk_notification_type type;
	uint64_t id;
	char *name;
	struct udk_value *properties;	/* what changed (property notifications) */
};

struct udk_client {
	int refcount;
	struct rpc rpc;
	pthread_mutex_t lock;		/* notifications, events */
	struct udk_notification *notifications;
	struct event *events, **events_tail;
	uint64_t next_cookie;
};

/* The changed properties of the notification being delivered on this thread. */
static _Thread_local const struct udk_value *tl_notification_properties;

UDK_EXPORT const struct udk_value *
udk_notification_get_properties(void)
{
	return tl_notification_properties;
}

static const char *const type_names[] = {
	[UDK_NOTIFY_ARRIVAL] = "arrival",
	[UDK_NOTIFY_TERMINATION] = "termination",
	[UDK_NOTIFY_PROPERTY] = "property",
};

int
udk_client_default_runtime_dir(char *buf, size_t len)
{
	const char *e = getenv("UDK_RUNTIME_DIR");
	int n;

	if (e && *e)
		n = snprintf(buf, len, "%s", e);
	else if ((e = getenv("XDG_RUNTIME_DIR")) && *e) {
		/* a udkd of the user's own, else the system's (UDK_RUNTIME_DIR: from the prefix) */
		n = snprintf(buf, len, "%s/udk", e);
		if (n >= 0 && (size_t)n < len) {
			char sock[PATH_MAX];
			if ((size_t)snprintf(sock, sizeof(sock), "%s/udkd.sock", buf) < sizeof(sock) &&
			    access(sock, F_OK) == 0)
				return 0;
		}
		n = snprintf(buf, len, "%s", UDK_RUNTIME_DIR);
	} else
		n = snprintf(buf, len, "%s", UDK_RUNTIME_DIR);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void
on_unsolicited(struct rpc *r, struct wire_msg *m)
{
	struct udk_client *c = r->owner;
	struct event *e;
	const char *type;

	if (m->h.op != OP_NOTIFY)
		return;
	type = udk_dict_get_string(m->body, "type");
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->cookie = udk_value_get_uint(udk_dict_get(m->body, "cookie"), 0);
	e->id = udk_value_get_uint(udk_dict_get(m->body, "id"), 0);
	e->name = strdup(udk_dict_get_string(m->body, "name") ? udk_dict_get_string(m->body, "name") : "");
	if (udk_value_get_type(udk_dict_get(m->body, "properties")) == UDK_VALUE_DICT)
		e->properties = udk_value_ref(udk_dict_get(m->body, "properties"));
	e->type = streq(type, "arrival") ? UDK_NOTIFY_ARRIVAL
		  : streq(type, "termination") ? UDK_NOTIFY_TERMINATION
					       : UDK_NOTIFY_PROPERTY;
	pthread_mutex_lock(&c->lock);
	*c->events_tail = e;
	c->events_tail = &e->next;
	pthread_mutex_unlock(&c->lock);
}

/* @r (>= 0) when udkd's reply fits the op's definition (@dr, its reply
 * decoder's result, is 0); else -UDK_E_PROTOCOL naming the field. */
static int
reply_check(int r, int dr, const char *why)
{
	if (dr == 0)
		return r;
	return udk_set_reason(-UDK_E_PROTOCOL, "udkd's reply does not fit the protocol (%s); udkd and libudk are "
			      "from different udk versions: restart udkd from this installation", why);
}

UDK_EXPORT int
udk_client_new(const char *runtime_dir, struct udk_client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[200];
	struct udk_client *c;
	struct udk_value *hello, *reply = NULL;
	char why[256];
	int fd, r;

	udk_return_val_if_fail(ret, -EINVAL);
	if (runtime_dir)
		snprintf(dir, sizeof(dir), "%s", runtime_dir);
	else if (udk_client_default_runtime_dir(dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/udkd.sock", dir) >= sizeof(sa.sun_path))
		return udk_set_reason(-ENAMETOOLONG, "runtime directory %s is too long for a socket path", dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* name the directory, where it came from and what is wrong with it (issue 20) */
		const char *env = getenv("UDK_RUNTIME_DIR"), *what;
		const char *from = runtime_dir			       ? "given by the program (udkctl: --runtime-dir)"
				   : env && *env			       ? "from UDK_RUNTIME_DIR"
				   : strcmp(dir, UDK_RUNTIME_DIR) != 0 ? "from XDG_RUNTIME_DIR"
								       : "the default; UDK_RUNTIME_DIR is not set";
		struct stat st;

		r = errno;
		close(fd);
		if (stat(dir, &st) < 0)
			what = "does not exist";
		else if (!S_ISDIR(st.st_mode))
			what = "is not a directory";
		else if (r == ENOENT)
			what = "has no udkd.sock: no udkd runs there";
		else if (r == EACCES)
			what = "has a udkd.sock you may not connect to";
		else
			what = "has a udkd.sock nobody answers on";
		return udk_set_reason(-UDK_E_DAEMON_UNREACHABLE,
				      "cannot connect to udkd at %s (%s): the runtime directory %s (%s) %s. Start udkd "
				      "with --runtime-dir %s, or set UDK_RUNTIME_DIR to the directory udkd uses",
				      sa.sun_path, strerror(r), dir, from, what, dir);
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->refcount = 1;
	c->next_cookie = 1;
	c->events_tail = &c->events;
	pthread_mutex_init(&c->lock, NULL);
	rpc_init(&c->rpc, fd, -UDK_E_DAEMON_UNREACHABLE, "udkd closed the connection", on_unsolicited, NULL, c);

	{
		char name[64] = "";
		FILE *f = fopen("/proc/self/comm", "re");
		if (f) {
			if (fgets(name, sizeof(name), f))
				name[strcspn(name, "\n")] = '\0';
			fclose(f);
		}
		hello = proto_hello_encode(&(struct proto_hello_req){
			.has_version = true,
			.version = PROTO_VERSION,
			.name = name,
		});
	}
	if (!hello) {
		udk_client_unref(c);
		return -ENOMEM;
	}
	r = rpc_call_value(&c->rpc, OP_HELLO, hello, 10000, &reply, NULL);
	udk_value_unref(hello);
	if (r >= 0)
		r = reply_check(r, proto_hello_reply_decode(reply, &(struct proto_hello_rep){ 0 }, why,
								   sizeof(why)), why);
	udk_value_unref(reply);
	if (r < 0) {
		udk_client_unref(c);
		return r;
	}
	*ret = c;
	return 0;
}

UDK_EXPORT struct udk_client *
udk_client_ref(struct udk_client *c)
{
	if (c)
		__atomic_add_fetch(&c->refcount, 1, __ATOMIC_RELAXED);
	return c;
}

UDK_EXPORT struct udk_client *
udk_client_unref(struct udk_client *c)
{
	if (!c || __atomic_sub_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	rpc_fini(&c->rpc);
	while (c->notifications) {
		struct udk_notification *n = c->notifications;
		c->notifications = n->next;
		free(n);
	}
	while (c->events) {
		struct event *e = c->events;
		c->events = e->next;
		free(e->name);
		udk_value_unref(e->properties);
		free(e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

int
udk_client_call(struct udk_client *c, uint16_t op, const struct udk_value *body, struct udk_value **ret_body)
{
	struct udk_value *empty = NULL;
	int r;

	udk_return_val_if_fail(c, -EINVAL);
	if (!body)
		body = empty = udk_value_new_dict();
	udk_clear_reason();
	r = rpc_call_value(&c->rpc, op, body, -1, ret_body, NULL);
	udk_value_unref(empty);
	return r;
}

UDK_EXPORT int
udk_client_get_fd(struct udk_client *c)
{
	return c ? c->rpc.fd : -EINVAL;
}

UDK_EXPORT int
udk_client_dispatch(struct udk_client *c, int timeout_ms)
{
	int delivered = 0;

	udk_return_val_if_fail(c, -EINVAL);
	pthread_mutex_lock(&c->lock);
	bool have = c->events != NULL;
	pthread_mutex_unlock(&c->lock);
	if (!have)
		rpc_pump(&c->rpc, timeout_ms);
	else
		rpc_pump(&c->rpc, 0);
	for (;;) {
		struct event *e;
		struct udk_notification *target = NULL;

		pthread_mutex_lock(&c->lock);
		e = c->events;
		if (e) {
			c->events = e->next;
			if (!c->events)
				c->events_tail = &c->events;
			for (struct udk_notification *n = c->notifications; n; n = n->next)
				if (n->cookie == e->cookie && !n->removed)
					target = n;
		}
		pthread_mutex_unlock(&c->lock);
		if (!e)
			break;
		if (target) {
			tl_notification_properties = e->properties;
			target->fn(c, e->type, e->id, e->name, target->userdata);
			tl_notification_properties = NULL;
			delivered++;
		}
		free(e->name);
		udk_value_unref(e->properties);
		free(e);
	}
	if (c->rpc.dead && !delivered)
		return c->rpc.dead_status;
	return delivered;
}

UDK_EXPORT struct udk_value *
udk_matching_class(const char *class_name)
{
	struct udk_value *m = udk_value_new_dict();

	if (m && class_name)
		udk_dict_set_string(m, "IOProviderClass", class_name);
	return m;
}

UDK_EXPORT int
udk_client_find_services(struct udk_client *c, const struct udk_value *match, uint64_t **ret_ids, size_t *ret_n)
{
	struct udk_value *body, *reply = NULL;
	const struct udk_value *ids;
	struct proto_find_rep rep;
	char why[256];
	uint64_t *out;
	size_t n;
	int r;

	udk_return_val_if_fail(c && udk_value_get_type(match) == UDK_VALUE_DICT && ret_ids && ret_n, -EINVAL);
	body = proto_find_encode(&(struct proto_find_req){ .match = match });
	if (!body)
		return -ENOMEM;
	r = udk_client_call(c, OP_FIND, body, &reply);
	udk_value_unref(body);
	if (r >= 0)
		r = reply_check(r, proto_find_reply_decode(reply, &rep, why, sizeof(why)), why);
	if (r < 0) {
		udk_value_unref(reply);
		return r;
	}
	ids = rep.ids;
	n = udk_array_size(ids);
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out) {
		udk_value_unref(reply);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = udk_value_get_uint(udk_array_get(ids, i), 0);
	udk_value_unref(reply);
	*ret_ids = out;
	*ret_n = n;
	return 0;
}

UDK_EXPORT int
udk_client_find_service(struct udk_client *c, const char *class_name, uint64_t *ret_id)
{
	struct udk_value *m = udk_matching_class(class_name);
	uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	udk_return_val_if_fail(c && class_name && ret_id, -EINVAL);
	r = udk_client_find_services(c, m, &ids, &n);
	udk_value_unref(m);
	if (r < 0)
		return r;
	if (n == 0) {
		free(ids);
		return udk_set_reason(-UDK_E_NO_SUCH_SERVICE,
				      "no registered service of class %s; `udkctl tree` shows what exists and `udkctl "
				      "explain` why a driver did not load",
				      class_name);
	}
	*ret_id = ids[0];
	free(ids);
	return 0;
}

UDK_EXPORT int
udk_client_lookup_path(struct udk_client *c, const char *path, uint64_t *ret_id)
{
	struct udk_value *body, *reply = NULL;
	struct proto_lookup_rep rep;
	char why[256];
	int r;

	udk_return_val_if_fail(c && path && ret_id, -EINVAL);
	body = proto_lookup_encode(&(struct proto_lookup_req){ .path = path });
	if (!body)
		return -ENOMEM;
	r = udk_client_call(c, OP_LOOKUP, body, &reply);
	udk_value_unref(body);
	if (r >= 0)
		r = reply_check(r, proto_lookup_reply_decode(reply, &rep, why, sizeof(why)), why);
	if (r >= 0)
		*ret_id = rep.id;
	udk_value_unref(reply);
	return r;
}

UDK_EXPORT int
udk_client_copy_service(struct udk_client *c, uint64_t id, struct udk_value **ret)
{
	struct udk_value *body, *reply = NULL;
	char why[256];
	int r;

	udk_return_val_if_fail(c && ret, -EINVAL);
	body = proto_properties_encode(&(struct proto_properties_req){ .has_id = true, .id = id });
	if (!body)
		return -ENOMEM;
	r = udk_client_call(c, OP_PROPERTIES, body, &reply);
	udk_value_unref(body);
	if (r >= 0)
		r = reply_check(r, proto_properties_reply_decode(reply, &(struct proto_properties_rep){ 0 }, why,
									 sizeof(why)), why);
	if (r < 0) {
		udk_value_unref(reply);
		return r;
	}
	*ret = reply;
	return r;
}

UDK_EXPORT int
udk_client_copy_tree(struct udk_client *c, bool with_properties, struct udk_value **ret)
{
	struct udk_value *body, *reply = NULL;
	char why[256];
	int r;

	udk_return_val_if_fail(c && ret, -EINVAL);
	body = proto_tree_encode(&(struct proto_tree_req){ .has_properties = true, .properties = with_properties });
	if (!body)
		return -ENOMEM;
	r = udk_client_call(c, OP_TREE, body, &reply);
	udk_value_unref(body);
	if (r >= 0)
		r = reply_check(r, proto_tree_reply_decode(reply, &(struct proto_tree_rep){ 0 }, why, sizeof(why)),
				why);
	if (r < 0) {
		udk_value_unref(reply);
		return r;
	}
	*ret = reply;
	return r;
}

UDK_EXPORT int
udk_client_add_notification(struct udk_client *c, enum udk_notification_type type, const struct udk_value *match,
			    udk_notify_fn fn, void *userdata, struct udk_notification **ret)
{
	struct udk_notification *n;
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(c && fn && udk_value_get_type(match) == UDK_VALUE_DICT, -EINVAL);
	udk_return_val_if_fail(type >= UDK_NOTIFY_ARRIVAL && type <= UDK_NOTIFY_PROPERTY, -EINVAL);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->client = c;
	n->type = type;
	n->fn = fn;
	n->userdata = userdata;
	pthread_mutex_lock(&c->lock);
	n->cookie = c->next_cookie++;
	n->next = c->notifications;
	c->notifications = n;
	pthread_mutex_unlock(&c->lock);
	body = proto_subscribe_encode(&(struct proto_subscribe_req){
		.has_cookie = true,
		.cookie = n->cookie,
		.type = type_names[type],
		.match = match,
	});
	r = body ? udk_client_call(c, OP_SUBSCRIBE, body, NULL) : -ENOMEM;
	udk_value_unref(body);
	if (r < 0) {
		n->removed = true;
		return r;
	}
	if (ret)
		*ret = n;
	return 0;
}

UDK_EXPORT void
udk_notification_remove(struct udk_notification *n)
{
	struct udk_value *body;

	if (!n || n->removed)
		return;
	n->removed = true;
	body = proto_unsubscribe_encode(&(struct proto_unsubscribe_req){ .has_cookie = true, .cookie = n->cookie });
	if (body)
		udk_client_call(n->client, OP_UNSUBSCRIBE, body, NULL);
	udk_value_unref(body);
}

struct waiter {
	uint64_t id;
	bool found;
};

static void
wait_cb(struct udk_client *c, enum udk_notification_type type, uint64_t id, const char *name, void *userdata)
{
	struct waiter *w = userdata;

	(void)c;
	(void)type;
	(void)name;
	if (!w->found) {
		w->found = true;
		w->id = id;
	}
}

UDK_EXPORT int
udk_client_wait_for_service(struct udk_client *c, const struct udk_value *match, int timeout_ms, uint64_t *ret_id)
{
	struct waiter w = { 0 };
	struct udk_notification *n = NULL;
	uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	uint64_t *ids = NULL;
	size_t count = 0;
	int r;

	udk_return_val_if_fail(c && ret_id, -EINVAL);
	/* subscribe first, then look: nothing can slip between the two */
	r = udk_client_add_notification(c, UDK_NOTIFY_ARRIVAL, match, wait_cb, &w, &n);
	if (r < 0)
		return r;
	r = udk_client_find_services(c, match, &ids, &count);
	if (r >= 0 && count) {
		w.found = true;
		w.id = ids[0];
	}
	free(ids);
	while (r >= 0 && !w.found) {
		int left = -1;
		if (deadline) {
			uint64_t now = now_ms();
			if (now >= deadline) {
				r = -ETIMEDOUT;
				break;
			}
			left = (int)(deadline - now);
		}
		r = udk_client_dispatch(c, left);
	}
	udk_notification_remove(n);
	if (w.found) {
		*ret_id = w.id;
		return 0;
	}
	if (r == -ETIMEDOUT || r >= 0)
		return udk_set_reason(-ETIMEDOUT,
				      "no matching service was registered within %d ms; `udkctl tree` shows what exists, "
				      "`udkctl drivers` which drivers failed",
				      timeout_ms);
	return r;
}

UDK_EXPORT int
udk_client_open(struct udk_client *c, uint64_t service, uint32_t type, struct udk_connection **ret)
{
	struct udk_value *body, *reply = NULL;
	char why[256];
	int fd = -1, r;

	udk_return_val_if_fail(c && ret, -EINVAL);
	body = proto_open_encode(&(struct proto_open_req){
		.has_id = true,
		.id = service,
		.has_type = true,
		.type = type,
	});
	if (!body)
		return -ENOMEM;
	udk_clear_reason();
	r = rpc_call_value(&c->rpc, OP_OPEN, body, -1, &reply, &fd);
	udk_value_unref(body);
	if (r >= 0)
		r = reply_check(r, proto_open_reply_decode(reply, &(struct proto_open_rep){ 0 }, why, sizeof(why)),
				why);
	udk_value_unref(reply);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (fd < 0)
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd answered the open without a connection");
	return connection_new(fd, service, ret);
}
