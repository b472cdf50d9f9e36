/* SPDX-License-Identifier: MIT */
/*
 * launcher.c - driver processes.
 *
 * One process per driver instance (IOUserServerName + provider), started
 * with exactly three descriptors: stdin (/dev/null), stdout/stderr (a pipe
 * whose lines udkd logs) and fd 3, a SOCK_SEQPACKET socket to udkd.
 *
 *   spawn --hello--> START --reply--> running --ping/pong--> ...
 *
 * Every request to a driver has a deadline.  A driver that misses one,
 * stops answering pings, sends a malformed message or dies is killed and
 * its services terminated; the provider's owner is told so the family can
 * reset the device; the provider is matched again after a back-off that
 * doubles with each consecutive crash.  After cfg.crash_limit consecutive
 * crashes the bundle is disabled with a reason shown by `udkctl drivers`.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "proto.h"
#include "proto-driver-table.h"
#include "quota.h"
#include "sandbox.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

/* Descriptors a spawn needs at once: executable, /dev/null, socket pair, log pipe, pidfd. */
#define SPAWN_FDS 8u

struct pending {
	struct pending *next;
	struct driver_proc *proc;
	uint32_t serial;
	uint16_t op;
	pending_fn fn;
	void *data;
	struct loop_timer *timer;
	uint64_t sent_ns;
	uint64_t timeout_ms;
};

static void proc_dead(struct udkd *d, struct driver_proc *p, int signal, int exit_status);

static const char *
proc_label(const struct driver_proc *p)
{
	if (p->label)
		return p->label;
	return p->bundle && p->bundle->identifier ? p->bundle->identifier : "driver";
}

static int
proc_log_level(const struct udkd *d, const struct driver_proc *p)
{
	return p->bundle && p->bundle->log_level >= 0 ? p->bundle->log_level : d->cfg.log_level;
}

struct driver_proc *
proc_ref(struct driver_proc *p)
{
	if (p)
		p->refcount++;
	return p;
}

/* An app's user client, seen from udkd (see "the apps' user clients" below). */
struct uc_link {
	struct uc_link *next;
	struct driver_proc *proc;	/* whose list holds it */
	struct loop_source *src;	/* hangup watch: the connection ended */
	uint64_t object;	/* the user client in the driver */
	uint64_t service;	/* the service the app opened */
	int fd;
};

/*
 * Bounded: past these an open still works, the app just learns less (its
 * calls end with the plain UDK_E_DRIVER_DIED).  All together they take at
 * most an eighth of udkd's descriptors, out of what quota.c keeps for
 * drivers.
 */
#define UC_LINKS_PER_PROC 256u
#define UC_LINKS_MAX 4096u
static unsigned n_uc_links;

static unsigned
uc_links_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return UC_LINKS_MAX;
	return (unsigned)MIN((uint64_t)rl.rlim_cur / 8, (uint64_t)UC_LINKS_MAX);
}

static void
uc_link_free(struct uc_link *l)
{
	/* before the close: the driver shares the socket's description, so
	 * closing our descriptor alone would leave the epoll watch behind */
	loop_source_remove(l->src);
	close(l->fd);
	free(l);
	n_uc_links--;
}

void
proc_unref(struct driver_proc *p)
{
	if (!p || --p->refcount > 0)
		return;
	while (p->uc_links) {
		struct uc_link *l = p->uc_links;
		p->uc_links = l->next;
		uc_link_free(l);
	}
	service_unref(p->instance);
	service_unref(p->provider);
	free(p->label);
	free(p->launch_diag);
	free(p);
}

static uint64_t
deadline_for(const struct driver_proc *p, const char *which, uint64_t fallback)
{
	struct udk_value *dl = p->personality ? udk_dict_get(p->personality->dict, "UDKDeadlines") : NULL;
	int64_t v = udk_dict_get_int(dl, which, 0);

	return v > 0 ? (uint64_t)v : fallback;
}

uint64_t
launcher_deadline(const struct driver_proc *p, const char *which, uint64_t fallback)
{
	return deadline_for(p, which, fallback);
}

static void
pending_unlink(struct driver_proc *p, struct pending *pe)
{
	for (struct pending **pp = &p->pending; *pp; pp = &(*pp)->next)
		if (*pp == pe) {
			*pp = pe->next;
			return;
		}
}

static const char *
op_name(uint16_t op)
{
	switch (op) {
	case OP_PING:
		return "ping";
	case OP_DRV_START:
		return "Start()";
	case OP_DRV_STOP:
		return "Stop()";
	case OP_DRV_NEW_USER_CLIENT:
		return "NewUserClient()";
	default:
		return "request";
	}
}

static void on_sock(struct loop *l, int fd, uint32_t events, void *data);

static bool
pending_alive(const struct driver_proc *p, const struct pending *pe)
{
	for (const struct pending *x = p->pending; x; x = x->next)
		if (x == pe)
			return true;
	return false;
}

static void
pending_timeout(struct loop *l, void *data)
{
	struct pending *pe = data;
	struct driver_proc *p = pe->proc;
	struct udkd *d = p->d;

	pe->timer = NULL;
	/*
	 * udkd may have been busy (a user's flood of connections, all ready at
	 * once): an answer that came in time may still be unread behind that
	 * work.  Read what the driver sent before calling it late, so nobody
	 * can get a healthy driver killed by keeping udkd busy.
	 */
	if (p->sock >= 0 && p->state != PROC_DEAD) {
		struct pollfd pfd = { p->sock, POLLIN, 0 };
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN)) {
			bool alive;
			proc_ref(p);
			on_sock(l, p->sock, EPOLLIN, p);
			alive = pending_alive(p, pe);
			proc_unref(p);
			if (!alive)
				return;
		}
	}
	pending_unlink(p, pe);
	udk_set_reason(0, "%s of %s (pid %d) did not answer within %llu ms", op_name(pe->op), proc_label(p), p->pid,
		       (unsigned long long)pe->timeout_ms);
	pe->fn(d, p, NULL, -UDK_E_DEADLINE, pe->data);
	proc_unref(p);
	free(pe);
}

int
proc_request(struct udkd *d, struct driver_proc *p, uint16_t op, struct udk_value *body, const int *fds,
	     unsigned n_fds, uint64_t timeout_ms, pending_fn fn, void *data)
{
	struct pending *pe;
	int r;

	if (p->state == PROC_DEAD)
		return -UDK_E_DRIVER_DIED;
	pe = calloc(1, sizeof(*pe));
	if (!pe)
		return -ENOMEM;
	pe->proc = proc_ref(p);
	pe->serial = ++p->next_serial;
	pe->op = op;
	pe->fn = fn;
	pe->data = data;
	pe->sent_ns = now_ns();
	pe->timeout_ms = timeout_ms;
	r = proc_send(d, p, op, 0, pe->serial, 0, body, fds, n_fds);
	if (r < 0) {
		proc_unref(p);
		free(pe);
		return r;
	}
	if (timeout_ms && !p->debug)
		loop_add_timer(d->loop, now_ns() + timeout_ms * 1000000ull, pending_timeout, pe, &pe->timer);
	pe->next = p->pending;
	p->pending = pe;
	return 0;
}

static void
fail_pending(struct udkd *d, struct driver_proc *p)
{
	while (p->pending) {
		struct pending *pe = p->pending;
		p->pending = pe->next;
		if (pe->timer)
			loop_timer_cancel(d->loop, pe->timer);
		udk_set_reason(0, "%s (pid %d) died before answering %s", proc_label(p), p->pid, op_name(pe->op));
		pe->fn(d, p, NULL, -UDK_E_DRIVER_DIED, pe->data);
		proc_unref(pe->proc);
		free(pe);
	}
}

void
proc_kill(struct udkd *d, struct driver_proc *p, const char *why)
{
	if (p->state == PROC_DEAD || p->kill_sent)
		return;
	if (why)
		log_warning(d, "killing %s (pid %d): %s", proc_label(p), p->pid, why);
	p->kill_sent = true;
	if (p->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	else if (p->pid > 0)
		kill(p->pid, SIGKILL);
}

void
proc_kill_code(struct udkd *d, struct driver_proc *p, int code, const char *fmt, ...)
{
	va_list ap;

	if (p->state == PROC_DEAD || p->kill_sent)
		return;
	p->kill_code = code;
	va_start(ap, fmt);
	vsnprintf(p->kill_reason, sizeof(p->kill_reason), fmt, ap);
	va_end(ap);
	log_warning(d, "killing %s (pid %d) (%s): %s", proc_label(p), p->pid, udk_error_name(code), p->kill_reason);
	proc_kill(d, p, NULL);
}

/* The latest failure of @b, with its code: `udkctl drivers` shows it even
 * when no instance is left to carry it (a Start() that returned an error). */
static void
note_failure(struct bundle *b, const char *phase, int signal, int exit_status, int code, const char *reason,
	     const char *last_words)
{
	struct crash_record *c = &b->last_failure;

	memset(c, 0, sizeof(*c));
	c->when_ms = wall_ms();
	c->signal = signal;
	c->exit_status = exit_status;
	c->code = code;
	snprintf(c->phase, sizeof(c->phase), "%s", phase);
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	if (last_words)
		snprintf(c->last_words, sizeof(c->last_words), "%s", last_words);
	b->has_last_failure = true;
}

/* ---- sending to a driver ---- */

int
proc_send(struct udkd *d, struct driver_proc *p, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	  const struct udk_value *body, const int *fds, unsigned n_fds)
{
	int r;

	if (p->state == PROC_DEAD || p->sock < 0)
		return -UDK_E_DRIVER_DIED;
	r = outbox_send(&p->out, p->sock, op, flags, serial, status, body, fds, n_fds);
	if (r == 1) {
		if (p->sock_src)
			loop_source_set_events(p->sock_src, EPOLLIN | EPOLLOUT);
		return 0;
	}
	if (r == -ENOBUFS) {
		if (p->instance && !p->instance->fail_reason)
			p->instance->fail_reason = strdup("UDK_E_LIMIT: stopped reading its connection to udkd");
		proc_kill_code(d, p, -UDK_E_LIMIT,
			       "it stopped reading its connection to udkd: the messages waiting for it reached "
			       "udkd's bound; its queues must not block the one that reads udkd's messages");
	}
	return r == -EPIPE ? -UDK_E_DRIVER_DIED : r;
}

static void
log_line(struct udkd *d, struct driver_proc *p, int level, const char *msg)
{
	char src[300];
	int want = proc_log_level(d, p);

	strncpy(p->last_line, msg, sizeof(p->last_line) - 1);
	p->last_line[sizeof(p->last_line) - 1] = '\0';
	if (*msg) {
		/* the last lines, for the crash record (udkctl report has more, lifecycle.c keeps them) */
		unsigned slot = (p->tail_head + p->tail_n) % CRASH_LAST_LINES;
		if (p->tail_n == CRASH_LAST_LINES)
			p->tail_head = (p->tail_head + 1) % CRASH_LAST_LINES;
		else
			p->tail_n++;
		memcpy(p->tail[slot], p->last_line, sizeof(p->tail[slot]));
	}
	/*
	 * The loader failing to load a library (only ld.so at exec says "error
	 * while loading shared libraries"): exit 127 follows, often read here
	 * only when proc_dead() drains the pipe.  Say which library and why.
	 */
	if (p->kind == PROC_KIND_DRIVER && !p->launch_diag)
		p->launch_diag = sandbox_explain_loader_error(msg, d->cfg.sandbox && d->sandbox);
	if (p->kind == PROC_KIND_DRIVER)
		lifecycle_log_line(d, p->bundle, p->pid, msg);
	if (level > want)
		return;
	snprintf(src, sizeof(src), "%s[%d]", proc_label(p), p->pid);
	if (p->kind == PROC_KIND_MODEL && p->model)
		udkd_log_proc(level, src, p->model->name, true, p->pid, msg);
	else
		udkd_log_proc(level, src, proc_label(p), false, p->pid, msg);
}

static void
on_log(struct loop *l, int fd, uint32_t events, void *data)
{
	struct driver_proc *p = data;
	struct udkd *d = p->d;
	ssize_t n;

	(void)l;
	(void)events;
	n = read(fd, p->logbuf + p->loglen, sizeof(p->logbuf) - 1 - p->loglen);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		if (p->loglen) {
			p->logbuf[p->loglen] = '\0';
			log_line(d, p, UDK_LOG_NOTICE, p->logbuf);
			p->loglen = 0;
		}
		loop_source_remove(p->log_src);
		p->log_src = NULL;
		close(p->log_fd);
		p->log_fd = -1;
		return;
	}
	p->loglen += (size_t)n;
	for (;;) {
		char *nl = memchr(p->logbuf, '\n', p->loglen);
		if (!nl) {
			if (p->loglen == sizeof(p->logbuf) - 1) {
				p->logbuf[p->loglen] = '\0';
				log_line(d, p, UDK_LOG_NOTICE, p->logbuf);
				p->loglen = 0;
			}
			break;
		}
		*nl = '\0';
		log_line(d, p, UDK_LOG_NOTICE, p->logbuf);
		p->loglen -= (size_t)(nl + 1 - p->logbuf);
		memmove(p->logbuf, nl + 1, p->loglen);
	}
}

/* ---- watchdog ---- */

/*
 * A queue that serves user clients may run one long method (a big DMA
 * fill, say) for longer than a ping interval without being hung; it is
 * reported when a heartbeat has waited this many intervals.
 */
#define UC_QUEUE_PINGS 12

static void watchdog_tick(struct loop *l, void *data);

static void
ping_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	const char *stuck = status >= 0 && reply ? udk_dict_get_string(reply->body, "stuck_queue") : NULL;

	(void)data;
	p->ping_outstanding = false;
	if (stuck && strlen(stuck) < 64 && p->state != PROC_DEAD) {
		/* the default queue answered, a queue that serves apps did not */
		unsigned long long waited = udk_value_get_uint(udk_dict_get(reply->body, "waited_ms"), 0);
		log_error(d, "%s (pid %d) stopped answering: its queue '%s' did not run udkd's heartbeat for %llu ms",
			  proc_label(p), p->pid, stuck, waited);
		if (p->instance && !p->instance->fail_reason)
			p->instance->fail_reason = strdup_printf("UDK_E_DEADLINE: queue '%s' hung for %llu ms", stuck, waited);
		proc_kill_code(d, p, -UDK_E_DEADLINE,
			       "watchdog: queue '%s' did not answer within %llu ms (waited %llu ms); a method or "
			       "handler on it blocks (a loop, a lock, a blocking read, a sleep): do long work "
			       "asynchronously",
			       stuck, (unsigned long long)(d->cfg.watchdog_ms * UC_QUEUE_PINGS), waited);
		return;
	}
	if (status == -UDK_E_DEADLINE && p->state != PROC_DEAD) {
		log_error(d, "%s (pid %d) stopped answering: no reply to a ping for %llu ms", proc_label(p), p->pid,
			  (unsigned long long)d->cfg.watchdog_ms);
		if (p->instance && !p->instance->fail_reason)
			p->instance->fail_reason = strdup_printf("UDK_E_DEADLINE: stopped answering (hung for %llu ms)",
								 (unsigned long long)d->cfg.watchdog_ms);
		proc_kill_code(d, p, -UDK_E_DEADLINE,
			       "watchdog: the driver runtime's default queue did not answer udkd's ping within %llu "
			       "ms; a handler on it blocks (a loop, a lock, a blocking read)",
			       (unsigned long long)d->cfg.watchdog_ms);
	}
}

static void
schedule_watchdog(struct udkd *d, struct driver_proc *p)
{
	if (!d->cfg.watchdog_ms || p->debug || p->state == PROC_DEAD)
		return;
	loop_add_timer(d->loop, now_ns() + d->cfg.watchdog_ms * 1000000ull, watchdog_tick, proc_ref(p), &p->watchdog);
}

static void
watchdog_tick(struct loop *l, void *data)
{
	struct driver_proc *p = data;
	struct udkd *d = p->d;

	(void)l;
	p->watchdog = NULL;
	if (p->state == PROC_RUNNING && !p->ping_outstanding) {
		/* queues_ms: the runtime names a user-client queue that hung this long */
		struct udk_value *body = udk_value_new_dict();
		udk_dict_set_uint(body, "queues_ms", d->cfg.watchdog_ms * UC_QUEUE_PINGS);
		if (proc_request(d, p, OP_PING, body, NULL, 0, d->cfg.watchdog_ms, ping_done, NULL) == 0)
			p->ping_outstanding = true;
		udk_value_unref(body);
	}
	schedule_watchdog(d, p);
	proc_unref(p);
}

/* ---- the apps' user clients: why their connection ends ---- */

/*
 * udkd keeps a duplicate of the driver's end of each app's socket.  The
 * app sees its connection end only when every copy is gone, so udkd gets
 * to speak first: it writes one OP_ERROR (the code and the sentence) on
 * the driver's end and shuts the socket down.  The app reads the notice,
 * then EOF; every pending and later call fails with that code.  Copies
 * of connections that ended are dropped at the driver's next open (and
 * all of them when it dies).
 */

/*
 * Forget the connections of @p that ended: the app or the driver closed
 * its end (shutdown or last close), so the socket reports POLLHUP on our
 * copy.  One poll() over at most UC_LINKS_PER_PROC descriptors.
 */
static void
uc_links_prune(struct driver_proc *p)
{
	struct pollfd pfd[UC_LINKS_PER_PROC];
	unsigned n = 0, i = 0;

	for (struct uc_link *l = p->uc_links; l && n < UC_LINKS_PER_PROC; l = l->next)
		pfd[n++] = (struct pollfd){ .fd = l->fd, .events = 0 };
	if (n == 0 || poll(pfd, n, 0) <= 0)
		return;
	for (struct uc_link **pp = &p->uc_links; *pp && i < n; i++) {
		struct uc_link *l = *pp;
		if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			*pp = l->next;
			uc_link_free(l);
		} else {
			pp = &l->next;
		}
	}
}

/* A copy's connection ended (the app closed, or the driver shut it down):
 * forget it now, so udkd holds no descriptor for a connection that is gone. */
static void
uc_link_hangup(struct loop *lp, int fd, uint32_t events, void *data)
{
	struct uc_link *l = data;

	(void)lp;
	(void)fd;
	if (!(events & (EPOLLHUP | EPOLLERR)))
		return;
	for (struct uc_link **pp = &l->proc->uc_links; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			uc_link_free(l);
			return;
		}
}

void
launcher_uc_opened(struct udkd *d, struct driver_proc *p, uint64_t object, uint64_t service, int fd)
{
	struct uc_link *l;
	unsigned n = 0;

	if (fd < 0)
		return;
	uc_links_prune(p);
	if (n_uc_links >= uc_links_max())
		for (struct driver_proc *q = d->procs; q; q = q->next)
			uc_links_prune(q);
	for (l = p->uc_links; l; l = l->next)
		n++;
	if (p->state == PROC_DEAD || n >= UC_LINKS_PER_PROC || n_uc_links >= uc_links_max() ||
	    !(l = calloc(1, sizeof(*l)))) {
		close(fd);
		return;
	}
	/* never block udkd: the socket's description is the driver's, which
	 * is non-blocking already; make sure */
	fd_set_nonblock(fd, true);
	l->object = object;
	l->service = service;
	l->fd = fd;
	l->proc = p;
	/* no events asked: epoll reports only the hangup, never the app's data */
	if (loop_add_fd(d->loop, fd, 0, uc_link_hangup, l, &l->src) < 0)
		l->src = NULL; /* still pruned at the driver's next open */
	l->next = p->uc_links;
	p->uc_links = l;
	n_uc_links++;
}

/* Tell the app why, then cut its connection. */
static void
uc_link_cut(struct uc_link *l, int code, const char *why)
{
	struct udk_value *b = udk_value_new_dict();

	udk_dict_set_string(b, "reason", why);
	/* a full socket (an app that stopped reading) gets only the EOF */
	wire_send_value(l->fd, OP_ERROR, WIRE_F_ONEWAY, 0, code, b, NULL, 0);
	udk_value_unref(b);
	shutdown(l->fd, SHUT_RDWR);
}

static void
uc_links_cut_all(struct driver_proc *p, int code, const char *why)
{
	while (p->uc_links) {
		struct uc_link *l = p->uc_links;
		p->uc_links = l->next;
		uc_link_cut(l, code, why);
		uc_link_free(l);
	}
}

static bool
service_under(struct udkd *d, uint64_t id, struct service *top)
{
	for (struct service *s = service_by_id(d, id); s; s = s->provider)
		if (s == top)
			return true;
	return false;
}

void
launcher_uc_hardware_gone(struct udkd *d, struct service *s, const char *why)
{
	char *msg = strdup_printf("the device is gone (%s): %s was removed, so this connection ended. Reopening "
				  "cannot help until the device is back: wait for its arrival "
				  "(udk_client_add_notification), then open it again",
				  why ? why : "removed", s->name ? s->name : "the device");

	for (struct driver_proc *p = d->procs; p; p = p->next)
		for (struct uc_link **pp = &p->uc_links; *pp;) {
			struct uc_link *l = *pp;
			if (!service_under(d, l->service, s)) {
				pp = &l->next;
				continue;
			}
			*pp = l->next;
			uc_link_cut(l, -UDK_E_HARDWARE_GONE, msg ? msg : "the device is gone");
			uc_link_free(l);
		}
	free(msg);
}

void
udkd_service_hardware_gone(struct udkd *d, struct service *s, const char *why)
{
	launcher_uc_hardware_gone(d, s, why);
	service_terminate(d, s, why);
}

/* ---- start ---- */

static struct udk_value *
provider_description(struct service *s)
{
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_uint(v, "id", s->id);
	udk_dict_set_string(v, "name", s->name);
	udk_dict_set(v, "classes", s->classes);
	udk_dict_set(v, "properties", s->props);
	return v;
}

static void start_guest(struct udkd *d, struct driver_proc *p, struct service *inst);
static void schedule_rematch(struct udkd *d, struct service *prov, uint64_t delay);

static void start_refused(struct udkd *d, struct driver_proc *p, int status, const char *reason, bool before_start);

static void
start_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	struct service *inst = p->instance;
	const char *reason;

	(void)data;
	if (status >= 0) {
		p->state = PROC_RUNNING;
		p->started_ns = now_ns();
		inst->istate = INST_RUNNING;
		p->bundle->starts++;
		log_info(d, "%s started %s on %s (pid %d, %.1f ms after spawn)", proc_label(p),
			 p->personality->user_class, p->provider->name, p->pid,
			 (double)(p->started_ns - p->spawned_ns) / 1e6);
		schedule_watchdog(d, p);
		/* Start() returned: now, and only now, the instance joins the power tree */
		power_instance_started(d, inst);
		lifecycle_instance_started(d, p->bundle);
		/* the instance may hold a free category for other personalities */
		match_service(d, inst);
		/* instances that joined this server while it started */
		for (size_t i = 0; i < p->n_guests; i++)
			if (p->guests[i]->istate == INST_LAUNCHING)
				start_guest(d, p, p->guests[i]);
		return;
	}
	reason = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
	if (status == -UDK_E_DEADLINE) {
		free(inst->fail_reason);
		inst->fail_reason = strdup_printf("Start() of %s on %s did not return within %llu ms (UDK_E_DEADLINE)",
						  p->personality->user_class, p->provider->name,
						  (unsigned long long)deadline_for(p, "Start", d->cfg.start_timeout_ms));
		proc_kill_code(d, p, -UDK_E_DEADLINE, "deadline: Start() of %s on %s did not return within %llu ms",
			       p->personality->user_class, p->provider->name,
			       (unsigned long long)deadline_for(p, "Start", d->cfg.start_timeout_ms));
		return;
	}
	if (status == -UDK_E_DRIVER_DIED)
		return; /* proc_dead() handles it */
	start_refused(d, p, status, reason, false);
}

/* The instance of @p cannot start (@status, @reason): Start() returned an error, or (@before_start) udkd
 * saw that it cannot. Not a crash: the personality is excluded on this provider and the next one tried. */
/* @personality is not tried on @prov again (until a restart or rescan), for @reason */
static void
exclude_personality(struct service *prov, struct personality *personality, const char *reason, bool before_start)
{
	struct exclusion *n = reallocarray(prov->excluded, prov->n_excluded + 1, sizeof(*n));

	if (!n)
		return;
	prov->excluded = n;
	prov->excluded[prov->n_excluded] = (struct exclusion){ .personality = personality,
							       .reason = strdup(reason ? reason : ""),
							       .before_start = before_start };
	prov->n_excluded++;
}

static void
start_refused(struct udkd *d, struct driver_proc *p, int status, const char *reason, bool before_start)
{
	struct service *inst = p->instance;

	free(inst->fail_reason);
	if (before_start)
		inst->fail_reason = strdup_printf("not started: %s: %s", udk_error_name(status),
						  reason ? reason : udk_strerror(status));
	else
		inst->fail_reason = strdup_printf("Start() failed: %s%s%s", udk_error_name(status), reason ? ": " : "",
						  reason ? reason : "");
	log_warning(d, "%s on %s: %s", proc_label(p), p->provider->name, inst->fail_reason);
	{
		char *why = before_start ? strdup_printf("%s on %s not started: %s", p->personality->user_class,
							 p->provider->name, reason ? reason : udk_strerror(status))
					 : strdup_printf("Start() of %s on %s returned %s: %s", p->personality->user_class,
							 p->provider->name, udk_error_name(status),
							 reason ? reason : udk_strerror(status));
		note_failure(p->bundle, "start", 0, 0, status, why, p->last_line);
		free(why);
		lifecycle_start_failed(d, p->bundle);
	}
	if (before_start) {
		char *why = strdup_printf("%s: %s", udk_error_name(status), reason ? reason : udk_strerror(status));
		exclude_personality(p->provider, p->personality, why, true);
		free(why);
	} else {
		exclude_personality(p->provider, p->personality, inst->fail_reason, false);
	}
	inst->istate = INST_FAILED;
	p->state = PROC_STOPPING;
	p->provider->n_stopping++;
	proc_kill(d, p, NULL);
	service_terminate(d, inst, "Start() failed");
}

static void
send_start(struct udkd *d, struct driver_proc *p)
{
	struct udk_value *body = udk_value_new_dict();
	struct service *inst = p->instance;
	int r;

	udk_dict_set_uint(body, "object", inst->id);
	udk_dict_set_string(body, "class", p->personality->user_class);
	udk_dict_set(body, "classes", inst->classes);
	udk_dict_set_take(body, "provider", provider_description(p->provider));
	udk_dict_set(body, "properties", inst->props);
	udk_dict_set_string(body, "bundle", p->bundle->path);
	p->state = PROC_STARTING;
	inst->istate = INST_STARTING;
	r = proc_request(d, p, OP_DRV_START, body, NULL, 0, deadline_for(p, "Start", d->cfg.start_timeout_ms),
			 start_done, NULL);
	udk_value_unref(body);
	if (r < 0)
		proc_kill(d, p, "cannot send Start()");
}

/* ---- one-process servers (IOUserServerOneProcess) ---- */

static bool
guest_remove(struct driver_proc *p, struct service *inst)
{
	for (size_t i = 0; i < p->n_guests; i++)
		if (p->guests[i] == inst) {
			p->guests[i] = p->guests[--p->n_guests];
			return true;
		}
	return false;
}

static void
guest_start_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	struct service *inst = data;
	const char *reason;

	if (status >= 0) {
		if (inst->state != SVC_TERMINATED && inst->istate == INST_STARTING) {
			inst->istate = INST_RUNNING;
			p->bundle->starts++;
			log_info(d, "%s started %s on %s in its one-process server (pid %d)", proc_label(p),
				 inst->personality->user_class, inst->provider ? inst->provider->name : "?", p->pid);
			power_instance_started(d, inst);
			match_service(d, inst);
		}
		service_unref(inst);
		return;
	}
	if (status == -UDK_E_DRIVER_DIED) {
		service_unref(inst);
		return; /* proc_dead() handles it */
	}
	if (status == -UDK_E_DEADLINE) {
		free(inst->fail_reason);
		inst->fail_reason = strdup_printf("Start() of %s did not return within %llu ms (UDK_E_DEADLINE)",
						  inst->personality->user_class,
						  (unsigned long long)deadline_for(p, "Start", d->cfg.start_timeout_ms));
		proc_kill_code(d, p, -UDK_E_DEADLINE,
			       "deadline: Start() of %s in its one-process server did not return within %llu ms",
			       inst->personality->user_class,
			       (unsigned long long)deadline_for(p, "Start", d->cfg.start_timeout_ms));
		service_unref(inst);
		return;
	}
	/* Start() returned an error: this instance ends; the server and the others run on */
	reason = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
	free(inst->fail_reason);
	inst->fail_reason = strdup_printf("Start() failed: %s%s%s", udk_error_name(status), reason ? ": " : "",
					  reason ? reason : "");
	log_warning(d, "%s on %s: %s", proc_label(p), inst->provider ? inst->provider->name : "?", inst->fail_reason);
	{
		char *why = strdup_printf("Start() of %s on %s returned %s: %s", inst->personality->user_class,
					  inst->provider ? inst->provider->name : "?", udk_error_name(status),
					  reason ? reason : udk_strerror(status));
		note_failure(p->bundle, "start", 0, 0, status, why, p->last_line);
		free(why);
		lifecycle_start_failed(d, p->bundle);
	}
	if (inst->provider)
		exclude_personality(inst->provider, inst->personality, inst->fail_reason, false);
	inst->istate = INST_FAILED;
	if (guest_remove(p, inst))
		service_unref(inst);
	{
		struct service *prov = inst->provider ? service_ref(inst->provider) : NULL;
		service_terminate(d, inst, "Start() failed");
		if (prov) {
			schedule_rematch(d, prov, 0);
			service_unref(prov);
		}
	}
	service_unref(inst);
}

static void
start_guest(struct udkd *d, struct driver_proc *p, struct service *inst)
{
	struct udk_value *body = udk_value_new_dict();
	int r;

	udk_dict_set_uint(body, "object", inst->id);
	udk_dict_set_string(body, "class", inst->personality->user_class);
	udk_dict_set(body, "classes", inst->classes);
	udk_dict_set_take(body, "provider", provider_description(inst->provider));
	udk_dict_set(body, "properties", inst->props);
	udk_dict_set_string(body, "bundle", p->bundle->path);
	inst->istate = INST_STARTING;
	r = proc_request(d, p, OP_DRV_START, body, NULL, 0, deadline_for(p, "Start", d->cfg.start_timeout_ms),
			 guest_start_done, service_ref(inst));
	udk_value_unref(body);
	if (r < 0)
		proc_kill(d, p, "cannot send Start()");
}

static void
guest_stop_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	struct service *inst = data;

	(void)reply;
	if (status == -UDK_E_DEADLINE) {
		proc_kill_code(d, p, -UDK_E_DEADLINE,
			       "deadline: Stop() of %s did not return within %llu ms; its one-process server was killed",
			       inst->name, (unsigned long long)deadline_for(p, "Stop", d->cfg.stop_timeout_ms));
	}
	power_instance_gone(d, inst);
	{
		struct service *prov = inst->provider ? service_ref(inst->provider) : NULL;
		/* stopped (or its server died meanwhile): it no longer answers for anything */
		inst->owner = NULL;
		if (inst->state != SVC_TERMINATED)
			service_terminate(d, inst, "stopped");
		if (prov) {
			if (prov->n_stopping)
				prov->n_stopping--;
			schedule_rematch(d, prov, 0);
			service_unref(prov);
		}
	}
	service_unref(inst);
}

/* A live server of @b that runs its IOUserServerOneProcess personalities, or NULL. */
static struct driver_proc *
one_process_host(struct udkd *d, const struct bundle *b)
{
	for (struct driver_proc *p = d->procs; p; p = p->next)
		if (p->kind == PROC_KIND_DRIVER && p->bundle == b && p->one_process &&
		    (p->state == PROC_LAUNCHING || p->state == PROC_STARTING || p->state == PROC_RUNNING) &&
		    !p->debug)
			return p;
	return NULL;
}

static bool
wants_one_process(const struct personality *pers)
{
	return udk_dict_get_bool(pers->dict, "IOUserServerOneProcess", false);
}

static int
join_server(struct udkd *d, struct driver_proc *p, struct service *inst)
{
	struct service **n = reallocarray(p->guests, p->n_guests + 1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->guests = n;
	p->guests[p->n_guests++] = service_ref(inst);
	inst->owner = p;
	inst->istate = INST_LAUNCHING;
	log_info(d, "%s: %s on %s joins its one-process server (pid %d)", p->bundle->identifier,
		 inst->personality->user_class, inst->provider ? inst->provider->name : "?", p->pid);
	if (p->state == PROC_RUNNING)
		start_guest(d, p, inst);
	return 0;
}

/* ---- requests from the driver ---- */

void
proc_reply(struct driver_proc *p, const struct wire_msg *m, int status, const char *reason, struct udk_value *body,
	   const int *fds, unsigned n_fds)
{
	struct udk_value *b = body;

	if (m->h.flags & WIRE_F_ONEWAY)
		return;
	if (status < 0 && reason) {
		b = body ? udk_value_copy(body) : udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason);
	}
	proc_send(p->d, p, m->h.op, WIRE_F_REPLY, m->h.serial, status, b, fds, n_fds);
	if (b != body)
		udk_value_unref(b);
}

static void
reply_to(struct driver_proc *p, const struct wire_msg *m, int status, const char *reason, struct udk_value *body)
{
	proc_reply(p, m, status, reason, body, NULL, 0);
}

/*
 * Requests from the driver: the generated table (proto-driver-table.h,
 * from lib/common/proto.xml) decodes and checks each body and calls
 * handle_driver_OPNAME() with the decoded request.
 */

/* A service this process may act on (its instance or what it published), named by an id it sent. */
static struct service *
owned_service(struct udkd *d, struct driver_proc *p, bool has_id, uint64_t id)
{
	struct service *s;

	if (!has_id)
		return NULL;
	s = service_by_id(d, id);
	if (!s || s->owner != p || s->state == SVC_TERMINATED)
		return NULL;
	return s;
}

static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Whether the hello's class list names @name; a hello without a list (an older runtime) passes:
 * the runtime's Start() still refuses an unknown class. */
static bool
hello_has_class(const struct udk_value *classes, const char *name)
{
	if (udk_value_get_type(classes) != UDK_VALUE_ARRAY)
		return true;
	for (size_t i = 0; i < udk_array_size(classes); i++) {
		const char *c = udk_value_get_string(udk_array_get(classes, i));
		if (c && streq(c, name))
			return true;
	}
	return false;
}

/* The personality's IOUserClass is not among the classes the executable registers: the instance
 * fails with UDK_E_NO_SUCH_CLASS and a sentence naming the class, the ones there are and the
 * nearest; the process stops without Start(), and it is no crash (so no restart loop). */
static void
class_missing(struct udkd *d, struct driver_proc *p, const struct udk_value *classes)
{
	const char *known[65];
	size_t n = 0, len = 1;
	const char *want = p->personality->user_class, *near;
	char *list, *why;

	for (size_t i = 0; i < udk_array_size(classes) && n < 64; i++) {
		const char *c = udk_value_get_string(udk_array_get(classes, i));
		if (c) {
			known[n++] = c;
			len += strlen(c) + 2;
		}
	}
	known[n] = NULL;
	list = malloc(len);
	if (list) {
		list[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(list, ", ");
			strcat(list, known[i]);
		}
	}
	near = bundle_suggest_name(want, known);
	why = strdup_printf("IOUserClass \"%s\" of personality %s is not a class %s registers (it registers: "
			    "%s)%s%s%s Fix IOUserClass in Info.plist or add the class to udk_driver_main(), "
			    "then `udkctl restart %s`",
			    want, p->personality->name ? p->personality->name : "?",
			    p->bundle && p->bundle->executable ? base_name(p->bundle->executable) : "the executable",
			    list && *list ? list : "none", near ? "; did you mean \"" : ".", near ? near : "",
			    near ? "\"?" : "", p->bundle && p->bundle->identifier ? p->bundle->identifier : "DRIVER");
	start_refused(d, p, -UDK_E_NO_SUCH_CLASS, why ? why : "the executable does not register IOUserClass",
		      true);
	free(why);
	free(list);
}

static void
handle_driver_drv_hello(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			const struct proto_drv_hello_req *req)
{
	int64_t version = req->has_version ? req->version : -1;
	struct udk_value *body;
	int level = proc_log_level(d, p);

	if (p->state != PROC_LAUNCHING) {
		reply_to(p, m, -EPROTO, "hello sent twice", NULL);
		return;
	}
	if (version != PROTO_VERSION) {
		reply_to(p, m, -UDK_E_VERSION, "this udkd speaks another protocol version", NULL);
		if (p->instance)
			p->instance->fail_reason = strdup_printf("the driver runtime speaks protocol %lld, udkd speaks %d: "
								 "rebuild the driver against this udk",
								 (long long)version, PROTO_VERSION);
		proc_kill_code(d, p, -UDK_E_VERSION,
			       "version: the driver's runtime speaks another protocol version than this udkd; "
			       "rebuild it against this udk");
		return;
	}
	body = proto_drv_hello_reply_encode(&(struct proto_drv_hello_rep){ .has_log_level = true, .log_level = level });
	reply_to(p, m, 0, NULL, body);
	udk_value_unref(body);
	if (p->hello_timer) {
		loop_timer_cancel(d->loop, p->hello_timer);
		p->hello_timer = NULL;
		proc_unref(p);
	}
	if (p->instance && p->personality && p->personality->user_class &&
	    !hello_has_class(req->classes, p->personality->user_class)) {
		class_missing(d, p, req->classes);
		return;
	}
	send_start(d, p);
}

static void
handle_driver_drv_publish(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			  const struct proto_drv_publish_req *req)
{
	struct service *provider = owned_service(d, p, req->has_provider, req->provider);
	const char *name = req->name;
	const struct udk_value *classes = req->classes;
	struct udk_value *props = (struct udk_value *)req->properties;
	struct service *s = NULL;
	struct udk_value *body;
	int r;

	if (!provider) {
		reply_to(p, m, -EPERM, "the provider of a new service must be this driver or a service it published",
			 NULL);
		return;
	}
	if (!name || !*name || strchr(name, '/') || strlen(name) > 128) {
		reply_to(p, m, -EINVAL, "a service name must be 1..128 characters without '/'", NULL);
		return;
	}
	if (udk_value_get_type(classes) != UDK_VALUE_ARRAY || udk_array_size(classes) == 0 ||
	    udk_array_size(classes) > 32) {
		reply_to(p, m, -EINVAL, "classes must be an array of 1..32 class names", NULL);
		return;
	}
	for (size_t i = 0; i < udk_array_size(classes); i++)
		if (!udk_value_get_string(udk_array_get(classes, i))) {
			reply_to(p, m, -EINVAL, "every class name must be a string", NULL);
			return;
		}
	if (p->bundle) {
		/* what all processes of the bundle published and still have */
		uint64_t max = quota_get(d->quota, LIM_SERVICES_PER_BUNDLE), have = 0;
		for (size_t i = 0; i < d->reg.n_all; i++) {
			struct service *x = d->reg.all[i];
			if (x->state != SVC_TERMINATED && x->istate == INST_NONE && x->owner &&
			    x->owner->bundle == p->bundle)
				have++;
		}
		if (have >= max) {
			char *why = strdup_printf("%s has published %llu services, the most a bundle may (limit "
						  "services_per_bundle %llu): terminate some first",
						  p->bundle->identifier, (unsigned long long)have, (unsigned long long)max);
			reply_to(p, m, -UDK_E_LIMIT, why, NULL);
			free(why);
			return;
		}
	}
	{
		/* the last class given brings its superclasses (a family's or udk's),
		 * so the chain always ends in IOService */
		struct udk_value *chain = udk_value_new_array();
		struct udk_value *tail = class_chain_for(
			udk_value_get_string(udk_array_get(classes, udk_array_size(classes) - 1)));
		char *detail = NULL;
		for (size_t i = 0; chain && i + 1 < udk_array_size(classes); i++)
			udk_array_append(chain, udk_array_get(classes, i));
		for (size_t i = 0; chain && i < udk_array_size(tail); i++)
			udk_array_append(chain, udk_array_get(tail, i));
		udk_value_unref(tail);
		/* a family's services only from bundles holding its entitlement */
		if (p->bundle && entitlements_allow_classes(p->bundle, chain, &detail) < 0) {
			reply_to(p, m, -UDK_E_ENTITLEMENT, detail ? detail : "not entitled to publish this class", NULL);
			free(detail);
			udk_value_unref(chain);
			return;
		}
		r = service_new(d, provider, name, chain, props, &s);
	}
	if (r < 0) {
		reply_to(p, m, r, "cannot create the service", NULL);
		return;
	}
	s->owner = p;
	body = proto_drv_publish_reply_encode(&(struct proto_drv_publish_rep){
		.has_id = true, .id = s->id, .name = s->name, .classes = s->classes });
	reply_to(p, m, 0, NULL, body);
	udk_value_unref(body);
}

static void
handle_driver_ping(struct udkd *d, struct driver_proc *p, struct wire_msg *m, const struct proto_ping_req *req)
{
	reply_to(p, m, 0, NULL, NULL);
}

static void
handle_driver_drv_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
				const struct proto_drv_open_provider_req *req)
{
	broker_open_provider(d, p, m, req);
}

static void
handle_driver_drv_register(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			   const struct proto_drv_register_req *req)
{
	struct service *s = owned_service(d, p, req->has_id, req->id);

	if (!s) {
		reply_to(p, m, -EPERM, "RegisterService() on a service this driver does not own", NULL);
		return;
	}
	reply_to(p, m, 0, NULL, NULL);
	service_register(d, s);
}

static void
handle_driver_drv_set_properties(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
				 const struct proto_drv_set_properties_req *req)
{
	struct service *s = owned_service(d, p, req->has_id, req->id);
	int r;

	if (!s) {
		reply_to(p, m, -EPERM, "SetProperties() on a service this driver does not own", NULL);
		return;
	}
	r = service_set_properties(d, s, (struct udk_value *)req->properties);
	reply_to(p, m, r, r < 0 ? "properties must be a dictionary" : NULL, NULL);
}

static void
handle_driver_drv_terminate(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			    const struct proto_drv_terminate_req *req)
{
	struct service *s = owned_service(d, p, req->has_id, req->id);

	if (!s || s == p->instance) {
		reply_to(p, m, -EPERM,
			 "Terminate() works on services this driver published; a driver ends by returning "
			 "from Stop()",
			 NULL);
		return;
	}
	reply_to(p, m, 0, NULL, NULL);
	service_terminate(d, s, "terminated by its publisher");
}

static void
handle_driver_drv_publish_resource(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
				   const struct proto_drv_publish_resource_req *req)
{
	const char *name = req->name;
	struct udk_value *list = udk_dict_get(d->reg.user_resources->props, "IOResources");
	bool have = false;

	if (!name || !*name || strlen(name) > 128) {
		reply_to(p, m, -EINVAL, "a resource name must be 1..128 characters", NULL);
		return;
	}
	for (size_t i = 0; i < udk_array_size(list); i++)
		if (streq(udk_value_get_string(udk_array_get(list, i)), name))
			have = true;
	if (!have && quota_admit_resource(d->quota, p->bundle ? p->bundle->identifier : proc_label(p)) < 0) {
		reply_to(p, m, -UDK_E_LIMIT, udk_error_reason(), NULL);
		return;
	}
	if (!have)
		udk_array_append_take(list, udk_value_new_string(name));
	reply_to(p, m, 0, NULL, NULL);
	if (!have)
		match_all(d);
}

static void
handle_driver_drv_power_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
				const struct proto_drv_power_request_req *req)
{
	power_handle_request(d, p, m, req);
}

static void
handle_driver_drv_power_busy(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			     const struct proto_drv_power_busy_req *req)
{
	power_handle_busy(d, p, m, req);
}

static void
handle_driver_drv_problem(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			  const struct proto_drv_problem_req *req)
{
	/* proto.xml bounds code and reason */
	struct service *s = owned_service(d, p, req->has_object, req->object);

	if (!s)
		return;
	free(s->problem);
	s->problem = strdup_printf("%s%s%s", req->code ? req->code : "", req->code ? ": " : "", req->reason);
	log_warning(d, "%s (pid %d) reports: %s", proc_label(p), p->pid, s->problem ? s->problem : "");
}

static void
handle_driver_drv_user_client_closed(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
				     const struct proto_drv_user_client_closed_req *req)
{
	access_link_closed(d, p, req->object);
}

static void
handle_driver_drv_log(struct udkd *d, struct driver_proc *p, struct wire_msg *m, const struct proto_drv_log_req *req)
{
	int64_t level = req->has_level ? req->level : UDK_LOG_INFO;

	if (req->message)
		log_line(d, p, (int)MIN(MAX(level, UDK_LOG_ERROR), UDK_LOG_DEBUG), req->message);
}

void
launcher_handle_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	const struct proto_driver_handler *h;
	union proto_driver_req req;
	char why[256];
	int r;

	if (m->h.flags & WIRE_F_REPLY) {
		struct pending *pe = NULL;
		for (struct pending *x = p->pending; x; x = x->next)
			if (x->serial == m->h.serial)
				pe = x;
		if (!pe) {
			log_debug(d, "%s: late reply to serial %u ignored", proc_label(p), m->h.serial);
			return;
		}
		pending_unlink(p, pe);
		if (pe->timer)
			loop_timer_cancel(d->loop, pe->timer);
		pe->fn(d, p, m, m->h.status, pe->data);
		proc_unref(pe->proc);
		free(pe);
		return;
	}
	if (m->h.op != OP_DRV_LOG && m->h.op != OP_PING && udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		reply_to(p, m, -EBADMSG, "request body must be a dictionary", NULL);
		return;
	}
	if (p->kind == PROC_KIND_MODEL && m->h.op != OP_PING && m->h.op != OP_DRV_LOG) {
		models_handle_message(d, p, m);
		return;
	}
	h = proto_driver_handler(m->h.op);
	if (!h) {
		const struct udkd_family *f = family_of_op(m->h.op);
		if (f && f->message)
			f->message(d, p, m);
		else
			reply_to(p, m, -EOPNOTSUPP, "udkd does not handle this request from a driver", NULL);
		return;
	}
	r = proto_request_decode(h->info, m->body, m->n_fds, &req, why, sizeof(why));
	if (r < 0) {
		/* a one-way message has no reply to carry the reason */
		if (m->h.flags & WIRE_F_ONEWAY)
			log_debug(d, "%s (pid %d): %s", proc_label(p), p->pid, why);
		reply_to(p, m, r, why, NULL);
		return;
	}
	h->handle(d, p, m, &req);
}

static void
on_sock(struct loop *l, int fd, uint32_t events, void *data)
{
	struct driver_proc *p = data;
	struct udkd *d = p->d;

	(void)l;
	proc_ref(p);
	if ((events & EPOLLOUT) && p->state != PROC_DEAD) {
		int r = outbox_flush(&p->out, fd);
		if (r == 0 && p->sock_src)
			loop_source_set_events(p->sock_src, EPOLLIN);
		else if (r < 0)
			proc_kill(d, p, NULL);
	}
	for (int i = 0; i < 64 && p->state != PROC_DEAD && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)); i++) {
		struct wire_msg m;
		int r = wire_recv(fd, &m, true);

		if (r == -EAGAIN)
			break;
		if (r == -ECONNRESET || (r < 0 && r != -EBADMSG)) {
			/* the process closed its socket: it is exiting or broken */
			loop_source_remove(p->sock_src);
			p->sock_src = NULL;
			if (!p->kill_sent && p->state != PROC_STOPPING)
				log_debug(d, "%s (pid %d) closed its connection", proc_label(p), p->pid);
			proc_kill(d, p, NULL);
			break;
		}
		if (r == -EBADMSG) {
			const char *why = udk_error_reason();
			char *msg = strdup_printf("sent a malformed message: %s", why ? why : "?");
			if (p->instance && !p->instance->fail_reason)
				p->instance->fail_reason = strdup_printf("UDK_E_PROTOCOL: %s", msg ? msg : "sent a malformed message");
			proc_kill_code(d, p, -UDK_E_PROTOCOL, "protocol: the driver %s; link it with libudk-driver of "
							      "this udk",
				       msg ? msg : "sent a malformed message");
			free(msg);
			break;
		}
		launcher_handle_message(d, p, &m);
		wire_msg_clear(&m);
	}
	proc_unref(p);
}

static void
on_pidfd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct driver_proc *p = data;
	siginfo_t si;

	(void)l;
	(void)events;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return;
	if (si.si_code == CLD_EXITED)
		proc_dead(p->d, p, 0, si.si_status);
	else
		proc_dead(p->d, p, si.si_status, 0);
}

/* ---- death and restart ---- */

struct rematch {
	struct udkd *d;
	struct service *provider;
	struct service *failed;		/* an instance whose process could not be spawned */
};

static void
rematch_later(struct loop *l, void *data)
{
	struct rematch *rm = data;
	struct service *prov = rm->provider;

	(void)l;
	prov->rematch_timer = NULL;
	prov->rematch = NULL;
	if (rm->failed && rm->failed->state != SVC_TERMINATED)
		service_terminate(rm->d, rm->failed, "its process could not be spawned");
	service_unref(rm->failed);
	if (prov->state == SVC_REGISTERED)
		match_service(rm->d, prov);
	service_unref(prov);
	free(rm);
}

/* Match @prov again after @delay ms (0: now), unless a rematch is pending. */
static void
schedule_rematch(struct udkd *d, struct service *prov, uint64_t delay)
{
	struct rematch *rm;

	if (prov->state != SVC_REGISTERED || d->shutting_down || prov->rematch_timer)
		return;
	if (delay == 0) {
		match_service(d, prov);
		return;
	}
	rm = calloc(1, sizeof(*rm));
	if (!rm)
		return;
	rm->d = d;
	rm->provider = service_ref(prov);
	log_info(d, "matching %s again in %llu ms", prov->name, (unsigned long long)delay);
	prov->rematch = rm;
	loop_add_timer(d->loop, now_ns() + delay * 1000000ull, rematch_later, rm, &prov->rematch_timer);
}

void
launcher_cancel_rematch(struct udkd *d, struct service *s)
{
	struct rematch *rm = s->rematch;

	if (!s->rematch_timer)
		return;
	loop_timer_cancel(d->loop, s->rematch_timer);
	s->rematch_timer = NULL;
	s->rematch = NULL;
	if (rm) {
		service_unref(rm->failed);
		service_unref(rm->provider);
		free(rm);
	}
}

static uint64_t
backoff_ms(struct udkd *d, unsigned consecutive)
{
	uint64_t ms;

	if (consecutive <= 1)
		return 0; /* the first crash restarts at once */
	ms = d->cfg.restart_base_ms;
	for (unsigned i = 2; i < consecutive && ms < d->cfg.restart_max_ms; i++)
		ms *= 2;
	return MIN(ms, d->cfg.restart_max_ms);
}

/* The code an instance's reason starts with when its process ended unasked ("UDK_E_...: "), or
 * "" when the reason's text names it already (udkd killed it: "killed by udkd (UDK_E_...)"). */
static const char *
death_code(const struct driver_proc *p, int signal, int exit_status)
{
	if (p->kill_code)
		return "";
	if (!signal && exit_status == 127 && p->launch_diag)
		return "UDK_E_LIBRARY: ";
	return "UDK_E_DRIVER_DIED: ";
}

static void
record_crash(struct udkd *d, struct driver_proc *p, int signal, int exit_status, const char *phase)
{
	struct bundle *b = p->bundle;
	struct crash_record *c;
	uint64_t ran_ms = p->started_ns ? (now_ns() - p->started_ns) / 1000000ull : 0;

	if (p->started_ns && ran_ms >= d->cfg.stable_ms)
		b->crashes_consecutive = 0;
	b->crashes_total++;
	b->crashes_consecutive++;
	if (b->n_history == CRASH_HISTORY) {
		memmove(&b->history[0], &b->history[1], sizeof(b->history[0]) * (CRASH_HISTORY - 1));
		b->n_history--;
	}
	c = &b->history[b->n_history++];
	memset(c, 0, sizeof(*c));
	c->when_ms = wall_ms();
	c->signal = signal;
	c->exit_status = exit_status;
	snprintf(c->phase, sizeof(c->phase), "%s", phase);
	memcpy(c->last_words, p->last_line, sizeof(c->last_words));
	for (unsigned i = 0; i < p->tail_n; i++)
		memcpy(c->last_lines[i], p->tail[(p->tail_head + i) % CRASH_LAST_LINES], sizeof(c->last_lines[i]));
	c->n_last_lines = p->tail_n;
	if (p->kill_code) {
		c->code = p->kill_code;
		snprintf(c->reason, sizeof(c->reason), "killed by udkd: %s", p->kill_reason);
	} else if (!signal && exit_status == 127 && p->launch_diag) {
		/* the loader's exit: the library, not a crash (issue 18 point 2) */
		c->code = -UDK_E_LIBRARY;
		snprintf(c->reason, sizeof(c->reason), "the driver exited with status 127 during %s: %s", phase,
			 p->launch_diag);
	} else {
		c->code = -UDK_E_DRIVER_DIED;
		if (signal && p->tail_n)
			snprintf(c->reason, sizeof(c->reason),
				 "the driver crashed: SIG%s (%s) during %s; its last output: \"%.120s\" "
				 "(last_lines has its last %u line(s), `udkctl report` more)",
				 sigabbrev_np(signal) ? sigabbrev_np(signal) : "?", strsignal(signal), phase, p->last_line,
				 p->tail_n);
		else if (signal)
			snprintf(c->reason, sizeof(c->reason),
				 "the driver crashed: SIG%s (%s) during %s; it wrote no output before it ended",
				 sigabbrev_np(signal) ? sigabbrev_np(signal) : "?", strsignal(signal), phase);
		else
			snprintf(c->reason, sizeof(c->reason), "the driver exited with status %d during %s", exit_status,
				 phase);
	}
	b->last_failure = *c;
	b->has_last_failure = true;

	if (b->crashes_consecutive >= d->cfg.crash_limit && !b->disabled) {
		b->disabled = true;
		free(b->disabled_reason);
		if (p->kill_code)
			b->disabled_reason = strdup_printf(
				"crash loop: ended %u times in a row (last: %s, %s). Fix the driver, then run "
				"`udkctl restart %s`",
				b->crashes_consecutive, udk_error_name(p->kill_code), c->reason, b->identifier);
		else if (signal)
			b->disabled_reason = strdup_printf(
				"crash loop: crashed %u times in a row (last: killed by SIG%s during %s). Fix the "
				"driver, then run `udkctl restart %s`",
				b->crashes_consecutive, sigabbrev_np(signal) ? sigabbrev_np(signal) : "?", phase,
				b->identifier);
		else if (p->launch_diag)
			b->disabled_reason = strdup_printf(
				"crash loop: failed %u times in a row (last: exited with status %d during %s: %s). "
				"Then run `udkctl restart %s`",
				b->crashes_consecutive, exit_status, phase, p->launch_diag, b->identifier);
		else
			b->disabled_reason = strdup_printf(
				"crash loop: failed %u times in a row (last: exited with status %d during %s). Fix "
				"the driver, then run `udkctl restart %s`",
				b->crashes_consecutive, exit_status, phase, b->identifier);
		log_error(d, "%s disabled: %s", b->identifier, b->disabled_reason);
		lifecycle_start_failed(d, b);
	}
}

static void
proc_dead(struct udkd *d, struct driver_proc *p, int signal, int exit_status)
{
	enum proc_state was = p->state;
	struct service *inst = p->instance;
	struct service *prov = p->provider;
	bool expected = was == PROC_STOPPING;
	const char *phase = was == PROC_LAUNCHING ? "launch"
			    : was == PROC_STARTING ? "start"
			    : was == PROC_RUNNING  ? "running"
						   : "stop";
	char how[400];

	if (p->state == PROC_DEAD)
		return;
	proc_ref(p);
	p->state = PROC_DEAD;
	access_proc_gone(d, p);
	if (inst)
		power_instance_gone(d, inst);
	if (p->kill_code)
		snprintf(how, sizeof(how), "killed by udkd (%s): %s", udk_error_name(p->kill_code), p->kill_reason);
	else if (expected && ((p->kill_sent && signal == SIGKILL) || signal == SIGTERM))
		snprintf(how, sizeof(how), "stopped"); /* udkd ended it after a clean stop, not a crash */
	else if (signal)
		snprintf(how, sizeof(how), "killed by SIG%s", sigabbrev_np(signal) ? sigabbrev_np(signal) : "?");
	else
		snprintf(how, sizeof(how), "exited with status %d", exit_status);
	if (p->uc_links) {
		/* its apps learn why before their sockets end */
		char *why = strdup_printf(
			"the driver %s (pid %d) %s %s. Reopen the service once it is back: udkd starts the driver "
			"again unless it was stopped on purpose or is in a crash loop (`udkctl drivers` says which)",
			proc_label(p), p->pid, expected ? "stopped:" : "died:", how);
		uc_links_cut_all(p, -UDK_E_DRIVER_DIED, why ? why : "the driver process died");
		free(why);
	}

	/* drain its last words before the pipe goes */
	if (p->log_src) {
		for (int i = 0; i < 64 && p->log_fd >= 0; i++)
			on_log(d->loop, p->log_fd, EPOLLIN, p);
	}
	loop_source_remove(p->sock_src);
	loop_source_remove(p->pid_src);
	loop_source_remove(p->log_src);
	p->sock_src = p->pid_src = p->log_src = NULL;
	if (p->watchdog) {
		loop_timer_cancel(d->loop, p->watchdog);
		p->watchdog = NULL;
		proc_unref(p); /* the watchdog's reference */
	}
	if (p->hello_timer) {
		loop_timer_cancel(d->loop, p->hello_timer);
		p->hello_timer = NULL;
		proc_unref(p);
	}
	outbox_clear(&p->out);
	close(p->sock);
	p->sock = -1;
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	if (p->log_fd >= 0)
		close(p->log_fd);
	p->log_fd = -1;
	fail_pending(d, p);

	/* unlink from the process list */
	for (struct driver_proc **pp = &d->procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}

	if (p->kind == PROC_KIND_MODEL) {
		if (p->model)
			models_died(d, p->model, how, p->kill_code, expected || d->shutting_down);
		p->refcount--;
		proc_unref(p);
		return;
	}
	if (expected) {
		log_info(d, "%s (pid %d) %s", proc_label(p), p->pid, how);
		if (prov->n_stopping)
			prov->n_stopping--;
	} else {
		if (p->launch_diag && !signal) {
			log_error(d, "%s (pid %d) %s during %s: %s", proc_label(p), p->pid, how, phase, p->launch_diag);
			if (inst && !inst->fail_reason)
				inst->fail_reason = strdup_printf("%s%s during %s: %s", death_code(p, signal, exit_status),
								  how, phase, p->launch_diag);
		} else {
			log_error(d, "%s (pid %d) %s during %s", proc_label(p), p->pid, how, phase);
			if (inst && !inst->fail_reason)
				inst->fail_reason = strdup_printf("%s%s during %s", death_code(p, signal, exit_status), how,
								  phase);
		}
		if (!d->shutting_down)
			record_crash(d, p, signal, exit_status, phase);
	}
	if (inst && inst->state != SVC_TERMINATED) {
		inst->istate = INST_FAILED;
		service_terminate(d, inst, how);
	}
	if (!expected && prov->state == SVC_REGISTERED && !d->shutting_down) {
		prov->client_deaths++;
		launcher_notify_provider(d, prov, "client-died");
	}
	/* families reset what the driver held before another starts on it */
	p->crashed = !expected;
	udkd_emit(d, UDKD_EV_PROC_DIED, p);
	/* let the debugger's udkctl know */
	if (p->debug && p->bundle->debug_waiter) {
		client_reply(d, p->bundle->debug_waiter, OP_DEBUG, p->bundle->debug_serial, -UDK_E_DRIVER_DIED,
			     "the driver exited before a debugger attached", NULL, NULL, 0);
		client_unref(p->bundle->debug_waiter);
		p->bundle->debug_waiter = NULL;
	}
	schedule_rematch(d, prov, expected ? 0 : backoff_ms(d, p->bundle->crashes_consecutive));
	/* the instances it ran beside (IOUserServerOneProcess) went with it */
	while (p->n_guests) {
		struct service *g = p->guests[--p->n_guests];
		struct service *gp = g->provider ? service_ref(g->provider) : NULL;
		bool stopping = g->istate == INST_STOPPING;
		power_instance_gone(d, g);
		if (g->state != SVC_TERMINATED) {
			if (!expected && !g->fail_reason)
				g->fail_reason = strdup_printf("%s%s during %s (its one-process server)",
							       death_code(p, signal, exit_status), how, phase);
			g->istate = INST_FAILED;
			service_terminate(d, g, how);
		}
		if (gp) {
			if (stopping && gp->n_stopping)
				gp->n_stopping--;
			if (!expected && gp->state == SVC_REGISTERED && !d->shutting_down)
				launcher_notify_provider(d, gp, "client-died");
			schedule_rematch(d, gp, expected ? 0 : backoff_ms(d, p->bundle->crashes_consecutive));
			service_unref(gp);
		}
		service_unref(g);
	}
	free(p->guests);
	p->guests = NULL;
	/* drop the process list's reference; ours (taken above) is the last */
	p->refcount--;
	proc_unref(p);
}

/* ---- spawning ---- */

#define DRIVER_UID_SLOTS 1000000u

/* What a driver process may use (sandbox.h). */
static void
driver_spec(struct udkd *d, struct driver_proc *p, struct sandbox_spec *spec)
{
	struct udk_value *rl = p->personality ? udk_dict_get(p->personality->dict, "UDKResourceLimits") : NULL;
	int64_t v;

	memset(spec, 0, sizeof(*spec));
	spec->bundle_path = p->bundle->path;
	spec->memory = d->cfg.driver_memory_limit;
	spec->files = d->cfg.driver_max_files;
	spec->threads = d->cfg.driver_max_threads;
	if ((v = udk_dict_get_int(rl, "Memory", 0)) > 0)
		spec->memory = d->cfg.driver_memory_limit ? (uint64_t)v : 0;
	if ((v = udk_dict_get_int(rl, "Files", 0)) > 0)
		spec->files = (unsigned)v;
	if ((v = udk_dict_get_int(rl, "Threads", 0)) > 0)
		spec->threads = (unsigned)v;
	spec->uid = p->uid;
	spec->gid = p->uid;
}

/*
 * What the child needs, all prepared by the parent: the child shares
 * udkd's memory (spawn() below) and must not allocate or change anything
 * udkd owns.
 */
struct child_args {
	int sock, logw, exe_fd, devnull;
	const char *exe, *cwd;
	char *argv[2];
	char *envp[16];
	bool sandboxed;
	struct sandbox_spec spec;
	const struct sandbox *sandbox;
};

static int
child_exec(void *data)
{
	struct child_args *a = data;
	sigset_t none;

	/*
	 * Signals: default actions first, then unblocked (the parent blocked
	 * them all around the clone, so no udkd handler runs here).
	 */
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa = { .sa_handler = SIG_DFL };
		sigaction(s, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		_exit(126);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* opened by the parent: here every descriptor udkd may have is still taken */
	if (a->devnull < 0 || dup2(a->devnull, 0) < 0 || dup2(a->logw, 1) < 0 || dup2(a->logw, 2) < 0 ||
	    dup2(a->sock, 3) < 0)
		_exit(126);
	if (a->exe_fd >= 0 && dup3(a->exe_fd, SANDBOX_EXEC_FD, O_CLOEXEC) < 0)
		_exit(126);
	/* fds 0-3 only, and the executable for the sandboxed exec */
	syscall(SYS_close_range, 4, SANDBOX_EXEC_FD - 1, 0);
	syscall(SYS_close_range, SANDBOX_EXEC_FD + 1, ~0u, 0);
	if (a->exe_fd < 0)
		close(SANDBOX_EXEC_FD);
	fd_set_cloexec(3, false);
	{
		/* udkd raised its own descriptor limit; children get the usual one */
		struct rlimit nofile;
		if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > 1024) {
			nofile.rlim_cur = 1024;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
	}
	if (chdir(a->cwd) < 0)
		_exit(126);
	/* drivers are confined; device models are udk's own simulation */
	if (a->sandboxed) {
		sandbox_exec(a->sandbox, &a->spec, a->argv, a->envp);
		_exit(126);
	}
	if (a->exe_fd >= 0)
		syscall(SYS_execveat, SANDBOX_EXEC_FD, "", a->argv, a->envp, AT_EMPTY_PATH);
	else
		execve(a->exe, a->argv, a->envp);
	dprintf(2, "udkd: cannot execute %s: %s\n", a->exe, strerror(errno));
	_exit(127);
}

/* The environment of a driver or device model (in @a->envp; strings to free in @owned). */
static void
child_env(struct udkd *d, struct driver_proc *p, struct child_args *a, char *levelenv, size_t levelenv_len,
	  char *const *extra_env, char **owned)
{
	int n = 0, k = 0;

	snprintf(levelenv, levelenv_len, "UDK_LOG_LEVEL=%d", proc_log_level(d, p));
	a->envp[n++] = (char *)"UDK_DRIVER_FD=3";
	a->envp[n++] = levelenv;
	a->envp[n++] = (char *)"PATH=/usr/bin:/bin";
	for (size_t i = 0; extra_env && extra_env[i] && n < 10; i++)
		a->envp[n++] = extra_env[i];
	if (p->debug)
		a->envp[n++] = (char *)"UDK_DEBUG_WAIT=1";
	/* sanitizer settings follow the daemon's, so CI runs see driver reports */
	{
		static const char *const pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
		for (size_t i = 0; i < ARRAY_SIZE(pass) && n < 15; i++) {
			const char *v = getenv(pass[i]);
			char *e = NULL;
			/*
			 * In the sandbox the leak checker (ptrace, a helper process) and
			 * the core-dump limit (setrlimit; udkd already set it to 0) are
			 * denied: a sanitizer build of a driver must not try them.
			 */
			if (a->sandboxed && streq(pass[i], "ASAN_OPTIONS"))
				e = strdup_printf("%s=%s%sdetect_leaks=0:disable_coredump=0", pass[i], v ? v : "",
						  v && *v ? ":" : "");
			else if (v)
				e = strdup_printf("%s=%s", pass[i], v);
			if (e) {
				a->envp[n++] = e;
				owned[k++] = e;
			}
		}
	}
	a->envp[n] = NULL;
}

#define CHILD_STACK_SIZE (256u << 10)

static int spawn(struct udkd *d, struct driver_proc *p, const char *exe, const char *cwd, char *const *extra_env);

/* Fork and exec @exe with fd 3 to udkd and its output to our log. */
static int
proc_spawn(struct udkd *d, struct driver_proc *p, const char *exe, const char *cwd, char *const *extra_env)
{
	int r;


	/* the descriptors kept for this: a restart works even when others took all the rest */
	quota_fd_release(d->quota, SPAWN_FDS);
	r = spawn(d, p, exe, cwd, extra_env);
	quota_fd_refill(d->quota);
	return r;
}

static int
spawn(struct udkd *d, struct driver_proc *p, const char *exe, const char *cwd, char *const *extra_env)
{
	static void *child_stack; /* one spawn at a time: udkd waits for the child to exec */
	int sv[2] = { -1, -1 }, lp[2] = { -1, -1 };
	_cleanup_close_ int exe_fd = -1, devnull = -1;
	struct child_args args;
	char levelenv[32], *owned[4] = { NULL };
	sigset_t all, old;
	pid_t pid;
	int r, e, pidfd = -1;

	/* a driver runs the executable its signature covers, opened and checked here */
	if (p->kind == PROC_KIND_DRIVER && p->bundle) {
		exe_fd = trust_open_executable(d, p->bundle);
		if (exe_fd < 0)
			return exe_fd;
		/* its own uid when udkd is root: no signals, ptrace or /proc access to anyone else */
		if (d->cfg.sandbox && d->cfg.driver_uid_base && geteuid() == 0)
			p->uid = d->cfg.driver_uid_base + (d->next_uid_slot++ % DRIVER_UID_SLOTS);
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	r = wire_socketpair(sv);
	if (r < 0)
		return r;
	if (pipe2(lp, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	args = (struct child_args){ .sock = sv[1], .logw = lp[1], .exe_fd = exe_fd, .devnull = devnull, .exe = exe,
				    .cwd = cwd, .argv = { (char *)exe, NULL }, .sandbox = d->sandbox,
				    .sandboxed = p->kind == PROC_KIND_DRIVER && d->cfg.sandbox && d->sandbox };
	if (args.sandboxed)
		driver_spec(d, p, &args.spec);
	child_env(d, p, &args, levelenv, sizeof(levelenv), extra_env, owned);
	if (!child_stack) {
		child_stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
				   -1, 0);
		if (child_stack == MAP_FAILED) {
			child_stack = NULL;
			r = -ENOMEM;
			goto fail;
		}
	}
	p->spawned_ns = now_ns();
	/*
	 * The child shares udkd's memory until it executes (CLONE_VM |
	 * CLONE_VFORK, as posix_spawn does; udkd waits meanwhile): no copy of
	 * udkd's page tables to make and tear down again at exec, which was
	 * the largest part of a spawn with many drivers running.  Every
	 * signal stays blocked until the child has reset their actions.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(child_exec, (char *)child_stack + CHILD_STACK_SIZE,
		    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &args, &pidfd);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < (int)ARRAY_SIZE(owned); i++)
		free(owned[i]);
	if (pid < 0) {
		r = -e;
		goto fail;
	}
	close(sv[1]);
	close(lp[1]);
	p->pid = pid;
	p->sock = sv[0];
	fd_set_nonblock(p->sock, true);
	p->log_fd = lp[0];
	fd_set_nonblock(p->log_fd, true);
	p->pidfd = pidfd;
	if (p->pidfd < 0) {
		r = -EBADF;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p->sock);
		close(p->log_fd);
		p->sock = p->log_fd = -1;
		return r;
	}
	loop_add_fd(d->loop, p->sock, EPOLLIN, on_sock, p, &p->sock_src);
	loop_add_fd(d->loop, p->pidfd, EPOLLIN, on_pidfd, p, &p->pid_src);
	loop_add_fd(d->loop, p->log_fd, EPOLLIN, on_log, p, &p->log_src);
	p->next = d->procs;
	d->procs = p;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (lp[i] >= 0)
			close(lp[i]);
	}
	return r;
}

static void
hello_timeout(struct loop *l, void *data)
{
	struct driver_proc *p = data;

	(void)l;
	p->hello_timer = NULL;
	if (p->state == PROC_LAUNCHING && p->kind == PROC_KIND_MODEL) {
		proc_kill_code(p->d, p, -UDK_E_DEADLINE, "deadline: the device model never said hello: does it call "
							 "udk_dm_run()?");
	} else if (p->state == PROC_LAUNCHING) {
		if (p->instance && !p->instance->fail_reason)
			p->instance->fail_reason = strdup_printf(
				"the process never said hello within %llu ms: is it linked with libudk-driver and does "
				"main() call udk_driver_main()?",
				(unsigned long long)deadline_for(p, "Start", p->d->cfg.start_timeout_ms));
		proc_kill_code(p->d, p, -UDK_E_DEADLINE,
			       "deadline: the executable never said hello within %llu ms: is it linked with "
			       "libudk-driver and does main() call udk_driver_main()?",
			       (unsigned long long)deadline_for(p, "Start", p->d->cfg.start_timeout_ms));
	}
	proc_unref(p);
}

int
launcher_start_instance(struct udkd *d, struct service *inst)
{
	struct personality *pers = inst->personality;
	struct bundle *b = pers->bundle;
	struct driver_proc *p;
	pid_t pid;
	int r;

	if (wants_one_process(pers) && (p = one_process_host(d, b)))
		return join_server(d, p, inst);
	{
		uint64_t max = quota_get(d->quota, LIM_PROCESSES_PER_BUNDLE), have = 0;
		for (struct driver_proc *x = d->procs; x; x = x->next)
			if (x->bundle == b && x->kind == PROC_KIND_DRIVER && x->state != PROC_DEAD)
				have++;
		if (have >= max) {
			inst->istate = INST_FAILED;
			free(inst->fail_reason);
			inst->fail_reason = strdup_printf("UDK_E_LIMIT: %s already runs %llu processes, the most one "
							  "bundle may (limit processes_per_bundle %llu); this instance "
							  "starts after `udkctl restart %s`",
							  b->identifier, (unsigned long long)have, (unsigned long long)max,
							  b->identifier);
			log_error(d, "cannot start %s on %s: %s", b->identifier, inst->provider->name,
				  inst->fail_reason + strlen("UDK_E_LIMIT: "));
			return udk_set_reason(-UDK_E_LIMIT, "%s", inst->fail_reason);
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->refcount = 1;
	p->d = d;
	outbox_init(&p->out);
	p->pidfd = p->sock = p->log_fd = -1;
	p->bundle = b;
	p->personality = pers;
	p->provider = service_ref(inst->provider);
	p->instance = service_ref(inst);
	p->one_process = wants_one_process(pers);
	p->state = PROC_LAUNCHING;
	p->debug = b->debug_next;
	inst->owner = p;

	{
		char *env[3] = { strdup_printf("UDK_BUNDLE_PATH=%s", b->path),
				 strdup_printf("UDK_SERVER_NAME=%s", b->identifier), NULL };
		r = proc_spawn(d, p, b->executable, b->path, env);
		free(env[0]);
		free(env[1]);
		if (r < 0)
			goto fail;
	}
	pid = p->pid;
	if (p->debug) {
		b->debug_next = false;
		log_notice(d, "%s started stopped for a debugger: gdb -p %d (then 'continue')", b->identifier, pid);
		if (b->debug_waiter) {
			struct udk_value *body = udk_value_new_dict();
			char *cmd = strdup_printf("gdb -p %d -ex continue", pid);
			udk_dict_set_int(body, "pid", pid);
			if (cmd)
				udk_dict_set_string(body, "command", cmd);
			free(cmd);
			client_reply(d, b->debug_waiter, OP_DEBUG, b->debug_serial, 0, NULL, body, NULL, 0);
			udk_value_unref(body);
			client_unref(b->debug_waiter);
			b->debug_waiter = NULL;
		}
	} else {
		uint64_t ms = deadline_for(p, "Start", d->cfg.start_timeout_ms);
		loop_add_timer(d->loop, now_ns() + ms * 1000000ull, hello_timeout, proc_ref(p), &p->hello_timer);
	}
	return 0;
fail:
	inst->owner = NULL;
	inst->istate = INST_FAILED;
	inst->fail_reason = r == -UDK_E_BAD_SIGNATURE && udk_error_reason()
				    ? strdup(udk_error_reason())
				    : strdup_printf("cannot spawn the driver process: %s", udk_strerror(r));
	if (r == -UDK_E_BAD_SIGNATURE) {
		/* the executable changed after verification: refuse the bundle until it is fixed */
		free(b->refusal_reason);
		b->refusal = r;
		b->refusal_reason = strdup(inst->fail_reason ? inst->fail_reason : "");
		log_error(d, "refused %s: %s", b->path, b->refusal_reason ? b->refusal_reason : "");
	} else if ((r == -EMFILE || r == -ENFILE || r == -ENOMEM || r == -EAGAIN) && !inst->provider->rematch_timer) {
		/* out of something for now: try again, rather than stay failed */
		struct rematch *rm = calloc(1, sizeof(*rm));
		uint64_t delay = MAX(d->cfg.restart_base_ms, (uint64_t)10);
		if (rm) {
			rm->d = d;
			rm->provider = service_ref(inst->provider);
			rm->failed = service_ref(inst);
			log_warning(d, "cannot spawn %s: %s; trying again in %llu ms", b->identifier, udk_strerror(r),
				    (unsigned long long)delay);
			inst->provider->rematch = rm;
			loop_add_timer(d->loop, now_ns() + delay * 1000000ull, rematch_later, rm,
				       &inst->provider->rematch_timer);
		}
	}
	proc_unref(p);
	return r;
}

int
launcher_start_model(struct udkd *d, struct device_model *m, const char *exe)
{
	struct driver_proc *p = calloc(1, sizeof(*p));
	char *env[2] = { NULL, NULL };
	char *dir, *slash;
	int r;

	if (!p)
		return -ENOMEM;
	p->refcount = 1;
	p->d = d;
	p->kind = PROC_KIND_MODEL;
	p->model = m;
	p->label = strdup_printf("model %s", m->name);
	outbox_init(&p->out);
	p->pidfd = p->sock = p->log_fd = -1;
	p->state = PROC_LAUNCHING;
	dir = strdup(exe);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = '\0';
	env[0] = strdup_printf("UDK_DEVICE_NAME=%s", m->name);
	r = proc_spawn(d, p, exe, dir && slash ? dir : "/", env);
	free(env[0]);
	free(dir);
	if (r < 0) {
		proc_unref(p);
		return r;
	}
	m->proc = p;
	loop_add_timer(d->loop, now_ns() + d->cfg.start_timeout_ms * 1000000ull, hello_timeout, proc_ref(p),
		       &p->hello_timer);
	return 0;
}

void
launcher_model_ready(struct driver_proc *p)
{
	if (p->hello_timer) {
		loop_timer_cancel(p->d->loop, p->hello_timer);
		p->hello_timer = NULL;
		proc_unref(p);
	}
	p->state = PROC_RUNNING;
	p->started_ns = now_ns();
	schedule_watchdog(p->d, p);
}

static void
stop_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	(void)reply;
	(void)data;
	if (status == -UDK_E_DEADLINE)
		proc_kill_code(d, p, -UDK_E_DEADLINE, "deadline: Stop() did not return within %llu ms",
			       (unsigned long long)deadline_for(p, "Stop", d->cfg.stop_timeout_ms));
	/* a driver process serves one instance: once stopped, it goes */
	proc_kill(d, p, NULL);
}

void
launcher_stop_instance(struct udkd *d, struct service *inst, const char *why)
{
	struct driver_proc *p = inst->owner;
	struct udk_value *body;

	if (p && p->instance != inst && p->state != PROC_DEAD && p->state != PROC_STOPPING && guest_remove(p, inst)) {
		/* one instance of a one-process server: the server runs on */
		log_info(d, "stopping %s in %s (pid %d): %s", inst->name, proc_label(p), p->pid, why);
		inst->istate = INST_STOPPING;
		if (inst->provider)
			inst->provider->n_stopping++;
		body = udk_value_new_dict();
		udk_dict_set_uint(body, "object", inst->id);
		if (proc_request(d, p, OP_DRV_STOP, body, NULL, 0, deadline_for(p, "Stop", d->cfg.stop_timeout_ms),
				 guest_stop_done, inst) < 0)
			proc_kill(d, p, NULL);
		udk_value_unref(body);
		return;
	}
	if (p && p->instance == inst && p->n_guests && p->state == PROC_RUNNING) {
		/* the server's first instance goes, the others stay: one of them takes its place */
		struct service *next = p->guests[0];
		guest_remove(p, next);
		log_info(d, "stopping %s in %s (pid %d): %s; the server runs on for %s", inst->name, proc_label(p),
			 p->pid, why, next->name);
		inst->istate = INST_STOPPING;
		p->provider->n_stopping++;
		body = udk_value_new_dict();
		udk_dict_set_uint(body, "object", inst->id);
		if (proc_request(d, p, OP_DRV_STOP, body, NULL, 0, deadline_for(p, "Stop", d->cfg.stop_timeout_ms),
				 guest_stop_done, inst) < 0)
			proc_kill(d, p, NULL);
		udk_value_unref(body);
		/* guest_stop_done takes the reference p->instance held */
		service_unref(p->provider);
		p->instance = next;
		p->provider = service_ref(next->provider);
		p->personality = next->personality;
		return;
	}
	if (!p || p->instance != inst || p->state == PROC_DEAD || p->state == PROC_STOPPING) {
		inst->istate = INST_STOPPING;
		return;
	}
	log_info(d, "stopping %s (pid %d): %s", proc_label(p), p->pid, why);
	inst->istate = INST_STOPPING;
	p->state = PROC_STOPPING;
	p->provider->n_stopping++;
	if (p->started_ns == 0) {
		/* never started: nothing to stop */
		proc_kill(d, p, NULL);
		return;
	}
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", inst->id);
	if (proc_request(d, p, OP_DRV_STOP, body, NULL, 0, deadline_for(p, "Stop", d->cfg.stop_timeout_ms), stop_done,
			 NULL) < 0)
		proc_kill(d, p, NULL);
	udk_value_unref(body);
}

void
launcher_notify_provider(struct udkd *d, struct service *provider, const char *event)
{
	struct driver_proc *owner = provider->owner;
	struct udk_value *body;

	if (!owner || owner->state == PROC_DEAD || owner->sock < 0)
		return;
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", provider->id);
	udk_dict_set_string(body, "event", event);
	proc_send(d, owner, OP_DRV_PROVIDER_EVENT, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
	udk_value_unref(body);
}

static void
clear_exclusions(struct udkd *d, struct service *s, void *data)
{
	struct bundle *b = data;
	size_t w = 0;

	(void)d;
	for (size_t i = 0; i < s->n_excluded; i++) {
		if (s->excluded[i].personality->bundle != b)
			s->excluded[w++] = s->excluded[i];
		else
			free(s->excluded[i].reason);
	}
	s->n_excluded = w;
}

static void
stop_bundle_instances(struct udkd *d, struct service *s, void *data)
{
	struct bundle *b = data;

	if (s->istate != INST_NONE && s->personality && s->personality->bundle == b && s->state != SVC_TERMINATED)
		service_terminate(d, s, "restarted by request");
}

int
launcher_restart_bundle(struct udkd *d, struct bundle *b)
{
	b->disabled = false;
	free(b->disabled_reason);
	b->disabled_reason = NULL;
	b->crashes_consecutive = 0;
	registry_walk(d, clear_exclusions, b);
	registry_walk(d, stop_bundle_instances, b);
	/* providers rematch as the old processes exit; free ones now */
	match_all(d);
	return 0;
}

static bool
drivers_left(struct udkd *d)
{
	for (struct driver_proc *p = d->procs; p; p = p->next)
		if (p->kind != PROC_KIND_MODEL)
			return true;
	return false;
}

void
launcher_fini(struct udkd *d)
{
	uint64_t deadline = now_ns() + d->cfg.stop_timeout_ms * 1000000ull;

	/* ask politely, then kill, then reap */
	for (struct driver_proc *p = d->procs; p; p = p->next)
		if (p->instance && p->state != PROC_DEAD && p->state != PROC_STOPPING)
			launcher_stop_instance(d, p->instance, "udkd is shutting down");
	/* drivers first (they may talk to their hardware while they stop), then the models */
	while (drivers_left(d) && now_ns() < deadline)
		loop_run_once(d->loop, 50);
	if (models_stop(d)) {
		uint64_t grace = now_ns() + 500000000ull;
		while (d->procs && now_ns() < grace)
			loop_run_once(d->loop, 20);
	}
	for (struct driver_proc *p = d->procs; p; p = p->next)
		proc_kill(d, p, NULL);
	deadline = now_ns() + 5000000000ull;
	while (d->procs && now_ns() < deadline)
		loop_run_once(d->loop, 50);
	/* rematches still pending hold their providers */
	for (size_t i = 0; i < d->reg.n_all; i++)
		launcher_cancel_rematch(d, d->reg.all[i]);
}
