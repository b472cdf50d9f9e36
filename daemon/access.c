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
#include <poll.h>
#include <pthread.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "file.h"
#include "family.h"
#include "proto.h"
#include "udkd.h"
#include "util.h"
#include "work.h"

#define ACCESS_FILE "access.plist"
#define HASH_CACHE 32
#define MAX_REQUESTS 256

struct grant {
	char *driver;			/* bundle identifier */
	char *app;			/* executable path, or NULL for a key grant */
	char hash[2 * SIGN_HASH_BYTES + 1];
	char key_id[SIGN_KEY_ID_LEN + 1];
	uint64_t when_ms;
	uid_t owner;			/* of the executable: whose app; (uid_t)-1 unknown */
};

struct request {
	char *driver;
	char *app;
	char hash[2 * SIGN_HASH_BYTES + 1];
	uint64_t first_ms, last_ms;
	unsigned count;
	uid_t uid;			/* who asked; (uid_t)-1 unknown */
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
	pthread_mutex_t cache_lock;	/* the cache is used by worker threads */
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
	free(a->reason);
	udk_value_unref(a->entitlements);
	memset(a, 0, sizeof(*a));
}

static void
app_identity_copy(struct app_identity *to, const struct app_identity *from)
{
	*to = *from;
	to->path = from->path ? strdup(from->path) : NULL;
	to->reason = from->reason ? strdup(from->reason) : NULL;
	to->entitlements = from->entitlements ? udk_value_ref(from->entitlements) : NULL;
}

/*
 * What a worker thread finds out about an executable.  No loop state is
 * touched there: whether the signing key is trusted is decided on the
 * loop (exe_ident_finish), where the trust store lives.
 */
struct exe_ident {
	int error;			/* <0: not identified; reason says why */
	char *reason;
	char *path;
	char hash[2 * SIGN_HASH_BYTES + 1];
	uid_t owner;			/* of the file: whose app it is */
	dev_t dev;
	ino_t ino;
	char *sig_path;
	bool has_sig;			/* APP.udksig exists */
	struct sign_result sig;		/* status 0: valid (the key is judged later) */
};

static void
exe_ident_clear(struct exe_ident *e)
{
	free(e->reason);
	free(e->path);
	free(e->sig_path);
	sign_result_clear(&e->sig);
	memset(e, 0, sizeof(*e));
}

static void exe_fail(struct exe_ident *e, int error, const char *fmt, ...) UDK_PRINTF(3, 4);

static void
exe_fail(struct exe_ident *e, int error, const char *fmt, ...)
{
	va_list ap;

	if (e->error)
		return;
	e->error = error < 0 ? error : -EINVAL;
	va_start(ap, fmt);
	if (vasprintf(&e->reason, fmt, ap) < 0)
		e->reason = NULL;
	va_end(ap);
}

/* SHA-256 of an open regular file, remembered by inode and times (any thread). */
static int
hash_cached(struct access *a, int fd, const struct stat *st, char out[2 * SIGN_HASH_BYTES + 1])
{
	int r;

	pthread_mutex_lock(&a->cache_lock);
	for (unsigned i = 0; i < HASH_CACHE; i++) {
		struct hash_entry *e = &a->cache[i];
		if (e->hash[0] && e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
		    e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec &&
		    e->ctim.tv_sec == st->st_ctim.tv_sec && e->ctim.tv_nsec == st->st_ctim.tv_nsec) {
			memcpy(out, e->hash, sizeof(e->hash));
			pthread_mutex_unlock(&a->cache_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&a->cache_lock);
	r = sign_hash_fd_max(fd, SIGN_APP_MAX, out);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->cache_lock);
	struct hash_entry *e = &a->cache[a->cache_next++ % HASH_CACHE];
	*e = (struct hash_entry){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .mtim = st->st_mtim,
				  .ctim = st->st_ctim };
	memcpy(e->hash, out, sizeof(e->hash));
	pthread_mutex_unlock(&a->cache_lock);
	return 0;
}

/*
 * On a worker: hash the executable open at @fd (a regular file, checked
 * on the fd) known as @path, and verify @path.udksig when there is one.
 * Both are read with the thread's current file-system rights.
 */
static void
exe_identify(struct access *a, int fd, const char *path, struct exe_ident *e)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	e->path = strdup(path);
	if (fstat(fd, &st) < 0) {
		exe_fail(e, -errno, "cannot examine %s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		exe_fail(e, -EINVAL, "%s is %s, not an executable file; udkd identifies apps by their executable",
			 path, file_kind(&st));
		return;
	}
	if ((uint64_t)st.st_size > SIGN_APP_MAX) {
		exe_fail(e, -EFBIG, "%s is larger than %llu bytes, more than udkd hashes to identify an app", path,
			 (unsigned long long)SIGN_APP_MAX);
		return;
	}
	e->owner = st.st_uid;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	r = hash_cached(a, fd, &st, e->hash);
	if (r < 0) {
		exe_fail(e, r, "cannot hash %s: %s", path, r == -EFBIG ? "it grew past the limit while read" : strerror(-r));
		return;
	}
	e->sig_path = strdup_printf("%s" SIGN_APP_SUFFIX, path);
	if (!e->sig_path)
		return;
	r = file_read_regular(AT_FDCWD, e->sig_path, SIGN_APP_SIG_MAX, &buf, &len);
	if (r == -ENOENT || r == -ENOTDIR)
		return; /* not signed */
	e->has_sig = true;
	if (r < 0) {
		memset(&e->sig, 0, sizeof(e->sig));
		e->sig.status = -UDK_E_BAD_SIGNATURE;
		e->sig.reason = strdup_printf("cannot be read: %s",
					      r == -EINVAL  ? "it is not a regular file"
					      : r == -ELOOP ? "it is a symbolic link"
					      : r == -EFBIG ? "it is larger than 1 MiB"
							    : strerror(-r));
		return;
	}
	sign_verify_app_data(buf, len, e->sig_path, e->hash, &e->sig);
}

/* On the loop: the identity, with the trust store's verdict on the key. */
static void
exe_ident_finish(struct udkd *d, const struct exe_ident *e, uid_t peer, struct app_identity *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->uid = peer;
	ret->error = e->error;
	ret->reason = e->reason ? strdup(e->reason) : NULL;
	ret->path = e->path ? strdup(e->path) : NULL;
	memcpy(ret->hash, e->hash, sizeof(ret->hash));
	if (e->error < 0 || !e->has_sig)
		return;
	if (e->sig.status == 0 && (trust_find(d, e->sig.pk) || d->trust.developer)) {
		ret->signed_ok = true;
		memcpy(ret->key_id, e->sig.key_id, sizeof(ret->key_id));
		ret->entitlements = e->sig.entitlements ? udk_value_ref(e->sig.entitlements) : NULL;
	} else if (e->sig.status < 0) {
		log_warning(d, "%s: its signature is not accepted: %s", e->sig_path,
			    e->sig.reason ? e->sig.reason : "invalid");
	} else {
		log_info(d, "%s: signed by key %s, which is not trusted", e->sig_path, e->sig.key_id);
	}
}

/* ---- the peer of a connection, pinned at accept ---- */

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#define PIN_MAX_WAITING 16

struct pin_waiter {
	struct pin_waiter *next;
	struct client *c;
	struct wire_msg m;		/* header and body only: requests to udkd carry no fds */
	app_pin_resume_fn fn;
};

/*
 * Who is at the other end of a connection is decided when udkd accepts
 * it, not when it first opens a user client: by then the process could
 * have exec'd another program, or handed the socket to a child.  At
 * accept udkd takes a pidfd of the peer (SO_PEERPIDFD, or pidfd_open on
 * SO_PEERCRED's pid) and an O_PATH descriptor of the executable it runs,
 * then checks the pidfd still refers to a live process (so the pid was
 * not reused in between).  The executable is hashed later, on a worker,
 * through that descriptor: while the process runs it, nobody can write it
 * (ETXTBSY), so the bytes hashed are the bytes it runs.  At each open the
 * request must come from that very process (SCM_CREDENTIALS), which must
 * be alive and still run that executable.
 */
struct app_pin {
	unsigned refcount;
	struct udkd *d;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	int n_groups;			/* -1: unknown */
	int pidfd;
	int exe_fd;			/* O_PATH */
	char *exe_path;
	bool pidfd_from_socket;		/* SO_PEERPIDFD: no pid reuse possible at all */
	enum { PIN_NEW, PIN_RUNNING, PIN_READY } state;
	struct app_identity ident;
	dev_t dev;
	ino_t ino;
	struct pin_waiter *waiters;
	unsigned n_waiting;
};

struct app_pin *
app_pin_ref(struct app_pin *pin)
{
	if (pin)
		pin->refcount++;
	return pin;
}

void
app_pin_unref(struct app_pin *pin)
{
	if (!pin || --pin->refcount > 0)
		return;
	while (pin->waiters) {
		struct pin_waiter *w = pin->waiters;
		pin->waiters = w->next;
		udk_value_unref(w->m.body);
		client_unref(w->c);
		free(w);
	}
	if (pin->pidfd >= 0)
		close(pin->pidfd);
	if (pin->exe_fd >= 0)
		close(pin->exe_fd);
	free(pin->exe_path);
	app_identity_clear(&pin->ident);
	free(pin);
}

/* A pidfd polls readable once its process has exited (no permission needed, unlike a signal). */
static bool
pidfd_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return pidfd >= 0 && poll(&p, 1, 0) == 0;
}

static void pin_fail(struct app_pin *pin, int error, const char *fmt, ...) UDK_PRINTF(3, 4);

static void
pin_fail(struct app_pin *pin, int error, const char *fmt, ...)
{
	va_list ap;

	app_identity_clear(&pin->ident);
	pin->ident.uid = pin->uid;
	pin->ident.error = error < 0 ? error : -ESRCH;
	va_start(ap, fmt);
	if (vasprintf(&pin->ident.reason, fmt, ap) < 0)
		pin->ident.reason = NULL;
	va_end(ap);
	pin->state = PIN_READY;
}

struct app_pin *
app_pin_new(struct udkd *d, int sock, pid_t pid, uid_t uid, gid_t gid)
{
	struct app_pin *pin = calloc(1, sizeof(*pin));
	socklen_t len;
	char link[64];
	int one = 1;

	if (!pin)
		return NULL;
	pin->refcount = 1;
	pin->d = d;
	pin->pid = pid;
	pin->uid = uid;
	pin->gid = gid;
	pin->pidfd = pin->exe_fd = -1;
	pin->ident.uid = uid;
	/* every later message says which process sent it */
	setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	len = sizeof(pin->groups);
	pin->n_groups = getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, pin->groups, &len) == 0
				? (int)(len / sizeof(gid_t))
				: -1;
	if (pid <= 0) {
		pin_fail(pin, -ESRCH, "the peer's process is not known (no SO_PEERCRED)");
		return pin;
	}
	len = sizeof(pin->pidfd);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pin->pidfd, &len) == 0 && pin->pidfd >= 0) {
		pin->pidfd_from_socket = true;
		fd_set_cloexec(pin->pidfd, true);
	} else {
		pin->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	}
	if (pin->pidfd < 0) {
		pin_fail(pin, -errno, "process %d left before udkd could identify it", (int)pid);
		return pin;
	}
	/* O_PATH: no file system is asked anything that could block */
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	pin->exe_fd = open(link, O_PATH | O_CLOEXEC);
	if (pin->exe_fd >= 0) {
		char path[PATH_MAX];
		ssize_t n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = '\0';
			pin->exe_path = strdup(path);
		}
	}
	if (pin->exe_fd < 0 || !pin->exe_path) {
		pin_fail(pin, pin->exe_fd < 0 ? -errno : -ENOENT, "udkd cannot see the executable of process %d: %s",
			 (int)pid, strerror(errno));
		return pin;
	}
	/* still alive: the pid was not reused, so that is its executable */
	if (!pidfd_alive(pin->pidfd)) {
		pin_fail(pin, -ESRCH, "process %d left while udkd identified it", (int)pid);
		return pin;
	}
	return pin;
}

/* Inode of what @pid runs now, without asking its file system (statx DONT_SYNC). */
static int
exe_inode_now(pid_t pid, dev_t *dev, ino_t *ino)
{
	char link[64];
	struct statx sx;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	if (statx(AT_FDCWD, link, AT_STATX_DONT_SYNC, STATX_INO, &sx) < 0)
		return -errno;
	*dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	*ino = sx.stx_ino;
	return 0;
}

struct pin_job {
	struct app_pin *pin;
	struct exe_ident e;
};

static void
pin_identify(void *data)
{
	struct pin_job *j = data;
	struct app_pin *pin = j->pin;
	char proc[64];
	dev_t dev = 0;
	ino_t ino = 0;
	int fd;

	/* the same inode, opened for reading now (on this thread: it may be slow) */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pin->exe_fd);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		exe_fail(&j->e, -errno, "cannot read %s: %s", pin->exe_path, strerror(errno));
		return;
	}
	exe_identify(pin->d->access, fd, pin->exe_path, &j->e);
	close(fd);
	if (j->e.error < 0)
		return;
	/* it ran that file while hashed (ETXTBSY held): still so, and alive? */
	if (exe_inode_now(pin->pid, &dev, &ino) < 0 || !pidfd_alive(pin->pidfd))
		exe_fail(&j->e, -ESRCH, "process %d left while udkd identified it", (int)pin->pid);
	else if (dev != j->e.dev || ino != j->e.ino)
		exe_fail(&j->e, -ESRCH,
			 "process %d ran another program while udkd identified it; it must connect again", (int)pin->pid);
}

static void
pin_identified(void *data, int status)
{
	struct pin_job *j = data;
	struct app_pin *pin = j->pin;
	struct udkd *d = pin->d;
	struct pin_waiter *w;

	if (status < 0)
		exe_fail(&j->e, status, "udkd is stopping");
	app_identity_clear(&pin->ident);
	exe_ident_finish(d, &j->e, pin->uid, &pin->ident);
	pin->dev = j->e.dev;
	pin->ino = j->e.ino;
	pin->state = PIN_READY;
	exe_ident_clear(&j->e);
	free(j);
	/* the opens that waited: in order */
	{
		struct pin_waiter *rev = NULL;
		while ((w = pin->waiters)) {
			pin->waiters = w->next;
			w->next = rev;
			rev = w;
		}
		pin->n_waiting = 0;
		while ((w = rev)) {
			rev = w->next;
			if (!d->shutting_down)
				w->fn(d, w->c, &w->m);
			udk_value_unref(w->m.body);
			client_unref(w->c);
			free(w);
		}
	}
	app_pin_unref(pin);
}

bool
app_pin_wait(struct udkd *d, struct app_pin *pin, struct client *c, struct wire_msg *m, app_pin_resume_fn fn)
{
	struct pin_waiter *w;

	if (!pin || pin->state == PIN_READY)
		return false;
	if (pin->n_waiting >= PIN_MAX_WAITING) {
		client_reply(d, c, m->h.op, m->h.serial, -EAGAIN,
			     "too many opens of this connection wait for udkd to identify its app; wait for their "
			     "answers",
			     NULL, NULL, 0);
		return true;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		client_reply(d, c, m->h.op, m->h.serial, -ENOMEM, NULL, NULL, NULL, 0);
		return true;
	}
	if (pin->state == PIN_NEW) {
		struct pin_job *j = calloc(1, sizeof(*j));
		int r = j ? 0 : -ENOMEM;
		if (j) {
			j->pin = app_pin_ref(pin);
			r = work_submit(d->work, pin->uid, pin_identify, pin_identified, j);
			if (r < 0) {
				app_pin_unref(pin);
				free(j);
			}
		}
		if (r < 0) {
			free(w);
			client_reply(d, c, m->h.op, m->h.serial, r == -EAGAIN ? -EAGAIN : r,
				     r == -EAGAIN ? "udkd is identifying many apps of this user at once; try again "
						    "in a moment"
						  : "udkd cannot identify this app now",
				     NULL, NULL, 0);
			return true;
		}
		pin->state = PIN_RUNNING;
	}
	w->c = client_ref(c);
	w->m.h = m->h;
	w->m.body = udk_value_ref(m->body);
	w->m.sender_pid = m->sender_pid;
	w->fn = fn;
	w->next = pin->waiters;
	pin->waiters = w;
	pin->n_waiting++;
	return true;
}

const struct app_identity *
app_pin_identity(const struct app_pin *pin)
{
	static const struct app_identity unknown = { .error = -ESRCH };

	return pin && pin->state == PIN_READY ? &pin->ident : &unknown;
}

uid_t
app_pin_uid(const struct app_pin *pin)
{
	return pin ? pin->uid : (uid_t)-1;
}

/*
 * The identity for a request @m of this connection: the pinned one if the
 * request comes from the pinned process, alive and running what it
 * connected with; otherwise an identity that is an error with the reason.
 */
static const struct app_identity *
pin_check(struct app_pin *pin, const struct wire_msg *m, struct app_identity *scratch)
{
	const char *why = NULL;
	char buf[256];
	dev_t dev = 0;
	ino_t ino = 0;

	if (pin->ident.error < 0)
		return &pin->ident;
	if (m->sender_pid <= 0) {
		why = "the request carries no sender credentials";
	} else if (m->sender_pid != pin->pid) {
		snprintf(buf, sizeof(buf),
			 "the request came from process %d, not from process %d that opened the connection: a "
			 "connection may not be passed on to another process",
			 (int)m->sender_pid, (int)pin->pid);
		why = buf;
	} else if (!pidfd_alive(pin->pidfd) || exe_inode_now(pin->pid, &dev, &ino) < 0) {
		why = "the process that opened the connection has left";
	} else if (dev != pin->dev || ino != pin->ino) {
		snprintf(buf, sizeof(buf),
			 "process %d runs another program than when it connected (%s); connect again after exec",
			 (int)pin->pid, pin->ident.path ? pin->ident.path : "?");
		why = buf;
	}
	if (!why)
		return &pin->ident;
	memset(scratch, 0, sizeof(*scratch));
	scratch->uid = pin->uid;
	scratch->error = -ESRCH;
	scratch->reason = strdup(why);
	return scratch;
}

/* Whether the app's signed entitlements hold a whole set of @sets
 * (IOServiceDEXTEntitlements of the user client, as DriverKit reads it). */
static int
access_check_dext(const struct app_identity *app, const struct bundle *b, const struct udk_value *sets)
{
	const char *first_missing = NULL;

	if (!sets)
		return 0;
	for (size_t i = 0; i < udk_array_size(sets) && i < 64; i++) {
		const struct udk_value *set = udk_array_get(sets, i);
		const char *missing = NULL;
		for (size_t j = 0; j < udk_array_size(set) && j < 64 && !missing; j++) {
			const char *e = udk_value_get_string(udk_array_get(set, j));
			struct udk_value *v = e && app && app->signed_ok ? udk_dict_get(app->entitlements, e) : NULL;
			if (!v || (udk_value_get_type(v) == UDK_VALUE_BOOL && !udk_value_get_bool(v, false)))
				missing = e ? e : "(not a string)";
		}
		if (!missing && udk_array_size(set))
			return 0;
		if (!first_missing)
			first_missing = missing;
	}
	return udk_set_reason(-UDK_E_NOT_PERMITTED,
			      "%s's user client asks apps for the entitlement %s (UserClientProperties."
			      "IOServiceDEXTEntitlements); %s",
			      b->identifier ? b->identifier : b->dirname, first_missing ? first_missing : "?",
			      app && app->signed_ok ? "the app's APP.udksig does not hold it: sign the app with it"
						    : "the app is not signed: give it an APP.udksig holding it (`udk-sign "
						      "sign-app`)");
}

int
access_check_pinned(struct udkd *d, struct app_pin *pin, const struct wire_msg *m, const struct bundle *b,
		    const struct udk_value *ucp)
{
	struct app_identity scratch = { 0 };
	const struct app_identity *app;
	int r;

	if (!pin)
		return udk_set_reason(-UDK_E_NOT_PERMITTED, "udkd does not know this connection's process");
	app = pin_check(pin, m, &scratch);
	r = access_check(d, app, pin->pid, b, true);
	if (r >= 0)
		r = access_check_dext(app, b, udk_dict_get(ucp, "IOServiceDEXTEntitlements"));
	app_identity_clear(&scratch);
	return r;
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
	char *xml = NULL;
	int r = 0;

	for (size_t i = 0; i < a->n_grants; i++) {
		struct grant *g = &a->grants[i];
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "Driver", g->driver);
		if (g->app) {
			udk_dict_set_string(v, "App", g->app);
			udk_dict_set_string(v, "SHA256", g->hash);
			if (g->owner != (uid_t)-1)
				udk_dict_set_uint(v, "Owner", g->owner);
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
		if (q->uid != (uid_t)-1)
			udk_dict_set_uint(v, "UID", q->uid);
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
	if (r < 0) {
		free(xml);
		return r;
	}
	r = file_replace(a->file, xml, strlen(xml), 0644);
	free(xml);
	if (r < 0) {
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
		g.owner = udk_dict_get(v, "Owner") ? (uid_t)udk_dict_get_int(v, "Owner", -1) : (uid_t)-1;
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
		q.uid = udk_dict_get(v, "UID") ? (uid_t)udk_dict_get_int(v, "UID", -1) : (uid_t)-1;
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
	pthread_mutex_init(&a->cache_lock, NULL);
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
	pthread_mutex_destroy(&a->cache_lock);
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
				      (int)pid, app->reason ? app->reason : strerror(-app->error), id);
	if (find_grant(d, app, id, &stale)) {
		*ret_via = "grant";
		return 0;
	}
	if (app_entitled_to(app, id, d->trust.developer)) {
		*ret_via = "signature";
		return 0;
	}
	/* `access explain` asks about a path, not a process: no "(pid 0)" */
	char who[32] = "";
	if (pid > 0)
		snprintf(who, sizeof(who), " (pid %d)", (int)pid);
	if (stale)
		return udk_set_reason(-UDK_E_NOT_PERMITTED,
				      "%s%s may not open user clients of %s: access was granted to this path "
				      "when the executable had SHA-256 %.16s…, and it has %.16s… now (it was rebuilt "
				      "or replaced). If the new build is yours, grant it again: `udkctl access grant "
				      "%s %s`",
				      app->path, who, id, stale->hash, app->hash, id, app->path);
	return udk_set_reason(-UDK_E_NOT_PERMITTED,
			      "%s%s may not open user clients of %s: the driver does not allow any app "
			      "(no allow-any-userclient-access entitlement), no access grant names this app, and the "
			      "app has no signed userclient-access entitlement listing %s. An administrator can "
			      "allow it: `udkctl access grant %s %s`",
			      app->path ? app->path : "?", who, id, id, id, app->path ? app->path : "APP");
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
		if (streq(q->driver, driver) && streq(q->app, app->path) && streq(q->hash, app->hash) &&
		    q->uid == app->uid) {
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
	n[a->n_requests] = (struct request){ .driver = strdup(driver), .app = strdup(app->path), .count = 1,
					     .uid = app->uid };
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

/* lifecycle.c: the apps of @b's processes are told @code and cut once their queues served what came first. */
unsigned
access_cut_bundle(struct udkd *d, const struct bundle *b, int code, const char *reason)
{
	unsigned n = 0;

	for (struct link *l = d->access ? d->access->links : NULL; l; l = l->next) {
		struct udk_value *body;
		if (l->proc->bundle != b || l->proc->state == PROC_DEAD)
			continue;
		body = udk_value_new_dict();
		udk_dict_set_uint(body, "object", l->object);
		udk_dict_set_string(body, "reason", reason);
		udk_dict_set_int(body, "code", code);
		proc_send(d, l->proc, OP_DRV_REVOKE_USER_CLIENT, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
		udk_value_unref(body);
		n++;
	}
	return n;
}

unsigned
access_links_of_bundle(struct udkd *d, const struct bundle *b)
{
	unsigned n = 0;

	for (struct link *l = d->access ? d->access->links : NULL; l; l = l->next)
		if (l->proc->bundle == b && l->proc->state != PROC_DEAD)
			n++;
	return n;
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
		/* the app's reason names the command that gives the access back, with both names */
		char *reason = l->app.path ? strdup_printf("access of %s to %s was revoked: %s. Reopening is refused "
							   "until an administrator grants it again: `udkctl access "
							   "grant %s %s`",
							   l->app.path, l->driver, why, l->driver, l->app.path)
					   : strdup_printf("access of this app to %s was revoked: %s", l->driver, why);
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

static void
reply(struct udkd *d, struct client *c, const struct wire_header *h, int r, struct udk_value *body)
{
	if (r < 0)
		client_reply(d, c, h->op, h->serial, r, udk_error_reason() ? udk_error_reason() : udk_strerror(r), NULL,
			     NULL, 0);
	else
		client_reply(d, c, h->op, h->serial, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* Add (or replace) @g, taken over; answer requests it grants; save. */
static int
grant_store(struct udkd *d, struct grant g, const char *app_arg, struct udk_value **ret)
{
	struct access *a = d->access;
	struct grant *n;
	int r;

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
	udkd_log(d, UDK_LOG_NOTICE, "access", "granted %s access to %s", g.app ? g.app : app_arg, g.driver);
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

/*
 * A path named by a peer, resolved and opened on a worker thread with the
 * peer's own file-system rights (struct peer), so that udkd never hashes
 * a file for someone who could not read it: `access explain` of
 * /etc/shadow by a user gets "permission denied", not its SHA-256.
 */
struct peer {
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	int n_groups;			/* -1: unknown */
};

/* udkd's own supplementary groups, to give the thread back afterwards */
struct self_groups {
	gid_t list[64];
	int n;
};

static void
become_self(const struct self_groups *saved)
{
	setfsuid(geteuid());
	setfsgid(getegid());
	syscall(SYS_setgroups, (size_t)saved->n, saved->list);
}

/*
 * Take @p's file-system identity on this thread only (credentials are per
 * thread in Linux; only glibc's wrappers of setgroups() and set*id() make
 * them process-wide, so the raw system call is used); false if udkd
 * cannot (it is not root).
 */
static bool
become_peer(const struct peer *p, struct self_groups *saved)
{
	if (p->uid == 0 || geteuid() != 0)
		return false;
	saved->n = getgroups((int)ARRAY_SIZE(saved->list), saved->list);
	if (saved->n < 0)
		return false;
	if (syscall(SYS_setgroups, p->n_groups > 0 ? (size_t)p->n_groups : 0, p->groups) < 0)
		return false;
	setfsgid(p->gid);
	setfsuid(p->uid);
	if ((uid_t)setfsuid((uid_t)-1) == p->uid)
		return true;
	become_self(saved);
	return false;
}

/* When udkd could not take the peer's rights: may @p read the file @st describes? */
static bool
peer_may_read(const struct peer *p, const struct stat *st)
{
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	if (st->st_uid == p->uid)
		return st->st_mode & S_IRUSR;
	if (st->st_gid == p->gid)
		return st->st_mode & S_IRGRP;
	for (int i = 0; i < p->n_groups; i++)
		if (st->st_gid == p->groups[i])
			return st->st_mode & S_IRGRP;
	return st->st_mode & S_IROTH;
}

struct path_job {
	struct udkd *d;
	struct client *c;
	struct wire_header h;
	char *driver;			/* bundle identifier */
	char *arg;			/* the path as given */
	struct peer peer;
	bool as_peer;			/* explain: with the peer's rights */
	struct exe_ident e;
};

static void
path_job_free(struct path_job *j)
{
	client_unref(j->c);
	free(j->driver);
	free(j->arg);
	exe_ident_clear(&j->e);
	free(j);
}

static void
path_identify(void *data)
{
	struct path_job *j = data;
	struct self_groups saved = { .n = 0 };
	bool switched = j->as_peer && become_peer(&j->peer, &saved);
	char real[PATH_MAX];
	struct stat st;
	int fd;

	if (!j->arg || j->arg[0] != '/') {
		exe_fail(&j->e, -ENOENT, "%s: give the app's executable as an absolute path", j->arg ? j->arg : "(none)");
	} else if (!realpath(j->arg, real)) {
		exe_fail(&j->e, -errno, "%s: %s", j->arg, strerror(errno));
	} else if ((fd = file_open_regular(AT_FDCWD, real, SIGN_APP_MAX, false, &st)) < 0) {
		exe_fail(&j->e, fd, "cannot read %s: %s", real,
			 fd == -EINVAL	? "it is not a regular file (a FIFO, a device...); apps are executable files"
			 : fd == -EFBIG ? "it is larger than udkd hashes to identify an app"
					: strerror(-fd));
	} else {
		if (j->as_peer && !switched && !peer_may_read(&j->peer, &st))
			exe_fail(&j->e, -EACCES, "cannot read %s: %s", real, strerror(EACCES));
		else
			exe_identify(j->d->access, fd, real, &j->e);
		close(fd);
	}
	if (switched)
		become_self(&saved);
}

static int
path_job_submit(struct udkd *d, struct client *c, const struct app_pin *pin, const struct wire_msg *m,
		const char *driver_id, const char *arg, bool as_peer, work_done_fn done)
{
	struct path_job *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	j->d = d;
	j->c = client_ref(c);
	j->h = m->h;
	j->driver = strdup(driver_id);
	j->arg = arg ? strdup(arg) : NULL;
	j->as_peer = as_peer;
	j->peer.uid = pin ? pin->uid : (uid_t)-1;
	j->peer.gid = pin ? pin->gid : (gid_t)-1;
	j->peer.n_groups = pin ? pin->n_groups : -1;
	if (pin && pin->n_groups > 0)
		memcpy(j->peer.groups, pin->groups, (size_t)pin->n_groups * sizeof(gid_t));
	r = d->work ? work_submit(d->work, j->peer.uid, path_identify, done, j) : -ENOSYS;
	if (r < 0) {
		path_job_free(j);
		return udk_set_reason(r == -EAGAIN ? -EAGAIN : r,
				      r == -EAGAIN ? "udkd is already hashing %u files for this user; try again when "
						     "those are answered"
						   : "udkd cannot hash files now",
				      WORK_LANE_QUEUE);
	}
	return 0;
}

static void
grant_hashed(void *data, int status)
{
	struct path_job *j = data;
	struct udk_value *body = NULL;
	struct grant g = { 0 };
	int r;

	if (status < 0)
		exe_fail(&j->e, status, "udkd is stopping");
	if (j->e.error < 0) {
		r = udk_set_reason(j->e.error, "%s", j->e.reason ? j->e.reason : "cannot hash the app");
	} else {
		g.driver = strdup(j->driver);
		g.app = strdup(j->e.path);
		memcpy(g.hash, j->e.hash, sizeof(g.hash));
		g.owner = j->e.owner;
		r = g.driver && g.app ? grant_store(j->d, g, j->arg, &body) : -ENOMEM;
		if (r == -ENOMEM && (!g.driver || !g.app))
			grant_clear(&g);
	}
	reply(j->d, j->c, &j->h, r, body);
	path_job_free(j);
}

void
access_grant_start(struct udkd *d, struct client *c, const struct app_pin *pin, const struct wire_msg *m,
		   const struct proto_access_req *req)
{
	const char *driver = req->driver, *app = req->app;
	struct udk_value *body = NULL;
	struct grant g = { 0 };
	const char *id = NULL;
	int r;

	r = resolve_driver(d, driver, &id);
	if (r >= 0 && (!app || !*app))
		r = udk_set_reason(-EINVAL, "name the app: an executable path, or key:KEYID for apps signed with "
					    "that key");
	if (r >= 0 && startswith(app, "key:")) {
		if (!hex_ok(app + 4, SIGN_KEY_ID_LEN)) {
			r = udk_set_reason(-EINVAL, "\"%s\" is not a key id: key ids are %d hex digits, as "
						    "`udk-sign key-id KEY.public` prints",
					   app + 4, SIGN_KEY_ID_LEN);
		} else {
			memcpy(g.key_id, app + 4, sizeof(g.key_id));
			g.driver = strdup(id);
			g.owner = (uid_t)-1;
			r = g.driver ? grant_store(d, g, app, &body) : -ENOMEM;
		}
	} else if (r >= 0) {
		/* the executable is hashed on a worker, with udkd's rights: grants are root's */
		r = path_job_submit(d, c, pin, m, id, app, false, grant_hashed);
		if (r >= 0)
			return;
	}
	reply(d, c, &m->h, r, body);
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

/*
 * Which apps are someone else's: the grants, requests and connections of
 * apps of other users are shown to root (and udkd's own user) only.  An
 * app belongs to the user who ran it (requests, connections) or who owns
 * its executable (grants; root's executables are everyone's to see).
 */
static bool
visible_to(uid_t viewer, uid_t whose)
{
	return viewer == 0 || viewer == geteuid() || whose == viewer;
}

struct udk_value *
access_describe(struct udkd *d, const char *driver, uid_t viewer)
{
	struct access *a = d->access;
	struct udk_value *v = udk_value_new_dict(), *gs = udk_value_new_array(), *rs = udk_value_new_array(),
			 *ls = udk_value_new_array(), *any = udk_value_new_array();
	const char *id = NULL;
	unsigned hidden = 0;

	if (driver && resolve_driver(d, driver, &id) < 0)
		id = driver;
	udk_clear_reason();
	for (size_t i = 0; i < a->n_grants; i++) {
		struct grant *g = &a->grants[i];
		if (id && !streq(g->driver, id))
			continue;
		if (g->app && g->owner != 0 && !visible_to(viewer, g->owner)) {
			hidden++;
			continue;
		}
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
		if (!visible_to(viewer, q->uid)) {
			hidden++;
			continue;
		}
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
		if (!visible_to(viewer, l->app.uid)) {
			hidden++;
			continue;
		}
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
	if (hidden)
		udk_dict_set_uint(v, "hidden_other_users", hidden);
	return v;
}

static void
explain_hashed(void *data, int status)
{
	struct path_job *j = data;
	struct udkd *d = j->d;
	struct app_identity ident;
	struct bundle *b = bundle_find(d, j->driver);
	struct udk_value *body;
	const char *via = NULL;
	int r;

	if (status < 0)
		exe_fail(&j->e, status, "udkd is stopping");
	if (j->e.error < 0) {
		/* nothing about a file the asker may not read, not even that it exists beyond what they see */
		r = udk_set_reason(j->e.error, "%s", j->e.reason ? j->e.reason : "cannot read the app");
		reply(d, j->c, &j->h, r, NULL);
		path_job_free(j);
		return;
	}
	if (!b) {
		r = udk_set_reason(-ENOENT, "the driver bundle %s is gone", j->driver);
		reply(d, j->c, &j->h, r, NULL);
		path_job_free(j);
		return;
	}
	exe_ident_finish(d, &j->e, j->peer.uid, &ident);
	r = decide(d, &ident, 0, b, &via);
	body = udk_value_new_dict();
	udk_dict_set_string(body, "driver", b->identifier ? b->identifier : b->dirname);
	udk_dict_set_string(body, "app", ident.path);
	udk_dict_set_string(body, "sha256", ident.hash);
	udk_dict_set_bool(body, "app_signed", ident.signed_ok);
	udk_dict_set_bool(body, "allowed", r == 0);
	if (r == 0) {
		udk_dict_set_string(body, "allowed_by", via);
	} else {
		udk_dict_set_string(body, "code", udk_error_name(r));
		udk_dict_set_string(body, "reason", udk_error_reason() ? udk_error_reason() : "");
	}
	udk_clear_reason();
	app_identity_clear(&ident);
	reply(d, j->c, &j->h, 0, body);
	path_job_free(j);
}

void
access_explain_start(struct udkd *d, struct client *c, const struct app_pin *pin, const struct wire_msg *m,
		     const struct proto_access_req *req)
{
	const char *driver = req->driver, *path = req->app;
	struct bundle *b = bundle_find(d, driver);
	int r;

	if (!b) {
		r = udk_set_reason(-ENOENT, "no driver bundle named \"%s\"; `udkctl drivers` lists them",
				   driver ? driver : "");
	} else if (!path || path[0] != '/') {
		r = udk_set_reason(-ENOENT, "%s: give the app's executable as an absolute path that exists",
				   path ? path : "(none)");
	} else {
		/* read as the asker: their rights, their lane (work.h), never udkd's loop */
		r = path_job_submit(d, c, pin, m, b->identifier ? b->identifier : b->dirname, path, true,
				    explain_hashed);
		if (r >= 0)
			return;
	}
	reply(d, c, &m->h, r, NULL);
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
	udkd_protected_grant_changed(d, f, id, true);
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
	udkd_protected_grant_changed(d, f, id, false);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "family", f->name);
	udk_dict_set_string(*ret, "what", norm ? norm : "*");
	udk_dict_set_string(*ret, "driver", id);
	udk_dict_set_uint(*ret, "grants_removed", removed);
	return 0;
}
