/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c - installing, upgrading and uninstalling driver bundles.
 *
 * `udkctl install BUNDLE` copies a bundle into udkd's first bundle
 * directory, `udkctl upgrade BUNDLE` replaces the installed version of its
 * identifier, `udkctl uninstall DRIVER` removes one.  Every step that
 * changes the bundle directory is a rename on one file system, and each
 * state in between is written (atomically) to STATE_DIR/lifecycle.plist
 * first, so a udkd that stops at any point finishes or undoes the step at
 * its next start, always the same way:
 *
 *   install    verify a copy (.udk-install-XXXXXX, written and fsync'ed on a
 *              worker, then loaded with the checks of every scan: manifest,
 *              executable format, signature, trust, entitlements) -> rename
 *              it to DIR/Name.dext -> rescan.  A bundle signed by a key udkd
 *              does not trust yet is installed and waits for trust.
 *   upgrade    verify the copy as above -> "prepared" -> apps of the running
 *              version are told UDK_E_DRIVER_REPLACED (each user client's
 *              queue serves what it had first) and udkd waits for their
 *              connections to close (at most the stop deadline) -> rename
 *              the old version to PATH.previous and the copy to PATH ->
 *              "swapped" -> rescan: the old instances stop, the new start.
 *              When every instance of the new version has returned from
 *              Start() it is activated (PATH.previous is removed); a crash
 *              loop (udkd --crash-limit) or a Start() that fails before
 *              that, on any of its devices, rolls back: PATH goes,
 *              PATH.previous comes back, with the reason in the state.
 *   uninstall  apps told, connections drained -> rename PATH into a
 *              .udk-trash-XXXXXX directory -> rescan (its instances stop)
 *              -> the trash is removed.
 *
 * After a restart: "prepared" keeps the old version (the copy was never in
 * place), "swapped" with both directories resumes the upgrade (activation
 * or rollback as above), a missing PATH with PATH.previous present
 * restores the old version (rolled-back), an interrupted rollback or
 * uninstall is done again.  Leftover .udk-install-* and .udk-trash-*
 * directories are removed.
 *
 * Drivers' recent output is kept here too (the last LC_LOG_LINES lines per
 * bundle identifier, across restarts and upgrades of the driver) for
 * `udkctl report`.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "file.h"
#include "proto.h"
#include "udkd.h"
#include "util.h"
#include "work.h"

#define LC_FILE "lifecycle.plist"
#define LC_FILE_MAX (1u << 20)
#define LC_ENTRIES_MAX 4096
#define LC_LOG_LINES 200
#define LC_LOG_LINE_MAX 256
#define LC_LOG_DRIVERS 256
#define LC_COPY_DEPTH 32
#define LC_DRAIN_POLL_MS 20
#define STAGE_PREFIX ".udk-install-"
#define TRASH_PREFIX ".udk-trash-"

enum lc_state {
	LC_ACTIVATED,
	LC_INSTALLING,
	LC_UPGRADING,
	LC_ROLLED_BACK,
	LC_UNINSTALLING,
};

static const char *const state_names[] = {
	[LC_ACTIVATED] = "activated",	   [LC_INSTALLING] = "installing",     [LC_UPGRADING] = "upgrading",
	[LC_ROLLED_BACK] = "rolled-back", [LC_UNINSTALLING] = "uninstalling",
};

/* What udkd remembers of one installed identifier (lifecycle.plist). */
struct lc_entry {
	char *identifier;
	enum lc_state state;
	char phase[16];			/* upgrading: "prepared", "swapped", "rolling-back" */
	char *path;			/* where it is installed */
	char *staged;			/* the verified copy, before it is in place */
	char *previous;			/* upgrading: the old version, set aside */
	char *from_version, *to_version;
	char *reason;			/* what happened last, in words */
	char *installed;		/* activated, rolled-back: the version this state is about */
	uint64_t since_ms;
	unsigned running_before;	/* instances the old version ran when the upgrade began */
};

struct lc_log {
	char *identifier;
	char *lines[LC_LOG_LINES];
	unsigned head, n;
};

/* An install, upgrade or uninstall between its steps: one at a time. */
struct lc_op {
	struct udkd *d;
	struct client *c;
	uint16_t op;
	uint32_t serial;
	bool upgrade, uninstall;
	char *src;			/* install/upgrade: the bundle given */
	char *name;			/* its directory name, Name.dext */
	char *staged;			/* the copy */
	int err;			/* the worker's: copying failed */
	char *why;
	struct bundle *b;		/* the copy, loaded */
	char *identifier;
	struct bundle *old;		/* upgrade, uninstall: the version being replaced */
	uint64_t drain_deadline_ns;
	struct loop_timer *timer;
};

struct lifecycle {
	char *file;
	struct lc_entry *entries;
	size_t n_entries;
	struct lc_log *logs;
	size_t n_logs;
	struct lc_op *op;
	struct loop_timer *check;	/* deferred activation / rollback */
};

/* Test hook: udkd kills itself at the named point (tests/integration/test-lifecycle.c). */
static void
fault_point(const char *where)
{
	const char *e = getenv("UDKD_TEST_LIFECYCLE_KILL_AT");

	if (e && streq(e, where))
		raise(SIGKILL);
}

static bool
exists(const char *path)
{
	struct stat st;
	return path && lstat(path, &st) == 0;
}

/* ---- the state file ---- */

static void
entry_clear(struct lc_entry *e)
{
	free(e->identifier);
	free(e->path);
	free(e->staged);
	free(e->previous);
	free(e->from_version);
	free(e->to_version);
	free(e->reason);
	free(e->installed);
	memset(e, 0, sizeof(*e));
}

static struct lc_entry *
entry_find(struct lifecycle *lc, const char *identifier)
{
	for (size_t i = 0; identifier && i < lc->n_entries; i++)
		if (streq(lc->entries[i].identifier, identifier))
			return &lc->entries[i];
	return NULL;
}

static struct lc_entry *
entry_get(struct lifecycle *lc, const char *identifier)
{
	struct lc_entry *e = entry_find(lc, identifier), *n;

	if (e)
		return e;
	if (lc->n_entries >= LC_ENTRIES_MAX)
		return NULL;
	n = reallocarray(lc->entries, lc->n_entries + 1, sizeof(*n));
	if (!n)
		return NULL;
	lc->entries = n;
	e = &lc->entries[lc->n_entries++];
	memset(e, 0, sizeof(*e));
	e->identifier = strdup(identifier);
	e->since_ms = wall_ms();
	return e;
}

static void
entry_remove(struct lifecycle *lc, struct lc_entry *e)
{
	size_t i = (size_t)(e - lc->entries);

	entry_clear(e);
	memmove(&lc->entries[i], &lc->entries[i + 1], (lc->n_entries - i - 1) * sizeof(*e));
	lc->n_entries--;
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
}

static void
entry_set(struct lc_entry *e, enum lc_state state, const char *phase, const char *reason)
{
	e->state = state;
	snprintf(e->phase, sizeof(e->phase), "%s", phase ? phase : "");
	if (reason)
		set_str(&e->reason, reason);
	e->since_ms = wall_ms();
}

/* Write the whole state: a temporary file, fsync, rename, fsync of the directory. */
static int
save(struct udkd *d)
{
	struct lifecycle *lc = d->lifecycle;
	struct udk_value *root = udk_value_new_dict(), *list = udk_value_new_array();
	char *xml = NULL;
	int r;

	udk_dict_set_int(root, "Version", 1);
	for (size_t i = 0; i < lc->n_entries; i++) {
		struct lc_entry *e = &lc->entries[i];
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "Identifier", e->identifier);
		udk_dict_set_string(v, "State", state_names[e->state]);
		if (e->phase[0])
			udk_dict_set_string(v, "Phase", e->phase);
#define PUT(key, field)                                                                                        \
	if (e->field)                                                                                          \
	udk_dict_set_string(v, key, e->field)
		PUT("Path", path);
		PUT("Staged", staged);
		PUT("Previous", previous);
		PUT("From", from_version);
		PUT("To", to_version);
		PUT("Reason", reason);
		PUT("Installed", installed);
#undef PUT
		udk_dict_set_uint(v, "Since", e->since_ms);
		udk_dict_set_uint(v, "RunningBefore", e->running_before);
		udk_array_append_take(list, v);
	}
	udk_dict_set_take(root, "Bundles", list);
	r = udk_value_to_plist_xml(root, &xml);
	udk_value_unref(root);
	if (r < 0) {
		free(xml);
		return r;
	}
	r = file_replace(lc->file, xml, strlen(xml), 0644);
	free(xml);
	if (r < 0)
		log_error(d, "cannot save the bundles' lifecycle state to %s: %s", lc->file, strerror(-r));
	return r;
}

static int
load(struct udkd *d)
{
	struct lifecycle *lc = d->lifecycle;
	struct udk_value *root = NULL, *list;
	char *buf = NULL;
	size_t len = 0;
	int r = file_read_regular(AT_FDCWD, lc->file, LC_FILE_MAX, &buf, &len);

	if (r == -ENOENT)
		return 0;
	if (r < 0 || udk_value_from_plist(buf, len, &root) < 0 || udk_value_get_type(root) != UDK_VALUE_DICT) {
		log_error(d, "%s cannot be read (%s); the bundles' lifecycle states start afresh", lc->file,
			  r < 0 ? strerror(-r) : "not a plist dictionary");
		free(buf);
		udk_value_unref(root);
		return 0;
	}
	free(buf);
	list = udk_dict_get(root, "Bundles");
	for (size_t i = 0; i < udk_array_size(list) && lc->n_entries < LC_ENTRIES_MAX; i++) {
		struct udk_value *v = udk_array_get(list, i);
		const char *id = udk_dict_get_string(v, "Identifier"), *st = udk_dict_get_string(v, "State");
		struct lc_entry *e;
		size_t s;

		if (!id || !st || entry_find(lc, id))
			continue;
		for (s = 0; s < ARRAY_SIZE(state_names); s++)
			if (streq(state_names[s], st))
				break;
		if (s == ARRAY_SIZE(state_names) || !(e = entry_get(lc, id)))
			continue;
		e->state = (enum lc_state)s;
		snprintf(e->phase, sizeof(e->phase), "%s",
			 udk_dict_get_string(v, "Phase") ? udk_dict_get_string(v, "Phase") : "");
		set_str(&e->path, udk_dict_get_string(v, "Path"));
		set_str(&e->staged, udk_dict_get_string(v, "Staged"));
		set_str(&e->previous, udk_dict_get_string(v, "Previous"));
		set_str(&e->from_version, udk_dict_get_string(v, "From"));
		set_str(&e->to_version, udk_dict_get_string(v, "To"));
		set_str(&e->reason, udk_dict_get_string(v, "Reason"));
		set_str(&e->installed, udk_dict_get_string(v, "Installed"));
		e->since_ms = udk_value_get_uint(udk_dict_get(v, "Since"), 0);
		e->running_before = (unsigned)udk_value_get_uint(udk_dict_get(v, "RunningBefore"), 0);
	}
	udk_value_unref(root);
	return 0;
}

/* ---- files (worker threads, and udkd's start) ---- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
rm_tree(const char *path)
{
	if (path && exists(path))
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void
rm_job(void *data)
{
	rm_tree(data);
}

static void
rm_job_done(void *data, int status)
{
	(void)status;
	free(data);
}

/* Remove @path (taken) off the loop thread. */
static void
rm_later(struct udkd *d, char *path)
{
	if (!path)
		return;
	if (!d->work || work_submit(d->work, 0, rm_job, rm_job_done, path) < 0) {
		rm_tree(path);
		free(path);
	}
}

struct copy_budget {
	unsigned files;
	uint64_t bytes;
	char *why;
	int err;
};

static int
copy_fail(struct copy_budget *bud, int err, const char *fmt, ...) UDK_PRINTF(3, 4);

static int
copy_fail(struct copy_budget *bud, int err, const char *fmt, ...)
{
	va_list ap;

	if (!bud->why) {
		va_start(ap, fmt);
		if (vasprintf(&bud->why, fmt, ap) < 0)
			bud->why = NULL;
		va_end(ap);
		bud->err = err;
	}
	return err;
}

static int
copy_file(int sfd, int dfd, const char *name, const char *rel, struct copy_budget *bud)
{
	struct stat st;
	uint64_t left = SIGN_BUNDLE_MAX - bud->bytes;
	int in = file_open_regular(sfd, name, (size_t)MIN(left, (uint64_t)SIGN_FILE_MAX), false, &st), out;
	char buf[65536];
	int r = 0;

	if (in < 0)
		return copy_fail(bud, in, "%s cannot be read: %s", rel,
				 in == -EFBIG ? "it is larger than a bundle file may be" : strerror(-in));
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 0755);
	if (out < 0) {
		r = -errno;
		close(in);
		return copy_fail(bud, r, "cannot write the copy of %s: %s", rel, strerror(-r));
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = copy_fail(bud, -errno, "cannot read %s: %s", rel, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		bud->bytes += (uint64_t)n;
		if (bud->bytes > SIGN_BUNDLE_MAX) {
			r = copy_fail(bud, -UDK_E_TOO_LARGE, "the bundle's files together are larger than %llu bytes",
				      (unsigned long long)SIGN_BUNDLE_MAX);
			break;
		}
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r = copy_fail(bud, -errno, "cannot write the copy of %s: %s", rel, strerror(errno));
				break;
			}
			o += w;
		}
		if (r < 0)
			break;
	}
	if (r == 0 && (fchmod(out, st.st_mode & 0755) < 0 || fsync(out) < 0))
		r = copy_fail(bud, -errno, "cannot write the copy of %s: %s", rel, strerror(errno));
	close(in);
	close(out);
	return r;
}

static int
copy_dir(int sfd, int dfd, const char *rel, unsigned depth, struct copy_budget *bud)
{
	DIR *dir;
	struct dirent *e;
	int dup_fd, r = 0;

	if (depth > LC_COPY_DEPTH)
		return copy_fail(bud, -UDK_E_TOO_LARGE, "%s is nested more than %u directories deep", rel,
				 LC_COPY_DEPTH);
	dup_fd = dup(sfd);
	if (dup_fd < 0 || !(dir = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return copy_fail(bud, -errno, "cannot read %s: %s", rel, strerror(errno));
	}
	while (r == 0 && (e = readdir(dir))) {
		struct stat st;
		char *sub;

		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		if (++bud->files > SIGN_WALK_MAX_FILES) {
			r = copy_fail(bud, -UDK_E_TOO_LARGE, "the bundle has more than %u files", SIGN_WALK_MAX_FILES);
			break;
		}
		sub = strdup_printf("%s/%s", rel, e->d_name);
		if (!sub) {
			r = -ENOMEM;
			break;
		}
		if (fstatat(sfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = copy_fail(bud, -errno, "cannot read %s: %s", sub, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			int s2 = openat(sfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), d2 = -1;
			if (s2 < 0 || mkdirat(dfd, e->d_name, 0755) < 0 ||
			    (d2 = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				r = copy_fail(bud, -errno, "cannot copy the directory %s: %s", sub, strerror(errno));
			else if ((r = copy_dir(s2, d2, sub, depth + 1, bud)) == 0)
				fsync(d2);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISREG(st.st_mode)) {
			r = copy_file(sfd, dfd, e->d_name, sub, bud);
		} else if (S_ISLNK(st.st_mode)) {
			/* copied as it is: the load below judges it as a scan would */
			char target[PATH_MAX];
			ssize_t n = readlinkat(sfd, e->d_name, target, sizeof(target) - 1);
			if (n < 0)
				r = copy_fail(bud, -errno, "cannot read the link %s: %s", sub, strerror(errno));
			else {
				target[n] = '\0';
				if (symlinkat(target, dfd, e->d_name) < 0)
					r = copy_fail(bud, -errno, "cannot copy the link %s: %s", sub, strerror(errno));
			}
		} else {
			r = copy_fail(bud, -EINVAL, "%s is %s; bundles hold plain files and directories", sub,
				      file_kind(&st));
		}
		free(sub);
	}
	closedir(dir);
	return r;
}

/* Worker: copy op->src into op->staged, then load the copy. */
static void
stage_job(void *data)
{
	struct lc_op *op = data;
	struct copy_budget bud = { 0 };
	int sfd = open(op->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int dfd = open(op->staged, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (sfd < 0) {
		op->err = -errno;
		op->why = strdup_printf("cannot open %s: %s%s", op->src, strerror(errno),
					errno == ENOTDIR || errno == ELOOP ? " (a bundle is a directory, Name.dext)" : "");
	} else if (dfd < 0) {
		op->err = -errno;
		op->why = strdup_printf("cannot open the copy %s: %s", op->staged, strerror(errno));
	} else if ((r = copy_dir(sfd, dfd, op->name, 0, &bud)) < 0) {
		op->err = bud.err ? bud.err : r;
		op->why = TAKE_PTR(bud.why);
	} else {
		fsync(dfd);
		if (bundle_load(op->staged, &op->b) < 0) {
			bundle_free(op->b);
			op->b = NULL;
			op->err = -ENOMEM;
		}
	}
	free(bud.why);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
}

/* ---- describing ---- */

static const char *
effective_state(const struct lc_entry *e, const struct bundle *b)
{
	if (e && e->state != LC_ACTIVATED)
		return state_names[e->state];
	if (b && b->refusal == -UDK_E_UNTRUSTED_KEY)
		return "waiting-for-trust";
	return "activated";
}

void
lifecycle_describe(struct udkd *d, const struct bundle *b, struct udk_value *v)
{
	struct lc_entry *e = d->lifecycle && b->identifier ? entry_find(d->lifecycle, b->identifier) : NULL;
	struct udk_value *l;

	/* another version was put in place by hand since (meson install, cp): the record is not about it */
	if (e && (e->state == LC_ACTIVATED || e->state == LC_ROLLED_BACK) &&
	    !(e->installed ? streq(e->installed, b->version) : !b->version) &&
	    /* (just rolled back: the failed version is still loaded until the rescan) */
	    !(e->state == LC_ROLLED_BACK && streq(e->to_version, b->version)))
		e = NULL;

	if (!d->lifecycle)
		return;
	/* a bundle put in place by hand that udkd cannot use: its own state (invalid, refused) says it all */
	if (!e && (!b->loadable || (b->refusal && b->refusal != -UDK_E_UNTRUSTED_KEY)))
		return;
	l = udk_value_new_dict();
	udk_dict_set_string(l, "state", effective_state(e, b));
	if (e) {
		if (e->reason)
			udk_dict_set_string(l, "reason", e->reason);
		if (e->from_version)
			udk_dict_set_string(l, "from_version", e->from_version);
		if (e->to_version)
			udk_dict_set_string(l, "to_version", e->to_version);
		if (e->previous && e->state == LC_UPGRADING)
			udk_dict_set_string(l, "previous", e->previous);
		udk_dict_set_uint(l, "since_ms", e->since_ms);
	} else if (b->refusal == -UDK_E_UNTRUSTED_KEY) {
		udk_dict_set_string(l, "reason", "installed; it runs once its signing key is trusted (`udkctl trust "
						 "add KEY.public`)");
	}
	udk_dict_set_take(v, "lifecycle", l);
}

/* ---- steps ---- */

static void
op_free(struct udkd *d, struct lc_op *op)
{
	if (!op)
		return;
	if (op->timer)
		loop_timer_cancel(d->loop, op->timer);
	if (d->lifecycle && d->lifecycle->op == op)
		d->lifecycle->op = NULL;
	client_unref(op->c);
	bundle_free(op->b);
	free(op->src);
	free(op->name);
	free(op->staged);
	free(op->why);
	free(op->identifier);
	free(op);
}

static void
op_reply(struct udkd *d, struct lc_op *op, int status, const char *reason, struct udk_value *body)
{
	client_reply(d, op->c, op->op, op->serial, status, reason, body, NULL, 0);
}

static void
fail_job(void *data)
{
	struct lc_op *op = data;
	rm_tree(op->staged);
}

static void
fail_done(void *data, int status)
{
	struct lc_op *op = data;

	(void)status;
	op_reply(op->d, op, op->err, op->why ? op->why : udk_strerror(op->err), NULL);
	op_free(op->d, op);
}

/* Refuse: the copy is removed first (on a worker), so "nothing was copied" holds when the answer comes. */
static void
op_fail(struct udkd *d, struct lc_op *op, int status, const char *reason)
{
	op->err = status;
	if (reason != op->why)
		set_str(&op->why, reason);
	if (op->staged && d->work && !d->shutting_down && work_submit(d->work, 0, fail_job, fail_done, op) == 0)
		return;
	fail_job(op);
	fail_done(op, 0);
}

static struct bundle *
find_identifier(struct udkd *d, const char *identifier)
{
	for (size_t i = 0; identifier && i < d->n_bundles; i++)
		if (!d->bundles[i]->removed && streq(d->bundles[i]->identifier, identifier))
			return d->bundles[i];
	return NULL;
}

struct count_ctx {
	const char *identifier;
	unsigned running, any;
};

static void
count_instances(struct udkd *d, struct service *s, void *data)
{
	struct count_ctx *c = data;

	(void)d;
	if (s->istate == INST_NONE || !s->personality || !s->personality->bundle ||
	    !streq(s->personality->bundle->identifier, c->identifier) || s->state == SVC_TERMINATED)
		return;
	c->any++;
	if (s->istate == INST_RUNNING)
		c->running++;
}

static struct udk_value *
result_body(struct udkd *d, const char *identifier)
{
	struct udk_value *body = udk_value_new_dict();
	struct bundle *b = find_identifier(d, identifier);

	udk_dict_set_string(body, "identifier", identifier);
	if (b) {
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(body, "path", b->path);
		if (b->version)
			udk_dict_set_string(body, "version", b->version);
		lifecycle_describe(d, b, v);
		udk_dict_set(body, "lifecycle", udk_dict_get(v, "lifecycle"));
		udk_value_unref(v);
		if (b->refusal) {
			udk_dict_set_string(body, "refusal", udk_error_name(b->refusal));
			if (b->refusal_reason)
				udk_dict_set_string(body, "refusal_reason", b->refusal_reason);
		}
	}
	return body;
}

static void schedule_check(struct udkd *d);

static void
install_scanned(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed, void *data)
{
	struct lc_op *op = data;
	struct udk_value *body;

	(void)added;
	(void)removed;
	(void)status;
	body = result_body(d, op->identifier);
	op_reply(d, op, 0, NULL, body);
	udk_value_unref(body);
	op_free(d, op);
}

static void
upgrade_scanned(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed, void *data)
{
	struct lc_op *op = data;
	struct udk_value *body;
	struct bundle *nb = find_identifier(d, op->identifier);

	(void)added;
	(void)removed;
	(void)status;
	if (nb) {
		/* the new version starts with a clean slate: its own crash count decides */
		nb->crashes_consecutive = 0;
		if (nb->disabled)
			launcher_restart_bundle(d, nb);
	}
	schedule_check(d);
	body = result_body(d, op->identifier);
	op_reply(d, op, 0, NULL, body);
	udk_value_unref(body);
	op_free(d, op);
}

static void
uninstall_scanned(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed, void *data)
{
	struct lc_op *op = data;
	struct udk_value *body = udk_value_new_dict();

	(void)added;
	(void)removed;
	(void)status;
	udk_dict_set_string(body, "identifier", op->identifier);
	op_reply(d, op, 0, NULL, body);
	udk_value_unref(body);
	op_free(d, op);
}

static void
rescan_then(struct udkd *d, struct lc_op *op, bundles_scan_fn fn)
{
	if (bundles_rescan(d, fn, op) < 0)
		fn(d, -ENOMEM, 0, 0, 0, op);
}

/* Upgrade: the old version's apps are gone (or the drain deadline passed): swap the directories. */
static void
upgrade_swap(struct udkd *d, struct lc_op *op)
{
	struct lc_entry *e = entry_find(d->lifecycle, op->identifier);
	char *why;

	if (!e) {
		op_fail(d, op, -ENOMEM, NULL);
		return;
	}
	rm_tree(e->previous); /* a leftover of an earlier run */
	if (rename(e->path, e->previous) < 0) {
		why = strdup_printf("cannot set the old version aside (%s -> %s): %s; it stays", e->path,
				    e->previous, strerror(errno));
		entry_set(e, LC_ACTIVATED, NULL, why);
		set_str(&e->installed, e->from_version);
		save(d);
		op_fail(d, op, -EIO, why);
		free(why);
		return;
	}
	fault_point("set-aside");
	if (rename(op->staged, e->path) < 0) {
		int err = errno;
		why = strdup_printf("cannot put the new version in place (%s): %s; the old version was restored",
				    e->path, strerror(err));
		if (rename(e->previous, e->path) == 0) {
			entry_set(e, LC_ROLLED_BACK, NULL, why);
			set_str(&e->installed, e->from_version);
		}
		save(d);
		op_fail(d, op, -err, why);
		free(why);
		return;
	}
	file_sync_dir_of(e->path);
	free(TAKE_PTR(op->staged));
	set_str(&e->staged, NULL);
	entry_set(e, LC_UPGRADING, "swapped", NULL);
	save(d);
	fault_point("swapped");
	log_notice(d, "%s: version %s is in place of %s; the old version's instances stop, the new ones start",
		   op->identifier, e->to_version ? e->to_version : "?", e->from_version ? e->from_version : "?");
	/* the old bundle is reloaded from its path: the new files */
	op->old->mtime_ns = 0;
	rescan_then(d, op, upgrade_scanned);
}

static void
uninstall_remove(struct udkd *d, struct lc_op *op)
{
	struct lc_entry *e = entry_find(d->lifecycle, op->identifier);
	char *trash = NULL, *dir, *slash;

	dir = strdup(op->old->path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		trash = strdup_printf("%s/" TRASH_PREFIX "XXXXXX", dir);
	}
	free(dir);
	if (!trash || !mkdtemp(trash) || rename(op->old->path, trash) < 0) {
		char *why = strdup_printf("cannot remove %s: %s", op->old->path, strerror(errno));
		if (trash)
			rmdir(trash);
		free(trash);
		if (e) {
			entry_set(e, LC_ACTIVATED, NULL, why);
			set_str(&e->installed, op->old->version);
		}
		save(d);
		op_fail(d, op, -EIO, why);
		free(why);
		return;
	}
	file_sync_dir_of(op->old->path);
	if (e)
		entry_remove(d->lifecycle, e);
	save(d);
	log_notice(d, "%s: uninstalled (%s)", op->identifier, op->old->path);
	rm_later(d, trash);
	rescan_then(d, op, uninstall_scanned);
}

static void
drain_tick(struct loop *l, void *data)
{
	struct lc_op *op = data;
	struct udkd *d = op->d;
	unsigned left = access_links_of_bundle(d, op->old);

	(void)l;
	op->timer = NULL;
	if (d->shutting_down) {
		/* the state file keeps the step: the next start finishes or undoes it */
		op_fail(d, op, -ECANCELED, "udkd is stopping; it finishes or undoes this at its next start");
		return;
	}
	if (left && now_ns() < op->drain_deadline_ns) {
		loop_add_timer(d->loop, now_ns() + LC_DRAIN_POLL_MS * 1000000ull, drain_tick, op, &op->timer);
		return;
	}
	if (left)
		log_warning(d, "%s: %u app connection(s) did not close within %llu ms; their calls end with "
			       "UDK_E_DRIVER_REPLACED or UDK_E_DRIVER_DIED as the old version stops",
			    op->identifier, left, (unsigned long long)d->cfg.stop_timeout_ms);
	if (op->uninstall)
		uninstall_remove(d, op);
	else
		upgrade_swap(d, op);
}

/* Tell the apps of @op->old, then wait for their connections to close. */
static void
drain(struct udkd *d, struct lc_op *op, const char *reason)
{
	unsigned n = access_cut_bundle(d, op->old, -UDK_E_DRIVER_REPLACED, reason);

	if (n)
		log_notice(d, "%s: told %u app connection(s): %s", op->identifier, n, reason);
	op->drain_deadline_ns = now_ns() + d->cfg.stop_timeout_ms * 1000000ull;
	drain_tick(d->loop, op);
}

/* The first error's code of a bundle that cannot be loaded. */
static int
first_error_code(const struct bundle *b)
{
	for (size_t i = 0; i < b->n_diags; i++)
		if (b->diags[i].level == DIAG_ERROR)
			return b->diags[i].code ? b->diags[i].code : -UDK_E_BAD_MANIFEST;
	return -UDK_E_BAD_MANIFEST;
}

static void
stage_done(void *data, int status)
{
	struct lc_op *op = data;
	struct udkd *d = op->d;
	struct lifecycle *lc = d->lifecycle;
	struct bundle *b = op->b, *old;
	struct lc_entry *e;
	char *why = NULL;

	if (status < 0 || d->shutting_down || !lc) {
		op_fail(d, op, -ECANCELED, "udkd is stopping");
		return;
	}
	if (op->err || !b) {
		why = strdup_printf("%s was not installed: %s", op->src, op->why ? op->why : udk_strerror(op->err));
		op_fail(d, op, op->err ? op->err : -ENOMEM, why);
		free(why);
		return;
	}
	/* the same checks as a scan: name the bundle as the user knows it */
	set_str(&b->path, op->src);
	set_str(&b->dirname, op->name);
	if (!b->loadable) {
		char *w = bundle_why_not(b);
		why = strdup_printf("%s was not installed, nothing was copied: %s", op->src, w ? w : "it has errors");
		free(w);
		op_fail(d, op, first_error_code(b), why);
		free(why);
		return;
	}
	trust_apply(d, b);
	if (b->refusal && !(b->refusal == -UDK_E_UNTRUSTED_KEY && !op->upgrade)) {
		why = strdup_printf("%s was not %s, nothing was copied: %s", op->src,
				    op->upgrade ? "installed as an upgrade" : "installed",
				    b->refusal_reason ? b->refusal_reason : udk_error_name(b->refusal));
		op_fail(d, op, b->refusal, why);
		free(why);
		return;
	}
	op->identifier = strdup(b->identifier);
	old = find_identifier(d, b->identifier);
	if (!op->upgrade) {
		char *target;
		if (old) {
			why = strdup_printf("%s is already installed at %s (version %s); `udkctl upgrade %s` replaces it",
					    b->identifier, old->path, old->version ? old->version : "unknown", op->src);
			op_fail(d, op, -EEXIST, why);
			free(why);
			return;
		}
		target = strdup_printf("%s/%s", d->bundle_dirs[0], op->name);
		e = target ? entry_get(lc, b->identifier) : NULL;
		if (!e) {
			free(target);
			op_fail(d, op, -ENOMEM, NULL);
			return;
		}
		set_str(&e->path, target);
		set_str(&e->staged, op->staged);
		set_str(&e->from_version, NULL);
		set_str(&e->to_version, b->version);
		set_str(&e->previous, NULL);
		entry_set(e, LC_INSTALLING, NULL, NULL);
		save(d);
		fault_point("installing");
		if (renameat2(AT_FDCWD, op->staged, AT_FDCWD, target, RENAME_NOREPLACE) < 0) {
			int err = errno;
			why = strdup_printf("cannot install %s as %s: %s", op->src, target,
					    err == EEXIST ? "a bundle of that name is there already; remove it, or "
							    "install under another name"
							  : strerror(err));
			entry_remove(lc, e);
			save(d);
			free(target);
			op_fail(d, op, err == EEXIST ? -EEXIST : -err, why);
			free(why);
			return;
		}
		file_sync_dir_of(target);
		free(TAKE_PTR(op->staged));
		set_str(&e->staged, NULL);
		why = strdup_printf("installed version %s from %s", b->version ? b->version : "(none)", op->src);
		entry_set(e, LC_ACTIVATED, NULL, why);
		set_str(&e->installed, e->to_version);
		free(why);
		save(d);
		log_notice(d, "installed %s (%s) as %s", b->identifier, b->version ? b->version : "no version", target);
		free(target);
		rescan_then(d, op, install_scanned);
		return;
	}
	/* upgrade */
	if (!old) {
		why = strdup_printf("%s is not installed, so there is nothing to upgrade: `udkctl install %s`",
				    b->identifier, op->src);
		op_fail(d, op, -ENOENT, why);
		free(why);
		return;
	}
	e = entry_get(lc, b->identifier);
	if (!e) {
		op_fail(d, op, -ENOMEM, NULL);
		return;
	}
	if (e->state == LC_UPGRADING || e->state == LC_UNINSTALLING) {
		why = strdup_printf("%s is %s already; wait until `udkctl drivers %s` shows it done", b->identifier,
				    state_names[e->state], b->identifier);
		op_fail(d, op, -EBUSY, why);
		free(why);
		return;
	}
	{
		struct count_ctx cc = { .identifier = b->identifier };
		registry_walk(d, count_instances, &cc);
		e->running_before = cc.running;
	}
	set_str(&e->path, old->path);
	free(e->previous);
	e->previous = strdup_printf("%s.previous", old->path);
	set_str(&e->staged, op->staged);
	set_str(&e->from_version, old->version);
	set_str(&e->to_version, b->version);
	why = strdup_printf("upgrading from version %s to %s", old->version ? old->version : "(none)",
			    b->version ? b->version : "(none)");
	entry_set(e, LC_UPGRADING, "prepared", why);
	free(why);
	save(d);
	fault_point("prepared");
	op->old = old;
	log_notice(d, "%s: upgrading from %s to %s", b->identifier, e->from_version ? e->from_version : "?",
		   e->to_version ? e->to_version : "?");
	why = strdup_printf("%s is being replaced by version %s; open it again when it reappears",
			    b->identifier, b->version ? b->version : "(none)");
	drain(d, op, why);
	free(why);
}

static struct lc_op *
op_new(struct udkd *d, struct client *c, struct wire_msg *m)
{
	struct lc_op *op;

	if (!d->lifecycle) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOSYS, "udkd has no lifecycle state", NULL, NULL, 0);
		return NULL;
	}
	if (d->lifecycle->op) {
		client_reply(d, c, m->h.op, m->h.serial, -EBUSY,
			     "another install, upgrade or uninstall is under way; try again when it is done", NULL,
			     NULL, 0);
		return NULL;
	}
	op = calloc(1, sizeof(*op));
	if (!op) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOMEM, NULL, NULL, NULL, 0);
		return NULL;
	}
	op->d = d;
	op->c = client_ref(c);
	op->op = m->h.op;
	op->serial = m->h.serial;
	d->lifecycle->op = op;
	return op;
}

void
lifecycle_install(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_install_req *req)
{
	const char *src = req->path;
	const char *base = src ? strrchr(src, '/') : NULL;
	struct lc_op *op;
	char *why;

	if (!src || src[0] != '/' || !base || strlen(base + 1) <= 5 ||
	    strcmp(base + 1 + strlen(base + 1) - 5, ".dext") != 0 || base[1] == '.') {
		why = strdup_printf("\"%s\" is not a bundle: give the absolute path of a directory named Name.dext",
				    src ? src : "");
		client_reply(d, c, m->h.op, m->h.serial, -EINVAL, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (!d->n_bundle_dirs) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOENT,
			     "udkd has no bundle directory to install into: start it with --bundles DIR", NULL, NULL, 0);
		return;
	}
	if (!(op = op_new(d, c, m)))
		return;
	op->upgrade = req->has_upgrade && req->upgrade;
	op->src = strdup(src);
	op->name = strdup(base + 1);
	op->staged = strdup_printf("%s/" STAGE_PREFIX "XXXXXX", d->bundle_dirs[0]);
	if (!op->src || !op->name || !op->staged) {
		op_fail(d, op, -ENOMEM, NULL);
		return;
	}
	if (!mkdtemp(op->staged)) {
		int err = errno;
		why = strdup_printf("cannot make a directory in %s for the copy: %s", d->bundle_dirs[0], strerror(err));
		free(TAKE_PTR(op->staged));
		op_fail(d, op, -err, why);
		free(why);
		return;
	}
	chmod(op->staged, 0755);
	/* copying and reading the bundle are slow: a worker does them */
	if (!d->work || work_submit(d->work, 0, stage_job, stage_done, op) < 0) {
		stage_job(op);
		stage_done(op, 0);
	}
}

void
lifecycle_uninstall(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_uninstall_req *req)
{
	const char *name = req->driver;
	struct bundle *b = bundle_find(d, name);
	struct lc_entry *e;
	struct lc_op *op;
	char *why;

	if (!d->lifecycle) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOSYS, "udkd has no lifecycle state", NULL, NULL, 0);
		return;
	}
	if (!b) {
		why = strdup_printf("no driver bundle, identifier or class named \"%s\"; `udkctl drivers` lists them",
				    name ? name : "");
		client_reply(d, c, m->h.op, m->h.serial, -ENOENT, why, NULL, NULL, 0);
		free(why);
		return;
	}
	e = b->identifier ? entry_find(d->lifecycle, b->identifier) : NULL;
	if (e && e->state == LC_UPGRADING) {
		why = strdup_printf("%s is being upgraded; wait until `udkctl drivers %s` shows it activated or "
				    "rolled back, then uninstall it",
				    b->identifier, b->identifier);
		client_reply(d, c, m->h.op, m->h.serial, -EBUSY, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (!(op = op_new(d, c, m)))
		return;
	op->uninstall = true;
	op->old = b;
	op->identifier = strdup(b->identifier ? b->identifier : b->dirname);
	e = entry_get(d->lifecycle, op->identifier);
	if (e) {
		set_str(&e->path, b->path);
		entry_set(e, LC_UNINSTALLING, NULL, "being uninstalled");
		save(d);
	}
	why = strdup_printf("%s is being uninstalled", op->identifier);
	drain(d, op, why);
	free(why);
}

/* ---- activation and rollback ---- */

static void
restored_scanned(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed, void *data)
{
	char *identifier = data;
	struct bundle *b = find_identifier(d, identifier);

	(void)status;
	(void)added;
	(void)removed;
	/* the restored version carries the failed one's crash count: it starts afresh */
	if (b) {
		b->crashes_consecutive = 0;
		if (b->disabled)
			launcher_restart_bundle(d, b);
	}
	free(identifier);
}

static void
rollback(struct udkd *d, struct lc_entry *e, const char *cause)
{
	struct bundle *nb = find_identifier(d, e->identifier);
	char *trash = NULL, *dir = strdup(e->path), *slash = dir ? strrchr(dir, '/') : NULL, *why;

	why = strdup_printf("version %s failed to start (%s); version %s was restored",
			    e->to_version ? e->to_version : "(none)", cause, e->from_version ? e->from_version : "(none)");
	log_error(d, "%s: rolled back: %s", e->identifier, why ? why : cause);
	entry_set(e, LC_UPGRADING, "rolling-back", why);
	save(d);
	if (nb)
		access_cut_bundle(d, nb, -UDK_E_DRIVER_REPLACED, why ? why : "the driver is being replaced");
	if (slash) {
		*slash = '\0';
		trash = strdup_printf("%s/" TRASH_PREFIX "XXXXXX", dir);
	}
	free(dir);
	if (!trash || !mkdtemp(trash) || rename(e->path, trash) < 0 || rename(e->previous, e->path) < 0) {
		log_error(d, "%s: cannot restore %s from %s: %s; udkd tries again at its next start", e->identifier,
			  e->path, e->previous, strerror(errno));
		free(trash);
		free(why);
		return;
	}
	file_sync_dir_of(e->path);
	entry_set(e, LC_ROLLED_BACK, NULL, why);
	set_str(&e->installed, e->from_version);
	set_str(&e->previous, NULL);
	save(d);
	free(why);
	rm_later(d, trash);
	if (nb)
		nb->mtime_ns = 0;
	{
		char *id = strdup(e->identifier);
		if (id && bundles_rescan(d, restored_scanned, id) < 0)
			free(id);
	}
}

static void
activate(struct udkd *d, struct lc_entry *e)
{
	char *why = strdup_printf("upgraded from version %s to %s", e->from_version ? e->from_version : "(none)",
				  e->to_version ? e->to_version : "(none)");

	log_notice(d, "%s: %s", e->identifier, why ? why : "upgraded");
	entry_set(e, LC_ACTIVATED, NULL, why);
	set_str(&e->installed, e->to_version);
	rm_later(d, TAKE_PTR(e->previous));
	save(d);
	free(why);
}

/*
 * Upgrades waiting for their outcome: runs on the loop, never inside the
 * launcher's own handling of a start or a death.
 */
static void
check_upgrades(struct loop *l, void *data)
{
	struct udkd *d = data;
	struct lifecycle *lc = d->lifecycle;

	(void)l;
	lc->check = NULL;
	if (d->shutting_down)
		return;
	for (size_t i = 0; i < lc->n_entries; i++) {
		struct lc_entry *e = &lc->entries[i];
		struct bundle *b;
		struct count_ctx cc = { .identifier = e->identifier };

		if (e->state != LC_UPGRADING || !streq(e->phase, "swapped") || (lc->op && streq(lc->op->identifier, e->identifier)))
			continue;
		b = find_identifier(d, e->identifier);
		if (!b || !b->loadable || b->refusal) {
			char *w = b ? bundle_why_not(b) : NULL;
			rollback(d, e, w ? w : "the new version is not loaded");
			free(w);
			continue;
		}
		if (b->disabled) {
			/* a crash loop (udkd --crash-limit) */
			char *w = b->has_last_failure ? strdup_printf("it ended %u times in a row; the last time: %s",
								      b->crashes_consecutive, b->last_failure.reason)
						      : NULL;
			rollback(d, e, w ? w : b->disabled_reason ? b->disabled_reason : "it was disabled");
			free(w);
			continue;
		}
		if (b->has_last_failure && b->last_failure.when_ms >= e->since_ms && streq(b->last_failure.phase, "start") &&
		    b->last_failure.code != -UDK_E_DRIVER_DIED && b->last_failure.code != -UDK_E_DEADLINE) {
			/* Start() returned an error: the provider is not tried again with it, so no crash loop comes */
			rollback(d, e, b->last_failure.reason);
			continue;
		}
		/* every instance of the new version runs: one that still starts (or restarts after a
		 * crash) may yet fail, and a failure rolls back, so activation waits for all of them */
		registry_walk(d, count_instances, &cc);
		if ((cc.any && cc.running == cc.any) || (!cc.any && !e->running_before))
			activate(d, e);
	}
}

static void
schedule_check(struct udkd *d)
{
	if (d->lifecycle && !d->lifecycle->check)
		loop_add_timer(d->loop, now_ns(), check_upgrades, d, &d->lifecycle->check);
}

void
lifecycle_instance_started(struct udkd *d, struct bundle *b)
{
	struct lc_entry *e = d->lifecycle && b->identifier ? entry_find(d->lifecycle, b->identifier) : NULL;

	if (e && e->state == LC_UPGRADING)
		schedule_check(d);
}

void
lifecycle_start_failed(struct udkd *d, struct bundle *b)
{
	lifecycle_instance_started(d, b);
}

bool
lifecycle_refuses_open(struct udkd *d, const struct bundle *b, const char **ret_reason)
{
	struct lifecycle *lc = d->lifecycle;

	if (!lc || !lc->op || lc->op->old != b)
		return false;
	*ret_reason = lc->op->uninstall ? "the driver is being uninstalled"
					: "the driver is being replaced by a new version; open it again when it "
					  "reappears";
	return true;
}

/* ---- drivers' recent output ---- */

void
lifecycle_log_line(struct udkd *d, const struct bundle *b, pid_t pid, const char *msg)
{
	struct lifecycle *lc = d->lifecycle;
	struct lc_log *lg = NULL;
	char safe[LC_LOG_LINE_MAX], stamp[32];
	struct timespec ts;
	struct tm tm;

	if (!lc || !b || !b->identifier)
		return;
	for (size_t i = 0; i < lc->n_logs; i++)
		if (streq(lc->logs[i].identifier, b->identifier))
			lg = &lc->logs[i];
	if (!lg) {
		struct lc_log *n;
		if (lc->n_logs >= LC_LOG_DRIVERS)
			return;
		n = reallocarray(lc->logs, lc->n_logs + 1, sizeof(*n));
		if (!n)
			return;
		lc->logs = n;
		lg = &lc->logs[lc->n_logs];
		memset(lg, 0, sizeof(*lg));
		lg->identifier = strdup(b->identifier);
		if (!lg->identifier)
			return;
		lc->n_logs++;
	}
	log_escape(msg, safe, sizeof(safe));
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	{
		unsigned slot = (lg->head + lg->n) % LC_LOG_LINES;
		if (lg->n == LC_LOG_LINES) {
			slot = lg->head;
			lg->head = (lg->head + 1) % LC_LOG_LINES;
		} else {
			lg->n++;
		}
		free(lg->lines[slot]);
		lg->lines[slot] = strdup_printf("%s.%03ld %s[%d] %s: %s", stamp, ts.tv_nsec / 1000000, b->identifier,
						(int)pid, b->version ? b->version : "-", safe);
	}
}

void
lifecycle_logs(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_driver_logs_req *req)
{
	struct lifecycle *lc = d->lifecycle;
	const char *name = req->driver;
	int64_t want = req->has_lines ? req->lines : LC_LOG_LINES;
	struct bundle *only = name ? bundle_find(d, name) : NULL;
	struct udk_value *body = udk_value_new_dict(), *list = udk_value_new_array();

	if (want <= 0 || want > LC_LOG_LINES)
		want = LC_LOG_LINES;
	for (size_t i = 0; lc && i < lc->n_logs; i++) {
		struct lc_log *lg = &lc->logs[i];
		struct udk_value *v, *lines;
		unsigned skip = lg->n > (unsigned)want ? lg->n - (unsigned)want : 0;

		if (name && !streq(lg->identifier, name) && !(only && streq(only->identifier, lg->identifier)))
			continue;
		v = udk_value_new_dict();
		lines = udk_value_new_array();
		udk_dict_set_string(v, "identifier", lg->identifier);
		for (unsigned k = skip; k < lg->n; k++) {
			const char *s = lg->lines[(lg->head + k) % LC_LOG_LINES];
			udk_array_append_take(lines, udk_value_new_string(s ? s : ""));
		}
		udk_dict_set_take(v, "lines", lines);
		udk_array_append_take(list, v);
	}
	udk_dict_set_take(body, "logs", list);
	udk_dict_set_int(body, "kept_per_driver", LC_LOG_LINES);
	client_reply(d, c, m->h.op, m->h.serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* ---- start and stop ---- */

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies and trash a stopped udkd left in the bundle directories. */
static void
sweep_dirs(struct udkd *d)
{
	for (size_t i = 0; i < d->n_bundle_dirs; i++) {
		DIR *dir = opendir(d->bundle_dirs[i]);
		struct dirent *e;

		while (dir && (e = readdir(dir))) {
			char *path;
			if (!has_prefix(e->d_name, STAGE_PREFIX) && !has_prefix(e->d_name, TRASH_PREFIX))
				continue;
			path = strdup_printf("%s/%s", d->bundle_dirs[i], e->d_name);
			log_info(d, "removing %s, left by an install or uninstall that did not finish", path);
			rm_tree(path);
			free(path);
		}
		if (dir)
			closedir(dir);
	}
}

/* Finish or undo what a udkd that stopped midway left (at start, before the first scan). */
static void
recover(struct udkd *d)
{
	struct lifecycle *lc = d->lifecycle;

	for (size_t i = 0; i < lc->n_entries;) {
		struct lc_entry *e = &lc->entries[i];
		bool have = exists(e->path), prev = exists(e->previous);
		char *why = NULL;

		switch (e->state) {
		case LC_INSTALLING:
			if (!have) {
				log_notice(d, "%s: the install did not finish before udkd stopped; it was undone",
					   e->identifier);
				entry_remove(lc, e);
				continue;
			}
			entry_set(e, LC_ACTIVATED, NULL, "installed (udkd stopped before it said so)");
			set_str(&e->installed, e->to_version);
			break;
		case LC_UNINSTALLING:
			if (have) {
				char *trash = strdup_printf("%s.uninstall", e->path);
				if (trash && rename(e->path, trash) == 0)
					rm_tree(trash);
				free(trash);
			}
			log_notice(d, "%s: the uninstall udkd began was finished", e->identifier);
			entry_remove(lc, e);
			continue;
		case LC_UPGRADING:
			if (prev && !have) {
				if (rename(e->previous, e->path) == 0) {
					why = strdup_printf("udkd stopped in the middle of the upgrade to version %s; version "
							    "%s was restored",
							    e->to_version ? e->to_version : "(none)",
							    e->from_version ? e->from_version : "(none)");
					entry_set(e, LC_ROLLED_BACK, NULL, why);
					set_str(&e->installed, e->from_version);
					set_str(&e->previous, NULL);
				}
			} else if (prev && streq(e->phase, "rolling-back")) {
				char *trash = strdup_printf("%s.failed", e->path);
				rm_tree(trash);
				if (trash && rename(e->path, trash) == 0 && rename(e->previous, e->path) == 0) {
					entry_set(e, LC_ROLLED_BACK, NULL, NULL);
					set_str(&e->installed, e->from_version);
					set_str(&e->previous, NULL);
				}
				rm_tree(trash);
				free(trash);
			} else if (prev && have) {
				/* the new version is in place: the upgrade goes on (lifecycle_resume) */
				log_notice(d, "%s: resuming the upgrade to version %s: it is activated when it starts, "
					      "rolled back if it cannot",
					   e->identifier, e->to_version ? e->to_version : "(none)");
			} else if (have) {
				why = strdup_printf("udkd stopped before version %s was in place; version %s stays: run "
						    "`udkctl upgrade` again",
						    e->to_version ? e->to_version : "(none)",
						    e->from_version ? e->from_version : "(none)");
				entry_set(e, LC_ACTIVATED, NULL, why);
				set_str(&e->installed, e->from_version);
				set_str(&e->previous, NULL);
			} else {
				log_error(d, "%s: neither %s nor %s exists; the bundle is gone", e->identifier, e->path,
					  e->previous ? e->previous : "its previous version");
				entry_remove(lc, e);
				continue;
			}
			if (why)
				log_notice(d, "%s: %s", e->identifier, why);
			free(why);
			set_str(&e->staged, NULL);
			break;
		default:
			break;
		}
		i++;
	}
	save(d);
}

int
lifecycle_init(struct udkd *d)
{
	struct lifecycle *lc = calloc(1, sizeof(*lc));

	if (!lc)
		return -ENOMEM;
	lc->file = strdup_printf("%s/" LC_FILE, d->trust.state_dir);
	if (!lc->file) {
		free(lc);
		return -ENOMEM;
	}
	d->lifecycle = lc;
	load(d);
	sweep_dirs(d);
	recover(d);
	return 0;
}

void
lifecycle_resume(struct udkd *d)
{
	schedule_check(d);
}

void
lifecycle_fini(struct udkd *d)
{
	struct lifecycle *lc = d->lifecycle;

	if (!lc)
		return;
	if (lc->check)
		loop_timer_cancel(d->loop, lc->check);
	if (lc->op) {
		/* its worker job was cancelled or finished (work_free); the copy goes at the next start */
		op_reply(d, lc->op, -ECANCELED, "udkd is stopping", NULL);
		op_free(d, lc->op);
	}
	for (size_t i = 0; i < lc->n_entries; i++)
		entry_clear(&lc->entries[i]);
	free(lc->entries);
	for (size_t i = 0; i < lc->n_logs; i++) {
		for (unsigned k = 0; k < LC_LOG_LINES; k++)
			free(lc->logs[i].lines[k]);
		free(lc->logs[i].identifier);
	}
	free(lc->logs);
	free(lc->file);
	free(lc);
	d->lifecycle = NULL;
}
