/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the service tree (the IORegistry's service plane).
 *
 * Every service has a stable 64-bit id, a name unique among its siblings, a
 * class chain and a property dictionary.  Services are published by udkd
 * itself (the root, IOUserResources, the machine description), by device
 * models and by drivers.  A driver instance is a service too: the child of
 * its provider, with the personality's properties.
 */
#include "family.h"
#include "udkd.h"
#include "util.h"

/* Registry ids start high so they never look like small counters. */
#define FIRST_ID 0x100000000ull

/* udk's own classes; each family adds its own (family.h). */
static const struct {
	const char *name;
	const char *super;
} core_classes[] = {
	{ "IOService", NULL },
	{ "IOPlatformExpertDevice", "IOService" },
	{ "IOResources", "IOService" },
	{ "IOUserResources", "IOService" },
	{ "IOUserService", "IOService" },
	{ "IOUserClient", "IOService" },
	{ "IOUserUserClient", "IOUserClient" },
};

/* The superclass of @c and whether udk knows @c at all. */
static const char *
super_of(const char *c, bool *ret_known)
{
	const struct udkd_family_class *fc = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(core_classes); i++)
		if (streq(core_classes[i].name, c)) {
			*ret_known = true;
			return core_classes[i].super;
		}
	if (family_of_class(c, &fc)) {
		*ret_known = true;
		return fc->super ? fc->super : "IOService";
	}
	*ret_known = false;
	return NULL;
}

struct udk_value *
class_chain_for(const char *class_name)
{
	struct udk_value *chain = udk_value_new_array();
	const char *c = class_name;
	int guard = 0;

	if (!chain || !class_name)
		return udk_value_unref(chain);
	while (c && guard++ < 32) {
		bool known = false;
		const char *super;

		if (udk_array_append_take(chain, udk_value_new_string(c)) < 0)
			return udk_value_unref(chain);
		super = super_of(c, &known);
		if (!known && !streq(c, "IOService"))
			super = "IOService";
		c = super;
	}
	return chain;
}

/*
 * IOServiceDEXTEntitlements, as DriverKit families publish it on their
 * nubs: the entitlement sets a driver needs to match the service.  The
 * families' entitlements are added to every set the publisher gave, so a
 * publisher can ask for more but never for less.  Enforcement does not read
 * this property back (entitlements_cover() asks the families); it shows
 * apps and `udkctl props` what is needed.
 */
static void
publish_dext_entitlements(struct service *s)
{
	struct udk_value *sets = udk_dict_get(s->props, "IOServiceDEXTEntitlements");
	struct udk_value *need = udk_value_new_array();

	for (size_t i = 0; need && i < udk_array_size(s->classes); i++) {
		const char *c = udk_value_get_string(udk_array_get(s->classes, i));
		const struct udkd_family *f = family_of_class(c, NULL);
		const char *ent = f ? family_class_entitlement(f, c) : NULL;
		char *full;
		bool dup = false;
		if (!ent)
			continue;
		full = strdup_printf("com.apple.developer.driverkit.%s", ent);
		for (size_t j = 0; full && j < udk_array_size(need); j++)
			if (streq(udk_value_get_string(udk_array_get(need, j)), full))
				dup = true;
		if (full && !dup)
			udk_array_append_take(need, udk_value_new_string(full));
		free(full);
	}
	if (!need || udk_array_size(need) == 0) {
		udk_value_unref(need);
		return;
	}
	if (udk_value_get_type(sets) == UDK_VALUE_ARRAY && udk_array_size(sets) > 0) {
		struct udk_value *merged = udk_value_new_array();
		for (size_t i = 0; merged && i < udk_array_size(sets); i++) {
			struct udk_value *set = udk_value_copy(udk_array_get(sets, i));
			if (udk_value_get_type(set) != UDK_VALUE_ARRAY) {
				udk_value_unref(set);
				continue;
			}
			for (size_t j = 0; j < udk_array_size(need); j++)
				udk_array_append(set, udk_array_get(need, j));
			udk_array_append_take(merged, set);
		}
		udk_dict_set_take(s->props, "IOServiceDEXTEntitlements", merged);
	} else {
		struct udk_value *outer = udk_value_new_array();
		udk_array_append(outer, need);
		udk_dict_set_take(s->props, "IOServiceDEXTEntitlements", outer);
	}
	udk_value_unref(need);
}

struct service *
service_ref(struct service *s)
{
	if (s)
		s->refcount++;
	return s;
}

void
service_unref(struct service *s)
{
	if (!s || --s->refcount > 0)
		return;
	free(s->name);
	udk_value_unref(s->classes);
	udk_value_unref(s->props);
	free(s->children);
	for (size_t i = 0; i < s->n_excluded; i++)
		free(s->excluded[i].reason);
	free(s->excluded);
	free(s->category);
	free(s->fail_reason);
	free(s->problem);
	free(s);
}

static bool
sibling_named(const struct service *provider, const char *name)
{
	for (size_t i = 0; i < provider->n_children; i++)
		if (streq(provider->children[i]->name, name))
			return true;
	return false;
}

static int
index_add(struct registry *reg, struct service *s)
{
	if (reg->n_all == reg->cap_all) {
		size_t cap = reg->cap_all ? reg->cap_all * 2 : 64;
		struct service **n = reallocarray(reg->all, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		reg->all = n;
		reg->cap_all = cap;
	}
	reg->all[reg->n_all++] = s;
	return 0;
}

static void
index_remove(struct registry *reg, struct service *s)
{
	/* ids are increasing, so the index stays sorted: binary search */
	size_t lo = 0, hi = reg->n_all;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (reg->all[mid]->id < s->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < reg->n_all && reg->all[lo] == s) {
		memmove(&reg->all[lo], &reg->all[lo + 1], (reg->n_all - lo - 1) * sizeof(*reg->all));
		reg->n_all--;
	}
}

int
service_new(struct udkd *d, struct service *provider, const char *name, struct udk_value *classes,
	    struct udk_value *props, struct service **ret)
{
	struct service *s;
	int r;

	if (!name || !*name || strchr(name, '/') || !classes || udk_array_size(classes) == 0) {
		udk_value_unref(classes);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		udk_value_unref(classes);
		return -ENOMEM;
	}
	s->refcount = 1;
	s->id = d->reg.next_id++;
	s->classes = classes;
	s->props = props ? udk_value_copy(props) : udk_value_new_dict();
	s->state = SVC_PUBLISHED;
	if (provider && sibling_named(provider, name)) {
		for (unsigned n = 2;; n++) {
			char *alt = strdup_printf("%s@%u", name, n);
			if (!alt || !sibling_named(provider, alt)) {
				s->name = alt;
				break;
			}
			free(alt);
		}
	} else {
		s->name = strdup(name);
	}
	if (!s->name || !s->props) {
		service_unref(s);
		return -ENOMEM;
	}
	if (provider) {
		if (provider->n_children == provider->cap_children) {
			size_t cap = provider->cap_children ? provider->cap_children * 2 : 4;
			struct service **n = reallocarray(provider->children, cap, sizeof(*n));
			if (!n) {
				service_unref(s);
				return -ENOMEM;
			}
			provider->children = n;
			provider->cap_children = cap;
		}
		provider->children[provider->n_children++] = s;
		s->provider = provider;
	}
	r = index_add(&d->reg, s);
	if (r < 0) {
		if (provider)
			provider->n_children--;
		service_unref(s);
		return r;
	}
	/* IOKit's standard identity properties */
	udk_dict_set_uint(s->props, "IORegistryEntryID", s->id);
	udk_dict_set_string(s->props, "IOObjectClass", udk_value_get_string(udk_array_get(classes, 0)));
	publish_dext_entitlements(s);
	if (ret)
		*ret = s;
	return 0;
}

int
registry_init(struct udkd *d)
{
	struct udk_value *props;
	int r;

	d->reg.next_id = FIRST_ID;
	r = service_new(d, NULL, "Root", class_chain_for("IOPlatformExpertDevice"), NULL, &d->reg.root);
	if (r < 0)
		return r;
	d->reg.root->state = SVC_REGISTERED;
	props = udk_value_new_dict();
	{
		/* the resources macOS always publishes, which real personalities
		 * name in IOResourceMatch ("IOKit" above all) */
		static const char *const standard[] = { "IOKit", "IOBSD" };
		struct udk_value *res = udk_value_new_array();
		for (size_t i = 0; i < ARRAY_SIZE(standard); i++)
			udk_array_append_take(res, udk_value_new_string(standard[i]));
		udk_dict_set_take(props, "IOResources", res);
	}
	r = service_new(d, d->reg.root, "IOUserResources", class_chain_for("IOUserResources"), props,
			&d->reg.user_resources);
	udk_value_unref(props);
	if (r < 0)
		return r;
	/* registered by main() once bundles are loaded, so matching sees them */
	return 0;
}

static void
free_tree(struct service *s)
{
	for (size_t i = 0; i < s->n_children; i++) {
		s->children[i]->provider = NULL;
		free_tree(s->children[i]);
	}
	s->n_children = 0;
	service_unref(s);
}

void
registry_fini(struct udkd *d)
{
	if (d->reg.root)
		free_tree(d->reg.root);
	free(d->reg.all);
	memset(&d->reg, 0, sizeof(d->reg));
}

struct service *
service_by_id(struct udkd *d, uint64_t id)
{
	size_t lo = 0, hi = d->reg.n_all;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (d->reg.all[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < d->reg.n_all && d->reg.all[lo]->id == id)
		return d->reg.all[lo];
	return NULL;
}

char *
service_path(const struct service *s)
{
	const struct service *chain[64];
	size_t n = 0, len = 1;
	char *p, *w;

	if (!s->provider)
		return strdup("/");
	for (const struct service *c = s; c && c->provider && n < ARRAY_SIZE(chain); c = c->provider) {
		chain[n++] = c;
		len += strlen(c->name) + 1;
	}
	p = malloc(len + 1);
	if (!p)
		return NULL;
	w = p;
	while (n--) {
		*w++ = '/';
		size_t l = strlen(chain[n]->name);
		memcpy(w, chain[n]->name, l);
		w += l;
	}
	*w = '\0';
	return p;
}

struct service *
service_by_path(struct udkd *d, const char *path)
{
	struct service *s = d->reg.root;
	const char *p = path;
	uint64_t id;

	if (!path || !*path)
		return NULL;
	/* an id works wherever a path does */
	if (parse_u64(path, &id) == 0)
		return service_by_id(d, id);
	if (startswith(p, "IOService:"))
		p += strlen("IOService:");
	if (*p != '/')
		return NULL;
	while (*p) {
		const char *seg;
		size_t len;
		struct service *next = NULL;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		seg = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - seg);
		for (size_t i = 0; i < s->n_children; i++) {
			struct service *c = s->children[i];
			if (strlen(c->name) == len && memcmp(c->name, seg, len) == 0) {
				next = c;
				break;
			}
		}
		if (!next)
			return NULL;
		s = next;
	}
	return s;
}

bool
service_is_a(const struct service *s, const char *class_name)
{
	for (size_t i = 0; i < udk_array_size(s->classes); i++)
		if (streq(udk_value_get_string(udk_array_get(s->classes, i)), class_name))
			return true;
	return false;
}

void
service_register(struct udkd *d, struct service *s)
{
	if (s->state != SVC_PUBLISHED)
		return;
	s->state = SVC_REGISTERED;
	udk_dict_set_bool(s->props, "IORegistered", true);
	control_notify(d, s, "arrival");
	match_service(d, s);
}

static void
detach_from_provider(struct service *s)
{
	struct service *p = s->provider;

	if (!p)
		return;
	for (size_t i = 0; i < p->n_children; i++)
		if (p->children[i] == s) {
			memmove(&p->children[i], &p->children[i + 1], (p->n_children - i - 1) * sizeof(*p->children));
			p->n_children--;
			break;
		}
	s->provider = NULL;
}

void
service_terminate(struct udkd *d, struct service *s, const char *why)
{
	if (!s || s->state == SVC_TERMINATED || s == d->reg.root)
		return;
	service_ref(s);
	/* clients first, deepest first, as IOKit terminates */
	while (s->n_children)
		service_terminate(d, s->children[s->n_children - 1], why);
	if (s->istate != INST_NONE && s->istate != INST_FAILED)
		launcher_stop_instance(d, s, why);
	s->state = SVC_TERMINATED;
	launcher_cancel_rematch(d, s);
	log_debug(d, "terminated %s (0x%llx): %s", s->name, (unsigned long long)s->id, why);
	control_notify(d, s, "termination");
	udkd_emit(d, UDKD_EV_SERVICE_TERMINATED, s);
	index_remove(&d->reg, s);
	detach_from_provider(s);
	/* the tree's reference goes; ours (taken above) is still held, so this cannot be the last */
	s->refcount--;
	service_unref(s);
}

int
service_set_properties(struct udkd *d, struct service *s, const struct udk_value *props)
{
	if (udk_value_get_type(props) != UDK_VALUE_DICT)
		return -EINVAL;
	for (size_t i = 0; i < udk_dict_size(props); i++) {
		const char *k = udk_dict_key_at(props, i);
		/* identity properties are udkd's */
		if (streq(k, "IORegistryEntryID") || streq(k, "IOObjectClass") || streq(k, "IORegistered"))
			continue;
		/* what a family requires of its services' drivers is udkd's */
		if (streq(k, "IOServiceDEXTEntitlements") && family_of_service(s))
			continue;
		int r = udk_dict_set(s->props, k, udk_dict_value_at(props, i));
		if (r < 0)
			return r;
	}
	if (s->state == SVC_REGISTERED)
		control_notify_changed(d, s, "property", props);
	return 0;
}

static const char *
istate_name(enum instance_state st)
{
	switch (st) {
	case INST_NONE:
		return NULL;
	case INST_LAUNCHING:
		return "launching";
	case INST_STARTING:
		return "starting";
	case INST_RUNNING:
		return "running";
	case INST_STOPPING:
		return "stopping";
	case INST_FAILED:
		return "failed";
	}
	return "?";
}

struct udk_value *
service_describe(struct udkd *d, const struct service *s, bool with_props)
{
	struct udk_value *v = udk_value_new_dict();
	char *path = service_path(s);

	(void)d;
	if (!v || !path) {
		free(path);
		return udk_value_unref(v);
	}
	udk_dict_set_uint(v, "id", s->id);
	udk_dict_set_string(v, "name", s->name);
	udk_dict_set_string(v, "path", path);
	free(path);
	udk_dict_set(v, "classes", s->classes);
	udk_dict_set_string(v, "state", s->state == SVC_REGISTERED	  ? "registered"
					: s->state == SVC_PUBLISHED ? "published"
								    : "terminated");
	if (s->provider)
		udk_dict_set_uint(v, "provider", s->provider->id);
	if (s->istate != INST_NONE) {
		udk_dict_set_string(v, "driver", istate_name(s->istate));
		if (s->personality) {
			udk_dict_set_string(v, "bundle", s->personality->bundle->identifier);
			udk_dict_set_string(v, "personality", s->personality->name);
		}
		if (s->category)
			udk_dict_set_string(v, "category", s->category);
		udk_dict_set_int(v, "score", s->score);
		if (s->owner && s->owner->pid > 0)
			udk_dict_set_int(v, "pid", s->owner->pid);
		if (s->fail_reason)
			udk_dict_set_string(v, "reason", s->fail_reason);
	}
	if (with_props)
		udk_dict_set(v, "properties", s->props);
	return v;
}

static void
walk(struct udkd *d, struct service *s, void (*fn)(struct udkd *, struct service *, void *), void *data)
{
	service_ref(s);
	fn(d, s, data);
	/* children may change under fn: iterate over a snapshot */
	size_t n = s->n_children;
	struct service **snap = n ? calloc(n, sizeof(*snap)) : NULL;
	if (n && !snap) {
		service_unref(s);
		return;
	}
	for (size_t i = 0; i < n; i++)
		snap[i] = service_ref(s->children[i]);
	for (size_t i = 0; i < n; i++) {
		if (snap[i]->state != SVC_TERMINATED)
			walk(d, snap[i], fn, data);
		service_unref(snap[i]);
	}
	free(snap);
	service_unref(s);
}

void
registry_walk(struct udkd *d, void (*fn)(struct udkd *, struct service *, void *), void *data)
{
	if (d->reg.root)
		walk(d, d->reg.root, fn, data);
}
