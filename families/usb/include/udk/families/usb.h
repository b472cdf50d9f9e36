/* SPDX-License-Identifier: MIT */
/*
 * families/usb.h - the USB family for drivers (USBDriverKit's
 * IOUSBHostDevice, IOUSBHostInterface and IOUSBHostPipe).
 *
 * A driver matched on an IOUSBHostDevice opens it, sets a configuration,
 * walks its interfaces and opens the pipes it needs:
 *
 *	struct udk_usb_device *dev;
 *	struct udk_usb_interface_iterator *it;
 *	struct udk_usb_interface *intf;
 *	struct udk_usb_pipe *in;
 *
 *	udk_usb_device_open(provider, &dev);
 *	udk_usb_device_set_configuration(dev, 1, true);
 *	udk_usb_device_create_interface_iterator(dev, &it);
 *	while (udk_usb_interface_iterator_next(it, &intf) == 0 && intf) {
 *		if (udk_usb_interface_get_descriptor(intf)->bInterfaceClass == 0xff &&
 *		    udk_usb_interface_open(intf) == 0)
 *			udk_usb_interface_copy_pipe(intf, 0x81, &in);
 *		udk_usb_interface_unref(intf);
 *	}
 *	udk_usb_pipe_io(in, md, 0, 512, 1000, &actual);
 *
 * The iterator returns every interface of the configuration now set,
 * whatever its class (vendor-specific 0xFF included).  A driver matched
 * on an IOUSBHostInterface opens it with udk_usb_interface_open_provider().
 *
 * The same calls work on every backend: a simulated device (a device
 * model, <udk/families/usb-devmodel.h>) or a real one through Linux's
 * usbfs (udkd opens the device node, the driver's libusb wraps it).
 *
 * Transfers go to or from memory descriptors (the driver's buffers, or an
 * app's memory from udk_user_client_create_memory_descriptor()), or plain
 * buffers for small ones.  Each is synchronous or asynchronous; an
 * asynchronous one completes on the dispatch queue it names, exactly
 * once.  Timeouts are in milliseconds; 0 waits for ever.
 *
 * Errors (also the status of completions), each with a reason sentence:
 *   -EPIPE                the endpoint halted (stalled); clear it with
 *                         udk_usb_pipe_clear_stall().  A stall on the
 *                         default pipe refuses one request only.
 *   -ETIMEDOUT            the transfer did not complete in time (it is
 *                         cancelled; a partial IN transfer says how much came)
 *   -ECANCELED            aborted (udk_usb_pipe_abort), or the
 *                         configuration or alternate setting changed
 *   -EOVERFLOW            the device sent more than asked (babble)
 *   -UDK_E_HARDWARE_GONE  the device was unplugged (every pending transfer
 *                         completes with it; nothing hangs)
 *   -UDK_E_BUSY           another driver has the device or interface open
 *   -UDK_E_DIRECTION      memory used against its direction
 *   -UDK_E_UNSUPPORTED    the backend cannot do this (the reason says why)
 */
#ifndef UDK_FAMILIES_USB_H
#define UDK_FAMILIES_USB_H

#include <udk/buffer.h>
#include <udk/driver.h>
#include <udk/families/usb-spec.h>
#include <udk/queue.h>
#include <udk/userclient.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_usb_device;
struct udk_usb_interface;
struct udk_usb_interface_iterator;
struct udk_usb_pipe;

/* ---- devices (IOUSBHostDevice) ---- */

/* Open: exclusive access to the device.  Close (or the driver's exit) ends it. */
UDK_EXPORT int udk_usb_device_open(struct udk_service *provider, struct udk_usb_device **ret);
/* Every pending transfer completes with -ECANCELED first; interfaces and
 * pipes still referenced fail with UDK_E_HARDWARE_GONE afterwards. */
UDK_EXPORT void udk_usb_device_close(struct udk_usb_device *dev);
/* "sim" or "usbfs". */
UDK_EXPORT const char *udk_usb_device_get_backend(const struct udk_usb_device *dev);
UDK_EXPORT enum udk_usb_speed udk_usb_device_get_speed(const struct udk_usb_device *dev);
/* The device descriptor (host byte order; borrowed). */
UDK_EXPORT const struct udk_usb_device_descriptor *udk_usb_device_get_descriptor(const struct udk_usb_device *dev);
/*
 * CopyConfigurationDescriptor: configuration @index (0 .. bNumConfigurations-1)
 * with everything in it, *ret_len bytes (wTotalLength).  Borrowed, valid
 * until close.  When the configuration's descriptors are malformed it
 * still returns them, and -EINVAL with the problem in words.
 */
UDK_EXPORT int udk_usb_device_get_configuration_descriptor(struct udk_usb_device *dev, uint8_t index,
							   const struct udk_usb_configuration_descriptor **ret,
							   size_t *ret_len);
/* bConfigurationValue of the configuration set now (0: not configured). */
UDK_EXPORT uint8_t udk_usb_device_get_configuration(const struct udk_usb_device *dev);
/*
 * SetConfiguration: set configuration @value (0 unconfigures).  With
 * @match_interfaces, udkd publishes its interfaces as IOUSBHostInterface
 * nubs and matches drivers to them; without, the nubs exist unmatched.
 * The interface iterator works either way.
 */
UDK_EXPORT int udk_usb_device_set_configuration(struct udk_usb_device *dev, uint8_t value, bool match_interfaces);
/* Reset the port.  Pending transfers complete with -ECANCELED; the
 * configuration and alternate settings are restored. */
UDK_EXPORT int udk_usb_device_reset(struct udk_usb_device *dev);
/* CopyStringDescriptor: string @index in @language (0: US English), as UTF-8. */
UDK_EXPORT int udk_usb_device_copy_string(struct udk_usb_device *dev, uint8_t index, uint16_t language, char *buf,
					  size_t len);
/* CopyCapabilityDescriptors: the BOS descriptor and its capabilities
 * (malloc'ed); -ENOENT when the device has none. */
UDK_EXPORT int udk_usb_device_copy_bos(struct udk_usb_device *dev, void **ret, size_t *ret_len);

/*
 * DeviceRequest on the default pipe: @data holds setup->wLength bytes (an
 * IN request fills it).  *ret_actual (may be NULL) says how many moved.
 */
UDK_EXPORT int udk_usb_device_request(struct udk_usb_device *dev, const struct udk_usb_setup *setup, void *data,
				      uint32_t *ret_actual, uint32_t timeout_ms);

typedef void (*udk_usb_completion_fn)(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx);
typedef void (*udk_usb_iso_completion_fn)(struct udk_usb_pipe *pipe, int status,
					  const struct udk_usb_iso_packet *packets, uint32_t n_packets, void *ctx);

/* The same into a memory descriptor, asynchronously (@fn gets a NULL pipe). */
UDK_EXPORT int udk_usb_device_request_async(struct udk_usb_device *dev, const struct udk_usb_setup *setup,
					    struct udk_memory_descriptor *md, uint64_t offset, uint32_t timeout_ms,
					    struct udk_queue *queue, udk_usb_completion_fn fn, void *ctx);

/* CreateInterfaceIterator: every interface of the configuration set now. */
UDK_EXPORT int udk_usb_device_create_interface_iterator(struct udk_usb_device *dev,
							struct udk_usb_interface_iterator **ret);
/* CopyInterface: the next one (a reference), or 0 with *ret NULL at the end. */
UDK_EXPORT int udk_usb_interface_iterator_next(struct udk_usb_interface_iterator *it, struct udk_usb_interface **ret);
UDK_EXPORT void udk_usb_interface_iterator_free(struct udk_usb_interface_iterator *it);

/* ---- interfaces (IOUSBHostInterface) ---- */

/* A driver matched on an IOUSBHostInterface: open (and claim) it. */
UDK_EXPORT int udk_usb_interface_open_provider(struct udk_service *provider, struct udk_usb_interface **ret);
/* Open: claim an interface the iterator gave (exclusive). */
UDK_EXPORT int udk_usb_interface_open(struct udk_usb_interface *intf);
/* Close: its pipes' transfers complete with -ECANCELED; the claim ends. */
UDK_EXPORT int udk_usb_interface_close(struct udk_usb_interface *intf);
UDK_EXPORT struct udk_usb_interface *udk_usb_interface_ref(struct udk_usb_interface *intf);
UDK_EXPORT struct udk_usb_interface *udk_usb_interface_unref(struct udk_usb_interface *intf);
/* The interface descriptor of the current alternate setting (borrowed). */
UDK_EXPORT const struct udk_usb_interface_descriptor *
udk_usb_interface_get_descriptor(const struct udk_usb_interface *intf);
/* The registry id of its IOUSBHostInterface nub (0 when unknown). */
UDK_EXPORT uint64_t udk_usb_interface_get_id(const struct udk_usb_interface *intf);
/* The device it belongs to (borrowed), for device requests. */
UDK_EXPORT struct udk_usb_device *udk_usb_interface_get_device(struct udk_usb_interface *intf);
/* Number of alternate settings, and the descriptor of one (borrowed; NULL if none). */
UDK_EXPORT unsigned udk_usb_interface_get_alternate_count(const struct udk_usb_interface *intf);
UDK_EXPORT const struct udk_usb_interface_descriptor *
udk_usb_interface_get_alternate(const struct udk_usb_interface *intf, uint8_t alternate);
/* SelectAlternateSetting; pipes of the old one end (their transfers -ECANCELED). */
UDK_EXPORT int udk_usb_interface_select_alternate_setting(struct udk_usb_interface *intf, uint8_t alternate);
/* Endpoint @index (0 .. bNumEndpoints-1) of the current alternate setting, or NULL. */
UDK_EXPORT const struct udk_usb_endpoint_descriptor *udk_usb_interface_get_endpoint(const struct udk_usb_interface *intf,
										   unsigned index);
/* The class-specific descriptors after the interface descriptor (HID, CDC ...), borrowed. */
UDK_EXPORT const void *udk_usb_interface_get_class_descriptors(const struct udk_usb_interface *intf,
							       size_t *ret_len);
/* CopyPipe: the pipe of endpoint @address (e.g. 0x81) of the current alternate setting. */
UDK_EXPORT int udk_usb_interface_copy_pipe(struct udk_usb_interface *intf, uint8_t address,
					   struct udk_usb_pipe **ret);

/* ---- pipes (IOUSBHostPipe) ---- */

UDK_EXPORT struct udk_usb_pipe *udk_usb_pipe_ref(struct udk_usb_pipe *pipe);
UDK_EXPORT struct udk_usb_pipe *udk_usb_pipe_unref(struct udk_usb_pipe *pipe);
/* The endpoint descriptor (host byte order; borrowed). */
UDK_EXPORT const struct udk_usb_endpoint_descriptor *udk_usb_pipe_get_descriptor(const struct udk_usb_pipe *pipe);

/*
 * IO: a bulk or interrupt transfer of @length bytes at @offset of @md, in
 * the endpoint's direction (IN needs a descriptor the driver may write).
 * Synchronous: waits; *ret_actual (may be NULL) says how many moved.
 */
UDK_EXPORT int udk_usb_pipe_io(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset,
			       uint32_t length, uint32_t timeout_ms, uint32_t *ret_actual);
/* AsyncIO: returns at once; @fn(pipe, status, actual, ctx) runs on @queue. */
UDK_EXPORT int udk_usb_pipe_io_async(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset,
				     uint32_t length, uint32_t timeout_ms, struct udk_queue *queue,
				     udk_usb_completion_fn fn, void *ctx);
/* The same with a plain buffer of this process (copied; for small transfers). */
UDK_EXPORT int udk_usb_pipe_io_buffer(struct udk_usb_pipe *pipe, void *buf, uint32_t length, uint32_t timeout_ms,
				      uint32_t *ret_actual);
/*
 * IsochIO: @n_packets packets whose lengths are packets[i].length, laid
 * end to end at @offset of @md.  On return each packet's actual and
 * status are set.
 */
UDK_EXPORT int udk_usb_pipe_isoch_io(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset,
				     struct udk_usb_iso_packet *packets, uint32_t n_packets, uint32_t timeout_ms);
UDK_EXPORT int udk_usb_pipe_isoch_io_async(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md,
					   uint64_t offset, const uint32_t *lengths, uint32_t n_packets,
					   struct udk_queue *queue, udk_usb_iso_completion_fn fn, void *ctx);
/* Abort: every pending transfer of the pipe completes with -ECANCELED
 * before this returns (their completions may still be queued). */
UDK_EXPORT int udk_usb_pipe_abort(struct udk_usb_pipe *pipe);
/*
 * ClearStall: clear the endpoint's halt, on the device too
 * (CLEAR_FEATURE(ENDPOINT_HALT)) with @with_request, else only on the
 * host side.  Transfers the halt failed are not retried.
 */
UDK_EXPORT int udk_usb_pipe_clear_stall(struct udk_usb_pipe *pipe, bool with_request);
/* Whether a transfer on this pipe stalled since the last clear, and how many stalls it has seen. */
UDK_EXPORT bool udk_usb_pipe_is_halted(const struct udk_usb_pipe *pipe);
UDK_EXPORT uint64_t udk_usb_pipe_get_stall_count(const struct udk_usb_pipe *pipe);

#ifdef __cplusplus
}
#endif
#endif
