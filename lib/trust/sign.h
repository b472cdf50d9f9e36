/* SPDX-License-Identifier: MIT */
/*
 * sign.h - keys, bundle signatures and app signatures (internal; used by
 * udkd and udk-sign).  See docs/security.md for the formats.
 *
 * A signed bundle holds two files beside its contents:
 *
 *   _UDKSignature/CodeResources   a plist: the bundle identifier, the
 *                                 signer's key, the entitlements, and the
 *                                 SHA-256 of every file (and the target of
 *                                 every symbolic link) in the bundle
 *   _UDKSignature/CodeSignature   the ed25519 signature of the exact bytes
 *                                 of CodeResources, base64
 *
 * Verifying checks the signature with the key named in CodeResources, then
 * every file against its hash: a changed, added or removed file is named.
 * Whether the key is trusted is the caller's question (udkd's trust store).
 *
 * An app is signed with a detached APP.udksig next to the executable: the
 * same two parts (a plist with the executable's hash and the app's
 * entitlements, and its signature) in one plist.
 */
#ifndef UDK_TRUST_SIGN_H
#define UDK_TRUST_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <udk/value.h>

#define SIGN_DIR "_UDKSignature"
#define SIGN_RESOURCES SIGN_DIR "/CodeResources"
#define SIGN_SIGNATURE SIGN_DIR "/CodeSignature"
#define SIGN_APP_SUFFIX ".udksig"
#define SIGN_VERSION 1

#define SIGN_PK_BYTES 32
#define SIGN_SK_BYTES 64
#define SIGN_SIG_BYTES 64
#define SIGN_HASH_BYTES 32
#define SIGN_KEY_ID_LEN 16		/* hex characters */

/* Limits on what verification reads (docs/security.md lists them). */
#define SIGN_MANIFEST_MAX (1u << 20)		/* Info.plist, Entitlements.plist */
#define SIGN_RESOURCES_MAX (16u << 20)		/* _UDKSignature/CodeResources */
#define SIGN_FILE_MAX (256ull << 20)		/* any one file of a bundle, the executable included */
#define SIGN_BUNDLE_MAX (1ull << 30)		/* the files of a bundle together */
#define SIGN_WALK_MAX_FILES 20000		/* entries of a bundle */
#define SIGN_APP_SIG_MAX (1u << 20)		/* APP.udksig */
#define SIGN_APP_MAX (1ull << 30)		/* an app's executable, hashed to identify it */

struct sign_key {
	uint8_t pk[SIGN_PK_BYTES];
	uint8_t sk[SIGN_SK_BYTES];
	bool has_secret;
	char id[SIGN_KEY_ID_LEN + 1];	/* first 8 bytes of SHA-256(pk), hex */
	char comment[128];		/* who the key belongs to */
};

/* Initialise libsodium once; -ENOTRECOVERABLE if it cannot be. */
int sign_init(void);

int sign_key_generate(struct sign_key *k, const char *comment);
void sign_key_id(const uint8_t pk[SIGN_PK_BYTES], char out[SIGN_KEY_ID_LEN + 1]);
/*
 * Key files are one line of text:
 *   udk-ed25519-public BASE64 comment...
 *   udk-ed25519-secret BASE64 comment...   (mode 0600; holds the public key too)
 * Reading sets a reason naming the file and what is wrong.
 */
int sign_key_write(const struct sign_key *k, const char *path, bool secret);
int sign_key_read(const char *path, struct sign_key *k);
int sign_key_parse(const char *text, size_t len, const char *origin, struct sign_key *k);
/* The public key line, malloc'ed. */
char *sign_key_format_public(const struct sign_key *k);

/* SHA-256 of what @fd holds from its current offset, as hex (65 bytes). */
int sign_hash_fd(int fd, char hex[2 * SIGN_HASH_BYTES + 1]);
/* Same, -EFBIG after @max bytes (a file that never ends: /dev/zero). */
int sign_hash_fd_max(int fd, uint64_t max, char hex[2 * SIGN_HASH_BYTES + 1]);

struct sign_result {
	int status;			/* 0, -UDK_E_UNSIGNED or -UDK_E_BAD_SIGNATURE */
	char *reason;			/* the sentence, with what to do */
	char *file;			/* the file involved, relative to the bundle */
	char key_id[SIGN_KEY_ID_LEN + 1];
	uint8_t pk[SIGN_PK_BYTES];
	char signer[128];		/* the key's comment when signed */
	struct udk_value *entitlements;	/* what the signature covers (status 0) */
	char exe_hash[2 * SIGN_HASH_BYTES + 1]; /* of the executable named */
};

void sign_result_clear(struct sign_result *r);

/*
 * Sign the bundle at @path: write _UDKSignature/.  Refuses symbolic links
 * that leave the bundle and files that are neither regular files nor
 * directories.  @executable (relative) is recorded for the spawn check.
 */
int sign_bundle(const char *path, const struct sign_key *k);
/* Verify; always fills @res (status and reason) and returns res->status. */
int sign_verify_bundle(const char *path, const char *executable, struct sign_result *res);

/*
 * A bundle read once, for udkd.  Every file is opened once through the
 * bundle's directory descriptor (regular files only, O_NONBLOCK, sizes
 * bounded) and hashed from the bytes read; the files udkd parses are kept,
 * and the executable is copied as it is hashed into a file nobody else can
 * write (sign_set_exec_dir()).  So
 * what udkd verifies is what it parses, enforces and runs: a file swapped
 * on disk afterwards changes nothing but the next load.
 */
struct sign_blob {
	bool present;
	int err;			/* -errno when it could not be read (-ENOENT: absent) */
	uint8_t *data;			/* NUL-terminated, len bytes */
	size_t len;
	char hash[2 * SIGN_HASH_BYTES + 1];
	struct stat st;
};

struct sign_snapshot {
	char *path;
	int dirfd;
	struct sign_blob info;		/* Info.plist (at open) */
	struct sign_blob entitlements;	/* Entitlements.plist */
	bool signed_dir;		/* _UDKSignature/ exists */
	int sig_dir_err;
	struct sign_blob resources, signature;
	char *exe_rel;			/* the executable, resolved inside the bundle */
	int exe_fd;			/* read-only fd of a copy of its bytes nobody can change, or -1 */
	int exe_err;
	char exe_hash[2 * SIGN_HASH_BYTES + 1];
	struct stat exe_st;		/* the file it was copied from */
	struct udk_value *files, *links;	/* signed bundles: every file's SHA-256, every link */
	bool walked;
	int walk_err;
	char *walk_file, *walk_msg;
	char *unsafe;			/* a sentence when someone other than root (or udkd) can change it */
};

/*
 * udkd keeps the copies of driver executables in @dir (its own, private:
 * see trust.c), unlinked as soon as they are open, so a driver's process
 * name is its executable's; without it (or on a noexec file system),
 * sealed memfds.  Call before any snapshot is read.
 */
void sign_set_exec_dir(const char *dir);

/* Open the bundle directory and read Info.plist.  -errno if the directory cannot be opened. */
int sign_snapshot_open(const char *path, struct sign_snapshot *s);
/* Read the executable named in Info.plist, Entitlements.plist, the signature and every file. */
int sign_snapshot_read(struct sign_snapshot *s, const char *executable);
/* Verify what was read; fills @res like sign_verify_bundle(). */
int sign_snapshot_verify(const struct sign_snapshot *s, struct sign_result *res);
void sign_snapshot_clear(struct sign_snapshot *s);
/* "WHAT is owned by uid N" or "WHAT is writable by ..." (malloc'ed), or NULL when only root can change it. */
char *sign_unsafe_entry(const struct stat *st, const char *what, bool ancestor);

/* Sign an app executable: write @exe.udksig with @entitlements (a dict). */
int sign_app(const char *exe, const struct udk_value *entitlements, const struct sign_key *k);
/*
 * Verify the signature file @sig_path against the executable whose
 * content @exe_fd holds (e.g. /proc/PID/exe).  Same result as bundles.
 */
int sign_verify_app(const char *sig_path, int exe_fd, struct sign_result *res);
/* Same with the signature file's bytes and the executable's SHA-256 already at hand. */
int sign_verify_app_data(const void *buf, size_t len, const char *sig_path,
			 const char exe_hash[2 * SIGN_HASH_BYTES + 1], struct sign_result *res);

#endif
