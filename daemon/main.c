/* SPDX-License-Identifier: MIT */
/*
 * main.c - udkd, the udk manager daemon.
 *
 * udkd runs unprivileged ("embedded mode") with one runtime directory that
 * holds its socket.  It loads driver bundles from the bundle directories,
 * creates the services of the machine description, matches drivers to
 * them and runs each driver in its own process.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "file.h"
#include "sandbox.h"
#include "systemd.h"
#include "udk-config.h"
#include "family.h"
#include "udkd.h"
#include "quota.h"
#include "util.h"
#include "work.h"

/* getopt ids of the families' options */
#define FAMILY_OPT 1000

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: udkd [OPTIONS]\n"
		"\n"
		"The udk manager daemon.\n"
		"\n"
		"  --runtime-dir DIR        socket and state (default " UDK_RUNTIME_DIR " as root, else\n"
		"                           $XDG_RUNTIME_DIR/udk)\n"
		"  --bundles DIR            a directory of *.dext bundles (repeatable; default\n"
		"                           " UDK_BUNDLE_DIR ")\n"
		"  --machine FILE           machine description plist (services and devices to create)\n"
		"  --models DIR             where device-model executables are (repeatable; default\n"
		"                           ../models next to udkd, and " UDK_MODEL_DIR ")\n"
		"  --log-level LEVEL        error, warning, notice, info (default) or debug\n"
		"  --log-target TARGET      stderr, syslog, or journal[:SOCKET] (systemd's journal, with the\n"
		"                           driver's identifier in UDK_DRIVER=); default: journal when stderr\n"
		"                           is the journal (JOURNAL_STREAM), else stderr\n"
		"  --syslog                 the same as --log-target syslog\n"
		"  --start-timeout-ms N     deadline for a driver's Start() (default 10000)\n"
		"  --stop-timeout-ms N      deadline for Stop() before the process is killed (default 3000)\n"
		"  --request-timeout-ms N   deadline for NewUserClient() and other requests (default 5000)\n"
		"  --watchdog-ms N          ping drivers this often; no answer within N ms kills (default 5000,\n"
		"                           0 disables)\n"
		"  --crash-limit N          consecutive crashes before a driver is disabled (default 5)\n"
		"  --restart-base-ms N      back-off after the second crash, doubled each time (default 200)\n"
		"  --restart-max-ms N       longest back-off (default 30000)\n"
		"  --no-sandbox             run drivers without seccomp/landlock (debugging only)\n"
		"  --state-dir DIR          trust store, developer mode and access grants (default\n"
		"                           " UDK_STATE_DIR " as root, else $XDG_STATE_HOME/udk)\n"
		"  --driver-uid-base N      as root, drivers run as uids N, N+1, ... (default 2130706432;\n"
		"                           0 keeps udkd's uid)\n"
		"  --driver-memory-limit N  RLIMIT_DATA of driver processes in bytes (default 4 GiB; 0: none)\n"
		"  --driver-max-files N     RLIMIT_NOFILE of driver processes (default 1024)\n"
		"  --driver-max-threads N   RLIMIT_NPROC of a driver's own uid (default 512)\n"
		"  --power-timeout-ms N     deadline for SetPowerState (default 5000)\n"
		"  --idle-timeout-ms N      lower idle drivers to LOW after N ms (default 0: never;\n"
		"                           personalities: UDKIdleTimeoutMs)\n"
		"  --limit NAME=N           set one of udkd's resource limits (repeatable; `udkctl status`\n"
		"                           lists them, docs/security.md explains them)\n"
		"  -h, --help\n");
	/* each family's own options */
	for (size_t i = 0; i < udkd_n_families; i++)
		for (const struct udkd_family_option *o = udkd_families[i]->options; o && o->name; o++) {
			char left[64];
			snprintf(left, sizeof(left), "--%s%s%s%s", o->name,
				 o->has_arg == optional_argument ? "[=" : o->has_arg == required_argument ? " " : "",
				 o->has_arg != no_argument && o->arg_name ? o->arg_name : "",
				 o->has_arg == optional_argument ? "]" : "");
			fprintf(f, "  %-24s %s (%s family)\n", left, o->help ? o->help : "", udkd_families[i]->name);
		}
}

static int
parse_ms(const char *s, uint64_t *ret)
{
	if (parse_u64(s, ret) < 0) {
		fprintf(stderr, "udkd: \"%s\" is not a number of milliseconds\n", s);
		return -EINVAL;
	}
	return 0;
}

static char *
default_runtime_dir(void)
{
	const char *x = getenv("XDG_RUNTIME_DIR");

	/* root's udkd serves every user: the system's directory, whatever root's session says */
	if (geteuid() != 0 && x && *x)
		return strdup_printf("%s/udk", x);
	return strdup(UDK_RUNTIME_DIR);
}

static void
on_signal(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udkd *d = data;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		log_notice(d, "SIGHUP: rescanning bundles");
		bundles_rescan(d, NULL, NULL);
		return;
	}
	log_notice(d, "%s: shutting down", sigabbrev_np((int)si.ssi_signo));
	loop_quit(l);
}

static void
rescan_now(struct loop *l, void *data)
{
	struct udkd *d = data;

	(void)l;
	d->rescan_timer = NULL;
	/* read and verified on a worker; matched when they are in place */
	bundles_rescan(d, NULL, NULL);
}

static void
watch_bundle_dirs(struct udkd *d)
{
	for (size_t i = 0; i < d->n_bundle_dirs; i++)
		inotify_add_watch(d->inotify_fd, d->bundle_dirs[i],
				  IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR);
}

static void
on_inotify(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udkd *d = data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const void *)(buf + off);
			/* a watch inside a bundle went with its directory */
			if (ev->mask & IN_IGNORED)
				bundles_unwatched(d, ev->wd);
			off += (ssize_t)sizeof(*ev) + ev->len;
		}
	/* bundles are copied in several steps: wait for quiet */
	if (d->rescan_timer)
		loop_timer_cancel(l, d->rescan_timer);
	loop_add_timer(l, now_ns() + 300000000ull, rescan_now, d, &d->rescan_timer);
}

int
main(int argc, char **argv)
{
	static const struct option core_opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "bundles", required_argument, NULL, 'b' },
		{ "machine", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "syslog", no_argument, NULL, 's' },
		{ "start-timeout-ms", required_argument, NULL, 1 },
		{ "stop-timeout-ms", required_argument, NULL, 2 },
		{ "request-timeout-ms", required_argument, NULL, 3 },
		{ "watchdog-ms", required_argument, NULL, 4 },
		{ "crash-limit", required_argument, NULL, 5 },
		{ "restart-base-ms", required_argument, NULL, 6 },
		{ "restart-max-ms", required_argument, NULL, 7 },
		{ "no-sandbox", no_argument, NULL, 8 },
		{ "models", required_argument, NULL, 9 },
		{ "state-dir", required_argument, NULL, 12 },
		{ "driver-uid-base", required_argument, NULL, 13 },
		{ "driver-memory-limit", required_argument, NULL, 14 },
		{ "driver-max-files", required_argument, NULL, 15 },
		{ "driver-max-threads", required_argument, NULL, 16 },
		{ "power-timeout-ms", required_argument, NULL, 17 },
		{ "idle-timeout-ms", required_argument, NULL, 18 },
		{ "limit", required_argument, NULL, 19 },
		{ "log-target", required_argument, NULL, 20 },
		{ "help", no_argument, NULL, 'h' },
	};
	/* the core options, then every family's (ids FAMILY_OPT + n) */
	struct option *opts = NULL;
	const struct udkd_family **opt_family = NULL;
	const struct udkd_family_option **opt_def = NULL;
	size_t n_opts = ARRAY_SIZE(core_opts), n_fam_opts = 0;
	struct udkd d = {
		.cfg = {
			.start_timeout_ms = 10000,
			.stop_timeout_ms = 3000,
			.request_timeout_ms = 5000,
			.watchdog_ms = 5000,
			.restart_base_ms = 200,
			.restart_max_ms = 30000,
			.crash_limit = 5,
			.stable_ms = 30000,
			.log_level = UDK_LOG_INFO,
			.sandbox = true,
			.driver_uid_base = 2130706432u,
#if defined(__SANITIZE_ADDRESS__)
			.driver_memory_limit = 0,	/* the sanitizer's shadow memory counts as data */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
			.driver_memory_limit = 0,
#else
			.driver_memory_limit = 4ull << 30,
#endif
#else
			.driver_memory_limit = 4ull << 30,
#endif
			.driver_max_files = 1024,
			.driver_max_threads = 512,
			.power_timeout_ms = 5000,
		},
		.listen_fd = -1,
		.signal_fd = -1,
		.inotify_fd = -1,
	};
	sigset_t mask;
	uint64_t v;
	int c, r;
	const char *log_target = NULL;

	r = families_check();
	if (r < 0) {
		fprintf(stderr, "udkd: %s\n", udk_error_reason() ? udk_error_reason() : strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < udkd_n_families; i++)
		for (const struct udkd_family_option *o = udkd_families[i]->options; o && o->name; o++)
			n_fam_opts++;
	opts = calloc(n_opts + n_fam_opts + 1, sizeof(*opts));
	opt_family = calloc(n_fam_opts + 1, sizeof(*opt_family));
	opt_def = calloc(n_fam_opts + 1, sizeof(*opt_def));
	if (!opts || !opt_family || !opt_def)
		return 1;
	memcpy(opts, core_opts, sizeof(core_opts));
	n_fam_opts = 0;
	for (size_t i = 0; i < udkd_n_families; i++)
		for (const struct udkd_family_option *o = udkd_families[i]->options; o && o->name; o++) {
			opts[n_opts] = (struct option){ o->name, o->has_arg, NULL, FAMILY_OPT + (int)n_fam_opts };
			opt_family[n_fam_opts] = udkd_families[i];
			opt_def[n_fam_opts] = o;
			n_opts++;
			n_fam_opts++;
		}

	while ((c = getopt_long(argc, argv, "r:b:m:l:sh", opts, NULL)) != -1) {
		if (c >= FAMILY_OPT && c < FAMILY_OPT + (int)n_fam_opts) {
			const struct udkd_family *f = opt_family[c - FAMILY_OPT];
			const char *name = opt_def[c - FAMILY_OPT]->name;
			r = f->set_option ? f->set_option(&d, name, optarg) : -EINVAL;
			if (r < 0) {
				fprintf(stderr, "udkd: --%s: %s\n", name,
					udk_error_reason() ? udk_error_reason() : strerror(-r));
				return 2;
			}
			continue;
		}
		switch (c) {
		case 'r':
			free(d.runtime_dir);
			d.runtime_dir = strdup(optarg);
			break;
		case 'b': {
			char **n = reallocarray(d.bundle_dirs, d.n_bundle_dirs + 1, sizeof(*n));
			char *abs = realpath(optarg, NULL);
			if (!n)
				return 1;
			d.bundle_dirs = n;
			if (!abs) {
				fprintf(stderr, "udkd: bundle directory %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			d.bundle_dirs[d.n_bundle_dirs++] = abs;
			break;
		}
		case 'm':
			d.machine_path = strdup(optarg);
			break;
		case 'l':
			r = udk_log_level_parse(optarg);
			if (r < 0) {
				fprintf(stderr, "udkd: unknown log level \"%s\"; use error, warning, notice, info or debug\n",
					optarg);
				return 2;
			}
			d.cfg.log_level = r;
			break;
		case 's':
			d.cfg.syslog = true;
			break;
		case 1:
			if (parse_ms(optarg, &d.cfg.start_timeout_ms) < 0)
				return 2;
			break;
		case 2:
			if (parse_ms(optarg, &d.cfg.stop_timeout_ms) < 0)
				return 2;
			break;
		case 3:
			if (parse_ms(optarg, &d.cfg.request_timeout_ms) < 0)
				return 2;
			break;
		case 4:
			if (parse_ms(optarg, &d.cfg.watchdog_ms) < 0)
				return 2;
			break;
		case 5:
			if (parse_ms(optarg, &v) < 0 || v == 0 || v > 1000) {
				fprintf(stderr, "udkd: --crash-limit must be 1..1000\n");
				return 2;
			}
			d.cfg.crash_limit = (unsigned)v;
			break;
		case 6:
			if (parse_ms(optarg, &d.cfg.restart_base_ms) < 0)
				return 2;
			break;
		case 7:
			if (parse_ms(optarg, &d.cfg.restart_max_ms) < 0)
				return 2;
			break;
		case 8:
			d.cfg.sandbox = false;
			break;
		case 9: {
			char **n = reallocarray(d.model_dirs, d.n_model_dirs + 1, sizeof(*n));
			char *abs = realpath(optarg, NULL);
			if (!n || !abs) {
				fprintf(stderr, "udkd: model directory %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			d.model_dirs = n;
			d.model_dirs[d.n_model_dirs++] = abs;
			break;
		}
		case 12:
			free(d.trust.state_dir);
			d.trust.state_dir = realpath(optarg, NULL);
			if (!d.trust.state_dir && mkdir_p(optarg, 0755) == 0)
				d.trust.state_dir = realpath(optarg, NULL);
			if (!d.trust.state_dir) {
				fprintf(stderr, "udkd: state directory %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 13:
		case 14:
		case 15:
		case 16:
			if (parse_u64(optarg, &v) < 0 || (c != 14 && v > UINT32_MAX) || (c == 15 && v < 16) ||
			    (c == 16 && v < 8)) {
				const char *name = "?";
				for (size_t i = 0; opts[i].name; i++)
					if (opts[i].val == c)
						name = opts[i].name;
				fprintf(stderr, "udkd: \"%s\" is not a valid value for --%s\n", optarg, name);
				return 2;
			}
			if (c == 13)
				d.cfg.driver_uid_base = (uint32_t)v;
			else if (c == 14)
				d.cfg.driver_memory_limit = v;
			else if (c == 15)
				d.cfg.driver_max_files = (unsigned)v;
			else
				d.cfg.driver_max_threads = (unsigned)v;
			break;
		case 17:
			if (parse_ms(optarg, &d.cfg.power_timeout_ms) < 0 || !d.cfg.power_timeout_ms)
				return 2;
			break;
		case 18:
			if (parse_ms(optarg, &d.cfg.idle_timeout_ms) < 0)
				return 2;
			break;
		case 19:
			if ((!d.quota && quota_new(&d.quota) < 0) || quota_set(d.quota, optarg) < 0) {
				fprintf(stderr, "udkd: %s\n", udk_error_reason() ? udk_error_reason() : "out of memory");
				return 2;
			}
			break;
		case 20:
			if (!streq(optarg, "stderr") && !streq(optarg, "syslog") && !streq(optarg, "journal") &&
			    !startswith(optarg, "journal:")) {
				fprintf(stderr, "udkd: unknown log target \"%s\"; use stderr, syslog or journal[:SOCKET]\n",
					optarg);
				return 2;
			}
			log_target = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "udkd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (log_target && streq(log_target, "syslog"))
		d.cfg.syslog = true;
	if (d.cfg.syslog)
		log_open_syslog();
	else if ((log_target && startswith(log_target, "journal")) || (!log_target && journal_stream_is_stderr())) {
		const char *sock = log_target && log_target[7] == ':' ? log_target + 8 : NULL;
		r = log_open_journal(sock);
		if (r < 0 && log_target) {
			fprintf(stderr, "udkd: %s\n", udk_error_reason() ? udk_error_reason() : strerror(-r));
			return 1;
		}
	}
	if (!d.runtime_dir)
		d.runtime_dir = default_runtime_dir();
	if (d.n_bundle_dirs == 0) {
		static const char *const defaults[] = { UDK_BUNDLE_DIR };
		d.bundle_dirs = calloc(ARRAY_SIZE(defaults), sizeof(char *));
		for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
			if (access(defaults[i], R_OK) == 0)
				d.bundle_dirs[d.n_bundle_dirs++] = strdup(defaults[i]);
	}
	{
		/* models installed or built next to udkd */
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		const char *cands[2] = { NULL, UDK_MODEL_DIR };
		char *beside = NULL;
		if (n > 0) {
			self[n] = '\0';
			char *slash = strrchr(self, '/');
			if (slash) {
				*slash = '\0';
				beside = strdup_printf("%s/../models", self);
				cands[0] = beside;
			}
		}
		for (size_t i = 0; i < 2; i++) {
			char *abs = cands[i] ? realpath(cands[i], NULL) : NULL;
			char **nd = abs ? reallocarray(d.model_dirs, d.n_model_dirs + 1, sizeof(*nd)) : NULL;
			if (!nd) {
				free(abs);
				continue;
			}
			d.model_dirs = nd;
			d.model_dirs[d.n_model_dirs++] = abs;
		}
		free(beside);
	}
	if (!d.trust.state_dir) {
		const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (geteuid() == 0)
			d.trust.state_dir = strdup(UDK_STATE_DIR);
		else if (xdg && *xdg)
			d.trust.state_dir = strdup_printf("%s/udk", xdg);
		else
			d.trust.state_dir = strdup_printf("%s/.local/state/udk", home ? home : "/tmp");
	}
	r = mkdir_p(d.runtime_dir, 0755);
	if (r < 0) {
		log_error(&d, "cannot create runtime directory %s: %s", d.runtime_dir, strerror(-r));
		return 1;
	}
	/*
	 * Root's udkctl talks to the socket in the runtime directory, and
	 * whoever writes the state directory decides what udkd trusts: nobody
	 * but root or udkd may own or write either.
	 */
	r = mkdir_p(d.trust.state_dir, 0755);
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *why = NULL;
		const char *what = i ? "state directory" : "runtime directory";
		int k = file_check_private_dir(what, i ? d.trust.state_dir : d.runtime_dir, &why);
		if (k > 0)
			log_warning(&d, "%s", why);
		if (k >= 0)
			continue;
		log_error(&d, "%s", why ? why : strerror(-k));
		for (size_t j = 0; j < d.n_model_dirs; j++)
			free(d.model_dirs[j]);
		free(d.model_dirs);
		for (size_t j = 0; j < d.n_bundle_dirs; j++)
			free(d.bundle_dirs[j]);
		free(d.bundle_dirs);
		free(d.trust.state_dir);
		free(d.runtime_dir);
		free(d.machine_path);
		free(opts);
		free(opt_family);
		free(opt_def);
		return 1;
	}
	d.socket_path = strdup_printf("%s/udkd.sock", d.runtime_dir);

	{
		/* three descriptors per driver process: take what the system allows */
		struct rlimit nofile;
		if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
			nofile.rlim_cur = nofile.rlim_max;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	if ((r = loop_new(&d.loop)) < 0 || (r = work_new(d.loop, &d.work)) < 0 || (r = registry_init(&d)) < 0) {
		log_error(&d, "cannot initialise: %s", strerror(-r));
		return 1;
	}
	if ((r = families_init(&d)) < 0) {
		log_error(&d, "%s", udk_error_reason() ? udk_error_reason() : strerror(-r));
		return 1;
	}
	if ((r = trust_init(&d)) < 0 || (r = access_init(&d)) < 0 || (r = power_init(&d)) < 0) {
		log_error(&d, "%s", udk_error_reason() ? udk_error_reason() : strerror(-r));
		return 1;
	}
	if (d.cfg.sandbox) {
		r = sandbox_new(&d.sandbox);
		if (r < 0) {
			log_error(&d, "cannot build the driver sandbox: %s; fix it, or run with --no-sandbox while "
				      "debugging",
				  udk_error_reason() ? udk_error_reason() : strerror(-r));
			return 1;
		}
		if (sandbox_landlock_abi(d.sandbox) <= 0)
			log_warning(&d, "this kernel has no landlock: drivers get the seccomp filter and their own uid, "
					"but no file-system rules");
		if (geteuid() != 0 || !d.cfg.driver_uid_base)
			log_notice(&d, "drivers run with udkd's uid %u (they get their own uids only when udkd runs "
				       "as root)",
				   (unsigned)geteuid());
	} else {
		log_warning(&d, "--no-sandbox: drivers run unconfined");
	}
	/* landlock is what hides libraries outside the system's directories */
	bundle_set_sandboxed(d.cfg.sandbox && d.sandbox && sandbox_landlock_abi(d.sandbox) > 0);
	r = control_listen(&d);
	if (r < 0) {
		log_error(&d, "%s (%s)", udk_error_reason() ? udk_error_reason() : udk_strerror(r), udk_error_name(r));
		return 1;
	}
	d.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	loop_add_fd(d.loop, d.signal_fd, EPOLLIN, on_signal, &d, &d.signal_src);
	d.inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (d.inotify_fd >= 0) {
		watch_bundle_dirs(&d);
		loop_add_fd(d.loop, d.inotify_fd, EPOLLIN, on_inotify, &d, &d.inotify_src);
	}

	/* an install, upgrade or uninstall a stopped udkd left midway is finished or undone first */
	if ((r = lifecycle_init(&d)) < 0) {
		log_error(&d, "cannot initialise: %s", strerror(-r));
		return 1;
	}
	bundles_scan(&d, NULL, NULL);
	service_register(&d, d.reg.user_resources);
	if (d.machine_path) {
		r = machine_load(&d, d.machine_path);
		if (r < 0) {
			log_error(&d, "%s", udk_error_reason() ? udk_error_reason() : strerror(-r));
			control_fini(&d);
			return 1;
		}
	}
	families_start(&d);
	lifecycle_resume(&d);
	log_notice(&d, "ready on %s (%zu bundles from %zu directories)", d.socket_path, d.n_bundles,
		   d.n_bundle_dirs);
	systemd_notify("READY=1");

	loop_run(d.loop);

	systemd_notify("STOPPING=1");
	d.shutting_down = true;
	/* jobs still queued are cancelled, running ones finish (work.h) */
	work_free(d.work);
	d.work = NULL;
	bundles_fini(&d);
	launcher_fini(&d);
	lifecycle_fini(&d);
	access_fini(&d);
	power_fini(&d);
	control_fini(&d);
	families_fini(&d);
	registry_fini(&d);
	models_fini(&d);
	for (size_t i = 0; i < d.n_model_dirs; i++)
		free(d.model_dirs[i]);
	free(d.model_dirs);
	for (size_t i = 0; i < d.n_bundles; i++)
		bundle_free(d.bundles[i]);
	free(d.bundles);
	for (size_t i = 0; i < d.n_bundle_dirs; i++)
		free(d.bundle_dirs[i]);
	free(d.bundle_dirs);
	loop_source_remove(d.signal_src);
	loop_source_remove(d.inotify_src);
	if (d.signal_fd >= 0)
		close(d.signal_fd);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
	loop_free(d.loop);
	trust_fini(&d);
	sandbox_free(d.sandbox);
	free(d.runtime_dir);
	free(d.socket_path);
	free(d.machine_path);
	free(opts);
	free(opt_family);
	free(opt_def);
	return 0;
}
