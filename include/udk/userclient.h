/* SPDX-License-Identifier: MIT */
/*
 * userclient.h - the driver side of user clients (IOUserClient):
 * external methods with checked arguments, async completions, and memory
 * descriptors over an app's memory.
 *
 * A user client is a service object (struct udk_service) whose class sets
 * methods/n_methods or external_method.  Calls from one app arrive in order
 * on the user client's own queue; calls from different apps run in
 * parallel on different queues.
 *
 * Before a method runs, the runtime checks the call against its dispatch
 * entry.  A call that fails a check never reaches driver code; the app gets
 * UDK_E_UNKNOWN_SELECTOR, UDK_E_SCALAR_COUNT, UDK_E_STRUCT_SIZE or
 * UDK_E_COMPLETION with a sentence naming the selector and the expected and
 * given sizes.
 */
#ifndef UDK_USERCLIENT_H
#define UDK_USERCLIENT_H

#include <udk/buffer.h>
#include <udk/driver.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_memory_descriptor;
struct udk_async_ref;

/* checkStructure*Size / checkScalar*Count value that skips the check. */
#define UDK_METHOD_VARIABLE 0xffffffffu

#define UDK_MAX_SCALARS 16
#define UDK_MAX_INLINE_STRUCT 4096

struct udk_method_args {
	uint64_t selector;
	const uint64_t *scalar_input;
	uint32_t scalar_input_count;
	const void *struct_input;		/* inline input, <= 4096 bytes */
	size_t struct_input_size;
	/* input larger than 4096 bytes arrives here instead (read-only) */
	struct udk_memory_descriptor *struct_input_descriptor;
	uint64_t *scalar_output;		/* room for scalar_output_count values */
	uint32_t scalar_output_count;		/* in: what the app asked for; out: what you wrote */
	void *struct_output;			/* inline output buffer */
	size_t struct_output_size;		/* in: capacity; out: bytes you wrote */
	/* the app's output buffer when it is larger than 4096 bytes */
	struct udk_memory_descriptor *struct_output_descriptor;
	/* non-NULL for asynchronous calls: keep a copy to complete later */
	const struct udk_async_ref *completion;
};

typedef int (*udk_method_fn)(struct udk_service *client, void *reference, struct udk_method_args *args);

/* IOUserClientMethodDispatch */
struct udk_method_dispatch {
	udk_method_fn function;
	const char *name;			/* for error messages, e.g. "GetEdid" */
	uint32_t check_completion_exists;	/* 1: must be async, 0: must be sync, VARIABLE: either */
	uint32_t check_scalar_input_count;
	uint32_t check_structure_input_size;	/* inline or descriptor size */
	uint32_t check_scalar_output_count;
	uint32_t check_structure_output_size;
};

/* Create a user client of class @class_name (one of the executable's
 * classes), for new_user_client(). */
UDK_EXPORT int udk_user_client_create(struct udk_service *provider, const char *class_name,
				      struct udk_service **ret);

/* Check @args against @dispatch, then call it; for external_method(). */
UDK_EXPORT int udk_user_client_dispatch(struct udk_service *client, struct udk_method_args *args,
					const struct udk_method_dispatch *dispatch, void *reference);

/* Identity of the app on the other end, as udkd saw it. */
UDK_EXPORT int udk_user_client_get_peer(struct udk_service *client, int *ret_pid, int *ret_uid);

/* ---- async completions ---- */

/* A heap copy of args->completion, valid after the method returns. */
UDK_EXPORT int udk_async_ref_copy(const struct udk_async_ref *ref, struct udk_async_ref **ret);
UDK_EXPORT void udk_async_ref_free(struct udk_async_ref *ref);
/*
 * AsyncCompletion: deliver @status and up to 16 @values to the app.  Any
 * thread.  -UDK_E_TERMINATED if the app is gone (nothing else happens).
 */
UDK_EXPORT int udk_async_complete(const struct udk_async_ref *ref, int status, const uint64_t *values,
				  uint32_t count);

/* ---- memory descriptors ---- */

/*
 * CreateMemoryDescriptorFromClient: the app's address ranges @segs as one
 * descriptor.  Only during a call from that app on @client (-EPERM
 * otherwise), and only inside what the app exposed for that call: the
 * structures it passed and the ranges it listed (client.h,
 * udk_call_args.ranges).  A segment outside them gives UDK_E_BAD_ADDRESS,
 * writing one exposed read-only UDK_E_DIRECTION, with a sentence; nothing
 * of the app's is read or written then.  The app also checks every range
 * with the kernel; one that is not mapped, or not writable when the driver
 * must write it, gives UDK_E_BAD_ADDRESS and never a crash.
 *
 * Guarantee: what the driver writes through the descriptor is in the app's
 * memory when the call returns to the app (for async calls: when the
 * completion is delivered).  Writes after that are not seen by the app.
 * Ranges inside a udk_buffer the app shared are not copied at all.
 */
UDK_EXPORT int udk_user_client_create_memory_descriptor(struct udk_service *client, uint32_t direction,
							 uint32_t n_segments,
							 const struct udk_address_segment *segs,
							 struct udk_memory_descriptor **ret);

UDK_EXPORT struct udk_memory_descriptor *udk_memory_descriptor_ref(struct udk_memory_descriptor *md);
UDK_EXPORT struct udk_memory_descriptor *udk_memory_descriptor_unref(struct udk_memory_descriptor *md);
UDK_EXPORT uint64_t udk_memory_descriptor_get_length(const struct udk_memory_descriptor *md);
UDK_EXPORT uint32_t udk_memory_descriptor_get_direction(const struct udk_memory_descriptor *md);
/*
 * CreateMapping: the descriptor's bytes mapped in this process.  Writable
 * only if the direction includes IN.  Borrowed: valid while @md lives.
 */
UDK_EXPORT int udk_memory_descriptor_map(struct udk_memory_descriptor *md, void **ret_addr, uint64_t *ret_len);
/* Bounds- and direction-checked copies. */
UDK_EXPORT int udk_memory_descriptor_read(struct udk_memory_descriptor *md, uint64_t offset, void *buf,
					  uint64_t len);
UDK_EXPORT int udk_memory_descriptor_write(struct udk_memory_descriptor *md, uint64_t offset, const void *buf,
					   uint64_t len);
/* A descriptor over a shared buffer (see buffer.h). */
UDK_EXPORT int udk_memory_descriptor_from_buffer(struct udk_buffer *buf, uint32_t direction,
						 struct udk_memory_descriptor **ret);
/* The buffer behind a descriptor, when it has one (borrowed), else NULL. */
UDK_EXPORT struct udk_buffer *udk_memory_descriptor_get_buffer(struct udk_memory_descriptor *md);

#ifdef __cplusplus
}
#endif
#endif
