/* SPDX-License-Identifier: MIT */
/*
 * udk.h - common definitions for every udk library: version, error codes,
 * log levels.
 *
 * Errors: every function that can fail returns int, >= 0 on success and a
 * negative code on failure.  A code is either -errno (e.g. -ENOMEM) or
 * -UDK_E_* below.  udk_strerror() and udk_error_name() turn both into words;
 * never print a code as a number.  When a refusal comes with a sentence
 * (which rule, which file, what to do), udk_error_reason() returns it until
 * the next failing udk call on the same thread.
 */
#ifndef UDK_UDK_H
#define UDK_UDK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDK_VERSION_MAJOR 0
#define UDK_VERSION_MINOR 1
/* Bumped whenever a public struct grows or a function is added. */
#define UDK_API_VERSION 1

#if defined(__GNUC__)
#define UDK_EXPORT __attribute__((visibility("default")))
#define UDK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UDK_EXPORT
#define UDK_PRINTF(a, b)
#endif

/*
 * udk's own error codes.  They start above every errno value so that one
 * negative int carries either kind.  Values are part of the ABI: append only.
 */
enum udk_error {
	UDK_E_FIRST = 4096,
	UDK_E_PROTOCOL = UDK_E_FIRST,	/* peer sent a malformed message */
	UDK_E_DRIVER_DIED,		/* driver process exited or was killed */
	UDK_E_DRIVER_DISABLED,		/* crash loop or administrator */
	UDK_E_NO_MATCH,			/* no personality matched */
	UDK_E_NO_SUCH_SERVICE,		/* registry id or path unknown */
	UDK_E_TERMINATED,		/* service was terminated */
	UDK_E_BAD_MANIFEST,		/* Info.plist / Entitlements.plist */
	UDK_E_DEADLINE,			/* peer missed its deadline */
	UDK_E_UNKNOWN_SELECTOR,		/* external method selector */
	UDK_E_SCALAR_COUNT,		/* wrong number of scalars */
	UDK_E_STRUCT_SIZE,		/* wrong structure size */
	UDK_E_COMPLETION,		/* completion required or forbidden */
	UDK_E_NOT_PERMITTED,		/* user client access refused */
	UDK_E_ENTITLEMENT,		/* entitlement missing or too narrow */
	UDK_E_BAD_SIGNATURE,		/* bundle signature invalid */
	UDK_E_UNTRUSTED_KEY,		/* signed by a key not trusted */
	UDK_E_UNSIGNED,			/* bundle not signed */
	UDK_E_REVOKED,			/* access grant revoked */
	UDK_E_BAD_ADDRESS,		/* client memory range unusable */
	UDK_E_HARDWARE_GONE,		/* device removed or model died */
	UDK_E_POWER_TIMEOUT,		/* power change not acknowledged */
	UDK_E_DAEMON_UNREACHABLE,	/* udkd not running */
	UDK_E_VERSION,			/* peer speaks another API version */
	UDK_E_DIRECTION,		/* memory used against its direction */
	UDK_E_IOMMU_FAULT,		/* device touched unmapped memory */
	UDK_E_UNSUPPORTED,		/* family or driver lacks this */
	UDK_E_BUSY,			/* provider opened exclusively */
	UDK_E_UNSAFE_PATH,		/* file or directory others may write */
	UDK_E_TOO_LARGE,		/* request, dictionary or queue over a size limit */
	UDK_E_LIMIT,			/* a per-user, per-connection or per-bundle count limit */
	UDK_E_EXEC_FORMAT,		/* driver executable not runnable on this machine */
	UDK_E_ALREADY_RUNNING,		/* another udkd holds the runtime directory */
	UDK_E_BAD_DESCRIPTOR,		/* a device's descriptor is malformed or over a limit */
	UDK_E_NO_SUCH_DEVICE,		/* no such simulated device or device model */
	UDK_E_ALREADY_PLUGGED,		/* simulated device already plugged in */
	UDK_E_LIBRARY,			/* driver needs a shared library the sandbox hides */
	UDK_E_DRIVER_REPLACED,		/* the driver is being upgraded or uninstalled */
	UDK_E_NO_SUCH_CLASS,		/* the executable does not register the personality's IOUserClass */
	UDK_E_LAST
};

/* Words for a code: "driver process died", or strerror() for -errno. */
UDK_EXPORT const char *
udk_strerror(int code);

/* Name of a code: "UDK_E_DRIVER_DIED", "ENOENT". */
UDK_EXPORT const char *
udk_error_name(int code);

/*
 * The reason sentence of the last failure on this thread, or NULL.
 * Borrowed: valid until the next udk call on this thread.
 */
UDK_EXPORT const char *
udk_error_reason(void);

/* Log levels, syslog-compatible values. */
enum udk_log_level {
	UDK_LOG_ERROR = 3,
	UDK_LOG_WARNING = 4,
	UDK_LOG_NOTICE = 5,
	UDK_LOG_INFO = 6,
	UDK_LOG_DEBUG = 7,
};

/* "error", "warning", ... ; NULL for an unknown level. */
UDK_EXPORT const char *
udk_log_level_name(int level);

/* Parse "error".."debug" or "3".."7"; -EINVAL when unknown. */
UDK_EXPORT int
udk_log_level_parse(const char *s);

#ifdef __cplusplus
}
#endif
#endif
