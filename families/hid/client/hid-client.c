/* SPDX-License-Identifier: MIT */
/*
 * hid/client/hid-client.c - apps receiving a HID device's events and
 * reports (<udk/families/hid-client.h>): a user client of the device's
 * event service, and its rings.
 */
#include <stdlib.h>
#include <string.h>

#include <udk/families/hid-client.h>
#include <udk/ring.h>

#include "util.h"

struct udk_hid_client {
	struct udk_connection *conn;
	struct udk_ring *events, *reports;
	uint32_t mask;
};

UDK_EXPORT int
udk_hid_client_find_event_service(struct udk_client *c, uint64_t device, int timeout_ms, uint64_t *ret)
{
	struct udk_value *svc = NULL, *match, *pm;
	uint64_t iface = device;
	int r;

	udk_return_val_if_fail(c && ret, -EINVAL);
	/* an IOHIDDevice: its IOHIDInterface is the child the event service reads */
	r = udk_client_copy_service(c, device, &svc);
	if (r < 0)
		return r;
	{
		struct udk_value *classes = udk_dict_get(svc, "classes");
		bool is_iface = false;
		for (size_t i = 0; i < udk_array_size(classes); i++)
			is_iface |= streq(udk_value_get_string(udk_array_get(classes, i)), "IOHIDInterface");
		if (!is_iface) {
			struct udk_value *m = udk_value_new_dict(), *parent = udk_value_new_dict();
			uint64_t *ids = NULL;
			size_t n = 0;
			udk_dict_set_string(m, "IOProviderClass", "IOHIDInterface");
			udk_dict_set_uint(parent, "IORegistryEntryID", device);
			udk_dict_set_take(m, "IOParentMatch", parent);
			r = udk_client_find_services(c, m, &ids, &n);
			udk_value_unref(m);
			if (r >= 0 && n)
				iface = ids[0];
			free(ids);
			if (r >= 0 && !n)
				r = udk_set_reason(-UDK_E_NO_SUCH_SERVICE,
						   "service 0x%llx is neither a HID device nor its IOHIDInterface",
						   (unsigned long long)device);
		}
	}
	udk_value_unref(svc);
	if (r < 0)
		return r;
	match = udk_value_new_dict();
	pm = udk_value_new_dict();
	udk_dict_set_string(match, "IOProviderClass", "IOUserHIDEventService");
	udk_dict_set_uint(pm, "UDKHIDInterface", iface);
	udk_dict_set_take(match, "IOPropertyMatch", pm);
	r = udk_client_wait_for_service(c, match, timeout_ms, ret);
	udk_value_unref(match);
	if (r == -ETIMEDOUT)
		r = udk_set_reason(-UDK_E_NO_SUCH_SERVICE,
				   "no event service reads HID device 0x%llx (is an IOUserHIDEventService driver "
				   "installed, and for a keyboard, granted it? `udkctl explain`)",
				   (unsigned long long)device);
	return r;
}

UDK_EXPORT int
udk_hid_client_open(struct udk_client *c, uint64_t service, uint32_t mask, struct udk_hid_client **ret)
{
	struct udk_hid_client *h;
	uint64_t in = mask, out[1];
	uint32_t n_out = 1;
	int r;

	udk_return_val_if_fail(c && ret && mask, -EINVAL);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->mask = mask;
	r = udk_client_open(c, service, 0, &h->conn);
	if (r >= 0 && (mask & UDK_HID_SUBSCRIBE_EVENTS))
		r = udk_connection_map_data_queue(h->conn, UDK_HID_CLIENT_QUEUE_EVENTS, &h->events);
	if (r >= 0 && (mask & UDK_HID_SUBSCRIBE_REPORTS))
		r = udk_connection_map_data_queue(h->conn, UDK_HID_CLIENT_QUEUE_REPORTS, &h->reports);
	if (r >= 0)
		r = udk_connection_call(h->conn, UDK_HID_CLIENT_SUBSCRIBE, &in, 1, NULL, 0, out, &n_out, NULL, NULL);
	if (r < 0) {
		char *why = udk_error_reason() ? strdup(udk_error_reason()) : NULL;
		udk_hid_client_close(h);
		if (why)
			udk_set_reason(r, "%s", why);
		free(why);
		return r;
	}
	*ret = h;
	return 0;
}

UDK_EXPORT void
udk_hid_client_close(struct udk_hid_client *h)
{
	if (!h)
		return;
	udk_ring_unref(h->events);
	udk_ring_unref(h->reports);
	if (h->conn) {
		udk_connection_close(h->conn);
		udk_connection_unref(h->conn);
	}
	free(h);
}

UDK_EXPORT int
udk_hid_client_next_event(struct udk_hid_client *h, struct udk_hid_event *ev, int timeout_ms)
{
	uint32_t len = 0;
	int r;

	udk_return_val_if_fail(h && ev, -EINVAL);
	if (!h->events)
		return udk_set_reason(-EINVAL, "this client did not subscribe to events");
	r = timeout_ms == 0 ? udk_ring_dequeue(h->events, ev, sizeof(*ev), &len)
			    : udk_ring_dequeue_wait(h->events, ev, sizeof(*ev), &len, timeout_ms);
	if (r == -ETIMEDOUT)
		r = -EAGAIN;
	if (r >= 0 && len != sizeof(*ev))
		return udk_set_reason(-UDK_E_PROTOCOL, "an event record of %u bytes", len);
	return r < 0 ? r : 0;
}

UDK_EXPORT int
udk_hid_client_next_report(struct udk_hid_client *h, uint8_t *buf, size_t cap, size_t *ret_len,
			   uint64_t *ret_timestamp_ns, int timeout_ms)
{
	uint8_t rec[16 + UDK_HID_MAX_REPORT];
	uint32_t len = 0, rl;
	int r;

	udk_return_val_if_fail(h && buf && ret_len, -EINVAL);
	if (!h->reports)
		return udk_set_reason(-EINVAL, "this client did not subscribe to reports");
	r = timeout_ms == 0 ? udk_ring_dequeue(h->reports, rec, sizeof(rec), &len)
			    : udk_ring_dequeue_wait(h->reports, rec, sizeof(rec), &len, timeout_ms);
	if (r == -ETIMEDOUT)
		r = -EAGAIN;
	if (r < 0)
		return r;
	memcpy(&rl, rec + 8, 4);
	if (len < 16 || rl != len - 16)
		return udk_set_reason(-UDK_E_PROTOCOL, "a report record of %u bytes says %u", len, rl);
	if (rl > cap)
		return udk_set_reason(-ENOBUFS, "a report of %u bytes, the buffer has %zu", rl, cap);
	memcpy(buf, rec + 16, rl);
	*ret_len = rl;
	if (ret_timestamp_ns)
		memcpy(ret_timestamp_ns, rec, 8);
	return 0;
}

UDK_EXPORT int
udk_hid_client_get_descriptor(struct udk_hid_client *h, uint8_t *buf, size_t cap, size_t *ret_len)
{
	size_t len = cap;
	int r;

	udk_return_val_if_fail(h && buf && ret_len, -EINVAL);
	r = udk_connection_call(h->conn, UDK_HID_CLIENT_GET_DESCRIPTOR, NULL, 0, NULL, 0, NULL, NULL, buf, &len);
	if (r >= 0)
		*ret_len = len;
	return r;
}

UDK_EXPORT int
udk_hid_client_set_report(struct udk_hid_client *h, enum udk_hid_report_type type, const uint8_t *report, size_t len)
{
	uint64_t in = type;

	udk_return_val_if_fail(h && report && len, -EINVAL);
	return udk_connection_call(h->conn, UDK_HID_CLIENT_SET_REPORT, &in, 1, report, len, NULL, NULL, NULL, NULL);
}

UDK_EXPORT int
udk_hid_client_get_stats(struct udk_hid_client *h, struct udk_hid_client_stats *ret)
{
	uint64_t out[4] = { 0 };
	uint32_t n = 4;
	int r;

	udk_return_val_if_fail(h && ret, -EINVAL);
	r = udk_connection_call(h->conn, UDK_HID_CLIENT_GET_STATS, NULL, 0, NULL, 0, out, &n, NULL, NULL);
	if (r < 0)
		return r;
	*ret = (struct udk_hid_client_stats){ out[0], out[1], out[2], out[3] };
	return 0;
}

UDK_EXPORT int
udk_hid_client_get_fd(struct udk_hid_client *h)
{
	return h && h->events ? udk_ring_get_fd(h->events) : -EINVAL;
}

UDK_EXPORT int
udk_hid_client_arm(struct udk_hid_client *h)
{
	return h && h->events ? udk_ring_arm_doorbell(h->events) : -EINVAL;
}
