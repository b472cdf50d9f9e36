/* SPDX-License-Identifier: MIT */
/*
 * hid/driver/eventservice.c - event services (IOUserHIDEventService) and
 * the user client apps open to receive their events
 * (udk_hid_event_client_class, "UDKHIDEventClient").
 *
 * An event service reads its IOHIDInterface, decodes reports into events,
 * runs the driver's filter, and copies each event into the event ring of
 * every app that subscribed; raw reports go to the report rings of apps
 * that asked for them.  A ring that is full loses the record and counts
 * it (GetStats): a slow app never holds up the device or other apps.
 *
 * The user client's methods (<udk/families/hid-client.h> wraps them):
 *   0 Subscribe(mask) -> (max input report length)
 *   1 GetDescriptor() -> descriptor bytes
 *   2 SetReport(type; report bytes)
 *   3 GetStats() -> (events, events dropped, reports, reports dropped)
 * and data queues 0 (events: struct udk_hid_event) and 1 (reports: u64
 * timestamp, u32 length, u32 0, then the report).
 */
#include <udk/families/hid-client.h>
#include <udk/ring.h>
#include <udk/userclient.h>

#include <inttypes.h>

#include "hid-lib.h"
#include "proto.h"
#include "util.h"

struct ev_client {
	struct udk_service *uc;
	struct udk_ring *events, *reports;
	uint32_t mask;
	uint64_t n_events, dropped_events, n_reports, dropped_reports;
	bool subscribed;
};

struct udk_hid_event_service {
	struct udk_hid_event_service *next;
	struct udk_service *self;
	struct udk_hid_interface *iface;
	struct udk_hid_event_service_ops ops;
	void *ctx;
	pthread_mutex_t lock;		/* clients */
	struct ev_client **clients;
	size_t n_clients;
};

static pthread_mutex_t services_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udk_hid_event_service *services;

#define HAS(svc, field)                                                                                        \
	((svc)->ops.struct_size >= offsetof(struct udk_hid_event_service_ops, field) + sizeof((svc)->ops.field) && \
	 (svc)->ops.field)

static void
deliver_event(struct udk_hid_event_service *svc, const struct udk_hid_event *ev)
{
	pthread_mutex_lock(&svc->lock);
	for (size_t i = 0; i < svc->n_clients; i++) {
		struct ev_client *c = svc->clients[i];
		if (!(c->mask & UDK_HID_SUBSCRIBE_EVENTS) || !c->events)
			continue;
		if (udk_ring_enqueue(c->events, ev, sizeof(*ev)) < 0)
			c->dropped_events++;
		else
			c->n_events++;
	}
	pthread_mutex_unlock(&svc->lock);
}

static void
on_event(struct udk_hid_interface *iface, const struct udk_hid_event *ev, void *ctx)
{
	struct udk_hid_event_service *svc = ctx;
	struct udk_hid_event copy = *ev;

	(void)iface;
	if (HAS(svc, filter) && !svc->ops.filter(svc, &copy, svc->ctx))
		return;
	deliver_event(svc, &copy);
}

static void
on_report(struct udk_hid_interface *iface, uint64_t t, const uint8_t *report, size_t len, void *ctx)
{
	struct udk_hid_event_service *svc = ctx;
	uint8_t rec[16 + UDK_HID_MAX_REPORT];
	uint32_t l = (uint32_t)len, zero = 0;

	(void)iface;
	if (len > UDK_HID_MAX_REPORT)
		return;
	memcpy(rec, &t, 8);
	memcpy(rec + 8, &l, 4);
	memcpy(rec + 12, &zero, 4);
	memcpy(rec + 16, report, len);
	pthread_mutex_lock(&svc->lock);
	for (size_t i = 0; i < svc->n_clients; i++) {
		struct ev_client *c = svc->clients[i];
		if (!(c->mask & UDK_HID_SUBSCRIBE_REPORTS) || !c->reports)
			continue;
		if (udk_ring_enqueue(c->reports, rec, (uint32_t)(16 + len)) < 0)
			c->dropped_reports++;
		else
			c->n_reports++;
	}
	pthread_mutex_unlock(&svc->lock);
}

static void
on_closed(struct udk_hid_interface *iface, int status, const char *reason, void *ctx)
{
	(void)iface;
	(void)ctx;
	udk_log_notice("event service: its device was closed (%s): %s", udk_error_name(status), reason);
}

UDK_EXPORT int
udk_hid_event_service_start(struct udk_service *self, struct udk_service *provider, uint32_t options,
			    const struct udk_hid_event_service_ops *ops, void *ctx, struct udk_hid_event_service **ret)
{
	static const struct udk_hid_interface_ops iops = {
		UDK_HID_INTERFACE_OPS_INIT,
		.event = on_event,
		.report = on_report,
		.closed = on_closed,
	};
	struct udk_hid_event_service *svc;
	struct udk_value *props;
	int r;

	udk_return_val_if_fail(self && provider && ret, -EINVAL);
	r = udk_service_require_class(self, "IOUserHIDEventService", "HID event service");
	if (r < 0)
		return r;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return -ENOMEM;
	pthread_mutex_init(&svc->lock, NULL);
	svc->self = udk_service_ref(self);
	if (ops) {
		memcpy(&svc->ops, ops, MIN(ops->struct_size, sizeof(svc->ops)));
		svc->ops.struct_size = MIN(ops->struct_size, (uint32_t)sizeof(svc->ops));
	}
	svc->ctx = ctx;
	pthread_mutex_lock(&services_lock);
	svc->next = services;
	services = svc;
	pthread_mutex_unlock(&services_lock);
	r = udk_hid_interface_open(self, provider, options, NULL, &iops, svc, &svc->iface);
	if (r < 0) {
		udk_hid_event_service_stop(svc);
		return r;
	}
	/* apps find the event service of a device by this */
	props = udk_value_new_dict();
	udk_dict_set_uint(props, "UDKHIDInterface", udk_hid_interface_get_id(svc->iface));
	udk_service_set_properties(self, props);
	udk_value_unref(props);
	*ret = svc;
	return 0;
}

UDK_EXPORT void
udk_hid_event_service_stop(struct udk_hid_event_service *svc)
{
	if (!svc)
		return;
	pthread_mutex_lock(&services_lock);
	for (struct udk_hid_event_service **pp = &services; *pp; pp = &(*pp)->next)
		if (*pp == svc) {
			*pp = svc->next;
			break;
		}
	pthread_mutex_unlock(&services_lock);
	udk_hid_interface_close(svc->iface);
	pthread_mutex_lock(&svc->lock);
	for (size_t i = 0; i < svc->n_clients; i++)
		svc->clients[i]->subscribed = false;
	free(svc->clients);
	svc->clients = NULL;
	svc->n_clients = 0;
	pthread_mutex_unlock(&svc->lock);
	pthread_mutex_destroy(&svc->lock);
	udk_service_unref(svc->self);
	free(svc);
}

UDK_EXPORT int
udk_hid_event_service_dispatch(struct udk_hid_event_service *svc, const struct udk_hid_event *ev)
{
	struct udk_hid_event copy;

	udk_return_val_if_fail(svc && ev, -EINVAL);
	copy = *ev;
	copy.flags |= UDK_HID_EVENT_SYNTHETIC;
	if (!copy.timestamp_ns)
		copy.timestamp_ns = udk_time_now_ns();
	if (!copy.sender)
		copy.sender = udk_hid_interface_get_id(svc->iface);
	deliver_event(svc, &copy);
	return 0;
}

UDK_EXPORT struct udk_hid_interface *
udk_hid_event_service_get_interface(struct udk_hid_event_service *svc)
{
	return svc ? svc->iface : NULL;
}

/* ---- the user client ---- */

/* The event service of @uc's provider, with its lock held; NULL if it has none. */
static struct udk_hid_event_service *
service_of(struct udk_service *uc)
{
	struct udk_service *prov = udk_service_get_provider(uc);
	struct udk_hid_event_service *found = NULL;

	pthread_mutex_lock(&services_lock);
	for (struct udk_hid_event_service *s = services; s; s = s->next)
		if (s->self == prov) {
			found = s;
			pthread_mutex_lock(&s->lock);
			break;
		}
	pthread_mutex_unlock(&services_lock);
	return found;
}

static int
m_subscribe(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	struct ev_client *c = udk_service_get_ivars(uc);
	struct udk_hid_event_service *svc = service_of(uc);
	const struct udk_hid_descriptor *desc;

	(void)ref;
	if (!svc)
		return udk_error_set(-UDK_E_UNSUPPORTED, "this driver's event service is not running");
	c->uc = uc;
	c->mask = (uint32_t)args->scalar_input[0];
	if (!c->subscribed) {
		struct ev_client **n = reallocarray(svc->clients, svc->n_clients + 1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&svc->lock);
			return -ENOMEM;
		}
		svc->clients = n;
		svc->clients[svc->n_clients++] = c;
		c->subscribed = true;
	}
	desc = udk_hid_interface_get_descriptor(svc->iface);
	args->scalar_output[0] = desc ? udk_hid_descriptor_max_report_length(desc, UDK_HID_REPORT_INPUT) : 0;
	args->scalar_output_count = 1;
	pthread_mutex_unlock(&svc->lock);
	return 0;
}

static int
m_get_descriptor(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	struct udk_hid_event_service *svc = service_of(uc);
	const struct udk_hid_descriptor *desc;
	const uint8_t *bytes;
	size_t len = 0;

	(void)ref;
	if (!svc)
		return udk_error_set(-UDK_E_UNSUPPORTED, "this driver's event service is not running");
	desc = udk_hid_interface_get_descriptor(svc->iface);
	pthread_mutex_unlock(&svc->lock);
	if (!desc)
		return udk_error_set(-UDK_E_UNSUPPORTED, "a Linux input device has no report descriptor");
	bytes = udk_hid_descriptor_get_data(desc, &len);
	if (len > args->struct_output_size)
		return udk_error_set(-ENOBUFS, "the descriptor has %zu bytes", len);
	memcpy(args->struct_output, bytes, len);
	args->struct_output_size = len;
	return 0;
}

static int
m_set_report(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	struct udk_hid_event_service *svc = service_of(uc);
	struct udk_hid_interface *iface;

	(void)ref;
	if (!svc)
		return udk_error_set(-UDK_E_UNSUPPORTED, "this driver's event service is not running");
	iface = svc->iface;
	pthread_mutex_unlock(&svc->lock);
	if (args->scalar_input[0] != UDK_HID_REPORT_OUTPUT && args->scalar_input[0] != UDK_HID_REPORT_FEATURE)
		return udk_error_set(-EINVAL, "SetReport sends an output (1) or feature (2) report");
	return udk_hid_interface_set_report(iface, (enum udk_hid_report_type)args->scalar_input[0],
					    args->struct_input, args->struct_input_size);
}

static int
m_get_stats(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	struct ev_client *c = udk_service_get_ivars(uc);
	struct udk_hid_event_service *svc = service_of(uc);

	(void)ref;
	args->scalar_output[0] = c->n_events;
	args->scalar_output[1] = c->dropped_events;
	args->scalar_output[2] = c->n_reports;
	args->scalar_output[3] = c->dropped_reports;
	args->scalar_output_count = 4;
	if (svc)
		pthread_mutex_unlock(&svc->lock);
	return 0;
}

static const struct udk_method_dispatch methods[] = {
	[UDK_HID_CLIENT_SUBSCRIBE] = { m_subscribe, "Subscribe", 0, 1, 0, 1, 0 },
	[UDK_HID_CLIENT_GET_DESCRIPTOR] = { m_get_descriptor, "GetDescriptor", 0, 0, 0, 0, UDK_METHOD_VARIABLE },
	[UDK_HID_CLIENT_SET_REPORT] = { m_set_report, "SetReport", 0, 1, UDK_METHOD_VARIABLE, 0, 0 },
	[UDK_HID_CLIENT_GET_STATS] = { m_get_stats, "GetStats", 0, 0, 0, 4, 0 },
};

static int
copy_queue(struct udk_service *uc, uint64_t type, struct udk_ring **ret)
{
	struct ev_client *c = udk_service_get_ivars(uc);
	struct udk_hid_event_service *svc = service_of(uc);
	struct udk_ring **slot = type == UDK_HID_CLIENT_QUEUE_EVENTS	 ? &c->events
				 : type == UDK_HID_CLIENT_QUEUE_REPORTS ? &c->reports
									 : NULL;
	int r = 0;

	if (!slot) {
		r = udk_error_set(-EINVAL, "data queue %" PRIu64 " does not exist: 0 is events, 1 reports", type);
	} else if (!*slot) {
		r = udk_ring_create(type == UDK_HID_CLIENT_QUEUE_EVENTS ? 64 * 1024 : 256 * 1024, UDK_RING_PRODUCER,
				    slot);
	}
	if (r >= 0)
		*ret = udk_ring_ref(*slot);
	if (svc)
		pthread_mutex_unlock(&svc->lock);
	return r;
}

static void
unsubscribe(struct udk_service *uc)
{
	struct ev_client *c = udk_service_get_ivars(uc);
	struct udk_hid_event_service *svc = service_of(uc);

	if (svc) {
		for (size_t i = 0; i < svc->n_clients; i++)
			if (svc->clients[i] == c) {
				svc->clients[i] = svc->clients[--svc->n_clients];
				break;
			}
		c->subscribed = false;
		pthread_mutex_unlock(&svc->lock);
	}
}

static void
client_closed(struct udk_service *uc)
{
	unsubscribe(uc);
}

static void
client_free(struct udk_service *uc)
{
	struct ev_client *c = udk_service_get_ivars(uc);

	unsubscribe(uc);
	udk_ring_unref(c->events);
	udk_ring_unref(c->reports);
	c->events = c->reports = NULL;
}

UDK_EXPORT const struct udk_class udk_hid_event_client_class = {
	UDK_CLASS_INIT,
	.name = "UDKHIDEventClient",
	.ivars_size = sizeof(struct ev_client),
	.free = client_free,
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
	.copy_data_queue_for_type = copy_queue,
	.client_closed = client_closed,
};
