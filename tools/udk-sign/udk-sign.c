/* SPDX-License-Identifier: MIT */
/*
 * udk-sign - make keys, sign and verify driver bundles and apps.
 *
 *   udk-sign keygen [--comment TEXT] NAME        NAME.secret and NAME.public
 *   udk-sign sign --key NAME.secret BUNDLE...    write BUNDLE/_UDKSignature
 *   udk-sign verify [--key NAME.public] BUNDLE...
 *   udk-sign sign-app --key NAME.secret [--entitlements FILE] APP
 *   udk-sign verify-app [--key NAME.public] APP
 *   udk-sign key-id FILE                          the id udkd shows for a key
 *
 * See docs/security.md.
 */
#include <fcntl.h>
#include <getopt.h>

#include <udk/value.h>

#include "sign.h"
#include "util.h"

static void
usage(FILE *out)
{
	fputs("usage: udk-sign keygen [--comment TEXT] NAME\n"
	      "       udk-sign sign --key NAME.secret BUNDLE...\n"
	      "       udk-sign verify [--key NAME.public] BUNDLE...\n"
	      "       udk-sign sign-app --key NAME.secret [--entitlements FILE.plist] APP\n"
	      "       udk-sign verify-app [--key NAME.public] APP\n"
	      "       udk-sign key-id KEYFILE\n"
	      "\n"
	      "keygen writes NAME.secret (keep it private) and NAME.public (publish it;\n"
	      "users trust it with `udkctl trust add NAME.public`).\n",
	      out);
}

static int
fail(const char *what, int r)
{
	fprintf(stderr, "udk-sign: %s\n", udk_error_reason() ? udk_error_reason() : what);
	(void)r;
	return 1;
}

static int
cmd_keygen(const char *name, const char *comment)
{
	struct sign_key k;
	_cleanup_free_ char *sec = strdup_printf("%s.secret", name), *pub = strdup_printf("%s.public", name);
	int r;

	if (!sec || !pub)
		return 1;
	r = sign_key_generate(&k, comment ? comment : name);
	if (r < 0)
		return fail("cannot make a key", r);
	if ((r = sign_key_write(&k, sec, true)) < 0)
		return fail("cannot write the secret key", r);
	if ((r = sign_key_write(&k, pub, false)) < 0) {
		unlink(sec);
		return fail("cannot write the public key", r);
	}
	printf("key %s (%s)\n  secret: %s  (keep it private)\n  public: %s  (publish it; trust it with `udkctl "
	       "trust add %s`)\n",
	       k.id, k.comment, sec, pub, pub);
	return 0;
}

static int
cmd_sign(const char *keyfile, char **bundles, int n)
{
	struct sign_key k;
	int r, bad = 0;

	if (!keyfile) {
		fprintf(stderr, "udk-sign: sign needs --key NAME.secret\n");
		return 2;
	}
	if ((r = sign_key_read(keyfile, &k)) < 0)
		return fail("cannot read the key", r);
	if (!k.has_secret) {
		fprintf(stderr, "udk-sign: %s is a public key; signing needs the .secret file\n", keyfile);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		r = sign_bundle(bundles[i], &k);
		if (r < 0) {
			fprintf(stderr, "udk-sign: %s\n", udk_error_reason() ? udk_error_reason() : strerror(-r));
			bad++;
		} else {
			printf("signed %s with key %s (%s)\n", bundles[i], k.id, k.comment);
		}
	}
	return bad ? 1 : 0;
}

static void
print_entitlements(const struct udk_value *e)
{
	_cleanup_free_ char *json = NULL;

	if (udk_value_to_json(e, false, &json) >= 0)
		printf("  entitlements: %s\n", json);
}

static int
check_key(const char *keyfile, const struct sign_result *res, const char *what)
{
	struct sign_key k;

	if (!keyfile)
		return 0;
	if (sign_key_read(keyfile, &k) < 0)
		return fail("cannot read the key", -EINVAL);
	if (memcmp(k.pk, res->pk, sizeof(k.pk)) != 0) {
		fprintf(stderr, "udk-sign: %s is signed by key %s, not by %s (%s)\n", what, res->key_id, k.id, keyfile);
		return 1;
	}
	return 0;
}

static int
cmd_verify(const char *keyfile, char **bundles, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		struct sign_result res;
		int r = sign_verify_bundle(bundles[i], NULL, &res);
		if (r < 0) {
			fprintf(stderr, "udk-sign: %s: %s%s%s (%s)\n", bundles[i], res.file ? res.file : "",
				res.file ? " " : "", res.reason ? res.reason : strerror(-r), udk_error_name(r));
			bad++;
		} else if (check_key(keyfile, &res, bundles[i])) {
			bad++;
		} else {
			printf("%s: valid signature by key %s (%s)\n", bundles[i], res.key_id, res.signer);
			print_entitlements(res.entitlements);
		}
		sign_result_clear(&res);
	}
	return bad ? 1 : 0;
}

static int
cmd_sign_app(const char *keyfile, const char *entfile, const char *app)
{
	struct sign_key k;
	struct udk_value *ent = NULL;
	int r;

	if (!keyfile) {
		fprintf(stderr, "udk-sign: sign-app needs --key NAME.secret\n");
		return 2;
	}
	if ((r = sign_key_read(keyfile, &k)) < 0)
		return fail("cannot read the key", r);
	if (entfile) {
		_cleanup_free_ char *buf = NULL;
		size_t len = 0;
		if ((r = read_file(entfile, 1u << 20, &buf, &len)) < 0) {
			fprintf(stderr, "udk-sign: cannot read %s: %s\n", entfile, strerror(-r));
			return 1;
		}
		if ((r = udk_value_from_plist(buf, len, &ent)) < 0) {
			fprintf(stderr, "udk-sign: %s: %s\n", entfile, udk_error_reason() ? udk_error_reason() : "not a plist");
			return 1;
		}
	} else {
		ent = udk_value_new_dict();
	}
	r = sign_app(app, ent, &k);
	udk_value_unref(ent);
	if (r < 0)
		return fail("cannot sign the app", r);
	printf("signed %s with key %s (%s): %s%s\n", app, k.id, k.comment, app, SIGN_APP_SUFFIX);
	return 0;
}

static int
cmd_verify_app(const char *keyfile, const char *app)
{
	_cleanup_free_ char *sig = strdup_printf("%s%s", app, SIGN_APP_SUFFIX);
	_cleanup_close_ int fd = open(app, O_RDONLY | O_CLOEXEC);
	struct sign_result res;
	int r;

	if (fd < 0) {
		fprintf(stderr, "udk-sign: cannot read %s: %s\n", app, strerror(errno));
		return 1;
	}
	r = sign_verify_app(sig, fd, &res);
	if (r < 0) {
		fprintf(stderr, "udk-sign: %s: %s (%s)\n", res.file ? res.file : app, res.reason ? res.reason : "",
			udk_error_name(r));
		sign_result_clear(&res);
		return 1;
	}
	r = check_key(keyfile, &res, app);
	if (!r) {
		printf("%s: valid signature by key %s (%s)\n", app, res.key_id, res.signer);
		print_entitlements(res.entitlements);
	}
	sign_result_clear(&res);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "comment", required_argument, NULL, 'c' },
		{ "entitlements", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *comment = NULL, *ent = NULL, *cmd;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (streq(cmd, "-h") || streq(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "k:c:e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'c':
			comment = optarg;
			break;
		case 'e':
			ent = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (sign_init() < 0)
		return fail("libsodium cannot initialise", -1);
	if (streq(cmd, "keygen") && optind == argc - 1)
		return cmd_keygen(argv[optind], comment);
	if (streq(cmd, "sign") && optind < argc)
		return cmd_sign(key, argv + optind, argc - optind);
	if (streq(cmd, "verify") && optind < argc)
		return cmd_verify(key, argv + optind, argc - optind);
	if (streq(cmd, "sign-app") && optind == argc - 1)
		return cmd_sign_app(key, ent, argv[optind]);
	if (streq(cmd, "verify-app") && optind == argc - 1)
		return cmd_verify_app(key, argv[optind]);
	if (streq(cmd, "key-id") && optind == argc - 1) {
		struct sign_key k;
		if (sign_key_read(argv[optind], &k) < 0)
			return fail("cannot read the key", -1);
		printf("%s %s\n", k.id, k.comment);
		return 0;
	}
	usage(stderr);
	return 2;
}
