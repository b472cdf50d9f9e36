/* SPDX-License-Identifier: MIT */
/*
 * udkd.h - the manager daemon's internal interfaces, one section per file.
 *
 *   main.c      options, startup, the event loop
 *   log.c       logging to stderr or syslog, per-driver levels
 *   registry.c  the service tree, class chains, paths, notifications
 *   bundle.c    reading Name.dext bundles and checking their manifests
 *   match.c     personalities against services; the explain report
 *   launcher.c  driver processes: spawn, protocol, deadlines, crash policy
 *   control.c   the control socket used by apps and udkctl
 *   machine.c   the machine description: services (and devices) to create
 *   models.c    simulated devices: device-model processes
 *   broker.c    drivers opening their provider, through its family
 *   families.c  the family interface (family.h): the table, events, lookups
 *   lifecycle.c install, upgrade (with rollback), uninstall; drivers' recent output
 */
#ifndef UDKD_H
#define UDKD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <udk/value.h>

#include "loop.h"
#include "outbox.h"
#include "sign.h"
#include "wire.h"

/* the driver channel's decoded requests (generated from lib/common/proto.xml) */
struct proto_drv_open_provider_req;
struct proto_drv_power_busy_req;
struct proto_drv_power_request_req;

struct udkd;
struct service;
struct bundle;
struct personality;
struct driver_proc;
struct client;
struct udkd_listener;
struct protected_state;
struct udkd_uevents;
struct quota;

/* ---- log.c ---- */

void udkd_log(struct udkd *d, int level, const char *source, const char *fmt, ...) UDK_PRINTF(4, 5);
#define log_error(d, ...) udkd_log(d, UDK_LOG_ERROR, "udkd", __VA_ARGS__)
#define log_warning(d, ...) udkd_log(d, UDK_LOG_WARNING, "udkd", __VA_ARGS__)
#define log_notice(d, ...) udkd_log(d, UDK_LOG_NOTICE, "udkd", __VA_ARGS__)
#define log_info(d, ...) udkd_log(d, UDK_LOG_INFO, "udkd", __VA_ARGS__)
#define log_debug(d, ...) udkd_log(d, UDK_LOG_DEBUG, "udkd", __VA_ARGS__)
void log_open_syslog(void);
/* Log to the journal's socket (NULL: systemd's), with fields; -errno if unreachable. */
int log_open_journal(const char *socket_path);
/* A line of a driver's (or a device model's) output: in the journal with UDK_DRIVER=@identifier
 * (UDK_DEVICE_MODEL=) and its pid as fields.  @source is what other targets prefix. */
void udkd_log_proc(int level, const char *source, const char *identifier, bool model, pid_t pid, const char *msg);
/* Copy @in with control characters escaped (\n, \xHH...); truncates to fit. */
void log_escape(const char *in, char *out, size_t out_len);

/* ---- registry.c ---- */

enum service_state {
	SVC_PUBLISHED,		/* in the tree, not yet matchable */
	SVC_REGISTERED,		/* RegisterService() done: matchable, visible to finds */
	SVC_TERMINATED,		/* gone; kept only while referenced */
};

enum instance_state {
	INST_NONE,		/* not a driver instance */
	INST_LAUNCHING,		/* process spawned, waiting for its hello */
	INST_STARTING,		/* Start() sent */
	INST_RUNNING,		/* Start() returned success */
	INST_STOPPING,		/* Stop() sent or process being killed */
	INST_FAILED,		/* Start() failed or process died */
};

struct exclusion {
	struct personality *personality;
	char *reason;			/* what Start() said, or why udkd did not start it */
	bool before_start;		/* udkd refused it before Start() (a class the executable lacks ...) */
};

struct rematch;

struct service {
	unsigned refcount;
	uint64_t id;
	char *name;
	struct udk_value *classes;	/* array of class names, most derived first */
	struct udk_value *props;	/* dictionary */
	struct service *provider;	/* parent; NULL for the root */
	struct service **children;
	size_t n_children, cap_children;
	enum service_state state;

	/* who answers for this service */
	struct driver_proc *owner;	/* driver process that published it or runs it */

	/* driver instances only */
	enum instance_state istate;
	struct personality *personality;
	char *category;			/* IOMatchCategory or IODefaultMatchCategory */
	int64_t score;
	char *fail_reason;		/* why Start failed, for udkctl */
	char *problem;			/* what the running driver reported wrong (OP_DRV_PROBLEM) */

	/* providers only */
	struct exclusion *excluded;	/* Start() failed here; not tried again */
	size_t n_excluded;
	struct loop_timer *rematch_timer;
	struct rematch *rematch;	/* what rematch_timer holds (launcher.c) */
	unsigned n_stopping;		/* instances on it whose process is still exiting */
	unsigned client_deaths;		/* drivers on this provider that died */

	/* power (power.c), driver instances */
	struct service_power *pm;	/* NULL until Start() returned */
};

struct registry {
	struct service *root;
	struct service *user_resources;
	uint64_t next_id;
	/* flat index by id */
	struct service **all;
	size_t n_all, cap_all;
};

int registry_init(struct udkd *d);
void registry_fini(struct udkd *d);
struct service *service_ref(struct service *s);
void service_unref(struct service *s);
/* Create a child of @provider (state PUBLISHED); @classes is taken over. */
int service_new(struct udkd *d, struct service *provider, const char *name, struct udk_value *classes,
		struct udk_value *props, struct service **ret);
struct service *service_by_id(struct udkd *d, uint64_t id);
struct service *service_by_path(struct udkd *d, const char *path);
/* "/Root/IOUserResources/..." (malloc'ed). */
char *service_path(const struct service *s);
bool service_is_a(const struct service *s, const char *class_name);
/* Make matchable, notify arrivals, run matching. */
void service_register(struct udkd *d, struct service *s);
/* Terminate @s and everything below it; stops their drivers. */
void service_terminate(struct udkd *d, struct service *s, const char *why);
/* Merge properties and tell property subscribers. */
int service_set_properties(struct udkd *d, struct service *s, const struct udk_value *props);
/* A description: {id, name, path, classes, state, properties?, driver...}. */
struct udk_value *service_describe(struct udkd *d, const struct service *s, bool with_props);
/* Class chain for a known class name, e.g. IOUserService -> [IOUserService, IOService]. */
struct udk_value *class_chain_for(const char *class_name);
/* Apply @fn to every live service, depth first. */
void registry_walk(struct udkd *d, void (*fn)(struct udkd *, struct service *, void *), void *data);

/* ---- bundle.c ---- */

enum diag_level { DIAG_WARNING, DIAG_ERROR };

struct diag {
	enum diag_level level;
	int code;			/* -UDK_E_* for errors (UDK_E_BAD_MANIFEST by default) */
	char *file;			/* "Info.plist" */
	char *key;			/* "IOKitPersonalities.Foo.IOProbeScore" or NULL */
	char *message;			/* what is wrong and what to do */
};

struct personality {
	struct bundle *bundle;
	char *name;			/* key under IOKitPersonalities */
	struct udk_value *dict;
	const char *provider_class;	/* borrowed from dict */
	const char *user_class;
	const char *server_name;
	const char *io_class;
	const char *match_category;	/* NULL: default category */
	int64_t probe_score;
	bool valid;
};

#define CRASH_LAST_LINES 8 /* lines of a driver's output a crash record keeps */

struct crash_record {
	uint64_t when_ms;		/* wall clock */
	int signal;			/* 0 if it exited */
	int exit_status;
	char phase[16];			/* "launch", "start", "running", "stop" */
	char last_words[160];		/* the driver's last line of output */
	char last_lines[CRASH_LAST_LINES][160];	/* its last lines of output, oldest first */
	unsigned n_last_lines;
	int code;			/* -UDK_E_* (or -errno): why it ended (issue 20) */
	char reason[1024];		/* the cause in words: which call, how long, which signal */
};

#define CRASH_HISTORY 8

/* What Entitlements.plist grants (entitlements.c). */
struct entitlements {
	bool driverkit;			/* com.apple.developer.driverkit / org.udk.driver */
	bool allow_any_client;		/* ...allow-any-userclient-access */
	bool wildcards;			/* uses "*" somewhere (developer mode only) */
	/* every family entitlement held with a valid value: short name
	 * ("transport.NAME", "family.NAME") -> its value */
	struct udk_value *granted;
};

struct bundle {
	char *path;			/* .../Name.dext */
	char *dirname;			/* Name.dext */
	char *identifier;		/* CFBundleIdentifier */
	char *version;
	char *executable;		/* absolute path */
	struct udk_value *info;
	struct udk_value *entitlements;
	struct personality **personalities;
	size_t n_personalities;
	struct diag *diags;
	size_t n_diags;
	bool loadable;			/* no errors that stop it from running */
	uint64_t mtime_ns;		/* a stamp of the bundle's files at load, to notice edits */
	struct entitlements ent;

	/* signature (sign_snapshot_verify at load) and trust (trust.c) */
	bool sig_checked;		/* false: the bundle could not be read far enough to check it */
	struct sign_result sig;		/* sig.status: 0, -UDK_E_UNSIGNED or -UDK_E_BAD_SIGNATURE */
	struct stat exe_st;		/* the executable's file when it was read */
	int exe_fd;			/* sealed memfd with the bytes that were hashed: what runs */
	char *unsafe;			/* who else could change the bundle (refused outside developer mode) */
	bool trusted;			/* signed by a key in the trust store */
	int refusal;			/* 0, or -UDK_E_*: why udkd will not run it */
	char *refusal_reason;		/* the sentence, with what to do */

	/* run state, kept across rescans of the same identifier */
	bool disabled;
	char *disabled_reason;
	unsigned crashes_total;
	unsigned crashes_consecutive;
	struct crash_record history[CRASH_HISTORY];
	unsigned n_history;
	struct crash_record last_failure;	/* the latest crash or failed Start(), with its code */
	bool has_last_failure;
	unsigned starts;		/* successful Start() count */
	int log_level;			/* -1: daemon default */
	bool debug_next;		/* start the next process stopped */
	struct client *debug_waiter;	/* udkctl debug waiting for the pid */
	uint32_t debug_serial;
	bool removed;			/* bundle directory went away */
};

/* Read one bundle directory; never fails for bad content, it records diags. */
int bundle_load(const char *path, struct bundle **ret);
void bundle_free(struct bundle *b);
void bundle_add_diag(struct bundle *b, enum diag_level lvl, const char *file, const char *key,
		     const char *fmt, ...) UDK_PRINTF(5, 6);
/* Same with a code (0: UDK_E_BAD_MANIFEST for errors). */
void bundle_add_diag_code(struct bundle *b, int code, enum diag_level lvl, const char *file, const char *key,
			  const char *fmt, ...) UDK_PRINTF(6, 7);
/* Whether udkd runs this bundle: no errors, not refused, not disabled or removed. */
bool bundle_runnable(const struct bundle *b);
/* The first reason it does not: "UDK_E_...: file: key: sentence" (malloc'ed), or NULL. */
char *bundle_why_not(const struct bundle *b);
/*
 * Scan every bundle directory; add new, reload changed, retire removed
 * bundles.  Here and now (at start, before the loop runs).
 */
int bundles_scan(struct udkd *d, unsigned *ret_added, unsigned *ret_removed);
/*
 * The same while the loop runs: the bundles are read and verified on a
 * worker thread; @fn (may be NULL) runs on the loop when they are in
 * place and matched (@status -ECANCELED: udkd is stopping).  @added
 * counts new bundles, @reloaded changed ones read again, @removed those
 * whose directory went.
 */
typedef void (*bundles_scan_fn)(struct udkd *d, int status, unsigned added, unsigned reloaded, unsigned removed,
				void *data);
int bundles_rescan(struct udkd *d, bundles_scan_fn fn, void *data);
void bundles_fini(struct udkd *d);
/*
 * Watch a bundle's directory and its subdirectories (Contents/,
 * _UDKSignature/ ...) with d->inotify_fd, so an edit inside a bundle is
 * noticed, not only one at the top of the bundle directories; at most
 * BUNDLE_WATCHES_MAX watches in all.  For each bundle a scan reads;
 * bundles_unwatched() when inotify says a watch went (IN_IGNORED).
 */
void bundle_watch(struct udkd *d, struct bundle *b);
void bundles_unwatched(struct udkd *d, int wd);
struct bundle *bundle_find(struct udkd *d, const char *name);
/* Whether udk or a family registers class @name; the known class nearest to a misspelt one, or NULL. */
bool bundle_known_class(const char *name);
const char *bundle_suggest_class(const char *name);
/* The name in NULL-terminated @known within two edits of @name, or NULL. */
const char *bundle_suggest_name(const char *name, const char *const *known);
/* Whether drivers run sandboxed: bundle_load() then checks their shared libraries against the sandbox's. */
void bundle_set_sandboxed(bool on);
struct udk_value *bundle_describe(struct udkd *d, const struct bundle *b);
/* The fixed bounds on what udkd reads (udkctl status). */
struct udk_value *bundle_input_limits(void);

/* ---- entitlements.c ---- */

/* Read b->entitlements into b->ent, adding diagnostics for bad ones. */
void entitlements_parse(struct bundle *b);
void entitlements_clear(struct entitlements *e);
/* Whether @b holds the entitlement with short name @name ("family.serial"). */
bool entitlements_hold(const struct bundle *b, const char *name);
/*
 * Whether @b may match service @s: for every class of @s a family governs,
 * the bundle holds the family's entitlement and the entitlement covers @s
 * (its ids), and it holds one full set of @s's IOServiceDEXTEntitlements.
 * True for services no family governs and that carry no such property.
 * *ret_detail: a sentence either way (malloc'ed), or NULL when nothing
 * was checked.
 */
bool entitlements_cover(struct udkd *d, const struct bundle *b, const struct service *s, char **ret_detail);
/*
 * Whether @b may run as / publish a service of class chain @classes (an
 * array of names): every family-governed class needs its entitlement.
 * -UDK_E_ENTITLEMENT with a sentence (malloc'ed in *ret_detail) if not.
 */
int entitlements_allow_classes(const struct bundle *b, const struct udk_value *classes, char **ret_detail);
/* "com.apple.developer.driverkit.NAME" as the bundle spelled it (or the Apple spelling). */
const char *entitlement_spelling(const struct bundle *b, const char *name, char *buf, size_t len);

/* ---- trust.c ---- */

struct trusted_key {
	struct sign_key key;
	char *file;
};

struct trust {
	char *state_dir;		/* /var/lib/udk */
	bool developer;			/* developer mode */
	struct trusted_key *keys;
	size_t n_keys;
};

int trust_init(struct udkd *d);
void trust_fini(struct udkd *d);
const struct trusted_key *trust_find(struct udkd *d, const uint8_t pk[SIGN_PK_BYTES]);
/* Decide whether udkd runs @b (sets b->trusted, b->refusal); logs a change. */
void trust_apply(struct udkd *d, struct bundle *b);
/* Re-decide every bundle after the store or the mode changed; stops refused drivers. */
void trust_reapply_all(struct udkd *d);
int trust_add(struct udkd *d, const char *key_text, struct udk_value **ret);
int trust_remove(struct udkd *d, const char *id);
int trust_set_developer(struct udkd *d, bool on);
struct udk_value *trust_describe(struct udkd *d);
/*
 * Open @b's executable for exec and check it is the one the signature
 * covers.  Returns the fd (O_RDONLY|O_CLOEXEC) or -UDK_E_BAD_SIGNATURE
 * with a reason.
 */
int trust_open_executable(struct udkd *d, struct bundle *b);

/* ---- access.c ---- */

/*
 * Which apps may open user clients of which drivers.  An app is known by
 * its executable (the realpath and SHA-256 of what the connecting process
 * ran when udkd accepted its connection) and, when it has one, by its own
 * signature (APP.udksig beside the executable).
 */
struct app_identity {
	int error;			/* <0: could not identify (the process left, ...) */
	char *reason;			/* why not, when error < 0 */
	uid_t uid;			/* the user who asked (requests and connections are shown to them and root) */
	char *path;			/* realpath of the executable */
	char hash[2 * SIGN_HASH_BYTES + 1];
	bool signed_ok;			/* a valid APP.udksig by a trusted key (any key in developer mode) */
	char key_id[SIGN_KEY_ID_LEN + 1];
	struct udk_value *entitlements;	/* the app's, when signed_ok */
};

int access_init(struct udkd *d);
void access_fini(struct udkd *d);
void app_identity_clear(struct app_identity *a);

/*
 * The peer of a control connection, pinned when udkd accepts it: a pidfd
 * and the executable it runs then.  Hashed on a worker at its first open.
 */
struct app_pin;
struct app_pin *app_pin_new(struct udkd *d, int sock, pid_t pid, uid_t uid, gid_t gid);
struct app_pin *app_pin_ref(struct app_pin *pin);
void app_pin_unref(struct app_pin *pin);
/* The pinned identity; an error identity until it is known. */
const struct app_identity *app_pin_identity(const struct app_pin *pin);
uid_t app_pin_uid(const struct app_pin *pin);
/*
 * True when request @m must wait for the identity: it is handed to @fn
 * again (on the loop) once known, and this call already answered or
 * queued it.  False: go on now.
 */
typedef void (*app_pin_resume_fn)(struct udkd *d, struct client *c, struct wire_msg *m);
bool app_pin_wait(struct udkd *d, struct app_pin *pin, struct client *c, struct wire_msg *m, app_pin_resume_fn fn);
/*
 * access_check() for request @m of a connection: it must come from the
 * pinned process (its SCM_CREDENTIALS), alive and still running the
 * executable it connected with.
 */
/*
 * The same for the app pinned at accept, plus the user client's
 * UserClientProperties.IOServiceDEXTEntitlements (@ucp may be NULL): a
 * signed app must hold every entitlement of one set.
 */
int access_check_pinned(struct udkd *d, struct app_pin *pin, const struct wire_msg *m, const struct bundle *b,
			const struct udk_value *ucp);
/*
 * May @app open user clients of @b?  0, or -UDK_E_NOT_PERMITTED with a
 * reason (udk_set_reason).  With @record, a refusal is kept as a request
 * that `udkctl access list` shows.
 */
int access_check(struct udkd *d, const struct app_identity *app, pid_t pid, const struct bundle *b, bool record);
/* A user client was opened / closed; a driver process ended. */
void access_link_opened(struct udkd *d, const struct app_identity *app, pid_t pid, const char *app_name,
			struct driver_proc *p, uint64_t object);
void access_link_closed(struct udkd *d, struct driver_proc *p, uint64_t object);
void access_proc_gone(struct udkd *d, struct driver_proc *p);
/*
 * OP_ACCESS grant {driver, app}: @app an executable path (hashed on a
 * worker), or "key:KEYID" for apps signed with that key.  Answers @c.
 */
struct proto_access_req;
void access_grant_start(struct udkd *d, struct client *c, const struct app_pin *pin, const struct wire_msg *m,
			const struct proto_access_req *req);
/* Removes matching grants and cuts the connections they allowed. */
int access_revoke(struct udkd *d, const char *driver, const char *app, struct udk_value **ret);
/* {grants, requests, connections}, for one driver or all (NULL); other users' apps only for root. */
struct udk_value *access_describe(struct udkd *d, const char *driver, uid_t viewer);
/*
 * OP_ACCESS explain {driver, app}: what would happen if the app at that
 * path opened the driver.  The path is read on a worker with the asker's
 * own file-system rights.  Answers @c.
 */
void access_explain_start(struct udkd *d, struct client *c, const struct app_pin *pin, const struct wire_msg *m,
			  const struct proto_access_req *req);
/* lifecycle.c: tell the apps connected to @b that their connection ends with @code (each user
 * client's queue serves what it holds first, then cuts it); returns how many were told. */
unsigned access_cut_bundle(struct udkd *d, const struct bundle *b, int code, const char *reason);
/* Open app connections to @b's processes. */
unsigned access_links_of_bundle(struct udkd *d, const struct bundle *b);
/* The identity of a connected client (pinned at accept). */
const struct app_identity *client_identity(struct udkd *d, struct client *c);

/*
 * Device grants: a family whose devices are protected (family.h,
 * grant_check) needs the user's grant before a driver may use one:
 * `udkctl access grant --FAMILY WHAT DRIVER`, WHAT a class of devices or
 * one device, as the family defines.
 */
struct udkd_family;
/* Whether driver @b holds a grant of family @f for one of @whats (NULL-terminated). */
bool access_device_granted(struct udkd *d, const struct udkd_family *f, const struct bundle *b,
			   const char *const *whats);
/* Remember that @b was refused @what (for @device), so `udkctl access list` shows the request. */
void access_device_refused(struct udkd *d, const struct udkd_family *f, const struct bundle *b, const char *what,
			   const char *device);
int access_device_grant(struct udkd *d, const char *family, const char *what, const char *driver,
			struct udk_value **ret);
/* Removes the grants (every one of the family for @driver when @what is NULL); the family closes what they allowed. */
int access_device_revoke(struct udkd *d, const char *family, const char *what, const char *driver,
			 struct udk_value **ret);

/* ---- match.c ---- */

/*
 * Evaluate @p against @s.  Returns true on a match and sets *ret_score.
 * When @report is an array, one {key, result, detail} dictionary per key
 * examined is appended to it, in plain words.
 */
bool match_personality(struct udkd *d, const struct personality *p, const struct service *s, int64_t *ret_score,
		       struct udk_value *report);
/* Same for a matching dictionary sent by an app (IOProviderClass, ...). */
bool match_dictionary(struct udkd *d, const struct udk_value *match, const struct service *s);
/* Run driver matching on @s: start the best personality per free category. */
void match_service(struct udkd *d, struct service *s);
/* Re-run matching for every registered service (a bundle came or went). */
void match_all(struct udkd *d);
/* The full "why (not)" report for udkctl explain. */
int match_explain(struct udkd *d, const char *driver, const char *service, struct udk_value **ret);

/* ---- launcher.c ---- */

enum proc_state {
	PROC_LAUNCHING,
	PROC_STARTING,
	PROC_RUNNING,
	PROC_STOPPING,
	PROC_DEAD,
};

struct pending;
typedef void (*pending_fn)(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data);

enum proc_kind {
	PROC_KIND_DRIVER,		/* a driver instance */
	PROC_KIND_MODEL,		/* a device model (simulated hardware) */
};

struct device_model;

struct driver_proc {
	unsigned refcount;
	struct udkd *d;
	enum proc_kind kind;
	char *label;			/* bundle identifier or "model capture0" */
	struct device_model *model;	/* PROC_KIND_MODEL */
	struct driver_proc *next;	/* in udkd's process list */
	pid_t pid;
	uid_t uid;			/* its own uid (sandboxed driver, udkd root), else 0 */
	int pidfd;
	int sock;
	int log_fd;			/* the driver's stdout/stderr */
	struct loop_source *sock_src, *pid_src, *log_src;
	struct bundle *bundle;
	struct personality *personality;
	struct service *provider;
	struct service *instance;	/* the instance it was started for */
	/* IOUserServerOneProcess: the bundle's other instances it runs too */
	bool one_process;
	struct service **guests;	/* references */
	size_t n_guests;
	enum proc_state state;
	uint32_t next_serial;
	struct pending *pending;
	uint64_t spawned_ns;
	uint64_t started_ns;
	bool debug;			/* waiting for a debugger: no deadlines */
	bool crashed;			/* it ended without being asked to (set before UDKD_EV_PROC_DIED) */
	bool kill_sent;
	int kill_code;			/* why udkd killed it (proc_kill_code), 0: not by udkd's choice */
	char kill_reason[320];
	struct loop_timer *watchdog;	/* next ping */
	struct loop_timer *hello_timer;	/* hello deadline */
	struct outbox out;		/* what the driver has not read yet */
	bool ping_outstanding;
	char logbuf[1024];
	size_t loglen;
	char last_line[160];
	char tail[CRASH_LAST_LINES][160];	/* its last lines of output, a ring from tail_head */
	unsigned tail_head, tail_n;
	char *launch_diag;		/* the loader's failure, explained (sandbox_explain_loader_error) */
	struct uc_link *uc_links;	/* its apps' open user clients (launcher_uc_opened) */
};

int launcher_start_instance(struct udkd *d, struct service *instance);
/* Start the process of a device model. */
int launcher_start_model(struct udkd *d, struct device_model *m, const char *exe);
/* A model said hello: deadlines off, watchdog on. */
void launcher_model_ready(struct driver_proc *p);
/* One message a driver or model process sent (what its socket's handler reads; the
 * driver->udkd fuzz target calls it too).  Requests go through the generated table. */
void launcher_handle_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
/* Answer a request of a driver or model. */
void proc_reply(struct driver_proc *p, const struct wire_msg *m, int status, const char *reason,
		struct udk_value *body, const int *fds, unsigned n_fds);
/* Ask the driver to stop, then kill it after the stop deadline. */
void launcher_stop_instance(struct udkd *d, struct service *instance, const char *why);
/* Send a request; @fn runs exactly once: with the reply, or with
 * UDK_E_DRIVER_DIED / UDK_E_DEADLINE. */
int proc_request(struct udkd *d, struct driver_proc *p, uint16_t op, struct udk_value *body, const int *fds,
		 unsigned n_fds, uint64_t timeout_ms, pending_fn fn, void *data);
void proc_kill(struct udkd *d, struct driver_proc *p, const char *why);
/*
 * An app opened user client @object of @p on service @service: udkd keeps
 * @fd (taken), a duplicate of the driver's end of the app's socket, so it
 * can tell the app why the connection ends before the app sees it end
 * (hardware removed, driver crashed or killed, and why).
 */
void launcher_uc_opened(struct udkd *d, struct driver_proc *p, uint64_t object, uint64_t service, int fd);
/*
 * The hardware under @s is gone: every app with a user client opened on
 * @s or a service below it gets UDK_E_HARDWARE_GONE with @why on its
 * pending and later calls, and is cut, before the drivers are stopped.
 */
void launcher_uc_hardware_gone(struct udkd *d, struct service *s, const char *why);
/* Kill it, and record why (a code and a sentence naming the call, the
 * time waited or the queue) for its crash record and `udkctl drivers`. */
void proc_kill_code(struct udkd *d, struct driver_proc *p, int code, const char *fmt, ...) UDK_PRINTF(4, 5);
/* Send without blocking; a driver that stops reading is killed. */
int proc_send(struct udkd *d, struct driver_proc *p, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	      const struct udk_value *body, const int *fds, unsigned n_fds);
struct driver_proc *proc_ref(struct driver_proc *p);
void proc_unref(struct driver_proc *p);
void launcher_fini(struct udkd *d);
/* Forget a pending rematch of @s (terminated, or udkd stopping). */
void launcher_cancel_rematch(struct udkd *d, struct service *s);
/* Re-enable a disabled bundle and restart its instances. */
int launcher_restart_bundle(struct udkd *d, struct bundle *b);
/* A personality's UDKDeadlines entry @which, or @fallback. */
uint64_t launcher_deadline(const struct driver_proc *p, const char *which, uint64_t fallback);
/* Tell a provider's owner that a driver on it died (so it can reset). */
void launcher_notify_provider(struct udkd *d, struct service *provider, const char *event);

/* ---- lifecycle.c ---- */

/*
 * udkctl install / upgrade (with rollback) / uninstall, each bundle's
 * lifecycle state (persisted in the state directory), drivers' recent
 * output for udkctl report.
 */
struct lifecycle;
/* Load the state and finish or undo what a stopped udkd left midway (before the first scan). */
int lifecycle_init(struct udkd *d);
/* After the first scan and matching: check upgrades that were resumed. */
void lifecycle_resume(struct udkd *d);
void lifecycle_fini(struct udkd *d);
/* OP_INSTALL, OP_UNINSTALL, OP_DRIVER_LOGS (callers checked the right to manage). */
/* @req: the request decoded and checked by its generated decoder (proto-ops.h). */
struct proto_install_req;
struct proto_uninstall_req;
struct proto_driver_logs_req;
void lifecycle_install(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_install_req *req);
void lifecycle_uninstall(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_uninstall_req *req);
void lifecycle_logs(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_driver_logs_req *req);
/* Adds {lifecycle: {state, reason, ...}} to a bundle's description. */
void lifecycle_describe(struct udkd *d, const struct bundle *b, struct udk_value *v);
/* Hooks of the launcher: an instance of @b started; a Start() failed or @b was disabled. */
void lifecycle_instance_started(struct udkd *d, struct bundle *b);
void lifecycle_start_failed(struct udkd *d, struct bundle *b);
/* True (with a reason) while @b's apps are being moved off it: opens are refused with UDK_E_DRIVER_REPLACED. */
bool lifecycle_refuses_open(struct udkd *d, const struct bundle *b, const char **ret_reason);
/* A line of a driver's output. */
void lifecycle_log_line(struct udkd *d, const struct bundle *b, pid_t pid, const char *msg);

/* ---- power.c ---- */

/*
 * Power states per driver instance (off, low, on) with SetPowerState
 * semantics: the driver quiesces or resumes, then acknowledges, within a
 * deadline.  The power tree follows the registry: system sleep lowers
 * children before parents, wake raises parents before children.  A
 * driver's first transition comes only after its Start() returned.
 */
struct power_event {
	uint64_t seq;			/* order of all transitions udkd made */
	uint64_t when_ms;
	int from, to;
	char kind[12];			/* "sleep", "wake", "idle", "request", "activity", "start" */
	char result[12];		/* "ok", "timeout", "refused", "died" */
	uint64_t elapsed_us;
	char reason[160];
	int code;			/* 0, or why it did not happen (-UDK_E_POWER_TIMEOUT ...) */
};

#define POWER_HISTORY 8

struct service_power {
	int state;			/* UDK_POWER_* acknowledged */
	int target;			/* where it is heading (== state: idle) */
	bool request_out;		/* a SetPowerState is outstanding */
	int request_to;
	char request_kind[12];
	uint64_t request_ns;
	bool busy;			/* the driver says so */
	bool idled;			/* lowered for idleness */
	uint64_t idle_ms;		/* 0: no idle power-down */
	struct loop_timer *idle_timer;
	bool in_level;			/* counted by the running system transition */
	struct power_event history[POWER_HISTORY];
	unsigned n_history;
};

int power_init(struct udkd *d);
void power_fini(struct udkd *d);
/* Start() returned: the instance joins the tree, in the system's state. */
void power_instance_started(struct udkd *d, struct service *inst);
/* The instance's process is gone or it is being stopped. */
void power_instance_gone(struct udkd *d, struct service *inst);
/* Messages from drivers: OP_DRV_POWER_REQUEST, OP_DRV_POWER_BUSY. */
void power_handle_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			  const struct proto_drv_power_request_req *req);
void power_handle_busy(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
		       const struct proto_drv_power_busy_req *req);
/* An app opens a user client: an idled service wakes first. */
void power_activity(struct udkd *d, struct service *inst);
/* udkctl power / system sleep|wake. */
struct proto_power_req;
void power_control(struct udkd *d, struct client *c, struct wire_msg *m, const struct proto_power_req *req);
const char *power_state_name(int state);

/* ---- models.c ---- */

/*
 * A simulated device: a device-model process (include/udk/devmodel.h)
 * started from the machine description's Devices array.  Its functions are
 * published by the family of their kind (family.h, model_function); this
 * file keeps the process, plug and unplug, and the broker's connection to
 * the model.
 */
struct device_model {
	struct device_model *next;
	char *name;			/* "capture0" */
	char *model;			/* the model executable's name or path */
	struct udk_value *props;	/* passed to the model */
	struct udk_value *entry;	/* the machine description's entry */
	bool plugged;			/* should be running */
	struct driver_proc *proc;
	struct service **nubs;		/* one per function, in the model's order */
	size_t n_nubs;
	char *gone_reason;		/* why it is not running */
	int gone_code;			/* its code (-UDK_E_*), 0: none (unplugged by request) */
	unsigned crashes;
	void **family_data;		/* one pointer per family (model_family_data), freed with free() */
};

/* Read the machine description's Devices array. */
int models_load(struct udkd *d, const struct udk_value *list, const char *where);
int model_plug(struct udkd *d, struct device_model *m);
void model_unplug(struct udkd *d, struct device_model *m, const char *why);
struct device_model *model_find(struct udkd *d, const char *name);
/* model_find(), or -UDK_E_NO_SUCH_DEVICE with a reason naming the devices there are (did-you-mean). */
int model_lookup(struct udkd *d, const char *name, struct device_model **ret);
/* The model that published @nub and the function's index, or NULL. */
struct device_model *model_of_nub(struct udkd *d, const struct service *nub, size_t *ret_index);
/* Messages from a model process (OP_DM_*). */
void models_handle_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
/* A model process ended. */
/* @code: why udkd killed it (proc_kill_code), 0 when it ended by itself (UDK_E_HARDWARE_GONE then). */
void models_died(struct udkd *d, struct device_model *m, const char *how, int code, bool expected);
/* udkd stops: SIGTERM to every running model; how many were asked. */
unsigned models_stop(struct udkd *d);
/*
 * The broker's path to simulated hardware: ask the model of @nub to accept
 * a channel for driver @p, then answer the driver's request @m with @info
 * (taken) and the driver's end of the channel.
 */
void model_connect(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *nub,
		   struct udk_value *info);
/* Same for @nub or a service a family published below a function's nub,
 * adding the family's @keys (may be NULL) to the model's connect request. */
void model_connect_ex(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *nub,
		      struct udk_value *info, const struct udk_value *keys);
struct udk_value *models_describe(struct udkd *d);
void models_fini(struct udkd *d);

/* ---- broker.c ---- */

/* A driver opens its provider (OP_DRV_OPEN_PROVIDER): the provider's family answers. */
void broker_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			  const struct proto_drv_open_provider_req *req);

/* ---- control.c ---- */

int control_listen(struct udkd *d);
void control_fini(struct udkd *d);
/* Serve a connected socket as a client with these credentials (takes @fd). */
int control_adopt(struct udkd *d, int fd, pid_t pid, uid_t uid, gid_t gid);
/* Tell subscribers about @s: "arrival", "termination" or "property". */
void control_notify(struct udkd *d, struct service *s, const char *type);
/* Same, with the properties that changed (for "property"; NULL: none). */
void control_notify_changed(struct udkd *d, struct service *s, const char *type, const struct udk_value *changed);
struct client *client_ref(struct client *c);
void client_unref(struct client *c);
/* Answer request @serial of @c; @reason goes with a failure. No-op if @c is gone. */
void client_reply(struct udkd *d, struct client *c, uint16_t op, uint32_t serial, int status, const char *reason,
		  const struct udk_value *body, const int *fds, unsigned n_fds);

/* ---- machine.c ---- */

int machine_load(struct udkd *d, const char *path);

/* ---- main.c ---- */

struct udkd_config {
	uint64_t start_timeout_ms;	/* Start() deadline */
	uint64_t stop_timeout_ms;	/* Stop() deadline before SIGKILL */
	uint64_t request_timeout_ms;	/* NewUserClient and other requests */
	uint64_t watchdog_ms;		/* ping interval; 0 disables */
	uint64_t restart_base_ms;	/* first retry delay after the immediate one */
	uint64_t restart_max_ms;
	unsigned crash_limit;		/* consecutive crashes before disabling */
	uint64_t stable_ms;		/* running this long resets the crash count */
	int log_level;
	bool syslog;
	bool sandbox;
	uint32_t driver_uid_base;	/* drivers run as base + slot when udkd is root; 0: same uid */
	uint64_t driver_memory_limit;	/* RLIMIT_DATA of drivers; 0: none */
	unsigned driver_max_files;	/* RLIMIT_NOFILE */
	unsigned driver_max_threads;	/* RLIMIT_NPROC, when drivers have their own uid */
	uint64_t power_timeout_ms;	/* SetPowerState deadline */
	uint64_t idle_timeout_ms;	/* idle power-down; 0: off (personalities: UDKIdleTimeoutMs) */
};

struct udkd {
	struct loop *loop;
	struct udkd_config cfg;
	char *runtime_dir;
	char *socket_path;
	char **bundle_dirs;
	size_t n_bundle_dirs;
	char *machine_path;
	int listen_fd;
	struct loop_source *listen_src;
	struct registry reg;
	struct bundle **bundles;
	size_t n_bundles;
	struct driver_proc *procs;
	struct client *clients;
	bool shutting_down;
	int signal_fd;
	struct loop_source *signal_src;
	int inotify_fd;
	struct udk_value *bundle_watches;	/* inotify wd (decimal) -> path, inside bundles (bundle.c) */
	bool bundle_watch_warned;	/* the watch limit was said once */
	struct loop_source *inotify_src;
	struct loop_timer *rescan_timer;
	struct device_model *devices;
	char **model_dirs;
	size_t n_model_dirs;
	void **family_state;		/* one per registered family (family.h) */
	struct protected_state *protected_devices;	/* protected.c */
	struct udkd_uevents *uevents;	/* uevent.c: the kernel's device events, for families */
	struct udkd_listener *listeners;
	struct trust trust;
	struct access *access;
	struct sandbox *sandbox;
	uint32_t next_uid_slot;		/* driver uids are handed out in turn */
	struct power_system *power;
	struct work *work;		/* worker threads: hashing, bundle reading (work.h) */
	struct bundle_scan *scan;	/* a rescan on the worker (bundle.c) */
	struct quota *quota;		/* quota.c: caps per user, connection and bundle */
	bool accept_paused;		/* out of descriptors: the listen socket rests */
	struct lifecycle *lifecycle;	/* lifecycle.c */
};

#endif
