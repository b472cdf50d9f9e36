/* SPDX-License-Identifier: MIT */
/*
 * families/usb-devmodel.h - simulated USB devices: the USB kind of device
 * model (the generic part is <udk/devmodel.h>).
 *
 *	static const struct udk_dm_usb_device dev = {
 *		.descriptors = descs, .descriptors_len = sizeof(descs),
 *		.strings = (const char *const[]){ "udk", "Loopback", "0001" }, .n_strings = 3,
 *		.speed = UDK_USB_SPEED_HIGH,
 *	};
 *	static const struct udk_dm_usb_ops ops = { UDK_DM_USB_OPS_INIT, .transfer = on_transfer };
 *	udk_dm_add_usb_device(dm, &dev, &ops, state, &fn);
 *
 * A model gives its descriptors and handles transfers on its endpoints.
 * The runtime answers the standard requests on the default pipe itself
 * (GET_DESCRIPTOR for the device, configurations, strings and BOS;
 * SET/GET_CONFIGURATION, SET/GET_INTERFACE, GET_STATUS, CLEAR/SET_FEATURE
 * ENDPOINT_HALT), keeps per-endpoint halts, queues transfers per
 * endpoint and hands the model one at a time per endpoint, in order.
 * Class and vendor requests go to control().
 *
 * The same model serves udk drivers (through udkd's broker) and, exported
 * with the machine description's <key>Host</key><string>linux</string>,
 * Linux's own drivers through vhci-hcd and USB/IP.
 *
 * Every callback runs on the model's main thread.  udk_dm_usb_complete()
 * and the other calls below must be made there too (udk_dm_post() from
 * other threads).
 */
#ifndef UDK_FAMILIES_USB_DEVMODEL_H
#define UDK_FAMILIES_USB_DEVMODEL_H

#include <udk/devmodel.h>
#include <udk/families/usb-spec.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_dm_usb_device {
	/* the device descriptor followed by every configuration descriptor
	 * (with its interfaces, endpoints and class descriptors), as Linux's
	 * /sys/bus/usb/devices/X/descriptors holds them */
	const uint8_t *descriptors;
	size_t descriptors_len;
	/* strings[i] is string descriptor i + 1 (UTF-8; language 0x0409) */
	const char *const *strings;
	unsigned n_strings;
	/* the BOS descriptor with its capabilities, or NULL */
	const uint8_t *bos;
	size_t bos_len;
	enum udk_usb_speed speed;
};

/* A transfer the runtime hands the model (valid until completed). */
struct udk_dm_usb_transfer {
	uint8_t endpoint;		/* address: bit 7 set for IN; 0 for the default pipe */
	uint8_t type;			/* enum udk_usb_transfer_type */
	struct udk_usb_setup setup;	/* control: the request (host order) */
	uint8_t *data;			/* OUT: the bytes sent (read only); IN: room to fill */
	uint32_t length;		/* OUT: bytes sent; IN: room */
	uint32_t actual;		/* IN: set to the bytes filled (OUT: set by the runtime) */
	uint32_t n_packets;		/* isochronous */
	struct udk_usb_iso_packet *packets;
	void *model_data;		/* the model's */
};

/* transfer() / control() returns this to complete later. */
#define UDK_DM_USB_PENDING 1

/* Callbacks; all optional, fields only appended. */
struct udk_dm_usb_ops {
	uint32_t struct_size;		/* sizeof(struct udk_dm_usb_ops) */
	/*
	 * A class or vendor request on the default pipe (or a standard one
	 * the runtime does not answer).  Return 0 when done (IN: t->actual
	 * set), UDK_DM_USB_PENDING, or -EPIPE to stall the request.  NULL:
	 * every such request stalls.
	 */
	int (*control)(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t);
	/*
	 * A bulk, interrupt or isochronous transfer on one of the current
	 * configuration's endpoints.  Return 0 when done (IN: t->actual
	 * set; isochronous: every packet's actual and status), -EPIPE to
	 * halt the endpoint, another negative code to fail it, or
	 * UDK_DM_USB_PENDING and complete it later (find it again with
	 * udk_dm_usb_pending()).  The next transfer on that endpoint waits.
	 */
	int (*transfer)(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t);
	/* A pending transfer was cancelled (aborted, timed out, its driver
	 * went away): forget it; the runtime completes it. */
	void (*cancel)(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t);
	/* The host set configuration @value (0: unconfigured) or an
	 * alternate setting.  Return <0 to refuse (the request stalls). */
	int (*set_configuration)(struct udk_dm_function *fn, uint8_t value);
	int (*set_interface)(struct udk_dm_function *fn, uint8_t interface, uint8_t alternate);
	/* A halt on @endpoint was cleared. */
	void (*clear_halt)(struct udk_dm_function *fn, uint8_t endpoint);
	/* Port reset: asked by the driver, or its driver died (@why).  Every
	 * pending transfer is gone by then. */
	void (*reset)(struct udk_dm_function *fn, const char *why);
};

#define UDK_DM_USB_OPS_INIT .struct_size = sizeof(struct udk_dm_usb_ops)

/* Add a USB device.  Its descriptors are checked now: -EINVAL with a reason. */
UDK_EXPORT int udk_dm_add_usb_device(struct udk_dm *dm, const struct udk_dm_usb_device *dev,
				     const struct udk_dm_usb_ops *ops, void *userdata, struct udk_dm_function **ret);
/* Complete a transfer the model kept (status 0 or a negative code; -EPIPE halts the endpoint). */
UDK_EXPORT int udk_dm_usb_complete(struct udk_dm_usb_transfer *t, int status);
/* The transfer the model holds on @endpoint, or NULL. */
UDK_EXPORT struct udk_dm_usb_transfer *udk_dm_usb_pending(struct udk_dm_function *fn, uint8_t endpoint);
/* Halt (stall) @endpoint: the held transfer and the queued ones fail with -EPIPE until the host clears it. */
UDK_EXPORT int udk_dm_usb_halt(struct udk_dm_function *fn, uint8_t endpoint);
/* Hand the next queued transfers to the model (after it made room, say). */
UDK_EXPORT void udk_dm_usb_kick(struct udk_dm_function *fn, uint8_t endpoint);
/* The configuration the host set (0: none) and an interface's alternate setting. */
UDK_EXPORT uint8_t udk_dm_usb_get_configuration(struct udk_dm_function *fn);
UDK_EXPORT uint8_t udk_dm_usb_get_alternate(struct udk_dm_function *fn, uint8_t interface);
/* "udk" (udk drivers) or "linux" (exported to vhci-hcd). */
UDK_EXPORT const char *udk_dm_usb_get_host(struct udk_dm_function *fn);

#ifdef __cplusplus
}
#endif
#endif
