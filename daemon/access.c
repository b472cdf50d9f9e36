/* SPDX-License-Identifier: MIT */
/*
 * access.c - which apps may open user clients of which drivers.
 *
 * An app may open a driver's user clients when one of these holds:
 *
 *   the driver allows any app: its signed entitlements hold
 *   com.apple.developer.driverkit.allow-any-userclient-access (or
 *   org.udk.allow-any-userclient-access);
 *
 *   an administrator granted it: `udkctl access grant DRIVER /path/to/app`
 *   pins the executable's path and SHA-256 (a rebuilt app must be granted
 *   again), `udkctl access grant DRIVER key:KEYID` admits every app signed
 *   with a trusted key;
 *
 *   the app is signed (APP.udksig by a trusted key; any key in developer
 *   mode) and its com.apple.developer.driverkit.userclient-access
 *   entitlement lists the driver's bundle identifier, as in DriverKit.
 *
 * Refusals are remembered as requests, so `udkctl access list` shows who
 * asked.  Grants live in STATE/access.plist.
 *
 * Device grants are the same for drivers: a family whose devices are
 * protected (family.h, grant_check) asks here whether the user granted a
 * driver a class of its devices or one device (`udkctl access grant
 * --FAMILY WHAT DRIVER`); the family says what WHAT means, closes what a
 * revoked grant allowed, and its refusals are kept as requests too.  A revoke removes the grant
 * and cuts every open connection it allowed: udkd tells the driver, which
 * sends the app UDK_E_REVOKED with the reason and closes the connection.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "family.h"
#include "proto.h"
#include "udkd.h"
#include "util.h"

#define ACCESS_FILE "access.plist"
#define HASH_CACHE 32
#define MAX_REQUESTS 256

struct grant {
	char *driver;			/* bundle identifier */
	char *app;			/* executable path, or NULL for a key grant */
	char hash[2 * SIGN_HASH_BYTES + 1];
	char key_id[SIGN_KEY_ID_LEN + 1];
	uint64_t when_ms;
};

struct request {
	char *driver;
	char *app;
	char hash[2 * SIGN_HASH_BYTES + 1];
	uint64_t first_ms, last_ms;
	unsigned count;
};

struct link {
	struct link *next;
	struct driver_proc *proc;
	uint64_t object;
	char *driver;
	struct app_identity app;
	pid_t pid;
	char *name;
	char via[24];
	uint64_t since_ms;
};

struct device_grant {
	char *family;
	char *what;
	char *driver;
	uint64_t when_ms;
};

struct device_request {
	char *family;
	char *what;
	char *driver;
	char *device;			/* the last device it was refused */
	uint64_t first_ms, last_ms;
	unsigned count;
};

struct hash_entry {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	char hash[2 * SIGN_HASH_BYTES + 1];
};

struct access {
	char *file;
	struct grant *grants;
	size_t n_grants;
	struct request *requests;
	size_t n_requests;
	struct link *links;
	struct device_grant *dgrants;
	size_t n_dgrants;
	struct device_request *drequests;
	size_t n_drequests;
	struct hash_entry cache[HASH_CACHE];
	unsigned cache_next;
};

static const char *const access_ents[] = {
	"com.apple.developer.driverkit.userclient-access",
	"org.udk.userclient-access",
};

/* ---- identities ---- */

void
app_identity_clear(struct app_identity *a)
{
	free(a->path);
	udk_value_unref(a->entitlements);
	memset(a, 0, sizeof(*a));
}

static void
app_identity_copy(struct app_identity *to, const struct app_identity *from)
{
	*to = *from;
	to->path = from->path ? strdup(from->path) : NULL;
	to->entitlements = from->entitlements ? udk_value_ref(from->entitlements) : NULL;
}

/* SHA-256 of an open file, remembered by inode and times. */
static int
hash_cached(struct access *a, int fd, char out[2 * SIGN_HASH_BYTES + 1])
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	for (unsigned i = 0; i < HASH_CACHE; i++) {
		struct hash_entry *e = &a->cache[i];
		if (e->hash[0] && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
		    e->mtim.tv_sec == st.st_mtim.tv_sec && e->mtim.tv_nsec == st.st_mtim.tv_nsec &&
		    e->ctim.tv_sec == st.st_ctim.tv_sec && e->ctim.tv_nsec == st.st_ctim.tv_nsec) {
			memcpy(out, e->hash, sizeof(e->hash));
			return 0;
		}
	}
	r = sign_hash_fd(fd, out);
	if (r < 0)
		return r;
	struct hash_entry *e = &a->cache[a->cache_next++ % HASH_CACHE];
	*e = (struct hash_entry){ .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtim = st.st_mtim,
				  .ctim = st.st_ctim };
	memcpy(e->hash, out, sizeof(e->hash));
	return 0;
}

/* Identify the executable open at @fd whose path is @path. */
static void
identify_fd(struct udkd *d, int fd, const char *path, struct app_identity *ret)
{
	_cleanup_free_ char *sig = NULL;
	struct sign_result res = { 0 };
	int r;

	ret->path = strdup(path);
	r = hash_cached(d->access, fd, ret->hash);
	if (r < 0) {
		ret->error = r;
		return;
	}
	sig = strdup_printf("%s" SIGN_APP_SUFFIX, path);
	if (sig && access(sig, F_OK) == 0) {
		lseek(fd, 0, SEEK_SET);
		if (sign_verify_app(sig, fd, &res) == 0 && (trust_find(d, res.pk) || d->trust.developer)) {
			ret->signed_ok = true;
			memcpy(ret->key_id, res.key_id, sizeof(ret->key_id));
			ret->entitlements = res.entitlements ? udk_value_ref(res.entitlements) : NULL;
		} else if (res.status < 0) {
			log_warning(d, "%s: its signature is not accepted: %s", sig,
				    res.status == 0 ? "the key is not trusted" : res.reason ? res.reason : "invalid");
		} else {
			log_info(d, "%s: signed by key %s, which is not trusted", sig, res.key_id);
		}
		sign_result_clear(&res);
	}
}

void
app_identify(struct udkd *d, pid_t pid, struct app_identity *ret)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	int fd;

	memset(ret, 0, sizeof(*ret));
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	fd = open(link, O_RDONLY | O_CLOEXEC);
	n = readlink(link, path, sizeof(path) - 1);
	if (fd < 0 || n <= 0) {
		ret->error = -errno ? -errno : -ESRCH;
		if (fd >= 0)
			close(fd);
		return;
	}
	path[n] = 0;
	identify_fd(d, fd, path, ret);
	close(fd);
}

/* ---- the grants file ---- */

static void
grant_clear(struct grant *g)
{
	free(g->driver);
	free(g->app);
}

static void
request_clear(struct request *q)
{
	free(q->driver);
	free(q->app);
}

static int
save(struct udkd *d)
{
	struct access *a = d->access;
	struct udk_value *root = udk_value_new_dict(), *gs = udk_value_new_array(), *rs = udk_value_new_array();
	_cleanup_free_ char *tmp = strdup_printf("%s.tmp", a->file);
	char *xml = NULL;
	int fd, r = 0;

	for (size_t i = 0; i < a->n_grants; i++) {
		struct grant *g = &a->grants[i];
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "Driver", g->driver);
		if (g->app) {
			udk_dict_set_string(v, "App", g->app);
			udk_dict_set_string(v, "SHA256", g->hash);
		} else {
			udk_dict_set_string(v, "KeyID", g->key_id);
		}
		udk_dict_set_uint(v, "GrantedAt", g->when_ms);
		udk_array_append_take(gs, v);
	}
	for (size_t i = 0; i < a->n_requests; i++) {
		struct request *q = &a->requests[i];
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "Driver", q->driver);
		udk_dict_set_string(v, "App", q->app);
		udk_dict_set_string(v, "SHA256", q->hash);
		udk_dict_set_uint(v, "First", q->first_ms);
		udk_dict_set_uint(v, "Last", q->last_ms);
		udk_dict_set_uint(v, "Count", q->count);
		udk_array_append_take(rs, v);
	}
	udk_dict_set_take(root, "Grants", gs);
	udk_dict_set_take(root, "Requests", rs);
	gs = udk_value_new_array();
	for (size_t i = 0; i < a->n_dgrants; i++) {
		struct device_grant *g = &a->dgrants[i];
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "Family", g->family);
		udk_dict_set_string(v, "What", g->what);
		udk_dict_set_string(v, "Driver", g->driver);
		udk_dict_set_uint(v, "GrantedAt", g->when_ms);
		udk_array_append_take(gs, v);
	}
	rs = udk_value_new_array();
	for (size_t i = 0; i < a->n_drequests; i++) {
		struct device_request *q = &a->drequests[i];
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "Family", q->family);
		udk_dict_set_string(v, "What", q->what);
		udk_dict_set_string(v, "Driver", q->driver);
		udk_dict_set_string(v, "Device", q->device);
		udk_dict_set_uint(v, "First", q->first_ms);
		udk_dict_set_uint(v, "Last", q->last_ms);
		udk_dict_set_uint(v, "Count", q->count);
		udk_array_append_take(rs, v);
	}
	udk_dict_set_take(root, "DeviceGrants", gs);
	udk_dict_set_take(root, "DeviceRequests", rs);
	r = udk_value_to_plist_xml(root, &xml);
	udk_value_unref(root);
	if (r < 0 || !tmp) {
		free(xml);
		return r < 0 ? r : -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = -errno;
	} else {
		size_t len = strlen(xml);
		if (write(fd, xml, len) != (ssize_t)len || fsync(fd) < 0)
			r = -EIO;
		close(fd);
		if (r == 0 && rename(tmp, a->file) < 0)
			r = -errno;
	}
	free(xml);
	if (r < 0) {
		unlink(tmp);
		log_error(d, "cannot save the access grants to %s: %s", a->file, strerror(-r));
		return udk_set_reason(r, "cannot save the access grants to %s: %s", a->file, strerror(-r));
	}
	return 0;
}

static bool
hex_ok(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static int
load(struct udkd *d)
{
	struct access *a = d->access;
	struct udk_value *root = NULL, *gs, *rs;
	char *buf = NULL;
	size_t len;
	int r;

	r = read_file(a->file, 4u << 20, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r >= 0)
		r = udk_value_from_plist(buf, len, &root);
	free(buf);
	if (r < 0 || udk_value_get_type(root) != UDK_VALUE_DICT) {
		/* keep the damaged file for its owner; start with no grants */
		_cleanup_free_ char *aside = strdup_printf("%s.damaged-%llu", a->file, (unsigned long long)wall_ms());
		if (aside && rename(a->file, aside) == 0)
			log_error(d, "%s cannot be read (%s); it was moved to %s and udkd starts with no access grants",
				  a->file, r < 0 && udk_error_reason() ? udk_error_reason() : "not a <dict>", aside);
		udk_value_unref(root);
		return 0;
	}
	gs = udk_dict_get(root, "Grants");
	for (size_t i = 0; i < udk_array_size(gs); i++) {
		struct udk_value *v = udk_array_get(gs, i);
		const char *drv = udk_dict_get_string(v, "Driver"), *app = udk_dict_get_string(v, "App");
		const char *hash = udk_dict_get_string(v, "SHA256"), *key = udk_dict_get_string(v, "KeyID");
		struct grant g = { 0 }, *n;
		if (!drv || (app ? !hex_ok(hash, 2 * SIGN_HASH_BYTES) : !hex_ok(key, SIGN_KEY_ID_LEN))) {
			log_warning(d, "%s: Grants entry %zu is malformed and ignored", a->file, i);
			continue;
		}
		g.driver = strdup(drv);
		g.app = app ? strdup(app) : NULL;
		if (app)
			memcpy(g.hash, hash, sizeof(g.hash));
		else
			memcpy(g.key_id, key, sizeof(g.key_id));
		g.when_ms = (uint64_t)udk_dict_get_int(v, "GrantedAt", 0);
		n = reallocarray(a->grants, a->n_grants + 1, sizeof(*n));
		if (!n) {
			grant_clear(&g);
			break;
		}
		a->grants = n;
		a->grants[a->n_grants++] = g;
	}
	rs = udk_dict_get(root, "Requests");
	for (size_t i = 0; i < udk_array_size(rs) && a->n_requests < MAX_REQUESTS; i++) {
		struct udk_value *v = udk_array_get(rs, i);
		const char *drv = udk_dict_get_string(v, "Driver"), *app = udk_dict_get_string(v, "App");
		const char *hash = udk_dict_get_string(v, "SHA256");
		struct request q = { 0 }, *n;
		if (!drv || !app || !hex_ok(hash, 2 * SIGN_HASH_BYTES))
			continue;
		q.driver = strdup(drv);
		q.app = strdup(app);
		memcpy(q.hash, hash, sizeof(q.hash));
		q.first_ms = (uint64_t)udk_dict_get_int(v, "First", 0);
		q.last_ms = (uint64_t)udk_dict_get_int(v, "Last", 0);
		q.count = (unsigned)udk_dict_get_int(v, "Count", 1);
		n = reallocarray(a->requests, a->n_requests + 1, sizeof(*n));
		if (!n) {
			request_clear(&q);
			break;
		}
		a->requests = n;
		a->requests[a->n_requests++] = q;
	}
	gs = udk_dict_get(root, "DeviceGrants");
	for (size_t i = 0; i < udk_array_size(gs); i++) {
		struct udk_value *v = udk_array_get(gs, i);
		const char *fam = udk_dict_get_string(v, "Family"), *what = udk_dict_get_string(v, "What");
		const char *drv = udk_dict_get_string(v, "Driver");
		struct device_grant *n;
		if (!fam || !what || !drv) {
			log_warning(d, "%s: DeviceGrants entry %zu is malformed and ignored", a->file, i);
			continue;
		}
		n = reallocarray(a->dgrants, a->n_dgrants + 1, sizeof(*n));
		if (!n)
			break;
		a->dgrants = n;
		n[a->n_dgrants++] = (struct device_grant){ strdup(fam), strdup(what), strdup(drv),
							   (uint64_t)udk_dict_get_int(v, "GrantedAt", 0) };
	}
	rs = udk_dict_get(root, "DeviceRequests");
	for (size_t i = 0; i < udk_array_size(rs) && a->n_drequests < MAX_REQUESTS; i++) {
		struct udk_value *v = udk_array_get(rs, i);
		const char *fam = udk_dict_get_string(v, "Family"), *what = udk_dict_get_string(v, "What");
		const char *drv = udk_dict_get_string(v, "Driver"), *dev = udk_dict_get_string(v, "Device");
		struct device_request *n;
		if (!fam || !what || !drv)
			continue;
		n = reallocarray(a->drequests, a->n_drequests + 1, sizeof(*n));
		if (!n)
			break;
		a->drequests = n;
		n[a->n_drequests++] = (struct device_request){ strdup(fam), strdup(what), strdup(drv),
							       strdup(dev ? dev : ""),
							       (uint64_t)udk_dict_get_int(v, "First", 0),
							       (uint64_t)udk_dict_get_int(v, "Last", 0),
							       (unsigned)udk_dict_get_int(v, "Count", 1) };
	}
	udk_value_unref(root);
	log_info(d, "access grants %s: %zu grants, %zu requests, %zu device grants", a->file, a->n_grants,
		 a->n_requests, a->n_dgrants);
	return 0;
}

int
access_init(struct udkd *d)
{
	struct access *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	d->access = a;
	a->file = strdup_printf("%s/" ACCESS_FILE, d->trust.state_dir);
	if (!a->file)
		return -ENOMEM;
	return load(d);
}

static void
link_free(struct link *l)
{
	proc_unref(l->proc);
	free(l->driver);
	free(l->name);
	app_identity_clear(&l->app);
	free(l);
}

void
access_fini(struct udkd *d)
{
	struct access *a = d->access;

	if (!a)
		return;
	for (size_t i = 0; i < a->n_grants; i++)
		grant_clear(&a->grants[i]);
	free(a->grants);
	for (size_t i = 0; i < a->n_requests; i++)
		request_clear(&a->requests[i]);
	free(a->requests);
	for (size_t i = 0; i < a->n_dgrants; i++) {
		free(a->dgrants[i].family);
		free(a->dgrants[i].what);
		free(a->dgrants[i].driver);
	}
	free(a->dgrants);
	for (size_t i = 0; i < a->n_drequests; i++) {
		free(a->drequests[i].family);
		free(a->drequests[i].what);
		free(a->drequests[i].driver);
		free(a->drequests[i].device);
	}
	free(a->drequests);
	while (a->links) {
		struct link *l = a->links;
		a->links = l->next;
		link_free(l);
	}
	free(a->file);
	free(a);
	d->access = NULL;
}

/* ---- decisions ---- */

static bool
app_entitled_to(const struct app_identity *app, const char *driver, bool developer)
{
	if (!app->signed_ok)
		return false;
	for (size_t k = 0; k < ARRAY_SIZE(access_ents); k++) {
		struct udk_value *list = udk_dict_get(app->entitlements, access_ents[k]);
		for (size_t i = 0; i < udk_array_size(list); i++) {
			const char *s = udk_value_get_string(udk_array_get(list, i));
			if (streq(s, driver) || (developer && streq(s, "*")))
				return true;
		}
	}
	return false;
}

static const struct grant *
find_grant(struct udkd *d, const struct app_identity *app, const char *driver, const struct grant **ret_stale)
{
	struct access *a = d->access;

	*ret_stale = NULL;
	for (size_t i = 0; i < a->n_grants; i++) {
		const struct grant *g = &a->grants[i];
		if (!streq(g->driver, driver))
			continue;
		if (g->app && streq(g->app, app->path)) {
			if (streq(g->hash, app->hash))
				return g;
			*ret_stale = g;
		} else if (!g->app && app->signed_ok && streq(g->key_id, app->key_id)) {
			return g;
		}
	}
	return NULL;
}

/* 0 and the rule that allows, or -UDK_E_NOT_PERMITTED with the reason set. */
static int
decide(struct udkd *d, const struct app_identity *app, pid_t pid, const struct bundle *b, const char **ret_via)
{
	const char *id = b->identifier ? b->identifier : b->dirname;
	const struct grant *stale = NULL;

	*ret_via = NULL;
	if (b->ent.allow_any_client) {
		*ret_via = "allow-any";
		return 0;
	}
	if (app->error < 0)
		return udk_set_reason(-UDK_E_NOT_PERMITTED,
				      "udkd cannot identify process %d (%s), so it may not open user clients of %s, "
				      "which admits only apps it knows",
				      (int)pid, strerror(-app->error), id);
	if (find_grant(d, app, id, &stale)) {
		*ret_via = "grant";
		return 0;
	}
	if (app_entitled_to(app, id, d->trust.developer)) {
		*ret_via = "signature";
		return 0;
	}
	if (stale)
		return udk_set_reason(-UDK_E_NOT_PERMITTED,
				      "%s (pid %d) may not open user clients of %s: access was granted to this path "
				      "when the executable had SHA-256 %.16s…, and it has %.16s… now (it was rebuilt "
				      "or replaced). If the new build is yours, grant it again: `udkctl access grant "
				      "%s %s`",
				      app->path, (int)pid, id, stale->hash, app->hash, id, app->path);
	return udk_set_reason(-UDK_E_NOT_PERMITTED,
			      "%s (pid %d) may not open user clients of %s: the driver does not allow any app "
			      "(no allow-any-userclient-access entitlement), no access grant names this app, and the "
			      "app has no signed userclient-access entitlement listing %s. An administrator can "
			      "allow it: `udkctl access grant %s %s`",
			      app->path ? app->path : "?", (int)pid, id, id, id, app->path ? app->path : "APP");
}

static void
record_request(struct udkd *d, const struct app_identity *app, const char *driver)
{
	struct access *a = d->access;
	struct request *n;

	if (!app->path)
		return;
	for (size_t i = 0; i < a->n_requests; i++) {
		struct request *q = &a->requests[i];
		if (streq(q->driver, driver) && streq(q->app, app->path) && streq(q->hash, app->hash)) {
			q->count++;
			q->last_ms = wall_ms();
			return; /* counts are saved with the next change */
		}
	}
	if (a->n_requests >= MAX_REQUESTS) {
		request_clear(&a->requests[0]);
		memmove(a->requests, a->requests + 1, (a->n_requests - 1) * sizeof(*a->requests));
		a->n_requests--;
	}
	n = reallocarray(a->requests, a->n_requests + 1, sizeof(*n));
	if (!n)
		return;
	a->requests = n;
	n[a->n_requests] = (struct request){ .driver = strdup(driver), .app = strdup(app->path), .count = 1 };
	memcpy(n[a->n_requests].hash, app->hash, sizeof(app->hash));
	n[a->n_requests].first_ms = n[a->n_requests].last_ms = wall_ms();
	a->n_requests++;
	save(d);
}

int
access_check(struct udkd *d, const struct app_identity *app, pid_t pid, const struct bundle *b, bool record)
{
	const char *via;
	int r = decide(d, app, pid, b, &via);

	if (r < 0 && record) {
		char *why = strdup(udk_error_reason() ? udk_error_reason() : "");
		udkd_log(d, UDK_LOG_WARNING, "access", "refused: %s", why ? why : "");
		record_request(d, app, b->identifier ? b->identifier : b->dirname);
		udk_set_reason(r, "%s", why ? why : "");
		free(why);
	}
	return r;
}

/* ---- open connections ---- */

void
access_link_opened(struct udkd *d, const struct app_identity *app, pid_t pid, const char *app_name,
		   struct driver_proc *p, uint64_t object)
{
	struct link *l = calloc(1, sizeof(*l));
	const char *via = NULL;

	if (!l || !p->bundle)
		return free(l);
	l->proc = proc_ref(p);
	l->object = object;
	l->driver = strdup(p->bundle->identifier);
	app_identity_copy(&l->app, app);
	l->pid = pid;
	l->name = app_name ? strdup(app_name) : NULL;
	l->since_ms = wall_ms();
	if (decide(d, app, pid, p->bundle, &via) == 0 && via)
		snprintf(l->via, sizeof(l->via), "%s", via);
	udk_clear_reason();
	l->next = d->access->links;
	d->access->links = l;
}

void
access_link_closed(struct udkd *d, struct driver_proc *p, uint64_t object)
{
	for (struct link **pp = &d->access->links; *pp;) {
		struct link *l = *pp;
		if (l->proc == p && l->object == object) {
			*pp = l->next;
			link_free(l);
		} else {
			pp = &l->next;
		}
	}
}

void
access_proc_gone(struct udkd *d, struct driver_proc *p)
{
	if (!d->access)
		return;
	for (struct link **pp = &d->access->links; *pp;) {
		struct link *l = *pp;
		if (l->proc == p) {
			*pp = l->next;
			link_free(l);
		} else {
			pp = &l->next;
		}
	}
}

/* Cut every open connection that is no longer allowed; returns how many. */
static unsigned
cut_unpermitted(struct udkd *d, const char *driver, const char *why)
{
	unsigned cut = 0;

	for (struct link **pp = &d->access->links; *pp;) {
		struct link *l = *pp;
		const char *via;
		struct bundle *b = l->proc->bundle;
		if ((driver && !streq(l->driver, driver)) || !b || l->proc->state == PROC_DEAD ||
		    decide(d, &l->app, l->pid, b, &via) == 0) {
			pp = &l->next;
			continue;
		}
		struct udk_value *body = udk_value_new_dict();
		char *reason = strdup_printf("access of %s to %s was revoked: %s", l->app.path ? l->app.path : "?",
					     l->driver, why);
		udk_dict_set_uint(body, "object", l->object);
		udk_dict_set_string(body, "reason", reason ? reason : why);
		proc_send(d, l->proc, OP_DRV_REVOKE_USER_CLIENT, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
		udk_value_unref(body);
		udkd_log(d, UDK_LOG_NOTICE, "access", "cut the connection of %s (pid %d) to %s: %s",
			 l->app.path ? l->app.path : "?", (int)l->pid, l->driver, why);
		free(reason);
		*pp = l->next;
		link_free(l);
		cut++;
	}
	udk_clear_reason();
	return cut;
}

static int
resolve_driver(struct udkd *d, const char *driver, const char **ret_id)
{
	struct bundle *b = bundle_find(d, driver);

	if (!b || !b->identifier)
		return udk_set_reason(-ENOENT, "no driver bundle named \"%s\"; `udkctl drivers` lists them",
				      driver ? driver : "");
	*ret_id = b->identifier;
	return 0;
}

int
access_grant(struct udkd *d, const char *driver, const char *app, struct udk_value **ret)
{
	struct access *a = d->access;
	struct grant g = { 0 }, *n;
	const char *id = NULL;
	int r;

	r = resolve_driver(d, driver, &id);
	if (r < 0)
		return r;
	if (!app || !*app)
		return udk_set_reason(-EINVAL, "name the app: an executable path, or key:KEYID for apps signed with "
					       "that key");
	if (startswith(app, "key:")) {
		if (!hex_ok(app + 4, SIGN_KEY_ID_LEN))
			return udk_set_reason(-EINVAL, "\"%s\" is not a key id: key ids are %d hex digits, as "
						       "`udk-sign key-id KEY.public` prints",
					      app + 4, SIGN_KEY_ID_LEN);
		memcpy(g.key_id, app + 4, sizeof(g.key_id));
	} else {
		char real[PATH_MAX];
		struct app_identity ident = { 0 };
		int fd;
		if (app[0] != '/' || !realpath(app, real))
			return udk_set_reason(-ENOENT, "%s: %s; give the app's executable as an absolute path", app,
					      app[0] != '/' ? "not an absolute path" : strerror(errno));
		fd = open(real, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return udk_set_reason(-errno, "cannot read %s: %s", real, strerror(errno));
		identify_fd(d, fd, real, &ident);
		close(fd);
		if (ident.error < 0) {
			r = ident.error;
			app_identity_clear(&ident);
			return udk_set_reason(r, "cannot hash %s: %s", real, strerror(-r));
		}
		g.app = strdup(real);
		memcpy(g.hash, ident.hash, sizeof(g.hash));
		app_identity_clear(&ident);
	}
	g.driver = strdup(id);
	g.when_ms = wall_ms();
	/* replace an older grant for the same app */
	for (size_t i = 0; i < a->n_grants; i++) {
		struct grant *o = &a->grants[i];
		if (streq(o->driver, g.driver) && ((g.app && streq(o->app, g.app)) || (!g.app && !o->app &&
												 streq(o->key_id, g.key_id)))) {
			grant_clear(o);
			*o = g;
			goto saved;
		}
	}
	n = reallocarray(a->grants, a->n_grants + 1, sizeof(*n));
	if (!n) {
		grant_clear(&g);
		return -ENOMEM;
	}
	a->grants = n;
	a->grants[a->n_grants++] = g;
saved:
	/* a granted request is answered */
	for (size_t i = 0; i < a->n_requests;) {
		struct request *q = &a->requests[i];
		if (streq(q->driver, g.driver) && g.app && streq(q->app, g.app)) {
			request_clear(q);
			memmove(q, q + 1, (a->n_requests - i - 1) * sizeof(*q));
			a->n_requests--;
		} else {
			i++;
		}
	}
	r = save(d);
	if (r < 0)
		return r;
	udkd_log(d, UDK_LOG_NOTICE, "access", "granted %s access to %s", g.app ? g.app : app, g.driver);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "driver", g.driver);
	if (g.app) {
		udk_dict_set_string(*ret, "app", g.app);
		udk_dict_set_string(*ret, "sha256", g.hash);
	} else {
		udk_dict_set_string(*ret, "key_id", g.key_id);
	}
	return 0;
}

int
access_revoke(struct udkd *d, const char *driver, const char *app, struct udk_value **ret)
{
	struct access *a = d->access;
	char real[PATH_MAX];
	const char *id = NULL, *want = app;
	unsigned removed = 0, cut;
	struct bundle *b;
	int r;

	r = resolve_driver(d, driver, &id);
	if (r < 0)
		return r;
	b = bundle_find(d, driver);
	if (app && app[0] == '/' && realpath(app, real))
		want = real;
	for (size_t i = 0; i < a->n_grants;) {
		struct grant *g = &a->grants[i];
		bool hit = streq(g->driver, id) &&
			   (!want || streq(want, "*") || (g->app && streq(g->app, want)) ||
			    (!g->app && startswith(want, "key:") && streq(g->key_id, want + 4)) ||
			    (g->app && streq(g->app, app)));
		if (hit) {
			grant_clear(g);
			memmove(g, g + 1, (a->n_grants - i - 1) * sizeof(*g));
			a->n_grants--;
			removed++;
		} else {
			i++;
		}
	}
	if (removed) {
		r = save(d);
		if (r < 0)
			return r;
	}
	cut = cut_unpermitted(d, id, "an administrator revoked it (`udkctl access revoke`)");
	if (!removed && !cut) {
		if (b && b->ent.allow_any_client)
			return udk_set_reason(-ENOENT, "%s allows any app (its allow-any-userclient-access "
						       "entitlement), so there is no grant to revoke; only a build "
						       "without that entitlement can restrict its apps",
					      id);
		return udk_set_reason(-ENOENT, "no access grant of %s names %s; `udkctl access list %s` shows them",
				      id, app ? app : "any app", id);
	}
	udkd_log(d, UDK_LOG_NOTICE, "access", "revoked %u grant(s) of %s for %s; %u open connection(s) cut", removed,
		 id, app ? app : "all apps", cut);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "driver", id);
	udk_dict_set_uint(*ret, "grants_removed", removed);
	udk_dict_set_uint(*ret, "connections_cut", cut);
	return 0;
}

struct udk_value *
access_describe(struct udkd *d, const char *driver)
{
	struct access *a = d->access;
	struct udk_value *v = udk_value_new_dict(), *gs = udk_value_new_array(), *rs = udk_value_new_array(),
			 *ls = udk_value_new_array(), *any = udk_value_new_array();
	const char *id = NULL;

	if (driver && resolve_driver(d, driver, &id) < 0)
		id = driver;
	udk_clear_reason();
	for (size_t i = 0; i < a->n_grants; i++) {
		struct grant *g = &a->grants[i];
		if (id && !streq(g->driver, id))
			continue;
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "driver", g->driver);
		if (g->app) {
			udk_dict_set_string(e, "app", g->app);
			udk_dict_set_string(e, "sha256", g->hash);
		} else {
			udk_dict_set_string(e, "key_id", g->key_id);
		}
		udk_dict_set_uint(e, "granted_ms", g->when_ms);
		udk_array_append_take(gs, e);
	}
	for (size_t i = 0; i < a->n_requests; i++) {
		struct request *q = &a->requests[i];
		if (id && !streq(q->driver, id))
			continue;
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "driver", q->driver);
		udk_dict_set_string(e, "app", q->app);
		udk_dict_set_string(e, "sha256", q->hash);
		udk_dict_set_uint(e, "count", q->count);
		udk_dict_set_uint(e, "last_ms", q->last_ms);
		udk_array_append_take(rs, e);
	}
	for (struct link *l = a->links; l; l = l->next) {
		if (id && !streq(l->driver, id))
			continue;
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "driver", l->driver);
		udk_dict_set_string(e, "app", l->app.path ? l->app.path : "?");
		udk_dict_set_int(e, "pid", l->pid);
		if (l->name)
			udk_dict_set_string(e, "name", l->name);
		udk_dict_set_uint(e, "object", l->object);
		udk_dict_set_string(e, "allowed_by", l->via[0] ? l->via : "?");
		udk_dict_set_uint(e, "since_ms", l->since_ms);
		udk_array_append_take(ls, e);
	}
	for (size_t i = 0; i < d->n_bundles; i++) {
		struct bundle *b = d->bundles[i];
		if (!b->removed && b->identifier && b->ent.allow_any_client && (!id || streq(b->identifier, id)))
			udk_array_append_take(any, udk_value_new_string(b->identifier));
	}
	udk_dict_set_take(v, "grants", gs);
	udk_dict_set_take(v, "requests", rs);
	udk_dict_set_take(v, "connections", ls);
	udk_dict_set_take(v, "open_to_any_app", any);
	gs = udk_value_new_array();
	for (size_t i = 0; i < a->n_dgrants; i++) {
		struct device_grant *g = &a->dgrants[i];
		struct udk_value *e;
		if (id && !streq(g->driver, id))
			continue;
		e = udk_value_new_dict();
		udk_dict_set_string(e, "family", g->family);
		udk_dict_set_string(e, "what", g->what);
		udk_dict_set_string(e, "driver", g->driver);
		udk_dict_set_uint(e, "granted_ms", g->when_ms);
		udk_array_append_take(gs, e);
	}
	rs = udk_value_new_array();
	for (size_t i = 0; i < a->n_drequests; i++) {
		struct device_request *q = &a->drequests[i];
		struct udk_value *e;
		if (id && !streq(q->driver, id))
			continue;
		e = udk_value_new_dict();
		udk_dict_set_string(e, "family", q->family);
		udk_dict_set_string(e, "what", q->what);
		udk_dict_set_string(e, "driver", q->driver);
		udk_dict_set_string(e, "device", q->device);
		udk_dict_set_uint(e, "count", q->count);
		udk_dict_set_uint(e, "last_ms", q->last_ms);
		udk_array_append_take(rs, e);
	}
	udk_dict_set_take(v, "device_grants", gs);
	udk_dict_set_take(v, "device_requests", rs);
	return v;
}

int
access_explain(struct udkd *d, const char *driver, const char *path, struct udk_value **ret)
{
	struct app_identity ident = { 0 };
	struct bundle *b = bundle_find(d, driver);
	const char *via = NULL;
	char real[PATH_MAX];
	int fd, r;

	if (!b)
		return udk_set_reason(-ENOENT, "no driver bundle named \"%s\"; `udkctl drivers` lists them",
				      driver ? driver : "");
	if (!path || path[0] != '/' || !realpath(path, real))
		return udk_set_reason(-ENOENT, "%s: give the app's executable as an absolute path that exists",
				      path ? path : "(none)");
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return udk_set_reason(-errno, "cannot read %s: %s", real, strerror(errno));
	identify_fd(d, fd, real, &ident);
	close(fd);
	r = decide(d, &ident, 0, b, &via);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "driver", b->identifier ? b->identifier : b->dirname);
	udk_dict_set_string(*ret, "app", real);
	udk_dict_set_string(*ret, "sha256", ident.hash);
	udk_dict_set_bool(*ret, "app_signed", ident.signed_ok);
	udk_dict_set_bool(*ret, "allowed", r == 0);
	if (r == 0) {
		udk_dict_set_string(*ret, "allowed_by", via);
	} else {
		udk_dict_set_string(*ret, "code", udk_error_name(r));
		udk_dict_set_string(*ret, "reason", udk_error_reason() ? udk_error_reason() : "");
	}
	udk_clear_reason();
	app_identity_clear(&ident);
	return 0;
}

/* ---- device grants (families' protected devices) ---- */

static const struct udkd_family *
family_named(const char *name, char **ret_why)
{
	for (size_t i = 0; i < udkd_n_families; i++) {
		const struct udkd_family *f = udkd_families[i];
		if (streq(f->name, name)) {
			if (FAMILY_HAS(f, grant_check))
				return f;
			*ret_why = strdup_printf("the %s family has no devices that need a grant", name);
			return NULL;
		}
	}
	*ret_why = strdup_printf("no family named \"%s\"; `udkctl families` lists them", name ? name : "");
	return NULL;
}

bool
access_device_granted(struct udkd *d, const struct udkd_family *f, const struct bundle *b, const char *const *whats)
{
	struct access *a = d->access;

	if (!a || !b || !b->identifier)
		return false;
	for (size_t i = 0; i < a->n_dgrants; i++) {
		const struct device_grant *g = &a->dgrants[i];
		if (!streq(g->family, f->name) || !streq(g->driver, b->identifier))
			continue;
		for (const char *const *w = whats; w && *w; w++)
			if (streq(g->what, *w))
				return true;
	}
	return false;
}

void
access_device_refused(struct udkd *d, const struct udkd_family *f, const struct bundle *b, const char *what,
		      const char *device)
{
	struct access *a = d->access;
	struct device_request *n;

	if (!a || !b || !b->identifier)
		return;
	for (size_t i = 0; i < a->n_drequests; i++) {
		struct device_request *q = &a->drequests[i];
		if (streq(q->family, f->name) && streq(q->what, what) && streq(q->driver, b->identifier)) {
			q->count++;
			q->last_ms = wall_ms();
			if (device && !streq(q->device, device)) {
				free(q->device);
				q->device = strdup(device);
			}
			return;
		}
	}
	if (a->n_drequests >= MAX_REQUESTS) {
		free(a->drequests[0].family);
		free(a->drequests[0].what);
		free(a->drequests[0].driver);
		free(a->drequests[0].device);
		memmove(a->drequests, a->drequests + 1, (a->n_drequests - 1) * sizeof(*a->drequests));
		a->n_drequests--;
	}
	n = reallocarray(a->drequests, a->n_drequests + 1, sizeof(*n));
	if (!n)
		return;
	a->drequests = n;
	n[a->n_drequests++] = (struct device_request){ strdup(f->name), strdup(what), strdup(b->identifier),
						       strdup(device ? device : ""), wall_ms(), wall_ms(), 1 };
	save(d);
}

int
access_device_grant(struct udkd *d, const char *family, const char *what, const char *driver, struct udk_value **ret)
{
	struct access *a = d->access;
	_cleanup_free_ char *why = NULL, *norm = NULL;
	const struct udkd_family *f = family_named(family, &why);
	struct device_grant *n;
	const char *id = NULL;
	bool have = false;
	int r;

	if (!f)
		return udk_set_reason(-ENOENT, "%s", why ? why : "no such family");
	r = resolve_driver(d, driver, &id);
	if (r < 0)
		return r;
	if (!what || !*what)
		return udk_set_reason(-EINVAL, "name what to grant: %s", f->grant_help ? f->grant_help : "?");
	r = f->grant_check(d, what, &norm);
	if (r < 0)
		return r;
	for (size_t i = 0; i < a->n_dgrants; i++)
		have |= streq(a->dgrants[i].family, f->name) && streq(a->dgrants[i].what, norm) &&
			streq(a->dgrants[i].driver, id);
	if (!have) {
		n = reallocarray(a->dgrants, a->n_dgrants + 1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		a->dgrants = n;
		n[a->n_dgrants++] = (struct device_grant){ strdup(f->name), strdup(norm), strdup(id), wall_ms() };
	}
	/* the request it answers */
	for (size_t i = 0; i < a->n_drequests;) {
		struct device_request *q = &a->drequests[i];
		if (streq(q->family, f->name) && streq(q->driver, id) && streq(q->what, norm)) {
			free(q->family);
			free(q->what);
			free(q->driver);
			free(q->device);
			memmove(q, q + 1, (a->n_drequests - i - 1) * sizeof(*q));
			a->n_drequests--;
		} else {
			i++;
		}
	}
	r = save(d);
	if (r < 0)
		return r;
	udkd_log(d, UDK_LOG_NOTICE, "access", "granted %s %s to %s", f->name, norm, id);
	f->grant_changed(d, id, norm, true);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "family", f->name);
	udk_dict_set_string(*ret, "what", norm);
	udk_dict_set_string(*ret, "driver", id);
	return 0;
}

int
access_device_revoke(struct udkd *d, const char *family, const char *what, const char *driver, struct udk_value **ret)
{
	struct access *a = d->access;
	_cleanup_free_ char *why = NULL, *norm = NULL;
	const struct udkd_family *f = family_named(family, &why);
	const char *id = NULL;
	unsigned removed = 0;
	int r;

	if (!f)
		return udk_set_reason(-ENOENT, "%s", why ? why : "no such family");
	r = resolve_driver(d, driver, &id);
	if (r < 0)
		return r;
	if (what && *what && !streq(what, "*")) {
		r = f->grant_check(d, what, &norm);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < a->n_dgrants;) {
		struct device_grant *g = &a->dgrants[i];
		if (streq(g->family, f->name) && streq(g->driver, id) && (!norm || streq(g->what, norm))) {
			free(g->family);
			free(g->what);
			free(g->driver);
			memmove(g, g + 1, (a->n_dgrants - i - 1) * sizeof(*g));
			a->n_dgrants--;
			removed++;
		} else {
			i++;
		}
	}
	if (!removed)
		return udk_set_reason(-ENOENT, "no %s grant%s%s of %s; `udkctl access list %s` shows them", f->name,
				      norm ? " " : "", norm ? norm : "", id, id);
	r = save(d);
	if (r < 0)
		return r;
	udkd_log(d, UDK_LOG_NOTICE, "access", "revoked %s %s of %s", f->name, norm ? norm : "grants", id);
	f->grant_changed(d, id, norm ? norm : "*", false);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "family", f->name);
	udk_dict_set_string(*ret, "what", norm ? norm : "*");
	udk_dict_set_string(*ret, "driver", id);
	udk_dict_set_uint(*ret, "grants_removed", removed);
	return 0;
}
