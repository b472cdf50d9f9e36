/* SPDX-License-Identifier: MIT */
/*
 * runtime.c - the driver process: its connection to udkd.
 *
 * udkd passes a SOCK_SEQPACKET socket as fd 3 (UDK_DRIVER_FD).  An I/O
 * thread reads it: replies wake the thread that made the request; requests
 * from udkd (Start, Stop, NewUserClient, ping) are handed to the default
 * queue, the main thread, so driver callbacks run there one at a time.
 * Pings go through the same queue, so a driver stuck in a callback stops
 * answering and udkd's watchdog notices; each ping also posts a heartbeat
 * to every queue that serves user clients and names one whose previous
 * heartbeat has not run (queue_watch_check), so a hung user-client queue
 * is noticed too.
 */
#include <signal.h>
#include <sys/prctl.h>

#include "buf.h"
#include "private.h"
#include "proto.h"
#include "util.h"

struct runtime rt = { .sock = -1, .log_level = UDK_LOG_INFO, .next_local_id = 1 };

struct rt_waiter {
	struct rt_waiter *next;
	uint32_t serial;
	bool done;
	int status;
	struct udk_value *reply;
	int fds[2];
	char reason[512];
	pthread_cond_t cond;
};

static pthread_once_t lock_once = PTHREAD_ONCE_INIT;

static void
init_lock(void)
{
	pthread_mutex_init(&rt.lock, NULL);
}

int
rt_call(uint16_t op, struct udk_value *body, struct udk_value **ret_reply)
{
	return rt_call_fds(op, body, ret_reply, NULL, 0);
}

int
rt_call_fd(uint16_t op, struct udk_value *body, struct udk_value **ret_reply, int *ret_fd)
{
	return rt_call_fds(op, body, ret_reply, ret_fd, ret_fd ? 1 : 0);
}

int
rt_call_fds(uint16_t op, struct udk_value *body, struct udk_value **ret_reply, int *ret_fds, unsigned n)
{
	struct rt_waiter w = { .fds = { -1, -1 } };
	int r;

	if (!rt.connected)
		return udk_set_reason(-ENOTCONN, "not connected to udkd: drivers run under udkd");
	pthread_cond_init(&w.cond, NULL);
	pthread_mutex_lock(&rt.lock);
	w.serial = ++rt.next_serial;
	w.next = rt.waiters;
	rt.waiters = &w;
	pthread_mutex_unlock(&rt.lock);

	r = wire_send_value(rt.sock, op, 0, w.serial, 0, body ? body : NULL, NULL, 0);

	pthread_mutex_lock(&rt.lock);
	if (r < 0) {
		w.done = true;
		w.status = r;
	}
	while (!w.done)
		pthread_cond_wait(&w.cond, &rt.lock);
	for (struct rt_waiter **pp = &rt.waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_mutex_unlock(&rt.lock);
	pthread_cond_destroy(&w.cond);
	if (w.status < 0) {
		udk_value_unref(w.reply);
		for (unsigned i = 0; i < 2; i++)
			if (w.fds[i] >= 0)
				close(w.fds[i]);
		if (w.reason[0])
			udk_set_reason_str(w.reason);
		return w.status;
	}
	for (unsigned i = 0; i < 2; i++) {
		if (i < n)
			ret_fds[i] = w.fds[i];
		else if (w.fds[i] >= 0)
			close(w.fds[i]);
	}
	if (ret_reply)
		*ret_reply = w.reply;
	else
		udk_value_unref(w.reply);
	return w.status;
}

void
rt_reply(uint16_t op, uint32_t serial, int status, struct udk_value *body)
{
	wire_send_value(rt.sock, op, WIRE_F_REPLY, serial, status, body, NULL, 0);
}

static void
reply_error(uint16_t op, uint32_t serial, int status, const char *reason)
{
	struct udk_value *b = udk_value_new_dict();

	if (reason)
		udk_dict_set_string(b, "reason", reason);
	rt_reply(op, serial, status, b);
	udk_value_unref(b);
}

UDK_EXPORT void
udk_log(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (level > rt.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rt.connected) {
		struct udk_value *b = udk_value_new_dict();
		udk_dict_set_int(b, "level", level);
		udk_dict_set_string(b, "message", msg);
		wire_send_value(rt.sock, OP_DRV_LOG, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
		udk_value_unref(b);
	} else {
		fprintf(stderr, "%s: %s\n", udk_log_level_name(level) ? udk_log_level_name(level) : "log", msg);
	}
}

UDK_EXPORT int
udk_error_set(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	udk_set_reason_str(msg);
	return code;
}

/* ---- requests from udkd, run on the default queue ---- */

struct request {
	struct wire_msg m;
};

#define HAS_OP(cls, field)                                                                                     \
	((cls) && (cls)->struct_size >= offsetof(struct udk_class, field) + sizeof((cls)->field) && (cls)->field)

static void
do_start(struct request *rq)
{
	struct udk_value *b = rq->m.body;
	const char *class_name = udk_dict_get_string(b, "class");
	struct udk_value *prov = udk_dict_get(b, "provider");
	const struct udk_class *cls = class_by_name(class_name);
	struct udk_service *self = NULL, *provider = NULL;
	int r;

	if (!cls) {
		char why[512];
		struct buf names;
		buf_init(&names, 0);
		for (const struct udk_class *const *c = rt.classes; c && *c; c++) {
			if (c != rt.classes)
				buf_puts(&names, ", ");
			buf_puts(&names, (*c)->name);
		}
		char *list = buf_steal_string(&names);
		snprintf(why, sizeof(why),
			 "IOUserClass \"%s\" is not a class of this executable (it has: %s); fix IOUserClass or "
			 "add the class to udk_driver_main()",
			 class_name ? class_name : "", list ? list : "none");
		free(list);
		reply_error(rq->m.h.op, rq->m.h.serial, -UDK_E_UNSUPPORTED, why);
		return;
	}
	if (cls->struct_size < offsetof(struct udk_class, start) + sizeof(cls->start) || cls->api_version > UDK_API_VERSION) {
		reply_error(rq->m.h.op, rq->m.h.serial, -UDK_E_VERSION,
			    "the class was built for a newer udk; rebuild the driver against this one");
		return;
	}
	r = service_object_new(OBJ_PROXY, udk_value_get_uint(udk_dict_get(prov, "id"), 0),
			       udk_dict_get_string(prov, "name"),
			       udk_value_get_string(udk_array_get(udk_dict_get(prov, "classes"), 0)), NULL,
			       udk_dict_get(prov, "properties"), rt.default_queue, &provider);
	if (r >= 0)
		r = service_object_new(OBJ_DRIVER, udk_value_get_uint(udk_dict_get(b, "object"), 0), class_name,
				       class_name, cls, udk_dict_get(b, "properties"), rt.default_queue, &self);
	if (r < 0) {
		udk_service_unref(provider);
		reply_error(rq->m.h.op, rq->m.h.serial, r, "out of memory creating the driver object");
		return;
	}
	self->provider = provider;
	provider->classes = udk_value_copy(udk_dict_get(prov, "classes"));
	self->classes = udk_value_copy(udk_dict_get(b, "classes"));
	udk_clear_reason();
	r = HAS_OP(cls, start) ? cls->start(self, provider) : 0;
	if (r < 0) {
		const char *why = udk_error_reason();
		reply_error(rq->m.h.op, rq->m.h.serial, r, why ? why : udk_strerror(r));
		udk_service_unref(self);
		return;
	}
	self->started = true;
	rt_reply(rq->m.h.op, rq->m.h.serial, 0, NULL);
	/* the instance stays referenced by the object list until Stop */
}

static void
do_stop(struct request *rq)
{
	struct udk_service *self = object_by_id(udk_value_get_uint(udk_dict_get(rq->m.body, "object"), 0));
	int r = 0;

	/* services it made with Create() stop first, as IOKit terminates clients first */
	for (;;) {
		struct udk_service *child = NULL;
		pthread_mutex_lock(&rt.lock);
		for (struct udk_service *o = rt.objects; o && self; o = o->next)
			if (o->kind == OBJ_NUB && o->publisher == self && o->cls && o->started && !o->terminated) {
				child = udk_service_ref(o);
				break;
			}
		pthread_mutex_unlock(&rt.lock);
		if (!child)
			break;
		child->started = false;
		child->terminated = true;
		if (HAS_OP(child->cls, stop))
			child->cls->stop(child, child->provider);
		udk_service_unref(child);
	}
	if (self && self->started && HAS_OP(self->cls, stop))
		r = self->cls->stop(self, self->provider);
	if (self) {
		self->started = false;
		self->terminated = true;
	}
	rt_reply(rq->m.h.op, rq->m.h.serial, r, NULL);
	if (self) {
		udk_service_unref(self); /* object_by_id */
		udk_service_unref(self); /* start's reference */
	}
}

static void
do_new_user_client(struct request *rq)
{
	struct udk_value *b = rq->m.body;
	struct udk_service *target = object_by_id(udk_value_get_uint(udk_dict_get(b, "object"), 0));
	struct udk_value *who = udk_dict_get(b, "client");
	uint32_t type = (uint32_t)udk_dict_get_int(b, "type", 0);
	struct udk_service *uc = NULL;
	int fd = wire_msg_take_fd(&rq->m, 0);
	int r;

	if (!target || fd < 0) {
		if (fd >= 0)
			close(fd);
		udk_service_unref(target);
		reply_error(rq->m.h.op, rq->m.h.serial, -UDK_E_NO_SUCH_SERVICE, "no such service in this driver");
		return;
	}
	/* a nub without its own class asks the driver that published it */
	struct udk_service *impl = target->cls ? target : target->publisher;
	udk_clear_reason();
	if (impl && HAS_OP(impl->cls, new_user_client)) {
		r = impl->cls->new_user_client(target, type, &uc);
	} else {
		char cls[128];
		struct udk_value *ucp;
		pthread_mutex_lock(&target->lock);
		ucp = udk_dict_get(target->props, "UserClientProperties");
		snprintf(cls, sizeof(cls), "%s", udk_dict_get_string(ucp, "IOUserClass") ? udk_dict_get_string(ucp, "IOUserClass") : "");
		pthread_mutex_unlock(&target->lock);
		if (!cls[0])
			r = udk_error_set(-UDK_E_UNSUPPORTED,
					  "%s offers no user clients: add UserClientProperties with an IOUserClass to "
					  "its personality, or implement new_user_client",
					  target->name);
		else
			r = udk_user_client_create(target, cls, &uc);
	}
	if (r >= 0 && !uc)
		r = udk_error_set(-EINVAL, "new_user_client returned success without a user client");
	if (r >= 0)
		r = uc_attach(uc, fd, (pid_t)udk_dict_get_int(who, "pid", 0), (uid_t)udk_dict_get_int(who, "uid", 0));
	else
		close(fd);
	if (r < 0) {
		const char *why = udk_error_reason();
		reply_error(rq->m.h.op, rq->m.h.serial, r, why ? why : "the driver refused the user client");
		udk_service_unref(uc);
	} else {
		struct udk_value *rb = udk_value_new_dict();
		udk_dict_set_uint(rb, "object", uc->id);
		rt_reply(rq->m.h.op, rq->m.h.serial, 0, rb);
		udk_value_unref(rb);
		udk_service_unref(uc); /* the connection holds it now */
	}
	udk_service_unref(target);
}

static void
do_set_power(struct request *rq)
{
	struct udk_service *self = object_by_id(udk_value_get_uint(udk_dict_get(rq->m.body, "object"), 0));
	int64_t state = udk_dict_get_int(rq->m.body, "state", -1);
	uint32_t flags = (uint32_t)udk_dict_get_int(rq->m.body, "flags", 0);
	int r = 0;

	if (!self || !self->started || self->kind != OBJ_DRIVER) {
		reply_error(rq->m.h.op, rq->m.h.serial, -UDK_E_NO_SUCH_SERVICE, "no started driver object with that id");
		udk_service_unref(self);
		return;
	}
	if (state < UDK_POWER_OFF || state > UDK_POWER_ON) {
		reply_error(rq->m.h.op, rq->m.h.serial, -EINVAL, "power state must be 0 (off), 1 (low) or 2 (on)");
		udk_service_unref(self);
		return;
	}
	udk_clear_reason();
	if (HAS_OP(self->cls, set_power_state))
		r = self->cls->set_power_state(self, flags, (enum udk_power_state)state);
	if (r == UDK_POWER_ACK_LATER) {
		pthread_mutex_lock(&self->lock);
		self->power_pending = true;
		self->power_serial = rq->m.h.serial;
		pthread_mutex_unlock(&self->lock);
	} else if (r < 0) {
		const char *why = udk_error_reason();
		reply_error(rq->m.h.op, rq->m.h.serial, r, why ? why : udk_strerror(r));
	} else {
		rt_reply(rq->m.h.op, rq->m.h.serial, 0, NULL);
	}
	udk_service_unref(self);
}

UDK_EXPORT int
udk_service_acknowledge_power_state(struct udk_service *self)
{
	uint32_t serial;
	bool pending;

	udk_return_val_if_fail(self, -EINVAL);
	pthread_mutex_lock(&self->lock);
	pending = self->power_pending;
	serial = self->power_serial;
	self->power_pending = false;
	pthread_mutex_unlock(&self->lock);
	if (!pending)
		return udk_set_reason(-EALREADY, "no power change is waiting for an acknowledgement");
	rt_reply(OP_DRV_SET_POWER, serial, 0, NULL);
	return 0;
}

UDK_EXPORT int
udk_service_request_power_state(struct udk_service *self, enum udk_power_state state)
{
	struct udk_value *b;
	int r;

	udk_return_val_if_fail(self && state >= UDK_POWER_OFF && state <= UDK_POWER_ON, -EINVAL);
	b = udk_value_new_dict();
	udk_dict_set_uint(b, "object", self->id);
	udk_dict_set_int(b, "state", state);
	r = rt_call(OP_DRV_POWER_REQUEST, b, NULL);
	udk_value_unref(b);
	return r;
}

UDK_EXPORT int
udk_service_set_busy(struct udk_service *self, bool busy)
{
	struct udk_value *b;
	int r;

	udk_return_val_if_fail(self, -EINVAL);
	b = udk_value_new_dict();
	udk_dict_set_uint(b, "object", self->id);
	udk_dict_set_bool(b, "busy", busy);
	r = wire_send_value(rt.sock, OP_DRV_POWER_BUSY, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
	udk_value_unref(b);
	return r < 0 ? r : 0;
}

static void
do_provider_event(struct request *rq)
{
	struct udk_service *nub = object_by_id(udk_value_get_uint(udk_dict_get(rq->m.body, "object"), 0));
	const char *event = udk_dict_get_string(rq->m.body, "event");

	if (nub && streq(event, "client-died")) {
		struct udk_service *drv = nub->publisher;
		if (drv && HAS_OP(drv->cls, nub_client_died))
			drv->cls->nub_client_died(drv, nub);
	}
	udk_service_unref(nub);
}

static void
run_request(void *data)
{
	struct request *rq = data;

	switch (rq->m.h.op) {
	case OP_DRV_START:
		do_start(rq);
		break;
	case OP_DRV_STOP:
		do_stop(rq);
		break;
	case OP_DRV_NEW_USER_CLIENT:
		do_new_user_client(rq);
		break;
	case OP_DRV_PROVIDER_EVENT:
		do_provider_event(rq);
		break;
	case OP_DRV_SET_POWER:
		do_set_power(rq);
		break;
	case OP_DRV_REVOKE_USER_CLIENT:
		uc_revoke_code(udk_value_get_uint(udk_dict_get(rq->m.body, "object"), 0),
			  udk_dict_get_string(rq->m.body, "reason"), (int)udk_dict_get_int(rq->m.body, "code", 0));
		break;
	case OP_PING: {
		/* the default queue answers by running this; the queues that serve
		 * user clients answer by running the heartbeats posted to them */
		uint64_t limit = (uint64_t)MAX(udk_dict_get_int(rq->m.body, "queues_ms", 0), 0);
		uint64_t waited = 0;
		char qname[64];
		struct udk_value *b = NULL;
		if (queue_watch_check(limit, qname, sizeof(qname), &waited)) {
			b = udk_value_new_dict();
			udk_dict_set_string(b, "stuck_queue", qname);
			udk_dict_set_uint(b, "waited_ms", waited);
		}
		rt_reply(OP_PING, rq->m.h.serial, 0, b);
		udk_value_unref(b);
		break;
	}
	default:
		if (!(rq->m.h.flags & WIRE_F_ONEWAY))
			reply_error(rq->m.h.op, rq->m.h.serial, -EOPNOTSUPP, "the driver runtime does not know this request");
	}
	wire_msg_clear(&rq->m);
	free(rq);
}

/* ---- family request handlers ---- */

#define MAX_FAMILY_HANDLERS 8

static struct {
	uint16_t base, count;
	rt_family_fn fn;
} family_handlers[MAX_FAMILY_HANDLERS];
static unsigned n_family_handlers;

int
rt_set_family_handler(uint16_t op_base, uint16_t op_count, rt_family_fn fn)
{
	int r = 0;

	if (!fn || !op_count || op_base < OP_FAMILY_FIRST)
		return -EINVAL;
	pthread_mutex_lock(&rt.lock);
	for (unsigned i = 0; i < n_family_handlers && !r; i++) {
		if (family_handlers[i].base == op_base && family_handlers[i].fn == fn)
			r = 1; /* already there */
		else if (op_base < family_handlers[i].base + family_handlers[i].count &&
			 family_handlers[i].base < op_base + op_count)
			r = -EBUSY;
	}
	if (!r && n_family_handlers == MAX_FAMILY_HANDLERS)
		r = -ENOSPC;
	if (!r)
	{
		family_handlers[n_family_handlers].base = op_base;
		family_handlers[n_family_handlers].count = op_count;
		family_handlers[n_family_handlers++].fn = fn;
	}
	pthread_mutex_unlock(&rt.lock);
	return r < 0 ? r : 0;
}

static rt_family_fn
family_handler(uint16_t op)
{
	rt_family_fn fn = NULL;

	pthread_mutex_lock(&rt.lock);
	for (unsigned i = 0; i < n_family_handlers; i++)
		if (op >= family_handlers[i].base && op - family_handlers[i].base < family_handlers[i].count)
			fn = family_handlers[i].fn;
	pthread_mutex_unlock(&rt.lock);
	return fn;
}

static void
wake_all(int status)
{
	pthread_mutex_lock(&rt.lock);
	for (struct rt_waiter *w = rt.waiters; w; w = w->next) {
		w->done = true;
		w->status = status;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&rt.lock);
}

static void *
io_thread(void *data)
{
	(void)data;
	pthread_setname_np(pthread_self(), "udk-io");
	for (;;) {
		struct wire_msg m;
		int r = wire_recv(rt.sock, &m, false);

		if (r == -EBADMSG) {
			/* udkd never sends garbage; something is badly wrong */
			fprintf(stderr, "udk driver runtime: malformed message from udkd: %s\n",
				udk_error_reason() ? udk_error_reason() : "?");
			continue;
		}
		if (r < 0) {
			/* udkd went away: a driver does not outlive its manager */
			rt.connected = false;
			wake_all(-UDK_E_DAEMON_UNREACHABLE);
			_exit(0);
		}
		if (m.h.flags & WIRE_F_REPLY) {
			pthread_mutex_lock(&rt.lock);
			for (struct rt_waiter *w = rt.waiters; w; w = w->next)
				if (w->serial == m.h.serial && !w->done) {
					w->done = true;
					w->status = m.h.status;
					w->reply = TAKE_PTR(m.body);
					w->fds[0] = wire_msg_take_fd(&m, 0);
					w->fds[1] = wire_msg_take_fd(&m, 1);
					if (m.h.status < 0 && udk_dict_get_string(w->reply, "reason"))
						snprintf(w->reason, sizeof(w->reason), "%s",
							 udk_dict_get_string(w->reply, "reason"));
					pthread_cond_signal(&w->cond);
					break;
				}
			pthread_mutex_unlock(&rt.lock);
			wire_msg_clear(&m);
			continue;
		}
		if (m.h.op == OP_DRV_SET_LOG_LEVEL) {
			int64_t l = udk_dict_get_int(m.body, "level", -1);
			if (l >= UDK_LOG_ERROR && l <= UDK_LOG_DEBUG)
				rt.log_level = (int)l;
			wire_msg_clear(&m);
			continue;
		}
		if (m.h.op >= OP_FAMILY_FIRST) {
			rt_family_fn fn = family_handler(m.h.op);
			if (fn) {
				fn(&m);
				continue;
			}
		}
		struct request *rq = malloc(sizeof(*rq));
		if (!rq) {
			wire_msg_clear(&m);
			continue;
		}
		rq->m = m;
		if (udk_queue_dispatch_async(rt.default_queue, run_request, rq) < 0) {
			wire_msg_clear(&rq->m);
			free(rq);
		}
	}
	return NULL;
}

UDK_EXPORT int
udk_driver_main(int argc, char **argv, const struct udk_class *const *classes)
{
	const char *fdenv = getenv("UDK_DRIVER_FD");
	const char *lvl = getenv("UDK_LOG_LEVEL");
	struct udk_value *hello, *cl, *reply = NULL;
	uint64_t fd;
	int r;

	(void)argc;
	pthread_once(&lock_once, init_lock);
	if (!fdenv || parse_u64(fdenv, &fd) < 0 || fd > 1024) {
		fprintf(stderr,
			"%s is a udk driver: udkd starts it when one of its personalities matches.\n"
			"Put its bundle in a directory given to `udkd --bundles DIR`, then see `udkctl drivers`.\n",
			argv && argv[0] ? argv[0] : "this program");
		return 2;
	}
	if (!classes || !classes[0]) {
		fprintf(stderr, "udk_driver_main: no classes given\n");
		return 2;
	}
	if (getenv("UDK_DEBUG_WAIT")) {
		fprintf(stderr, "waiting for a debugger: gdb -p %d -ex continue\n", getpid());
		raise(SIGSTOP);
	}
	if (lvl && udk_log_level_parse(lvl) > 0)
		rt.log_level = udk_log_level_parse(lvl);
	signal(SIGPIPE, SIG_IGN);
	rt.sock = (int)fd;
	fd_set_cloexec(rt.sock, true);
	rt.classes = classes;
	r = queue_new_on_this_thread("default", &rt.default_queue);
	if (r < 0)
		return 1;
	rt.connected = true;
	r = pthread_create(&rt.io_thread, NULL, io_thread, NULL);
	if (r) {
		fprintf(stderr, "udk driver runtime: cannot start the I/O thread: %s\n", strerror(r));
		return 1;
	}
	hello = udk_value_new_dict();
	cl = udk_value_new_array();
	for (const struct udk_class *const *c = classes; *c; c++)
		udk_array_append_take(cl, udk_value_new_string((*c)->name));
	udk_dict_set_int(hello, "version", PROTO_VERSION);
	udk_dict_set_int(hello, "pid", getpid());
	udk_dict_set_take(hello, "classes", cl);
	r = rt_call(OP_DRV_HELLO, hello, &reply);
	udk_value_unref(hello);
	if (r < 0) {
		fprintf(stderr, "udk driver runtime: udkd refused the hello: %s\n",
			udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	{
		int64_t l = udk_dict_get_int(reply, "log_level", -1);
		if (l >= UDK_LOG_ERROR && l <= UDK_LOG_DEBUG)
			rt.log_level = (int)l;
	}
	udk_value_unref(reply);
	queue_run(rt.default_queue);
	return 0;
}
