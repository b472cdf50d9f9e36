/* SPDX-License-Identifier: MIT */
/*
 * families.c - the family interface's udkd side (family.h): checking the
 * registration table at start, lookups by class, key, op and model kind,
 * per-family state, and the events families listen to.
 *
 * The table itself is families/families.c: it is the one place that names
 * the families.
 */
#include <ctype.h>

#include "family.h"
#include "util.h"

/* The fields a family must have (everything up to and including these). */
#define FAMILY_MIN_SIZE (offsetof(struct udkd_family, entitlements) + sizeof(void *))

struct udkd_listener {
	struct udkd_listener *next;
	enum udkd_event ev;
	udkd_listener_fn fn;
	void *ctx;
};

static bool
valid_family_name(const char *n)
{
	if (!n || !*n || strlen(n) > 32)
		return false;
	for (const char *c = n; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '-')
			return false;
	return true;
}

const char *
family_class_entitlement(const struct udkd_family *f, const char *class_name)
{
	const char *c = class_name;

	for (int guard = 0; c && guard < 32; guard++) {
		const struct udkd_family_class *k = NULL;
		for (const struct udkd_family_class *x = f->classes; x && x->name; x++)
			if (streq(x->name, c))
				k = x;
		if (!k)
			return NULL;
		if (k->entitlement)
			return k->entitlement;
		c = k->super;
	}
	return NULL;
}

static int
check_one(const struct udkd_family *f, size_t index)
{
	if (!f || f->struct_size < FAMILY_MIN_SIZE)
		return udk_set_reason(-EINVAL,
				      "family #%zu (%s) was built with an interface struct of %u bytes; this udkd needs "
				      "at least %zu: rebuild the family against this udkd's family.h",
				      index, f && f->name ? f->name : "unnamed", f ? f->struct_size : 0,
				      (size_t)FAMILY_MIN_SIZE);
	if (f->abi > UDKD_FAMILY_ABI)
		return udk_set_reason(-EINVAL,
				      "family %s was written for family interface version %u; this udkd implements "
				      "version %u: use a newer udkd or an older family",
				      f->name ? f->name : "unnamed", f->abi, UDKD_FAMILY_ABI);
	if (f->struct_size > sizeof(struct udkd_family))
		return udk_set_reason(-EINVAL,
				      "family %s has an interface struct of %u bytes, larger than this udkd's %zu: it "
				      "was built for a newer udkd",
				      f->name ? f->name : "unnamed", f->struct_size, sizeof(struct udkd_family));
	if (!valid_family_name(f->name))
		return udk_set_reason(-EINVAL, "family #%zu has no valid name (lower case letters, digits, '-')",
				      index);
	/* fail closed: every class is governed by an entitlement the family owns */
	for (const struct udkd_family_class *c = f->classes; c && c->name; c++) {
		const char *ent = family_class_entitlement(f, c->name);
		bool owned = false;
		if (!ent)
			return udk_set_reason(-EINVAL,
					      "family %s declares class %s but no entitlement rule governs it: give the "
					      "class (or a class above it in the family) an entitlement",
					      f->name, c->name);
		for (const struct udkd_family_entitlement *e = f->entitlements; e && e->name; e++)
			if (streq(e->name, ent))
				owned = true;
		if (!owned)
			return udk_set_reason(-EINVAL,
					      "family %s governs class %s with entitlement \"%s\", which it does not "
					      "declare in its entitlements",
					      f->name, c->name, ent);
		for (size_t j = 0; j < udkd_n_families; j++) {
			const struct udkd_family *g = udkd_families[j];
			if (g == f || !g)
				continue;
			for (const struct udkd_family_class *x = g->classes; x && x->name; x++)
				if (streq(x->name, c->name))
					return udk_set_reason(-EINVAL, "class %s is declared by two families, %s and %s",
							      c->name, f->name, g->name);
		}
	}
	if (!f->classes || !f->classes[0].name)
		return udk_set_reason(-EINVAL, "family %s declares no classes; a family publishes or runs services",
				      f->name);
	if (!f->entitlements || !f->entitlements[0].name)
		return udk_set_reason(-EINVAL,
				      "family %s declares no entitlement rule; udkd refuses families that would let "
				      "any bundle match their services",
				      f->name);
	if (f->matcher && (!f->matcher->keys || !f->matcher->match))
		return udk_set_reason(-EINVAL, "family %s has a matcher without keys or a match function", f->name);
	if (f->op_count && f->op_base < 1000)
		return udk_set_reason(-EINVAL, "family %s: op ranges start at 1000; below is udk's own protocol",
				      f->name);
	if (FAMILY_HAS(f, protects) && (!FAMILY_HAS(f, protected_check) || !FAMILY_HAS(f, grant_check)))
		return udk_set_reason(-EINVAL,
				      "family %s protects \"%s\" devices without a protected_check and grants: it must "
				      "decide who may have them",
				      f->name, f->protects);
	for (size_t j = 0; j < index; j++) {
		const struct udkd_family *g = udkd_families[j];
		if (streq(g->name, f->name))
			return udk_set_reason(-EINVAL, "family %s is registered twice", f->name);
		if (FAMILY_HAS(f, protects) && FAMILY_HAS(g, protects) && streq(f->protects, g->protects))
			return udk_set_reason(-EINVAL, "families %s and %s both protect \"%s\" devices", g->name, f->name,
					      f->protects);
		if (f->op_count && g->op_count && f->op_base < g->op_base + g->op_count &&
		    g->op_base < f->op_base + f->op_count)
			return udk_set_reason(-EINVAL, "families %s and %s have overlapping op ranges", g->name,
					      f->name);
		if (f->model_kind && g->model_kind && streq(f->model_kind, g->model_kind))
			return udk_set_reason(-EINVAL, "families %s and %s both claim device models of kind \"%s\"",
					      g->name, f->name, f->model_kind);
		for (const char *const *k = f->matcher ? f->matcher->keys : NULL; k && *k; k++)
			for (const char *const *l = g->matcher ? g->matcher->keys : NULL; l && *l; l++)
				if (streq(*k, *l))
					return udk_set_reason(-EINVAL, "matching key %s is owned by two families, %s and %s",
							      *k, g->name, f->name);
		for (const struct udkd_family_entitlement *e = f->entitlements; e && e->name; e++)
			for (const struct udkd_family_entitlement *x = g->entitlements; x && x->name; x++)
				if (streq(e->name, x->name))
					return udk_set_reason(-EINVAL, "entitlement %s is owned by two families, %s and %s",
							      e->name, g->name, f->name);
	}
	return 0;
}

int
families_check(void)
{
	for (size_t i = 0; i < udkd_n_families; i++) {
		int r = check_one(udkd_families[i], i);
		if (r < 0)
			return r;
	}
	return 0;
}

static size_t
family_index(const struct udkd_family *f)
{
	for (size_t i = 0; i < udkd_n_families; i++)
		if (udkd_families[i] == f)
			return i;
	return SIZE_MAX;
}

void *
udkd_family_state(struct udkd *d, const struct udkd_family *f)
{
	size_t i = family_index(f);
	return i == SIZE_MAX || !d->family_state ? NULL : d->family_state[i];
}

void
udkd_family_set_state(struct udkd *d, const struct udkd_family *f, void *state)
{
	size_t i = family_index(f);

	if (i == SIZE_MAX)
		return;
	if (!d->family_state)
		d->family_state = calloc(udkd_n_families ? udkd_n_families : 1, sizeof(void *));
	if (d->family_state)
		d->family_state[i] = state;
}

int
families_init(struct udkd *d)
{
	int r = families_check();

	if (r < 0)
		return r;
	if (!d->family_state)
		d->family_state = calloc(udkd_n_families ? udkd_n_families : 1, sizeof(void *));
	if (!d->family_state)
		return -ENOMEM;
	if (!d->protected_devices && (r = protected_init(d)) < 0)
		return r;
	for (size_t i = 0; i < udkd_n_families; i++) {
		const struct udkd_family *f = udkd_families[i];
		if (f->init && (r = f->init(d)) < 0)
			return udk_set_reason(r, "family %s could not start: %s", f->name,
					      udk_error_reason() ? udk_error_reason() : strerror(-r));
	}
	return 0;
}

int
families_start(struct udkd *d)
{
	for (size_t i = 0; i < udkd_n_families; i++) {
		const struct udkd_family *f = udkd_families[i];
		int r;
		if (f->start && (r = f->start(d)) < 0)
			log_warning(d, "family %s: %s", f->name, udk_error_reason() ? udk_error_reason() : strerror(-r));
	}
	return 0;
}

void
families_fini(struct udkd *d)
{
	for (size_t i = udkd_n_families; i-- > 0;)
		if (udkd_families[i]->fini && d->family_state)
			udkd_families[i]->fini(d);
	uevents_fini(d);
	protected_fini(d);
	while (d->listeners) {
		struct udkd_listener *l = d->listeners;
		d->listeners = l->next;
		free(l);
	}
	free(d->family_state);
	d->family_state = NULL;
}

void *
model_family_data(const struct device_model *m, const struct udkd_family *f)
{
	size_t i = family_index(f);
	return i == SIZE_MAX || !m->family_data ? NULL : m->family_data[i];
}

int
model_set_family_data(struct device_model *m, const struct udkd_family *f, void *data)
{
	size_t i = family_index(f);

	if (i == SIZE_MAX)
		return -EINVAL;
	if (!m->family_data) {
		m->family_data = calloc(udkd_n_families, sizeof(void *));
		if (!m->family_data)
			return -ENOMEM;
	}
	free(m->family_data[i]);
	m->family_data[i] = data;
	return 0;
}

int
udkd_listen(struct udkd *d, enum udkd_event ev, udkd_listener_fn fn, void *ctx)
{
	struct udkd_listener *l, **tail;

	if ((unsigned)ev >= UDKD_EV__COUNT || !fn)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ev = ev;
	l->fn = fn;
	l->ctx = ctx;
	for (tail = &d->listeners; *tail; tail = &(*tail)->next)
		;
	*tail = l;
	return 0;
}

void
udkd_emit(struct udkd *d, enum udkd_event ev, void *data)
{
	for (struct udkd_listener *l = d->listeners; l; l = l->next)
		if (l->ev == ev)
			l->fn(d, ev, data, l->ctx);
}

const struct udkd_family *
family_of_class(const char *class_name, const struct udkd_family_class **ret_class)
{
	if (!class_name)
		return NULL;
	for (size_t i = 0; i < udkd_n_families; i++)
		for (const struct udkd_family_class *c = udkd_families[i]->classes; c && c->name; c++)
			if (streq(c->name, class_name)) {
				if (ret_class)
					*ret_class = c;
				return udkd_families[i];
			}
	return NULL;
}

const struct udkd_family *
family_of_service(const struct service *s)
{
	for (size_t i = 0; s && i < udk_array_size(s->classes); i++) {
		const struct udkd_family *f = family_of_class(udk_value_get_string(udk_array_get(s->classes, i)), NULL);
		if (f)
			return f;
	}
	return NULL;
}

const struct udkd_family *
family_of_key(const char *key)
{
	for (size_t i = 0; key && i < udkd_n_families; i++)
		for (const char *const *k = udkd_families[i]->matcher ? udkd_families[i]->matcher->keys : NULL; k && *k;
		     k++)
			if (streq(*k, key))
				return udkd_families[i];
	return NULL;
}

const struct udkd_family *
family_of_op(uint16_t op)
{
	for (size_t i = 0; i < udkd_n_families; i++) {
		const struct udkd_family *f = udkd_families[i];
		if (f->op_count && op >= f->op_base && op - f->op_base < f->op_count)
			return f;
	}
	return NULL;
}

const struct udkd_family *
family_of_model_kind(const char *kind)
{
	for (size_t i = 0; kind && i < udkd_n_families; i++)
		if (udkd_families[i]->model_kind && streq(udkd_families[i]->model_kind, kind))
			return udkd_families[i];
	return NULL;
}

const struct udkd_family_entitlement *
family_entitlement(const char *name, const struct udkd_family **ret_family)
{
	for (size_t i = 0; name && i < udkd_n_families; i++)
		for (const struct udkd_family_entitlement *e = udkd_families[i]->entitlements; e && e->name; e++)
			if (streq(e->name, name)) {
				if (ret_family)
					*ret_family = udkd_families[i];
				return e;
			}
	return NULL;
}

const char *
family_absent_for_class(const char *class_name)
{
	for (const struct udkd_absent_class *a = udkd_absent_classes; class_name && a->class_name; a++)
		if (streq(a->class_name, class_name))
			return a->family;
	return NULL;
}
