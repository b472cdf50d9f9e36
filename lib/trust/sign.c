/* SPDX-License-Identifier: MIT */
/* sign.c - ed25519 keys and signatures of bundles and apps (see sign.h). */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "file.h"
#include "sign.h"
#include "util.h"

#define RESOURCES_MAX SIGN_RESOURCES_MAX
#define WALK_MAX_FILES SIGN_WALK_MAX_FILES
#define WALK_MAX_DEPTH 32

int
sign_init(void)
{
	if (sodium_init() < 0)
		return udk_set_reason(-ENOTRECOVERABLE, "libsodium cannot initialise");
	return 0;
}

static void
to_hex(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

static char *
to_base64(const uint8_t *b, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(len);

	if (s)
		sodium_bin2base64(s, len, b, n, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

/* Decode base64 into exactly @want bytes; the decoded length otherwise. */
static int
from_base64(const char *s, size_t slen, uint8_t *out, size_t max, size_t *ret_len)
{
	const char *end = NULL;

	if (sodium_base642bin(out, max, s, slen, " \t\r\n", ret_len, &end, sodium_base64_VARIANT_ORIGINAL) < 0)
		return -EINVAL;
	if (end && end != s + slen)
		return -EINVAL;
	return 0;
}

void
sign_key_id(const uint8_t pk[SIGN_PK_BYTES], char out[SIGN_KEY_ID_LEN + 1])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, pk, SIGN_PK_BYTES);
	to_hex(h, SIGN_KEY_ID_LEN / 2, out);
}

int
sign_key_generate(struct sign_key *k, const char *comment)
{
	int r = sign_init();

	if (r < 0)
		return r;
	memset(k, 0, sizeof(*k));
	crypto_sign_keypair(k->pk, k->sk);
	k->has_secret = true;
	sign_key_id(k->pk, k->id);
	snprintf(k->comment, sizeof(k->comment), "%s", comment ? comment : "");
	for (char *c = k->comment; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return 0;
}

char *
sign_key_format_public(const struct sign_key *k)
{
	_cleanup_free_ char *b = to_base64(k->pk, SIGN_PK_BYTES);

	return b ? strdup_printf("udk-ed25519-public %s %s\n", b, k->comment) : NULL;
}

int
sign_key_write(const struct sign_key *k, const char *path, bool secret)
{
	_cleanup_free_ char *b = NULL, *line = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;

	if (secret && !k->has_secret)
		return udk_set_reason(-EINVAL, "this key has no secret half");
	b = secret ? to_base64(k->sk, SIGN_SK_BYTES) : to_base64(k->pk, SIGN_PK_BYTES);
	if (!b)
		return -ENOMEM;
	line = strdup_printf("udk-ed25519-%s %s %s\n", secret ? "secret" : "public", b, k->comment);
	if (!line)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
	if (fd < 0)
		return udk_set_reason(-errno, "cannot create %s: %s%s", path, strerror(errno),
				      errno == EEXIST ? "; udk-sign never overwrites a key, remove it first" : "");
	len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0)
		return udk_set_reason(-EIO, "cannot write %s: %s", path, strerror(errno));
	sodium_memzero(line, len);
	return 0;
}

int
sign_key_parse(const char *text, size_t len, const char *origin, struct sign_key *k)
{
	char kind[32] = "";
	const char *p = text, *end = text + len, *b64, *b64_end;
	size_t n = 0;
	uint8_t buf[SIGN_SK_BYTES];
	bool secret;
	int r = sign_init();

	if (r < 0)
		return r;
	memset(k, 0, sizeof(*k));
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	for (size_t i = 0; p < end && *p != ' ' && i < sizeof(kind) - 1; i++)
		kind[i] = *p++;
	if (streq(kind, "udk-ed25519-public"))
		secret = false;
	else if (streq(kind, "udk-ed25519-secret"))
		secret = true;
	else
		return udk_set_reason(-EINVAL, "%s is not a udk key: it must start with udk-ed25519-public or "
					       "udk-ed25519-secret (make one with `udk-sign keygen`)",
				      origin);
	while (p < end && *p == ' ')
		p++;
	b64 = p;
	while (p < end && *p != ' ' && *p != '\n' && *p != '\r')
		p++;
	b64_end = p;
	if (from_base64(b64, (size_t)(b64_end - b64), buf, sizeof(buf), &n) < 0 ||
	    n != (secret ? SIGN_SK_BYTES : SIGN_PK_BYTES))
		return udk_set_reason(-EINVAL, "%s: the key is not %u bytes of base64; the file is damaged", origin,
				      secret ? SIGN_SK_BYTES : SIGN_PK_BYTES);
	while (p < end && *p == ' ')
		p++;
	{
		size_t cl = 0;
		while (p + cl < end && p[cl] != '\n' && p[cl] != '\r' && cl < sizeof(k->comment) - 1)
			cl++;
		memcpy(k->comment, p, cl);
	}
	if (secret) {
		memcpy(k->sk, buf, SIGN_SK_BYTES);
		crypto_sign_ed25519_sk_to_pk(k->pk, k->sk);
		k->has_secret = true;
		/* libsodium's secret key carries the public half: they must agree */
		if (memcmp(k->pk, buf + 32, 32) != 0)
			return udk_set_reason(-EINVAL, "%s: the secret key is damaged", origin);
	} else {
		memcpy(k->pk, buf, SIGN_PK_BYTES);
	}
	sodium_memzero(buf, sizeof(buf));
	sign_key_id(k->pk, k->id);
	return 0;
}

int
sign_key_read(const char *path, struct sign_key *k)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, 4096, &buf, &len);

	if (r < 0)
		return udk_set_reason(r, "cannot read the key %s: %s", path, strerror(-r));
	r = sign_key_parse(buf, len, path, k);
	sodium_memzero(buf, len);
	return r;
}

int
sign_hash_fd(int fd, char hex[2 * SIGN_HASH_BYTES + 1])
{
	crypto_hash_sha256_state st;
	uint8_t h[SIGN_HASH_BYTES];
	_cleanup_free_ uint8_t *buf = malloc(1 << 16);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, 1 << 16)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	}
	crypto_hash_sha256_final(&st, h);
	to_hex(h, sizeof(h), hex);
	return 0;
}

int
sign_hash_fd_max(int fd, uint64_t max, char hex[2 * SIGN_HASH_BYTES + 1])
{
	crypto_hash_sha256_state st;
	uint8_t h[SIGN_HASH_BYTES];
	_cleanup_free_ uint8_t *buf = malloc(1 << 16);
	uint64_t total = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, 1 << 16)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total += (uint64_t)n;
		if (total > max)
			return -EFBIG;
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	}
	crypto_hash_sha256_final(&st, h);
	to_hex(h, sizeof(h), hex);
	return 0;
}

static void
hash_bytes(const void *p, size_t len, char hex[2 * SIGN_HASH_BYTES + 1])
{
	uint8_t h[SIGN_HASH_BYTES];

	crypto_hash_sha256(h, p, len);
	to_hex(h, sizeof(h), hex);
}

void
sign_result_clear(struct sign_result *r)
{
	free(r->reason);
	free(r->file);
	udk_value_unref(r->entitlements);
	memset(r, 0, sizeof(*r));
}

static int
result(struct sign_result *res, int status, const char *file, const char *fmt, ...) UDK_PRINTF(4, 5);

static int
result(struct sign_result *res, int status, const char *file, const char *fmt, ...)
{
	va_list ap;

	free(res->reason);
	free(res->file);
	res->reason = NULL;
	va_start(ap, fmt);
	if (vasprintf(&res->reason, fmt, ap) < 0)
		res->reason = NULL;
	va_end(ap);
	res->file = file ? strdup(file) : NULL;
	res->status = status;
	return status;
}

/* ---- walking a bundle ---- */

struct walk {
	struct udk_value *files;	/* path -> hex SHA-256 */
	struct udk_value *links;	/* path -> target */
	unsigned n;
	uint64_t bytes;			/* hashed so far */
	struct sign_snapshot *snap;	/* verifying: files read already, ownership notes */
	/* the first problem */
	int err;
	char *err_file;
	char *err_msg;
};

static void
walk_fail(struct walk *w, int err, const char *file, const char *fmt, ...) UDK_PRINTF(4, 5);

static void
walk_fail(struct walk *w, int err, const char *file, const char *fmt, ...)
{
	va_list ap;

	if (w->err)
		return;
	w->err = err;
	w->err_file = file ? strdup(file) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&w->err_msg, fmt, ap) < 0)
		w->err_msg = NULL;
	va_end(ap);
}

/* Whether symbolic link @rel with @target stays inside the bundle. */
static bool
link_stays_inside(const char *rel, const char *target)
{
	int depth = 0;
	char copy[PATH_MAX];
	char *save = NULL;

	if (target[0] == '/')
		return false;
	/* the link's own directory */
	for (const char *c = rel; *c; c++)
		if (*c == '/')
			depth++;
	snprintf(copy, sizeof(copy), "%s", target);
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (streq(t, "."))
			continue;
		if (streq(t, "..")) {
			if (--depth < 0)
				return false;
		} else {
			depth++;
		}
	}
	return true;
}

char *
sign_unsafe_entry(const struct stat *st, const char *what, bool ancestor)
{
	uid_t me = geteuid();

	if (st->st_uid != 0 && st->st_uid != me)
		return strdup_printf("%s is owned by uid %u, who can change it", what, (unsigned)st->st_uid);
	if (S_ISLNK(st->st_mode))
		return NULL;
	/* a sticky directory (/tmp) lets others add entries, not replace ours */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(ancestor && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX)))
		return strdup_printf("%s is writable by %s (mode %04o)", what,
				     (st->st_mode & S_IWOTH) ? "every user" : "its group",
				     (unsigned)(st->st_mode & 07777));
	return NULL;
}

/* The hash of @rel when the snapshot read it already, else NULL. */
static const char *
snapshot_hash_of(const struct sign_snapshot *s, const char *rel)
{
	if (s->info.present && streq(rel, "Info.plist"))
		return s->info.hash;
	if (s->entitlements.present && streq(rel, "Entitlements.plist"))
		return s->entitlements.hash;
	if (s->exe_fd >= 0 && streq(rel, s->exe_rel))
		return s->exe_hash;
	return NULL;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
walk_dir(struct walk *w, int fd, const char *prefix, unsigned depth)
{
	DIR *dir;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int fd2;

	if (depth > WALK_MAX_DEPTH) {
		walk_fail(w, -ELOOP, prefix, "directories nest deeper than %u levels", WALK_MAX_DEPTH);
		close(fd);
		return;
	}
	dir = fdopendir(fd);
	if (!dir) {
		walk_fail(w, -errno, prefix, "cannot read the directory: %s", strerror(errno));
		close(fd);
		return;
	}
	while ((e = readdir(dir))) {
		char **nn;
		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		if (!*prefix && streq(e->d_name, SIGN_DIR))
			continue;
		if (w->n + n >= WALK_MAX_FILES) {
			walk_fail(w, -EFBIG, prefix, "the bundle has more than %u files", WALK_MAX_FILES);
			break;
		}
		nn = reallocarray(names, n + 1, sizeof(*names));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			names = nn ? nn : names;
			walk_fail(w, -ENOMEM, NULL, "out of memory");
			break;
		}
		names = nn;
		n++;
	}
	if (names)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && !w->err; i++) {
		_cleanup_free_ char *rel = *prefix ? strdup_printf("%s/%s", prefix, names[i]) : strdup(names[i]);
		struct stat st;

		if (!rel) {
			walk_fail(w, -ENOMEM, NULL, "out of memory");
			break;
		}
		if (++w->n > WALK_MAX_FILES) {
			walk_fail(w, -EFBIG, rel, "the bundle has more than %u files", WALK_MAX_FILES);
			break;
		}
		if (fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			walk_fail(w, -errno, rel, "cannot be examined: %s", strerror(errno));
			break;
		}
		if (w->snap && !w->snap->unsafe && !S_ISLNK(st.st_mode))
			w->snap->unsafe = sign_unsafe_entry(&st, rel, false);
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(dirfd(dir), names[i], target, sizeof(target) - 1);
			if (tl < 0) {
				walk_fail(w, -errno, rel, "cannot read the link: %s", strerror(errno));
				break;
			}
			target[tl] = 0;
			if (!link_stays_inside(rel, target)) {
				walk_fail(w, -EXDEV, rel,
					  "is a symbolic link pointing out of the bundle (to %s); a bundle must hold "
					  "its files itself: copy the file in",
					  target);
				break;
			}
			udk_dict_set_string(w->links, rel, target);
		} else if (S_ISDIR(st.st_mode)) {
			fd2 = openat(dirfd(dir), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd2 < 0) {
				walk_fail(w, -errno, rel, "cannot open the directory: %s", strerror(errno));
				break;
			}
			walk_dir(w, fd2, rel, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			char hex[2 * SIGN_HASH_BYTES + 1];
			const char *have = w->snap ? snapshot_hash_of(w->snap, rel) : NULL;
			struct stat st2;
			int r;
			if (have) {
				/* read once already (parsed or run): the hash of those bytes */
				udk_dict_set_string(w->files, rel, have);
				continue;
			}
			fd2 = file_open_regular(dirfd(dir), names[i], SIGN_FILE_MAX, false, &st2);
			if (fd2 < 0) {
				walk_fail(w, fd2, rel, "cannot be read: %s",
					  fd2 == -EFBIG ? "it is larger than the limit of a file in a bundle"
					  : fd2 == -EINVAL ? "it is no longer a regular file"
							   : strerror(-fd2));
				break;
			}
			w->bytes += (uint64_t)st2.st_size;
			if (w->bytes > SIGN_BUNDLE_MAX) {
				close(fd2);
				walk_fail(w, -EFBIG, rel, "the bundle's files add up to more than %llu bytes",
					  (unsigned long long)SIGN_BUNDLE_MAX);
				break;
			}
			r = sign_hash_fd_max(fd2, SIGN_FILE_MAX, hex);
			close(fd2);
			if (r < 0) {
				walk_fail(w, r, rel, "cannot be read: %s", strerror(-r));
				break;
			}
			udk_dict_set_string(w->files, rel, hex);
		} else {
			walk_fail(w, -EINVAL, rel, "is neither a file, a directory nor a symbolic link");
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
}

static int
walk_bundle(const char *path, struct walk *w)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	memset(w, 0, sizeof(*w));
	w->files = udk_value_new_dict();
	w->links = udk_value_new_dict();
	if (fd < 0) {
		walk_fail(w, -errno, NULL, "cannot open the bundle directory: %s", strerror(errno));
		return w->err;
	}
	walk_dir(w, fd, "", 0);
	return w->err;
}

static void
walk_free(struct walk *w)
{
	udk_value_unref(w->files);
	udk_value_unref(w->links);
	free(w->err_file);
	free(w->err_msg);
}

/* The entitlements a bundle declares: Entitlements.plist, or an empty dict. */
static int
read_entitlements(int dirfd, struct udk_value **ret, char **ret_reason)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = read_file_at(dirfd, "Entitlements.plist", 1u << 20, &buf, &len);

	*ret = NULL;
	if (r == -ENOENT) {
		*ret = udk_value_new_dict();
		return 0;
	}
	if (r < 0) {
		*ret_reason = strdup_printf("Entitlements.plist cannot be read: %s", strerror(-r));
		return r;
	}
	r = udk_value_from_plist(buf, len, ret);
	if (r < 0) {
		*ret_reason = strdup_printf("Entitlements.plist: %s", udk_error_reason() ? udk_error_reason() : "not a plist");
		return r;
	}
	if (udk_value_get_type(*ret) != UDK_VALUE_DICT) {
		*ret = udk_value_unref(*ret);
		*ret_reason = strdup("Entitlements.plist: the top level must be a <dict>");
		return -EINVAL;
	}
	return 0;
}

static int
write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = strdup_printf("%s.tmp.%d", name, (int)getpid());
	int fd;

	if (!tmp)
		return -ENOMEM;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0) {
		int r = -errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return r ? r : -EIO;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int r = -errno;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return 0;
}

static void
set_signer(struct udk_value *m, const struct sign_key *k)
{
	_cleanup_free_ char *pk = to_base64(k->pk, SIGN_PK_BYTES);
	char when[64];
	time_t t = time(NULL);
	struct tm tm;

	udk_dict_set_int(m, "UDKSignatureVersion", SIGN_VERSION);
	udk_dict_set_string(m, "KeyID", k->id);
	udk_dict_set_string(m, "PublicKey", pk ? pk : "");
	udk_dict_set_string(m, "Signer", k->comment);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	udk_dict_set_string(m, "SignedAt", when);
}

int
sign_bundle(const char *path, const struct sign_key *k)
{
	_cleanup_close_ int dirfd = -1, sigfd = -1;
	_cleanup_free_ char *info_buf = NULL, *xml = NULL, *sig64 = NULL, *why = NULL;
	struct udk_value *info = NULL, *ent = NULL, *m = NULL;
	uint8_t sig[SIGN_SIG_BYTES];
	size_t len = 0;
	struct walk w;
	int r;

	if (!k->has_secret)
		return udk_set_reason(-EINVAL, "signing needs the secret key (the .secret file), not the public one");
	if ((r = sign_init()) < 0)
		return r;
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return udk_set_reason(-errno, "cannot open the bundle %s: %s", path, strerror(errno));
	r = read_file_at(dirfd, "Info.plist", 1u << 20, &info_buf, &len);
	if (r < 0)
		return udk_set_reason(r, "%s/Info.plist cannot be read: %s", path, strerror(-r));
	r = udk_value_from_plist(info_buf, len, &info);
	if (r < 0 || udk_value_get_type(info) != UDK_VALUE_DICT) {
		/* copy: the reason is about to be rewritten */
		_cleanup_free_ char *was = strdup(r < 0 && udk_error_reason() ? udk_error_reason()
									   : "the top level must be a <dict>");
		udk_value_unref(info);
		return udk_set_reason(r < 0 ? r : -EINVAL, "%s/Info.plist: %s; fix it before signing", path,
				      was ? was : "?");
	}
	r = read_entitlements(dirfd, &ent, &why);
	if (r < 0) {
		udk_value_unref(info);
		return udk_set_reason(r, "%s/%s; fix it before signing", path, why ? why : "?");
	}
	if (walk_bundle(path, &w) < 0) {
		r = udk_set_reason(w.err, "cannot sign %s: %s%s%s", path, w.err_file ? w.err_file : "",
				   w.err_file ? " " : "", w.err_msg ? w.err_msg : "");
		goto out;
	}
	m = udk_value_new_dict();
	set_signer(m, k);
	if (udk_dict_get_string(info, "CFBundleIdentifier"))
		udk_dict_set_string(m, "CFBundleIdentifier", udk_dict_get_string(info, "CFBundleIdentifier"));
	if (udk_dict_get_string(info, "CFBundleExecutable"))
		udk_dict_set_string(m, "CFBundleExecutable", udk_dict_get_string(info, "CFBundleExecutable"));
	udk_dict_set(m, "Entitlements", ent);
	udk_dict_set(m, "Files", w.files);
	udk_dict_set(m, "Symlinks", w.links);
	r = udk_value_to_plist_xml(m, &xml);
	if (r < 0)
		goto out;
	crypto_sign_detached(sig, NULL, (const uint8_t *)xml, strlen(xml), k->sk);
	sig64 = to_base64(sig, sizeof(sig));
	if (!sig64) {
		r = -ENOMEM;
		goto out;
	}
	if (mkdirat(dirfd, SIGN_DIR, 0755) < 0 && errno != EEXIST) {
		r = udk_set_reason(-errno, "cannot create %s/%s: %s", path, SIGN_DIR, strerror(errno));
		goto out;
	}
	sigfd = openat(dirfd, SIGN_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sigfd < 0) {
		r = udk_set_reason(-errno, "cannot open %s/%s: %s", path, SIGN_DIR, strerror(errno));
		goto out;
	}
	r = write_file_atomic(sigfd, "CodeResources", xml, strlen(xml), 0644);
	if (r >= 0) {
		char *line = strdup_printf("%s\n", sig64);
		r = line ? write_file_atomic(sigfd, "CodeSignature", line, strlen(line), 0644) : -ENOMEM;
		free(line);
	}
	if (r < 0)
		r = udk_set_reason(r, "cannot write the signature into %s: %s", path, strerror(-r));
out:
	walk_free(&w);
	udk_value_unref(m);
	udk_value_unref(ent);
	udk_value_unref(info);
	return r;
}

/* Check the manifest's signer fields and signature; fill @res. */
static int
check_signed(struct sign_result *res, const char *what, const struct udk_value *m, const void *bytes, size_t len,
	     const uint8_t *sig)
{
	const char *pk64 = udk_dict_get_string(m, "PublicKey");
	const char *id = udk_dict_get_string(m, "KeyID");
	int64_t version = udk_dict_get_int(m, "UDKSignatureVersion", -1);
	size_t n = 0;
	char want_id[SIGN_KEY_ID_LEN + 1];

	if (udk_value_get_type(m) != UDK_VALUE_DICT)
		return result(res, -UDK_E_BAD_SIGNATURE, what, "is not a <dict>: the signature is damaged; sign again");
	if (version != SIGN_VERSION)
		return result(res, -UDK_E_BAD_SIGNATURE, what,
			      "has UDKSignatureVersion %lld; this udkd reads version %d: sign again with this "
			      "release's udk-sign",
			      (long long)version, SIGN_VERSION);
	if (!pk64 || from_base64(pk64, strlen(pk64), res->pk, sizeof(res->pk), &n) < 0 || n != SIGN_PK_BYTES)
		return result(res, -UDK_E_BAD_SIGNATURE, what,
			      "has no valid PublicKey (a <string> of 32 bytes in base64): sign again");
	sign_key_id(res->pk, want_id);
	if (!id || !streq(id, want_id))
		return result(res, -UDK_E_BAD_SIGNATURE, what, "names key %s but holds the public key of %s: sign again",
			      id ? id : "(none)", want_id);
	memcpy(res->key_id, want_id, sizeof(want_id));
	snprintf(res->signer, sizeof(res->signer), "%s",
		 udk_dict_get_string(m, "Signer") ? udk_dict_get_string(m, "Signer") : "");
	if (crypto_sign_verify_detached(sig, bytes, len, res->pk) != 0)
		return result(res, -UDK_E_BAD_SIGNATURE, what,
			      "does not match its signature: it was changed after signing by key %s, or the "
			      "signature belongs to another manifest; sign again",
			      res->key_id);
	if (udk_value_get_type(udk_dict_get(m, "Entitlements")) != UDK_VALUE_DICT)
		return result(res, -UDK_E_BAD_SIGNATURE, what, "has no Entitlements <dict>: sign again");
	return 0;
}

/* ---- reading a bundle once ---- */

static void
blob_clear(struct sign_blob *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Read @name of @dirfd into @b (absent: b->err = -ENOENT). */
static void
blob_read(int dirfd, const char *name, size_t max, struct sign_blob *b)
{
	_cleanup_close_ int fd = -1;
	char *buf = NULL;
	size_t len = 0;
	int r;

	blob_clear(b);
	fd = file_open_regular(dirfd, name, max, false, &b->st);
	if (fd < 0) {
		b->err = fd;
		return;
	}
	r = file_read_fd(fd, max, &buf, &len);
	if (r < 0) {
		b->err = r;
		return;
	}
	b->data = (uint8_t *)buf;
	b->len = len;
	b->present = true;
	hash_bytes(buf, len, b->hash);
}

/* The directories from @path up to /: nobody but root (or udkd) may change them. */
static char *
unsafe_ancestors(int dirfd, const char *path)
{
	char buf[PATH_MAX], *slash;
	struct stat st;
	char *why;

	if (fstat(dirfd, &st) < 0)
		return NULL;
	if ((why = sign_unsafe_entry(&st, path, false)))
		return why;
	if (!realpath(path, buf))
		return NULL;
	while ((slash = strrchr(buf, '/'))) {
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (lstat(buf, &st) < 0)
			return NULL;
		if ((why = sign_unsafe_entry(&st, buf, true)))
			return why;
		if (streq(buf, "/"))
			break;
	}
	return NULL;
}

int
sign_snapshot_open(const char *path, struct sign_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->dirfd = -1;
	s->exe_fd = -1;
	s->exe_err = -ENOENT;
	s->path = strdup(path);
	s->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dirfd < 0)
		return -errno;
	s->unsafe = unsafe_ancestors(s->dirfd, path);
	blob_read(s->dirfd, "Info.plist", SIGN_MANIFEST_MAX, &s->info);
	if (!s->unsafe && s->info.present)
		s->unsafe = sign_unsafe_entry(&s->info.st, "Info.plist", false);
	return 0;
}

/* @target, relative to the bundle's top, without "." and ".."; NULL if it leaves. */
static char *
normalize_inside(const char *target)
{
	char copy[PATH_MAX], out[PATH_MAX] = "";
	char *save = NULL;
	size_t len = 0;

	if (target[0] == '/' || strlen(target) >= sizeof(copy))
		return NULL;
	memcpy(copy, target, strlen(target) + 1);
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (streq(t, "."))
			continue;
		if (streq(t, "..")) {
			char *p = strrchr(out, '/');
			if (!len)
				return NULL;
			len = p ? (size_t)(p - out) : 0;
			out[len] = '\0';
			continue;
		}
		if (len + 1 + strlen(t) >= sizeof(out))
			return NULL;
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len ? "/" : "", t);
	}
	return len ? strdup(out) : NULL;
}

/* Open @rel below @dirfd without following any symbolic link on the way. */
static int
open_beneath(int dirfd, const char *rel, struct stat *st)
{
	_cleanup_close_ int cur = -1;
	char copy[PATH_MAX], *save = NULL, *t, *next;
	int at = dirfd;

	if (strlen(rel) >= sizeof(copy))
		return -ENAMETOOLONG;
	memcpy(copy, rel, strlen(rel) + 1);
	t = strtok_r(copy, "/", &save);
	while (t && (next = strtok_r(NULL, "/", &save))) {
		int fd = openat(at, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (cur >= 0)
			close(cur);
		cur = at = fd;
		t = next;
	}
	if (!t)
		return -EINVAL;
	return file_open_regular(at, t, SIGN_FILE_MAX, false, st);
}

/*
 * Where udkd keeps its private copies of driver executables (see
 * sign_set_exec_dir()); NULL: sealed memfds.
 */
static char *exec_dir;

void
sign_set_exec_dir(const char *dir)
{
	free(exec_dir);
	exec_dir = dir ? strdup(dir) : NULL;
}

/*
 * A file for the copy: in exec_dir (root's alone), named like the
 * executable so the process's name (comm) is the driver's, and unlinked
 * at once; or a memfd where that directory cannot hold executables.
 * Returns the fd to write; *ret_ro gets a read-only fd of the same file.
 */
static int
copy_target(const char *base, int *ret_ro, bool *ret_memfd)
{
	char name[64], proc[64];
	int fd, ro;

	if (exec_dir) {
		struct statvfs sv;
		char sub[PATH_MAX], path[PATH_MAX];
		if (statvfs(exec_dir, &sv) == 0 && !(sv.f_flag & ST_NOEXEC) &&
		    snprintf(sub, sizeof(sub), "%s/XXXXXX", exec_dir) < (int)sizeof(sub) && mkdtemp(sub) &&
		    snprintf(path, sizeof(path), "%s/%s", sub, base) < (int)sizeof(path)) {
			/* 0555: the driver's own uid executes it, through the descriptor only */
			fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0555);
			ro = fd >= 0 ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
			unlink(path);
			rmdir(sub);
			if (fd >= 0 && ro >= 0) {
				*ret_ro = ro;
				return fd;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	snprintf(name, sizeof(name), "udk-driver:%.40s", base);
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before Linux 6.3 */
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ro = open(proc, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret_ro = ro;
	*ret_memfd = true;
	return fd;
}

/*
 * Copy the executable, hashing what is copied, into a file nobody else
 * can write: a sealed memfd, or an unlinked file in udkd's exec directory.
 * What runs is this copy.
 */
static int
capture_exe(struct sign_snapshot *s)
{
	_cleanup_close_ int src = -1, wfd = -1, ro = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	crypto_hash_sha256_state hs;
	uint8_t h[SIGN_HASH_BYTES];
	uint64_t total = 0;
	bool is_memfd = false;

	src = open_beneath(s->dirfd, s->exe_rel, &s->exe_st);
	if (src < 0)
		return src;
	wfd = copy_target(strrchr(s->exe_rel, '/') ? strrchr(s->exe_rel, '/') + 1 : s->exe_rel, &ro, &is_memfd);
	if (wfd < 0)
		return wfd;
	buf = malloc(1 << 16);
	if (!buf)
		return -ENOMEM;
	crypto_hash_sha256_init(&hs);
	for (;;) {
		ssize_t n = read(src, buf, 1 << 16);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > SIGN_FILE_MAX)
			return -EFBIG;
		crypto_hash_sha256_update(&hs, buf, (unsigned long long)n);
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(wfd, buf + done, (size_t)(n - done));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += w;
		}
	}
	crypto_hash_sha256_final(&hs, h);
	to_hex(h, sizeof(h), s->exe_hash);
	/*
	 * A memfd is sealed for good; a file has no other name and no other
	 * writer.  Files that cannot be sealed say EINVAL, or EPERM where the
	 * file system has seals but the file was not made to take them (a
	 * regular file on tmpfs).
	 */
	if (fcntl(wfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 &&
	    (is_memfd || (errno != EINVAL && errno != EPERM)))
		return -errno;
	if (fchmod(wfd, 0555) < 0)
		return -errno;
	/* only the read-only descriptor stays: exec needs no writer left */
	s->exe_fd = TAKE_FD(ro);
	return 0;
}

int
sign_snapshot_read(struct sign_snapshot *s, const char *executable)
{
	struct stat st;
	struct walk w;

	if (s->dirfd < 0)
		return -EBADF;
	/* the executable: a file at the top, or a symbolic link to one inside the bundle */
	if (executable && *executable && !strchr(executable, '/') && !streq(executable, ".") &&
	    !streq(executable, "..")) {
		if (fstatat(s->dirfd, executable, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			s->exe_err = -errno;
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(s->dirfd, executable, target, sizeof(target) - 1);
			if (tl > 0) {
				target[tl] = 0;
				s->exe_rel = normalize_inside(target);
			}
			s->exe_err = s->exe_rel ? 0 : -EXDEV;
		} else {
			s->exe_rel = strdup(executable);
			s->exe_err = s->exe_rel ? 0 : -ENOMEM;
		}
		if (s->exe_err == 0)
			s->exe_err = capture_exe(s);
		if (s->exe_err == 0 && !s->unsafe)
			s->unsafe = sign_unsafe_entry(&s->exe_st, executable, false);
	}
	blob_read(s->dirfd, "Entitlements.plist", SIGN_MANIFEST_MAX, &s->entitlements);
	if (s->entitlements.present && !s->unsafe)
		s->unsafe = sign_unsafe_entry(&s->entitlements.st, "Entitlements.plist", false);

	/* the signature, and every file it covers */
	if (fstatat(s->dirfd, SIGN_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		s->sig_dir_err = -errno;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		s->sig_dir_err = -ENOTDIR;
		return 0;
	}
	s->signed_dir = true;
	blob_read(s->dirfd, SIGN_RESOURCES, SIGN_RESOURCES_MAX, &s->resources);
	blob_read(s->dirfd, SIGN_SIGNATURE, 4096, &s->signature);
	memset(&w, 0, sizeof(w));
	w.files = udk_value_new_dict();
	w.links = udk_value_new_dict();
	w.snap = s;
	{
		int fd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			walk_fail(&w, -errno, NULL, "cannot read the bundle directory: %s", strerror(errno));
		else
			walk_dir(&w, fd, "", 0);
	}
	s->walked = true;
	s->files = TAKE_PTR(w.files);
	s->links = TAKE_PTR(w.links);
	s->walk_err = w.err;
	s->walk_file = TAKE_PTR(w.err_file);
	s->walk_msg = TAKE_PTR(w.err_msg);
	return 0;
}

void
sign_snapshot_clear(struct sign_snapshot *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->exe_fd >= 0)
		close(s->exe_fd);
	blob_clear(&s->info);
	blob_clear(&s->entitlements);
	blob_clear(&s->resources);
	blob_clear(&s->signature);
	udk_value_unref(s->files);
	udk_value_unref(s->links);
	free(s->path);
	free(s->exe_rel);
	free(s->walk_file);
	free(s->walk_msg);
	free(s->unsafe);
	memset(s, 0, sizeof(*s));
	s->dirfd = s->exe_fd = -1;
}

static const char *
blob_error(const struct sign_blob *b)
{
	switch (b->err) {
	case -ENOENT:
		return "is missing";
	case -ELOOP:
		return "is a symbolic link";
	case -EFBIG:
		return "is larger than its limit";
	case -EINVAL:
		return "is not a regular file";
	default:
		return strerror(-b->err);
	}
}

int
sign_snapshot_verify(const struct sign_snapshot *s, struct sign_result *res)
{
	struct udk_value *m = NULL, *files, *links, *ent = NULL;
	uint8_t sig[SIGN_SIG_BYTES + 8];
	size_t n = 0;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = sign_init()) < 0)
		return result(res, r, NULL, "libsodium cannot initialise");
	if (s->dirfd < 0)
		return result(res, -UDK_E_BAD_SIGNATURE, NULL, "cannot open the bundle");
	if (!s->signed_dir) {
		if (s->sig_dir_err == -ENOENT)
			return result(res, -UDK_E_UNSIGNED, NULL,
				      "the bundle is not signed (it has no %s/): sign it with `udk-sign sign --key "
				      "YOUR.secret %s` and have udkd trust the key (`udkctl trust add YOUR.public`)",
				      SIGN_DIR, s->path ? s->path : "BUNDLE");
		if (s->sig_dir_err == -ENOTDIR)
			return result(res, -UDK_E_BAD_SIGNATURE, SIGN_DIR, "is not a directory: the signature is damaged");
		return result(res, -UDK_E_BAD_SIGNATURE, SIGN_DIR, "cannot be examined: %s", strerror(-s->sig_dir_err));
	}
	if (!s->resources.present)
		return result(res, -UDK_E_BAD_SIGNATURE, SIGN_RESOURCES, "%s: the signature is incomplete; sign again",
			      blob_error(&s->resources));
	if (!s->signature.present)
		return result(res, -UDK_E_BAD_SIGNATURE, SIGN_SIGNATURE, "%s: the signature is incomplete; sign again",
			      blob_error(&s->signature));
	if (from_base64((const char *)s->signature.data, s->signature.len, sig, sizeof(sig), &n) < 0)
		return result(res, -UDK_E_BAD_SIGNATURE, SIGN_SIGNATURE,
			      "is not base64 text: the file is damaged; sign again");
	if (n != SIGN_SIG_BYTES)
		return result(res, -UDK_E_BAD_SIGNATURE, SIGN_SIGNATURE,
			      "holds %zu bytes; an ed25519 signature has %d: the file is truncated or damaged; "
			      "sign again",
			      n, SIGN_SIG_BYTES);
	r = udk_value_from_plist(s->resources.data, s->resources.len, &m);
	if (r < 0)
		return result(res, -UDK_E_BAD_SIGNATURE, SIGN_RESOURCES, "is not a valid plist (%s): sign again",
			      udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	r = check_signed(res, SIGN_RESOURCES, m, s->resources.data, s->resources.len, sig);
	if (r < 0)
		goto out;
	files = udk_dict_get(m, "Files");
	links = udk_dict_get(m, "Symlinks");
	if (udk_value_get_type(files) != UDK_VALUE_DICT || (links && udk_value_get_type(links) != UDK_VALUE_DICT)) {
		r = result(res, -UDK_E_BAD_SIGNATURE, SIGN_RESOURCES, "has no Files <dict>: sign again");
		goto out;
	}

	/* the bundle as it was read, against the manifest */
	if (s->walk_err) {
		r = result(res, -UDK_E_BAD_SIGNATURE, s->walk_file, "%s", s->walk_msg ? s->walk_msg : "cannot be read");
		goto out;
	}
	for (size_t i = 0; i < udk_dict_size(s->files) && !res->status; i++) {
		const char *f = udk_dict_key_at(s->files, i);
		const char *want = udk_dict_get_string(files, f);
		const char *have = udk_value_get_string(udk_dict_value_at(s->files, i));
		if (!want)
			result(res, -UDK_E_BAD_SIGNATURE, f,
			       udk_dict_get(links, f) ? "was a symbolic link when signed and is now a file"
						     : "was added after the bundle was signed: remove it, or sign again");
		else if (!streq(want, have))
			result(res, -UDK_E_BAD_SIGNATURE, f,
			       "changed since the bundle was signed (SHA-256 was %.16s..., is %.16s...): sign the "
			       "bundle again, or reinstall it from its publisher",
			       want, have);
	}
	for (size_t i = 0; i < udk_dict_size(s->links) && !res->status; i++) {
		const char *f = udk_dict_key_at(s->links, i);
		const char *want = udk_dict_get_string(links, f);
		if (!want || !streq(want, udk_value_get_string(udk_dict_value_at(s->links, i))))
			result(res, -UDK_E_BAD_SIGNATURE, f, "is a symbolic link %s after the bundle was signed",
			       want ? "retargeted" : "added");
	}
	for (size_t i = 0; i < udk_dict_size(files) && !res->status; i++) {
		const char *f = udk_dict_key_at(files, i);
		if (udk_value_get_type(udk_dict_value_at(files, i)) != UDK_VALUE_STRING)
			result(res, -UDK_E_BAD_SIGNATURE, SIGN_RESOURCES, "Files.%s is not a <string>: sign again", f);
		else if (!udk_dict_get(s->files, f))
			result(res, -UDK_E_BAD_SIGNATURE, f, "was removed after the bundle was signed: reinstall it");
	}
	for (size_t i = 0; links && i < udk_dict_size(links) && !res->status; i++)
		if (!udk_dict_get(s->links, udk_dict_key_at(links, i)))
			result(res, -UDK_E_BAD_SIGNATURE, udk_dict_key_at(links, i),
			       "was a symbolic link when signed and is gone");
	if (res->status) {
		r = res->status;
		goto out;
	}
	if (s->exe_fd >= 0)
		memcpy(res->exe_hash, s->exe_hash, sizeof(res->exe_hash));
	/*
	 * Entitlements.plist is covered by Files (as the bytes read above);
	 * the copy in the manifest must agree with those same bytes.
	 */
	if (s->entitlements.present) {
		r = udk_value_from_plist(s->entitlements.data, s->entitlements.len, &ent);
		if (r >= 0 && udk_value_get_type(ent) != UDK_VALUE_DICT)
			r = -EINVAL;
	} else {
		r = s->entitlements.err == -ENOENT ? 0 : s->entitlements.err;
		ent = r >= 0 ? udk_value_new_dict() : NULL;
	}
	if (r < 0 || !udk_value_equal(ent, udk_dict_get(m, "Entitlements"))) {
		r = result(res, -UDK_E_BAD_SIGNATURE, "Entitlements.plist",
			   "differs from the entitlements in the signature: sign again");
		goto out;
	}
	res->entitlements = udk_value_ref(udk_dict_get(m, "Entitlements"));
	res->status = 0;
	r = 0;
out:
	udk_value_unref(ent);
	udk_value_unref(m);
	return r;
}

int
sign_verify_bundle(const char *path, const char *executable, struct sign_result *res)
{
	struct sign_snapshot s;
	int r;

	r = sign_snapshot_open(path, &s);
	if (r < 0) {
		memset(res, 0, sizeof(*res));
		r = result(res, r, NULL, "cannot open the bundle: %s", strerror(-r));
		sign_snapshot_clear(&s);
		return r;
	}
	sign_snapshot_read(&s, executable);
	r = sign_snapshot_verify(&s, res);
	sign_snapshot_clear(&s);
	return r;
}

/* ---- apps ---- */

int
sign_app(const char *exe, const struct udk_value *entitlements, const struct sign_key *k)
{
	_cleanup_free_ char *xml = NULL, *outer_xml = NULL, *sig_path = NULL;
	_cleanup_close_ int fd = -1;
	struct udk_value *m, *outer;
	char hex[2 * SIGN_HASH_BYTES + 1];
	uint8_t sig[SIGN_SIG_BYTES];
	const char *base = strrchr(exe, '/');
	int r;

	if (!k->has_secret)
		return udk_set_reason(-EINVAL, "signing needs the secret key (the .secret file), not the public one");
	if ((r = sign_init()) < 0)
		return r;
	if (udk_value_get_type(entitlements) != UDK_VALUE_DICT)
		return udk_set_reason(-EINVAL, "an app's entitlements must be a <dict>");
	fd = open(exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return udk_set_reason(-errno, "cannot read %s: %s", exe, strerror(errno));
	r = sign_hash_fd(fd, hex);
	if (r < 0)
		return udk_set_reason(r, "cannot read %s: %s", exe, strerror(-r));
	m = udk_value_new_dict();
	set_signer(m, k);
	udk_dict_set_string(m, "Executable", base ? base + 1 : exe);
	udk_dict_set_string(m, "SHA256", hex);
	udk_dict_set(m, "Entitlements", (struct udk_value *)entitlements);
	r = udk_value_to_plist_xml(m, &xml);
	udk_value_unref(m);
	if (r < 0)
		return r;
	crypto_sign_detached(sig, NULL, (const uint8_t *)xml, strlen(xml), k->sk);
	outer = udk_value_new_dict();
	udk_dict_set_data(outer, "Manifest", xml, strlen(xml));
	udk_dict_set_data(outer, "Signature", sig, sizeof(sig));
	r = udk_value_to_plist_xml(outer, &outer_xml);
	udk_value_unref(outer);
	if (r < 0)
		return r;
	sig_path = strdup_printf("%s%s", exe, SIGN_APP_SUFFIX);
	if (!sig_path)
		return -ENOMEM;
	r = write_file_atomic(AT_FDCWD, sig_path, outer_xml, strlen(outer_xml), 0644);
	if (r < 0)
		return udk_set_reason(r, "cannot write %s: %s", sig_path, strerror(-r));
	return 0;
}

int
sign_verify_app_data(const void *buf, size_t len, const char *sig_path, const char exe_hash[2 * SIGN_HASH_BYTES + 1],
		     struct sign_result *res)
{
	struct udk_value *outer = NULL, *m = NULL;
	const void *manifest, *sig;
	size_t mlen = 0, slen = 0;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = sign_init()) < 0)
		return result(res, r, NULL, "libsodium cannot initialise");
	r = udk_value_from_plist(buf, len, &outer);
	if (r < 0)
		return result(res, -UDK_E_BAD_SIGNATURE, sig_path, "is not a valid plist (%s): sign the app again",
			      udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	manifest = udk_value_get_data(udk_dict_get(outer, "Manifest"), &mlen);
	sig = udk_value_get_data(udk_dict_get(outer, "Signature"), &slen);
	if (!manifest || !sig) {
		r = result(res, -UDK_E_BAD_SIGNATURE, sig_path, "needs Manifest and Signature <data>: sign the app again");
		goto out;
	}
	if (slen != SIGN_SIG_BYTES) {
		r = result(res, -UDK_E_BAD_SIGNATURE, sig_path,
			   "holds a signature of %zu bytes; ed25519 signatures have %d: the file is truncated or "
			   "damaged; sign the app again",
			   slen, SIGN_SIG_BYTES);
		goto out;
	}
	r = udk_value_from_plist(manifest, mlen, &m);
	if (r < 0) {
		r = result(res, -UDK_E_BAD_SIGNATURE, sig_path, "holds a Manifest that is not a plist: sign the app again");
		goto out;
	}
	r = check_signed(res, sig_path, m, manifest, mlen, sig);
	if (r < 0)
		goto out;
	if (!streq(exe_hash, udk_dict_get_string(m, "SHA256"))) {
		r = result(res, -UDK_E_BAD_SIGNATURE, sig_path,
			   "was made for another build of the app (SHA-256 %.16s..., the running executable is "
			   "%.16s...): sign the app again",
			   udk_dict_get_string(m, "SHA256") ? udk_dict_get_string(m, "SHA256") : "?", exe_hash);
		goto out;
	}
	memcpy(res->exe_hash, exe_hash, sizeof(res->exe_hash));
	res->entitlements = udk_value_ref(udk_dict_get(m, "Entitlements"));
	res->status = 0;
	r = 0;
out:
	udk_value_unref(m);
	udk_value_unref(outer);
	return r;
}

int
sign_verify_app(const char *sig_path, int exe_fd, struct sign_result *res)
{
	_cleanup_free_ char *buf = NULL;
	char hex[2 * SIGN_HASH_BYTES + 1];
	size_t len = 0;
	int r;

	memset(res, 0, sizeof(*res));
	r = read_file(sig_path, SIGN_APP_SIG_MAX, &buf, &len);
	if (r == -ENOENT)
		return result(res, -UDK_E_UNSIGNED, sig_path, "does not exist: the app is not signed");
	if (r < 0)
		return result(res, -UDK_E_BAD_SIGNATURE, sig_path, "cannot be read: %s",
			      r == -EINVAL ? "it is not a regular file" : strerror(-r));
	r = sign_hash_fd_max(exe_fd, SIGN_APP_MAX, hex);
	if (r < 0)
		return result(res, -UDK_E_BAD_SIGNATURE, sig_path, "the executable cannot be read: %s", strerror(-r));
	return sign_verify_app_data(buf, len, sig_path, hex, res);
}
