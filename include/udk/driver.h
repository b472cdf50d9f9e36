/* SPDX-License-Identifier: MIT */
/*
 * driver.h - writing a driver: classes, services, the process entry point.
 *
 * A driver is an executable inside a Name.dext bundle.  udkd starts one
 * process per matched provider; main() hands the runtime the driver's
 * classes and the runtime does the rest:
 *
 *	static const struct udk_class my_driver = {
 *		UDK_CLASS_INIT,
 *		.name = "MyDriver",			// IOUserClass in Info.plist
 *		.ivars_size = sizeof(struct my_ivars),
 *		.start = my_start,
 *		.stop = my_stop,
 *	};
 *	int main(int argc, char **argv)
 *	{
 *		static const struct udk_class *const classes[] = { &my_driver, NULL };
 *		return udk_driver_main(argc, argv, classes);
 *	}
 *
 * Threads: every service has a default dispatch queue (see queue.h);
 * start, stop and the other class callbacks run on it, one at a time.
 * Functions here may be called from any thread unless noted.
 */
#ifndef UDK_DRIVER_H
#define UDK_DRIVER_H

#include <udk/queue.h>
#include <udk/udk.h>
#include <udk/value.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_service;
struct udk_buffer;
struct udk_ring;
struct udk_method_args;
struct udk_method_dispatch;

/* Power states, as DriverKit's kIOServicePowerCapability* ladder. */
enum udk_power_state {
	UDK_POWER_OFF = 0,
	UDK_POWER_LOW = 1,
	UDK_POWER_ON = 2,
};

/*
 * The operations of a class.  Fields are only ever appended; the runtime
 * reads struct_size to know which ones a driver was built with.  Every
 * callback is optional.
 */
struct udk_class {
	uint32_t struct_size;		/* sizeof(struct udk_class), via UDK_CLASS_INIT */
	uint32_t api_version;		/* UDK_API_VERSION, via UDK_CLASS_INIT */
	const char *name;		/* the IOUserClass (or user client IOUserClass) */
	size_t ivars_size;		/* zeroed per instance: udk_service_get_ivars() */

	/*
	 * Start on @provider.  Return 0, or a negative code; a failed start
	 * ends the process and udkd tries the next matching personality.
	 * Explain why with udk_error_set().
	 */
	int (*start)(struct udk_service *self, struct udk_service *provider);
	/* Undo start.  The process exits after this returns. */
	int (*stop)(struct udk_service *self, struct udk_service *provider);
	/* Last reference gone: release what ivars point to. */
	void (*free)(struct udk_service *self);
	/*
	 * An app asks for a user client of @type.  Return a new user client
	 * in *ret (udk_user_client_create()), or a negative code to refuse.
	 * When NULL, the runtime creates the class named by the personality's
	 * UserClientProperties.IOUserClass.
	 */
	int (*new_user_client)(struct udk_service *self, uint32_t type, struct udk_service **ret);
	/*
	 * A driver that was started on @nub (a service this driver published)
	 * died.  Families reset the device here before the driver restarts.
	 */
	void (*nub_client_died)(struct udk_service *self, struct udk_service *nub);
	/*
	 * SetPowerState: quiesce (lower states) or resume (ON) the device,
	 * then return 0 to acknowledge, or UDK_POWER_ACK_LATER and call
	 * udk_service_acknowledge_power_state() when done.  Runs only after
	 * start() returned.  udkd waits for the acknowledgement until the
	 * personality's UDKDeadlines.SetPowerState (default 5000 ms); a
	 * driver that misses it is killed and restarted, and the transition
	 * completes without it.  NULL: acknowledged at once.
	 */
	int (*set_power_state)(struct udk_service *self, uint32_t flags, enum udk_power_state state);

	/* ---- user client classes (see userclient.h) ---- */

	/* Dispatch table indexed by selector; checked before any call. */
	const struct udk_method_dispatch *methods;
	uint32_t n_methods;
	/*
	 * Optional: called for every call instead of the table lookup; call
	 * udk_user_client_dispatch() to use the table for some selectors.
	 */
	int (*external_method)(struct udk_service *self, uint64_t selector, struct udk_method_args *args);
	/* CopyClientMemoryForType: memory an app maps with udk_connection_map_memory(). */
	int (*copy_client_memory_for_type)(struct udk_service *self, uint64_t type, uint64_t *options,
					   struct udk_buffer **ret);
	/* The app closed the connection or died. */
	void (*client_closed)(struct udk_service *self);
	/*
	 * A data queue an app maps with udk_connection_map_data_queue(): return
	 * a ring this side created (udk_ring_create); the app gets the other role.
	 */
	int (*copy_data_queue_for_type)(struct udk_service *self, uint64_t type, struct udk_ring **ret);
};

#define UDK_CLASS_INIT .struct_size = sizeof(struct udk_class), .api_version = UDK_API_VERSION

/*
 * Run the driver.  @classes is a NULL-terminated list of every class the
 * executable implements.  Returns the process exit status.
 */
UDK_EXPORT int
udk_driver_main(int argc, char **argv, const struct udk_class *const *classes);

UDK_EXPORT struct udk_service *udk_service_ref(struct udk_service *s);
UDK_EXPORT struct udk_service *udk_service_unref(struct udk_service *s);

/* Zeroed storage of class->ivars_size bytes, valid for the object's life. */
UDK_EXPORT void *udk_service_get_ivars(struct udk_service *s);
/* Registry id; stable for the life of the service. */
UDK_EXPORT uint64_t udk_service_get_id(const struct udk_service *s);
/* Borrowed: valid while @s lives. */
UDK_EXPORT const char *udk_service_get_name(const struct udk_service *s);
/* Most derived class name.  Borrowed. */
UDK_EXPORT const char *udk_service_get_class(const struct udk_service *s);
/*
 * Whether @s is of class @class_name: its class chain as udkd built it
 * (IOUserClass, then IOClass and its superclasses), for the driver's own
 * services and its provider.
 */
UDK_EXPORT bool udk_service_is_a(const struct udk_service *s, const char *class_name);
/*
 * For family libraries: 0 if @self runs as @class_name (its personality's
 * IOClass or a subclass of it); otherwise -UDK_E_UNSUPPORTED with the
 * sentence "this driver registers a @role but its IOClass is ...; set
 * IOClass to @class_name", which udkd also shows in `udkctl explain` and
 * `udkctl drivers`.
 */
UDK_EXPORT int udk_service_require_class(struct udk_service *self, const char *class_name, const char *role);
/* The provider a driver was started on, or NULL.  Borrowed. */
UDK_EXPORT struct udk_service *udk_service_get_provider(struct udk_service *s);
/* The queue the class callbacks of @s run on.  Borrowed. */
UDK_EXPORT struct udk_queue *udk_service_get_default_queue(struct udk_service *s);

/* A deep copy of the properties (for a provider: as of start). */
UDK_EXPORT int udk_service_copy_properties(struct udk_service *s, struct udk_value **ret);
/* Typed getters on the properties; the fallback when absent. */
UDK_EXPORT int64_t udk_service_get_int_property(struct udk_service *s, const char *key, int64_t fallback);
/* Copy of a string property into @buf; -ENOENT, -ENOBUFS. */
UDK_EXPORT int udk_service_get_string_property(struct udk_service *s, const char *key, char *buf, size_t len);
/* Merge @props into the registry entry of @s (one this driver owns). */
UDK_EXPORT int udk_service_set_properties(struct udk_service *s, const struct udk_value *props);

/*
 * Publish a child service of @parent (this driver's service or one it
 * published) in the registry, with @classes (most derived first, NULL
 * terminated) and @props.  It becomes matchable after
 * udk_service_register().  *ret holds one reference.
 */
UDK_EXPORT int udk_service_create_child(struct udk_service *parent, const char *name, const char *const *classes,
					const struct udk_value *props, struct udk_service **ret);
/*
 * IOService::Create(): make the service that the dictionary @properties_key
 * of @self's personality describes, e.g.
 *
 *	<key>PortProperties</key>
 *	<dict><key>IOClass</key><string>(a family's class)</string>
 *	      <key>IOUserClass</key><string>MyPort</string>
 *	      <key>MyName</key><string>myboard</string></dict>
 *
 * IOUserClass must be a class of this executable: the new service is a
 * child of @self in the registry, of class IOUserClass (its IOClass after
 * it, which gives the family role and needs its entitlement), with the
 * dictionary as properties; its start() runs with @self as provider, then
 * it is registered.  With IOClass IOUserUserClient it is a user client
 * (for new_user_client()).  Errors name the key: a missing dictionary or
 * an IOUserClass the executable lacks is UDK_E_BAD_MANIFEST.
 */
UDK_EXPORT int udk_service_create_from_properties(struct udk_service *self, const char *properties_key,
						  struct udk_service **ret);

/* set_power_state() returns this to acknowledge later. */
#define UDK_POWER_ACK_LATER 1

/* Acknowledge the set_power_state() that returned UDK_POWER_ACK_LATER. */
UDK_EXPORT int udk_service_acknowledge_power_state(struct udk_service *self);
/*
 * Ask udkd to move this driver's service to @state (e.g. ON when work
 * arrives while it idles in LOW); udkd calls set_power_state().
 */
UDK_EXPORT int udk_service_request_power_state(struct udk_service *self, enum udk_power_state state);
/*
 * Busy services are not powered down for idleness (DriverKit's activity
 * tickle).  Marking busy while LOW or OFF by idleness also wakes it.
 */
UDK_EXPORT int udk_service_set_busy(struct udk_service *self, bool busy);

/* RegisterService(): make @s visible to apps and to matching. */
UDK_EXPORT int udk_service_register(struct udk_service *s);
/* Terminate a child this driver published (and the drivers on it). */
UDK_EXPORT int udk_service_terminate(struct udk_service *s);
/* Publish a resource name for IOResourceMatch. */
UDK_EXPORT int udk_service_publish_resource(struct udk_service *s, const char *name);

/*
 * Logging: goes to udkd, which prefixes the bundle and pid and applies the
 * driver's log level (udkctl log-level).
 */
UDK_EXPORT void udk_log(int level, const char *fmt, ...) UDK_PRINTF(2, 3);
#define udk_log_error(...) udk_log(UDK_LOG_ERROR, __VA_ARGS__)
#define udk_log_warning(...) udk_log(UDK_LOG_WARNING, __VA_ARGS__)
#define udk_log_notice(...) udk_log(UDK_LOG_NOTICE, __VA_ARGS__)
#define udk_log_info(...) udk_log(UDK_LOG_INFO, __VA_ARGS__)
#define udk_log_debug(...) udk_log(UDK_LOG_DEBUG, __VA_ARGS__)

/*
 * Attach a reason sentence to the failure you are about to return; it
 * reaches udkd (start) or the app (external methods).  Returns @code.
 */
UDK_EXPORT int udk_error_set(int code, const char *fmt, ...) UDK_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif
