/* SPDX-License-Identifier: MIT */
/*
 * families/hid.h - the HID family for drivers (libudk-hid): HID devices
 * a driver reads or seizes, virtual HID devices it makes, and event
 * services apps subscribe to.
 *
 * Three roles, as in DriverKit's HIDDriverKit:
 *
 *   reading a device (IOHIDInterface provider): udk_hid_interface_open()
 *	gives its input reports, or for a Linux input device its events,
 *	decoded into struct udk_hid_event, on a dispatch queue.  With
 *	UDK_HID_OPEN_SEIZE nothing else sees the device while the driver has
 *	it (EVIOCGRAB on a Linux input device): what keyboard remappers do.
 *
 *   a virtual HID device (IOClass IOUserHIDDevice or AppleUserHIDDevice,
 *	entitlement family.hid.device): udk_hid_device_create() with a report
 *	descriptor and properties; udk_hid_device_handle_report() sends input
 *	reports; output and feature reports (keyboard LEDs) arrive in ops.
 *	udkd publishes it as an IOHIDDevice with an IOHIDInterface below, so
 *	other drivers and apps read it like any device, and exports it to
 *	Linux through uhid or uinput (docs/families/hid.md).
 *
 *   an event service (IOClass IOUserHIDEventService, entitlement
 *	family.hid.eventservice): udk_hid_event_service_start() on an
 *	IOHIDInterface turns its reports into keyboard, pointer, scroll and
 *	consumer events and hands them to the apps that opened its user
 *	client (udk_hid_event_client_class) with <udk/families/hid-client.h>.
 *
 * Keyboards are protected devices: reading or seizing one needs the
 * keyboard usage in the driver's transport.hid entitlement and the user's
 * grant (`udkctl access grant --hid keyboard DRIVER`).  Without it the
 * open fails with UDK_E_NOT_PERMITTED and a sentence naming the device and
 * the command.  A revoked grant closes the device at once: the handle's
 * closed callback runs with UDK_E_REVOKED.
 *
 * Seized devices lose nothing across a driver crash: every input frame is
 * acknowledged with what the driver made of it (the reports it sent to
 * its virtual devices while handling it, in one message), and frames a
 * driver died holding go to the next instance of the same driver or, if
 * none comes within udkd's hand-off time, back to the device.
 */
#ifndef UDK_FAMILIES_HID_H
#define UDK_FAMILIES_HID_H

#include <udk/driver.h>
#include <udk/families/hid-descriptor.h>
#include <udk/families/hid-event.h>
#include <udk/families/hid-usage.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reading devices ---- */

struct udk_hid_interface;

enum udk_hid_open_options {
	UDK_HID_OPEN_SEIZE = 1 << 0,	/* exclusive: nothing else reads the device meanwhile */
};

struct udk_hid_interface_ops {
	uint32_t struct_size;		/* sizeof(struct udk_hid_interface_ops) */
	/*
	 * Decoded events, one call each, in order.  For a seized device,
	 * the reports a driver sends to its virtual devices from here are
	 * delivered together with the frame's acknowledgement.
	 */
	void (*event)(struct udk_hid_interface *iface, const struct udk_hid_event *ev, void *ctx);
	/* Each raw input report (report-based devices: not Linux input devices). */
	void (*report)(struct udk_hid_interface *iface, uint64_t timestamp_ns, const uint8_t *report, size_t len,
		       void *ctx);
	/* The device was closed by udkd: UDK_E_REVOKED (the grant was taken
	 * back) or UDK_E_HARDWARE_GONE, with the reason.  No call follows. */
	void (*closed)(struct udk_hid_interface *iface, int status, const char *reason, void *ctx);
};

#define UDK_HID_INTERFACE_OPS_INIT .struct_size = sizeof(struct udk_hid_interface_ops)

/*
 * Open @provider (this driver's IOHIDInterface provider): calls on @queue
 * (NULL: @self's default queue).  The refusals: UDK_E_NOT_PERMITTED (a
 * protected device without the user's grant), UDK_E_BUSY (another driver
 * seized it), UDK_E_HARDWARE_GONE.
 */
UDK_EXPORT int udk_hid_interface_open(struct udk_service *self, struct udk_service *provider, uint32_t options,
				      struct udk_queue *queue, const struct udk_hid_interface_ops *ops, void *ctx,
				      struct udk_hid_interface **ret);
/* Stop: no callback runs after this returns (unless called from one). */
UDK_EXPORT void udk_hid_interface_close(struct udk_hid_interface *iface);
/* The device's report descriptor (borrowed), or NULL for a Linux input device. */
UDK_EXPORT const struct udk_hid_descriptor *udk_hid_interface_get_descriptor(struct udk_hid_interface *iface);
/* The device's registry id (its IOHIDInterface), as in events' sender. */
UDK_EXPORT uint64_t udk_hid_interface_get_id(struct udk_hid_interface *iface);
/* setReport: an output or feature report (report ID first when the device numbers them). */
UDK_EXPORT int udk_hid_interface_set_report(struct udk_hid_interface *iface, enum udk_hid_report_type type,
					    const uint8_t *report, size_t len);
/* getReport: a feature or input report into @buf; *ret_len its length. */
UDK_EXPORT int udk_hid_interface_get_report(struct udk_hid_interface *iface, enum udk_hid_report_type type,
					    uint8_t report_id, uint8_t *buf, size_t cap, size_t *ret_len);

/* ---- virtual HID devices ---- */

struct udk_hid_device;

struct udk_hid_device_ops {
	uint32_t struct_size;		/* sizeof(struct udk_hid_device_ops) */
	/* setReport: an output or feature report from the host or a reader
	 * (e.g. keyboard LEDs).  Return 0 or a negative code. */
	int (*set_report)(struct udk_hid_device *dev, enum udk_hid_report_type type, const uint8_t *report, size_t len,
			  void *ctx);
	/* getReport: write report @report_id of @type into @buf, its length in *ret_len. */
	int (*get_report)(struct udk_hid_device *dev, enum udk_hid_report_type type, uint8_t report_id, uint8_t *buf,
			  size_t cap, size_t *ret_len, void *ctx);
};

#define UDK_HID_DEVICE_OPS_INIT .struct_size = sizeof(struct udk_hid_device_ops)

/*
 * Make @self (a service of this driver whose IOClass is IOUserHIDDevice
 * or AppleUserHIDDevice, e.g. one made with
 * udk_service_create_from_properties()) a virtual HID device.
 *
 * @descriptor: its report descriptor; NULL takes the service's
 * "ReportDescriptor" property (a <data>).  @properties: VendorID,
 * ProductID, VersionNumber, Transport, Manufacturer, Product,
 * SerialNumber, CountryCode, LocationID, PrimaryUsagePage, PrimaryUsage
 * and UDKHIDExport ("auto", "uhid", "uinput", "none"); NULL takes them
 * from the service's properties (the personality's dictionary).  The
 * usages come from the descriptor when absent.
 *
 * udkd parses the descriptor and refuses a bad one with
 * UDK_E_BAD_DESCRIPTOR naming the problem (udk_hid_problem_name) and the
 * byte.  Callbacks run on @queue (NULL: @self's default queue).
 */
UDK_EXPORT int udk_hid_device_create(struct udk_service *self, const uint8_t *descriptor, size_t len,
				     const struct udk_value *properties, struct udk_queue *queue,
				     const struct udk_hid_device_ops *ops, void *ctx, struct udk_hid_device **ret);
/* Remove the device (its IOHIDInterface and Linux export go with it). */
UDK_EXPORT void udk_hid_device_destroy(struct udk_hid_device *dev);
/*
 * handleReport: an input report (report ID first when numbered),
 * @timestamp_ns 0 for now.  udkd drops a report whose length or ID the
 * descriptor does not have, and counts it; this returns -EBADMSG for it
 * at once.
 */
UDK_EXPORT int udk_hid_device_handle_report(struct udk_hid_device *dev, uint64_t timestamp_ns, const uint8_t *report,
					    size_t len);
UDK_EXPORT const struct udk_hid_descriptor *udk_hid_device_get_descriptor(struct udk_hid_device *dev);
/* The Linux export udkd made: "uhid", "uinput" or "none". */
UDK_EXPORT const char *udk_hid_device_get_export(struct udk_hid_device *dev);

/* ---- event services ---- */

struct udk_hid_event_service;

struct udk_hid_event_service_ops {
	uint32_t struct_size;
	/* Every event before it is dispatched: change it, or return false to drop it. */
	bool (*filter)(struct udk_hid_event_service *svc, struct udk_hid_event *ev, void *ctx);
};

#define UDK_HID_EVENT_SERVICE_OPS_INIT .struct_size = sizeof(struct udk_hid_event_service_ops)

/*
 * Start @self (IOClass IOUserHIDEventService) on @provider, an
 * IOHIDInterface: its events go to every app that opened @self's user
 * client (UserClientProperties IOUserClass UDKHIDEventClient, with
 * &udk_hid_event_client_class among the driver's classes).
 */
UDK_EXPORT int udk_hid_event_service_start(struct udk_service *self, struct udk_service *provider, uint32_t options,
					   const struct udk_hid_event_service_ops *ops, void *ctx,
					   struct udk_hid_event_service **ret);
UDK_EXPORT void udk_hid_event_service_stop(struct udk_hid_event_service *svc);
/* dispatchKeyboardEvent & co.: an event the driver made (flagged SYNTHETIC). */
UDK_EXPORT int udk_hid_event_service_dispatch(struct udk_hid_event_service *svc, const struct udk_hid_event *ev);
UDK_EXPORT struct udk_hid_interface *udk_hid_event_service_get_interface(struct udk_hid_event_service *svc);

/* The user client class apps open to subscribe ("UDKHIDEventClient"). */
UDK_EXPORT extern const struct udk_class udk_hid_event_client_class;

#ifdef __cplusplus
}
#endif
#endif
