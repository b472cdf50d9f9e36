/* SPDX-License-Identifier: MIT */
/* error.c - names and words for error codes, and the per-thread reason. */
#include <stdio.h>
#include <string.h>

#include "util.h"

/*
 * The one table of udk's own codes: name, words, when it happens and what
 * to do.  docs/errors.md is generated from it (udkctl errors --markdown) and
 * a test checks that every UDK_E_* the tree uses has a full row here.
 */
struct error_entry {
	const char *name;
	const char *text;
	const char *when;
	const char *fix;
};

static const struct error_entry udk_errors[UDK_E_LAST - UDK_E_FIRST] = {
	[UDK_E_PROTOCOL - UDK_E_FIRST] = {
		"UDK_E_PROTOCOL", "peer sent a malformed message",
		"A peer (app, driver, model or udkd) sent a message that does not decode: a wrong header, a body that is not a valid value, nesting deeper than 32 levels, or a reply to a request never sent.",
		"Use the libudk, libudk-driver and udkctl of the same build as udkd. If you speak the protocol yourself, the reason names the field that did not decode." },
	[UDK_E_DRIVER_DIED - UDK_E_FIRST] = {
		"UDK_E_DRIVER_DIED", "driver process died",
		"The driver process serving this connection exited, crashed or was killed while a call was pending or later. udkctl drivers shows why (the signal, or the kill's reason and its own code).",
		"Reopen the service: udkd restarts a crashed driver unless it is in a crash loop. Look at `udkctl drivers` and udkd's log for the cause." },
	[UDK_E_DRIVER_DISABLED - UDK_E_FIRST] = {
		"UDK_E_DRIVER_DISABLED", "driver is disabled",
		"udkd does not launch the bundle: it crashed too often in a short time (crash loop), or an administrator disabled it.",
		"Fix the cause shown by `udkctl drivers` / `udkctl explain`, then `udkctl restart DRIVER` re-enables it." },
	[UDK_E_NO_MATCH - UDK_E_FIRST] = {
		"UDK_E_NO_MATCH", "no driver personality matched",
		"No personality of any loaded bundle matches the service: IOProviderClass, the family's match keys or IOProbeScore ruled each one out.",
		"Run `udkctl explain SERVICE`: it lists each personality and the key that did not match, with a did-you-mean for misspelt class names." },
	[UDK_E_NO_SUCH_SERVICE - UDK_E_FIRST] = {
		"UDK_E_NO_SUCH_SERVICE", "no such service in the registry",
		"The registry id, path or name given is not in the registry (never was, or was terminated).",
		"List what exists with `udkctl tree` (or udk_client_find_services) and use an id or path from there." },
	[UDK_E_TERMINATED - UDK_E_FIRST] = {
		"UDK_E_TERMINATED", "service was terminated",
		"The service, or the object a call used, stopped while the call was pending: its provider went away, or the driver stopped it.",
		"Drop your handles to it; wait for a matching service to appear again (udk_client_add_notification) and open that." },
	[UDK_E_BAD_MANIFEST - UDK_E_FIRST] = {
		"UDK_E_BAD_MANIFEST", "invalid bundle manifest",
		"A bundle's Info.plist or Entitlements.plist is missing, does not parse, lacks a required key, has a key of the wrong type, or its executable cannot run here (missing, not executable, or built for another machine).",
		"The reason names the file, the key or line and what it should be; `udkctl explain BUNDLE` lists every diagnostic. Fix the bundle and `udkctl rescan`." },
	[UDK_E_DEADLINE - UDK_E_FIRST] = {
		"UDK_E_DEADLINE", "peer did not answer before its deadline",
		"A driver did not return from a call (Start, Stop, a user-client method, a power change) within its deadline, or a queue's watchdog fired; udkd killed it. Also returned to an app whose call waited past its timeout.",
		"The reason names the call and how long udkd waited: make that call return sooner (do long work on a queue and complete asynchronously), or raise it in the personality's UDKDeadlines (docs/bundles.md)." },
	[UDK_E_UNKNOWN_SELECTOR - UDK_E_FIRST] = {
		"UDK_E_UNKNOWN_SELECTOR", "unknown external method selector",
		"An app called a user-client selector that the driver does not export.",
		"The reason lists the driver's selectors; call one of those, or update the driver that exports the new one." },
	[UDK_E_SCALAR_COUNT - UDK_E_FIRST] = {
		"UDK_E_SCALAR_COUNT", "wrong number of scalar arguments",
		"An external-method call passed a different number of scalar inputs or outputs than the driver's method table declares.",
		"Pass exactly the count the reason gives (the driver's interface .md lists every selector's arguments)." },
	[UDK_E_STRUCT_SIZE - UDK_E_FIRST] = {
		"UDK_E_STRUCT_SIZE", "wrong structure argument size",
		"An external-method call passed a structure input or output whose size the driver's method table does not accept.",
		"Pass a structure of the size the reason names; rebuild the app against the driver's current interface header." },
	[UDK_E_COMPLETION - UDK_E_FIRST] = {
		"UDK_E_COMPLETION", "completion required or not allowed",
		"An asynchronous method was called without a completion, or a synchronous one with a completion.",
		"Call the selector the way the driver declares it: udk_call_async for asynchronous methods, udk_call for the others." },
	[UDK_E_NOT_PERMITTED - UDK_E_FIRST] = {
		"UDK_E_NOT_PERMITTED", "access not permitted",
		"udkd refused access: an app to a user client (the driver's access rules do not allow the app, or an administrator has not granted it), or a driver to a protected device such as a keyboard (no access grant lets the driver have it).",
		"The reason names who was refused and the rule. An app: `udkctl access explain DRIVER APP` shows what would allow it, `udkctl access grant DRIVER APP` grants it. A driver and a protected device such as a keyboard: the `udkctl access grant --FAMILY ...` command the reason gives." },
	[UDK_E_ENTITLEMENT - UDK_E_FIRST] = {
		"UDK_E_ENTITLEMENT", "entitlement missing or does not cover this",
		"The bundle, or the app, lacks the entitlement the family or udkd requires for this (for example com.apple.developer.driverkit or a family's transport entitlement), or its value does not cover the device.",
		"Add the entitlement named in the reason to Entitlements.plist with a value that covers the device, then sign again." },
	[UDK_E_BAD_SIGNATURE - UDK_E_FIRST] = {
		"UDK_E_BAD_SIGNATURE", "bundle signature does not verify",
		"A signed bundle changed after it was signed: a file changed, was added or removed, the signature is truncated, or a symlink leads out of the bundle.",
		"The reason names the file; restore it, or sign the bundle again with `udk-sign sign`." },
	[UDK_E_UNTRUSTED_KEY - UDK_E_FIRST] = {
		"UDK_E_UNTRUSTED_KEY", "bundle signed by an untrusted key",
		"The bundle's signature verifies, but with a key udkd's trust store does not hold.",
		"If you trust the publisher, `udkctl trust add KEY.public`; otherwise remove the bundle." },
	[UDK_E_UNSIGNED - UDK_E_FIRST] = {
		"UDK_E_UNSIGNED", "bundle is not signed",
		"udkd runs in production mode and the bundle has no _UDKSignature.",
		"Sign it (`udk-sign sign --key KEY BUNDLE`), or run udkd in developer mode while developing." },
	[UDK_E_REVOKED - UDK_E_FIRST] = {
		"UDK_E_REVOKED", "access was revoked",
		"An administrator revoked the app's access grant, or the driver closed the app's user client; every pending and later call on it fails.",
		"Ask for access again (`udkctl access grant`); reopening only helps once access is granted again." },
	[UDK_E_BAD_ADDRESS - UDK_E_FIRST] = {
		"UDK_E_BAD_ADDRESS", "client memory range is not accessible",
		"A call referenced app memory the app did not expose for it, outside the range it exposed, or a driver touched a buffer outside its mapping.",
		"Pass the buffer through udk_call_args.ranges (or a memory descriptor) and keep offsets and lengths inside it; the reason gives the range and the limit." },
	[UDK_E_HARDWARE_GONE - UDK_E_FIRST] = {
		"UDK_E_HARDWARE_GONE", "hardware is gone",
		"The device was unplugged, removed from the simulation, or its device model exited, while calls were pending or afterwards.",
		"Close the connection; reopening helps only when the device (or the model) comes back: wait for it with udk_client_add_notification." },
	[UDK_E_POWER_TIMEOUT - UDK_E_FIRST] = {
		"UDK_E_POWER_TIMEOUT", "power change was not acknowledged in time",
		"A driver did not acknowledge SetPowerState within its power deadline during a sleep, wake or idle transition.",
		"`udkctl power` names the driver and the state; make SetPowerState complete within the deadline (acknowledge before long work)." },
	[UDK_E_DAEMON_UNREACHABLE - UDK_E_FIRST] = {
		"UDK_E_DAEMON_UNREACHABLE", "cannot reach udkd",
		"libudk or udkctl could not connect to udkd's socket, or udkd closed the connection.",
		"Start udkd, or point UDK_RUNTIME_DIR at the runtime directory it uses (the reason names the path tried)." },
	[UDK_E_VERSION - UDK_E_FIRST] = {
		"UDK_E_VERSION", "peer speaks an incompatible protocol version",
		"A peer announced a protocol or API version this side does not speak.",
		"Use udkd, libudk and libudk-driver from the same release; rebuild the driver or the app against the installed headers." },
	[UDK_E_DIRECTION - UDK_E_FIRST] = {
		"UDK_E_DIRECTION", "memory used against its declared direction",
		"A buffer declared for input was written, or one declared for output was read, by a transfer or a DMA mapping.",
		"Declare the buffer with the direction the transfer needs (in, out or both)." },
	[UDK_E_IOMMU_FAULT - UDK_E_FIRST] = {
		"UDK_E_IOMMU_FAULT", "device accessed memory not prepared for DMA",
		"A (simulated) device read or wrote an IO address that the driver did not map for DMA, or after it unmapped it.",
		"Map the memory for DMA with the family's call before giving its address to the device, and keep it mapped until the device is done." },
	[UDK_E_UNSUPPORTED - UDK_E_FIRST] = {
		"UDK_E_UNSUPPORTED", "operation not supported by this driver or family",
		"The driver, its family or this machine does not implement the request (a method not provided, a transport the kernel lacks, a feature of a newer version).",
		"Check the family's documentation for what it supports; the reason names the operation and, where one exists, the alternative." },
	[UDK_E_BUSY - UDK_E_FIRST] = {
		"UDK_E_BUSY", "provider is open by another client",
		"The provider or device is opened exclusively by another driver or app, or a conflicting operation (a reset, a system sleep) is in progress.",
		"Wait for the other user to close it, or stop that driver; the reason names who holds it when udkd knows." },
	[UDK_E_UNSAFE_PATH - UDK_E_FIRST] = {
		"UDK_E_UNSAFE_PATH", "a file or directory other users could change",
		"A bundle, trust store or configuration file, or one of its directories, is writable by users other than its owner or root, so udkd will not trust it.",
		"chmod go-w (and chown root) the file or directory the reason names." },
	[UDK_E_TOO_LARGE - UDK_E_FIRST] = {
		"UDK_E_TOO_LARGE", "larger than the limit allows",
		"A request, manifest, signature, dictionary, value or queue is larger than the fixed bound udkd or the runtime enforces.",
		"Send less at once; the reason names the size and the limit (`udkctl status` lists every bound)." },
	[UDK_E_LIMIT - UDK_E_FIRST] = {
		"UDK_E_LIMIT", "a resource limit was reached",
		"A per-user, per-connection or per-bundle count limit (connections, open user clients, drivers, memory) was reached.",
		"Close what you no longer use; an administrator can raise the limit (`udkctl status` shows each limit, udkd --limit NAME=N sets it)." },
	[UDK_E_EXEC_FORMAT - UDK_E_FIRST] = {
		"UDK_E_EXEC_FORMAT", "driver executable cannot run on this machine",
		"A bundle's executable is not a program this machine runs: an ELF of another class or machine than udkd, a script without a #! line, or a file of unknown format. udkd finds it when it loads the bundle, before any launch.",
		"Build the driver for this machine (the reason names the file, its format and udkd's), or start a script with a #! line naming its interpreter." },
	[UDK_E_ALREADY_RUNNING - UDK_E_FIRST] = {
		"UDK_E_ALREADY_RUNNING", "another udkd uses this runtime directory",
		"udkd was started on a runtime directory whose lock another running udkd holds.",
		"The reason gives the running udkd's pid: stop it first, or start this one with another UDK_RUNTIME_DIR (--runtime-dir)." },
	[UDK_E_BAD_DESCRIPTOR - UDK_E_FIRST] = {
		"UDK_E_BAD_DESCRIPTOR", "a device descriptor is malformed or over a limit",
		"A device's descriptor (a report, device or configuration descriptor) does not parse, is inconsistent, or is over one of the parser's limits (size, depth, report count).",
		"The reason names the byte offset and what was wrong there: fix the descriptor the device or the virtual device gives; the family's page in docs/families/ names the tool that checks one offline." },
	[UDK_E_NO_SUCH_DEVICE - UDK_E_FIRST] = {
		"UDK_E_NO_SUCH_DEVICE", "no such simulated device or device model",
		"A simulated device was named that the machine description does not have (`udkctl sim plug NAME`), or a device's Model names an executable that is in none of udkd's model directories.",
		"The reason lists the names or directories udkd looked at, with a did-you-mean: use a name from `udkctl sim list`, fix the Model in the machine file, or give udkd --models DIR where the model is." },
	[UDK_E_ALREADY_PLUGGED - UDK_E_FIRST] = {
		"UDK_E_ALREADY_PLUGGED", "simulated device already plugged in",
		"`udkctl sim plug NAME` named a device whose model is running already.",
		"Nothing to do if you wanted it plugged; to start it afresh, `udkctl sim unplug NAME` first, then plug it." },
	[UDK_E_LIBRARY - UDK_E_FIRST] = {
		"UDK_E_LIBRARY", "driver needs a shared library the sandbox does not admit",
		"A driver executable is linked against a shared library (ELF DT_NEEDED, or its interpreter) outside the directories the driver sandbox admits, or it exited with status 127 at launch because the loader found no library it needs.",
		"The reason names the library: link the driver statically against libudk-driver (the default of udk's pkg-config file with --static), or install udk so the library is in the admitted system directories (e.g. /usr/lib), then `udkctl rescan`." },
	[UDK_E_DRIVER_REPLACED - UDK_E_FIRST] = {
		"UDK_E_DRIVER_REPLACED", "driver is being replaced",
		"`udkctl upgrade` is replacing the driver serving this connection with a new version (or `udkctl uninstall` is removing it). Calls already queued were served first; this one, and later ones on this connection, end with this code. Opens during the switch are refused with it too.",
		"Close the connection and open the service again once it reappears (udk_client_add_notification for its arrival): the new version, or the old one if the upgrade was rolled back, serves it. `udkctl drivers DRIVER` shows the upgrade's state." },
	[UDK_E_NO_SUCH_CLASS - UDK_E_FIRST] = {
		"UDK_E_NO_SUCH_CLASS", "executable does not register the class",
		"A personality's IOUserClass names a class that the driver executable does not register: the class names it passed to udk_driver_main() (sent in its hello) do not include it. udkd stops the process without starting the instance; it is not a crash and is not retried.",
		"The reason names the class, the classes the executable registers and the nearest one: fix IOUserClass in Info.plist, or add the class to the array given to udk_driver_main(), rebuild, then `udkctl restart DRIVER`." },
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

const char *
udk_error_when(int code)
{
	const struct error_entry *e = lookup(code);

	return e ? e->when : NULL;
}

const char *
udk_error_fix(int code)
{
	const struct error_entry *e = lookup(code);

	return e ? e->fix : NULL;
}

int
udk_error_parse(const char *name)
{
	if (!name)
		return 0;
	for (int c = UDK_E_FIRST; c < UDK_E_LAST; c++) {
		const char *n = udk_errors[c - UDK_E_FIRST].name;

		if (n && (streq(name, n) || streq(name, n + strlen("UDK_E_"))))
			return -c;
	}
	return 0;
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
