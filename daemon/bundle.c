/* SPDX-License-Identifier: MIT */
/*
 * bundle.c - driver bundles in DriverKit's shape.
 *
 *   Name.dext/
 *     Info.plist          CFBundleIdentifier, CFBundleExecutable,
 *                         CFBundleVersion, IOKitPersonalities
 *     Entitlements.plist  (optional here; see the signing docs)
 *     <executable>
 *
 * Loading never fails because of what a bundle contains: every problem is
 * recorded as a diagnostic naming the file and the key, and the bundle (or
 * just the personality) is marked unusable.  Other bundles are unaffected.
 */
#include <ctype.h>
#include <inttypes.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "family.h"
#include "sandbox.h"
#include "udk-config.h"
#include "value-private.h"
#include "udkd.h"
#include "util.h"
#include "work.h"

#define INFO_PLIST "Info.plist"
#define ENTITLEMENTS_PLIST "Entitlements.plist"
/* Bounds on what one bundle (and one scan) may make udkd hold (docs/security.md). */
#define BUNDLE_MAX_PERSONALITIES 1024
#define BUNDLE_MAX_DIAGS 200
#define BUNDLES_MAX 4096

static uint64_t bundle_stamp(const char *path);

/* The keys family #i owns, or an empty list. */
static const char *const *
family_keys_at(size_t i)
{
	static const char *const none[] = { NULL };
	const struct family_matcher *m = udkd_families[i]->matcher;
	return m && m->keys ? m->keys : none;
}

/* Top-level Info.plist keys udk reads or tolerates. */
static const char *const known_info_keys[] = {
	"CFBundleIdentifier",
	"CFBundleExecutable",
	"CFBundleVersion",
	"CFBundleShortVersionString",
	"CFBundleName",
	"CFBundleDisplayName",
	"CFBundlePackageType",
	"CFBundleInfoDictionaryVersion",
	"CFBundleDevelopmentRegion",
	"CFBundleSupportedPlatforms",
	"CFBundleSignature",
	"IOKitPersonalities",
	"OSBundleUsageDescription",
	"OSBundleUsage",
	"OSBundleRequired",
	"OSBundleLibraries",
	"OSBundleCompatibleVersion",
	"OSMinimumDriverKitVersion",
	"LSMinimumSystemVersion",
	"MinimumOSVersion",
	"UIDeviceFamily",
	"BuildMachineOSBuild",
	"DTCompiler",
	"DTPlatformBuild",
	"DTPlatformName",
	"DTPlatformVersion",
	"DTSDKBuild",
	"DTSDKName",
	"DTXcode",
	"DTXcodeBuild",
	"NSHumanReadableCopyright",
	NULL,
};

/* Personality keys with a meaning; anything else is copied as a property. */
static const char *const known_personality_keys[] = {
	"CFBundleIdentifier",
	"CFBundleIdentifierKernel",
	"IOClass",
	"IOUserClass",
	"IOUserServerName",
	"IOProviderClass",
	"IOProbeScore",
	"IOMatchCategory",
	"IOPropertyMatch",
	"IONameMatch",
	"IOResourceMatch",
	"IOParentMatch",
	"IOUserClientClass",
	"UserClientProperties",
	"IOPowerManagement",
	"IOKitDebug",
	"IOUserServerOneProcess",
	"IOServiceDEXTEntitlements",
	"IOProviderMergeProperties",
	"IOMatchDefer",
	"IOPersonalityPublisher",
	"IOUserServerCDHash",
	"UDKDeadlines",
	"UDKLogLevel",
	"UDKResourceLimits",
	"UDKIdleTimeoutMs",
	NULL,
};

static void
add_diag_v(struct bundle *b, int code, enum diag_level lvl, const char *file, const char *key, const char *fmt,
	   va_list ap) UDK_PRINTF(6, 0);

static void
add_diag_v(struct bundle *b, int code, enum diag_level lvl, const char *file, const char *key, const char *fmt,
	   va_list ap)
{
	struct diag *n;
	char *msg = NULL;

	/* a manifest with 35,000 bad personalities gets one line for the rest, not 100,000 */
	if (b->n_diags > BUNDLE_MAX_DIAGS)
		return;
	if (b->n_diags == BUNDLE_MAX_DIAGS) {
		lvl = DIAG_WARNING;
		code = 0;
		file = key = NULL;
		msg = strdup_printf("more than %u problems; the others are not listed: fix these first",
				    BUNDLE_MAX_DIAGS);
	} else if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;
	}
	n = reallocarray(b->diags, b->n_diags + 1, sizeof(*n));
	if (!n || !msg) {
		free(msg);
		return;
	}
	b->diags = n;
	n[b->n_diags] = (struct diag){
		.level = lvl,
		.code = lvl == DIAG_ERROR && !code ? -UDK_E_BAD_MANIFEST : code,
		.file = file ? strdup(file) : NULL,
		.key = key ? strdup(key) : NULL,
		.message = msg,
	};
	b->n_diags++;
}

void
bundle_add_diag(struct bundle *b, enum diag_level lvl, const char *file, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_diag_v(b, 0, lvl, file, key, fmt, ap);
	va_end(ap);
}

void
bundle_add_diag_code(struct bundle *b, int code, enum diag_level lvl, const char *file, const char *key,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_diag_v(b, code, lvl, file, key, fmt, ap);
	va_end(ap);
}

bool
bundle_runnable(const struct bundle *b)
{
	return b->loadable && !b->refusal && !b->disabled && !b->removed;
}

char *
bundle_why_not(const struct bundle *b)
{
	if (!b->loadable) {
		for (size_t i = 0; i < b->n_diags; i++) {
			const struct diag *g = &b->diags[i];
			if (g->level != DIAG_ERROR || (g->key && startswith(g->key, "IOKitPersonalities.")))
				continue;
			return strdup_printf("%s: %s%s%s%s%s", udk_error_name(g->code), g->file ? g->file : b->dirname,
					     g->key ? ": " : "", g->key ? g->key : "", ": ", g->message);
		}
		return strdup_printf("%s: %s cannot be used; run `udkctl drivers %s`", udk_error_name(-UDK_E_BAD_MANIFEST),
				     b->dirname, b->dirname);
	}
	if (b->refusal)
		return strdup_printf("%s: %s", udk_error_name(b->refusal),
				     b->refusal_reason ? b->refusal_reason : "refused");
	if (b->disabled)
		return strdup_printf("%s: %s is disabled: %s; `udkctl restart %s` enables it again",
				     udk_error_name(-UDK_E_DRIVER_DISABLED), b->dirname,
				     b->disabled_reason ? b->disabled_reason : "by request",
				     b->identifier ? b->identifier : b->dirname);
	if (b->removed)
		return strdup_printf("%s was removed", b->dirname);
	return NULL;
}

static void
personality_free(struct personality *p)
{
	if (!p)
		return;
	free(p->name);
	udk_value_unref(p->dict);
	free(p);
}

void
bundle_free(struct bundle *b)
{
	if (!b)
		return;
	free(b->path);
	free(b->dirname);
	free(b->identifier);
	free(b->version);
	free(b->executable);
	udk_value_unref(b->info);
	udk_value_unref(b->entitlements);
	for (size_t i = 0; i < b->n_personalities; i++)
		personality_free(b->personalities[i]);
	free(b->personalities);
	for (size_t i = 0; i < b->n_diags; i++) {
		free(b->diags[i].file);
		free(b->diags[i].key);
		free(b->diags[i].message);
	}
	free(b->diags);
	free(b->disabled_reason);
	free(b->refusal_reason);
	free(b->unsafe);
	if (b->exe_fd >= 0)
		close(b->exe_fd);
	entitlements_clear(&b->ent);
	sign_result_clear(&b->sig);
	free(b);
}

/* Edit distance, for "did you mean" on misspelt keys. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= ARRAY_SIZE(row) || lb >= ARRAY_SIZE(row))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), prev + cost);
			prev = cur;
		}
	}
	return row[lb];
}

static const char *
suggest(const char *key, const char *const *known, const char *const *extra)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (const char *const *list = known; list; list = list == known ? extra : NULL)
		for (const char *const *k = list; *k; k++) {
			size_t dd = distance(key, *k);
			if (dd < best_d || (dd == best_d && !best && dd <= 2)) {
				best_d = dd;
				best = *k;
			}
		}
	return best_d <= 2 ? best : NULL;
}

const char *
bundle_suggest_name(const char *name, const char *const *known)
{
	return name ? suggest(name, known, NULL) : NULL;
}

static bool
in_list(const char *key, const char *const *list)
{
	for (const char *const *k = list; k && *k; k++)
		if (streq(*k, key))
			return true;
	return false;
}

static bool
reserved_namespace(const char *key)
{
	return startswith(key, "IO") || startswith(key, "CFBundle") || startswith(key, "OSBundle") ||
	       startswith(key, "UDK");
}

static bool
family_key(const char *key)
{
	if (family_of_key(key))
		return true;
	/* keys a family gives meaning to without matching on them (IOTTYBaseName ...) */
	for (size_t i = 0; i < udkd_n_families; i++)
		if (udkd_families[i]->struct_size >= offsetof(struct udkd_family, property_keys) + sizeof(void *) &&
		    in_list(key, udkd_families[i]->property_keys))
			return true;
	return false;
}

struct diag_ctx {
	struct bundle *b;
	const char *pname;
	bool failed;
};

static void
family_diag(void *ctx, bool error, const char *key, const char *message)
{
	struct diag_ctx *c = ctx;
	char full[256];

	snprintf(full, sizeof(full), "IOKitPersonalities.%s.%s", c->pname, key);
	bundle_add_diag(c->b, error ? DIAG_ERROR : DIAG_WARNING, INFO_PLIST, full, "%s", message);
	if (error)
		c->failed = true;
}

static const char *
require_string(struct bundle *b, const struct udk_value *dict, const char *pname, const char *key, bool *failed)
{
	struct udk_value *v = udk_dict_get(dict, key);
	char full[256];

	snprintf(full, sizeof(full), "IOKitPersonalities.%s.%s", pname, key);
	if (!v) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, full, "required key is missing");
		*failed = true;
		return NULL;
	}
	if (udk_value_get_type(v) != UDK_VALUE_STRING || !*udk_value_get_string(v)) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, full, "must be a non-empty <string>, not %s",
				udk_value_type_name(udk_value_get_type(v)));
		*failed = true;
		return NULL;
	}
	return udk_value_get_string(v);
}

static const char *const core_classes[] = { "IOService", "IOUserService", "IOUserClient", "IOUserUserClient",
					    "IOUserResources", NULL };

/* Whether @name is a class udk or one of its families registers. */
bool
bundle_known_class(const char *name)
{
	return name && (in_list(name, core_classes) || family_of_class(name, NULL));
}

/* Every class name udk knows: its own and every family's (did-you-mean, issue 20). */
const char *
bundle_suggest_class(const char *name)
{
	const char *best = suggest(name, core_classes, NULL);

	for (size_t i = 0; !best && i < udkd_n_families; i++) {
		const char *list[64];
		size_t n = 0;
		for (const struct udkd_family_class *c = udkd_families[i]->classes; c && c->name && n < 63; c++)
			list[n++] = c->name;
		list[n] = NULL;
		best = suggest(name, list, NULL);
	}
	return best;
}

/* IOClass: the kernel-side class, which says which family role a driver plays. */
static void
check_io_class(struct bundle *b, struct personality *p, const char *keypath, bool *failed)
{
	static const char *const plain[] = { "IOService", "IOUserService", NULL };
	const char *absent = family_absent_for_class(p->io_class);
	const char *s;

	if (in_list(p->io_class, plain) || family_of_class(p->io_class, NULL))
		return;
	if (absent) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, keypath,
				"is %s, a class of DriverKit's %s family, which udk does not have: this personality "
				"cannot run here (`udkctl families` lists udk's families)",
				p->io_class, absent);
		*failed = true;
		return;
	}
	s = bundle_suggest_class(p->io_class);
	bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, keypath,
			"\"%s\" is not a class udk knows%s%s%s; the driver runs as a plain IOUserService",
			p->io_class, s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
}

/* IOServiceDEXTEntitlements: an <array> of <array>s of entitlement names. */
static bool
valid_dext_entitlements(const struct udk_value *v)
{
	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || udk_array_size(v) == 0 || udk_array_size(v) > 64)
		return false;
	for (size_t i = 0; i < udk_array_size(v); i++) {
		const struct udk_value *set = udk_array_get(v, i);
		if (udk_value_get_type(set) != UDK_VALUE_ARRAY || udk_array_size(set) == 0 || udk_array_size(set) > 64)
			return false;
		for (size_t j = 0; j < udk_array_size(set); j++)
			if (udk_value_get_type(udk_array_get(set, j)) != UDK_VALUE_STRING)
				return false;
	}
	return true;
}

/* The DriverKit keys beyond matching: their shapes, with the key path. */
static void
check_driverkit_keys(struct bundle *b, struct personality *p, bool *failed)
{
	const struct udk_value *d = p->dict, *uc = udk_dict_get(d, "UserClientProperties"), *v;
	char full[256];

#define KEYPATH2(k) (snprintf(full, sizeof(full), "IOKitPersonalities.%s.%s", p->name, (k)), full)
	v = udk_dict_get(d, "IOServiceDEXTEntitlements");
	if (v && !valid_dext_entitlements(v)) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH2("IOServiceDEXTEntitlements"),
				"must be an <array> of <array>s of entitlement <string>s (each inner array is one set "
				"a matching driver must hold whole), e.g. <array><array><string>"
				"com.apple.developer.driverkit.family.serial</string></array></array>");
		*failed = true;
	}
	if (uc && udk_value_get_type(uc) != UDK_VALUE_DICT) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH2("UserClientProperties"),
				"must be a <dict> with IOClass and IOUserClass, not %s",
				udk_value_type_name(udk_value_get_type(uc)));
		*failed = true;
	}
	v = udk_dict_get(uc, "IOServiceDEXTEntitlements");
	if (v && !valid_dext_entitlements(v)) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH2("UserClientProperties.IOServiceDEXTEntitlements"),
				"must be an <array> of <array>s of entitlement <string>s: an app opening this user "
				"client must hold every entitlement of one inner array");
		*failed = true;
	}
	v = udk_dict_get(d, "IOProviderMergeProperties");
	if (v && udk_value_get_type(v) != UDK_VALUE_DICT) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH2("IOProviderMergeProperties"),
				"must be a <dict> of properties merged into the provider when the driver matches");
		*failed = true;
	}
	v = udk_dict_get(d, "IOUserServerOneProcess");
	if (v && udk_value_get_type(v) != UDK_VALUE_BOOL) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH2("IOUserServerOneProcess"),
				"must be <true/> or <false/>, not %s", udk_value_type_name(udk_value_get_type(v)));
		*failed = true;
	}
	v = udk_dict_get(d, "IOMatchDefer");
	if (v && udk_value_get_type(v) != UDK_VALUE_BOOL)
		bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH2("IOMatchDefer"),
				"should be <true/> or <false/>; udk accepts it and matches as soon as it can");
#undef KEYPATH2
}

static void
check_personality(struct bundle *b, struct personality *p)
{
	const struct udk_value *d = p->dict;
	char full[256];
	bool failed = false;
	struct udk_value *v;

#define KEYPATH(k) (snprintf(full, sizeof(full), "IOKitPersonalities.%s.%s", p->name, (k)), full)

	p->provider_class = require_string(b, d, p->name, "IOProviderClass", &failed);
	p->user_class = require_string(b, d, p->name, "IOUserClass", &failed);
	p->server_name = require_string(b, d, p->name, "IOUserServerName", &failed);

	v = udk_dict_get(d, "IOClass");
	if (!v) {
		p->io_class = "IOUserService";
	} else if (udk_value_get_type(v) != UDK_VALUE_STRING) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOClass"), "must be a <string>");
		failed = true;
	} else {
		p->io_class = udk_value_get_string(v);
	}
	if (p->io_class)
		check_io_class(b, p, KEYPATH("IOClass"), &failed);

	/*
	 * A provider class may be one a driver publishes itself, so an unknown
	 * one is no error; one a letter or two from a class udk knows is a
	 * typo that would never match (issue 20).
	 */
	if (p->provider_class && !bundle_known_class(p->provider_class) &&
	    !family_absent_for_class(p->provider_class)) {
		const char *sc = bundle_suggest_class(p->provider_class);
		if (sc)
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH("IOProviderClass"),
					"\"%s\" is not a class udk or its families register (did you mean \"%s\"?): "
					"unless a driver of yours publishes it, this personality never matches",
					p->provider_class, sc);
	}

	if (p->server_name && b->identifier && !streq(p->server_name, b->identifier)) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOUserServerName"),
				"is \"%s\" but must be this bundle's CFBundleIdentifier \"%s\": it names the "
				"bundle whose process runs the driver",
				p->server_name, b->identifier);
		failed = true;
	}
	v = udk_dict_get(d, "CFBundleIdentifier");
	if (v && b->identifier && !streq(udk_value_get_string(v), b->identifier))
		bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH("CFBundleIdentifier"),
				"differs from the bundle's CFBundleIdentifier \"%s\"; udk uses the bundle's",
				b->identifier);

	v = udk_dict_get(d, "IOProbeScore");
	if (v && udk_value_get_type(v) != UDK_VALUE_INT) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOProbeScore"),
				"must be an <integer>, not %s; e.g. <integer>1000</integer>",
				udk_value_type_name(udk_value_get_type(v)));
		failed = true;
	} else if (v && (udk_value_get_int(v, 0) < INT32_MIN || udk_value_get_int(v, 0) > INT32_MAX)) {
		/* IOKit's score is an SInt32: a larger one would wrap, or sort wrongly */
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOProbeScore"),
				"%" PRId64 " does not fit in 32 bits: IOProbeScore is a signed 32-bit number (%d to "
				"%d); most drivers use a few thousand at most",
				udk_value_get_int(v, 0), INT32_MIN, INT32_MAX);
		failed = true;
	}
	p->probe_score = udk_value_get_int(v, 0);

	v = udk_dict_get(d, "IOMatchCategory");
	if (v && udk_value_get_type(v) != UDK_VALUE_STRING) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOMatchCategory"), "must be a <string>");
		failed = true;
	}
	p->match_category = udk_value_get_string(v);
	if (p->provider_class && streq(p->provider_class, "IOUserResources") && !p->match_category)
		bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH("IOMatchCategory"),
				"is missing: a driver on IOUserResources without its own IOMatchCategory takes the "
				"default category, so no other IOUserResources driver can load. Set it to your "
				"class name, e.g. \"%s\"",
				p->user_class ? p->user_class : "com_example_driver");
	else if (p->match_category && p->provider_class && !streq(p->provider_class, "IOUserResources"))
		bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH("IOMatchCategory"),
				"is set to \"%s\": this driver will load beside, not instead of, other drivers of %s "
				"and may fight them for the device. Most drivers must not set it; remove it unless "
				"you mean to share the provider",
				p->match_category, p->provider_class);

	v = udk_dict_get(d, "IOPropertyMatch");
	if (v) {
		bool ok = udk_value_get_type(v) == UDK_VALUE_DICT;
		if (udk_value_get_type(v) == UDK_VALUE_ARRAY) {
			ok = udk_array_size(v) > 0;
			for (size_t i = 0; i < udk_array_size(v); i++)
				if (udk_value_get_type(udk_array_get(v, i)) != UDK_VALUE_DICT)
					ok = false;
		}
		if (!ok) {
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOPropertyMatch"),
					"must be a <dict> of properties, or an <array> of such dicts");
			failed = true;
		}
	}
	v = udk_dict_get(d, "IONameMatch");
	if (v) {
		bool ok = udk_value_get_type(v) == UDK_VALUE_STRING;
		if (udk_value_get_type(v) == UDK_VALUE_ARRAY) {
			ok = udk_array_size(v) > 0;
			for (size_t i = 0; i < udk_array_size(v); i++)
				if (udk_value_get_type(udk_array_get(v, i)) != UDK_VALUE_STRING)
					ok = false;
		}
		if (!ok) {
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IONameMatch"),
					"must be a <string> or an <array> of strings");
			failed = true;
		}
	}
	v = udk_dict_get(d, "IOResourceMatch");
	if (v && udk_value_get_type(v) != UDK_VALUE_STRING) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("IOResourceMatch"), "must be a <string>");
		failed = true;
	}
	v = udk_dict_get(d, "UserClientProperties");
	if (v) {
		if (udk_value_get_type(v) != UDK_VALUE_DICT || !udk_dict_get_string(v, "IOUserClass")) {
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("UserClientProperties"),
					"must be a <dict> with an IOUserClass <string> naming the user client class");
			failed = true;
		}
	}
	v = udk_dict_get(d, "UDKDeadlines");
	if (v) {
		static const char *const dl[] = { "Start", "Stop", "NewUserClient", "SetPowerState", NULL };
		if (udk_value_get_type(v) != UDK_VALUE_DICT) {
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("UDKDeadlines"),
					"must be a <dict> of milliseconds: Start, Stop, NewUserClient, SetPowerState");
			failed = true;
		} else {
			for (size_t i = 0; i < udk_dict_size(v); i++) {
				const char *k = udk_dict_key_at(v, i);
				struct udk_value *x = udk_dict_value_at(v, i);
				if (!in_list(k, dl) || udk_value_get_type(x) != UDK_VALUE_INT ||
				    udk_value_get_int(x, 0) <= 0) {
					bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("UDKDeadlines"),
							"entry \"%s\" must be one of Start, Stop, NewUserClient, "
							"SetPowerState with a positive <integer> of milliseconds",
							k);
					failed = true;
				}
			}
		}
	}
	v = udk_dict_get(d, "UDKIdleTimeoutMs");
	if (v && (udk_value_get_type(v) != UDK_VALUE_INT || udk_value_get_int(v, 0) <= 0)) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("UDKIdleTimeoutMs"),
				"must be a positive <integer> of milliseconds after which an idle driver goes to LOW");
		failed = true;
	}
	v = udk_dict_get(d, "UDKResourceLimits");
	if (v) {
		static const char *const rl[] = { "Memory", "Files", "Threads", NULL };
		if (udk_value_get_type(v) != UDK_VALUE_DICT) {
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("UDKResourceLimits"),
					"must be a <dict>: Memory (bytes), Files, Threads");
			failed = true;
		} else {
			for (size_t i = 0; i < udk_dict_size(v); i++) {
				const char *k = udk_dict_key_at(v, i);
				struct udk_value *x = udk_dict_value_at(v, i);
				if (!in_list(k, rl) || udk_value_get_type(x) != UDK_VALUE_INT ||
				    udk_value_get_int(x, 0) <= 0 ||
				    (!streq(k, "Memory") && udk_value_get_int(x, 0) > 1000000)) {
					bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, KEYPATH("UDKResourceLimits"),
							"entry \"%s\" must be one of Memory (bytes), Files or Threads "
							"with a positive <integer>",
							k);
					failed = true;
				}
			}
		}
	}

	for (size_t i = 0; i < udkd_n_families; i++) {
		struct diag_ctx ctx = { .b = b, .pname = p->name };
		const struct family_matcher *m = udkd_families[i]->matcher;
		if (!m || !m->validate)
			continue;
		m->validate(d, family_diag, &ctx);
		if (ctx.failed)
			failed = true;
	}

	/* misspelt keys in IOKit's namespaces */
	for (size_t i = 0; i < udk_dict_size(d); i++) {
		const char *k = udk_dict_key_at(d, i);
		const char *s;

		if (in_list(k, known_personality_keys) || family_key(k) || !reserved_namespace(k)) {
			/* a family key with the wrong case is also worth a warning */
			if (!in_list(k, known_personality_keys) && !family_key(k) && !reserved_namespace(k)) {
				for (size_t f = 0; f < udkd_n_families; f++) {
					s = suggest(k, family_keys_at(f), NULL);
					if (s && strcasecmp(s, k) == 0)
						bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH(k),
								"is not a matching key; did you mean \"%s\"? Keys "
								"are case sensitive",
								s);
				}
			}
			continue;
		}
		s = suggest(k, known_personality_keys, NULL);
		for (size_t f = 0; !s && f < udkd_n_families; f++)
			s = suggest(k, family_keys_at(f), NULL);
		if (s)
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH(k),
					"unknown key; did you mean \"%s\"? It is copied into the driver's "
					"properties but not used for matching",
					s);
		else
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, KEYPATH(k),
					"unknown key in IOKit's namespace; it is copied into the driver's properties "
					"but udk gives it no meaning");
	}
#undef KEYPATH
	check_driverkit_keys(b, p, &failed);
	p->valid = !failed;
}

static int
load_personalities(struct bundle *b)
{
	struct udk_value *ps = udk_dict_get(b->info, "IOKitPersonalities");

	if (!ps) {
		bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, "IOKitPersonalities",
				"is missing: this bundle has no personalities and never matches anything");
		return 0;
	}
	if (udk_value_get_type(ps) != UDK_VALUE_DICT) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "IOKitPersonalities",
				"must be a <dict> of personality name to personality <dict>, not %s",
				udk_value_type_name(udk_value_get_type(ps)));
		return 0;
	}
	if (udk_dict_size(ps) > BUNDLE_MAX_PERSONALITIES) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "IOKitPersonalities",
				"holds %zu personalities; a bundle may have at most %u: split it into several bundles",
				udk_dict_size(ps), BUNDLE_MAX_PERSONALITIES);
		return 0;
	}
	for (size_t i = 0; i < udk_dict_size(ps); i++) {
		const char *name = udk_dict_key_at(ps, i);
		struct udk_value *pd = udk_dict_value_at(ps, i);
		struct personality *p, **n;
		char full[256];

		snprintf(full, sizeof(full), "IOKitPersonalities.%s", name);
		if (udk_value_get_type(pd) != UDK_VALUE_DICT) {
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, full, "must be a <dict>, not %s",
					udk_value_type_name(udk_value_get_type(pd)));
			continue;
		}
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->bundle = b;
		p->name = strdup(name);
		p->dict = udk_value_ref(pd);
		n = reallocarray(b->personalities, b->n_personalities + 1, sizeof(*n));
		if (!n || !p->name) {
			personality_free(p);
			return -ENOMEM;
		}
		b->personalities = n;
		b->personalities[b->n_personalities++] = p;
		check_personality(b, p);
	}
	return 0;
}

static bool
valid_identifier(const char *s)
{
	if (!s || !*s || strlen(s) > 255)
		return false;
	for (const char *p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_'))
			return false;
	return s[0] != '.';
}

static void
check_executable(struct bundle *b, int dirfd)
{
	const char *exe = udk_dict_get_string(b->info, "CFBundleExecutable");
	struct stat st;
	char real[PATH_MAX], bundle_real[PATH_MAX];

	if (!exe) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "CFBundleExecutable",
				udk_dict_get(b->info, "CFBundleExecutable")
					? "must be a <string> naming the driver executable inside the bundle"
					: "required key is missing: name the driver executable inside the bundle");
		return;
	}
	if (!*exe || strchr(exe, '/') || streq(exe, ".") || streq(exe, "..")) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "CFBundleExecutable",
				"\"%s\" must be a plain file name inside the bundle, without '/'", exe);
		return;
	}
	if (fstatat(dirfd, exe, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		bundle_add_diag(b, DIAG_ERROR, exe, NULL,
				"the executable named by CFBundleExecutable does not exist in %s: build the driver "
				"and copy it into the bundle",
				b->dirname);
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		char *p = strdup_printf("%s/%s", b->path, exe);
		if (!p || !realpath(p, real) || !realpath(b->path, bundle_real) ||
		    strncmp(real, bundle_real, strlen(bundle_real)) != 0 || real[strlen(bundle_real)] != '/') {
			bundle_add_diag(b, DIAG_ERROR, exe, NULL,
					"is a symbolic link that points outside the bundle; copy the executable into "
					"the bundle instead");
			free(p);
			return;
		}
		free(p);
		if (stat(real, &st) < 0) {
			bundle_add_diag(b, DIAG_ERROR, exe, NULL, "is a dangling symbolic link");
			return;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		bundle_add_diag(b, DIAG_ERROR, exe, NULL, "is not a regular file");
		return;
	}
	if (!(st.st_mode & S_IXUSR)) {
		bundle_add_diag(b, DIAG_ERROR, exe, NULL, "is not executable: chmod +x %s/%s", b->path, exe);
		return;
	}
	b->executable = strdup_printf("%s/%s", b->path, exe);
}

static int
load_checked(struct bundle *b, struct sign_snapshot *snap);

/* udkd's own ELF class and machine: a driver must be the same (0: not checked) */
#if defined(__x86_64__)
#define UDKD_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define UDKD_ELF_MACHINE EM_AARCH64
#elif defined(__i386__)
#define UDKD_ELF_MACHINE EM_386
#elif defined(__arm__)
#define UDKD_ELF_MACHINE EM_ARM
#elif defined(__riscv)
#define UDKD_ELF_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define UDKD_ELF_MACHINE EM_PPC64
#elif defined(__s390x__)
#define UDKD_ELF_MACHINE EM_S390
#else
#define UDKD_ELF_MACHINE 0
#endif

static const char *
elf_machine_name(unsigned m)
{
	switch (m) {
	case EM_X86_64: return "x86-64";
	case EM_AARCH64: return "AArch64";
	case EM_386: return "i386";
	case EM_ARM: return "ARM";
	case EM_RISCV: return "RISC-V";
	case EM_PPC64: return "PowerPC64";
	case EM_S390: return "s390x";
	case EM_MIPS: return "MIPS";
	default: return NULL;
	}
}

/*
 * The executable's format, before any launch (issue 20): an ELF program of
 * udkd's class, byte order and machine, or a script whose #! names an
 * absolute interpreter.  Anything else would only fail in execve() with
 * ENOEXEC, seen as a crash loop.  Reads the sealed copy that will run.
 */
static void
check_exec_format(struct bundle *b, int fd, const char *exe)
{
	unsigned char h[128];
	ssize_t n = pread(fd, h, sizeof(h), 0);
	const unsigned char my_class = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
	const unsigned char my_data = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	char mine[32], theirs[32];

	if (n < 0)
		return; /* the read error is reported elsewhere */
	if (n >= 2 && h[0] == '#' && h[1] == '!') {
		size_t i = 2, j;
		while (i < (size_t)n && (h[i] == ' ' || h[i] == '\t'))
			i++;
		for (j = i; j < (size_t)n && h[j] != ' ' && h[j] != '\t' && h[j] != '\n'; j++)
			;
		if (j == (size_t)n && n == sizeof(h)) {
			bundle_add_diag_code(b, -UDK_E_EXEC_FORMAT, DIAG_ERROR, exe, NULL,
					     "is a script whose #! line is longer than %zu bytes: name a shorter "
					     "interpreter path", sizeof(h));
			return;
		}
		if (j == i || h[i] != '/') {
			bundle_add_diag_code(b, -UDK_E_EXEC_FORMAT, DIAG_ERROR, exe, NULL,
					     "is a script whose #! line names %s%.*s%s: write the interpreter's absolute "
					     "path (e.g. #!/bin/sh)",
					     j == i ? "no interpreter" : "\"", (int)(j - i), (const char *)h + i,
					     j == i ? "" : "\", not an absolute path");
		}
		return;
	}
	if (n < (ssize_t)sizeof(Elf32_Ehdr) || memcmp(h, ELFMAG, SELFMAG) != 0) {
		bool text = n > 0;
		for (ssize_t i = 0; i < n && text; i++)
			if (h[i] == 0 || (h[i] < 0x20 && h[i] != '\n' && h[i] != '\t' && h[i] != '\r'))
				text = false;
		bundle_add_diag_code(b, -UDK_E_EXEC_FORMAT, DIAG_ERROR, exe, NULL,
				     "%s: the kernel cannot run it (execve would fail with \"Exec format error\"). %s",
				     n == 0 ? "is empty"
				     : text ? "is a text file without a #! line"
					    : "is neither an ELF program nor a script",
				     text ? "Start the script with a #! line naming its interpreter (e.g. #!/bin/sh)"
					  : "Build the driver for this machine and copy the program into the bundle");
		return;
	}
	snprintf(mine, sizeof(mine), "%s", elf_machine_name(UDKD_ELF_MACHINE) ? elf_machine_name(UDKD_ELF_MACHINE) : "?");
	if (h[EI_CLASS] != my_class || h[EI_DATA] != my_data) {
		bundle_add_diag_code(b, -UDK_E_EXEC_FORMAT, DIAG_ERROR, exe, NULL,
				     "is a %s-bit %s-endian ELF program, and udkd runs %d-bit %s-endian (%s) ones: "
				     "build the driver for this machine",
				     h[EI_CLASS] == ELFCLASS64 ? "64" : h[EI_CLASS] == ELFCLASS32 ? "32" : "?",
				     h[EI_DATA] == ELFDATA2LSB ? "little" : h[EI_DATA] == ELFDATA2MSB ? "big" : "?",
				     my_class == ELFCLASS64 ? 64 : 32, my_data == ELFDATA2LSB ? "little" : "big", mine);
		return;
	}
	{
		uint16_t type, machine;
		if (my_class == ELFCLASS64) {
			const Elf64_Ehdr *e = (const void *)h;
			type = e->e_type;
			machine = e->e_machine;
		} else {
			const Elf32_Ehdr *e = (const void *)h;
			type = e->e_type;
			machine = e->e_machine;
		}
		if (UDKD_ELF_MACHINE && machine != UDKD_ELF_MACHINE) {
			if (elf_machine_name(machine))
				snprintf(theirs, sizeof(theirs), "%s", elf_machine_name(machine));
			else
				snprintf(theirs, sizeof(theirs), "machine %u", machine);
			bundle_add_diag_code(b, -UDK_E_EXEC_FORMAT, DIAG_ERROR, exe, NULL,
					     "is an ELF program for %s, and this machine (udkd) is %s: build the "
					     "driver for %s",
					     theirs, mine, mine);
		} else if (type != ET_EXEC && type != ET_DYN) {
			bundle_add_diag_code(b, -UDK_E_EXEC_FORMAT, DIAG_ERROR, exe, NULL,
					     "is an ELF %s, not a program: link it into an executable",
					     type == ET_REL ? "object file (.o)" : type == ET_CORE ? "core dump" : "file");
		}
	}
}

/*
 * The shared libraries a driver needs, against what the sandbox lets it
 * read (issue 18 point 2, issue 20): a program linked against a library
 * that only its RUNPATH finds (a build tree, /opt, a home directory) loads
 * outside the sandbox and exits 127 inside it, seen as a crash loop.  Read
 * its PT_INTERP and DT_NEEDED/DT_RUNPATH here and say so before any launch.
 * Only what the loader would find first is judged: a name found in an
 * admitted directory is fine, one found only through a hidden RUNPATH is an
 * error, one found nowhere udkd looks is a warning (ld.so.conf may know more).
 */
static bool bundle_sandboxed = true;

void
bundle_set_sandboxed(bool on)
{
	bundle_sandboxed = on;
}

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#elif defined(__i386__)
#define MULTIARCH "i386-linux-gnu"
#elif defined(__riscv)
#define MULTIARCH "riscv64-linux-gnu"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MULTIARCH "powerpc64le-linux-gnu"
#elif defined(__s390x__)
#define MULTIARCH "s390x-linux-gnu"
#else
#define MULTIARCH ""
#endif

#define EXE_MAX_PHDRS 64u
#define EXE_MAX_DYN 1024u
#define EXE_MAX_NEEDED 64u

static bool
file_exists_in(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
under_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Whether the sandbox admits a library at absolute @path. */
static bool
admitted_path(const char *path)
{
	size_t n;
	const char *const *dirs = sandbox_lib_dirs(&n);

	for (size_t i = 0; i < n; i++)
		if (under_dir(path, dirs[i]))
			return true;
	return false;
}

/* Whether @name is in a directory the sandbox admits and the loader searches by default. */
static bool
admitted_name(const char *name)
{
	size_t n;
	const char *const *dirs = sandbox_lib_dirs(&n);
	char sub[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		if (file_exists_in(dirs[i], name))
			return true;
		if (MULTIARCH[0] && snprintf(sub, sizeof(sub), "%s/" MULTIARCH, dirs[i]) < (int)sizeof(sub) &&
		    file_exists_in(sub, name))
			return true;
	}
	return false;
}

/* A NUL-terminated string of at most @len - 1 bytes at file offset @off. */
static bool
pread_string(int fd, uint64_t off, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, (off_t)off);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return memchr(buf, '\0', (size_t)n) != NULL;
}

/* The file offset of virtual address @va, through the PT_LOAD headers. */
static bool
va_to_offset(const ElfW(Phdr) *ph, size_t n, uint64_t va, uint64_t *ret)
{
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr && va - ph[i].p_vaddr < ph[i].p_filesz) {
			*ret = va - ph[i].p_vaddr + ph[i].p_offset;
			return true;
		}
	return false;
}

static void
check_exec_libraries(struct bundle *b, int fd, const char *exe)
{
	ElfW(Ehdr) eh;
	ElfW(Phdr) ph[EXE_MAX_PHDRS];
	ElfW(Dyn) dyn[64];
	uint64_t dyn_off = 0, dyn_size = 0, strtab_va = 0, strtab_off, strsz = 0;
	uint64_t needed[EXE_MAX_NEEDED], runpath = UINT64_MAX;
	size_t n_needed = 0;
	bool have_strtab = false;
	char interp[PATH_MAX], name[256], rp[1024];

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum > EXE_MAX_PHDRS ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
		return; /* check_exec_format says what is wrong, or there is nothing to check */
	if (pread(fd, ph, eh.e_phnum * sizeof(ph[0]), (off_t)eh.e_phoff) != (ssize_t)(eh.e_phnum * sizeof(ph[0])))
		return;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP && ph[i].p_filesz > 1 && ph[i].p_filesz < sizeof(interp)) {
			struct stat st;
			if (!pread_string(fd, ph[i].p_offset, interp, ph[i].p_filesz + 1) || interp[0] != '/')
				continue;
			if (stat(interp, &st) < 0) {
				bundle_add_diag_code(b, -UDK_E_LIBRARY, DIAG_ERROR, exe, NULL,
						     "names the program interpreter (ELF PT_INTERP) %s, which this "
						     "machine does not have: it was built against another C library. "
						     "Build it on (or for) this system, or link it statically",
						     interp);
				return;
			}
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn_off = ph[i].p_offset;
			dyn_size = ph[i].p_filesz;
		}
	}
	if (!dyn_size || !bundle_sandboxed)
		return;
	/* the dynamic section, in chunks: DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RUNPATH/DT_RPATH */
	for (uint64_t done = 0, total = MIN(dyn_size / sizeof(ElfW(Dyn)), EXE_MAX_DYN); done < total;) {
		size_t want = (size_t)MIN(total - done, ARRAY_SIZE(dyn));
		ssize_t got = pread(fd, dyn, want * sizeof(dyn[0]), (off_t)(dyn_off + done * sizeof(dyn[0])));
		bool end = false;
		if (got < (ssize_t)sizeof(dyn[0]))
			break;
		for (size_t i = 0; i < (size_t)got / sizeof(dyn[0]) && !end; i++) {
			switch (dyn[i].d_tag) {
			case DT_NULL: end = true; break;
			case DT_NEEDED:
				if (n_needed < EXE_MAX_NEEDED)
					needed[n_needed++] = dyn[i].d_un.d_val;
				break;
			case DT_STRTAB: strtab_va = dyn[i].d_un.d_ptr; have_strtab = true; break;
			case DT_STRSZ: strsz = dyn[i].d_un.d_val; break;
			case DT_RUNPATH: runpath = dyn[i].d_un.d_val; break;
			case DT_RPATH: if (runpath == UINT64_MAX) runpath = dyn[i].d_un.d_val; break;
			default: break;
			}
		}
		if (end)
			break;
		done += (uint64_t)got / sizeof(dyn[0]);
	}
	if (!have_strtab || !va_to_offset(ph, eh.e_phnum, strtab_va, &strtab_off))
		return;
	rp[0] = '\0';
	if (runpath != UINT64_MAX && runpath < strsz)
		pread_string(fd, strtab_off + runpath, rp, sizeof(rp));
	for (size_t i = 0; i < n_needed; i++) {
		const char *found = NULL;
		char dirbuf[sizeof(rp)];

		if (needed[i] >= strsz || !pread_string(fd, strtab_off + needed[i], name, sizeof(name)) || !name[0])
			continue;
		if (strchr(name, '/')) {
			if (name[0] == '/' && !admitted_path(name))
				bundle_add_diag_code(b, -UDK_E_LIBRARY, DIAG_ERROR, exe, NULL,
						     "needs the shared library %s by its path, which the driver sandbox "
						     "hides: link libraries by name (-lNAME) from the system's library "
						     "directories, or link the driver statically",
						     name);
			continue;
		}
		if (admitted_name(name))
			continue;
		/*
		 * Where its RUNPATH leads.  $ORIGIN entries lead nowhere useful:
		 * the program runs from udkd's sealed copy, not from the bundle.
		 */
		snprintf(dirbuf, sizeof(dirbuf), "%s", rp);
		for (char *save = NULL, *dir = strtok_r(dirbuf, ":", &save); dir && !found;
		     dir = strtok_r(NULL, ":", &save))
			if (dir[0] == '/' && !admitted_path(dir) && file_exists_in(dir, name))
				found = dir;
		if (found)
			bundle_add_diag_code(b, -UDK_E_LIBRARY, DIAG_ERROR, exe, NULL,
					     "needs the shared library %s, which its RUNPATH finds in %s, a directory "
					     "the driver sandbox hides (drivers load libraries only from system "
					     "library directories), so it would exit with status 127 at launch. Link "
					     "it statically (udk's own: `pkg-config --static udk-driver`), or install "
					     "%s in the system's library directory (e.g. `meson install` puts "
					     "libudk-driver.so in " UDK_LIBDIR ")",
					     name, found, name);
		else
			bundle_add_diag_code(b, -UDK_E_LIBRARY, DIAG_WARNING, exe, NULL,
					     "needs the shared library %s, which udkd finds in none of the system "
					     "library directories the driver sandbox admits: unless /etc/ld.so.conf "
					     "names a directory under them that holds it, the driver exits with "
					     "status 127 at launch. Install %s, or link the driver statically",
					     name, name);
	}
}

int
bundle_load(const char *path, struct bundle **ret)
{
	struct sign_snapshot snap;
	struct bundle *b;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->log_level = -1;
	b->exe_fd = -1;
	b->path = strdup(path);
	{
		const char *slash = strrchr(path, '/');
		b->dirname = strdup(slash ? slash + 1 : path);
	}
	if (!b->path || !b->dirname) {
		bundle_free(b);
		return -ENOMEM;
	}
	*ret = b;

	/*
	 * Every file is read once, through the directory's fd (sign.h): the
	 * bytes parsed here are the bytes the signature is checked against,
	 * and the executable run later is the copy that was hashed.
	 */
	b->mtime_ns = bundle_stamp(path);
	r = sign_snapshot_open(path, &snap);
	if (r < 0) {
		bundle_add_diag(b, DIAG_ERROR, NULL, NULL, "cannot open the bundle directory: %s", strerror(-r));
		sign_snapshot_clear(&snap);
		return 0;
	}
	r = load_checked(b, &snap);
	sign_snapshot_clear(&snap);
	return r;
}

static int
load_checked(struct bundle *b, struct sign_snapshot *snap)
{
	int r;

	if (!snap->info.present) {
		r = snap->info.err;
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, NULL, "%s",
				r == -ENOENT	? "is missing; every bundle needs an Info.plist"
				: r == -ELOOP	? "is a symbolic link; bundles must hold the file itself"
				: r == -EFBIG	? "is larger than 1 MiB"
				: r == -EINVAL	? "is not a regular file (a FIFO, a device or a socket); bundles hold "
						  "plain files"
						: strerror(-r));
		return 0;
	}
	r = udk_value_from_plist(snap->info.data, snap->info.len, &b->info);
	if (r < 0) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, NULL, "%s",
				udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 0;
	}
	if (udk_value_get_type(b->info) != UDK_VALUE_DICT) {
		bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, NULL, "the top level must be a <dict>, not %s",
				udk_value_type_name(udk_value_get_type(b->info)));
		return 0;
	}

	{
		struct udk_value *v = udk_dict_get(b->info, "CFBundleIdentifier");
		if (!v)
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "CFBundleIdentifier",
					"required key is missing: set a reverse-DNS name such as com.example.driver");
		else if (!valid_identifier(udk_value_get_string(v)))
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "CFBundleIdentifier",
					"must be a reverse-DNS <string> of letters, digits, '.', '-' and '_'");
		else
			b->identifier = strdup(udk_value_get_string(v));
	}
	{
		struct udk_value *v = udk_dict_get(b->info, "CFBundleVersion");
		if (!v)
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, "CFBundleVersion",
					"is missing; set a version so `udkctl drivers` can tell builds apart");
		else if (udk_value_get_type(v) != UDK_VALUE_STRING)
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "CFBundleVersion", "must be a <string>");
		else
			b->version = strdup(udk_value_get_string(v));
	}
	{
		const char *t = udk_dict_get_string(b->info, "CFBundlePackageType");
		if (t && !streq(t, "DEXT"))
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, "CFBundlePackageType",
					"is \"%s\"; driver bundles use \"DEXT\"", t);
	}
	for (size_t i = 0; i < udk_dict_size(b->info); i++) {
		const char *k = udk_dict_key_at(b->info, i);
		if (in_list(k, known_info_keys) || !reserved_namespace(k))
			continue;
		const char *s = suggest(k, known_info_keys, NULL);
		if (s)
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, k, "unknown key; did you mean \"%s\"?", s);
		else
			bundle_add_diag(b, DIAG_WARNING, INFO_PLIST, k, "unknown key; udk ignores it");
	}

	check_executable(b, snap->dirfd);
	sign_snapshot_read(snap, udk_dict_get_string(b->info, "CFBundleExecutable"));
	if (b->executable && snap->exe_fd < 0) {
		r = snap->exe_err;
		bundle_add_diag(b, DIAG_ERROR, udk_dict_get_string(b->info, "CFBundleExecutable"), NULL,
				"cannot be read: %s",
				r == -EFBIG    ? "it is larger than the 256 MiB a driver executable may have"
				: r == -EINVAL ? "it is not a regular file"
				: r == -EXDEV  ? "it is a symbolic link that leaves the bundle"
					       : strerror(-r));
		free(b->executable);
		b->executable = NULL;
	}
	if (b->executable) {
		check_exec_format(b, snap->exe_fd, udk_dict_get_string(b->info, "CFBundleExecutable"));
		check_exec_libraries(b, snap->exe_fd, udk_dict_get_string(b->info, "CFBundleExecutable"));
	}

	if (snap->entitlements.present) {
		r = udk_value_from_plist(snap->entitlements.data, snap->entitlements.len, &b->entitlements);
		if (r < 0)
			bundle_add_diag(b, DIAG_ERROR, ENTITLEMENTS_PLIST, NULL, "%s",
					udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		else if (udk_value_get_type(b->entitlements) != UDK_VALUE_DICT)
			bundle_add_diag(b, DIAG_ERROR, ENTITLEMENTS_PLIST, NULL,
					"the top level must be a <dict> of entitlement names");
	} else if ((r = snap->entitlements.err) != -ENOENT) {
		bundle_add_diag(b, DIAG_ERROR, ENTITLEMENTS_PLIST, NULL, "cannot be read: %s",
				r == -ELOOP    ? "it is a symbolic link"
				: r == -EINVAL ? "it is not a regular file"
				: r == -EFBIG  ? "it is larger than 1 MiB"
					       : strerror(-r));
	}

	if (b->entitlements && udk_value_get_type(b->entitlements) == UDK_VALUE_DICT)
		entitlements_parse(b);

	r = load_personalities(b);
	if (r < 0)
		return r;

	/* the signature: a bad one refuses the bundle (trust.c), it is not a manifest error */
	sign_snapshot_verify(snap, &b->sig);
	b->sig_checked = true;
	/* like sshd with its keys: a bundle others can change is refused outside developer mode (trust.c) */
	if (snap->unsafe) {
		b->unsafe = strdup(snap->unsafe);
		bundle_add_diag_code(b, -UDK_E_UNSAFE_PATH, DIAG_WARNING, NULL, NULL,
				     "%s: other users could change what udkd runs as this driver. Install the bundle "
				     "where only root can write (owned by root, without group or other write "
				     "permission, up to /), e.g. " UDK_BUNDLE_DIR "; outside developer mode udkd "
				     "refuses it",
				     snap->unsafe);
	}
	/* what runs is the copy that was hashed */
	if (b->executable) {
		b->exe_fd = snap->exe_fd;
		snap->exe_fd = -1;
		b->exe_st = snap->exe_st;
	}

	b->loadable = true;
	for (size_t i = 0; i < b->n_diags; i++)
		if (b->diags[i].level == DIAG_ERROR && (!b->diags[i].key || !startswith(b->diags[i].key, "IOKitPersonalities.")))
			b->loadable = false;
	if (!b->identifier || !b->executable)
		b->loadable = false;
	return 0;
}

/*
 * A stamp of every entry in a bundle (names, times, sizes): a rescan
 * reloads and re-verifies a bundle whose stamp moved, so an edited or
 * tampered file is noticed at the next rescan, not only at restart.
 */
static void
stamp_mix(uint64_t *h, uint64_t v)
{
	*h ^= v;
	*h *= 1099511628211ull;
}

static void
stamp_dir(int dfd, uint64_t *h, unsigned depth, unsigned *budget)
{
	DIR *dir;
	struct dirent *e;

	if (depth > 16 || !*budget)
		return;
	dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return;
	}
	while ((e = readdir(dir)) && *budget) {
		struct stat st;
		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		(*budget)--;
		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		for (const char *c = e->d_name; *c; c++)
			stamp_mix(h, (unsigned char)*c);
		stamp_mix(h, (uint64_t)st.st_mtim.tv_sec);
		stamp_mix(h, (uint64_t)st.st_mtim.tv_nsec);
		stamp_mix(h, (uint64_t)st.st_ctim.tv_sec);
		stamp_mix(h, (uint64_t)st.st_ctim.tv_nsec);
		stamp_mix(h, (uint64_t)st.st_size);
		stamp_mix(h, (uint64_t)st.st_ino);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (sub >= 0)
				stamp_dir(sub, h, depth + 1, budget);
		}
	}
	closedir(dir);
}

static uint64_t
bundle_stamp(const char *path)
{
	uint64_t h = 1469598103934665603ull;
	unsigned budget = 20000;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (dfd >= 0)
		stamp_dir(dfd, &h, 0, &budget);
	return h;
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

static void
log_bundle(struct udkd *d, struct bundle *b)
{
	for (size_t i = 0; i < b->n_diags; i++) {
		struct diag *g = &b->diags[i];
		udkd_log(d, g->level == DIAG_ERROR ? UDK_LOG_ERROR : UDK_LOG_WARNING, "bundle", "%s/%s%s%s: %s",
			 b->path, g->file ? g->file : "", g->key ? ": " : "", g->key ? g->key : "", g->message);
	}
	if (b->loadable)
		log_info(d, "loaded %s (%s) with %zu personalities", b->dirname, b->identifier, b->n_personalities);
	else
		log_error(d, "%s cannot be used; see the errors above or run `udkctl drivers %s`", b->path,
			  b->dirname);
}

static void
carry_state(struct bundle *to, struct bundle *from)
{
	to->disabled = from->disabled;
	to->disabled_reason = TAKE_PTR(from->disabled_reason);
	to->crashes_total = from->crashes_total;
	to->crashes_consecutive = from->crashes_consecutive;
	memcpy(to->history, from->history, sizeof(to->history));
	to->n_history = from->n_history;
	to->last_failure = from->last_failure;
	to->has_last_failure = from->has_last_failure;
	to->starts = from->starts;
	to->log_level = from->log_level;
	to->debug_next = from->debug_next;
}

/* Stop everything a bundle runs and forget it. */
static void
retire_bundle(struct udkd *d, struct bundle *b);

static void
stop_instances_of(struct udkd *d, struct service *s, void *data)
{
	struct bundle *b = data;

	if (s->istate != INST_NONE && s->personality && s->personality->bundle == b)
		service_terminate(d, s, "its bundle was removed or replaced");
}

static void
retire_bundle(struct udkd *d, struct bundle *b)
{
	b->removed = true;
	registry_walk(d, stop_instances_of, b);
	/* its executable's copy goes: a retired bundle is never run again */
	if (b->exe_fd >= 0) {
		close(b->exe_fd);
		b->exe_fd = -1;
	}
	/* instances that died earlier still point at it; keep it until exit */
}

/*
 * Scanning the bundle directories, in three steps:
 *
 *   collect (loop thread): list the directories and stamp each bundle;
 *     what is new or changed is to be loaded.  Nothing is opened but
 *     directories, nothing read but directory entries.
 *   load (a worker thread, except at start): bundle_load() of each, which
 *     reads and hashes every file (sign.h): the slow part.
 *   integrate (loop thread): replace, add and retire bundles, decide trust,
 *     match.
 *
 * A rescan asked for while one runs waits for it and then runs again.
 * Lookups are by hash (udk_value dictionaries), so a scan of n bundles is
 * O(n), not O(n^2).
 */
struct scan_item {
	char *path;
	struct bundle *old;		/* the loaded bundle it replaces, or NULL */
	struct bundle *loaded;
};

struct scan_waiter {
	struct scan_waiter *next;
	bundles_scan_fn fn;
	void *data;
};

struct bundle_scan {
	struct udkd *d;
	struct scan_item *items;
	size_t n_items;
	struct udk_value *seen;		/* every bundle path listed: path -> true */
	bool running;			/* a load is on the worker */
	bool again;			/* another rescan was asked for meanwhile */
	struct scan_waiter *waiters;	/* called when the running scan is integrated */
	struct scan_waiter *next_waiters;	/* called after the next one */
};

static void
scan_items_free(struct bundle_scan *sc)
{
	for (size_t i = 0; i < sc->n_items; i++) {
		free(sc->items[i].path);
		bundle_free(sc->items[i].loaded);
	}
	free(sc->items);
	sc->items = NULL;
	sc->n_items = 0;
	sc->seen = udk_value_unref(sc->seen);
}

/* Step 1: what to load. */
static void
scan_collect(struct udkd *d, struct bundle_scan *sc)
{
	struct udk_value *by_path = udk_value_new_dict();

	sc->seen = udk_value_new_dict();
	for (size_t j = 0; j < d->n_bundles; j++)
		if (!d->bundles[j]->removed)
			udk_dict_set_take(by_path, d->bundles[j]->path, udk_value_new_uint(j));
	for (size_t i = 0; i < d->n_bundle_dirs; i++) {
		DIR *dir = opendir(d->bundle_dirs[i]);
		struct dirent *e;

		if (!dir) {
			log_warning(d, "cannot read bundle directory %s: %s", d->bundle_dirs[i], strerror(errno));
			continue;
		}
		while ((e = readdir(dir))) {
			struct scan_item *n;
			struct bundle *old = NULL;
			struct udk_value *idx;
			char *path;

			if (!has_suffix(e->d_name, ".dext"))
				continue;
			if (udk_dict_size(sc->seen) >= BUNDLES_MAX) {
				log_warning(d, "%s: more than %u bundles; the others are ignored", d->bundle_dirs[i],
					    BUNDLES_MAX);
				break;
			}
			path = strdup_printf("%s/%s", d->bundle_dirs[i], e->d_name);
			if (!path)
				continue;
			udk_dict_set_take(sc->seen, path, udk_value_new_bool(true));
			idx = udk_dict_get(by_path, path);
			if (idx)
				old = d->bundles[udk_value_get_uint(idx, 0)];
			if (old && old->mtime_ns == bundle_stamp(path)) {
				free(path);
				continue;
			}
			n = reallocarray(sc->items, sc->n_items + 1, sizeof(*n));
			if (!n) {
				free(path);
				continue;
			}
			sc->items = n;
			sc->items[sc->n_items++] = (struct scan_item){ .path = path, .old = old };
		}
		closedir(dir);
	}
	udk_value_unref(by_path);
}

/* Step 2: read them (any thread: bundle_load touches no daemon state). */
static void
scan_load(void *data)
{
	struct bundle_scan *sc = data;

	for (size_t i = 0; i < sc->n_items; i++)
		if (bundle_load(sc->items[i].path, &sc->items[i].loaded) < 0)
			sc->items[i].loaded = NULL;
}

/* Step 3: make them udkd's. */
static void
scan_integrate(struct udkd *d, struct bundle_scan *sc, unsigned *ret_added, unsigned *ret_reloaded,
	       unsigned *ret_removed)
{
	unsigned added = 0, reloaded = 0, removed = 0;
	struct udk_value *by_id = udk_value_new_dict();

	for (size_t j = 0; j < d->n_bundles; j++) {
		struct bundle *o = d->bundles[j];
		if (!o->removed && o->loadable && o->identifier)
			udk_dict_set_take(by_id, o->identifier, udk_value_new_uint(j));
	}
	for (size_t i = 0; i < sc->n_items; i++) {
		struct scan_item *it = &sc->items[i];
		struct bundle *b = it->loaded, **nb;
		struct udk_value *idx;

		bool replaces = false;

		if (!b)
			continue;
		if (it->old && !it->old->removed) {
			carry_state(b, it->old);
			if (it->old->identifier)
				udk_dict_remove(by_id, it->old->identifier);
			retire_bundle(d, it->old);
			replaces = true;
		}
		/* one loaded bundle per identifier */
		idx = b->identifier ? udk_dict_get(by_id, b->identifier) : NULL;
		if (idx) {
			struct bundle *o = d->bundles[udk_value_get_uint(idx, 0)];
			bundle_add_diag(b, DIAG_ERROR, INFO_PLIST, "CFBundleIdentifier",
					"\"%s\" is already used by %s; each bundle needs its own identifier",
					b->identifier, o->path);
			b->loadable = false;
		}
		nb = reallocarray(d->bundles, d->n_bundles + 1, sizeof(*nb));
		if (!nb)
			continue; /* freed with the scan */
		it->loaded = NULL;
		d->bundles = nb;
		d->bundles[d->n_bundles++] = b;
		if (b->loadable && b->identifier)
			udk_dict_set_take(by_id, b->identifier, udk_value_new_uint(d->n_bundles - 1));
		if (replaces)
			reloaded++;
		else
			added++;
		log_bundle(d, b);
		trust_apply(d, b);
		bundle_watch(d, b);
	}
	udk_value_unref(by_id);
	/* bundles whose directory disappeared */
	for (size_t j = 0; j < d->n_bundles; j++) {
		struct bundle *b = d->bundles[j];

		if (b->removed || udk_dict_get(sc->seen, b->path))
			continue;
		log_notice(d, "bundle %s was removed", b->path);
		retire_bundle(d, b);
		removed++;
	}
	scan_items_free(sc);
	if (ret_added)
		*ret_added = added;
	if (ret_reloaded)
		*ret_reloaded = reloaded;
	if (ret_removed)
		*ret_removed = removed;
}

int
bundles_scan(struct udkd *d, unsigned *ret_added, unsigned *ret_removed)
{
	struct bundle_scan sc = { .d = d };

	scan_collect(d, &sc);
	scan_load(&sc);
	scan_integrate(d, &sc, ret_added, NULL, ret_removed);
	return 0;
}

static void scan_start(struct udkd *d);

static void
scan_done(void *data, int status)
{
	struct bundle_scan *sc = data;
	struct udkd *d = sc->d;
	struct scan_waiter *w = TAKE_PTR(sc->waiters);
	unsigned added = 0, reloaded = 0, removed = 0;

	sc->running = false;
	if (status < 0 || d->shutting_down) {
		scan_items_free(sc);
	} else {
		scan_integrate(d, sc, &added, &reloaded, &removed);
		if (added || reloaded || removed)
			match_all(d);
	}
	while (w) {
		struct scan_waiter *next = w->next;
		if (w->fn)
			w->fn(d, status < 0 ? status : 0, added, reloaded, removed, w->data);
		free(w);
		w = next;
	}
	if (sc->again && !d->shutting_down) {
		sc->again = false;
		sc->waiters = TAKE_PTR(sc->next_waiters);
		scan_start(d);
	} else {
		w = TAKE_PTR(sc->next_waiters);
		while (w) {
			struct scan_waiter *next = w->next;
			if (w->fn)
				w->fn(d, -ECANCELED, 0, 0, 0, w->data);
			free(w);
			w = next;
		}
	}
}

static void
scan_start(struct udkd *d)
{
	struct bundle_scan *sc = d->scan;
	int r;

	scan_collect(d, sc);
	sc->running = true;
	r = d->work ? work_submit(d->work, 0, scan_load, scan_done, sc) : -ENOSYS;
	if (r < 0) {
		/* no worker: read them here, as at start */
		scan_load(sc);
		scan_done(sc, 0);
	}
}

int
bundles_rescan(struct udkd *d, bundles_scan_fn fn, void *data)
{
	struct bundle_scan *sc = d->scan;
	struct scan_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	if (!sc) {
		sc = d->scan = calloc(1, sizeof(*sc));
		if (!sc) {
			free(w);
			return -ENOMEM;
		}
		sc->d = d;
	}
	w->fn = fn;
	w->data = data;
	if (sc->running) {
		/* what changed after its collect step needs another scan */
		w->next = sc->next_waiters;
		sc->next_waiters = w;
		sc->again = true;
		return 0;
	}
	w->next = sc->waiters;
	sc->waiters = w;
	scan_start(d);
	return 0;
}

#define BUNDLE_WATCHES_MAX 8192u
#define BUNDLE_WATCH_DEPTH 3u
#define BUNDLE_WATCH_MASK                                                                                       \
	(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF |    \
	 IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

static bool
watch_add(struct udkd *d, const char *path)
{
	char key[16];
	int wd;

	if (udk_dict_size(d->bundle_watches) >= BUNDLE_WATCHES_MAX)
		return false;
	wd = inotify_add_watch(d->inotify_fd, path, BUNDLE_WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC && !d->bundle_watch_warned) {
			d->bundle_watch_warned = true;
			log_warning(d, "cannot watch %s: the inotify watch limit is reached "
				       "(fs.inotify.max_user_watches); edits inside bundles are noticed at "
				       "`udkctl rescan` only",
				    path);
		}
		return true;
	}
	snprintf(key, sizeof(key), "%d", wd);
	if (!udk_dict_get(d->bundle_watches, key))
		udk_dict_set_string(d->bundle_watches, key, path);
	return true;
}

/* @path and its subdirectories down to @depth more levels. */
static bool
watch_tree(struct udkd *d, const char *path, unsigned depth)
{
	DIR *dir;
	struct dirent *e;
	bool ok;

	if (!watch_add(d, path))
		return false;
	if (!depth)
		return true;
	dir = opendir(path);
	ok = true;
	while (dir && ok && (e = readdir(dir))) {
		char *sub;
		if (e->d_type != DT_DIR || streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		sub = strdup_printf("%s/%s", path, e->d_name);
		if (sub)
			ok = watch_tree(d, sub, depth - 1);
		free(sub);
	}
	if (dir)
		closedir(dir);
	return ok;
}

void
bundle_watch(struct udkd *d, struct bundle *b)
{
	if (d->inotify_fd < 0 || b->removed)
		return;
	if (!d->bundle_watches)
		d->bundle_watches = udk_value_new_dict();
	/*
	 * Adding a watch twice returns the same one.  A directory made inside
	 * a bundle later changes its stamp, so the bundle is read again and
	 * comes here again: its new directories are watched then.
	 */
	if (!watch_tree(d, b->path, BUNDLE_WATCH_DEPTH) && !d->bundle_watch_warned) {
		d->bundle_watch_warned = true;
		log_warning(d, "watching more than %u directories inside bundles; edits inside the others are "
			       "noticed at `udkctl rescan` only",
			    BUNDLE_WATCHES_MAX);
	}
}

void
bundles_unwatched(struct udkd *d, int wd)
{
	char key[16];

	snprintf(key, sizeof(key), "%d", wd);
	udk_dict_remove(d->bundle_watches, key);
}

void
bundles_fini(struct udkd *d)
{
	d->bundle_watches = udk_value_unref(d->bundle_watches);
	if (!d->scan)
		return;
	/* the worker is gone (work_free): nothing runs the scan any more */
	scan_items_free(d->scan);
	free(d->scan);
	d->scan = NULL;
}

struct bundle *
bundle_find(struct udkd *d, const char *name)
{
	if (!name)
		return NULL;
	/* identifier, directory name (with or without .dext), user class */
	for (size_t pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < d->n_bundles; i++) {
			struct bundle *b = d->bundles[i];
			if (b->removed)
				continue;
			if (pass == 0 && (streq(b->identifier, name) || streq(b->dirname, name)))
				return b;
			if (pass == 1 && has_suffix(b->dirname, ".dext") && strlen(b->dirname) == strlen(name) + 5 &&
			    strncmp(b->dirname, name, strlen(name)) == 0)
				return b;
			if (pass == 2)
				for (size_t j = 0; j < b->n_personalities; j++)
					if (streq(b->personalities[j]->user_class, name) ||
					    streq(b->personalities[j]->name, name))
						return b;
		}
	return NULL;
}

struct instance_walk {
	const struct bundle *b;
	struct udk_value *list;
};

static void
list_instances(struct udkd *d, struct service *s, void *data)
{
	struct instance_walk *w = data;

	(void)d;
	if (s->istate == INST_NONE || !s->personality || !s->personality->bundle ||
	    !streq(s->personality->bundle->identifier, w->b->identifier))
		return;
	struct udk_value *inst = udk_value_new_dict();
	char *path = service_path(s);
	udk_dict_set_uint(inst, "id", s->id);
	if (path)
		udk_dict_set_string(inst, "path", path);
	free(path);
	udk_dict_set_string(inst, "personality", s->personality->name);
	udk_dict_set_string(inst, "state", s->istate == INST_RUNNING	  ? "running"
					   : s->istate == INST_STARTING	  ? "starting"
					   : s->istate == INST_LAUNCHING  ? "launching"
					   : s->istate == INST_STOPPING	  ? "stopping"
									  : "failed");
	if (s->owner && s->owner->pid > 0 && s->owner->state != PROC_DEAD)
		udk_dict_set_int(inst, "pid", s->owner->pid);
	if (s->provider)
		udk_dict_set_uint(inst, "provider", s->provider->id);
	if (s->problem)
		udk_dict_set_string(inst, "problem", s->problem);
	udk_array_append_take(w->list, inst);
}

/* One crash record or failed Start() with its code, cause and what to do (issue 20). */
static struct udk_value *
failure_json(const struct bundle *b, const struct crash_record *c)
{
	struct udk_value *hd = udk_value_new_dict();
	const char *fix = udk_error_fix(c->code);
	char *own = NULL;

	udk_dict_set_uint(hd, "time_ms", c->when_ms);
	if (c->signal)
		udk_dict_set_string(hd, "signal", sigabbrev_np(c->signal) ? sigabbrev_np(c->signal) : "?");
	else if (strcmp(c->phase, "start") || c->code == -UDK_E_DRIVER_DIED || c->exit_status)
		udk_dict_set_int(hd, "exit_status", c->exit_status);
	udk_dict_set_string(hd, "phase", c->phase);
	if (c->last_words[0])
		udk_dict_set_string(hd, "last_output", c->last_words);
	if (c->n_last_lines) {
		struct udk_value *lines = udk_value_new_array();
		for (unsigned i = 0; i < c->n_last_lines && i < CRASH_LAST_LINES; i++)
			udk_array_append_take(lines, udk_value_new_string(c->last_lines[i]));
		udk_dict_set_take(hd, "last_lines", lines);
	}
	if (c->code) {
		udk_dict_set_string(hd, "code", udk_error_name(c->code));
		udk_dict_set_string(hd, "reason", c->reason);
		if (c->code == -UDK_E_DRIVER_DIED)
			own = strdup_printf("the driver ended by itself: read its last output (udkd's log has the rest), "
					    "run it under a debugger with `udkctl debug %s`, fix it, then `udkctl restart %s`",
					    b->identifier, b->identifier);
		else if (!fix)
			own = strdup_printf("Start() returned this error: the reason says what the driver found; fix "
					    "that (or the driver), then `udkctl restart %s`",
					    b->identifier);
		udk_dict_set_string(hd, "fix", own ? own : fix);
		free(own);
	}
	return hd;
}

struct udk_value *
bundle_describe(struct udkd *d, const struct bundle *b)
{
	struct udk_value *v = udk_value_new_dict();
	struct udk_value *ps = udk_value_new_array();
	struct udk_value *ds = udk_value_new_array();
	struct udk_value *hs = udk_value_new_array();
	struct instance_walk w = { .b = b, .list = udk_value_new_array() };
	const char *state;

	udk_dict_set_string(v, "path", b->path);
	udk_dict_set_string(v, "name", b->dirname);
	if (b->identifier)
		udk_dict_set_string(v, "identifier", b->identifier);
	if (b->version)
		udk_dict_set_string(v, "version", b->version);
	{
		bool any_valid = false;
		for (size_t i = 0; i < b->n_personalities; i++)
			if (b->personalities[i]->valid)
				any_valid = true;
		if (!b->loadable)
			state = "invalid";
		else if (b->refusal)
			state = "refused";
		else if (b->disabled)
			state = "disabled";
		else if (!any_valid)
			state = "unusable"; /* nothing in it can ever match */
		else
			state = "enabled";
		udk_dict_set_string(v, "state", state);
		if (b->disabled_reason)
			udk_dict_set_string(v, "reason", b->disabled_reason);
		else if (streq(state, "unusable"))
			udk_dict_set_string(v, "reason",
					    b->n_personalities ? "none of its personalities can ever match: each has errors "
								 "(listed below); fix them and run `udkctl rescan`"
							       : "it has no IOKitPersonalities, so it never matches anything");
	}
	if (b->refusal) {
		udk_dict_set_string(v, "refusal", udk_error_name(b->refusal));
		udk_dict_set_string(v, "refusal_reason", b->refusal_reason ? b->refusal_reason : "");
	}
	{
		struct udk_value *sg = udk_value_new_dict();
		udk_dict_set_string(sg, "status", !b->sig_checked		     ? "unchecked"
						  : b->sig.status == 0		     ? "valid"
						  : b->sig.status == -UDK_E_UNSIGNED ? "unsigned"
										      : "invalid");
		if (!b->sig_checked) {
			udk_dict_set_string(sg, "reason", "not checked: the bundle could not be read far enough; fix "
							  "the errors below first");
		} else if (b->sig.status == 0) {
			udk_dict_set_string(sg, "key_id", b->sig.key_id);
			udk_dict_set_string(sg, "signer", b->sig.signer);
			udk_dict_set_bool(sg, "trusted", b->trusted);
		} else if (b->sig.status != -UDK_E_UNSIGNED) {
			udk_dict_set_string(sg, "code", udk_error_name(b->sig.status));
			if (b->sig.file)
				udk_dict_set_string(sg, "file", b->sig.file);
			if (b->sig.reason)
				udk_dict_set_string(sg, "reason", b->sig.reason);
			if (udk_error_fix(b->sig.status))
				udk_dict_set_string(sg, "fix", udk_error_fix(b->sig.status));
		}
		/* refused for its signature or key: code, cause and fix in this record (issue 20) */
		if (b->sig_checked && !udk_dict_get(sg, "code") &&
		    (b->refusal == -UDK_E_UNSIGNED || b->refusal == -UDK_E_UNTRUSTED_KEY)) {
			udk_dict_set_string(sg, "code", udk_error_name(b->refusal));
			udk_dict_set_string(sg, "reason", b->refusal_reason ? b->refusal_reason : "");
			if (udk_error_fix(b->refusal))
				udk_dict_set_string(sg, "fix", udk_error_fix(b->refusal));
		}
		udk_dict_set_take(v, "signature", sg);
	}
	if (b->entitlements)
		udk_dict_set(v, "entitlements", b->entitlements);
	udk_dict_set_int(v, "crashes", b->crashes_total);
	udk_dict_set_int(v, "consecutive_crashes", b->crashes_consecutive);
	udk_dict_set_int(v, "starts", b->starts);
	if (b->log_level >= 0)
		udk_dict_set_string(v, "log_level", udk_log_level_name(b->log_level));
	for (size_t i = 0; i < b->n_personalities; i++) {
		struct personality *p = b->personalities[i];
		struct udk_value *pd = udk_value_new_dict();
		udk_dict_set_string(pd, "name", p->name);
		udk_dict_set_bool(pd, "valid", p->valid);
		if (p->provider_class)
			udk_dict_set_string(pd, "IOProviderClass", p->provider_class);
		if (p->user_class)
			udk_dict_set_string(pd, "IOUserClass", p->user_class);
		udk_dict_set_int(pd, "IOProbeScore", p->probe_score);
		if (p->match_category)
			udk_dict_set_string(pd, "IOMatchCategory", p->match_category);
		udk_array_append_take(ps, pd);
	}
	for (size_t i = 0; i < b->n_diags; i++) {
		struct udk_value *dd = udk_value_new_dict();
		udk_dict_set_string(dd, "level", b->diags[i].level == DIAG_ERROR ? "error" : "warning");
		{
			/* every diagnostic has a code: a manifest's own unless it names another (issue 20) */
			int code = b->diags[i].code ? b->diags[i].code : -UDK_E_BAD_MANIFEST;
			udk_dict_set_string(dd, "code", udk_error_name(code));
			if (udk_error_fix(code))
				udk_dict_set_string(dd, "fix", udk_error_fix(code));
		}
		if (b->diags[i].file)
			udk_dict_set_string(dd, "file", b->diags[i].file);
		if (b->diags[i].key)
			udk_dict_set_string(dd, "key", b->diags[i].key);
		udk_dict_set_string(dd, "message", b->diags[i].message);
		udk_array_append_take(ds, dd);
	}
	for (unsigned i = 0; i < b->n_history; i++)
		udk_array_append_take(hs, failure_json(b, &b->history[i]));
	if (b->has_last_failure)
		udk_dict_set_take(v, "last_failure", failure_json(b, &b->last_failure));
	udk_dict_set_take(v, "personalities", ps);
	udk_dict_set_take(v, "diagnostics", ds);
	udk_dict_set_take(v, "crash_history", hs);
	if (b->identifier)
		registry_walk(d, list_instances, &w);
	udk_dict_set_take(v, "instances", w.list);
	lifecycle_describe(d, b, v);
	return v;
}

struct udk_value *
bundle_input_limits(void)
{
	struct udk_value *v = udk_value_new_dict();

	/* what udkd reads from bundles, apps' signatures and requests, at most
	 * (fixed; docs/security.md says why each) */
	udk_dict_set_uint(v, "manifest_bytes", SIGN_MANIFEST_MAX);
	udk_dict_set_uint(v, "signature_bytes", SIGN_RESOURCES_MAX);
	udk_dict_set_uint(v, "files_per_bundle", SIGN_WALK_MAX_FILES);
	udk_dict_set_uint(v, "personalities_per_bundle", BUNDLE_MAX_PERSONALITIES);
	udk_dict_set_uint(v, "bundles", BUNDLES_MAX);
	udk_dict_set_uint(v, "value_depth", VALUE_MAX_DEPTH);
	udk_dict_set_uint(v, "plist_values", PLIST_MAX_NODES);
	return v;
}
