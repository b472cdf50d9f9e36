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

/* Sign an app executable: write @exe.udksig with @entitlements (a dict). */
int sign_app(const char *exe, const struct udk_value *entitlements, const struct sign_key *k);
/*
 * Verify the signature file @sig_path against the executable whose
 * content @exe_fd holds (e.g. /proc/PID/exe).  Same result as bundles.
 */
int sign_verify_app(const char *sig_path, int exe_fd, struct sign_result *res);

#endif
