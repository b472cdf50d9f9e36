/* SPDX-License-Identifier: MIT */
/*
 * Signature files as udkd reads them from a bundle or beside an app: the
 * input up to the first NUL byte becomes _UDKSignature/CodeResources, the
 * rest _UDKSignature/CodeSignature; the whole input is also tried as an
 * app's detached APP.udksig.  The verifier must refuse with a reason, never
 * crash, never accept.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f)
		abort();
	if (len)
		fwrite(p, 1, len, f);
	fclose(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[256];
	char path[400];
	const uint8_t *nul;
	size_t first;
	struct sign_result res = { 0 };
	int fd;

	if (size > 256 * 1024)
		return 0;
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/udk-fuzz-sig-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/B.dext", dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/B.dext/" SIGN_DIR, dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/B.dext/Info.plist", dir);
		put(path, "<plist version=\"1.0\"><dict/></plist>\n", 37);
		snprintf(path, sizeof(path), "%s/B.dext/drv", dir);
		put(path, "\x7f" "ELF", 4);
		snprintf(path, sizeof(path), "%s/app", dir);
		put(path, "\x7f" "ELF app", 8);
	}
	nul = memchr(data, 0, size);
	first = nul ? (size_t)(nul - data) : size;
	snprintf(path, sizeof(path), "%s/B.dext/" SIGN_RESOURCES, dir);
	put(path, data, first);
	snprintf(path, sizeof(path), "%s/B.dext/" SIGN_SIGNATURE, dir);
	put(path, nul ? nul + 1 : data, nul ? size - first - 1 : 0);
	snprintf(path, sizeof(path), "%s/B.dext", dir);
	if (sign_verify_bundle(path, "drv", &res) == 0)
		abort(); /* nobody holds the secret key, so nothing may verify */
	sign_result_clear(&res);

	snprintf(path, sizeof(path), "%s/app" SIGN_APP_SUFFIX, dir);
	put(path, data, size);
	snprintf(path, sizeof(path), "%s/app", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "%s/app" SIGN_APP_SUFFIX, dir);
	if (sign_verify_app(path, fd, &res) == 0)
		abort();
	sign_result_clear(&res);
	close(fd);
	return 0;
}
