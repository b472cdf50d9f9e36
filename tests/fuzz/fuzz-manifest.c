/* SPDX-License-Identifier: MIT */
/*
 * A whole bundle manifest: the input becomes Info.plist of a bundle that
 * udkd's loader reads and checks, personality by personality.  What follows
 * a line "--Entitlements.plist--" becomes the bundle's Entitlements.plist.
 */
#include <stdarg.h>
#include <sys/stat.h>

#include "udkd.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[256];
	char path[300];
	struct bundle *b = NULL;
	FILE *f;

	if (size > 256 * 1024)
		return 0;
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/udk-fuzz-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/F.dext", dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/F.dext/exe", dir);
		f = fopen(path, "w");
		if (f)
			fclose(f);
		chmod(path, 0755);
	}
	{
		static const char sep[] = "\n--Entitlements.plist--\n";
		const uint8_t *ent = memmem(data, size, sep, sizeof(sep) - 1);
		size_t info_len = ent ? (size_t)(ent - data) : size;
		snprintf(path, sizeof(path), "%s/F.dext/Info.plist", dir);
		f = fopen(path, "w");
		if (!f)
			abort();
		fwrite(data, 1, info_len, f);
		fclose(f);
		snprintf(path, sizeof(path), "%s/F.dext/Entitlements.plist", dir);
		if (ent) {
			f = fopen(path, "w");
			if (!f)
				abort();
			fwrite(ent + sizeof(sep) - 1, 1, size - info_len - (sizeof(sep) - 1), f);
			fclose(f);
		} else {
			unlink(path);
		}
	}
	snprintf(path, sizeof(path), "%s/F.dext", dir);
	if (bundle_load(path, &b) == 0)
		bundle_free(b);
	return 0;
}
