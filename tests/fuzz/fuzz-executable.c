/* SPDX-License-Identifier: MIT */
/*
 * A bundle's executable: the input becomes the program of a bundle whose
 * Info.plist names it, and udkd's loader checks its format and reads its
 * ELF program headers and dynamic section (PT_INTERP, DT_NEEDED,
 * DT_RUNPATH) against what the driver sandbox admits (bundle.c).
 */
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
		snprintf(path, sizeof(path), "%s/F.dext/Info.plist", dir);
		f = fopen(path, "w");
		if (!f)
			abort();
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
		      "<key>CFBundleIdentifier</key><string>org.udk.fuzz</string>"
		      "<key>CFBundleExecutable</key><string>exe</string>"
		      "<key>IOKitPersonalities</key><dict/></dict></plist>\n",
		      f);
		fclose(f);
		bundle_set_sandboxed(true);
	}
	snprintf(path, sizeof(path), "%s/F.dext/exe", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/F.dext", dir);
	if (bundle_load(path, &b) == 0)
		bundle_free(b);
	return 0;
}
