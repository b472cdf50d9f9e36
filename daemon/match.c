/* SPDX-License-Identifier: MIT */
/*
 * match.c - matching personalities to services, IOKit style.
 *
 * A personality matches a service when every matching key it holds agrees:
 *   IOProviderClass   the service's class chain contains it
 *   IONameMatch       the service's name or "compatible" equals one of them
 *                     (a trailing '*' matches a prefix)
 *   IOPropertyMatch   every property in the dict (any dict of an array)
 *                     is present with an equal value
 *   IOResourceMatch   the resource was published on IOUserResources
 *   IOParentMatch     the service's provider matches the dictionary
 *   family keys       see families/<name>/match.c
 * The score is IOProbeScore plus what the family adds.  Personalities are
 * grouped by IOMatchCategory (default "IODefaultMatchCategory"); in each
 * category the highest score starts, and if its Start fails the next one
 * is tried.  A category that already has a driver is left alone.
 */
#include <stdarg.h>

#include "buf.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

#define DEFAULT_CATEGORY "IODefaultMatchCategory"

/* The matcher of family #i, or NULL. */
static const struct family_matcher *
matcher_at(size_t i)
{
	return udkd_families[i]->matcher;
}

static char *
classes_string(const struct service *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_putc(&b, '[');
	for (size_t i = 0; i < udk_array_size(s->classes); i++) {
		if (i)
			buf_puts(&b, ", ");
		buf_puts(&b, udk_value_get_string(udk_array_get(s->classes, i)));
	}
	buf_putc(&b, ']');
	return buf_steal_string(&b);
}

static bool
name_matches(const char *pattern, const char *name)
{
	size_t l = strlen(pattern);

	if (!name)
		return false;
	if (l && pattern[l - 1] == '*')
		return strncmp(pattern, name, l - 1) == 0;
	return streq(pattern, name);
}

static bool
name_match_one(const char *pattern, const struct service *s)
{
	struct udk_value *compat = udk_dict_get(s->props, "compatible");

	if (name_matches(pattern, s->name) || name_matches(pattern, udk_dict_get_string(s->props, "IOName")))
		return true;
	if (udk_value_get_type(compat) == UDK_VALUE_STRING)
		return name_matches(pattern, udk_value_get_string(compat));
	for (size_t i = 0; i < udk_array_size(compat); i++)
		if (name_matches(pattern, udk_value_get_string(udk_array_get(compat, i))))
			return true;
	return false;
}

static bool
check_name_match(const struct udk_value *v, const struct service *s, struct udk_value *report)
{
	bool m = false;

	if (udk_value_get_type(v) == UDK_VALUE_STRING)
		m = name_match_one(udk_value_get_string(v), s);
	for (size_t i = 0; !m && i < udk_array_size(v); i++)
		m = name_match_one(udk_value_get_string(udk_array_get(v, i)), s);
	match_report_add(report, "IONameMatch", m ? "matched" : "failed",
			 m ? "the service's name \"%s\" (or its compatible list) is listed"
			   : "the service's name \"%s\" and its compatible list are not listed",
			 s->name);
	return m;
}

static bool
props_contain(const struct udk_value *want, const struct udk_value *props, const char **ret_bad)
{
	for (size_t i = 0; i < udk_dict_size(want); i++) {
		const char *k = udk_dict_key_at(want, i);
		if (!udk_value_equal(udk_dict_value_at(want, i), udk_dict_get(props, k))) {
			*ret_bad = k;
			return false;
		}
	}
	return true;
}

static bool
check_property_match(const struct udk_value *v, const struct service *s, struct udk_value *report)
{
	const char *bad = NULL;
	bool m = false;

	if (udk_value_get_type(v) == UDK_VALUE_DICT)
		m = props_contain(v, s->props, &bad);
	for (size_t i = 0; !m && i < udk_array_size(v); i++)
		m = props_contain(udk_array_get(v, i), s->props, &bad);
	if (m)
		match_report_add(report, "IOPropertyMatch", "matched", "every listed property has the same value");
	else if (bad && !udk_dict_get(s->props, bad))
		match_report_add(report, "IOPropertyMatch", "failed", "the service has no property \"%s\"", bad);
	else
		match_report_add(report, "IOPropertyMatch", "failed", "property \"%s\" has a different value",
				 bad ? bad : "?");
	return m;
}

static bool
check_resource_match(struct udkd *d, const char *res, struct udk_value *report)
{
	struct udk_value *list = udk_dict_get(d->reg.user_resources->props, "IOResources");
	bool m = false;

	for (size_t i = 0; i < udk_array_size(list); i++)
		if (streq(udk_value_get_string(udk_array_get(list, i)), res))
			m = true;
	if (m) {
		match_report_add(report, "IOResourceMatch", "matched", "resource \"%s\" is published", res);
	} else if (report) {
		struct buf b;
		char *names;

		buf_init(&b, 4096);
		for (size_t i = 0; i < udk_array_size(list); i++)
			buf_printf(&b, "%s%s", i ? ", " : "", udk_value_get_string(udk_array_get(list, i)));
		names = buf_steal_string(&b);
		match_report_add(report, "IOResourceMatch", "failed",
				 "resource \"%s\" has not been published (yet); published now: %s (a driver publishes "
				 "one with udk_service_publish_resource())",
				 res ? res : "(not a string)", names ? names : "?");
		free(names);
	}
	return m;
}

static bool
has_family_key(const struct family_matcher *f, const struct udk_value *dict)
{
	for (const char *const *k = f ? f->keys : NULL; k && *k; k++)
		if (udk_dict_get(dict, *k))
			return true;
	return false;
}

bool
match_personality(struct udkd *d, const struct personality *p, const struct service *s, int64_t *ret_score,
		  struct udk_value *report)
{
	const struct udk_value *pd = p->dict;
	int64_t score = p->probe_score;
	bool ok = true;
	struct udk_value *v;

	/* with a report, examine every key; without, stop at the first miss */
#define MISS()                                                                                                 \
	do {                                                                                                   \
		ok = false;                                                                                    \
		if (!report)                                                                                   \
			return false;                                                                          \
	} while (0)

	if (!p->valid) {
		match_report_add(report, "personality", "failed",
				 "it has errors in its keys (`udkctl drivers %s` lists them), so it never matches; "
				 "fix them and run `udkctl rescan`",
				 p->bundle->dirname);
		MISS();
	}
	if (p->provider_class) {
		if (service_is_a(s, p->provider_class)) {
			match_report_add(report, "IOProviderClass", "matched", "the service is a %s", p->provider_class);
		} else {
			char *cs = classes_string(s);
			const char *absent = family_absent_for_class(p->provider_class);
			match_report_add(report, "IOProviderClass", "failed",
					 "wants %s but the service's classes are %s", p->provider_class,
					 cs ? cs : "?");
			if (absent)
				match_report_add(report, "IOProviderClass", "note",
						 "%s belongs to DriverKit's %s family, which udk does not have: no service "
						 "of that class ever appears (`udkctl families` lists udk's families)",
						 p->provider_class, absent);
			else if (report && !bundle_known_class(p->provider_class) && bundle_suggest_class(p->provider_class))
				match_report_add(report, "IOProviderClass", "note",
						 "\"%s\" is no class udk or its families register: did you mean \"%s\"?",
						 p->provider_class, bundle_suggest_class(p->provider_class));
			free(cs);
			MISS();
		}
	}
	if ((v = udk_dict_get(pd, "IONameMatch")) && !check_name_match(v, s, report))
		MISS();
	if ((v = udk_dict_get(pd, "IOPropertyMatch")) && !check_property_match(v, s, report))
		MISS();
	if ((v = udk_dict_get(pd, "IOResourceMatch")) && !check_resource_match(d, udk_value_get_string(v), report))
		MISS();
	if ((v = udk_dict_get(pd, "IOParentMatch"))) {
		bool m = s->provider && match_dictionary(d, v, s->provider);
		match_report_add(report, "IOParentMatch", m ? "matched" : "failed",
				 m ? "the provider's provider matches" : "the provider's provider does not match");
		if (!m)
			MISS();
	}
	for (size_t i = 0; i < udkd_n_families; i++) {
		if (!has_family_key(matcher_at(i), pd))
			continue;
		if (!matcher_at(i)->match(pd, s->props, &score, report))
			MISS();
	}
	/* the families' own notes: what explain alone needs to say */
	if (report) {
		const struct udkd_family *fs = family_of_service(s);
		const struct udkd_family *fp = p->provider_class ? family_of_class(p->provider_class, NULL) : NULL;
		if (fs && FAMILY_HAS(fs, explain))
			fs->explain(d, p, s, report);
		if (fp && fp != fs && FAMILY_HAS(fp, explain))
			fp->explain(d, p, s, report);
	}
	/* what the signed entitlements allow bounds what the personality may claim */
	if (ok || report) {
		char *detail = NULL;
		bool covered = entitlements_cover(d, p->bundle, s, &detail);
		if (detail)
			match_report_add(report, "entitlements", covered ? "matched" : "failed", "%s", detail);
		free(detail);
		if (!covered)
			MISS();
	}
	/* what the driver runs as (IOClass) must be entitled too */
	if (ok || report) {
		struct udk_value *chain = class_chain_for(p->io_class);
		char *detail = NULL;
		if (entitlements_allow_classes(p->bundle, chain, &detail) < 0) {
			match_report_add(report, "IOClass", "failed", "%s", detail ? detail : "not entitled");
			free(detail);
			udk_value_unref(chain);
			MISS();
		} else {
			udk_value_unref(chain);
		}
	}
	if (ok)
		match_report_add(report, "IOProbeScore", "note", "score %lld (IOProbeScore %lld%s)", (long long)score,
				 (long long)p->probe_score, score != p->probe_score ? " plus the family's score" : "");
#undef MISS
	if (ok && ret_score)
		*ret_score = score;
	return ok;
}

bool
match_dictionary(struct udkd *d, const struct udk_value *match, const struct service *s)
{
	if (udk_value_get_type(match) != UDK_VALUE_DICT)
		return false;
	for (size_t i = 0; i < udk_dict_size(match); i++) {
		const char *k = udk_dict_key_at(match, i);
		struct udk_value *v = udk_dict_value_at(match, i);
		bool family = false;

		if (streq(k, "IOProviderClass")) {
			if (!service_is_a(s, udk_value_get_string(v)))
				return false;
		} else if (streq(k, "IONameMatch")) {
			if (!check_name_match(v, s, NULL))
				return false;
		} else if (streq(k, "IOPropertyMatch")) {
			if (!check_property_match(v, s, NULL))
				return false;
		} else if (streq(k, "IORegistryEntryID")) {
			if (udk_value_get_uint(v, 0) != s->id)
				return false;
		} else if (streq(k, "IOParentMatch")) {
			if (!s->provider || !match_dictionary(d, v, s->provider))
				return false;
		} else if (streq(k, "IOResourceMatch")) {
			if (!check_resource_match(d, udk_value_get_string(v), NULL))
				return false;
		} else {
			family = family_of_key(k) != NULL;
			if (family)
				continue;
			/* any other key: the property must be equal */
			if (!udk_value_equal(v, udk_dict_get(s->props, k)))
				return false;
		}
	}
	for (size_t f = 0; f < udkd_n_families; f++) {
		int64_t score = 0;
		if (has_family_key(matcher_at(f), match) && !matcher_at(f)->match(match, s->props, &score, NULL))
			return false;
	}
	return true;
}

static const char *
category_of(const struct personality *p)
{
	return p->match_category ? p->match_category : DEFAULT_CATEGORY;
}

/* The live driver instance holding @category on @provider, if any. */
static struct service *
category_holder(const struct service *provider, const char *category)
{
	for (size_t i = 0; i < provider->n_children; i++) {
		struct service *c = provider->children[i];
		if (c->istate != INST_NONE && c->istate != INST_FAILED && c->state != SVC_TERMINATED &&
		    streq(c->category, category))
			return c;
	}
	return NULL;
}

static const struct exclusion *
excluded(const struct service *provider, const struct personality *p)
{
	for (size_t i = 0; i < provider->n_excluded; i++)
		if (provider->excluded[i].personality == p)
			return &provider->excluded[i];
	return NULL;
}

static bool
personality_usable(const struct personality *p)
{
	return p->valid && bundle_runnable(p->bundle);
}

struct candidate {
	struct personality *p;
	int64_t score;
};

static int
start_candidate(struct udkd *d, struct service *provider, struct candidate *c)
{
	struct personality *p = c->p;
	struct udk_value *classes, *io_chain, *props;
	struct service *inst = NULL;
	int r;

	classes = udk_value_new_array();
	io_chain = class_chain_for(p->io_class);
	if (!classes || !io_chain) {
		udk_value_unref(classes);
		udk_value_unref(io_chain);
		return -ENOMEM;
	}
	udk_array_append_take(classes, udk_value_new_string(p->user_class));
	for (size_t i = 0; i < udk_array_size(io_chain); i++)
		if (!streq(udk_value_get_string(udk_array_get(io_chain, i)), p->user_class))
			udk_array_append(classes, udk_array_get(io_chain, i));
	udk_value_unref(io_chain);

	/* as in IOKit, the personality becomes the driver's property table */
	props = udk_value_copy(p->dict);
	if (!props) {
		udk_value_unref(classes);
		return -ENOMEM;
	}
	udk_dict_set_string(props, "CFBundleIdentifier", p->bundle->identifier);
	udk_dict_set_string(props, "IOPersonalityName", p->name);
	udk_dict_set_int(props, "IOProbeScore", c->score);
	r = service_new(d, provider, p->user_class, classes, props, &inst);
	udk_value_unref(props);
	if (r < 0)
		return r;
	/* IOProviderMergeProperties: the personality adds to its provider's table */
	if (udk_value_get_type(udk_dict_get(p->dict, "IOProviderMergeProperties")) == UDK_VALUE_DICT)
		service_set_properties(d, provider, udk_dict_get(p->dict, "IOProviderMergeProperties"));
	inst->istate = INST_LAUNCHING;
	inst->personality = p;
	inst->category = strdup(category_of(p));
	inst->score = c->score;
	log_info(d, "%s matched %s (score %lld, category %s); starting %s", p->bundle->identifier, provider->name,
		 (long long)c->score, inst->category, p->user_class);
	return launcher_start_instance(d, inst);
}

void
match_service(struct udkd *d, struct service *s)
{
	struct candidate *cands = NULL;
	size_t n = 0;

	if (s->state != SVC_REGISTERED || d->shutting_down || s->rematch_timer || s->n_stopping)
		return;
	for (size_t i = 0; i < d->n_bundles; i++) {
		struct bundle *b = d->bundles[i];
		for (size_t j = 0; j < b->n_personalities; j++) {
			struct personality *p = b->personalities[j];
			int64_t score = 0;
			struct candidate *nc;

			if (!personality_usable(p) || excluded(s, p))
				continue;
			if (!match_personality(d, p, s, &score, NULL))
				continue;
			nc = reallocarray(cands, n + 1, sizeof(*nc));
			if (!nc)
				break;
			cands = nc;
			cands[n++] = (struct candidate){ p, score };
		}
	}
	/* stable order: highest score first, then load order */
	for (size_t i = 1; i < n; i++) {
		struct candidate c = cands[i];
		size_t j = i;
		while (j > 0 && cands[j - 1].score < c.score) {
			cands[j] = cands[j - 1];
			j--;
		}
		cands[j] = c;
	}
	for (size_t i = 0; i < n; i++) {
		const char *cat = category_of(cands[i].p);

		if (category_holder(s, cat))
			continue;
		if (start_candidate(d, s, &cands[i]) < 0)
			log_error(d, "cannot start %s on %s", cands[i].p->bundle->identifier, s->name);
	}
	free(cands);
}

static void
match_one(struct udkd *d, struct service *s, void *data)
{
	(void)data;
	if (s->istate == INST_NONE || s->istate == INST_RUNNING)
		match_service(d, s);
}

void
match_all(struct udkd *d)
{
	registry_walk(d, match_one, NULL);
}

static struct udk_value *
explain_personality(struct udkd *d, struct personality *p, struct service *s)
{
	struct udk_value *e = udk_value_new_dict();
	struct udk_value *checks = udk_value_new_array();
	struct bundle *b = p->bundle;
	int64_t score = 0;
	bool m;
	char *verdict = NULL;

	udk_dict_set_string(e, "personality", p->name);
	udk_dict_set_string(e, "bundle", b->identifier ? b->identifier : b->dirname);
	m = match_personality(d, p, s, &score, checks);
	udk_dict_set_take(e, "checks", checks);
	udk_dict_set_bool(e, "matches", m);
	if (m)
		udk_dict_set_int(e, "score", score);

	if (!m) {
		/* name the first key that failed */
		const char *key = "?", *detail = "";
		for (size_t i = 0; i < udk_array_size(checks); i++) {
			struct udk_value *c = udk_array_get(checks, i);
			if (streq(udk_dict_get_string(c, "result"), "failed")) {
				key = udk_dict_get_string(c, "key");
				detail = udk_dict_get_string(c, "detail");
				break;
			}
		}
		verdict = strdup_printf("does not match: %s %s", key, detail);
		udk_dict_set_string(e, "code", udk_error_name(streq(key, "entitlements") ? -UDK_E_ENTITLEMENT
											 : -UDK_E_NO_MATCH));
	} else if (!b->loadable) {
		char *why = bundle_why_not(b);
		verdict = strdup_printf("would match with score %lld, but the bundle has errors (%s): run `udkctl "
					"drivers %s`",
					(long long)score, why ? why : "?", b->dirname);
		free(why);
		udk_dict_set_string(e, "code", udk_error_name(-UDK_E_BAD_MANIFEST));
	} else if (b->refusal) {
		verdict = strdup_printf("would match with score %lld, but udkd refuses the bundle: %s: %s",
					(long long)score, udk_error_name(b->refusal),
					b->refusal_reason ? b->refusal_reason : "");
		udk_dict_set_string(e, "code", udk_error_name(b->refusal));
	} else if (b->disabled) {
		verdict = strdup_printf("would match with score %lld, but the bundle is disabled: %s. "
					"Fix it, then `udkctl restart %s`",
					(long long)score, b->disabled_reason ? b->disabled_reason : "by request",
					b->identifier);
	} else if (b->removed) {
		verdict = strdup_printf("would match, but the bundle was removed");
	} else {
		struct service *holder = category_holder(s, category_of(p));
		const struct exclusion *ex = excluded(s, p);
		if (ex && ex->before_start) {
			/* the reason says what to fix */
			verdict = strdup_printf("matches with score %lld but udkd did not start it on this service: %s; "
						"`udkctl restart %s` tries again",
						(long long)score, ex->reason, b->identifier);
		} else if (ex) {
			verdict = strdup_printf("matches with score %lld but its Start() failed on this service (%s); "
						"`udkctl restart %s` tries again",
						(long long)score, ex->reason, b->identifier);
		} else if (holder && holder->personality == p) {
			verdict = strdup_printf("matches with score %lld and is %s as %s (id 0x%llx)%s%s", (long long)score,
						holder->istate == INST_RUNNING ? "running" : "starting", holder->name,
						(unsigned long long)holder->id, holder->problem ? "; the driver reports " : "",
						holder->problem ? holder->problem : "");
		} else if (holder) {
			verdict = strdup_printf("matches with score %lld but lost category %s to %s (%s, score %lld)",
						(long long)score, category_of(p), holder->personality->bundle->identifier,
						holder->personality->name, (long long)holder->score);
		} else if (s->rematch_timer) {
			verdict = strdup_printf("matches with score %lld; a restart after a crash is scheduled",
						(long long)score);
		} else if (s->state != SVC_REGISTERED) {
			verdict = strdup_printf("matches with score %lld, but the service is not registered for "
						"matching yet (its publisher has not called RegisterService)",
						(long long)score);
		} else {
			verdict = strdup_printf("matches with score %lld (not started yet)", (long long)score);
		}
	}
	udk_dict_set_string(e, "verdict", verdict ? verdict : "");
	free(verdict);
	return e;
}

int
match_explain(struct udkd *d, const char *driver, const char *service, struct udk_value **ret)
{
	struct udk_value *rep, *list;
	struct service *s = service_by_path(d, service);
	bool any = false;

	if (!s)
		return udk_set_reason(-UDK_E_NO_SUCH_SERVICE,
				      "no service at \"%s\"; `udkctl tree` shows the paths and ids", service ? service : "");
	rep = udk_value_new_dict();
	list = udk_value_new_array();
	{
		char *path = service_path(s);
		udk_dict_set_string(rep, "service", path ? path : s->name);
		free(path);
	}
	udk_dict_set_uint(rep, "id", s->id);
	udk_dict_set(rep, "classes", s->classes);
	for (size_t i = 0; i < d->n_bundles; i++) {
		struct bundle *b = d->bundles[i];
		bool whole = !driver || streq(b->identifier, driver) || streq(b->dirname, driver) ||
			     (strlen(b->dirname) == strlen(driver) + 5 && startswith(b->dirname, driver));
		if (b->removed)
			continue;
		for (size_t j = 0; j < b->n_personalities; j++) {
			struct personality *p = b->personalities[j];
			if (!whole && !streq(p->user_class, driver) && !streq(p->name, driver))
				continue;
			any = true;
			udk_array_append_take(list, explain_personality(d, p, s));
		}
		/* a bundle with errors before its personalities */
		if (whole && b->n_personalities == 0) {
			struct udk_value *e = udk_value_new_dict();
			any = true;
			udk_dict_set_string(e, "bundle", b->identifier ? b->identifier : b->dirname);
			udk_dict_set_bool(e, "matches", false);
			udk_dict_set_string(e, "verdict",
					    b->loadable ? "the bundle has no personalities, so it never matches"
							: "the bundle has errors and no usable personalities; run "
							  "`udkctl drivers` to see them");
			udk_array_append_take(list, e);
		}
	}
	if (!any) {
		udk_value_unref(list);
		udk_value_unref(rep);
		return udk_set_reason(-ENOENT,
				      "no bundle, personality or IOUserClass named \"%s\"; `udkctl drivers` lists "
				      "them",
				      driver);
	}
	udk_dict_set_take(rep, "personalities", list);
	*ret = rep;
	return 0;
}
