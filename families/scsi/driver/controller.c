/* SPDX-License-Identifier: MIT */
/*
 * controller.c - SCSI controllers (IOUserSCSIParallelInterfaceController):
 * the family's half of an HBA driver.
 *
 * Tasks come from three places: the channels of peripheral drivers (one
 * per opened LUN, udkd hands them over with OP_SCSI_CONNECT), the task
 * user client (apps, udkctl scsi), and the family itself (the scan).
 * Every task is checked before the HBA sees it: a CDB of 1..16 bytes, a
 * LUN the scan found, data that fits the memory it names.  Up to
 * max_tasks run at once; more wait in order.  A thread per controller
 * reads the channels and, every 100 ms, looks for tasks past their
 * deadline: it asks the HBA to abort one, resets the LUN, then the target,
 * then the bus when the abort fails, and completes the task with
 * UDK_E_DEADLINE naming the CDB.
 *
 * Tasks are reference counted: the HBA's completion and the deadline may
 * race; whichever comes second finds the task done and does nothing.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "loop.h"
#include "private.h"
#include "scsi-driver.h"
#include "util.h"
#include "wire.h"

#define TICK_NS 100000000ull		/* deadline check interval */
#define MIN_TASKS 32
#define MAX_REGIONS 256
#define MAX_CHANNEL_TASKS 1024		/* queued + active per channel */

enum task_state { TS_QUEUED, TS_ACTIVE, TS_DONE };

struct region {
	struct region *next;
	uint64_t id;
	struct udk_memory_descriptor *md;
};

struct channel {
	struct channel *next;
	struct udk_scsi_controller *c;
	int refs;			/* the controller's list + tasks in flight */
	int fd;
	struct loop_source *src;
	pthread_mutex_t send_lock;
	uint64_t nub;
	uint64_t target, lun;
	pid_t client;
	char label[96];
	struct region *regions;		/* only touched on the controller's thread */
	unsigned n_regions;
	unsigned n_tasks;		/* under c->lock */
	bool closed;
};

struct lun_entry {
	struct lun_entry *next;
	uint64_t target, lun;
	struct udk_service *nub;	/* registered */
	struct udk_scsi_inquiry inq;
	char serial[96];
	char designator[96];
	bool seen;			/* in the scan running now */
};

struct udk_scsi_task {
	struct udk_scsi_task *prev, *next;	/* in the active or queued list */
	int refs;
	struct udk_scsi_controller *c;
	enum task_state state;
	bool aborting;
	uint64_t tag;
	uint8_t cdb[UDK_SCSI_CDB_MAX];
	size_t cdb_len;
	uint64_t target, lun;
	enum udk_scsi_direction dir;
	uint64_t requested;
	uint32_t timeout_ms;
	uint64_t deadline_ns;
	struct udk_memory_descriptor *md;	/* reference */
	uint64_t md_offset;
	void *hba;
	/* who hears about it */
	struct channel *ch;		/* reference */
	uint64_t peer_tag;
	scsi_local_fn cb;
	void *cb_ctx;
};

struct task_list {
	struct udk_scsi_task *head, *tail;
};

struct udk_scsi_controller {
	struct udk_scsi_controller *next;	/* in the process's list */
	struct udk_service *self;
	struct udk_scsi_controller_config cfg;
	struct udk_scsi_controller_ops ops;
	void *ctx;
	char description[128];

	pthread_mutex_t lock;		/* tasks, LUNs, channels, online */
	pthread_cond_t cond;
	struct task_list active, queued;
	unsigned n_active;
	uint64_t next_tag;
	bool online;
	char offline_reason[256];
	bool stopping;
	struct lun_entry *luns;
	struct channel *channels;
	uint64_t deadline_misses, resets;

	struct loop *loop;
	pthread_t thread;
	bool thread_started;
	struct loop_timer *tick;

	pthread_t scan_thread;
	bool scan_running, scan_joinable, rescan_wanted;
};

static pthread_mutex_t controllers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udk_scsi_controller *controllers;

#define HAS_OP(c, field)                                                                                       \
	((c)->ops.struct_size >= offsetof(struct udk_scsi_controller_ops, field) + sizeof((c)->ops.field) &&      \
	 (c)->ops.field)

/* ---- task lists ---- */

static void
list_append(struct task_list *l, struct udk_scsi_task *t)
{
	t->next = NULL;
	t->prev = l->tail;
	if (l->tail)
		l->tail->next = t;
	else
		l->head = t;
	l->tail = t;
}

static void
list_remove(struct task_list *l, struct udk_scsi_task *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		l->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		l->tail = t->prev;
	t->prev = t->next = NULL;
}

static void
channel_unref(struct channel *ch)
{
	if (!ch || __atomic_sub_fetch(&ch->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	while (ch->regions) {
		struct region *r = ch->regions;
		ch->regions = r->next;
		udk_memory_descriptor_unref(r->md);
		free(r);
	}
	if (ch->fd >= 0)
		close(ch->fd);
	pthread_mutex_destroy(&ch->send_lock);
	free(ch);
}

static void
task_unref(struct udk_scsi_task *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	udk_memory_descriptor_unref(t->md);
	channel_unref(t->ch);
	free(t);
}

void
scsi_done_fail(struct proto_scsi_done *d, int code, const char *reason)
{
	d->error = code;
	d->service_response = UDK_SCSI_SERVICE_RESPONSE_SERVICE_DELIVERY_OR_TARGET_FAILURE;
	d->status = 0;
	d->sense_length = 0;
	d->realized = 0;
	snprintf(d->reason, sizeof(d->reason), "%s", reason ? reason : udk_strerror(code));
	d->reason_length = (uint32_t)strlen(d->reason);
}

/* ---- completion ---- */

static void start_task(struct udk_scsi_task *t);

static void
deliver(struct udk_scsi_task *t, struct proto_scsi_done *d)
{
	d->tag = t->peer_tag;
	if (d->sense_length > sizeof(d->sense))
		d->sense_length = sizeof(d->sense);
	d->reason_length = (uint32_t)strnlen(d->reason, sizeof(d->reason) - 1);
	if (t->cb) {
		t->cb(d, t->cb_ctx);
		return;
	}
	if (t->ch) {
		struct channel *ch = t->ch;
		pthread_mutex_lock(&ch->send_lock);
		if (!ch->closed)
			wire_send(ch->fd, OP_SCSI_CH_DONE, WIRE_F_ONEWAY, 0, 0, d,
				  offsetof(struct proto_scsi_done, reason) + d->reason_length, NULL, 0);
		pthread_mutex_unlock(&ch->send_lock);
	}
}

/*
 * The task's one ending: deliver @d, free the slot, start the next queued
 * task.  -EALREADY when the task had ended already (a late completion).
 */
static int
finish(struct udk_scsi_task *t, struct proto_scsi_done *d)
{
	struct udk_scsi_controller *c = t->c;
	struct udk_scsi_task *next = NULL;

	pthread_mutex_lock(&c->lock);
	if (t->state == TS_DONE) {
		pthread_mutex_unlock(&c->lock);
		return -EALREADY;
	}
	if (t->state == TS_ACTIVE) {
		list_remove(&c->active, t);
		c->n_active--;
	} else {
		list_remove(&c->queued, t);
	}
	t->state = TS_DONE;
	if (t->ch)
		t->ch->n_tasks--;
	if (c->online && !c->stopping && c->n_active < c->cfg.max_tasks) {
		/* the first that waits still: one past its deadline is never started (the tick ends it) */
		for (next = c->queued.head; next && next->aborting; next = next->next)
			;
	}
	if (next) {
		list_remove(&c->queued, next);
		list_append(&c->active, next);
		next->state = TS_ACTIVE;
		c->n_active++;
		next->refs++;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	deliver(t, d);
	task_unref(t); /* the list's reference */
	if (next) {
		start_task(next);
		task_unref(next);
	}
	return 0;
}

static int
finish_error(struct udk_scsi_task *t, int code, const char *fmt, ...) UDK_PRINTF(3, 4);

static int
finish_error(struct udk_scsi_task *t, int code, const char *fmt, ...)
{
	struct proto_scsi_done d;
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	memset(&d, 0, offsetof(struct proto_scsi_done, sense));
	scsi_done_fail(&d, code, reason);
	return finish(t, &d);
}

UDK_EXPORT int
udk_scsi_task_complete(struct udk_scsi_task *t, enum udk_scsi_service_response sr, uint8_t status, const void *sense,
		       size_t sense_len, uint64_t realized)
{
	struct proto_scsi_done d;

	udk_return_val_if_fail(t, -EINVAL);
	memset(&d, 0, offsetof(struct proto_scsi_done, sense));
	d.service_response = sr;
	d.status = status;
	d.realized = realized > t->requested ? t->requested : realized;
	if (sense && sense_len) {
		d.sense_length = (uint32_t)MIN(sense_len, sizeof(d.sense));
		memcpy(d.sense, sense, d.sense_length);
	}
	d.reason[0] = 0;
	return finish(t, &d);
}

UDK_EXPORT int
udk_scsi_task_fail(struct udk_scsi_task *t, int code, const char *fmt, ...)
{
	char reason[256], cdb[96];
	va_list ap;

	udk_return_val_if_fail(t, -EINVAL);
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	udk_scsi_cdb_describe(t->cdb, t->cdb_len, cdb, sizeof(cdb));
	return finish_error(t, code < 0 ? code : -UDK_E_HARDWARE_GONE, "%s: %s", cdb, reason);
}

static void
start_task(struct udk_scsi_task *t)
{
	struct udk_scsi_controller *c = t->c;
	int r;

	udk_clear_reason();
	r = c->ops.process_task(c, t);
	if (r < 0) {
		char cdb[96];
		udk_scsi_cdb_describe(t->cdb, t->cdb_len, cdb, sizeof(cdb));
		finish_error(t, r, "the controller refused %s: %s", cdb,
			     udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	}
}

/* ---- task accessors ---- */

UDK_EXPORT const uint8_t *
udk_scsi_task_get_cdb(const struct udk_scsi_task *t, size_t *ret_len)
{
	if (ret_len)
		*ret_len = t ? t->cdb_len : 0;
	return t ? t->cdb : NULL;
}

UDK_EXPORT uint64_t
udk_scsi_task_get_target(const struct udk_scsi_task *t)
{
	return t ? t->target : 0;
}

UDK_EXPORT uint64_t
udk_scsi_task_get_lun(const struct udk_scsi_task *t)
{
	return t ? t->lun : 0;
}

UDK_EXPORT enum udk_scsi_direction
udk_scsi_task_get_direction(const struct udk_scsi_task *t)
{
	return t ? t->dir : UDK_SCSI_DATA_NONE;
}

UDK_EXPORT uint64_t
udk_scsi_task_get_requested_count(const struct udk_scsi_task *t)
{
	return t ? t->requested : 0;
}

UDK_EXPORT uint32_t
udk_scsi_task_get_timeout_ms(const struct udk_scsi_task *t)
{
	return t ? t->timeout_ms : 0;
}

UDK_EXPORT uint64_t
udk_scsi_task_get_tag(const struct udk_scsi_task *t)
{
	return t ? t->tag : 0;
}

UDK_EXPORT struct udk_memory_descriptor *
udk_scsi_task_get_memory(const struct udk_scsi_task *t, uint64_t *ret_offset)
{
	if (ret_offset)
		*ret_offset = t && t->md ? t->md_offset : 0;
	return t ? t->md : NULL;
}

UDK_EXPORT void *
udk_scsi_task_get_buffer(const struct udk_scsi_task *t)
{
	void *addr = NULL;
	uint64_t len = 0;

	if (!t || !t->md || udk_memory_descriptor_map(t->md, &addr, &len) < 0)
		return NULL;
	return (uint8_t *)addr + t->md_offset;
}

UDK_EXPORT void
udk_scsi_task_set_hba_data(struct udk_scsi_task *t, void *data)
{
	if (t)
		t->hba = data;
}

UDK_EXPORT void *
udk_scsi_task_get_hba_data(const struct udk_scsi_task *t)
{
	return t ? t->hba : NULL;
}

/* ---- submitting ---- */

static struct lun_entry *
lun_find(struct udk_scsi_controller *c, uint64_t target, uint64_t lun)
{
	for (struct lun_entry *e = c->luns; e; e = e->next)
		if (e->target == target && e->lun == lun)
			return e;
	return NULL;
}

static char *
lun_list(struct udk_scsi_controller *c, uint64_t target)
{
	char buf[200];
	size_t at = 0;

	buf[0] = 0;
	for (struct lun_entry *e = c->luns; e && at < sizeof(buf) - 24; e = e->next)
		if (e->target == target)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%llu", at ? ", " : "",
					       (unsigned long long)e->lun);
	return strdup(at ? buf : "none");
}

/*
 * Check and enqueue @t (refs: 1 for the caller).  The checks the family
 * makes before any HBA sees a task.  Returns 0, or a refusal (reason set;
 * the task was not taken).
 */
static int
submit(struct udk_scsi_controller *c, struct udk_scsi_task *t, bool check_lun)
{
	bool run = false;
	int r = 0;

	if (t->cdb_len == 0 || t->cdb_len > UDK_SCSI_CDB_MAX)
		return udk_set_reason(-EMSGSIZE, "a CDB is 1..16 bytes; this one is %zu (refused before the controller "
						 "saw it)",
				      t->cdb_len);
	if (t->dir > UDK_SCSI_DATA_TO_TARGET)
		return udk_set_reason(-EINVAL, "direction %u is not NONE, FROM_TARGET or TO_TARGET", t->dir);
	if (t->dir == UDK_SCSI_DATA_NONE && t->requested)
		return udk_set_reason(-EINVAL, "a task without a data direction cannot move %llu bytes",
				      (unsigned long long)t->requested);
	if (t->requested) {
		uint64_t have = t->md ? udk_memory_descriptor_get_length(t->md) : 0;
		uint32_t mdir = t->md ? udk_memory_descriptor_get_direction(t->md) : 0;
		if (!t->md || t->md_offset > have || have - t->md_offset < t->requested)
			return udk_set_reason(-UDK_E_BAD_ADDRESS,
					      "the buffer holds %llu bytes from offset %llu, fewer than the %llu requested "
					      "(refused before the controller saw it)",
					      (unsigned long long)(have > t->md_offset ? have - t->md_offset : 0),
					      (unsigned long long)t->md_offset, (unsigned long long)t->requested);
		if ((t->dir == UDK_SCSI_DATA_FROM_TARGET && !(mdir & UDK_MEMORY_DIRECTION_IN)) ||
		    (t->dir == UDK_SCSI_DATA_TO_TARGET && !(mdir & UDK_MEMORY_DIRECTION_OUT)))
			return udk_set_reason(-UDK_E_DIRECTION,
					      "the task %s its buffer, but the memory descriptor's direction does not "
					      "allow it",
					      t->dir == UDK_SCSI_DATA_FROM_TARGET ? "writes" : "reads");
	}
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		r = udk_set_reason(-UDK_E_TERMINATED, "the controller is stopping");
	} else if (!c->online) {
		r = udk_set_reason(-UDK_E_HARDWARE_GONE, "the controller cannot reach its targets: %s",
				   c->offline_reason);
	} else if (check_lun && !lun_find(c, t->target, t->lun)) {
		char *list = lun_list(c, t->target);
		r = udk_set_reason(-UDK_E_NO_SUCH_SERVICE,
				   "LUN %llu of target %llu does not exist on this controller (the scan found LUNs %s); "
				   "refused before the controller saw it",
				   (unsigned long long)t->lun, (unsigned long long)t->target, list ? list : "?");
		free(list);
	} else if (t->ch && t->ch->n_tasks >= MAX_CHANNEL_TASKS) {
		r = udk_set_reason(-EAGAIN, "more than %d tasks of this peripheral are waiting", MAX_CHANNEL_TASKS);
	}
	if (r < 0) {
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	t->c = c;
	t->tag = ++c->next_tag;
	if (!t->timeout_ms)
		t->timeout_ms = c->cfg.default_timeout_ms;
	t->deadline_ns = now_ns() + (uint64_t)t->timeout_ms * 1000000ull;
	t->refs++; /* the list's */
	if (t->ch)
		t->ch->n_tasks++;
	if (c->n_active < c->cfg.max_tasks && !c->queued.head) {
		list_append(&c->active, t);
		t->state = TS_ACTIVE;
		c->n_active++;
		run = true;
	} else {
		list_append(&c->queued, t);
		t->state = TS_QUEUED;
	}
	pthread_mutex_unlock(&c->lock);
	if (run)
		start_task(t);
	return 0;
}

static struct udk_scsi_task *
task_new(uint64_t target, uint64_t lun, const uint8_t *cdb, size_t cdb_len, enum udk_scsi_direction dir,
	 struct udk_memory_descriptor *md, uint64_t md_offset, uint64_t requested, uint32_t timeout_ms)
{
	struct udk_scsi_task *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->refs = 1;
	t->target = target;
	t->lun = lun;
	t->cdb_len = cdb_len;
	memcpy(t->cdb, cdb, MIN(cdb_len, sizeof(t->cdb)));
	t->dir = dir;
	t->md = md ? udk_memory_descriptor_ref(md) : NULL;
	t->md_offset = md_offset;
	t->requested = requested;
	t->timeout_ms = timeout_ms;
	return t;
}

int
scsi_controller_submit_local(struct udk_scsi_controller *c, uint64_t target, uint64_t lun, bool check_lun,
			     const uint8_t *cdb, size_t cdb_len, enum udk_scsi_direction dir,
			     struct udk_memory_descriptor *md, uint64_t md_offset, uint64_t requested, uint32_t timeout_ms,
			     scsi_local_fn cb, void *ctx)
{
	struct udk_scsi_task *t;
	int r;

	if (cdb_len > UDK_SCSI_CDB_MAX)
		return udk_set_reason(-EMSGSIZE, "a CDB is 1..16 bytes; this one is %zu (refused before the controller "
						 "saw it)",
				      cdb_len);
	t = task_new(target, lun, cdb, cdb_len, dir, md, md_offset, requested, timeout_ms);
	if (!t)
		return -ENOMEM;
	t->cb = cb;
	t->cb_ctx = ctx;
	r = submit(c, t, check_lun);
	task_unref(t);
	return r;
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	struct proto_scsi_done *d;
};

static void
wake(const struct proto_scsi_done *d, void *ctx)
{
	struct waiter *w = ctx;

	pthread_mutex_lock(&w->lock);
	*w->d = *d;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
scsi_controller_exec(struct udk_scsi_controller *c, uint64_t target, uint64_t lun, bool check_lun,
		     const uint8_t *cdb, size_t cdb_len, enum udk_scsi_direction dir, struct udk_memory_descriptor *md,
		     uint64_t requested, uint32_t timeout_ms, struct proto_scsi_done *ret)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, ret };
	int r = scsi_controller_submit_local(c, target, lun, check_lun, cdb, cdb_len, dir, md, 0, requested, timeout_ms,
					     wake, &w);

	if (r < 0)
		return r;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	return 0;
}

/* ---- deadlines ---- */

static const char *
reset_name(enum udk_scsi_reset_kind k)
{
	return k == UDK_SCSI_RESET_LUN ? "LUN reset" : k == UDK_SCSI_RESET_TARGET ? "target reset" : "bus reset";
}

/* Complete every active task of the scope that the reset dropped. */
static void
reset_scope_done(struct udk_scsi_controller *c, enum udk_scsi_reset_kind k, uint64_t target, uint64_t lun,
		 struct udk_scsi_task *cause, const char *cause_cdb)
{
	for (;;) {
		struct udk_scsi_task *victim = NULL;
		pthread_mutex_lock(&c->lock);
		for (struct udk_scsi_task *t = c->active.head; t; t = t->next)
			if (t != cause && (k == UDK_SCSI_RESET_BUS || (t->target == target &&
								       (k == UDK_SCSI_RESET_TARGET || t->lun == lun)))) {
				victim = t;
				victim->refs++;
				break;
			}
		pthread_mutex_unlock(&c->lock);
		if (!victim)
			return;
		finish_error(victim, -ECANCELED, "the task was dropped by a %s after %s missed its deadline",
			     reset_name(k), cause_cdb);
		task_unref(victim);
	}
}

static void
expire(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	char cdb[96], how[160];
	int r = -EOPNOTSUPP;

	pthread_mutex_lock(&c->lock);
	if (t->state == TS_DONE) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_unlock(&c->lock);
	udk_scsi_cdb_describe(t->cdb, t->cdb_len, cdb, sizeof(cdb));
	__atomic_add_fetch(&c->deadline_misses, 1, __ATOMIC_RELAXED);
	if (HAS_OP(c, abort_task)) {
		udk_clear_reason();
		r = c->ops.abort_task(c, t);
	}
	if (r >= 0) {
		snprintf(how, sizeof(how), "the task was aborted");
	} else {
		static const enum udk_scsi_reset_kind ladder[] = { UDK_SCSI_RESET_LUN, UDK_SCSI_RESET_TARGET,
								   UDK_SCSI_RESET_BUS };
		snprintf(how, sizeof(how), "the abort failed and no reset worked");
		for (size_t i = 0; i < 3 && HAS_OP(c, reset); i++) {
			udk_clear_reason();
			if (c->ops.reset(c, ladder[i], t->target, t->lun) >= 0) {
				__atomic_add_fetch(&c->resets, 1, __ATOMIC_RELAXED);
				udk_log_warning("SCSI %s of target %llu LUN %llu after %s missed its %u ms deadline",
						reset_name(ladder[i]), (unsigned long long)t->target,
						(unsigned long long)t->lun, cdb, t->timeout_ms);
				snprintf(how, sizeof(how), "the abort failed, so the controller did a %s",
					 reset_name(ladder[i]));
				reset_scope_done(c, ladder[i], t->target, t->lun, t, cdb);
				break;
			}
		}
	}
	finish_error(t, -UDK_E_DEADLINE, "target %llu LUN %llu did not complete %s within %u ms; %s",
		     (unsigned long long)t->target, (unsigned long long)t->lun, cdb, t->timeout_ms, how);
}

static void
tick(struct loop *l, void *data)
{
	struct udk_scsi_controller *c = data;
	struct udk_scsi_task *late[64];
	size_t n = 0;
	uint64_t now = now_ns();

	c->tick = NULL;
	pthread_mutex_lock(&c->lock);
	for (struct udk_scsi_task *t = c->active.head; t && n < 64; t = t->next)
		if (!t->aborting && now >= t->deadline_ns) {
			t->aborting = true;
			t->refs++;
			late[n++] = t;
		}
	for (struct udk_scsi_task *t = c->queued.head; t && n < 64; t = t->next)
		if (now >= t->deadline_ns && !t->aborting) {
			t->aborting = true;
			t->refs++;
			late[n++] = t;
		}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		enum task_state st;
		pthread_mutex_lock(&c->lock);
		st = late[i]->state;
		pthread_mutex_unlock(&c->lock);
		if (st == TS_QUEUED) {
			char cdb[96];
			udk_scsi_cdb_describe(late[i]->cdb, late[i]->cdb_len, cdb, sizeof(cdb));
			finish_error(late[i], -UDK_E_DEADLINE,
				     "%s waited %u ms for one of the controller's %u task slots and never started",
				     cdb, late[i]->timeout_ms, c->cfg.max_tasks);
		} else {
			expire(c, late[i]);
		}
		task_unref(late[i]);
	}
	if (!loop_quitting(l))
		loop_add_timer(l, now_ns() + TICK_NS, tick, c, &c->tick);
}

/* ---- channels ---- */

static struct region *
region_find(struct channel *ch, uint64_t id)
{
	for (struct region *r = ch->regions; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void
channel_done_now(struct channel *ch, uint64_t tag, int code, const char *reason)
{
	struct proto_scsi_done d;

	memset(&d, 0, offsetof(struct proto_scsi_done, sense));
	scsi_done_fail(&d, code, reason);
	d.tag = tag;
	pthread_mutex_lock(&ch->send_lock);
	if (!ch->closed)
		wire_send(ch->fd, OP_SCSI_CH_DONE, WIRE_F_ONEWAY, 0, 0, &d,
			  offsetof(struct proto_scsi_done, reason) + d.reason_length, NULL, 0);
	pthread_mutex_unlock(&ch->send_lock);
}

static void
channel_task(struct channel *ch, struct wire_msg *m)
{
	struct proto_scsi_task pt;
	struct udk_memory_descriptor *md = NULL;
	struct udk_scsi_task *t;
	uint64_t off = 0;
	int r;

	if (m->len != sizeof(pt)) {
		channel_done_now(ch, 0, -UDK_E_PROTOCOL, "a task message of the wrong size");
		return;
	}
	memcpy(&pt, m->payload, sizeof(pt));
	if (pt.cdb_length > UDK_SCSI_CDB_MAX || !pt.cdb_length) {
		char why[160];
		snprintf(why, sizeof(why), "a CDB is 1..16 bytes; this one is %u (refused before the controller saw it)",
			 pt.cdb_length);
		channel_done_now(ch, pt.tag, -EMSGSIZE, why);
		return;
	}
	if (pt.flags & PROTO_SCSI_TASK_FD) {
		int fd = wire_msg_take_fd(m, 0);
		struct stat st;
		uint32_t mdir = pt.direction == UDK_SCSI_DATA_FROM_TARGET ? UDK_MEMORY_DIRECTION_IN
									   : UDK_MEMORY_DIRECTION_OUT;
		if (fd < 0 || fstat(fd, &st) < 0 || pt.offset > (uint64_t)st.st_size ||
		    pt.requested > (uint64_t)st.st_size - pt.offset || !pt.requested) {
			if (fd >= 0)
				close(fd);
			channel_done_now(ch, pt.tag, -UDK_E_BAD_ADDRESS,
					 "the memory sent with the task is smaller than the requested count");
			return;
		}
		r = md_from_fd(fd, pt.offset, pt.requested, mdir, true, &md);
		if (r < 0) {
			close(fd);
			channel_done_now(ch, pt.tag, r, "cannot map the memory sent with the task");
			return;
		}
	} else if (pt.region) {
		struct region *rg = region_find(ch, pt.region);
		if (!rg) {
			channel_done_now(ch, pt.tag, -UDK_E_BAD_ADDRESS, "the task names memory that was never registered");
			return;
		}
		md = udk_memory_descriptor_ref(rg->md);
		off = pt.offset;
	}
	t = task_new(ch->target, ch->lun, pt.cdb, pt.cdb_length, (enum udk_scsi_direction)pt.direction, md, off,
		     pt.requested, pt.timeout_ms);
	udk_memory_descriptor_unref(md);
	if (!t) {
		channel_done_now(ch, pt.tag, -ENOMEM, "out of memory");
		return;
	}
	t->ch = ch;
	__atomic_add_fetch(&ch->refs, 1, __ATOMIC_RELAXED);
	t->peer_tag = pt.tag;
	udk_clear_reason();
	r = submit(ch->c, t, true);
	if (r < 0)
		channel_done_now(ch, pt.tag, r, udk_error_reason());
	task_unref(t);
}

static void
channel_abort(struct channel *ch, struct wire_msg *m)
{
	struct udk_scsi_controller *c = ch->c;
	struct proto_scsi_abort a;
	struct udk_scsi_task *t = NULL;

	if (m->len != sizeof(a))
		return;
	memcpy(&a, m->payload, sizeof(a));
	pthread_mutex_lock(&c->lock);
	for (struct udk_scsi_task *x = c->active.head; x && !t; x = x->next)
		if (x->ch == ch && x->peer_tag == a.tag && !x->aborting)
			t = x;
	for (struct udk_scsi_task *x = c->queued.head; x && !t; x = x->next)
		if (x->ch == ch && x->peer_tag == a.tag && !x->aborting)
			t = x;
	if (t) {
		t->aborting = true;
		t->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	if (!t)
		return;
	if (t->state == TS_QUEUED || !HAS_OP(c, abort_task) || c->ops.abort_task(c, t) >= 0)
		finish_error(t, -ECANCELED, "the peripheral aborted the task");
	else
		t->aborting = false; /* it runs on; the deadline still applies */
	task_unref(t);
}

static void
channel_region(struct channel *ch, struct wire_msg *m, bool add)
{
	struct proto_scsi_region rg;
	struct region *r;

	if (m->len != sizeof(rg))
		return;
	memcpy(&rg, m->payload, sizeof(rg));
	if (!add) {
		for (struct region **pp = &ch->regions; *pp; pp = &(*pp)->next)
			if ((*pp)->id == rg.id) {
				r = *pp;
				*pp = r->next;
				ch->n_regions--;
				if (HAS_OP(ch->c, memory_released))
					ch->c->ops.memory_released(ch->c, r->md);
				udk_memory_descriptor_unref(r->md);
				free(r);
				break;
			}
		return;
	}
	{
		int fd = wire_msg_take_fd(m, 0);
		struct stat st;
		struct udk_memory_descriptor *md = NULL;
		if (fd < 0 || !rg.id || region_find(ch, rg.id) || ch->n_regions >= MAX_REGIONS || fstat(fd, &st) < 0 ||
		    rg.offset > (uint64_t)st.st_size || rg.length > (uint64_t)st.st_size - rg.offset || !rg.length ||
		    rg.direction < 1 || rg.direction > 3 || md_from_fd(fd, rg.offset, rg.length, rg.direction, true, &md) < 0) {
			if (fd >= 0)
				close(fd);
			udk_log_warning("SCSI peripheral %s registered unusable memory (id %llu); ignored", ch->label,
					(unsigned long long)rg.id);
			return;
		}
		r = calloc(1, sizeof(*r));
		if (!r) {
			udk_memory_descriptor_unref(md);
			return;
		}
		r->id = rg.id;
		r->md = md;
		r->next = ch->regions;
		ch->regions = r;
		ch->n_regions++;
	}
}

static void
channel_close(struct channel *ch)
{
	struct udk_scsi_controller *c = ch->c;

	loop_source_remove(ch->src);
	ch->src = NULL;
	pthread_mutex_lock(&ch->send_lock);
	ch->closed = true;
	pthread_mutex_unlock(&ch->send_lock);
	pthread_mutex_lock(&c->lock);
	for (struct channel **pp = &c->channels; *pp; pp = &(*pp)->next)
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	for (struct region *r = ch->regions; r; r = r->next)
		if (HAS_OP(c, memory_released))
			c->ops.memory_released(c, r->md);
	channel_unref(ch);
}

static void
on_channel(struct loop *l, int fd, uint32_t events, void *data)
{
	struct channel *ch = data;

	(void)l;
	(void)events;
	for (int i = 0; i < 128; i++) {
		struct wire_msg m;
		int r = wire_recv(fd, &m, true);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			if (r == -EBADMSG) {
				udk_log_warning("SCSI peripheral %s sent a malformed message: %s; closing its channel",
						ch->label, udk_error_reason() ? udk_error_reason() : "?");
			}
			channel_close(ch);
			return;
		}
		switch (m.h.op) {
		case OP_SCSI_CH_TASK:
			channel_task(ch, &m);
			break;
		case OP_SCSI_CH_ABORT:
			channel_abort(ch, &m);
			break;
		case OP_SCSI_CH_REGION:
			channel_region(ch, &m, true);
			break;
		case OP_SCSI_CH_UNREGION:
			channel_region(ch, &m, false);
			break;
		default:
			break;
		}
		wire_msg_clear(&m);
	}
}

struct connect_req {
	struct udk_scsi_controller *c;
	struct channel *ch;
};

static void
add_channel(struct loop *l, void *data)
{
	struct connect_req *cr = data;
	struct channel *ch = cr->ch;

	free(cr);
	fd_set_nonblock(ch->fd, true);
	if (loop_add_fd(l, ch->fd, EPOLLIN, on_channel, ch, &ch->src) < 0)
		channel_close(ch);
}

/* OP_SCSI_CONNECT from udkd, on the runtime's I/O thread. */
static void
on_udkd_request(struct wire_msg *m)
{
	uint64_t nub = udk_value_get_uint(udk_dict_get(m->body, "nub"), 0);
	struct udk_scsi_controller *found = NULL;
	struct lun_entry *e = NULL;
	struct channel *ch;
	struct connect_req *cr;
	int fd;

	if (m->h.op != OP_SCSI_CONNECT) {
		if (!(m->h.flags & WIRE_F_ONEWAY)) {
			struct udk_value *b = udk_value_new_dict();
			udk_dict_set_string(b, "reason", "the SCSI driver library does not know this request");
			rt_reply(m->h.op, m->h.serial, -EOPNOTSUPP, b);
			udk_value_unref(b);
		}
		wire_msg_clear(m);
		return;
	}
	pthread_mutex_lock(&controllers_lock);
	for (struct udk_scsi_controller *c = controllers; c && !found; c = c->next) {
		pthread_mutex_lock(&c->lock);
		for (e = c->luns; e; e = e->next)
			if (e->nub && udk_service_get_id(e->nub) == nub)
				break;
		if (e && !c->stopping)
			found = c;
		pthread_mutex_unlock(&c->lock);
	}
	fd = wire_msg_take_fd(m, 0);
	ch = found && fd >= 0 ? calloc(1, sizeof(*ch)) : NULL;
	cr = ch ? calloc(1, sizeof(*cr)) : NULL;
	if (!cr) {
		struct udk_value *b = udk_value_new_dict();
		pthread_mutex_unlock(&controllers_lock);
		udk_dict_set_string(b, "reason", found ? "out of memory" : "this controller has no such LUN any more");
		rt_reply(m->h.op, m->h.serial, found ? -ENOMEM : -UDK_E_NO_SUCH_SERVICE, b);
		udk_value_unref(b);
		if (fd >= 0)
			close(fd);
		free(ch);
		wire_msg_clear(m);
		return;
	}
	ch->refs = 1;
	ch->c = found;
	ch->fd = fd;
	pthread_mutex_init(&ch->send_lock, NULL);
	ch->nub = nub;
	ch->target = e->target;
	ch->lun = e->lun;
	ch->client = (pid_t)udk_dict_get_int(m->body, "client", 0);
	snprintf(ch->label, sizeof(ch->label), "%s (pid %d)",
		 udk_dict_get_string(m->body, "label") ? udk_dict_get_string(m->body, "label") : "?", ch->client);
	pthread_mutex_lock(&found->lock);
	ch->next = found->channels;
	found->channels = ch;
	pthread_mutex_unlock(&found->lock);
	cr->c = found;
	cr->ch = ch;
	loop_post(found->loop, add_channel, cr);
	pthread_mutex_unlock(&controllers_lock);
	rt_reply(m->h.op, m->h.serial, 0, NULL);
	wire_msg_clear(m);
}

/* ---- the scan ---- */

struct scan_buf {
	struct udk_buffer *buf;
	struct udk_memory_descriptor *md;
	uint8_t *p;
};

static int
scan_cmd(struct udk_scsi_controller *c, uint64_t target, uint64_t lun, const uint8_t *cdb, size_t len,
	 struct scan_buf *sb, uint32_t alloc, struct proto_scsi_done *d)
{
	int r;

	memset(sb->p, 0, 4096);
	r = scsi_controller_exec(c, target, lun, false, cdb, len, alloc ? UDK_SCSI_DATA_FROM_TARGET : UDK_SCSI_DATA_NONE,
				 alloc ? sb->md : NULL, alloc, 10000, d);
	if (r < 0)
		return r;
	if (d->error)
		return d->error;
	return 0;
}

static bool
good_status(const struct proto_scsi_done *d)
{
	return !d->error && d->service_response == UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE && d->status == 0;
}

static bool
is_unit_attention(const struct proto_scsi_done *d)
{
	struct udk_scsi_sense s;

	return d->status == UDK_SCSI_STATUS_CHECK_CONDITION &&
	       udk_scsi_sense_decode(d->sense, d->sense_length, &s) == 0 && s.valid &&
	       s.sense_key == UDK_SCSI_SENSE_UNIT_ATTENTION;
}

/* The LUNs of @target: REPORT LUNS, or probing 0..max_luns-1 when refused. */
static size_t
target_luns(struct udk_scsi_controller *c, uint64_t target, struct scan_buf *sb, uint64_t *luns, size_t cap)
{
	uint8_t cdb[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 };
	struct proto_scsi_done d;
	size_t n = 0;

	for (int attempt = 0; attempt < 4; attempt++) {
		if (scan_cmd(c, target, 0, cdb, sizeof(cdb), sb, 4096, &d) < 0 && d.error)
			return 0; /* no target there */
		if (good_status(&d)) {
			size_t total = 0;
			int k = udk_scsi_report_luns_decode(sb->p, d.realized, luns, cap, &total);
			return k > 0 ? (size_t)k : 0;
		}
		if (!is_unit_attention(&d))
			break;
	}
	for (uint64_t l = 0; l < c->cfg.max_luns && n < cap; l++)
		luns[n++] = l;
	return n;
}

static struct udk_value *
nub_props(struct udk_scsi_controller *c, const struct lun_entry *e)
{
	struct udk_value *p = udk_value_new_dict();

	udk_dict_set_int(p, "Peripheral Device Type", e->inq.device_type);
	udk_dict_set_string(p, "Vendor Identification", e->inq.vendor);
	udk_dict_set_string(p, "Product Identification", e->inq.product);
	udk_dict_set_string(p, "Product Revision Level", e->inq.revision);
	udk_dict_set_uint(p, "SCSI Target Identifier", e->target);
	udk_dict_set_uint(p, "SCSI Logical Unit Number", e->lun);
	udk_dict_set_string(p, "UDKSCSIDeviceTypeName", udk_scsi_device_type_name(e->inq.device_type));
	if (e->serial[0])
		udk_dict_set_string(p, "SCSI Unit Serial Number", e->serial);
	if (e->designator[0])
		udk_dict_set_string(p, "SCSI Device Identifier", e->designator);
	udk_dict_set_string(p, "UDKSCSIController", c->description);
	udk_dict_set_bool(p, "Removable Media", e->inq.removable);
	return p;
}

static void
probe_lun(struct udk_scsi_controller *c, uint64_t target, uint64_t lun, struct scan_buf *sb)
{
	uint8_t inq[6] = { 0x12, 0, 0, 0, 96, 0 };
	uint8_t tur[6] = { 0 };
	struct proto_scsi_done d;
	struct udk_scsi_inquiry id;
	struct lun_entry *e;
	char serial[96] = "", designator[96] = "";
	bool ready = false;

	if (scan_cmd(c, target, lun, inq, sizeof(inq), sb, 96, &d) < 0 || !good_status(&d))
		return;
	if (udk_scsi_inquiry_decode(sb->p, d.realized, &id) < 0 || id.peripheral_qualifier != 0 || id.device_type == 0x1f)
		return;
	/* TEST UNIT READY: a UNIT ATTENTION after power on or reset is expected, once */
	for (int attempt = 0; attempt < 5 && !ready; attempt++) {
		if (scan_cmd(c, target, lun, tur, sizeof(tur), sb, 0, &d) < 0 && d.error)
			break;
		if (good_status(&d))
			ready = true;
		else if (!is_unit_attention(&d))
			break;
	}
	/* identity pages, when the LU has them */
	{
		uint8_t vpd0[6] = { 0x12, 1, 0x00, 0, 255, 0 }, pages[64];
		size_t n = 0;
		if (scan_cmd(c, target, lun, vpd0, sizeof(vpd0), sb, 255, &d) == 0 && good_status(&d) &&
		    udk_scsi_vpd_supported_decode(sb->p, d.realized, pages, sizeof(pages), &n) == 0) {
			for (size_t i = 0; i < n && i < sizeof(pages); i++) {
				uint8_t vpd[6] = { 0x12, 1, pages[i], 0, 255, 0 };
				if (pages[i] != 0x80 && pages[i] != 0x83)
					continue;
				if (scan_cmd(c, target, lun, vpd, sizeof(vpd), sb, 255, &d) < 0 || !good_status(&d))
					continue;
				if (pages[i] == 0x80)
					udk_scsi_vpd_serial_decode(sb->p, d.realized, serial, sizeof(serial));
				else
					udk_scsi_vpd_designator_decode(sb->p, d.realized, designator, sizeof(designator));
			}
		}
	}
	pthread_mutex_lock(&c->lock);
	e = lun_find(c, target, lun);
	if (e && (strcmp(e->inq.vendor, id.vendor) || strcmp(e->inq.product, id.product) || strcmp(e->serial, serial) ||
		  e->inq.device_type != id.device_type)) {
		/* another device answers there now: retire the old nub */
		e->seen = false;
		e = NULL;
	}
	if (e) {
		e->seen = true;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	e->target = target;
	e->lun = lun;
	e->inq = id;
	e->seen = true;
	snprintf(e->serial, sizeof(e->serial), "%s", serial);
	snprintf(e->designator, sizeof(e->designator), "%s", designator);
	e->next = c->luns;
	c->luns = e;
	pthread_mutex_unlock(&c->lock);
	{
		static const char *const classes[] = { "IOSCSIPeripheralDeviceNub", "IOService", NULL };
		struct udk_value *props = nub_props(c, e);
		struct udk_service *nub = NULL;
		char name[64];
		int r;
		snprintf(name, sizeof(name), "Target%llu-LUN%llu", (unsigned long long)target, (unsigned long long)lun);
		r = udk_service_create_child(c->self, name, classes, props, &nub);
		udk_value_unref(props);
		if (r >= 0) {
			pthread_mutex_lock(&c->lock);
			e->nub = nub;
			pthread_mutex_unlock(&c->lock);
			r = udk_service_register(nub);
		}
		if (r < 0)
			udk_log_error("cannot publish SCSI target %llu LUN %llu: %s", (unsigned long long)target,
				      (unsigned long long)lun, udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		else
			udk_log_info("SCSI target %llu LUN %llu: %s \"%s\" \"%s\" \"%s\"%s%s%s",
				     (unsigned long long)target, (unsigned long long)lun,
				     udk_scsi_device_type_name(id.device_type), id.vendor, id.product, id.revision,
				     serial[0] ? ", serial " : "", serial, ready ? "" : ", not ready");
	}
}

static void *
scan_main(void *data)
{
	struct udk_scsi_controller *c = data;
	struct scan_buf sb = { 0 };

	pthread_setname_np(pthread_self(), "scsi-scan");
	if (udk_buffer_create(4096, 0, &sb.buf) < 0 ||
	    udk_memory_descriptor_from_buffer(sb.buf, UDK_MEMORY_DIRECTION_INOUT, &sb.md) < 0)
		goto out;
	sb.p = udk_buffer_get_address(sb.buf);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		c->rescan_wanted = false;
		for (struct lun_entry *e = c->luns; e; e = e->next)
			e->seen = false;
		pthread_mutex_unlock(&c->lock);
		for (uint64_t target = 0; target <= c->cfg.max_target && !c->stopping; target++) {
			uint64_t luns[256];
			size_t n;
			if (c->cfg.initiator_id >= 0 && (uint64_t)c->cfg.initiator_id == target)
				continue;
			n = target_luns(c, target, &sb, luns, 256);
			for (size_t i = 0; i < n && !c->stopping; i++)
				if (!(luns[i] >> 63))
					probe_lun(c, target, luns[i], &sb);
		}
		/* LUNs that did not answer this time */
		for (;;) {
			struct lun_entry *gone = NULL;
			pthread_mutex_lock(&c->lock);
			for (struct lun_entry **pp = &c->luns; *pp; pp = &(*pp)->next)
				if (!(*pp)->seen) {
					gone = *pp;
					*pp = gone->next;
					break;
				}
			pthread_mutex_unlock(&c->lock);
			if (!gone)
				break;
			if (gone->nub) {
				udk_service_terminate(gone->nub);
				udk_service_unref(gone->nub);
			}
			free(gone);
		}
		pthread_mutex_lock(&c->lock);
		if (!c->rescan_wanted || c->stopping) {
			c->scan_running = false;
			pthread_cond_broadcast(&c->cond);
			pthread_mutex_unlock(&c->lock);
			break;
		}
		pthread_mutex_unlock(&c->lock);
	}
out:
	udk_memory_descriptor_unref(sb.md);
	udk_buffer_unref(sb.buf);
	pthread_mutex_lock(&c->lock);
	c->scan_running = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

UDK_EXPORT int
udk_scsi_controller_rescan(struct udk_scsi_controller *c)
{
	int r = 0;

	udk_return_val_if_fail(c, -EINVAL);
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		r = -UDK_E_TERMINATED;
	} else if (c->scan_running) {
		c->rescan_wanted = true;
	} else {
		if (c->scan_joinable) {
			pthread_mutex_unlock(&c->lock);
			pthread_join(c->scan_thread, NULL);
			pthread_mutex_lock(&c->lock);
			c->scan_joinable = false;
		}
		if (!c->scan_running) {
			c->scan_running = true;
			r = -pthread_create(&c->scan_thread, NULL, scan_main, c);
			if (r < 0)
				c->scan_running = false;
			else
				c->scan_joinable = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

UDK_EXPORT int
udk_scsi_controller_wait_scan(struct udk_scsi_controller *c, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	udk_return_val_if_fail(c, -EINVAL);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	while (c->scan_running && r == 0)
		r = timeout_ms < 0 ? pthread_cond_wait(&c->cond, &c->lock) : pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	pthread_mutex_unlock(&c->lock);
	return r ? -ETIMEDOUT : 0;
}

/* ---- the controller ---- */

static void *
loop_main(void *data)
{
	struct udk_scsi_controller *c = data;

	pthread_setname_np(pthread_self(), "scsi-ctl");
	loop_run(c->loop);
	return NULL;
}

UDK_EXPORT int
udk_scsi_controller_create(struct udk_service *self, const struct udk_scsi_controller_config *cfg,
			   const struct udk_scsi_controller_ops *ops, void *ctx, struct udk_scsi_controller **ret)
{
	struct udk_scsi_controller *c;
	int r;

	udk_return_val_if_fail(self && cfg && ops && ret, -EINVAL);
	if (!ops->struct_size || !ops->process_task)
		return udk_error_set(-EINVAL, "a SCSI controller needs a process_task operation");
	r = rt_set_family_handler(SCSI_OP_BASE, SCSI_OP_COUNT, on_udkd_request);
	if (r < 0)
		return udk_error_set(r, "cannot take the SCSI family's requests from udkd");
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->self = udk_service_ref(self);
	memcpy(&c->cfg, cfg, MIN(cfg->struct_size, sizeof(c->cfg)));
	memcpy(&c->ops, ops, MIN(ops->struct_size, sizeof(c->ops)));
	c->ops.struct_size = (uint32_t)MIN(ops->struct_size, sizeof(c->ops));
	if (c->cfg.max_tasks < MIN_TASKS)
		c->cfg.max_tasks = MIN_TASKS;
	if (!c->cfg.max_luns)
		c->cfg.max_luns = 8;
	if (!c->cfg.default_timeout_ms)
		c->cfg.default_timeout_ms = 30000;
	snprintf(c->description, sizeof(c->description), "%s",
		 cfg->struct_size > offsetof(struct udk_scsi_controller_config, description) && cfg->description
			 ? cfg->description
			 : udk_service_get_class(self));
	c->ctx = ctx;
	c->online = true;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	r = loop_new(&c->loop);
	if (r < 0)
		goto fail;
	if (HAS_OP(c, initialize) && (r = c->ops.initialize(c)) < 0)
		goto fail;
	if (HAS_OP(c, start) && (r = c->ops.start(c)) < 0)
		goto fail;
	loop_add_timer(c->loop, now_ns() + TICK_NS, tick, c, &c->tick);
	r = -pthread_create(&c->thread, NULL, loop_main, c);
	if (r < 0)
		goto fail;
	c->thread_started = true;
	pthread_mutex_lock(&controllers_lock);
	c->next = controllers;
	controllers = c;
	pthread_mutex_unlock(&controllers_lock);
	{
		struct udk_value *p = udk_value_new_dict();
		udk_dict_set_string(p, "UDKSCSIController", c->description);
		udk_dict_set_int(p, "UDKSCSIMaxTasks", c->cfg.max_tasks);
		udk_service_set_properties(self, p);
		udk_value_unref(p);
	}
	*ret = c;
	return udk_scsi_controller_rescan(c);
fail:
	if (c->loop)
		loop_free(c->loop);
	udk_service_unref(c->self);
	free(c);
	return r;
}

static void
quit_loop(struct loop *l, void *data)
{
	(void)data;
	loop_quit(l);
}

UDK_EXPORT void
udk_scsi_controller_destroy(struct udk_scsi_controller *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_mutex_unlock(&c->lock);
	if (c->scan_joinable)
		pthread_join(c->scan_thread, NULL);
	if (HAS_OP(c, stop))
		c->ops.stop(c);
	/* whatever the HBA still held is over */
	for (;;) {
		struct udk_scsi_task *t;
		pthread_mutex_lock(&c->lock);
		t = c->active.head ? c->active.head : c->queued.head;
		if (t)
			t->refs++;
		pthread_mutex_unlock(&c->lock);
		if (!t)
			break;
		finish_error(t, -UDK_E_TERMINATED, "the controller stopped");
		task_unref(t);
	}
	pthread_mutex_lock(&controllers_lock);
	for (struct udk_scsi_controller **pp = &controllers; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&controllers_lock);
	if (c->thread_started) {
		loop_post(c->loop, quit_loop, NULL);
		pthread_join(c->thread, NULL);
	}
	while (c->channels)
		channel_close(c->channels);
	while (c->luns) {
		struct lun_entry *e = c->luns;
		c->luns = e->next;
		udk_service_unref(e->nub);
		free(e);
	}
	loop_free(c->loop);
	udk_service_unref(c->self);
	free(c);
}

UDK_EXPORT void *
udk_scsi_controller_get_context(struct udk_scsi_controller *c)
{
	return c ? c->ctx : NULL;
}

UDK_EXPORT void
udk_scsi_controller_set_online(struct udk_scsi_controller *c, bool online, const char *reason)
{
	struct task_list drop = { NULL, NULL };

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->online != online)
		udk_log_notice("SCSI controller %s: %s%s%s", c->description, online ? "back online" : "offline",
			       reason ? ": " : "", reason ? reason : "");
	c->online = online;
	snprintf(c->offline_reason, sizeof(c->offline_reason), "%s", reason ? reason : "the path is down");
	if (!online) {
		drop = c->queued;
		for (struct udk_scsi_task *t = drop.head; t; t = t->next) {
			t->refs++;
			t->state = TS_ACTIVE; /* so finish() takes it off the right list */
		}
		/* move the waiting tasks to the active list for finish() */
		for (struct udk_scsi_task *t = drop.head, *n; t; t = n) {
			n = t->next;
			list_remove(&c->queued, t);
			list_append(&c->active, t);
			c->n_active++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (struct udk_scsi_task *t = drop.head, *n; t; t = n) {
		n = t->next;
		finish_error(t, -UDK_E_HARDWARE_GONE, "the controller lost its targets: %s", reason ? reason : "?");
		task_unref(t);
	}
}

struct udk_scsi_controller *
scsi_controller_for_service(struct udk_service *svc, uint64_t *ret_target, uint64_t *ret_lun, bool *ret_fixed)
{
	struct udk_scsi_controller *found = NULL;

	pthread_mutex_lock(&controllers_lock);
	for (struct udk_scsi_controller *c = controllers; c && !found; c = c->next) {
		if (c->self == svc || udk_service_get_id(c->self) == udk_service_get_id(svc)) {
			found = c;
			*ret_fixed = false;
			*ret_target = *ret_lun = 0;
			break;
		}
		pthread_mutex_lock(&c->lock);
		for (struct lun_entry *e = c->luns; e; e = e->next)
			if (e->nub && udk_service_get_id(e->nub) == udk_service_get_id(svc)) {
				found = c;
				*ret_fixed = true;
				*ret_target = e->target;
				*ret_lun = e->lun;
				break;
			}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&controllers_lock);
	return found;
}
