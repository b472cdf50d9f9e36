/* SPDX-License-Identifier: MIT */
/*
 * userclient.c - user client connections in the driver process.
 *
 * Each user client owns a connection (a SOCK_SEQPACKET socket to one app)
 * and a queue.  The socket is a source on that queue's loop, so a call is
 * read, checked, dispatched and answered on one thread with no hand-off.
 * While a method runs, the driver may ask the app for memory
 * (udk_user_client_create_memory_descriptor): the request goes out on the
 * same socket and the reply is read right there; any other message that
 * arrives meanwhile waits in a backlog and is served after the call.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "private.h"
#include "proto.h"
#include "ring-private.h"
#include "util.h"

#define HAS_OP(cls, field)                                                                                     \
	((cls) && (cls)->struct_size >= offsetof(struct udk_class, field) + sizeof((cls)->field) && (cls)->field)

/* How long the driver waits for the app to answer a memory request. */
#define APP_REPLY_TIMEOUT_MS 10000

/*
 * What one app can make its driver hold.  Its messages fit a datagram (the
 * large-message memfd is for udkd and drivers; calls pass large
 * structures as descriptors).  While a method waits for the app's answer
 * to a memory request, what else the app sends is kept for later, up to
 * these bounds.  And one uid gets so many user clients in one driver.
 */
#define APP_MAX_MESSAGE WIRE_MAX_INLINE
#define BACKLOG_MAX_MESSAGES 64u
#define BACKLOG_MAX_BYTES (1u << 20)
#define BACKLOG_MAX_FDS 16u
#define USER_CLIENTS_PER_UID 128u

struct backlog {
	struct backlog *next;
	struct wire_msg m;
};

struct uc_conn {
	int refcount;
	int fd;
	struct udk_service *uc;
	struct udk_queue *queue;
	struct loop_source *src;	/* queue thread only */
	pid_t pid;
	uid_t uid;
	uint32_t next_serial;
	struct backlog *backlog, **backlog_tail;
	unsigned backlog_n, backlog_fds;
	size_t backlog_bytes;
	struct shared_map *map_cache;
	bool counted;			/* in uid_counts */
	bool closed;
	bool close_reply;		/* the app asked (OP_UC_CLOSE): answer close_serial once stopped */
	uint32_t close_serial;
	/* spin mode (OP_UC_SPIN); queue thread only */
	struct proto_spin_page *spin;
	int spin_req_bell, spin_rep_bell;
	struct loop_source *spin_src;
	uint32_t spin_seen;
	bool reply_via_spin;
	uint8_t *spin_buf;
};

struct udk_async_ref {
	struct uc_conn *conn;
	uint64_t ref;
	bool heap;
};

static _Thread_local struct call_ctx *tl_call;

/* User clients per app uid in this process (any thread). */
static pthread_mutex_t uid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uid_count {
	uid_t uid;
	unsigned n;
} uid_counts[256];

static int
uid_count_add(uid_t uid)
{
	struct uid_count *free_slot = NULL, *u = NULL;
	int r = 0;

	pthread_mutex_lock(&uid_lock);
	for (size_t i = 0; i < ARRAY_SIZE(uid_counts); i++) {
		if (uid_counts[i].n && uid_counts[i].uid == uid)
			u = &uid_counts[i];
		else if (!uid_counts[i].n && !free_slot)
			free_slot = &uid_counts[i];
	}
	if (!u && free_slot) {
		u = free_slot;
		u->uid = uid;
	}
	if (!u)
		r = udk_error_set(-UDK_E_LIMIT, "this driver serves apps of %zu users already; try again later",
				  ARRAY_SIZE(uid_counts));
	else if (u->n >= USER_CLIENTS_PER_UID)
		r = udk_error_set(-UDK_E_LIMIT,
				  "uid %u already has %u user clients open in this driver, the most one user may: "
				  "close some",
				  (unsigned)uid, u->n);
	else
		u->n++;
	pthread_mutex_unlock(&uid_lock);
	return r;
}

static void
uid_count_remove(uid_t uid)
{
	pthread_mutex_lock(&uid_lock);
	for (size_t i = 0; i < ARRAY_SIZE(uid_counts); i++)
		if (uid_counts[i].n && uid_counts[i].uid == uid) {
			uid_counts[i].n--;
			break;
		}
	pthread_mutex_unlock(&uid_lock);
}

/* The largest message an app may send its driver. */
static size_t
app_message_limit(const struct wire_header *h, void *data)
{
	(void)h;
	(void)data;
	return APP_MAX_MESSAGE;
}

struct call_ctx *
uc_current_call(void)
{
	return tl_call;
}

int
uc_conn_fd(struct uc_conn *c)
{
	return c->fd;
}

struct shared_map **
uc_conn_map_cache(struct uc_conn *c)
{
	return &c->map_cache;
}

static struct uc_conn *
conn_ref(struct uc_conn *c)
{
	__atomic_add_fetch(&c->refcount, 1, __ATOMIC_RELAXED);
	return c;
}

static void
conn_unref(struct uc_conn *c)
{
	if (!c || __atomic_sub_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	while (c->backlog) {
		struct backlog *b = c->backlog;
		c->backlog = b->next;
		wire_msg_clear(&b->m);
		free(b);
	}
	map_cache_clear(&c->map_cache);
	if (c->fd >= 0)
		close(c->fd);
	if (c->counted)
		uid_count_remove(c->uid);
	free(c);
}

UDK_EXPORT int
udk_user_client_create(struct udk_service *provider, const char *class_name, struct udk_service **ret)
{
	const struct udk_class *cls = class_by_name(class_name);
	struct udk_queue *q = NULL;
	struct udk_service *uc = NULL;
	char qname[64];
	int r;

	udk_return_val_if_fail(provider && class_name && ret, -EINVAL);
	if (!cls)
		return udk_error_set(-UDK_E_UNSUPPORTED,
				     "user client class \"%s\" is not a class of this executable; add it to "
				     "udk_driver_main()",
				     class_name);
	snprintf(qname, sizeof(qname), "uc-%s", class_name);
	r = udk_queue_create(qname, &q);
	if (r < 0)
		return r;
	pthread_mutex_lock(&rt.lock);
	uint64_t id = rt.next_local_id++;
	pthread_mutex_unlock(&rt.lock);
	r = service_object_new(OBJ_USER_CLIENT, id, class_name, class_name, cls, NULL, q, &uc);
	udk_queue_unref(q);
	if (r < 0)
		return r;
	uc->provider = udk_service_ref(provider);
	*ret = uc;
	return 0;
}

UDK_EXPORT int
udk_user_client_get_peer(struct udk_service *client, int *ret_pid, int *ret_uid)
{
	udk_return_val_if_fail(client && client->conn, -EINVAL);
	if (ret_pid)
		*ret_pid = client->conn->pid;
	if (ret_uid)
		*ret_uid = (int)client->conn->uid;
	return 0;
}

/* ---- dispatch checks ---- */

/* Append @s to @buf at *@at, within @len (a terminating NUL always). */
static void
label_put(char *buf, size_t len, size_t *at, const char *s)
{
	while (*s && *at + 1 < len)
		buf[(*at)++] = *s++;
	buf[*at] = 0;
}

/*
 * "selector N (Name)": made for every call (a refusal names it), so without
 * printf, which was a noticeable part of a spinning call.
 */
static const char *
method_label(const struct udk_method_dispatch *d, uint64_t selector, char *buf, size_t len)
{
	char num[24];
	size_t at = 0, k = sizeof(num) - 1;

	num[k] = 0;
	do
		num[--k] = (char)('0' + selector % 10);
	while ((selector /= 10) && k > 0);
	label_put(buf, len, &at, "selector ");
	label_put(buf, len, &at, num + k);
	if (d && d->name) {
		label_put(buf, len, &at, " (");
		label_put(buf, len, &at, d->name);
		label_put(buf, len, &at, ")");
	}
	return buf;
}

UDK_EXPORT int
udk_user_client_dispatch(struct udk_service *client, struct udk_method_args *args,
			 const struct udk_method_dispatch *d, void *reference)
{
	char label[96];
	uint64_t in_size, out_size;

	udk_return_val_if_fail(client && args, -EINVAL);
	if (!d || !d->function) {
		/* list the class's selectors, so the app sees which it meant (issue 20) */
		const struct udk_class *cls = client->cls;
		char list[640] = "";
		size_t len = 0;
		if (cls && cls->struct_size >= offsetof(struct udk_class, n_methods) + sizeof(cls->n_methods) &&
		    cls->methods)
			for (uint32_t i = 0; i < cls->n_methods && len < sizeof(list) - 40; i++) {
				if (!cls->methods[i].function)
					continue;
				int k = snprintf(list + len, sizeof(list) - len, "%s%u%s%s%s", len ? ", " : "", i,
						 cls->methods[i].name ? " (" : "",
						 cls->methods[i].name ? cls->methods[i].name : "",
						 cls->methods[i].name ? ")" : "");
				len = k < 0 ? len : MIN(len + (size_t)k, sizeof(list) - 1);
			}
		if (len)
			return udk_error_set(-UDK_E_UNKNOWN_SELECTOR, "%s is not implemented by %s; its selectors are %s",
					     method_label(d, args->selector, label, sizeof(label)), client->class_name,
					     list);
		return udk_error_set(-UDK_E_UNKNOWN_SELECTOR, "%s is not implemented by %s",
				     method_label(d, args->selector, label, sizeof(label)), client->class_name);
	}
	method_label(d, args->selector, label, sizeof(label));
	if (d->check_completion_exists != UDK_METHOD_VARIABLE) {
		if (d->check_completion_exists && !args->completion)
			return udk_error_set(-UDK_E_COMPLETION,
					     "%s must be called asynchronously (udk_connection_call_async)", label);
		if (!d->check_completion_exists && args->completion)
			return udk_error_set(-UDK_E_COMPLETION,
					     "%s must be called synchronously (udk_connection_call)", label);
	}
	if (d->check_scalar_input_count != UDK_METHOD_VARIABLE &&
	    args->scalar_input_count != d->check_scalar_input_count)
		return udk_error_set(-UDK_E_SCALAR_COUNT, "%s: %u scalar input(s) given, the driver expects %u", label,
				     args->scalar_input_count, d->check_scalar_input_count);
	in_size = args->struct_input_descriptor ? udk_memory_descriptor_get_length(args->struct_input_descriptor)
						: args->struct_input_size;
	if (d->check_structure_input_size != UDK_METHOD_VARIABLE && in_size != d->check_structure_input_size)
		return udk_error_set(-UDK_E_STRUCT_SIZE, "%s: structure input is %llu bytes, the driver expects %u",
				     label, (unsigned long long)in_size, d->check_structure_input_size);
	if (d->check_scalar_output_count != UDK_METHOD_VARIABLE &&
	    args->scalar_output_count != d->check_scalar_output_count)
		return udk_error_set(-UDK_E_SCALAR_COUNT,
				     "%s: the app asks for %u scalar output(s), the driver returns %u", label,
				     args->scalar_output_count, d->check_scalar_output_count);
	out_size = args->struct_output_descriptor ? udk_memory_descriptor_get_length(args->struct_output_descriptor)
						  : args->struct_output_size;
	if (d->check_structure_output_size != UDK_METHOD_VARIABLE && out_size != d->check_structure_output_size)
		return udk_error_set(-UDK_E_STRUCT_SIZE,
				     "%s: the app's output buffer is %llu bytes, the driver writes %u", label,
				     (unsigned long long)out_size, d->check_structure_output_size);
	return d->function(client, reference, args);
}

/* ---- serving calls ---- */

static void
spin_reply(struct uc_conn *c, int status, const struct iovec *iov, unsigned n)
{
	struct proto_spin_page *sp = c->spin;
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t k = MIN(iov[i].iov_len, PROTO_SPIN_AREA - off);
		memcpy(sp->rep + off, iov[i].iov_base, k);
		off += k;
	}
	sp->rep_len = (uint32_t)off;
	sp->rep_status = status;
	/* store-release paired with the app's load-acquire of rep_seq in
	 * spin_call(): the reply is written before it is published */
	atomic_store_explicit(&sp->rep_seq, c->spin_seen, memory_order_release);
	/* full fence paired with the app's, after it sets app_waiting */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&sp->app_waiting, memory_order_relaxed)) {
		uint64_t one = 1;
		if (write(c->spin_rep_bell, &one, sizeof(one)) < 0) {
			/* the counter is full: the app is being woken anyway */
		}
	}
}

static int
send_call_reply(struct uc_conn *c, uint32_t serial, int status, const struct udk_method_args *a,
		const char *reason)
{
	struct proto_call_reply rep = { 0 };
	struct iovec iov[4];
	unsigned n = 0;

	if (status >= 0) {
		rep.scalar_out_count = a->scalar_output_count;
		rep.struct_out_size = a->struct_output_descriptor ? 0 : (uint32_t)a->struct_output_size;
	}
	iov[n++] = (struct iovec){ &rep, sizeof(rep) };
	if (rep.scalar_out_count)
		iov[n++] = (struct iovec){ (void *)a->scalar_output, 8u * rep.scalar_out_count };
	if (rep.struct_out_size)
		iov[n++] = (struct iovec){ a->struct_output, rep.struct_out_size };
	if (status < 0 && reason)
		iov[n++] = (struct iovec){ (void *)reason, MIN(strlen(reason) + 1, 1024) };
	if (c->reply_via_spin) {
		spin_reply(c, status, iov, n);
		return 0;
	}
	return wire_sendv(c->fd, OP_UC_CALL, WIRE_F_REPLY, serial, status, iov, n, NULL, 0);
}

static void
refuse(struct uc_conn *c, const struct wire_msg *m, int status, const char *fmt, ...) UDK_PRINTF(4, 5);

static void
refuse(struct uc_conn *c, const struct wire_msg *m, int status, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	struct udk_method_args none = { 0 };

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	udk_log(UDK_LOG_DEBUG, "refused a call from pid %d: %s", c->pid, why);
	send_call_reply(c, m->h.serial, status, &none, why);
}

static int
check_memfd(int fd, uint64_t need, bool sealed_write, uint64_t *ret_size)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || seals < 0)
		return -1;
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -1;
	if (sealed_write && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -1;
	if ((uint64_t)st.st_size < need)
		return -1;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

static void
handle_call(struct uc_conn *c, struct wire_msg *m)
{
	struct udk_service *uc = c->uc;
	const struct udk_class *cls = uc->cls;
	struct proto_call pc;
	uint64_t scalar_in[PROTO_MAX_SCALARS];
	uint64_t scalar_out[PROTO_MAX_SCALARS] = { 0 };
	uint8_t struct_out[PROTO_MAX_INLINE_STRUCT];
	struct udk_method_args args = { 0 };
	struct udk_async_ref aref = { .conn = c };
	struct call_ctx ctx = { .conn = c, .client = uc, .serial = m->h.serial };
	unsigned fd_i = 0;
	uint64_t fdsize = 0;
	int r;

	{
		struct call_view v;
		r = proto_call_decode(m->payload, m->len, m->n_fds, &v);
		if (r < 0) {
			refuse(c, m, r, "%s", udk_error_reason() ? udk_error_reason() : "malformed call");
			return;
		}
		pc = v.call;
	}
	memcpy(scalar_in, m->payload + sizeof(pc), 8u * pc.scalar_in_count);
	args.selector = pc.selector;
	args.scalar_input = scalar_in;
	args.scalar_input_count = pc.scalar_in_count;
	args.scalar_output = scalar_out;
	args.scalar_output_count = pc.scalar_out_max;
	if (pc.flags & CALL_F_STRUCT_IN_FD) {
		int fd = wire_msg_take_fd(m, fd_i++);
		if (check_memfd(fd, pc.struct_in_size, true, &fdsize) < 0 ||
		    md_from_fd(fd, 0, pc.struct_in_size, UDK_MEMORY_DIRECTION_OUT, false,
			       &args.struct_input_descriptor) < 0) {
			if (fd >= 0)
				close(fd);
			refuse(c, m, -UDK_E_PROTOCOL,
			       "large structure input must be a memfd sealed against writes and resizing, of at least "
			       "%u bytes",
			       pc.struct_in_size);
			return;
		}
	} else {
		args.struct_input = pc.struct_in_size ? m->payload + sizeof(pc) + 8u * pc.scalar_in_count : NULL;
		args.struct_input_size = pc.struct_in_size;
	}
	if (pc.flags & CALL_F_STRUCT_OUT_FD) {
		int fd = wire_msg_take_fd(m, fd_i++);
		if (check_memfd(fd, pc.struct_out_max, false, &fdsize) < 0 ||
		    md_from_fd(fd, 0, pc.struct_out_max, UDK_MEMORY_DIRECTION_IN, true,
			       &args.struct_output_descriptor) < 0) {
			if (fd >= 0)
				close(fd);
			udk_memory_descriptor_unref(args.struct_input_descriptor);
			refuse(c, m, -UDK_E_PROTOCOL,
			       "large structure output must be a writable memfd sealed against resizing, of at least %u "
			       "bytes",
			       pc.struct_out_max);
			return;
		}
	} else {
		args.struct_output = struct_out;
		args.struct_output_size = pc.struct_out_max;
	}
	if (pc.flags & CALL_F_ASYNC) {
		aref.ref = pc.async_ref;
		args.completion = &aref;
		ctx.async = true;
	}

	ctx.outer = tl_call;
	tl_call = &ctx;
	udk_clear_reason();
	if (HAS_OP(cls, external_method)) {
		r = cls->external_method(uc, pc.selector, &args);
	} else {
		const struct udk_method_dispatch *d = NULL;
		if (HAS_OP(cls, methods) && pc.selector < cls->n_methods)
			d = &cls->methods[pc.selector];
		r = udk_user_client_dispatch(uc, &args, d, NULL);
	}
	tl_call = ctx.outer;

	/* a driver may not claim more than the app made room for */
	if (args.scalar_output_count > pc.scalar_out_max)
		args.scalar_output_count = pc.scalar_out_max;
	if (!args.struct_output_descriptor && args.struct_output_size > pc.struct_out_max)
		args.struct_output_size = pc.struct_out_max;
	{
		const char *why = r < 0 ? udk_error_reason() : NULL;
		send_call_reply(c, m->h.serial, r, &args, why ? why : (r < 0 ? udk_strerror(r) : NULL));
	}
	udk_memory_descriptor_unref(args.struct_input_descriptor);
	udk_memory_descriptor_unref(args.struct_output_descriptor);
}

static void
handle_map(struct uc_conn *c, struct wire_msg *m)
{
	const struct udk_class *cls = c->uc->cls;
	uint64_t type = udk_value_get_uint(udk_dict_get(m->body, "type"), 0);
	uint64_t options = udk_value_get_uint(udk_dict_get(m->body, "options"), 0);
	struct udk_buffer *buf = NULL;
	struct udk_value *body = udk_value_new_dict();
	int r, fd = -1;

	udk_clear_reason();
	if (!HAS_OP(cls, copy_client_memory_for_type))
		r = udk_error_set(-UDK_E_UNSUPPORTED, "%s shares no memory (no copy_client_memory_for_type)",
				  c->uc->class_name);
	else
		r = cls->copy_client_memory_for_type(c->uc, type, &options, &buf);
	if (r >= 0 && !buf)
		r = udk_error_set(-EINVAL, "copy_client_memory_for_type returned no buffer");
	if (r >= 0) {
		fd = udk_buffer_peer_fd(buf);
		if (fd < 0)
			r = fd;
	}
	if (r >= 0) {
		udk_dict_set_uint(body, "size", udk_buffer_get_size(buf));
		udk_dict_set_uint(body, "options", options);
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, 0, body, &fd, 1);
	} else {
		const char *why = udk_error_reason();
		udk_dict_set_string(body, "reason", why ? why : udk_strerror(r));
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, r, body, NULL, 0);
	}
	if (fd >= 0)
		close(fd);
	udk_buffer_unref(buf);
	udk_value_unref(body);
}

static void
handle_map_ring(struct uc_conn *c, struct wire_msg *m)
{
	const struct udk_class *cls = c->uc->cls;
	uint64_t type = udk_value_get_uint(udk_dict_get(m->body, "type"), 0);
	struct udk_ring *ring = NULL;
	struct udk_value *body = udk_value_new_dict();
	int r, fds[3];

	udk_clear_reason();
	if (!HAS_OP(cls, copy_data_queue_for_type))
		r = udk_error_set(-UDK_E_UNSUPPORTED, "%s offers no data queues (no copy_data_queue_for_type)",
				  c->uc->class_name);
	else
		r = cls->copy_data_queue_for_type(c->uc, type, &ring);
	if (r >= 0 && !ring)
		r = udk_error_set(-EINVAL, "copy_data_queue_for_type returned no ring");
	if (r >= 0) {
		ring_export(ring, fds);
		udk_dict_set_int(body, "role", udk_ring_get_role(ring) == UDK_RING_PRODUCER ? UDK_RING_CONSUMER
											 : UDK_RING_PRODUCER);
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, 0, body, fds, 3);
	} else {
		const char *why = udk_error_reason();
		udk_dict_set_string(body, "reason", why ? why : udk_strerror(r));
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, r, body, NULL, 0);
	}
	udk_ring_unref(ring);
	udk_value_unref(body);
}

/* ---- spin mode ---- */

static void handle_call(struct uc_conn *c, struct wire_msg *m);

/* The idle hook of the queue: is there a spin request?  Serve it. */
static bool
spin_poll(void *data)
{
	struct uc_conn *c = data;
	struct proto_spin_page *sp = c->spin;
	struct wire_msg m;
	uint32_t seq, len;

	if (!sp || c->closed)
		return false;
	/* load-acquire paired with the app's store-release of req_seq in
	 * spin_call(): the request is complete */
	seq = atomic_load_explicit(&sp->req_seq, memory_order_acquire);
	if (seq == c->spin_seen)
		return false;
	c->spin_seen = seq;
	len = sp->req_len;
	wire_msg_init(&m);
	m.h.op = OP_UC_CALL;
	m.h.serial = PROTO_SPIN_SERIAL | (seq & 0x3fffffffu);
	c->reply_via_spin = true;
	if (len > PROTO_SPIN_AREA) {
		struct udk_method_args none = { 0 };
		send_call_reply(c, m.h.serial, -UDK_E_PROTOCOL, &none, "spin request longer than its slot");
	} else {
		/* work on a private copy: the app could change the page meanwhile */
		memcpy(c->spin_buf, sp->req, len);
		m.payload = c->spin_buf;
		m.len = len;
		handle_call(c, &m);
	}
	c->reply_via_spin = false;
	m.payload = NULL;
	return true;
}

static void
spin_sleeping(void *data, bool asleep)
{
	struct uc_conn *c = data;

	atomic_store_explicit(&c->spin->driver_waiting, asleep, memory_order_relaxed);
	/* full fence paired with the app's, after it publishes req_seq: it
	 * sees us asleep and rings, or we see its request */
	if (asleep)
		atomic_thread_fence(memory_order_seq_cst);
}

static void
spin_bell(struct loop *l, int fd, uint32_t events, void *data)
{
	uint64_t v;

	(void)l;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* nothing to drain */
	}
	while (spin_poll(data))
		;
}

static void
spin_teardown(struct uc_conn *c)
{
	if (!c->spin)
		return;
	loop_set_idle(queue_loop(c->queue), NULL);
	loop_source_remove(c->spin_src);
	c->spin_src = NULL;
	munmap(c->spin, sizeof(*c->spin));
	c->spin = NULL;
	close(c->spin_req_bell);
	close(c->spin_rep_bell);
	free(c->spin_buf);
	c->spin_buf = NULL;
}

static void
handle_spin_setup(struct uc_conn *c, struct wire_msg *m)
{
	struct loop_idle idle = { spin_poll, spin_sleeping, c, 200000 };
	struct proto_spin_page *sp;
	uint64_t size;
	int fds[3], st = 0;

	if (m->n_fds != 3 || c->spin) {
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, c->spin ? -EBUSY : -UDK_E_PROTOCOL, NULL,
				NULL, 0);
		return;
	}
	for (int i = 0; i < 3; i++)
		fds[i] = wire_msg_take_fd(m, (unsigned)i);
	if (check_memfd(fds[0], sizeof(*sp), false, &size) < 0 || size != sizeof(*sp))
		st = -UDK_E_PROTOCOL;
	sp = st < 0 ? MAP_FAILED : mmap(NULL, sizeof(*sp), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (sp == MAP_FAILED || sp->magic != PROTO_SPIN_MAGIC || !(c->spin_buf = malloc(PROTO_SPIN_AREA))) {
		if (sp != MAP_FAILED)
			munmap(sp, sizeof(*sp));
		close(fds[1]);
		close(fds[2]);
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, st < 0 ? st : -UDK_E_PROTOCOL, NULL, NULL, 0);
		return;
	}
	c->spin = sp;
	c->spin_req_bell = fds[1];
	c->spin_rep_bell = fds[2];
	c->spin_seen = atomic_load_explicit(&sp->req_seq, memory_order_acquire);
	loop_add_fd(queue_loop(c->queue), c->spin_req_bell, EPOLLIN, spin_bell, c, &c->spin_src);
	loop_set_idle(queue_loop(c->queue), &idle);
	wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, 0, NULL, NULL, 0);
}

static void conn_close(struct uc_conn *c);

static void
handle_message(struct uc_conn *c, struct wire_msg *m)
{
	if (m->h.flags & WIRE_F_REPLY)
		return; /* a late answer to a request that already gave up */
	switch (m->h.op) {
	case OP_UC_CALL:
		handle_call(c, m);
		break;
	case OP_UC_MAP:
		if (udk_value_get_type(m->body) != UDK_VALUE_DICT || m->n_fds) {
			wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, -UDK_E_PROTOCOL, NULL, NULL, 0);
			break;
		}
		handle_map(c, m);
		break;
	case OP_UC_MAP_RING:
		if (udk_value_get_type(m->body) != UDK_VALUE_DICT || m->n_fds) {
			wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, -UDK_E_PROTOCOL, NULL, NULL, 0);
			break;
		}
		handle_map_ring(c, m);
		break;
	case OP_UC_SPIN:
		handle_spin_setup(c, m);
		break;
	case OP_UC_CLOSE:
		/* the reply comes after client_closed() and stop(): once the app's
		 * udk_connection_close() returns, what this client held is free */
		c->close_serial = m->h.serial;
		c->close_reply = true;
		conn_close(c);
		break;
	case OP_PING:
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, 0, NULL, NULL, 0);
		break;
	default:
		if (!(m->h.flags & WIRE_F_ONEWAY)) {
			struct udk_value *b = udk_value_new_dict();
			udk_dict_set_string(b, "reason", "a user client does not know this request");
			wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, -EOPNOTSUPP, b, NULL, 0);
			udk_value_unref(b);
		}
	}
}

static void
conn_close(struct uc_conn *c)
{
	struct udk_service *uc = c->uc;

	if (c->closed)
		return;
	__atomic_store_n(&c->closed, true, __ATOMIC_RELEASE);
	spin_teardown(c);
	loop_source_remove(c->src);
	c->src = NULL;
	if (!c->close_reply)
		shutdown(c->fd, SHUT_RDWR);
	if (rt.connected) {
		/* udkd keeps a list of open connections for `udkctl access` */
		struct udk_value *b = udk_value_new_dict();
		udk_dict_set_uint(b, "object", uc->id);
		wire_send_value(rt.sock, OP_DRV_USER_CLIENT_CLOSED, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
		udk_value_unref(b);
	}
	if (HAS_OP(uc->cls, client_closed))
		uc->cls->client_closed(uc);
	if (uc->started && HAS_OP(uc->cls, stop))
		uc->cls->stop(uc, uc->provider);
	uc->started = false;
	uc->terminated = true;
	if (c->close_reply) {
		wire_send_value(c->fd, OP_UC_CLOSE, WIRE_F_REPLY, c->close_serial, 0, NULL, NULL, 0);
		shutdown(c->fd, SHUT_RDWR);
	}
	uc->conn = NULL;
	c->uc = NULL;
	udk_service_unref(uc);
	conn_unref(c); /* the source's reference */
}

struct revoke_ctx {
	struct udk_service *uc;
	char *reason;
	int code;
};

/* What reopening can do after a cut with @code: the sentence the app's reason ends with,
 * or NULL when udkd's reason already said it (it names the next step itself). */
static const char *
revoke_hint(int code, const char *reason)
{
	switch (code) {
	case -UDK_E_DRIVER_REPLACED:
		if (reason && (strstr(reason, "open it again") || strstr(reason, "reopen")))
			return NULL;
		if (reason && strstr(reason, "uninstall"))
			return "Reopening cannot help: the driver is being uninstalled; `udkctl install` "
			       "brings it back";
		return "Reopening helps once the service reappears: wait for its arrival "
		       "(udk_client_add_notification) or until `udkctl drivers` shows the driver activated, "
		       "then open it again";
	case -UDK_E_HARDWARE_GONE:
		return NULL; /* udkd's sentence says to wait for the device */
	default: /* UDK_E_REVOKED */
		if (reason && strstr(reason, "udkctl access grant"))
			return NULL;
		return "Reopening is refused until access is granted again: an administrator grants it with "
		       "`udkctl access grant` (the driver's bundle identifier, then the app's path); "
		       "`udkctl access list` shows who has access";
	}
}

static void
revoke_on_queue(void *data)
{
	struct revoke_ctx *r = data;
	struct uc_conn *c = r->uc->conn;

	if (c && !c->closed) {
		/* tell the app why, then cut: the app's calls fail with UDK_E_REVOKED (or the code
		 * udkd named); calls queued before this one were served first */
		struct udk_value *b = udk_value_new_dict();
		int code = r->code ? r->code : -UDK_E_REVOKED;
		const char *why = r->reason ? r->reason : "access was revoked";
		const char *hint = revoke_hint(code, r->reason);
		char *full = NULL;
		if (hint) {
			size_t n = strlen(why);
			/* one sentence after another: no doubled full stop */
			full = strdup_printf("%s%s %s", why, n && why[n - 1] == '.' ? "" : ".", hint);
		}
		udk_dict_set_string(b, "reason", full ? full : why);
		free(full);
		wire_send_value(c->fd, OP_ERROR, WIRE_F_ONEWAY, 0, code, b, NULL, 0);
		udk_value_unref(b);
		udk_log_notice("user client %s: closed, %s", r->uc->name,
			       r->code == -UDK_E_DRIVER_REPLACED ? "the driver is being replaced" : "access revoked");
		conn_close(c);
	}
	udk_service_unref(r->uc);
	free(r->reason);
	free(r);
}

void
uc_revoke(uint64_t object, const char *reason)
{
	uc_revoke_code(object, reason, 0);
}

void
uc_revoke_code(uint64_t object, const char *reason, int code)
{
	struct udk_service *uc = object_by_id(object);
	struct revoke_ctx *r;

	if (!uc)
		return;
	r = calloc(1, sizeof(*r));
	if (!r) {
		udk_service_unref(uc);
		return;
	}
	r->uc = uc;
	r->reason = reason ? strdup(reason) : NULL;
	/* only udk's own codes: a peer cannot make the app see an errno */
	r->code = code <= -UDK_E_FIRST && code > -UDK_E_LAST ? code : 0;
	/* the connection belongs to the user client's queue */
	if (udk_queue_dispatch_async(uc->queue, revoke_on_queue, r) < 0) {
		udk_service_unref(uc);
		free(r->reason);
		free(r);
	}
}

static void backlog_kick(struct loop *l, void *data);

static void
on_readable(struct loop *l, int fd, uint32_t events, void *data)
{
	struct uc_conn *c = data;

	(void)l;
	(void)events;
	conn_ref(c);
	for (int i = 0; i < 64 && !c->closed; i++) {
		struct wire_msg m;
		int r;

		if (c->backlog) {
			struct backlog *b = c->backlog;
			c->backlog = b->next;
			if (!c->backlog)
				c->backlog_tail = &c->backlog;
			c->backlog_n--;
			c->backlog_bytes -= b->m.len;
			c->backlog_fds -= b->m.n_fds;
			handle_message(c, &b->m);
			wire_msg_clear(&b->m);
			free(b);
			continue;
		}
		r = wire_recv_limited(fd, &m, true, app_message_limit, NULL);
		if (r == -EAGAIN)
			break;
		if (r == -EMSGSIZE) {
			/* never read; a call is answered, the connection goes on */
			struct udk_method_args none = { 0 };
			if (m.h.op == OP_UC_CALL && !(m.h.flags & (WIRE_F_REPLY | WIRE_F_ONEWAY)))
				send_call_reply(c, m.h.serial, -UDK_E_TOO_LARGE, &none,
						"an app's messages to its driver are at most one datagram (60 KiB); "
						"larger structures travel as memory (udk_connection_call does that)");
			continue;
		}
		if (r == -EBADMSG) {
			/* answer the serial if the header survived, and keep serving */
			struct udk_method_args none = { 0 };
			if (m.h.op == OP_UC_CALL && !(m.h.flags & WIRE_F_REPLY))
				send_call_reply(c, m.h.serial, -UDK_E_PROTOCOL, &none,
						udk_error_reason() ? udk_error_reason() : "malformed message");
			continue;
		}
		if (r < 0) {
			conn_close(c);
			break;
		}
		handle_message(c, &m);
		wire_msg_clear(&m);
		/*
		 * One request per wakeup: the socket is level-triggered, so the
		 * loop comes straight back if another is queued, and a lone call
		 * (the common case: the app waits for this reply before it sends
		 * again) does not pay a receive that finds nothing.
		 */
		break;
	}
	/* more queued than one round serves: come back without waiting */
	if (!c->closed && c->backlog && loop_post(l, backlog_kick, conn_ref(c)) < 0)
		conn_unref(c);
	conn_unref(c);
}

static void
backlog_kick(struct loop *l, void *data)
{
	struct uc_conn *c = data;

	if (!c->closed)
		on_readable(l, c->fd, EPOLLIN, c);
	conn_unref(c);
}

struct attach_ctx {
	struct uc_conn *c;
	int r;
	char why[512];		/* start()'s reason: it was set on the queue's thread */
};

static void
attach_on_queue(void *data)
{
	struct attach_ctx *a = data;
	struct uc_conn *c = a->c;
	struct udk_service *uc = c->uc;

	if (HAS_OP(uc->cls, start)) {
		udk_clear_reason();
		a->r = uc->cls->start(uc, uc->provider);
		if (a->r < 0) {
			const char *why = udk_error_reason();
			snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
			return;
		}
	}
	uc->started = true;
	a->r = loop_add_fd(queue_loop(uc->queue), c->fd, EPOLLIN, on_readable, c, &c->src);
}

int
uc_attach(struct udk_service *uc, int fd, pid_t pid, uid_t uid)
{
	struct uc_conn *c;
	struct attach_ctx a;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->refcount = 1;
	c->fd = fd;
	c->pid = pid;
	c->uid = uid;
	r = uid_count_add(uid);
	if (r < 0) {
		close(fd);
		free(c);
		return r;
	}
	c->counted = true;
	c->uc = udk_service_ref(uc);
	c->queue = uc->queue;
	/* udkd's watchdog pings the queues that serve apps, not only the default one */
	queue_watch(uc->queue);
	c->backlog_tail = &c->backlog;
	fd_set_nonblock(fd, true);
	uc->conn = c;
	a.c = c;
	a.r = 0;
	a.why[0] = '\0';
	/* Start() and the socket both live on the user client's queue */
	r = udk_queue_dispatch_sync(uc->queue, attach_on_queue, &a);
	if (r >= 0)
		r = a.r;
	if (r < 0) {
		uc->conn = NULL;
		c->uc = NULL;
		udk_service_unref(uc);
		conn_unref(c);
		/* the app gets start()'s own code and sentence (do_new_user_client reads it here) */
		if (a.why[0])
			udk_set_reason_str(a.why);
	}
	return r;
}

int
uc_request(struct uc_conn *c, uint16_t op, struct udk_value *body, struct wire_msg *ret_reply)
{
	uint32_t serial = ++c->next_serial | 0x80000000u;
	uint64_t deadline = now_ms() + APP_REPLY_TIMEOUT_MS;
	int r;

	if (c->closed)
		return -UDK_E_TERMINATED;
	r = wire_send_value(c->fd, op, 0, serial, 0, body, NULL, 0);
	if (r < 0)
		return r == -EPIPE ? udk_set_reason(-UDK_E_TERMINATED, "the app closed the connection") : r;
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct wire_msg m;
		int64_t left = (int64_t)(deadline - now_ms());

		if (left <= 0)
			return udk_set_reason(-UDK_E_DEADLINE, "the app did not answer a memory request within %d ms",
					      APP_REPLY_TIMEOUT_MS);
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		r = wire_recv_limited(c->fd, &m, true, app_message_limit, NULL);
		if (r == -EAGAIN)
			continue;
		if (r == -EMSGSIZE) {
			/* not read, and nothing a well-behaved app sends */
			struct udk_method_args none = { 0 };
			if (m.h.op == OP_UC_CALL && !(m.h.flags & (WIRE_F_REPLY | WIRE_F_ONEWAY)))
				send_call_reply(c, m.h.serial, -UDK_E_TOO_LARGE, &none,
						"an app's messages to its driver are at most one datagram (60 KiB)");
			continue;
		}
		if (r == -EBADMSG)
			return udk_set_reason(-UDK_E_PROTOCOL, "the app sent a malformed reply");
		if (r < 0)
			return udk_set_reason(-UDK_E_TERMINATED, "the app went away during the call");
		if ((m.h.flags & WIRE_F_REPLY) && m.h.serial == serial && m.h.op == op) {
			*ret_reply = m;
			return 0;
		}
		/* not ours: serve it after the current call */
		struct backlog *b = malloc(sizeof(*b));
		if (!b) {
			wire_msg_clear(&m);
			return udk_set_reason(-ENOMEM, "out of memory while waiting for the app's answer");
		}
		b->m = m;
		b->next = NULL;
		*c->backlog_tail = b;
		c->backlog_tail = &b->next;
		c->backlog_n++;
		c->backlog_bytes += m.len;
		c->backlog_fds += m.n_fds;
		/* bounded: stop reading, the call fails, the rest is served after it */
		if (c->backlog_n > BACKLOG_MAX_MESSAGES || c->backlog_bytes > BACKLOG_MAX_BYTES ||
		    c->backlog_fds > BACKLOG_MAX_FDS)
			return udk_set_reason(-UDK_E_LIMIT,
					      "while the driver waited for the app's answer to a memory request, the "
					      "app sent %u other messages (%zu bytes, %u descriptors); a driver keeps "
					      "at most %u (%u bytes, %u descriptors) for later",
					      c->backlog_n, c->backlog_bytes, c->backlog_fds, BACKLOG_MAX_MESSAGES,
					      BACKLOG_MAX_BYTES, BACKLOG_MAX_FDS);
	}
}

/* ---- async completions ---- */

UDK_EXPORT int
udk_async_ref_copy(const struct udk_async_ref *ref, struct udk_async_ref **ret)
{
	struct udk_async_ref *n;

	udk_return_val_if_fail(ref && ref->conn && ret, -EINVAL);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->conn = conn_ref(ref->conn);
	n->ref = ref->ref;
	n->heap = true;
	*ret = n;
	return 0;
}

UDK_EXPORT void
udk_async_ref_free(struct udk_async_ref *ref)
{
	if (!ref || !ref->heap)
		return;
	conn_unref(ref->conn);
	free(ref);
}

UDK_EXPORT int
udk_async_complete(const struct udk_async_ref *ref, int status, const uint64_t *values, uint32_t count)
{
	struct proto_completion pc;
	struct iovec iov[2];
	int r;

	udk_return_val_if_fail(ref && ref->conn && count <= PROTO_MAX_SCALARS && (values || !count), -EINVAL);
	if (__atomic_load_n(&ref->conn->closed, __ATOMIC_ACQUIRE))
		return udk_set_reason(-UDK_E_TERMINATED, "the app that made the call has gone");
	pc.async_ref = ref->ref;
	pc.status = status;
	pc.count = count;
	iov[0] = (struct iovec){ &pc, sizeof(pc) };
	iov[1] = (struct iovec){ (void *)values, 8u * count };
	r = wire_sendv(ref->conn->fd, OP_UC_COMPLETION, WIRE_F_ONEWAY, 0, status, iov, count ? 2 : 1, NULL, 0);
	if (r == -EPIPE)
		return udk_set_reason(-UDK_E_TERMINATED, "the app that made the call has gone");
	return r;
}
