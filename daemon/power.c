/* SPDX-License-Identifier: MIT */
/*
 * power.c - power states, the power tree, system sleep and wake, idle
 * power-down, and the SetPowerState deadline.
 *
 * Only driver instances have power states here: they are the services a
 * process answers for.  An instance's power parent is the nearest driver
 * instance above it in the registry (e.g. a driver on a nub that a bus
 * driver published).  Its depth is the number of such ancestors.
 *
 *   system sleep   every instance goes to OFF (or LOW), deepest level
 *                  first; a level starts when the one below it is done
 *   system wake    every instance goes to ON, shallowest level first
 *   idle           an instance that is not busy for UDKIdleTimeoutMs goes
 *                  to LOW; an open, a busy mark or its own request brings
 *                  it back to ON
 *
 * Each SetPowerState has a deadline (UDKDeadlines.SetPowerState, else
 * --power-timeout-ms).  A driver that misses it is reported with the
 * state, the transition and the time waited, then killed; the crash
 * policy restarts it, and the transition goes on without it.  Instances
 * are told the system's state right after Start() returns, never before.
 */
#include "proto.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

#include <udk/driver.h>

#define MAX_TIMEOUTS 32

struct timeout_record {
	uint64_t when_ms;
	char driver[128];
	char path[192];
	int from, to;
	char kind[12];
	uint64_t waited_ms;
};

struct power_system {
	int state;			/* the system's: ON, or what sleep chose */
	uint64_t seq;
	/* the system transition in progress */
	bool active;
	int target;
	char kind[12];
	int level;			/* depth being processed */
	int max_depth;
	unsigned pending;		/* instances of this level not done */
	unsigned transitioned, timeouts_in_run;
	uint64_t started_ns;
	struct client *waiter;
	uint32_t waiter_serial;
	uint16_t waiter_op;
	/* history of deadline misses */
	struct timeout_record timeouts[MAX_TIMEOUTS];
	unsigned n_timeouts;
	unsigned timeouts_total;
};

const char *
power_state_name(int state)
{
	switch (state) {
	case UDK_POWER_OFF:
		return "off";
	case UDK_POWER_LOW:
		return "low";
	case UDK_POWER_ON:
		return "on";
	default:
		return "?";
	}
}

int
power_init(struct udkd *d)
{
	d->power = calloc(1, sizeof(*d->power));
	if (!d->power)
		return -ENOMEM;
	d->power->state = UDK_POWER_ON;
	return 0;
}

/* Cancel @s's idle timer and drop the reference the timer held. */
static void
idle_cancel(struct udkd *d, struct service *s)
{
	if (!s->pm || !s->pm->idle_timer)
		return;
	loop_timer_cancel(d->loop, s->pm->idle_timer);
	s->pm->idle_timer = NULL;
	service_unref(s);
}

static void
drop_pm(struct udkd *d, struct service *s, void *data)
{
	struct service_power *pm = s->pm;

	(void)data;
	if (!pm)
		return;
	idle_cancel(d, s);
	s->pm = NULL;
	free(pm);
}

void
power_fini(struct udkd *d)
{
	if (!d->power)
		return;
	registry_walk(d, drop_pm, NULL);
	client_unref(d->power->waiter);
	free(d->power);
	d->power = NULL;
}

static bool
is_instance(const struct service *s)
{
	return s->istate != INST_NONE && s->state != SVC_TERMINATED;
}

static int
depth_of(const struct service *s)
{
	int n = 0;

	for (const struct service *a = s->provider; a; a = a->provider)
		if (is_instance(a))
			n++;
	return n;
}

static void
record(struct udkd *d, struct service *s, int from, int to, const char *kind, const char *result, int code, uint64_t us,
       const char *reason)
{
	struct service_power *pm = s->pm;
	struct power_event *e;

	if (!pm)
		return;
	if (pm->n_history == POWER_HISTORY) {
		memmove(pm->history, pm->history + 1, (POWER_HISTORY - 1) * sizeof(*pm->history));
		pm->n_history--;
	}
	e = &pm->history[pm->n_history++];
	memset(e, 0, sizeof(*e));
	e->seq = ++d->power->seq;
	e->when_ms = wall_ms();
	e->from = from;
	e->to = to;
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->result, sizeof(e->result), "%s", result);
	e->elapsed_us = us;
	e->code = code;
	if (reason)
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

static void level_done_one(struct udkd *d, struct service *s);
static void send_request(struct udkd *d, struct service *s);

struct req_ctx {
	struct service *s;
};

static void
idle_arm(struct udkd *d, struct service *s);

static void
request_done(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	struct req_ctx *ctx = data;
	struct service *s = ctx->s;
	struct service_power *pm = s->pm;
	uint64_t us;
	int from;

	free(ctx);
	if (!pm || !pm->request_out) {
		service_unref(s);
		return;
	}
	pm->request_out = false;
	us = (now_ns() - pm->request_ns) / 1000;
	from = pm->state;
	if (status >= 0) {
		pm->state = pm->request_to;
		record(d, s, from, pm->request_to, pm->request_kind, "ok", 0, us, NULL);
		udkd_emit(d, UDKD_EV_POWER_CHANGED, s);
		log_debug(d, "%s: power %s -> %s (%s) in %.2f ms", s->name, power_state_name(from),
			  power_state_name(pm->request_to), pm->request_kind, (double)us / 1000);
	} else if (status == -UDK_E_DEADLINE) {
		struct power_system *ps = d->power;
		char *why = strdup_printf("did not acknowledge SetPowerState(%s -> %s) during %s within %llu ms "
					  "(it was %s, waiting for it since %.1f ms); killed, the crash policy "
					  "restarts it",
					  power_state_name(from), power_state_name(pm->request_to), pm->request_kind,
					  (unsigned long long)launcher_deadline(p, "SetPowerState",
									       d->cfg.power_timeout_ms),
					  power_state_name(from), (double)us / 1000);
		struct timeout_record *t;
		record(d, s, from, pm->request_to, pm->request_kind, "timeout", -UDK_E_POWER_TIMEOUT, us, why);
		udkd_log(d, UDK_LOG_ERROR, "power", "%s (%s on %s): %s", p->bundle ? p->bundle->identifier : "?",
			 s->name, s->provider ? s->provider->name : "?", why ? why : "");
		if (ps->n_timeouts == MAX_TIMEOUTS) {
			memmove(ps->timeouts, ps->timeouts + 1, (MAX_TIMEOUTS - 1) * sizeof(*ps->timeouts));
			ps->n_timeouts--;
		}
		t = &ps->timeouts[ps->n_timeouts++];
		memset(t, 0, sizeof(*t));
		t->when_ms = wall_ms();
		snprintf(t->driver, sizeof(t->driver), "%s", p->bundle ? p->bundle->identifier : "?");
		{
			char *path = service_path(s);
			snprintf(t->path, sizeof(t->path), "%s", path ? path : s->name);
			free(path);
		}
		t->from = from;
		t->to = pm->request_to;
		snprintf(t->kind, sizeof(t->kind), "%s", pm->request_kind);
		t->waited_ms = us / 1000;
		ps->timeouts_total++;
		if (ps->active)
			ps->timeouts_in_run++;
		free(s->fail_reason);
		s->fail_reason = strdup_printf("SetPowerState deadline: %s", why ? why : "");
		proc_kill_code(d, p, -UDK_E_POWER_TIMEOUT, "power: %s %s", s->name, why ? why : "");
		free(why);
		/* proc_dead() ends the instance and counts the level */
		service_unref(s);
		return;
	} else if (status == -UDK_E_DRIVER_DIED) {
		record(d, s, from, pm->request_to, pm->request_kind, "died", -UDK_E_DRIVER_DIED, us, "the process ended first");
		service_unref(s);
		return; /* power_instance_gone() counts it */
	} else {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : NULL;
		record(d, s, from, pm->request_to, pm->request_kind, "refused", status, us, why);
		udkd_log(d, UDK_LOG_WARNING, "power", "%s refused SetPowerState(%s -> %s): %s: %s; it stays %s", s->name,
			 power_state_name(from), power_state_name(pm->request_to), udk_error_name(status),
			 why ? why : "", power_state_name(from));
		pm->target = pm->state; /* do not insist */
	}
	if (pm->target != pm->state)
		send_request(d, s); /* the target moved meanwhile */
	else
		level_done_one(d, s);
	if (!pm->request_out)
		idle_arm(d, s);
	service_unref(s);
}

static void
send_request(struct udkd *d, struct service *s)
{
	struct service_power *pm = s->pm;
	struct driver_proc *p = s->owner;
	struct udk_value *body;
	struct req_ctx *ctx;
	int r;

	if (!pm || pm->request_out || pm->target == pm->state || !p || p->state != PROC_RUNNING)
		return;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return;
	ctx->s = service_ref(s);
	pm->request_out = true;
	pm->request_to = pm->target;
	pm->request_ns = now_ns();
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", s->id);
	udk_dict_set_int(body, "state", pm->target);
	udk_dict_set_int(body, "flags", 0);
	r = proc_request(d, p, OP_DRV_SET_POWER, body, NULL, 0,
			 launcher_deadline(p, "SetPowerState", d->cfg.power_timeout_ms), request_done, ctx);
	udk_value_unref(body);
	if (r < 0) {
		pm->request_out = false;
		service_unref(ctx->s);
		free(ctx);
	}
}

/* Move @s toward @state; returns true if a request is (now) outstanding. */
static bool
set_target(struct udkd *d, struct service *s, int state, const char *kind)
{
	struct service_power *pm = s->pm;

	if (!pm)
		return false;
	pm->target = state;
	if (!pm->request_out)
		snprintf(pm->request_kind, sizeof(pm->request_kind), "%s", kind);
	send_request(d, s);
	return pm->request_out;
}

/* ---- system transitions ---- */

struct level_walk {
	int level;
	int target;
	unsigned started;
	int max_depth;
};

static void
collect_depth(struct udkd *d, struct service *s, void *data)
{
	struct level_walk *w = data;

	(void)d;
	if (is_instance(s) && s->pm)
		w->max_depth = MAX(w->max_depth, depth_of(s));
}

static void
start_level_one(struct udkd *d, struct service *s, void *data)
{
	struct level_walk *w = data;

	if (!is_instance(s) || !s->pm || depth_of(s) != w->level)
		return;
	s->pm->in_level = false;
	if (s->pm->state == w->target && !s->pm->request_out) {
		s->pm->target = w->target;
		return;
	}
	idle_cancel(d, s);
	s->pm->idled = false;
	if (set_target(d, s, w->target, d->power->kind)) {
		s->pm->in_level = true;
		w->started++;
		d->power->transitioned++;
	}
}

static void finish_system(struct udkd *d);

/* Run levels until one has work outstanding, or all are done. */
static void
run_levels(struct udkd *d)
{
	struct power_system *ps = d->power;
	bool sleeping = ps->target < UDK_POWER_ON;

	while (ps->active && ps->pending == 0) {
		struct level_walk w = { .target = ps->target };
		if (sleeping ? ps->level < 0 : ps->level > ps->max_depth) {
			finish_system(d);
			return;
		}
		w.level = ps->level;
		registry_walk(d, start_level_one, &w);
		ps->pending = w.started;
		ps->level += sleeping ? -1 : 1;
	}
}

static void
level_done_one(struct udkd *d, struct service *s)
{
	struct power_system *ps = d->power;

	if (!s->pm || !s->pm->in_level)
		return;
	s->pm->in_level = false;
	if (ps->active && ps->pending > 0) {
		ps->pending--;
		run_levels(d);
	}
}

static void
finish_system(struct udkd *d)
{
	struct power_system *ps = d->power;
	uint64_t us = (now_ns() - ps->started_ns) / 1000;

	ps->active = false;
	ps->state = ps->target;
	log_notice(d, "system %s done: %u driver(s) changed state, %u missed the deadline, %.1f ms", ps->kind,
		   ps->transitioned, ps->timeouts_in_run, (double)us / 1000);
	if (ps->waiter) {
		struct udk_value *b = udk_value_new_dict();
		udk_dict_set_string(b, "system", power_state_name(ps->state));
		udk_dict_set_int(b, "transitioned", ps->transitioned);
		udk_dict_set_int(b, "timeouts", ps->timeouts_in_run);
		udk_dict_set_uint(b, "elapsed_us", us);
		client_reply(d, ps->waiter, ps->waiter_op, ps->waiter_serial, 0, NULL, b, NULL, 0);
		udk_value_unref(b);
		client_unref(ps->waiter);
		ps->waiter = NULL;
	}
}

static int
system_transition(struct udkd *d, int target, const char *kind, struct client *c, struct wire_msg *m)
{
	struct power_system *ps = d->power;
	struct level_walk w = { 0 };

	if (ps->active)
		return udk_set_reason(-UDK_E_BUSY, "a system %s is in progress; wait for it to finish", ps->kind);
	registry_walk(d, collect_depth, &w);
	ps->active = true;
	ps->target = target;
	snprintf(ps->kind, sizeof(ps->kind), "%s", kind);
	ps->max_depth = w.max_depth;
	ps->level = target < UDK_POWER_ON ? w.max_depth : 0;
	ps->pending = 0;
	ps->transitioned = 0;
	ps->timeouts_in_run = 0;
	ps->started_ns = now_ns();
	ps->waiter = client_ref(c);
	ps->waiter_serial = m->h.serial;
	ps->waiter_op = m->h.op;
	log_notice(d, "system %s: %s, %s first", kind, power_state_name(target),
		   target < UDK_POWER_ON ? "children" : "parents");
	run_levels(d);
	return 0;
}

/* ---- instances ---- */

static void
idle_fire(struct loop *l, void *data)
{
	struct service *s = data;
	struct udkd *d = s->owner ? s->owner->d : NULL;

	(void)l;
	if (s->pm)
		s->pm->idle_timer = NULL;
	if (d && s->pm && !s->pm->busy && s->pm->state == UDK_POWER_ON && !d->power->active &&
	    s->istate == INST_RUNNING) {
		s->pm->idled = true;
		log_info(d, "%s idle for %llu ms: power on -> low", s->name, (unsigned long long)s->pm->idle_ms);
		set_target(d, s, UDK_POWER_LOW, "idle");
	}
	service_unref(s);
}

static void
idle_arm(struct udkd *d, struct service *s)
{
	struct service_power *pm = s->pm;

	if (!pm || !pm->idle_ms || pm->busy || pm->state != UDK_POWER_ON || d->power->state != UDK_POWER_ON)
		return;
	idle_cancel(d, s);
	loop_add_timer(d->loop, now_ns() + pm->idle_ms * 1000000ull, idle_fire, service_ref(s), &pm->idle_timer);
}

static void
wake_for_activity(struct udkd *d, struct service *s, const char *kind)
{
	struct service_power *pm = s->pm;

	if (!pm)
		return;
	idle_cancel(d, s);
	if (pm->idled && d->power->state == UDK_POWER_ON) {
		pm->idled = false;
		set_target(d, s, UDK_POWER_ON, kind);
	}
	if (!pm->request_out)
		idle_arm(d, s);
}

void
power_instance_started(struct udkd *d, struct service *inst)
{
	struct service_power *pm;
	int64_t idle;

	if (inst->pm)
		return;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return;
	inst->pm = pm;
	pm->state = pm->target = UDK_POWER_ON;
	idle = udk_dict_get_int(inst->personality ? inst->personality->dict : NULL, "UDKIdleTimeoutMs", 0);
	pm->idle_ms = idle > 0 ? (uint64_t)idle : d->cfg.idle_timeout_ms;
	/* Start() has returned: only now may the first transition come */
	if (d->power->state != UDK_POWER_ON) {
		log_info(d, "%s started while the system is %s: SetPowerState(%s)", inst->name,
			 power_state_name(d->power->state), power_state_name(d->power->state));
		set_target(d, inst, d->power->state, "start");
	} else {
		idle_arm(d, inst);
	}
}

void
power_instance_gone(struct udkd *d, struct service *inst)
{
	struct service_power *pm = inst->pm;

	if (!pm)
		return;
	idle_cancel(d, inst);
	pm->request_out = false;
	level_done_one(d, inst);
	drop_pm(d, inst, NULL);
}

void
power_activity(struct udkd *d, struct service *inst)
{
	if (inst && inst->pm)
		wake_for_activity(d, inst, "activity");
}

/* a started driver service of this process, or NULL with the refusal sent */
static struct service *
own_pm_service(struct udkd *d, struct driver_proc *p, struct wire_msg *m, uint64_t object)
{
	struct service *s = service_by_id(d, object);

	if (!s || s->owner != p || !s->pm) {
		proc_reply(p, m, -UDK_E_NO_SUCH_SERVICE, "not a started driver service of this process", NULL, NULL, 0);
		return NULL;
	}
	return s;
}

/* OP_DRV_POWER_BUSY (one way): the driver is busy, or idle again */
void
power_handle_busy(struct udkd *d, struct driver_proc *p, struct wire_msg *m, const struct proto_drv_power_busy_req *req)
{
	struct service *s = own_pm_service(d, p, m, req->object);
	bool busy = req->has_busy && req->busy;

	if (!s)
		return;
	s->pm->busy = busy;
	if (busy)
		wake_for_activity(d, s, "activity");
	else
		idle_arm(d, s);
}

/* OP_DRV_POWER_REQUEST: the driver asks for a power state */
void
power_handle_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
		     const struct proto_drv_power_request_req *req)
{
	struct service *s = own_pm_service(d, p, m, req->object);

	if (!s)
		return;
	int64_t state = req->has_state ? req->state : -1;
	if (state < UDK_POWER_OFF || state > UDK_POWER_ON) {
		proc_reply(p, m, -EINVAL, "power state must be 0 (off), 1 (low) or 2 (on)", NULL, NULL, 0);
		return;
	}
	if (state > d->power->state) {
		char *why = strdup_printf("the system is %s; a driver cannot go above the system's state until "
					  "`udkctl system wake`",
					  power_state_name(d->power->state));
		proc_reply(p, m, -UDK_E_BUSY, why, NULL, NULL, 0);
		free(why);
		return;
	}
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
	s->pm->idled = false;
	set_target(d, s, (int)state, "request");
}

/* ---- udkctl power / system ---- */

struct describe_walk {
	struct udk_value *list;
};

static void
describe_one(struct udkd *d, struct service *s, void *data)
{
	struct describe_walk *w = data;
	struct service_power *pm = s->pm;
	struct udk_value *e, *hs;
	char *path;

	(void)d;
	if (!is_instance(s))
		return;
	e = udk_value_new_dict();
	path = service_path(s);
	udk_dict_set_string(e, "path", path ? path : s->name);
	free(path);
	udk_dict_set_uint(e, "id", s->id);
	if (s->personality && s->personality->bundle)
		udk_dict_set_string(e, "driver", s->personality->bundle->identifier);
	udk_dict_set_int(e, "depth", depth_of(s));
	if (!pm) {
		udk_dict_set_string(e, "state", s->istate == INST_STARTING || s->istate == INST_LAUNCHING
							 ? "starting (joins the power tree when Start returns)"
							 : "not running");
		udk_array_append_take(w->list, e);
		return;
	}
	udk_dict_set_string(e, "state", power_state_name(pm->state));
	if (pm->request_out) {
		udk_dict_set_string(e, "pending", power_state_name(pm->request_to));
		udk_dict_set_uint(e, "pending_ms", (now_ns() - pm->request_ns) / 1000000);
	}
	udk_dict_set_bool(e, "busy", pm->busy);
	udk_dict_set_bool(e, "idled", pm->idled);
	udk_dict_set_uint(e, "idle_timeout_ms", pm->idle_ms);
	hs = udk_value_new_array();
	for (unsigned i = 0; i < pm->n_history; i++) {
		struct power_event *ev = &pm->history[i];
		struct udk_value *h = udk_value_new_dict();
		udk_dict_set_uint(h, "seq", ev->seq);
		udk_dict_set_uint(h, "time_ms", ev->when_ms);
		udk_dict_set_string(h, "from", power_state_name(ev->from));
		udk_dict_set_string(h, "to", power_state_name(ev->to));
		udk_dict_set_string(h, "kind", ev->kind);
		udk_dict_set_string(h, "result", ev->result);
		udk_dict_set_uint(h, "elapsed_us", ev->elapsed_us);
		if (ev->reason[0])
			udk_dict_set_string(h, "reason", ev->reason);
		if (ev->code) {
			udk_dict_set_string(h, "code", udk_error_name(ev->code));
			udk_dict_set_string(h, "fix", udk_error_fix(ev->code)
							      ? udk_error_fix(ev->code)
							      : "the driver refused the change: its reason says why");
		}
		udk_array_append_take(hs, h);
	}
	udk_dict_set_take(e, "history", hs);
	udk_array_append_take(w->list, e);
}

static struct udk_value *
describe(struct udkd *d)
{
	struct power_system *ps = d->power;
	struct udk_value *v = udk_value_new_dict(), *ts = udk_value_new_array();
	struct describe_walk w = { udk_value_new_array() };

	udk_dict_set_string(v, "system", power_state_name(ps->state));
	if (ps->active) {
		udk_dict_set_string(v, "transition", ps->kind);
		udk_dict_set_uint(v, "transition_ms", (now_ns() - ps->started_ns) / 1000000);
	}
	udk_dict_set_uint(v, "power_timeout_ms", d->cfg.power_timeout_ms);
	registry_walk(d, describe_one, &w);
	udk_dict_set_take(v, "services", w.list);
	for (unsigned i = 0; i < ps->n_timeouts; i++) {
		struct timeout_record *t = &ps->timeouts[i];
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_uint(e, "time_ms", t->when_ms);
		udk_dict_set_string(e, "driver", t->driver);
		udk_dict_set_string(e, "path", t->path);
		udk_dict_set_string(e, "from", power_state_name(t->from));
		udk_dict_set_string(e, "to", power_state_name(t->to));
		udk_dict_set_string(e, "kind", t->kind);
		udk_dict_set_uint(e, "waited_ms", t->waited_ms);
		udk_dict_set_string(e, "code", udk_error_name(-UDK_E_POWER_TIMEOUT));
		udk_dict_set_string(e, "fix", udk_error_fix(-UDK_E_POWER_TIMEOUT));
		udk_array_append_take(ts, e);
	}
	udk_dict_set_take(v, "timeouts", ts);
	udk_dict_set_uint(v, "timeouts_total", ps->timeouts_total);
	return v;
}

void
power_control(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_power_req *req)
{
	const char *action = req->action;
	struct udk_value *body;
	int r = 0;

	if (streq(action, "sleep") || streq(action, "wake")) {
		int64_t state = req->has_state ? req->state : streq(action, "sleep") ? UDK_POWER_OFF : UDK_POWER_ON;
		if (streq(action, "sleep") && state >= UDK_POWER_ON)
			state = UDK_POWER_OFF;
		r = system_transition(d, streq(action, "wake") ? UDK_POWER_ON : (int)state, action, c, m);
		if (r < 0)
			client_reply(d, c, m->h.op, m->h.serial, r, udk_error_reason(), NULL, NULL, 0);
		return; /* the reply comes when the transition is done */
	}
	if (!streq(action, "list")) {
		client_reply(d, c, m->h.op, m->h.serial, -EINVAL, "action must be list, sleep or wake", NULL, NULL, 0);
		return;
	}
	body = describe(d);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}
