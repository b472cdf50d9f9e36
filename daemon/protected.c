/* SPDX-License-Identifier: MIT */
/*
 * protected.c - protected devices reached through another family.
 *
 * A family guards a kind of device the user must grant a driver (the input
 * family guards keyboards: `udkctl access grant --NAME keyboard DRIVER`).
 * The same keyboard can reach a driver through another family's transport:
 * a boot keyboard a driver opens raw through its bus family never passes
 * the input family.  That bus family calls udkd_protected_check() before it
 * hands the device over; udkd asks the family that protects the kind
 * (family.h, @protects), so one rule covers the keyboard however a driver
 * reaches it.
 *
 * udkd remembers what it allowed (a hold, until the driver ends) and what
 * it refused (until the service goes): when a grant is revoked, a driver
 * that may no longer hold its device is killed, since the descriptor it
 * was given cannot be taken back otherwise; when one is given, a driver
 * whose Start() failed for want of it is matched again.  Both lists are
 * bounded by the drivers and services that exist.
 */
#include "family.h"
#include "util.h"

struct protected_hold {
	struct protected_hold *next;
	struct driver_proc *proc;		/* reference */
	const struct udkd_family *family;
	struct service *service;		/* reference */
	char *kind, *key, *product, *transport;
	bool built_in;
};

struct protected_refusal {
	struct protected_refusal *next;
	const struct udkd_family *family;
	struct service *service;		/* reference */
	char *driver;
};

struct protected_state {
	struct protected_hold *holds;
	struct protected_refusal *refusals;
};

static const struct udkd_family *
family_protecting(const char *kind)
{
	for (size_t i = 0; kind && i < udkd_n_families; i++) {
		const struct udkd_family *f = udkd_families[i];
		if (FAMILY_HAS(f, protects) && FAMILY_HAS(f, protected_check) && streq(f->protects, kind))
			return f;
	}
	return NULL;
}

static void
hold_free(struct protected_hold *h)
{
	proc_unref(h->proc);
	service_unref(h->service);
	free(h->kind);
	free(h->key);
	free(h->product);
	free(h->transport);
	free(h);
}

static void
refusal_free(struct protected_refusal *r)
{
	service_unref(r->service);
	free(r->driver);
	free(r);
}

/* Holds of ended drivers and refusals on services that went. */
static void
prune(struct protected_state *st)
{
	for (struct protected_hold **pp = &st->holds; *pp;) {
		struct protected_hold *h = *pp;
		if (h->proc->state == PROC_DEAD || h->service->state == SVC_TERMINATED) {
			*pp = h->next;
			hold_free(h);
		} else {
			pp = &h->next;
		}
	}
	for (struct protected_refusal **pp = &st->refusals; *pp;) {
		struct protected_refusal *r = *pp;
		if (r->service->state == SVC_TERMINATED) {
			*pp = r->next;
			refusal_free(r);
		} else {
			pp = &r->next;
		}
	}
}

static void
on_proc_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	(void)ev;
	(void)data;
	if (d->protected_devices)
		prune(d->protected_devices);
	(void)ctx;
}

int
protected_init(struct udkd *d)
{
	d->protected_devices = calloc(1, sizeof(*d->protected_devices));
	if (!d->protected_devices)
		return -ENOMEM;
	return udkd_listen(d, UDKD_EV_PROC_DIED, on_proc_died, NULL);
}

void
protected_fini(struct udkd *d)
{
	struct protected_state *st = d->protected_devices;

	if (!st)
		return;
	while (st->holds) {
		struct protected_hold *h = st->holds;
		st->holds = h->next;
		hold_free(h);
	}
	while (st->refusals) {
		struct protected_refusal *r = st->refusals;
		st->refusals = r->next;
		refusal_free(r);
	}
	free(st);
	d->protected_devices = NULL;
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int
udkd_protected_check(struct udkd *d, struct driver_proc *p, const struct udkd_protected_device *dev)
{
	struct protected_state *st = d->protected_devices;
	const struct udkd_family *f = family_protecting(dev->kind);
	int r;

	if (!f)
		return 0;
	if (!st || !p->bundle || !p->bundle->identifier)
		return udk_set_reason(-UDK_E_NOT_PERMITTED, "%s \"%s\" is a protected device and udkd cannot tell "
							    "which driver asks for it",
				      dev->kind, dev->product ? dev->product : "?");
	prune(st);
	r = f->protected_check(d, p->bundle, dev, true);
	if (r < 0) {
		/* remembered once per service and driver, so a grant can start it again */
		for (struct protected_refusal *q = st->refusals; q; q = q->next)
			if (q->family == f && q->service == dev->service && streq(q->driver, p->bundle->identifier))
				return r;
		struct protected_refusal *q = calloc(1, sizeof(*q));
		if (q && (q->driver = strdup(p->bundle->identifier))) {
			q->family = f;
			q->service = service_ref(dev->service);
			q->next = st->refusals;
			st->refusals = q;
		} else {
			free(q);
		}
		return r;
	}
	struct protected_hold *h = calloc(1, sizeof(*h));
	if (!h)
		return udk_set_reason(-ENOMEM, "out of memory");
	h->proc = proc_ref(p);
	h->family = f;
	h->service = service_ref(dev->service);
	h->kind = dup_or_empty(dev->kind);
	h->key = dup_or_empty(dev->key);
	h->product = dup_or_empty(dev->product);
	h->transport = dup_or_empty(dev->transport);
	h->built_in = dev->built_in;
	if (!h->kind || !h->key || !h->product || !h->transport) {
		hold_free(h);
		return udk_set_reason(-ENOMEM, "out of memory");
	}
	h->next = st->holds;
	st->holds = h;
	log_info(d, "%s \"%s\" (%s) handed to %s (pid %d): %s allows it", h->kind, h->product, h->transport,
		 p->bundle->identifier, p->pid, f->name);
	return 0;
}

/* Drop the exclusions a refusal of @driver left on @s (its Start() failed with UDK_E_NOT_PERMITTED). */
static void
clear_refused(struct service *s, const char *driver)
{
	size_t w = 0;

	for (size_t i = 0; i < s->n_excluded; i++) {
		const struct bundle *b = s->excluded[i].personality ? s->excluded[i].personality->bundle : NULL;
		if (b && streq(b->identifier, driver) && !s->excluded[i].before_start && s->excluded[i].reason &&
		    strstr(s->excluded[i].reason, "UDK_E_NOT_PERMITTED"))
			free(s->excluded[i].reason);
		else
			s->excluded[w++] = s->excluded[i];
	}
	s->n_excluded = w;
}

void
udkd_protected_grant_changed(struct udkd *d, const struct udkd_family *f, const char *driver, bool granted)
{
	struct protected_state *st = d->protected_devices;

	if (!st || !FAMILY_HAS(f, protected_check))
		return;
	prune(st);
	if (granted) {
		/* drivers refused for want of it are matched again where they now may */
		for (struct protected_refusal **pp = &st->refusals; *pp;) {
			struct protected_refusal *q = *pp;
			if (q->family != f || !streq(q->driver, driver)) {
				pp = &q->next;
				continue;
			}
			*pp = q->next;
			clear_refused(q->service, driver);
			if (q->service->state == SVC_REGISTERED)
				match_service(d, q->service);
			refusal_free(q);
		}
		return;
	}
	/* revoked: a driver that may no longer hold its device is stopped */
	for (struct protected_hold **pp = &st->holds; *pp;) {
		struct protected_hold *h = *pp;
		struct udkd_protected_device dev = { h->kind, h->key, h->product, h->transport, h->built_in, h->service };
		struct driver_proc *p = h->proc;
		if (h->family != f || !p->bundle || !streq(p->bundle->identifier, driver) ||
		    f->protected_check(d, p->bundle, &dev, false) == 0) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		udkd_log(d, UDK_LOG_NOTICE, "access",
			 "%s \"%s\" (%s): %s loses it: the grant was revoked; its driver (pid %d) is stopped", h->kind,
			 h->product, h->transport, driver, p->pid);
		proc_kill_code(d, p, -UDK_E_REVOKED,
			       "access to the %s \"%s\" (%s) was revoked (`udkctl access revoke --%s`); the descriptor "
			       "it holds cannot be taken back, so the driver is stopped",
			       h->kind, h->product, h->transport, f->name);
		hold_free(h);
	}
	udk_clear_reason();
}
