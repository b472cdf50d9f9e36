/* SPDX-License-Identifier: MIT */
/* sandbox.c - driver process confinement (see sandbox.h). */
#include <sys/prctl.h>
#include <sys/resource.h>

#include "sandbox.h"
#include "util.h"

int
sandbox_apply_pre_exec(const char *bundle_path, const char *executable)
{
	struct rlimit core = { 0, 0 };

	(void)bundle_path;
	(void)executable;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return udk_set_reason(-errno, "PR_SET_NO_NEW_PRIVS failed: %s", strerror(errno));
	setrlimit(RLIMIT_CORE, &core);
	return 0;
}
