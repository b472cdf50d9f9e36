/* SPDX-License-Identifier: MIT */
/*
 * client.h - the app side: finding services, notifications, and user
 * clients (IOServiceGetMatchingServices, IOServiceAddMatchingNotification,
 * IOServiceOpen, IOConnectCallMethod, IOConnectMapMemory).
 *
 * A udk_client is a connection to udkd.  Opening a user client asks udkd
 * once; after that the udk_connection talks to the driver process
 * directly, with no hop through udkd.
 *
 * Threads: a udk_client and a udk_connection may be used from several
 * threads at once.  Notifications and async completions are delivered by
 * udk_client_dispatch() and udk_connection_dispatch(), on the thread that
 * calls them, never behind your back.
 */
#ifndef UDK_CLIENT_H
#define UDK_CLIENT_H

#include <udk/buffer.h>
#include <udk/udk.h>
#include <udk/value.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_client;
struct udk_connection;
struct udk_notification;

/*
 * Connect to udkd.  @runtime_dir NULL means $UDK_RUNTIME_DIR, else
 * $XDG_RUNTIME_DIR/udk, else /run/udk.  UDK_E_DAEMON_UNREACHABLE when no
 * udkd listens there.
 */
UDK_EXPORT int udk_client_new(const char *runtime_dir, struct udk_client **ret);
UDK_EXPORT struct udk_client *udk_client_ref(struct udk_client *c);
UDK_EXPORT struct udk_client *udk_client_unref(struct udk_client *c);

/* Poll this fd for POLLIN, then call udk_client_dispatch(). */
UDK_EXPORT int udk_client_get_fd(struct udk_client *c);
/*
 * Deliver pending notifications, waiting up to @timeout_ms (-1: forever,
 * 0: not at all) for the first.  Returns how many were delivered.
 */
UDK_EXPORT int udk_client_dispatch(struct udk_client *c, int timeout_ms);

/* ---- the registry ---- */

/*
 * Registered services matching @match (IOProviderClass, IONameMatch,
 * IOPropertyMatch, IORegistryEntryID, family keys; any other key must equal
 * the property).  *ret_ids is malloc'ed.
 */
UDK_EXPORT int udk_client_find_services(struct udk_client *c, const struct udk_value *match, uint64_t **ret_ids,
					size_t *ret_n);
/* The first registered service of class @class_name; UDK_E_NO_SUCH_SERVICE. */
UDK_EXPORT int udk_client_find_service(struct udk_client *c, const char *class_name, uint64_t *ret_id);
/* A path like "/Root/IOUserResources/MyDriver" (or an id) to an id. */
UDK_EXPORT int udk_client_lookup_path(struct udk_client *c, const char *path, uint64_t *ret_id);
/*
 * Everything about a service: {id, name, path, classes, state, provider,
 * properties, ...}.
 */
UDK_EXPORT int udk_client_copy_service(struct udk_client *c, uint64_t id, struct udk_value **ret);
/* The whole tree, depth first: {services: [...]}. */
UDK_EXPORT int udk_client_copy_tree(struct udk_client *c, bool with_properties, struct udk_value **ret);
/*
 * Wait until a registered service matches @match, up to @timeout_ms (-1:
 * forever).  -ETIMEDOUT when none came.
 */
UDK_EXPORT int udk_client_wait_for_service(struct udk_client *c, const struct udk_value *match, int timeout_ms,
					   uint64_t *ret_id);

enum udk_notification_type {
	UDK_NOTIFY_ARRIVAL = 1,		/* registered (first match) */
	UDK_NOTIFY_TERMINATION,		/* terminated */
	UDK_NOTIFY_PROPERTY,		/* properties changed */
};

typedef void (*udk_notify_fn)(struct udk_client *c, enum udk_notification_type type, uint64_t id,
			      const char *name, void *userdata);

/*
 * Call @fn for services matching @match as they come, go or change.  For
 * arrivals, services already registered are NOT reported; use
 * udk_client_find_services() after adding the notification.
 */
UDK_EXPORT int udk_client_add_notification(struct udk_client *c, enum udk_notification_type type,
					   const struct udk_value *match, udk_notify_fn fn, void *userdata,
					   struct udk_notification **ret);
UDK_EXPORT void udk_notification_remove(struct udk_notification *n);
/*
 * Inside a UDK_NOTIFY_PROPERTY callback: the properties that changed, with
 * their new values (borrowed, valid during the callback; copy to keep).
 * NULL outside a callback and for other types.
 */
UDK_EXPORT const struct udk_value *udk_notification_get_properties(void);

/* A matching dictionary {IOProviderClass: class_name}. */
UDK_EXPORT struct udk_value *udk_matching_class(const char *class_name);

/* ---- user clients ---- */

/*
 * IOServiceOpen: ask the driver of @service for a user client of @type.
 * The driver's new_user_client (and the user client's start()) decides.
 * Refusals come with the driver's own code and reason (udk_error_reason).
 */
UDK_EXPORT int udk_client_open(struct udk_client *c, uint64_t service, uint32_t type, struct udk_connection **ret);
UDK_EXPORT struct udk_connection *udk_connection_ref(struct udk_connection *conn);
/* The last reference closes the connection (as udk_connection_close). */
UDK_EXPORT struct udk_connection *udk_connection_unref(struct udk_connection *conn);
/*
 * IOServiceClose, synchronous: returns once the driver has run the user
 * client's client_closed() and stop(), so what it held is free and an
 * open right after this one is not refused because of it.  A dead driver
 * returns at once; a hung one is bounded by udk_connection_set_timeout(),
 * else by udkd's watchdog.  With calls still waiting on other threads it
 * does not wait: they fail at once (that is how an app cancels them) and
 * the driver cleans up once its current method returns.  Later calls fail
 * with UDK_E_TERMINATED.
 */
UDK_EXPORT int udk_connection_close(struct udk_connection *conn);

/*
 * IOConnectCallMethod.  Up to 16 scalars each way; structures inline up to
 * 4096 bytes, larger ones are passed through memory automatically.
 * @n_out and @sout_len are in/out: capacity in, what the driver returned
 * out.  Pointers may be NULL when their count is 0.  The driver may map
 * only @sin and @sout of the app's memory; to let it reach a buffer passed
 * by address, use udk_connection_call_args() with ranges.
 *
 * When the connection ends, the pending call and every later one fail
 * with why, and the reason says whether reopening helps:
 * UDK_E_DRIVER_DIED (the driver crashed or was killed: reopen once the
 * service re-arrives), UDK_E_HARDWARE_GONE (the device was removed:
 * reopen only when it is back), UDK_E_REVOKED (access revoked),
 * UDK_E_TERMINATED (closed by the app).
 */
UDK_EXPORT int udk_connection_call(struct udk_connection *conn, uint64_t selector, const uint64_t *in,
				   uint32_t n_in, const void *sin, size_t sin_len, uint64_t *out, uint32_t *n_out,
				   void *sout, size_t *sout_len);

typedef void (*udk_async_fn)(struct udk_connection *conn, int status, const uint64_t *values, uint32_t count,
			     void *userdata);

/*
 * IOConnectCallAsyncMethod: like udk_connection_call (which returns the
 * method's immediate result), then @fn runs from udk_connection_dispatch()
 * when the driver completes.  @fn runs exactly once, with
 * UDK_E_DRIVER_DIED if the driver dies first.  Memory the driver writes is
 * in place when @fn runs.
 */
UDK_EXPORT int udk_connection_call_async(struct udk_connection *conn, uint64_t selector, const uint64_t *in,
					 uint32_t n_in, const void *sin, size_t sin_len, uint64_t *out,
					 uint32_t *n_out, void *sout, size_t *sout_len, udk_async_fn fn,
					 void *userdata);

/*
 * App memory a driver may reach during one call.
 *
 * A driver maps app memory (udk_user_client_create_memory_descriptor,
 * DriverKit's CreateMemoryDescriptorFromClient) only while serving a call,
 * and only inside what the app exposed for that call: the structures it
 * passed (input read-only, output read-write) and the ranges listed here.
 * Anything else is refused by libudk with UDK_E_BAD_ADDRESS before a byte
 * is read or written; writing a range exposed read-only gives
 * UDK_E_DIRECTION.  A range inside a udk_buffer shares that whole buffer
 * (its pages are mapped, not copied; see buffer.h).  docs/userclients.md
 * compares this with DriverKit.
 */
struct udk_memory_range {
	const void *address;
	uint64_t length;
	/* UDK_MEMORY_DIRECTION_OUT: the driver may read it; IN or INOUT: read and write */
	uint32_t direction;
};

/* At most this many ranges per call. */
#define UDK_MAX_CALL_RANGES 32

/*
 * A call with all its arguments.  Set struct_size to sizeof(struct
 * udk_call_args); fields are only ever added at the end.  Counts and sizes
 * of outputs are in/out as in udk_connection_call().
 */
struct udk_call_args {
	size_t struct_size;
	const uint64_t *scalar_input;
	uint32_t scalar_input_count;
	const void *struct_input;
	size_t struct_input_size;
	uint64_t *scalar_output;
	uint32_t scalar_output_count;		/* in: room; out: returned */
	void *struct_output;
	size_t struct_output_size;		/* in: room; out: returned */
	const struct udk_memory_range *ranges;	/* app memory the driver may map during this call */
	uint32_t n_ranges;			/* <= UDK_MAX_CALL_RANGES */
};

/* udk_connection_call() with exposed ranges. */
UDK_EXPORT int udk_connection_call_args(struct udk_connection *conn, uint64_t selector, struct udk_call_args *args);
/* udk_connection_call_async() with exposed ranges; they stay exposed until the immediate reply. */
UDK_EXPORT int udk_connection_call_args_async(struct udk_connection *conn, uint64_t selector,
					      struct udk_call_args *args, udk_async_fn fn, void *userdata);

/*
 * Poll for POLLIN, then udk_connection_dispatch() delivers completions.
 * Once the connection has ended the fd stays readable (hung up).
 */
UDK_EXPORT int udk_connection_get_fd(struct udk_connection *conn);
/*
 * Deliver completions, waiting up to @timeout_ms for the first.  Returns
 * how many ran; when none ran and the connection has ended, its error
 * (UDK_E_DRIVER_DIED, UDK_E_HARDWARE_GONE, ... as for calls): stop
 * polling then.
 */
UDK_EXPORT int udk_connection_dispatch(struct udk_connection *conn, int timeout_ms);

/*
 * IOConnectMapMemory64: map the memory the driver shares for @type.  The
 * buffer is read-only when the driver made it so (enforced by the kernel).
 */
UDK_EXPORT int udk_connection_map_memory(struct udk_connection *conn, uint64_t type, uint64_t options,
					 struct udk_buffer **ret);

/*
 * Map the data queue the driver offers for @type (see ring.h).  The app
 * gets the role opposite to the driver's.  Its _wait calls end with the
 * connection's error (UDK_E_DRIVER_DIED, UDK_E_HARDWARE_GONE, ...) once
 * the connection has ended and the ring has nothing left for them, even
 * with timeout -1; the ring keeps that, not the connection.
 */
struct udk_ring;
UDK_EXPORT int udk_connection_map_data_queue(struct udk_connection *conn, uint64_t type, struct udk_ring **ret);

/*
 * Spin instead of sleeping while a call is out: synchronous calls then go
 * through a shared page that both the app and the driver poll, for the
 * lowest latency, at the cost of a busy CPU on each side while calls
 * flow.  Both sides fall back to sleeping after a short idle spin.
 */
UDK_EXPORT int udk_connection_set_spin(struct udk_connection *conn, bool spin);

/* Fail calls with UDK_E_DEADLINE after @ms (0, the default: wait). */
UDK_EXPORT int udk_connection_set_timeout(struct udk_connection *conn, int ms);
/* The registry id of the service this connection was opened on. */
UDK_EXPORT uint64_t udk_connection_get_service(const struct udk_connection *conn);

#ifdef __cplusplus
}
#endif
#endif
