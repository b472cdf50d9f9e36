/* SPDX-License-Identifier: MIT */
/*
 * families/hid-client.h - apps receiving a HID device's events or reports
 * from its event service (libudk-hid-client, with libudk).
 *
 *	uint64_t svc;
 *	struct udk_hid_client *h;
 *	struct udk_hid_event ev;
 *	udk_hid_client_find_event_service(client, device_id, 5000, &svc);
 *	udk_hid_client_open(client, svc, UDK_HID_SUBSCRIBE_EVENTS, &h);
 *	while (udk_hid_client_next_event(h, &ev, -1) == 0)
 *		...
 *
 * The app must be allowed to open the event service's driver (`udkctl
 * access`); the driver, to read the device (keyboards: the user's grant).
 * Events come through a shared ring: a slow app loses events, counted in
 * udk_hid_client_get_stats(), and never slows the device down.
 */
#ifndef UDK_FAMILIES_HID_CLIENT_H
#define UDK_FAMILIES_HID_CLIENT_H

#include <udk/client.h>
#include <udk/families/hid-descriptor.h>
#include <udk/families/hid-event.h>

#ifdef __cplusplus
extern "C" {
#endif

enum udk_hid_subscribe {
	UDK_HID_SUBSCRIBE_EVENTS = 1 << 0,
	UDK_HID_SUBSCRIBE_REPORTS = 1 << 1,
};

/* The event client's selectors and data queues (the driver side is udk_hid_event_client_class). */
enum {
	UDK_HID_CLIENT_SUBSCRIBE = 0,
	UDK_HID_CLIENT_GET_DESCRIPTOR = 1,
	UDK_HID_CLIENT_SET_REPORT = 2,
	UDK_HID_CLIENT_GET_STATS = 3,
};
enum {
	UDK_HID_CLIENT_QUEUE_EVENTS = 0,
	UDK_HID_CLIENT_QUEUE_REPORTS = 1,
};

struct udk_hid_client;

struct udk_hid_client_stats {
	uint64_t events, events_dropped;
	uint64_t reports, reports_dropped;
};

/*
 * The event service reading device @device (the registry id of an
 * IOHIDDevice or its IOHIDInterface), waiting up to @timeout_ms for it to
 * start.
 */
UDK_EXPORT int udk_hid_client_find_event_service(struct udk_client *c, uint64_t device, int timeout_ms,
						 uint64_t *ret);
/* Open event service @service and subscribe to @mask (enum udk_hid_subscribe). */
UDK_EXPORT int udk_hid_client_open(struct udk_client *c, uint64_t service, uint32_t mask, struct udk_hid_client **ret);
UDK_EXPORT void udk_hid_client_close(struct udk_hid_client *h);
/* The next event; -EAGAIN after @timeout_ms (0: do not wait, -1: forever). */
UDK_EXPORT int udk_hid_client_next_event(struct udk_hid_client *h, struct udk_hid_event *ev, int timeout_ms);
/* The next raw input report into @buf; its length and timestamp. */
UDK_EXPORT int udk_hid_client_next_report(struct udk_hid_client *h, uint8_t *buf, size_t cap, size_t *ret_len,
					  uint64_t *ret_timestamp_ns, int timeout_ms);
/* The device's report descriptor. */
UDK_EXPORT int udk_hid_client_get_descriptor(struct udk_hid_client *h, uint8_t *buf, size_t cap, size_t *ret_len);
/* An output or feature report to the device (e.g. keyboard LEDs). */
UDK_EXPORT int udk_hid_client_set_report(struct udk_hid_client *h, enum udk_hid_report_type type,
					 const uint8_t *report, size_t len);
UDK_EXPORT int udk_hid_client_get_stats(struct udk_hid_client *h, struct udk_hid_client_stats *ret);
/* A descriptor that becomes readable when events arrive (arm with udk_hid_client_arm()). */
UDK_EXPORT int udk_hid_client_get_fd(struct udk_hid_client *h);
UDK_EXPORT int udk_hid_client_arm(struct udk_hid_client *h);

#ifdef __cplusplus
}
#endif
#endif
