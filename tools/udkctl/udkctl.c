/* SPDX-License-Identifier: MIT */
/*
 * udkctl - look into and steer udkd.
 *
 * Every command prints plain text, or JSON with --json.  Failures print
 * what went wrong and what to do, and exit non-zero.
 *
 * Families add commands of their own without udkctl knowing them: for a
 * command NAME it does not have, udkctl runs the program udkctl-NAME
 * (like git's subcommands), looking in $UDKCTL_EXEC_PATH, next to itself,
 * in the families' build directories and in libexecdir/udk.  The program
 * gets the remaining arguments and the runtime directory in
 * $UDK_RUNTIME_DIR (and UDKCTL_JSON=1 for --json).
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <udk/client.h>

#include "buf.h"
#include "private.h"
#include "proto.h"
#include "util.h"

static struct udk_value *lifecycle_of(struct udk_client *c, const char *identifier, struct udk_value **ret_bundle);

static bool opt_json;
static const char *opt_runtime_dir;
static int opt_wait_s;

/* @r, or when udkd's answer to a request that succeeded does not fit
 * lib/common/proto.xml (@dr < 0 from its generated reply decoder, @why its
 * sentence naming the field), -UDK_E_PROTOCOL with a reason to act on. */
static int
check_reply(int r, int dr, const char *why)
{
	if (r < 0 || dr >= 0)
		return r;
	return udk_set_reason(-UDK_E_PROTOCOL, "udkd's reply does not fit the protocol (%s); udkd and udkctl are "
			      "from different udk versions: use the udkctl installed with udkd", why);
}

static int
fail(int r, const char *what)
{
	const char *why = udk_error_reason();

	if (opt_json) {
		struct udk_value *e = udk_value_new_dict();
		char *s = NULL;
		udk_dict_set_string(e, "error", udk_error_name(r));
		udk_dict_set_string(e, "message", why ? why : udk_strerror(r));
		if (udk_error_fix(r))
			udk_dict_set_string(e, "fix", udk_error_fix(r));
		if (udk_value_to_json(e, true, &s) >= 0)
			printf("%s\n", s);
		free(s);
		udk_value_unref(e);
	}
	fprintf(stderr, "udkctl: %s: %s (%s)\n", what, why ? why : udk_strerror(r), udk_error_name(r));
	if (udk_error_fix(r))
		fprintf(stderr, "udkctl: what to do: %s (udkctl errors %s)\n", udk_error_fix(r), udk_error_name(r));
	return 1;
}

static void
print_json(const struct udk_value *v)
{
	char *s = NULL;

	if (udk_value_to_json(v, true, &s) >= 0)
		printf("%s\n", s);
	free(s);
}

static int
connect_udkd(struct udk_client **ret)
{
	uint64_t deadline = now_ms() + (uint64_t)opt_wait_s * 1000u;
	int r;

	for (;;) {
		r = udk_client_new(opt_runtime_dir, ret);
		if (r >= 0 || r != -UDK_E_DAEMON_UNREACHABLE || now_ms() >= deadline)
			return r;
		usleep(50000);
	}
}

static char *
classes_str(const struct udk_value *classes)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < udk_array_size(classes); i++) {
		if (i)
			buf_putc(&b, ':');
		buf_puts(&b, udk_value_get_string(udk_array_get(classes, i)));
	}
	return buf_steal_string(&b);
}

static void
print_value_line(const char *indent, const char *key, const struct udk_value *v)
{
	char *j = NULL;

	udk_value_to_json(v, false, &j);
	printf("%s\"%s\" = %s\n", indent, key, j ? j : "?");
	free(j);
}

/* ---- tree ---- */

static int
cmd_tree(struct udk_client *c, int argc, char **argv)
{
	bool props = false;
	const char *root = NULL;
	struct udk_value *tree = NULL, *list;
	char *root_path = NULL;
	int r;

	for (int i = 0; i < argc; i++) {
		if (streq(argv[i], "--properties") || streq(argv[i], "-p"))
			props = true;
		else if (!root)
			root = argv[i];
		else {
			fprintf(stderr, "udkctl tree: unexpected \"%s\"\n", argv[i]);
			return 2;
		}
	}
	r = udk_client_copy_tree(c, props, &tree);
	if (r < 0)
		return fail(r, "cannot read the registry");
	list = udk_dict_get(tree, "services");
	if (root) {
		uint64_t id;
		struct udk_value *svc = NULL;
		if (udk_client_lookup_path(c, root, &id) < 0 || udk_client_copy_service(c, id, &svc) < 0) {
			udk_value_unref(tree);
			return fail(-UDK_E_NO_SUCH_SERVICE, root);
		}
		root_path = strdup(udk_dict_get_string(svc, "path"));
		udk_value_unref(svc);
	}
	if (opt_json) {
		if (!root_path) {
			print_json(tree);
		} else {
			struct udk_value *sub = udk_value_new_array();
			for (size_t i = 0; i < udk_array_size(list); i++) {
				struct udk_value *s = udk_array_get(list, i);
				const char *p = udk_dict_get_string(s, "path");
				size_t rl = strlen(root_path);
				if (streq(p, root_path) || (strncmp(p, root_path, rl) == 0 && p[rl] == '/') ||
				    streq(root_path, "/"))
					udk_array_append(sub, s);
			}
			struct udk_value *o = udk_value_new_dict();
			udk_dict_set_take(o, "services", sub);
			print_json(o);
			udk_value_unref(o);
		}
		udk_value_unref(tree);
		free(root_path);
		return 0;
	}
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *s = udk_array_get(list, i);
		const char *path = udk_dict_get_string(s, "path");
		const char *drv = udk_dict_get_string(s, "driver");
		char *cls = classes_str(udk_dict_get(s, "classes"));
		char indent[256] = "";
		int depth = 0;

		if (root_path && !streq(root_path, "/")) {
			size_t rl = strlen(root_path);
			if (!streq(path, root_path) && !(strncmp(path, root_path, rl) == 0 && path[rl] == '/')) {
				free(cls);
				continue;
			}
		}
		for (const char *p = path; *p; p++)
			if (*p == '/')
				depth++;
		if (streq(path, "/"))
			depth = 0;
		for (int k = 0; k < depth && k < 60; k++)
			strcat(indent, "  ");
		printf("%s+-o %s  <%s, id 0x%" PRIx64 ", %s", indent, udk_dict_get_string(s, "name"), cls ? cls : "?",
		       udk_value_get_uint(udk_dict_get(s, "id"), 0), udk_dict_get_string(s, "state"));
		if (drv) {
			printf(", driver %s", drv);
			if (udk_dict_get(s, "pid"))
				printf(" pid %" PRId64, udk_dict_get_int(s, "pid", 0));
			if (udk_dict_get_string(s, "bundle"))
				printf(" from %s", udk_dict_get_string(s, "bundle"));
		}
		printf(">\n");
		if (udk_dict_get_string(s, "reason"))
			printf("%s      reason: %s\n", indent, udk_dict_get_string(s, "reason"));
		if (props) {
			struct udk_value *pp = udk_dict_get(s, "properties");
			char pin[300];
			snprintf(pin, sizeof(pin), "%s    | ", indent);
			for (size_t k = 0; k < udk_dict_size(pp); k++)
				print_value_line(pin, udk_dict_key_at(pp, k), udk_dict_value_at(pp, k));
		}
		free(cls);
	}
	udk_value_unref(tree);
	free(root_path);
	return 0;
}

static int
cmd_props(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *svc = NULL, *pp;
	uint64_t id;
	int r;

	if (argc != 1) {
		fprintf(stderr, "usage: udkctl props PATH-OR-ID\n");
		return 2;
	}
	r = udk_client_lookup_path(c, argv[0], &id);
	if (r >= 0)
		r = udk_client_copy_service(c, id, &svc);
	if (r < 0)
		return fail(r, argv[0]);
	if (opt_json) {
		print_json(svc);
	} else {
		pp = udk_dict_get(svc, "properties");
		printf("%s (id 0x%" PRIx64 ")\n", udk_dict_get_string(svc, "path"), id);
		for (size_t k = 0; k < udk_dict_size(pp); k++)
			print_value_line("  ", udk_dict_key_at(pp, k), udk_dict_value_at(pp, k));
	}
	udk_value_unref(svc);
	return 0;
}

/* ---- drivers ---- */

static void
print_bundle(const struct udk_value *b)
{
	struct udk_value *ps = udk_dict_get(b, "personalities");
	struct udk_value *ds = udk_dict_get(b, "diagnostics");
	struct udk_value *is = udk_dict_get(b, "instances");
	struct udk_value *hs = udk_dict_get(b, "crash_history");
	const char *id = udk_dict_get_string(b, "identifier");
	const char *state = udk_dict_get_string(b, "state");

	printf("%s (%s)%s%s: %s\n", id ? id : "(no identifier)", udk_dict_get_string(b, "name"),
	       udk_dict_get_string(b, "version") ? " " : "",
	       udk_dict_get_string(b, "version") ? udk_dict_get_string(b, "version") : "", state);
	if (udk_dict_get_string(b, "reason"))
		printf("  reason: %s\n", udk_dict_get_string(b, "reason"));
	{
		/* installing, waiting-for-trust, activated, upgrading, rolled-back, uninstalling (udkctl install) */
		struct udk_value *lc = udk_dict_get(b, "lifecycle");
		if (lc && (!streq(udk_dict_get_string(lc, "state"), "activated") || udk_dict_get_string(lc, "reason")))
			printf("  lifecycle: %s%s%s\n", udk_dict_get_string(lc, "state"),
			       udk_dict_get_string(lc, "reason") ? ": " : "",
			       udk_dict_get_string(lc, "reason") ? udk_dict_get_string(lc, "reason") : "");
	}
	if (udk_dict_get_string(b, "refusal"))
		printf("  refused (%s): %s\n", udk_dict_get_string(b, "refusal"), udk_dict_get_string(b, "refusal_reason"));
	printf("  path: %s\n", udk_dict_get_string(b, "path"));
	{
		struct udk_value *sg = udk_dict_get(b, "signature");
		const char *st = udk_dict_get_string(sg, "status");
		if (streq(st, "valid"))
			printf("  signature: valid, key %s (%s), %s\n", udk_dict_get_string(sg, "key_id"),
			       udk_dict_get_string(sg, "signer"),
			       udk_dict_get_bool(sg, "trusted", false) ? "trusted" : "NOT trusted");
		else if (streq(st, "invalid"))
			printf("  signature: INVALID (%s): %s%s%s\n", udk_dict_get_string(sg, "code"),
			       udk_dict_get_string(sg, "file") ? udk_dict_get_string(sg, "file") : "",
			       udk_dict_get_string(sg, "file") ? " " : "",
			       udk_dict_get_string(sg, "reason") ? udk_dict_get_string(sg, "reason") : "");
		else if (streq(st, "unchecked"))
			printf("  signature: %s\n", udk_dict_get_string(sg, "reason"));
		else if (st)
			printf("  signature: none (unsigned)\n");
	}
	for (size_t i = 0; i < udk_array_size(ps); i++) {
		struct udk_value *p = udk_array_get(ps, i);
		printf("  personality %s: IOProviderClass %s, IOUserClass %s, IOProbeScore %" PRId64 "%s%s%s\n",
		       udk_dict_get_string(p, "name"),
		       udk_dict_get_string(p, "IOProviderClass") ? udk_dict_get_string(p, "IOProviderClass") : "?",
		       udk_dict_get_string(p, "IOUserClass") ? udk_dict_get_string(p, "IOUserClass") : "?",
		       udk_dict_get_int(p, "IOProbeScore", 0), udk_dict_get_string(p, "IOMatchCategory") ? ", IOMatchCategory " : "",
		       udk_dict_get_string(p, "IOMatchCategory") ? udk_dict_get_string(p, "IOMatchCategory") : "",
		       udk_dict_get_bool(p, "valid", false) ? "" : " (has errors, never matches)");
	}
	for (size_t i = 0; i < udk_array_size(is); i++) {
		struct udk_value *in = udk_array_get(is, i);
		printf("  instance %s: %s", udk_dict_get_string(in, "path"), udk_dict_get_string(in, "state"));
		if (udk_dict_get(in, "pid"))
			printf(", pid %" PRId64, udk_dict_get_int(in, "pid", 0));
		printf("\n");
		if (udk_dict_get_string(in, "problem"))
			printf("    problem: %s\n", udk_dict_get_string(in, "problem"));
	}
	printf("  started %" PRId64 " times, crashed %" PRId64 " times (%" PRId64 " in a row)\n",
	       udk_dict_get_int(b, "starts", 0), udk_dict_get_int(b, "crashes", 0),
	       udk_dict_get_int(b, "consecutive_crashes", 0));
	for (size_t i = 0; i < udk_array_size(hs); i++) {
		struct udk_value *h = udk_array_get(hs, i);
		time_t t = (time_t)(udk_value_get_uint(udk_dict_get(h, "time_ms"), 0) / 1000);
		struct tm tm;
		char when[32];
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		if (udk_dict_get_string(h, "code") && !streq(udk_dict_get_string(h, "code"), "UDK_E_DRIVER_DIED"))
			printf("    %s %s during %s: %s\n", when, udk_dict_get_string(h, "code"),
			       udk_dict_get_string(h, "phase"), udk_dict_get_string(h, "reason"));
		else if (udk_dict_get_string(h, "signal"))
			printf("    %s killed by SIG%s during %s (%s)\n", when, udk_dict_get_string(h, "signal"),
			       udk_dict_get_string(h, "phase"),
			       udk_dict_get_string(h, "code") ? udk_dict_get_string(h, "code") : "?");
		else
			printf("    %s exited with status %" PRId64 " during %s\n", when,
			       udk_dict_get_int(h, "exit_status", 0), udk_dict_get_string(h, "phase"));
		if (udk_dict_get_string(h, "last_output"))
			printf("      last output: %s\n", udk_dict_get_string(h, "last_output"));
	}
	{
		struct udk_value *lf = udk_dict_get(b, "last_failure");
		if (lf && udk_dict_get_string(lf, "code")) {
			printf("  last failure (%s) during %s: %s\n", udk_dict_get_string(lf, "code"),
			       udk_dict_get_string(lf, "phase"), udk_dict_get_string(lf, "reason"));
			if (udk_dict_get_string(lf, "last_output"))
				printf("    last output: %s\n", udk_dict_get_string(lf, "last_output"));
			printf("    what to do: %s\n", udk_dict_get_string(lf, "fix"));
		}
	}
	for (size_t i = 0; i < udk_array_size(ds); i++) {
		struct udk_value *d = udk_array_get(ds, i);
		printf("  %s: %s%s%s: %s%s%s%s\n", udk_dict_get_string(d, "level"),
		       udk_dict_get_string(d, "file") ? udk_dict_get_string(d, "file") : "bundle",
		       udk_dict_get_string(d, "key") ? " " : "",
		       udk_dict_get_string(d, "key") ? udk_dict_get_string(d, "key") : "", udk_dict_get_string(d, "message"),
		       udk_dict_get_string(d, "code") ? " (" : "",
		       udk_dict_get_string(d, "code") ? udk_dict_get_string(d, "code") : "",
		       udk_dict_get_string(d, "code") ? ")" : "");
	}
}

static int
cmd_drivers(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL, *list;
	int r;

	if (argc > 1) {
		fprintf(stderr, "usage: udkctl drivers [DRIVER]\n");
		return 2;
	}
	body = proto_drivers_encode(&(struct proto_drivers_req){ .driver = argc == 1 ? argv[0] : NULL });
	r = udk_client_call(c, OP_DRIVERS, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, "cannot list drivers");
	if (opt_json) {
		print_json(reply);
	} else {
		list = udk_dict_get(reply, "bundles");
		if (udk_array_size(list) == 0)
			printf("no driver bundles; start udkd with --bundles DIR\n");
		for (size_t i = 0; i < udk_array_size(list); i++) {
			if (i)
				printf("\n");
			print_bundle(udk_array_get(list, i));
		}
	}
	udk_value_unref(reply);
	return 0;
}

/* ---- explain ---- */

static int
cmd_explain(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *rep = NULL, *ps;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: udkctl explain BUNDLE-OR-CLASS SERVICE-PATH\n"
				"  e.g. udkctl explain com.example.driver /Root/pci0\n");
		return 2;
	}
	body = proto_explain_encode(&(struct proto_explain_req){ .driver = argv[0], .service = argv[1] });
	r = udk_client_call(c, OP_EXPLAIN, body, &rep);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, "cannot explain");
	{
		/* an upgrade under way, rolled back or waiting for trust says why it runs what it runs */
		struct udk_value *lc = lifecycle_of(c, argv[0], NULL);
		const char *st = udk_dict_get_string(lc, "state");
		if (lc && !streq(st, "activated")) {
			if (opt_json)
				udk_dict_set(rep, "lifecycle", lc);
			else
				printf("%s lifecycle: %s%s%s\n", argv[0], st, udk_dict_get_string(lc, "reason") ? ": " : "",
				       udk_dict_get_string(lc, "reason") ? udk_dict_get_string(lc, "reason") : "");
		}
		udk_value_unref(lc);
	}
	if (opt_json) {
		print_json(rep);
		udk_value_unref(rep);
		return 0;
	}
	{
		char *cls = classes_str(udk_dict_get(rep, "classes"));
		printf("%s on %s (id 0x%" PRIx64 ", classes %s)\n", argv[0], udk_dict_get_string(rep, "service"),
		       udk_value_get_uint(udk_dict_get(rep, "id"), 0), cls ? cls : "?");
		free(cls);
	}
	ps = udk_dict_get(rep, "personalities");
	for (size_t i = 0; i < udk_array_size(ps); i++) {
		struct udk_value *p = udk_array_get(ps, i);
		struct udk_value *checks = udk_dict_get(p, "checks");
		printf("\n  %s %s: %s%s%s%s\n", udk_dict_get_string(p, "bundle"),
		       udk_dict_get_string(p, "personality") ? udk_dict_get_string(p, "personality") : "",
		       udk_dict_get_string(p, "verdict"), udk_dict_get_string(p, "code") ? " (" : "",
		       udk_dict_get_string(p, "code") ? udk_dict_get_string(p, "code") : "",
		       udk_dict_get_string(p, "code") ? ")" : "");
		for (size_t k = 0; k < udk_array_size(checks); k++) {
			struct udk_value *ck = udk_array_get(checks, k);
			const char *res = udk_dict_get_string(ck, "result");
			printf("    %-7s %s: %s\n", streq(res, "matched") ? "ok" : streq(res, "failed") ? "FAILED" : "note",
			       udk_dict_get_string(ck, "key"), udk_dict_get_string(ck, "detail"));
		}
	}
	udk_value_unref(rep);
	return 0;
}

/* ---- management ---- */

static int
simple(struct udk_client *c, uint16_t op, const char *what, struct udk_value *body, const char *done_msg)
{
	struct udk_value *reply = NULL;
	int r = udk_client_call(c, op, body, &reply);

	udk_value_unref(body);
	if (r < 0)
		return fail(r, what);
	if (opt_json)
		print_json(reply ? reply : udk_value_new_dict());
	else if (done_msg)
		printf("%s\n", done_msg);
	udk_value_unref(reply);
	return 0;
}

static int
cmd_restart(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body;
	char msg[300];

	if (argc != 1) {
		fprintf(stderr, "usage: udkctl restart DRIVER\n");
		return 2;
	}
	body = proto_restart_encode(&(struct proto_restart_req){ .driver = argv[0] });
	snprintf(msg, sizeof(msg), "%s: enabled, crash count cleared, instances restarting", argv[0]);
	return simple(c, OP_RESTART, "cannot restart", body, msg);
}

static int
cmd_log_level(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body;
	char msg[300];

	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: udkctl log-level [DRIVER|udkd] LEVEL   (error, warning, notice, info, debug)\n");
		return 2;
	}
	body = proto_log_level_encode(&(struct proto_log_level_req){
		.driver = argc == 2 ? argv[0] : NULL,
		.level = argv[argc - 1],
	});
	snprintf(msg, sizeof(msg), "log level of %s is now %s", argc == 2 ? argv[0] : "udkd", argv[argc - 1]);
	return simple(c, OP_LOG_LEVEL, "cannot set the log level", body, msg);
}

static int
cmd_debug(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	struct proto_debug_rep rep;
	char why[256];
	int r;

	if (argc != 1) {
		fprintf(stderr, "usage: udkctl debug DRIVER\n");
		return 2;
	}
	body = proto_debug_encode(&(struct proto_debug_req){ .driver = argv[0] });
	if (!opt_json)
		printf("restarting %s stopped for a debugger; waiting for it to match...\n", argv[0]);
	fflush(stdout);
	r = udk_client_call(c, OP_DEBUG, body, &reply);
	udk_value_unref(body);
	if (r >= 0)
		r = check_reply(r, proto_debug_reply_decode(reply, &rep, why, sizeof(why)), why);
	if (r < 0) {
		udk_value_unref(reply);
		return fail(r, "cannot debug");
	}
	if (opt_json)
		print_json(reply);
	else
		printf("%s is waiting as pid %" PRId64 ". Attach with:\n  %s\n(deadlines are off for it; "
		       "'continue' in gdb lets it say hello to udkd)\n",
		       argv[0], rep.pid, rep.command ? rep.command : "(no command)");
	udk_value_unref(reply);
	return 0;
}

static int
cmd_rescan(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *reply = NULL;
	struct proto_rescan_rep rep;
	char why[256];
	int r;

	(void)argv;
	if (argc) {
		fprintf(stderr, "usage: udkctl rescan\n");
		return 2;
	}
	r = udk_client_call(c, OP_RESCAN, NULL, &reply);
	if (r >= 0)
		r = check_reply(r, proto_rescan_reply_decode(reply, &rep, why, sizeof(why)), why);
	if (r < 0) {
		udk_value_unref(reply);
		return fail(r, "cannot rescan");
	}
	if (opt_json)
		print_json(reply);
	else
		printf("%" PRId64 " added, %" PRId64 " reloaded, %" PRId64 " removed\n", rep.added, rep.reloaded,
		       rep.removed);
	udk_value_unref(reply);
	return 0;
}

static int
cmd_status(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *reply = NULL;
	int r;

	(void)argc;
	(void)argv;
	r = udk_client_call(c, OP_STATUS, NULL, &reply);
	if (r < 0)
		return fail(r, "cannot read status");
	if (opt_json) {
		print_json(reply);
	} else {
		struct udk_value *sb = udk_dict_get(reply, "sandbox");
		printf("udkd pid %" PRId64 ", runtime %s: %" PRId64 " services, %" PRId64 " bundles, %" PRId64
		       " driver processes\n",
		       udk_dict_get_int(reply, "pid", 0), udk_dict_get_string(reply, "runtime_dir"),
		       udk_dict_get_int(reply, "services", 0), udk_dict_get_int(reply, "bundles", 0),
		       udk_dict_get_int(reply, "driver_processes", 0));
		printf("state %s; developer mode %s; sandbox: seccomp %s, landlock ABI %" PRId64 "\n",
		       udk_dict_get_string(reply, "state_dir") ? udk_dict_get_string(reply, "state_dir") : "?",
		       udk_dict_get_bool(reply, "developer_mode", false) ? "ON" : "off",
		       udk_dict_get_bool(sb, "seccomp", false) ? "on" : "OFF", udk_dict_get_int(sb, "landlock_abi", 0));
		{
			struct udk_value *lim = udk_dict_get(reply, "limits"), *use = udk_dict_get(reply, "usage");
			struct udk_value *uids = udk_dict_get(use, "uids");
			printf("in use: %" PRIu64 " connections (%" PRIu64 " unprivileged, %" PRIu64 " refused so far); %" PRIu64
			       " bytes queued for clients, %" PRIu64 " for drivers; descriptors: limit %" PRIu64 ", %" PRIu64
			       " kept for drivers, %" PRIu64 " reserved for restarts\n",
			       udk_value_get_uint(udk_dict_get(use, "connections"), 0),
			       udk_value_get_uint(udk_dict_get(use, "connections_unprivileged"), 0),
			       udk_value_get_uint(udk_dict_get(use, "connections_refused"), 0),
			       udk_value_get_uint(udk_dict_get(use, "queued_bytes_all_clients"), 0),
			       udk_value_get_uint(udk_dict_get(reply, "queued_bytes_to_drivers"), 0),
			       udk_value_get_uint(udk_dict_get(use, "fd_limit"), 0),
			       udk_value_get_uint(udk_dict_get(use, "fds_kept_for_drivers"), 0),
			       udk_value_get_uint(udk_dict_get(use, "fds_reserved"), 0));
			for (size_t i = 0; i < udk_array_size(uids); i++) {
				struct udk_value *u = udk_array_get(uids, i);
				printf("  uid %" PRIu64 ": %" PRIu64 " connections, %" PRIu64 " subscriptions, %" PRIu64
				       " bytes queued\n",
				       udk_value_get_uint(udk_dict_get(u, "uid"), 0),
				       udk_value_get_uint(udk_dict_get(u, "connections"), 0),
				       udk_value_get_uint(udk_dict_get(u, "subscriptions"), 0),
				       udk_value_get_uint(udk_dict_get(u, "queued_bytes"), 0));
			}
			printf("limits (udkd --limit NAME=N):");
			for (size_t i = 0; i < udk_dict_size(lim); i++)
				printf("%s%s %" PRIu64, i % 4 ? ", " : "\n  ", udk_dict_key_at(lim, i),
				       udk_value_get_uint(udk_dict_value_at(lim, i), 0));
			printf("\n");
			lim = udk_dict_get(reply, "input_limits");
			if (lim) {
				printf("input limits (fixed):");
				for (size_t i = 0; i < udk_dict_size(lim); i++)
					printf("%s%s %" PRIu64, i % 4 ? ", " : "\n  ", udk_dict_key_at(lim, i),
					       udk_value_get_uint(udk_dict_value_at(lim, i), 0));
				printf("\n");
			}
		}
	}
	udk_value_unref(reply);
	return 0;
}

static int
cmd_wait(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *m;
	uint64_t id;
	int timeout = 30000, r;

	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: udkctl wait CLASS [TIMEOUT-SECONDS]\n");
		return 2;
	}
	if (argc == 2)
		timeout = atoi(argv[1]) * 1000;
	m = udk_matching_class(argv[0]);
	r = udk_client_wait_for_service(c, m, timeout, &id);
	udk_value_unref(m);
	if (r < 0)
		return fail(r, argv[0]);
	if (opt_json) {
		struct udk_value *o = udk_value_new_dict();
		udk_dict_set_uint(o, "id", id);
		print_json(o);
		udk_value_unref(o);
	} else {
		printf("0x%" PRIx64 "\n", id);
	}
	return 0;
}

/* ---- watch: arrivals, terminations and property changes as they come ---- */

struct watch_ctx {
	long count;		/* events left to print; <0: forever */
};

static void
on_watch(struct udk_client *c, enum udk_notification_type type, uint64_t id, const char *name, void *data)
{
	static const char *const types[] = { "?", "arrival", "termination", "property" };
	struct watch_ctx *w = data;
	const struct udk_value *changed = udk_notification_get_properties();
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)c;
	if (w->count == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if (opt_json) {
		struct udk_value *o = udk_value_new_dict();
		char *j = NULL;
		udk_dict_set_string(o, "time", when);
		udk_dict_set_string(o, "type", types[type <= 3 ? type : 0]);
		udk_dict_set_uint(o, "id", id);
		udk_dict_set_string(o, "name", name);
		if (changed)
			udk_dict_set(o, "properties", (struct udk_value *)changed);
		if (udk_value_to_json(o, false, &j) >= 0)
			printf("%s\n", j);
		free(j);
		udk_value_unref(o);
	} else {
		printf("%s %s %s (id 0x%" PRIx64 ")\n", when, types[type <= 3 ? type : 0], name, id);
		for (size_t i = 0; changed && i < udk_dict_size(changed); i++)
			print_value_line("  ", udk_dict_key_at(changed, i), udk_dict_value_at(changed, i));
	}
	fflush(stdout);
	if (w->count > 0)
		w->count--;
}

static int
cmd_watch(struct udk_client *c, int argc, char **argv)
{
	struct watch_ctx w = { -1 };
	struct udk_value *m = NULL, *pm = NULL;
	struct udk_notification *n[3] = { NULL };
	uint64_t deadline = 0;
	int r = 0;

	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			w.count = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			deadline = now_ms() + (uint64_t)atol(argv[++i]) * 1000;
		} else if (eq && eq != argv[i]) {
			char key[128];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
			if (!pm)
				pm = udk_value_new_dict();
			udk_dict_set_string(pm, key, eq + 1);
		} else if (!m && argv[i][0] != '-') {
			m = udk_matching_class(argv[i]);
		} else {
			fprintf(stderr, "usage: udkctl watch [CLASS] [KEY=VALUE...] [--count N] [--timeout SECONDS]\n");
			udk_value_unref(m);
			udk_value_unref(pm);
			return 2;
		}
	}
	if (!m)
		m = udk_matching_class("IOService");
	if (pm)
		udk_dict_set_take(m, "IOPropertyMatch", pm);
	for (int t = 0; t < 3 && r >= 0; t++)
		r = udk_client_add_notification(c, (enum udk_notification_type)(UDK_NOTIFY_ARRIVAL + t), m, on_watch, &w,
						&n[t]);
	udk_value_unref(m);
	if (r < 0)
		return fail(r, "cannot subscribe");
	if (!opt_json)
		printf("watching (arrivals, terminations, property changes); ^C ends\n");
	fflush(stdout);
	while (w.count != 0) {
		int left = -1;
		if (deadline) {
			uint64_t now = now_ms();
			if (now >= deadline)
				break;
			left = (int)(deadline - now);
		}
		r = udk_client_dispatch(c, left);
		if (r < 0)
			break;
	}
	for (int t = 0; t < 3; t++)
		udk_notification_remove(n[t]);
	return r < 0 ? fail(r, "udkd went away") : 0;
}

static int
cmd_set_property(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *value;
	uint64_t id, n;

	if (argc != 3) {
		fprintf(stderr, "usage: udkctl set-property PATH KEY VALUE   (a machine-description service)\n");
		return 2;
	}
	if (udk_client_lookup_path(c, argv[0], &id) < 0)
		return fail(-UDK_E_NO_SUCH_SERVICE, argv[0]);
	if (parse_u64(argv[2], &n) == 0)
		value = udk_value_new_int((int64_t)n);
	else if (streq(argv[2], "true") || streq(argv[2], "false"))
		value = udk_value_new_bool(streq(argv[2], "true"));
	else
		value = udk_value_new_string(argv[2]);
	body = proto_set_property_encode(&(struct proto_set_property_req){
		.has_id = true,
		.id = id,
		.key = argv[1],
		.value = value,
	});
	udk_value_unref(value);
	return simple(c, OP_SET_PROPERTY, "cannot set the property", body, NULL);
}

static int
cmd_sim(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	const struct udk_value *list;
	struct proto_sim_rep rep;
	char why[256];
	int r;

	if (argc < 1 || (streq(argv[0], "list") ? argc != 1 : argc != 2) ||
	    (!streq(argv[0], "list") && !streq(argv[0], "plug") && !streq(argv[0], "unplug"))) {
		fprintf(stderr, "usage: udkctl sim list | sim plug NAME | sim unplug NAME\n");
		return 2;
	}
	body = proto_sim_encode(&(struct proto_sim_req){ .action = argv[0], .name = argc == 2 ? argv[1] : NULL });
	r = udk_client_call(c, OP_SIM, body, &reply);
	udk_value_unref(body);
	if (r >= 0)
		r = check_reply(r, proto_sim_reply_decode(reply, &rep, why, sizeof(why)), why);
	if (r < 0) {
		udk_value_unref(reply);
		return fail(r, argv[0]);
	}
	if (opt_json) {
		print_json(reply);
		udk_value_unref(reply);
		return 0;
	}
	list = rep.devices;
	if (udk_array_size(list) == 0)
		printf("no simulated devices (add Devices to the machine description)\n");
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i), *fns = udk_dict_get(e, "functions");
		const char *loc = udk_dict_get_string(e, "location");
		printf("%s  model %s%s%s: %s", udk_dict_get_string(e, "name"), udk_dict_get_string(e, "model"),
		       loc ? " at " : "", loc ? loc : "", udk_dict_get_string(e, "state"));
		if (udk_dict_get(e, "pid"))
			printf(", pid %" PRId64, udk_dict_get_int(e, "pid", 0));
		if (udk_dict_get_int(e, "crashes", 0))
			printf(", crashed %" PRId64 " times", udk_dict_get_int(e, "crashes", 0));
		printf("\n");
		if (udk_dict_get_string(e, "reason"))
			printf("  %s\n", udk_dict_get_string(e, "reason"));
		for (size_t k = 0; k < udk_array_size(fns); k++)
			printf("  %s\n", udk_value_get_string(udk_array_get(fns, k)));
		/* what the device's family adds (describe_model) */
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			static const char *const known[] = { "name", "model", "location", "state", "pid", "crashes",
							     "reason", "functions", NULL };
			const char *key = udk_dict_key_at(e, k);
			struct udk_value *v = udk_dict_value_at(e, k);
			bool skip = false;
			for (const char *const *q = known; *q; q++)
				skip |= streq(*q, key);
			if (skip)
				continue;
			if (udk_value_get_type(v) == UDK_VALUE_STRING)
				printf("  %s: %s\n", key, udk_value_get_string(v));
			else if (udk_value_get_type(v) == UDK_VALUE_INT)
				printf("  %s: %" PRId64 "\n", key, udk_value_get_int(v, 0));
		}
	}
	udk_value_unref(reply);
	return 0;
}

static int
cmd_families(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *reply = NULL, *list;
	int r;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: udkctl families [NAME]\n");
		return 2;
	}
	r = udk_client_call(c, OP_FAMILIES, NULL, &reply);
	if (r < 0)
		return fail(r, "families");
	list = udk_dict_get(reply, "families");
	if (opt_json) {
		print_json(reply);
		udk_value_unref(reply);
		return 0;
	}
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i), *cl = udk_dict_get(e, "classes");
		struct udk_value *keys = udk_dict_get(e, "keys"), *ents = udk_dict_get(e, "entitlements");
		const char *name = udk_dict_get_string(e, "name");

		if (argc == 1 && !streq(argv[0], name))
			continue;
		printf("%s: %s (%s)\n", name, udk_dict_get_string(e, "title") ? udk_dict_get_string(e, "title") : "",
		       udk_dict_get_string(e, "docs") ? udk_dict_get_string(e, "docs") : "no docs");
		for (size_t k = 0; k < udk_array_size(cl); k++) {
			struct udk_value *x = udk_array_get(cl, k);
			const char *role = udk_dict_get_string(x, "role");
			printf("  class %s : %s, needs %s%s%s\n", udk_dict_get_string(x, "name"),
			       udk_dict_get_string(x, "super"), udk_dict_get_string(x, "entitlement"),
			       role ? "; IOClass role: " : "", role ? role : "");
		}
		if (udk_array_size(keys)) {
			printf("  matching keys:");
			for (size_t k = 0; k < udk_array_size(keys); k++)
				printf(" %s", udk_value_get_string(udk_array_get(keys, k)));
			printf("\n");
		}
		for (size_t k = 0; k < udk_array_size(ents); k++)
			printf("  entitlement %s\n", udk_value_get_string(udk_array_get(ents, k)));
		if (udk_dict_get_string(e, "model_kind"))
			printf("  simulated devices of kind \"%s\"\n", udk_dict_get_string(e, "model_kind"));
		/* the family's own state (its describe()), when one family is asked for */
		if (argc == 1 && udk_value_get_type(udk_dict_get(e, "state")) == UDK_VALUE_DICT) {
			struct udk_value *st = udk_dict_get(e, "state");
			for (size_t k = 0; k < udk_dict_size(st); k++)
				print_value_line("  ", udk_dict_key_at(st, k), udk_dict_value_at(st, k));
		}
	}
	udk_value_unref(reply);
	return 0;
}

/* ---- trust, developer mode, access ---- */

static void
print_trust(const struct udk_value *reply)
{
	struct udk_value *keys = udk_dict_get(reply, "keys");

	printf("developer mode: %s\n", udk_dict_get_bool(reply, "developer_mode", false) ? "ON" : "off");
	if (udk_array_size(keys) == 0)
		printf("no trusted keys (add one: udkctl trust add KEY.public)\n");
	for (size_t i = 0; i < udk_array_size(keys); i++) {
		struct udk_value *k = udk_array_get(keys, i), *bs = udk_dict_get(k, "bundles");
		printf("%s  %s\n", udk_dict_get_string(k, "id"), udk_dict_get_string(k, "comment"));
		for (size_t j = 0; j < udk_array_size(bs); j++)
			printf("  signs %s\n", udk_value_get_string(udk_array_get(bs, j)));
	}
}

static int
cmd_trust(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	char *text = NULL;
	size_t len = 0;
	int r;

	if (argc < 1 || (streq(argv[0], "list") ? argc != 1 : argc != 2) ||
	    (!streq(argv[0], "list") && !streq(argv[0], "add") && !streq(argv[0], "remove"))) {
		fprintf(stderr, "usage: udkctl trust list | trust add KEY.public | trust remove KEY-ID\n");
		return 2;
	}
	if (streq(argv[0], "add")) {
		r = read_file(argv[1], 64 * 1024, &text, &len);
		if (r < 0) {
			udk_set_reason(r, "cannot read %s: %s", argv[1], strerror(-r));
			return fail(r, "trust add");
		}
	}
	body = proto_trust_encode(&(struct proto_trust_req){
		.action = argv[0],
		.key = text,
		.id = streq(argv[0], "remove") ? argv[1] : NULL,
	});
	free(text);
	r = udk_client_call(c, OP_TRUST, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, argv[0]);
	if (opt_json)
		print_json(reply);
	else
		print_trust(reply);
	udk_value_unref(reply);
	return 0;
}

static int
cmd_developer(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	int r;

	if (argc > 1 || (argc == 1 && !streq(argv[0], "on") && !streq(argv[0], "off") && !streq(argv[0], "status"))) {
		fprintf(stderr, "usage: udkctl developer [on|off|status]\n");
		return 2;
	}
	body = proto_developer_encode(&(struct proto_developer_req){ .action = argc ? argv[0] : "status" });
	r = udk_client_call(c, OP_DEVELOPER, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, "developer");
	if (opt_json)
		print_json(reply);
	else if (udk_dict_get_bool(reply, "developer_mode", false))
		printf("developer mode ON: unsigned bundles, any signing key and development wildcards are accepted\n");
	else
		printf("developer mode off: only bundles signed by trusted keys run\n");
	udk_value_unref(reply);
	return 0;
}

static void
print_access(const struct udk_value *reply)
{
	struct udk_value *gs = udk_dict_get(reply, "grants"), *rs = udk_dict_get(reply, "requests");
	struct udk_value *ls = udk_dict_get(reply, "connections"), *any = udk_dict_get(reply, "open_to_any_app");

	printf("grants:%s\n", udk_array_size(gs) ? "" : " none");
	for (size_t i = 0; i < udk_array_size(gs); i++) {
		struct udk_value *g = udk_array_get(gs, i);
		if (udk_dict_get_string(g, "app"))
			printf("  %s -> %s (sha256 %.16s...)\n", udk_dict_get_string(g, "app"),
			       udk_dict_get_string(g, "driver"), udk_dict_get_string(g, "sha256"));
		else
			printf("  apps signed by key %s -> %s\n", udk_dict_get_string(g, "key_id"),
			       udk_dict_get_string(g, "driver"));
	}
	printf("requests (refused):%s\n", udk_array_size(rs) ? "" : " none");
	for (size_t i = 0; i < udk_array_size(rs); i++) {
		struct udk_value *q = udk_array_get(rs, i);
		printf("  %s -> %s, %" PRId64 " time(s); grant with: udkctl access grant %s %s\n",
		       udk_dict_get_string(q, "app"), udk_dict_get_string(q, "driver"), udk_dict_get_int(q, "count", 0),
		       udk_dict_get_string(q, "driver"), udk_dict_get_string(q, "app"));
	}
	printf("open connections:%s\n", udk_array_size(ls) ? "" : " none");
	for (size_t i = 0; i < udk_array_size(ls); i++) {
		struct udk_value *l = udk_array_get(ls, i);
		printf("  %s (pid %" PRId64 ") -> %s, allowed by %s\n", udk_dict_get_string(l, "app"),
		       udk_dict_get_int(l, "pid", 0), udk_dict_get_string(l, "driver"),
		       udk_dict_get_string(l, "allowed_by"));
	}
	for (size_t i = 0; i < udk_array_size(any); i++)
		printf("%s admits any app (allow-any-userclient-access)\n", udk_value_get_string(udk_array_get(any, i)));
	gs = udk_dict_get(reply, "device_grants");
	rs = udk_dict_get(reply, "device_requests");
	printf("device grants:%s\n", udk_array_size(gs) ? "" : " none");
	for (size_t i = 0; i < udk_array_size(gs); i++) {
		struct udk_value *g = udk_array_get(gs, i);
		printf("  %s %s -> %s\n", udk_dict_get_string(g, "family"), udk_dict_get_string(g, "what"),
		       udk_dict_get_string(g, "driver"));
	}
	printf("device requests (refused):%s\n", udk_array_size(rs) ? "" : " none");
	for (size_t i = 0; i < udk_array_size(rs); i++) {
		struct udk_value *q = udk_array_get(rs, i);
		printf("  %s wants %s %s (last: %s), %" PRId64 " time(s); grant with: udkctl access grant --%s %s %s\n",
		       udk_dict_get_string(q, "driver"), udk_dict_get_string(q, "family"), udk_dict_get_string(q, "what"),
		       udk_dict_get_string(q, "device"), udk_dict_get_int(q, "count", 0), udk_dict_get_string(q, "family"),
		       udk_dict_get_string(q, "what"), udk_dict_get_string(q, "driver"));
	}
	if (udk_dict_get_int(reply, "hidden_other_users", 0))
		printf("(%" PRId64 " more about other users' apps, shown only to root)\n",
		       udk_dict_get_int(reply, "hidden_other_users", 0));
}

static int
cmd_access(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	const char *a = argc ? argv[0] : "";
	const char *family = NULL, *what = NULL;
	int r;

	/* a family's device grant: grant|revoke --FAMILY WHAT DRIVER */
	if (argc >= 2 && startswith(argv[1], "--") && argv[1][2]) {
		family = argv[1] + 2;
		what = argc >= 3 ? argv[2] : NULL;
		if (!(streq(a, "grant") && argc == 4) && !(streq(a, "revoke") && argc == 4)) {
			fprintf(stderr, "usage: udkctl access grant|revoke --FAMILY WHAT DRIVER\n");
			return 2;
		}
	} else if (!(streq(a, "list") && argc <= 2) && !(streq(a, "grant") && argc == 3) &&
		   !(streq(a, "revoke") && (argc == 2 || argc == 3)) && !(streq(a, "explain") && argc == 3)) {
		fprintf(stderr, "usage: udkctl access list [DRIVER]\n"
				"       udkctl access grant DRIVER /path/to/app | key:KEYID\n"
				"       udkctl access revoke DRIVER [/path/to/app | key:KEYID]\n"
				"       udkctl access explain DRIVER /path/to/app\n"
				"       udkctl access grant|revoke --FAMILY WHAT DRIVER   a family's protected devices\n"
				"                (the refusal a driver gets names the exact command)\n");
		return 2;
	}
	if (family) {
		body = proto_access_encode(&(struct proto_access_req){
			.action = a,
			.family = family,
			.what = what,
			.driver = argv[3],
		});
		r = udk_client_call(c, OP_ACCESS, body, &reply);
		udk_value_unref(body);
		if (r < 0)
			return fail(r, a);
		if (opt_json)
			print_json(reply);
		else if (streq(a, "grant"))
			printf("granted %s %s to %s\n", udk_dict_get_string(reply, "family"),
			       udk_dict_get_string(reply, "what"), udk_dict_get_string(reply, "driver"));
		else
			printf("%s: %" PRId64 " %s grant(s) removed (%s); what they allowed is closed\n",
			       udk_dict_get_string(reply, "driver"), udk_dict_get_int(reply, "grants_removed", 0),
			       udk_dict_get_string(reply, "family"), udk_dict_get_string(reply, "what"));
		udk_value_unref(reply);
		return 0;
	}
	{
		char real[PATH_MAX];
		/* paths are udkd's to resolve, but a relative one is the caller's */
		const char *app = NULL;

		if (argc >= 3)
			app = argv[2][0] != '/' && !startswith(argv[2], "key:") && realpath(argv[2], real) ? real
													      : argv[2];

		body = proto_access_encode(&(struct proto_access_req){
			.action = a,
			.driver = argc >= 2 ? argv[1] : NULL,
			.app = app,
		});
	}
	r = udk_client_call(c, OP_ACCESS, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, a);
	if (opt_json) {
		print_json(reply);
	} else if (streq(a, "list")) {
		print_access(reply);
	} else if (streq(a, "grant")) {
		printf("granted %s access to %s\n",
		       udk_dict_get_string(reply, "app") ? udk_dict_get_string(reply, "app")
							 : udk_dict_get_string(reply, "key_id"),
		       udk_dict_get_string(reply, "driver"));
	} else if (streq(a, "revoke")) {
		printf("%s: %" PRId64 " grant(s) removed, %" PRId64 " open connection(s) cut\n",
		       udk_dict_get_string(reply, "driver"), udk_dict_get_int(reply, "grants_removed", 0),
		       udk_dict_get_int(reply, "connections_cut", 0));
	} else {
		if (udk_dict_get_bool(reply, "allowed", false))
			printf("%s may open %s (allowed by %s)\n", udk_dict_get_string(reply, "app"),
			       udk_dict_get_string(reply, "driver"), udk_dict_get_string(reply, "allowed_by"));
		else
			printf("refused (%s): %s\n", udk_dict_get_string(reply, "code"),
			       udk_dict_get_string(reply, "reason"));
	}
	udk_value_unref(reply);
	return 0;
}

/* ---- power ---- */

static int
cmd_power(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL, *list, *ts;
	int r;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: udkctl power\n");
		return 2;
	}
	body = proto_power_encode(&(struct proto_power_req){ .action = "list" });
	r = udk_client_call(c, OP_POWER, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, "power");
	if (opt_json) {
		print_json(reply);
		udk_value_unref(reply);
		return 0;
	}
	printf("system: %s", udk_dict_get_string(reply, "system"));
	if (udk_dict_get_string(reply, "transition"))
		printf(" (%s in progress for %" PRId64 " ms)", udk_dict_get_string(reply, "transition"),
		       udk_dict_get_int(reply, "transition_ms", 0));
	printf("; SetPowerState deadline %" PRId64 " ms\n", udk_dict_get_int(reply, "power_timeout_ms", 0));
	list = udk_dict_get(reply, "services");
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i), *hs = udk_dict_get(e, "history");
		printf("%*s%s  %s", (int)udk_dict_get_int(e, "depth", 0) * 2, "", udk_dict_get_string(e, "path"),
		       udk_dict_get_string(e, "state"));
		if (udk_dict_get_string(e, "pending"))
			printf(" -> %s (waiting %" PRId64 " ms)", udk_dict_get_string(e, "pending"),
			       udk_dict_get_int(e, "pending_ms", 0));
		if (udk_dict_get_bool(e, "busy", false))
			printf(", busy");
		if (udk_dict_get_bool(e, "idled", false))
			printf(", idle");
		if (udk_dict_get_int(e, "idle_timeout_ms", 0))
			printf(", idles after %" PRId64 " ms", udk_dict_get_int(e, "idle_timeout_ms", 0));
		printf("  [%s]\n", udk_dict_get_string(e, "driver") ? udk_dict_get_string(e, "driver") : "?");
		for (size_t k = 0; k < udk_array_size(hs); k++) {
			struct udk_value *h = udk_array_get(hs, k);
			printf("%*s  #%" PRId64 " %s -> %s (%s): %s, %.2f ms%s%s\n", (int)udk_dict_get_int(e, "depth", 0) * 2,
			       "", udk_dict_get_int(h, "seq", 0), udk_dict_get_string(h, "from"),
			       udk_dict_get_string(h, "to"), udk_dict_get_string(h, "kind"), udk_dict_get_string(h, "result"),
			       (double)udk_dict_get_int(h, "elapsed_us", 0) / 1000,
			       udk_dict_get_string(h, "reason") ? ": " : "",
			       udk_dict_get_string(h, "reason") ? udk_dict_get_string(h, "reason") : "");
		}
	}
	ts = udk_dict_get(reply, "timeouts");
	printf("missed SetPowerState deadlines: %" PRId64 "\n", udk_dict_get_int(reply, "timeouts_total", 0));
	for (size_t i = 0; i < udk_array_size(ts); i++) {
		struct udk_value *t = udk_array_get(ts, i);
		printf("  %s on %s: %s -> %s during %s, no acknowledgement after %" PRId64 " ms\n",
		       udk_dict_get_string(t, "driver"), udk_dict_get_string(t, "path"), udk_dict_get_string(t, "from"),
		       udk_dict_get_string(t, "to"), udk_dict_get_string(t, "kind"), udk_dict_get_int(t, "waited_ms", 0));
	}
	udk_value_unref(reply);
	return 0;
}

static int
cmd_system(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	int r;

	if (argc < 1 || argc > 2 || (!streq(argv[0], "sleep") && !streq(argv[0], "wake")) ||
	    (argc == 2 && (!streq(argv[0], "sleep") || (!streq(argv[1], "off") && !streq(argv[1], "low"))))) {
		fprintf(stderr, "usage: udkctl system sleep [off|low] | system wake\n");
		return 2;
	}
	body = proto_power_encode(&(struct proto_power_req){
		.action = argv[0],
		.has_state = argc == 2,
		.state = argc == 2 && streq(argv[1], "low") ? 1 : 0,
	});
	r = udk_client_call(c, OP_POWER, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, argv[0]);
	if (opt_json)
		print_json(reply);
	else
		printf("system %s: %s; %" PRId64 " driver(s) changed state, %" PRId64
		       " missed the deadline (killed and restarted), %.1f ms\n",
		       argv[0], udk_dict_get_string(reply, "system"), udk_dict_get_int(reply, "transitioned", 0),
		       udk_dict_get_int(reply, "timeouts", 0), (double)udk_dict_get_int(reply, "elapsed_us", 0) / 1000);
	udk_value_unref(reply);
	return 0;
}

/*
 * udkctl errors [--markdown] [CODE]: udk's error codes, from the one table
 * in lib/common/error.c.  --markdown writes docs/errors.md exactly.
 */
static int
cmd_errors(struct udk_client *c, int argc, char **argv)
{
	bool markdown = argc > 0 && streq(argv[0], "--markdown");
	int only = 0;

	(void)c;
	if (markdown) {
		argc--;
		argv++;
	}
	if (argc > 1 || (markdown && argc)) {
		fprintf(stderr, "usage: udkctl errors [--markdown] [CODE]\n");
		return 2;
	}
	if (argc == 1 && !(only = udk_error_parse(argv[0]))) {
		fprintf(stderr, "udkctl: \"%s\" is not a udk error code; `udkctl errors` lists them all\n", argv[0]);
		return 1;
	}
	if (markdown) {
		printf("<!-- Generated by `udkctl errors --markdown` from the table in lib/common/error.c:\n"
		       "     edit the table, then run `ninja -C BUILD errors-doc`.  tests/meta/errors.sh checks it. -->\n"
		       "# udk error codes\n\n"
		       "Every failing udk function returns `-errno` or `-UDK_E_*` "
		       "(`include/udk/udk.h`) and, where a user must act, a sentence naming\n"
		       "what failed and what to do (`udk_error_reason()`, `\"message\"` in `udkctl --json`).\n"
		       "This is the list of udk's own codes. `udkctl errors CODE` prints one of them.\n");
	}
	struct udk_value *arr = udk_value_new_array();
	for (int e = UDK_E_FIRST; e < UDK_E_LAST; e++) {
		if (only && -only != e)
			continue;
		if (markdown) {
			printf("\n## %s\n\n%s (%d).\n\n**When:** %s\n\n**What to do:** %s\n", udk_error_name(-e),
			       udk_strerror(-e), e, udk_error_when(-e), udk_error_fix(-e));
		} else if (opt_json) {
			struct udk_value *o = udk_value_new_dict();
			udk_dict_set_string(o, "code", udk_error_name(-e));
			udk_dict_set_int(o, "value", e);
			udk_dict_set_string(o, "words", udk_strerror(-e));
			udk_dict_set_string(o, "when", udk_error_when(-e));
			udk_dict_set_string(o, "fix", udk_error_fix(-e));
			udk_array_append_take(arr, o);
		} else {
			printf("%s (%d): %s\n  when: %s\n  what to do: %s\n", udk_error_name(-e), e, udk_strerror(-e),
			       udk_error_when(-e), udk_error_fix(-e));
		}
	}
	if (opt_json && !markdown)
		print_json(arr);
	udk_value_unref(arr);
	return 0;
}

/* ---- the driver lifecycle: install, upgrade, uninstall ---- */

static void
print_lifecycle_result(const struct udk_value *reply)
{
	const struct udk_value *lc = udk_dict_get(reply, "lifecycle");
	const char *state = udk_dict_get_string(lc, "state");

	printf("%s%s%s at %s: %s\n", udk_dict_get_string(reply, "identifier"),
	       udk_dict_get_string(reply, "version") ? " version " : "",
	       udk_dict_get_string(reply, "version") ? udk_dict_get_string(reply, "version") : "",
	       udk_dict_get_string(reply, "path") ? udk_dict_get_string(reply, "path") : "?", state ? state : "?");
	if (udk_dict_get_string(lc, "reason"))
		printf("  %s\n", udk_dict_get_string(lc, "reason"));
	if (udk_dict_get_string(reply, "refusal") && !streq(state, "waiting-for-trust"))
		printf("  not running (%s): %s\n", udk_dict_get_string(reply, "refusal"),
		       udk_dict_get_string(reply, "refusal_reason") ? udk_dict_get_string(reply, "refusal_reason") : "");
}

/* The bundle argument as udkd needs it: an absolute path without symbolic links. */
static char *
bundle_arg_path(const char *arg)
{
	char *p = realpath(arg, NULL);

	if (!p) {
		udk_set_reason(-errno, "%s: %s", arg, strerror(errno));
		return NULL;
	}
	return p;
}

static int
cmd_install(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL;
	char *path;
	int r;

	if (argc != 1) {
		fprintf(stderr, "usage: udkctl install BUNDLE.dext\n");
		return 2;
	}
	if (!(path = bundle_arg_path(argv[0])))
		return fail(-ENOENT, "cannot install");
	body = proto_install_encode(&(struct proto_install_req){ .path = path });
	free(path);
	r = udk_client_call(c, OP_INSTALL, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, "cannot install");
	if (opt_json)
		print_json(reply);
	else
		print_lifecycle_result(reply);
	udk_value_unref(reply);
	return 0;
}

/* The lifecycle of @identifier as `udkctl drivers` has it (new reference), or NULL. */
static struct udk_value *
lifecycle_of(struct udk_client *c, const char *identifier, struct udk_value **ret_bundle)
{
	struct udk_value *body = proto_drivers_encode(&(struct proto_drivers_req){ .driver = identifier });
	struct udk_value *reply = NULL, *b, *lc = NULL;

	if (udk_client_call(c, OP_DRIVERS, body, &reply) >= 0) {
		b = udk_array_get(udk_dict_get(reply, "bundles"), 0);
		if (b && udk_dict_get(b, "lifecycle"))
			lc = udk_value_ref(udk_dict_get(b, "lifecycle"));
		if (b && ret_bundle)
			*ret_bundle = udk_value_ref(b);
	}
	udk_value_unref(body);
	udk_value_unref(reply);
	return lc;
}

static int
cmd_upgrade(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body, *reply = NULL, *lc = NULL, *b = NULL;
	const char *arg = NULL, *id, *state;
	bool wait = true;
	int timeout_s = 300, r;
	char *path;
	uint64_t deadline;

	for (int i = 0; i < argc; i++) {
		if (streq(argv[i], "--no-wait"))
			wait = false;
		else if (streq(argv[i], "--timeout") && i + 1 < argc)
			timeout_s = atoi(argv[++i]);
		else if (!arg && argv[i][0] != '-')
			arg = argv[i];
		else
			arg = NULL, argc = -1;
	}
	if (!arg || argc < 0) {
		fprintf(stderr, "usage: udkctl upgrade [--no-wait] [--timeout SECONDS] BUNDLE.dext\n");
		return 2;
	}
	if (!(path = bundle_arg_path(arg)))
		return fail(-ENOENT, "cannot upgrade");
	body = proto_install_encode(&(struct proto_install_req){ .path = path, .has_upgrade = true, .upgrade = true });
	free(path);
	r = udk_client_call(c, OP_INSTALL, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return fail(r, "cannot upgrade");
	id = udk_dict_get_string(reply, "identifier");
	if (!wait || !id) {
		if (opt_json)
			print_json(reply);
		else
			print_lifecycle_result(reply);
		udk_value_unref(reply);
		return 0;
	}
	/* the outcome: the new version's first Start(), or a rollback */
	deadline = now_ms() + (uint64_t)MAX(timeout_s, 1) * 1000u;
	for (;;) {
		udk_value_unref(lc);
		udk_value_unref(b);
		b = NULL;
		lc = lifecycle_of(c, id, &b);
		state = udk_dict_get_string(lc, "state");
		if (!streq(state, "upgrading") || now_ms() >= deadline)
			break;
		usleep(100000);
	}
	if (opt_json) {
		print_json(b ? b : reply);
	} else {
		printf("%s: %s%s%s\n", id, state ? state : "?", udk_dict_get_string(lc, "reason") ? ": " : "",
		       udk_dict_get_string(lc, "reason") ? udk_dict_get_string(lc, "reason") : "");
		if (streq(state, "upgrading"))
			printf("  still upgrading after %d s; `udkctl drivers %s` shows how it ends\n", timeout_s, id);
	}
	r = streq(state, "activated") ? 0 : 1;
	if (r && !opt_json)
		fprintf(stderr, "udkctl: the upgrade of %s did not activate the new version (%s)\n", id,
			state ? state : "unknown");
	udk_value_unref(lc);
	udk_value_unref(b);
	udk_value_unref(reply);
	return r;
}

static int
cmd_uninstall(struct udk_client *c, int argc, char **argv)
{
	struct udk_value *body;
	char msg[300];

	if (argc != 1) {
		fprintf(stderr, "usage: udkctl uninstall DRIVER\n");
		return 2;
	}
	body = proto_uninstall_encode(&(struct proto_uninstall_req){ .driver = argv[0] });
	snprintf(msg, sizeof(msg), "%s: uninstalled (its instances stopped, the bundle removed)", argv[0]);
	return simple(c, OP_UNINSTALL, "cannot uninstall", body, msg);
}

/* ---- report ---- */

/* Write @v as JSON into @dir/@name; false if it could not. */
static bool
report_json(const char *dir, const char *name, const struct udk_value *v)
{
	char *s = NULL, *path = strdup_printf("%s/%s", dir, name);
	FILE *f = path ? fopen(path, "we") : NULL;
	bool ok = false;

	if (f && udk_value_to_json(v, true, &s) >= 0)
		ok = fprintf(f, "%s\n", s) >= 0;
	if (f && fclose(f) != 0)
		ok = false;
	free(s);
	free(path);
	return ok;
}

static FILE *
report_open(const char *dir, const char *name)
{
	char *path = strdup_printf("%s/%s", dir, name);
	FILE *f = path ? fopen(path, "we") : NULL;
	free(path);
	return f;
}

/* One control request into a JSON file; a failure is written down instead. */
static void
report_op(struct udk_client *c, const char *dir, const char *name, uint16_t op, struct udk_value *body,
	  struct udk_value **keep)
{
	struct udk_value *reply = NULL;
	int r = udk_client_call(c, op, body, &reply);

	if (r < 0) {
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "error", udk_error_name(r));
		udk_dict_set_string(e, "message", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		report_json(dir, name, e);
		udk_value_unref(e);
	} else {
		report_json(dir, name, reply);
	}
	udk_value_unref(body);
	if (keep)
		*keep = reply;
	else
		udk_value_unref(reply);
}

/* Lines of a /proc file that start with one of @keys. */
static void
report_proc_lines(FILE *out, const char *file, const char *const *keys, bool first_only)
{
	FILE *f = fopen(file, "re");
	char line[512];
	bool seen[8] = { false };

	if (!f) {
		fprintf(out, "%s: %s\n", file, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		for (size_t k = 0; keys[k] && k < ARRAY_SIZE(seen); k++)
			if (startswith(line, keys[k]) && !(first_only && seen[k])) {
				fputs(line, out);
				seen[k] = true;
			}
	fclose(f);
}

static bool
safe_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
	       ch == '-' || ch == '_';
}

static int
cmd_report(struct udk_client *c, int argc, char **argv)
{
	const char *out = NULL;
	int lines = 200, st;
	char tmpl[PATH_MAX], dir[PATH_MAX + 64], stamp[32], *cwd_out = NULL;
	struct udk_value *logs = NULL, *status = NULL;
	time_t now = time(NULL);
	struct tm tm;
	pid_t pid;
	FILE *f;

	for (int i = 0; i < argc; i++) {
		if ((streq(argv[i], "-o") || streq(argv[i], "--output")) && i + 1 < argc)
			out = argv[++i];
		else if (streq(argv[i], "--lines") && i + 1 < argc)
			lines = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: udkctl report [-o FILE.tar.gz] [--lines N]\n");
			return 2;
		}
	}
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	if (!out)
		out = cwd_out = strdup_printf("udk-report-%s.tar.gz", stamp);
	snprintf(tmpl, sizeof(tmpl), "%s/udk-report-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpl)) {
		free(cwd_out);
		return fail(-errno, "cannot make a directory for the report");
	}
	snprintf(dir, sizeof(dir), "%s/udk-report-%s", tmpl, stamp);
	if (mkdir(dir, 0700) < 0) {
		free(cwd_out);
		return fail(-errno, "cannot make a directory for the report");
	}

	/* what the user's machine is */
	if ((f = report_open(dir, "system.txt"))) {
		struct utsname u;
		fprintf(f, "udk version %d.%d (API %d, control protocol %d)\n", UDK_VERSION_MAJOR, UDK_VERSION_MINOR,
			UDK_API_VERSION, PROTO_VERSION);
		if (uname(&u) == 0)
			fprintf(f, "kernel: %s %s %s %s\nhost: %s\n", u.sysname, u.release, u.version, u.machine,
				u.nodename);
		{
			static const char *const cpu[] = { "model name", "Hardware", "cpu model", NULL };
			static const char *const mem[] = { "MemTotal", "MemAvailable", NULL };
			report_proc_lines(f, "/proc/cpuinfo", cpu, true);
			fprintf(f, "online processors: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
			report_proc_lines(f, "/proc/meminfo", mem, true);
		}
		{
			FILE *osr = fopen("/etc/os-release", "re");
			char line[256];
			while (osr && fgets(line, sizeof(line), osr))
				if (startswith(line, "PRETTY_NAME="))
					fprintf(f, "os: %s", line + strlen("PRETTY_NAME="));
			if (osr)
				fclose(osr);
		}
		fclose(f);
	}
	/* what udkd knows: each from the request udkctl's own commands use */
	report_op(c, dir, "status.json", OP_STATUS, proto_status_encode(&(struct proto_status_req){ 0 }), &status);
	report_op(c, dir, "registry.json", OP_TREE,
		  proto_tree_encode(&(struct proto_tree_req){ .has_properties = true, .properties = true }), NULL);
	report_op(c, dir, "drivers.json", OP_DRIVERS, proto_drivers_encode(&(struct proto_drivers_req){ 0 }), NULL);
	report_op(c, dir, "power.json", OP_POWER, proto_power_encode(&(struct proto_power_req){ .action = "list" }),
		  NULL);
	report_op(c, dir, "devices.json", OP_SIM, proto_sim_encode(&(struct proto_sim_req){ .action = "list" }), NULL);
	report_op(c, dir, "families.json", OP_FAMILIES, proto_families_encode(&(struct proto_families_req){ 0 }),
		  NULL);
	{
		/* key ids, comments and the bundles they sign: public keys only, udkd holds no secret ones */
		struct udk_value *t = NULL;
		report_op(c, dir, "trust.json", OP_TRUST, proto_trust_encode(&(struct proto_trust_req){ .action = "list" }),
			  &t);
		udk_value_unref(t);
	}
	report_op(c, dir, "access.json", OP_ACCESS, proto_access_encode(&(struct proto_access_req){ .action = "list" }),
		  NULL);
	{
		struct udk_value *b = proto_driver_logs_encode(&(struct proto_driver_logs_req){
			.has_lines = true,
			.lines = lines,
		});
		report_op(c, dir, "driver-logs.json", OP_DRIVER_LOGS, b, &logs);
		if (!logs)
			fprintf(stderr, "udkctl: the drivers' output is not in the report (driver-logs.json says why; "
					"it needs root or udkd's own user)\n");
	}
	{
		/* one plain-text file per driver: its last lines of output */
		struct udk_value *list = udk_dict_get(logs, "logs");
		char *ldir = strdup_printf("%s/logs", dir);
		if (ldir && mkdir(ldir, 0700) == 0)
			for (size_t i = 0; i < udk_array_size(list); i++) {
				struct udk_value *e = udk_array_get(list, i), *ls = udk_dict_get(e, "lines");
				char name[300];
				size_t n = 0;
				for (const char *p = udk_dict_get_string(e, "identifier"); p && *p && n < 200; p++)
					name[n++] = safe_name_char(*p) ? *p : '_';
				name[n] = '\0';
				strcat(name, ".log");
				if (!(f = report_open(ldir, name)))
					continue;
				for (size_t k = 0; k < udk_array_size(ls); k++)
					fprintf(f, "%s\n", udk_value_get_string(udk_array_get(ls, k)));
				fclose(f);
			}
		free(ldir);
	}
	if ((f = report_open(dir, "README.txt"))) {
		fprintf(f, "udk bug report, made by `udkctl report` on %s\n\n"
			   "system.txt        udk version, kernel, processor, memory\n"
			   "status.json       udkd: pid, directories, limits, usage (udkctl status)\n"
			   "registry.json     the registry with properties (udkctl tree --properties)\n"
			   "drivers.json      bundles, their lifecycle states, crash histories, diagnostics (udkctl drivers)\n"
			   "power.json        power states and transitions (udkctl power)\n"
			   "devices.json      simulated devices (udkctl sim list)\n"
			   "families.json     the families udkd loads\n"
			   "trust.json        trusted key ids and comments (public keys only; no secret key)\n"
			   "access.json       access grants: app paths and hashes, never the apps' contents\n"
			   "logs/ID.log       the last %d lines of each driver's output udkd kept\n",
			stamp, lines);
		fclose(f);
	}
	udk_value_unref(logs);
	udk_value_unref(status);

	/* the archive: tar, as every system has it */
	pid = fork();
	if (pid == 0) {
		char *base = strrchr(dir, '/') + 1;
		execlp("tar", "tar", "-czf", out, "-C", tmpl, base, (char *)NULL);
		_exit(127);
	}
	st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	{
		/* the directory goes either way */
		pid_t rm = fork();
		if (rm == 0) {
			execlp("rm", "rm", "-rf", tmpl, (char *)NULL);
			_exit(127);
		}
		if (rm > 0)
			waitpid(rm, NULL, 0);
	}
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		udk_set_reason(-EIO, "tar could not write %s", out);
		free(cwd_out);
		return fail(-EIO, "cannot write the report");
	}
	if (opt_json) {
		struct udk_value *v = udk_value_new_dict();
		udk_dict_set_string(v, "report", out);
		print_json(v);
		udk_value_unref(v);
	} else {
		printf("wrote %s: attach it to the bug report (it holds no secret keys; look inside with tar -tzf)\n",
		       out);
	}
	free(cwd_out);
	return 0;
}

static const struct command {
	const char *name;
	int (*fn)(struct udk_client *c, int argc, char **argv);
	const char *help;
} commands[] = {
	{ "status", cmd_status, "                      udkd's pid, runtime directory and counts" },
	{ "tree", cmd_tree, "[--properties] [PATH]   the registry, like ioreg" },
	{ "props", cmd_props, "PATH-OR-ID             one service's properties" },
	{ "drivers", cmd_drivers, "[DRIVER]             bundles, personalities, state, crashes, diagnostics" },
	{ "explain", cmd_explain, "DRIVER SERVICE       why a driver matches a service or not, key by key" },
	{ "restart", cmd_restart, "DRIVER               re-enable a disabled driver and restart its instances" },
	{ "log-level", cmd_log_level, "[DRIVER] LEVEL     error, warning, notice, info or debug" },
	{ "debug", cmd_debug, "DRIVER                 restart the driver stopped, print the gdb command" },
	{ "rescan", cmd_rescan, "                      reload bundles from the bundle directories" },
	{ "wait", cmd_wait, "CLASS [SECONDS]         wait until a service of CLASS is registered" },
	{ "watch", cmd_watch, "[CLASS] [KEY=VALUE]... arrivals, terminations and property changes, as they come" },
	{ "set-property", cmd_set_property, "PATH KEY VALUE  change a machine-description service" },
	{ "families", cmd_families, "[NAME]              the families udkd loads: classes, keys, entitlements" },
	{ "sim", cmd_sim, "list|plug NAME|unplug NAME  simulated devices: list, hot-plug, unplug" },
	{ "trust", cmd_trust, "list|add KEY.public|remove ID  the keys whose signatures udkd accepts" },
	{ "developer", cmd_developer, "[on|off]          developer mode: unsigned bundles, development wildcards" },
	{ "power", cmd_power, "                        power state of every driver, pending changes, missed deadlines" },
	{ "system", cmd_system, "sleep [off|low]|wake    simulate system sleep and wake (children first, parents first)" },
	{ "access", cmd_access, "list|grant|revoke|explain DRIVER [APP]  which apps may open a driver;\n"
				  "         grant|revoke --FAMILY WHAT DRIVER  which drivers may use protected devices" },
	{ "install", cmd_install, "BUNDLE.dext           verify a bundle, copy it into udkd's bundle directory" },
	{ "upgrade", cmd_upgrade, "[--no-wait] BUNDLE.dext  replace an installed driver; rolled back if it cannot start" },
	{ "uninstall", cmd_uninstall, "DRIVER           stop a driver's instances and remove its bundle" },
	{ "report", cmd_report, "[-o FILE.tar.gz]       one archive for a bug report: versions, registry, drivers, logs" },
	{ "errors", cmd_errors, "[--markdown] [CODE]   udk's error codes: when each happens, what to do" },
};

#ifndef UDKCTL_TOOL_DIRS
#define UDKCTL_TOOL_DIRS ""
#endif
#ifndef UDKCTL_LIBEXEC_DIR
#define UDKCTL_LIBEXEC_DIR "/usr/local/libexec/udk"
#endif

/* The directories udkctl-NAME programs are looked for in, ':'-separated (malloc'ed). */
static char *
tool_path(void)
{
	char self[PATH_MAX], *slash;
	const char *env = getenv("UDKCTL_EXEC_PATH");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
#ifdef UDKCTL_BUILD_DIR
	/* the families' build directories, for the udkctl of the build tree only */
	if (streq(self, UDKCTL_BUILD_DIR))
		return strdup_printf("%s%s%s:%s:%s", env ? env : "", env ? ":" : "", self, UDKCTL_TOOL_DIRS,
				     UDKCTL_LIBEXEC_DIR);
#endif
	return strdup_printf("%s%s%s:%s", env ? env : "", env ? ":" : "", self, UDKCTL_LIBEXEC_DIR);
}

static bool
valid_tool_name(const char *name)
{
	if (!*name || strlen(name) > 64)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
			return false;
	return true;
}

/* Run udkctl-NAME if one exists; returns only when none does (or exec failed). */
static int
run_tool(const char *name, int argc, char **argv)
{
	char *path = tool_path(), *save = NULL;
	int r = -ENOENT;

	if (!path || !valid_tool_name(name)) {
		free(path);
		return -ENOENT;
	}
	for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *exe = strdup_printf("%s/udkctl-%s", dir, name);
		if (exe && access(exe, X_OK) == 0) {
			char **args = calloc((size_t)argc + 2, sizeof(*args));
			if (!args) {
				free(exe);
				break;
			}
			args[0] = exe;
			for (int i = 0; i < argc; i++)
				args[i + 1] = argv[i];
			if (opt_runtime_dir)
				setenv("UDK_RUNTIME_DIR", opt_runtime_dir, 1);
			if (opt_json)
				setenv("UDKCTL_JSON", "1", 1);
			fflush(stdout);
			execv(exe, args);
			r = -errno;
			fprintf(stderr, "udkctl: cannot run %s: %s\n", exe, strerror(errno));
			free(args);
		}
		free(exe);
	}
	free(path);
	return r;
}

/* The family commands found, for the usage text. */
static void
list_tools(FILE *f)
{
	char *path = tool_path(), *save = NULL;
	bool any = false;

	for (char *dir = path ? strtok_r(path, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char *exe;
			if (!startswith(e->d_name, "udkctl-") || !valid_tool_name(e->d_name + 7))
				continue;
			exe = strdup_printf("%s/%s", dir, e->d_name);
			if (exe && access(exe, X_OK) == 0) {
				if (!any)
					fprintf(f, "\nCommands families add (udkctl NAME --help):\n");
				fprintf(f, "  %s  (%s)\n", e->d_name + 7, exe);
				any = true;
			}
			free(exe);
		}
		if (d)
			closedir(d);
	}
	free(path);
}

static void
usage(FILE *f)
{
	fprintf(f, "Usage: udkctl [--json] [--runtime-dir DIR] [--wait SECONDS] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %s %s\n", commands[i].name, commands[i].help);
	list_tools(f);
	fprintf(f, "\nDRIVER is a bundle identifier, a bundle directory name or an IOUserClass.\n"
		   "SERVICE and PATH are registry paths (/IOUserResources/...) or ids (0x100000001).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct udk_client *c = NULL;
	int o, r;

	while ((o = getopt_long(argc, argv, "+jr:w:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			opt_json = true;
			break;
		case 'r':
			opt_runtime_dir = optarg;
			break;
		case 'w':
			opt_wait_s = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!streq(commands[i].name, argv[optind]))
			continue;
		if (commands[i].fn == cmd_errors)
			return cmd_errors(NULL, argc - optind - 1, argv + optind + 1);
		r = connect_udkd(&c);
		if (r < 0)
			return fail(r, "cannot reach udkd");
		r = commands[i].fn(c, argc - optind - 1, argv + optind + 1);
		udk_client_unref(c);
		return r;
	}
	run_tool(argv[optind], argc - optind - 1, argv + optind + 1);
	fprintf(stderr, "udkctl: unknown command \"%s\"\n", argv[optind]);
	usage(stderr);
	return 2;
}
