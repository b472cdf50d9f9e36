/* SPDX-License-Identifier: MIT */
/* error.c - names and words for error codes, and the per-thread reason. */
#include <stdio.h>
#include <string.h>

#include "util.h"

struct error_entry {
	const char *name;
	const char *text;
};

static const struct error_entry udk_errors[UDK_E_LAST - UDK_E_FIRST] = {
	[UDK_E_PROTOCOL - UDK_E_FIRST] = { "UDK_E_PROTOCOL", "peer sent a malformed message" },
	[UDK_E_DRIVER_DIED - UDK_E_FIRST] = { "UDK_E_DRIVER_DIED", "driver process died" },
	[UDK_E_DRIVER_DISABLED - UDK_E_FIRST] = { "UDK_E_DRIVER_DISABLED", "driver is disabled" },
	[UDK_E_NO_MATCH - UDK_E_FIRST] = { "UDK_E_NO_MATCH", "no driver personality matched" },
	[UDK_E_NO_SUCH_SERVICE - UDK_E_FIRST] = { "UDK_E_NO_SUCH_SERVICE", "no such service in the registry" },
	[UDK_E_TERMINATED - UDK_E_FIRST] = { "UDK_E_TERMINATED", "service was terminated" },
	[UDK_E_BAD_MANIFEST - UDK_E_FIRST] = { "UDK_E_BAD_MANIFEST", "invalid bundle manifest" },
	[UDK_E_DEADLINE - UDK_E_FIRST] = { "UDK_E_DEADLINE", "peer did not answer before its deadline" },
	[UDK_E_UNKNOWN_SELECTOR - UDK_E_FIRST] = { "UDK_E_UNKNOWN_SELECTOR", "unknown external method selector" },
	[UDK_E_SCALAR_COUNT - UDK_E_FIRST] = { "UDK_E_SCALAR_COUNT", "wrong number of scalar arguments" },
	[UDK_E_STRUCT_SIZE - UDK_E_FIRST] = { "UDK_E_STRUCT_SIZE", "wrong structure argument size" },
	[UDK_E_COMPLETION - UDK_E_FIRST] = { "UDK_E_COMPLETION", "completion required or not allowed" },
	[UDK_E_NOT_PERMITTED - UDK_E_FIRST] = { "UDK_E_NOT_PERMITTED", "user client access not permitted" },
	[UDK_E_ENTITLEMENT - UDK_E_FIRST] = { "UDK_E_ENTITLEMENT", "entitlement missing or does not cover this" },
	[UDK_E_BAD_SIGNATURE - UDK_E_FIRST] = { "UDK_E_BAD_SIGNATURE", "bundle signature does not verify" },
	[UDK_E_UNTRUSTED_KEY - UDK_E_FIRST] = { "UDK_E_UNTRUSTED_KEY", "bundle signed by an untrusted key" },
	[UDK_E_UNSIGNED - UDK_E_FIRST] = { "UDK_E_UNSIGNED", "bundle is not signed" },
	[UDK_E_REVOKED - UDK_E_FIRST] = { "UDK_E_REVOKED", "access was revoked" },
	[UDK_E_BAD_ADDRESS - UDK_E_FIRST] = { "UDK_E_BAD_ADDRESS", "client memory range is not accessible" },
	[UDK_E_HARDWARE_GONE - UDK_E_FIRST] = { "UDK_E_HARDWARE_GONE", "hardware is gone" },
	[UDK_E_POWER_TIMEOUT - UDK_E_FIRST] = { "UDK_E_POWER_TIMEOUT", "power change was not acknowledged in time" },
	[UDK_E_DAEMON_UNREACHABLE - UDK_E_FIRST] = { "UDK_E_DAEMON_UNREACHABLE", "cannot reach udkd" },
	[UDK_E_VERSION - UDK_E_FIRST] = { "UDK_E_VERSION", "peer speaks an incompatible protocol version" },
	[UDK_E_DIRECTION - UDK_E_FIRST] = { "UDK_E_DIRECTION", "memory used against its declared direction" },
	[UDK_E_IOMMU_FAULT - UDK_E_FIRST] = { "UDK_E_IOMMU_FAULT", "device accessed memory not prepared for DMA" },
	[UDK_E_UNSUPPORTED - UDK_E_FIRST] = { "UDK_E_UNSUPPORTED", "operation not supported by this driver or family" },
	[UDK_E_BUSY - UDK_E_FIRST] = { "UDK_E_BUSY", "provider is open by another client" },
	[UDK_E_UNSAFE_PATH - UDK_E_FIRST] = { "UDK_E_UNSAFE_PATH", "a file or directory other users could change" },
	[UDK_E_TOO_LARGE - UDK_E_FIRST] = { "UDK_E_TOO_LARGE", "larger than the limit allows" },
	[UDK_E_LIMIT - UDK_E_FIRST] = { "UDK_E_LIMIT", "a resource limit was reached" },
};

static const struct error_entry *
lookup(int code)
{
	int c = code < 0 ? -code : code;

	if (c >= UDK_E_FIRST && c < UDK_E_LAST)
		return &udk_errors[c - UDK_E_FIRST];
	return NULL;
}

UDK_EXPORT const char *
udk_strerror(int code)
{
	const struct error_entry *e = lookup(code);

	if (code == 0)
		return "success";
	if (e)
		return e->text;
	return strerror(code < 0 ? -code : code);
}

UDK_EXPORT const char *
udk_error_name(int code)
{
	const struct error_entry *e = lookup(code);
	const char *n;

	if (code == 0)
		return "OK";
	if (e)
		return e->name;
	n = strerrorname_np(code < 0 ? -code : code);
	return n ? n : "UNKNOWN_ERROR";
}

static _Thread_local char reason_buf[1024];
static _Thread_local bool reason_set;

UDK_EXPORT const char *
udk_error_reason(void)
{
	return reason_set ? reason_buf : NULL;
}

int
udk_set_reason(int code, const char *fmt, ...)
{
	char tmp[sizeof(reason_buf)];
	va_list ap;

	/* format aside: the arguments may include udk_error_reason() itself */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(reason_buf, tmp, sizeof(reason_buf));
	reason_set = true;
	return code;
}

void
udk_set_reason_str(const char *reason)
{
	if (!reason || !*reason) {
		reason_set = false;
		return;
	}
	if (reason != reason_buf)
		snprintf(reason_buf, sizeof(reason_buf), "%s", reason);
	reason_set = true;
}

void
udk_clear_reason(void)
{
	reason_set = false;
}

static const char *const level_names[] = {
	[UDK_LOG_ERROR] = "error",   [UDK_LOG_WARNING] = "warning", [UDK_LOG_NOTICE] = "notice",
	[UDK_LOG_INFO] = "info",     [UDK_LOG_DEBUG] = "debug",
};

UDK_EXPORT const char *
udk_log_level_name(int level)
{
	if (level < UDK_LOG_ERROR || level > UDK_LOG_DEBUG)
		return NULL;
	return level_names[level];
}

UDK_EXPORT int
udk_log_level_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int l = UDK_LOG_ERROR; l <= UDK_LOG_DEBUG; l++)
		if (streq(s, level_names[l]))
			return l;
	if (streq(s, "warn"))
		return UDK_LOG_WARNING;
	if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}
