/* SPDX-License-Identifier: MIT */
/*
 * trust.c - which bundles udkd runs: the trust store and developer mode.
 *
 *   STATE/trust/KEYID.public   keys whose signatures udkd accepts
 *   STATE/developer-mode       present: developer mode is on
 *
 * A bundle runs when its signature is valid and made by a trusted key.  In
 * developer mode udkd also runs bundles signed by any key, or unsigned, and
 * honours development wildcards in entitlements.  A bundle whose signature
 * does not verify (a changed file, a truncated signature) never runs: in
 * developer mode the fix is to remove _UDKSignature/ and run it unsigned.
 *
 * Nobody but the machine's administrator decides what is trusted: an
 * open-source project publishes its public key, and a user who trusts it
 * runs `udkctl trust add project.public`.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "file.h"
#include "udk-config.h"
#include "udkd.h"
#include "util.h"

#define DEV_MODE_FILE "developer-mode"

static char *
trust_dir(struct udkd *d)
{
	return strdup_printf("%s/trust", d->trust.state_dir);
}

static void
keys_clear(struct udkd *d)
{
	for (size_t i = 0; i < d->trust.n_keys; i++)
		free(d->trust.keys[i].file);
	free(d->trust.keys);
	d->trust.keys = NULL;
	d->trust.n_keys = 0;
}

static int
keys_load(struct udkd *d)
{
	_cleanup_free_ char *dir = trust_dir(d);
	DIR *dd;
	struct dirent *e;

	keys_clear(d);
	if (!dir)
		return -ENOMEM;
	dd = opendir(dir);
	if (!dd)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(dd))) {
		struct trusted_key tk = { 0 }, *n;
		size_t l = strlen(e->d_name);
		if (l < 8 || strcmp(e->d_name + l - 7, ".public") != 0)
			continue;
		tk.file = strdup_printf("%s/%s", dir, e->d_name);
		if (!tk.file)
			continue;
		if (sign_key_read(tk.file, &tk.key) < 0 || tk.key.has_secret) {
			log_warning(d, "trust store: ignoring %s: %s", tk.file,
				    tk.key.has_secret ? "it holds a secret key; only public keys belong there"
						      : (udk_error_reason() ? udk_error_reason() : "unreadable"));
			free(tk.file);
			continue;
		}
		n = reallocarray(d->trust.keys, d->trust.n_keys + 1, sizeof(*n));
		if (!n) {
			free(tk.file);
			break;
		}
		d->trust.keys = n;
		d->trust.keys[d->trust.n_keys++] = tk;
	}
	closedir(dd);
	return 0;
}

/*
 * STATE/exec: the copies of driver executables that run (sign.h), each
 * unlinked as soon as it is open; what a crash left is removed here.
 */
static void
exec_dir_init(struct udkd *d)
{
	_cleanup_free_ char *dir = strdup_printf("%s/exec", d->trust.state_dir), *why = NULL;
	DIR *dd;
	struct dirent *e;

	if (!dir)
		return;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warning(d, "cannot create %s (%s): driver executables run from sealed memfds", dir, strerror(errno));
		return;
	}
	if (file_check_private_dir("directory of driver executables", dir, &why) < 0) {
		log_warning(d, "%s; driver executables run from sealed memfds", why ? why : dir);
		return;
	}
	dd = opendir(dir);
	while (dd && (e = readdir(dd))) {
		int sub;
		DIR *sd;
		struct dirent *f;
		if (e->d_name[0] == '.')
			continue;
		sub = openat(dirfd(dd), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		sd = sub >= 0 ? fdopendir(sub) : NULL;
		while (sd && (f = readdir(sd)))
			if (f->d_name[0] != '.' || (f->d_name[1] && (f->d_name[1] != '.' || f->d_name[2])))
				unlinkat(dirfd(sd), f->d_name, 0);
		if (sd)
			closedir(sd);
		else if (sub >= 0)
			close(sub);
		unlinkat(dirfd(dd), e->d_name, AT_REMOVEDIR);
	}
	if (dd)
		closedir(dd);
	sign_set_exec_dir(dir);
}

int
trust_init(struct udkd *d)
{
	_cleanup_free_ char *dir = NULL, *mode = NULL;
	struct stat st;
	int r;

	if (!d->trust.state_dir)
		d->trust.state_dir = strdup(UDK_STATE_DIR);
	dir = trust_dir(d);
	if (!d->trust.state_dir || !dir)
		return -ENOMEM;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return udk_set_reason(r, "cannot create the trust store %s: %s; give --state-dir a directory udkd "
					 "can write",
				      dir, strerror(-r));
	/*
	 * Whoever can write here decides what udkd trusts (keys, developer
	 * mode, access grants): only root or udkd itself.  main.c checked the
	 * state directory; the store inside it too.
	 */
	{
		_cleanup_free_ char *why = NULL;
		r = file_check_private_dir("trust store", dir, &why);
		if (r < 0)
			return udk_set_reason(r, "%s", why ? why : strerror(-r));
		if (r > 0)
			log_warning(d, "%s", why);
	}
	exec_dir_init(d);
	mode = strdup_printf("%s/" DEV_MODE_FILE, d->trust.state_dir);
	/* a regular file udkd (or root) made; a link or another user's file does not count */
	d->trust.developer = mode && lstat(mode, &st) == 0 && S_ISREG(st.st_mode) &&
			     (st.st_uid == 0 || st.st_uid == geteuid());
	if (mode && !d->trust.developer && lstat(mode, &st) == 0)
		log_warning(d, "%s is not a regular file of root or udkd (it is %s, owner uid %u): developer mode "
			       "stays off; remove it",
			    mode, file_kind(&st), (unsigned)st.st_uid);
	r = keys_load(d);
	if (r < 0)
		return udk_set_reason(r, "cannot read the trust store %s: %s", dir, strerror(-r));
	log_info(d, "trust store %s: %zu keys; developer mode %s", dir, d->trust.n_keys,
		 d->trust.developer ? "ON (unsigned bundles and development wildcards accepted)" : "off");
	return 0;
}

void
trust_fini(struct udkd *d)
{
	sign_set_exec_dir(NULL);
	keys_clear(d);
	free(d->trust.state_dir);
	d->trust.state_dir = NULL;
}

const struct trusted_key *
trust_find(struct udkd *d, const uint8_t pk[SIGN_PK_BYTES])
{
	for (size_t i = 0; i < d->trust.n_keys; i++)
		if (memcmp(d->trust.keys[i].key.pk, pk, SIGN_PK_BYTES) == 0)
			return &d->trust.keys[i];
	return NULL;
}

static void
refuse(struct bundle *b, int code, const char *fmt, ...) UDK_PRINTF(3, 4);

static void
refuse(struct bundle *b, int code, const char *fmt, ...)
{
	va_list ap;

	free(b->refusal_reason);
	b->refusal_reason = NULL;
	va_start(ap, fmt);
	if (vasprintf(&b->refusal_reason, fmt, ap) < 0)
		b->refusal_reason = NULL;
	va_end(ap);
	b->refusal = code;
}

void
trust_apply(struct udkd *d, struct bundle *b)
{
	int was = b->refusal;
	const struct trusted_key *tk = NULL;

	free(b->refusal_reason);
	b->refusal_reason = NULL;
	b->refusal = 0;
	b->trusted = false;
	/*
	 * A bundle that could not be read far enough has no signature to
	 * judge: its manifest errors are the reason it does not run, not a key.
	 */
	if (!b->sig_checked || !b->loadable) {
		if (was && b->refusal != was)
			log_info(d, "%s: no longer refused by trust, but it cannot be used: %s", b->dirname,
				 "see its errors in `udkctl drivers`");
		return;
	}
	switch (b->sig.status) {
	case 0:
		tk = trust_find(d, b->sig.pk);
		b->trusted = tk != NULL;
		if (!tk && !d->trust.developer)
			refuse(b, -UDK_E_UNTRUSTED_KEY,
			       "%s is signed by key %s (%s), which udkd does not trust. If you trust its "
			       "publisher, add their public key: `udkctl trust add KEY.public`; to try it while "
			       "developing, `udkctl developer on`",
			       b->dirname, b->sig.key_id, b->sig.signer[0] ? b->sig.signer : "no name");
		break;
	case -UDK_E_UNSIGNED:
		if (!d->trust.developer)
			refuse(b, -UDK_E_UNSIGNED,
			       "%s is not signed, and udkd runs unsigned bundles only in developer mode: sign it "
			       "(`udk-sign sign --key YOUR.secret %s`, then `udkctl trust add YOUR.public`), or "
			       "`udkctl developer on` while developing",
			       b->dirname, b->path);
		break;
	default:
		refuse(b, b->sig.status < 0 ? b->sig.status : -UDK_E_BAD_SIGNATURE,
		       "%s: %s%s%s; the bundle is not run%s", b->dirname, b->sig.file ? b->sig.file : "",
		       b->sig.file ? " " : "", b->sig.reason ? b->sig.reason : "the signature does not verify",
		       d->trust.developer ? " (developer mode runs unsigned bundles: remove _UDKSignature/ to run "
					    "it unsigned)"
					  : "");
		break;
	}
	/* a bundle other users can change: sshd refuses such keys, udkd such drivers */
	if (!b->refusal && b->unsafe && !d->trust.developer)
		refuse(b, -UDK_E_UNSAFE_PATH,
		       "%s: %s, so other users could change what udkd runs as a driver. Install it where only "
		       "root can write (owned by root, without group or other write permission, up to /), e.g. "
		       UDK_BUNDLE_DIR "; `udkctl developer on` runs it anyway while developing",
		       b->dirname, b->unsafe);
	else if (b->unsafe && d->trust.developer && !was)
		udkd_log(d, UDK_LOG_WARNING, "bundle",
			 "%s: %s: other users could change what udkd runs as this driver; developer mode runs it "
			 "anyway, production mode will not",
			 b->path, b->unsafe);
	/* every driver needs the driverkit entitlement, signed or not */
	if (!b->refusal && b->loadable && !b->ent.driverkit)
		refuse(b, -UDK_E_ENTITLEMENT,
		       "%s lacks the entitlement com.apple.developer.driverkit (or org.udk.driver): add "
		       "<key>com.apple.developer.driverkit</key><true/> to its Entitlements.plist%s",
		       b->dirname, b->sig.status == 0 ? " and sign it again" : "");
	if (b->refusal && b->refusal != was)
		udkd_log(d, UDK_LOG_ERROR, "bundle", "refused %s: %s: %s", b->path, udk_error_name(b->refusal),
			 b->refusal_reason ? b->refusal_reason : "");
	else if (!b->refusal && was)
		log_notice(d, "%s is accepted now: %s", b->dirname,
			   b->sig.status == 0 ? (b->trusted ? "signed by a trusted key" : "developer mode")
					      : "unsigned, developer mode");
}

struct stop_ctx {
	struct bundle *b;
	const char *why;
};

static void
stop_uncovered(struct udkd *d, struct service *s, void *data)
{
	(void)data;
	if (s->istate == INST_NONE || s->istate == INST_STOPPING || s->istate == INST_FAILED || !s->personality)
		return;
	struct bundle *b = s->personality->bundle;
	char *detail = NULL;
	if (b->refusal) {
		log_notice(d, "stopping %s on %s: %s", b->identifier, s->provider ? s->provider->name : "?",
			   udk_error_name(b->refusal));
		service_terminate(d, s, b->refusal_reason ? b->refusal_reason : "the bundle is no longer trusted");
	} else if (s->provider && !entitlements_cover(d, b, s->provider, &detail)) {
		log_notice(d, "stopping %s on %s: %s", b->identifier, s->provider->name, detail ? detail : "");
		service_terminate(d, s, detail ? detail : "its entitlements no longer cover the device");
	}
	free(detail);
}

void
trust_reapply_all(struct udkd *d)
{
	for (size_t i = 0; i < d->n_bundles; i++)
		if (!d->bundles[i]->removed)
			trust_apply(d, d->bundles[i]);
	registry_walk(d, stop_uncovered, NULL);
	match_all(d);
}

int
trust_add(struct udkd *d, const char *key_text, struct udk_value **ret)
{
	struct sign_key k;
	_cleanup_free_ char *dir = trust_dir(d), *path = NULL, *line = NULL;
	int r, fd;

	r = sign_key_parse(key_text ? key_text : "", key_text ? strlen(key_text) : 0, "the key", &k);
	if (r < 0)
		return r;
	if (k.has_secret)
		return udk_set_reason(-EINVAL, "that is a secret key: give udkd the .public file, and keep the secret "
					       "one private");
	path = dir ? strdup_printf("%s/%s.public", dir, k.id) : NULL;
	line = sign_key_format_public(&k);
	if (!path || !line)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return udk_set_reason(-errno, "cannot write %s: %s", path, strerror(errno));
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		r = -errno;
		close(fd);
		unlink(path);
		return udk_set_reason(r ? r : -EIO, "cannot write %s", path);
	}
	close(fd);
	keys_load(d);
	log_notice(d, "trust: added key %s (%s)", k.id, k.comment);
	trust_reapply_all(d);
	*ret = udk_value_new_dict();
	udk_dict_set_string(*ret, "id", k.id);
	udk_dict_set_string(*ret, "comment", k.comment);
	return 0;
}

int
trust_remove(struct udkd *d, const char *id)
{
	for (size_t i = 0; i < d->trust.n_keys; i++) {
		struct trusted_key *tk = &d->trust.keys[i];
		if (!id || (!streq(tk->key.id, id) && !streq(tk->key.comment, id)))
			continue;
		if (unlink(tk->file) < 0)
			return udk_set_reason(-errno, "cannot remove %s: %s", tk->file, strerror(errno));
		log_notice(d, "trust: removed key %s (%s)", tk->key.id, tk->key.comment);
		keys_load(d);
		trust_reapply_all(d);
		return 0;
	}
	return udk_set_reason(-ENOENT, "no trusted key \"%s\"; `udkctl trust list` shows them", id ? id : "");
}

int
trust_set_developer(struct udkd *d, bool on)
{
	_cleanup_free_ char *path = strdup_printf("%s/" DEV_MODE_FILE, d->trust.state_dir);

	if (!path)
		return -ENOMEM;
	if (on) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return udk_set_reason(-errno, "cannot write %s: %s", path, strerror(errno));
		if (write(fd, "on\n", 3) != 3) {
			close(fd);
			return udk_set_reason(-EIO, "cannot write %s", path);
		}
		close(fd);
	} else if (unlink(path) < 0 && errno != ENOENT) {
		return udk_set_reason(-errno, "cannot remove %s: %s", path, strerror(errno));
	}
	if (d->trust.developer != on)
		log_notice(d, "developer mode %s", on ? "ON: unsigned bundles and development wildcards accepted"
						      : "off: only bundles signed by trusted keys run");
	d->trust.developer = on;
	trust_reapply_all(d);
	return 0;
}

struct udk_value *
trust_describe(struct udkd *d)
{
	struct udk_value *v = udk_value_new_dict(), *keys = udk_value_new_array();

	udk_dict_set_bool(v, "developer_mode", d->trust.developer);
	udk_dict_set_string(v, "state_dir", d->trust.state_dir);
	for (size_t i = 0; i < d->trust.n_keys; i++) {
		struct udk_value *k = udk_value_new_dict(), *bundles = udk_value_new_array();
		udk_dict_set_string(k, "id", d->trust.keys[i].key.id);
		udk_dict_set_string(k, "comment", d->trust.keys[i].key.comment);
		udk_dict_set_string(k, "file", d->trust.keys[i].file);
		for (size_t j = 0; j < d->n_bundles; j++) {
			struct bundle *b = d->bundles[j];
			if (!b->removed && b->sig.status == 0 &&
			    memcmp(b->sig.pk, d->trust.keys[i].key.pk, SIGN_PK_BYTES) == 0)
				udk_array_append_take(bundles, udk_value_new_string(b->identifier ? b->identifier
												  : b->dirname));
		}
		udk_dict_set_take(k, "bundles", bundles);
		udk_array_append_take(keys, k);
	}
	udk_dict_set_take(v, "keys", keys);
	return v;
}

int
trust_open_executable(struct udkd *d, struct bundle *b)
{
	int fd;

	(void)d;
	/*
	 * The sealed copy made while the bundle was hashed (bundle.c): a file
	 * swapped in the bundle since then is not what runs.
	 */
	if (b->exe_fd < 0)
		return udk_set_reason(-UDK_E_BAD_SIGNATURE,
				      "%s was not read when the bundle was loaded; udkd will not run it: reinstall the "
				      "bundle and run `udkctl rescan`",
				      b->executable ? b->executable : b->dirname);
	fd = fcntl(b->exe_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return udk_set_reason(-errno, "cannot duplicate the executable of %s: %s", b->dirname,
				      strerror(errno));
	return fd;
}
