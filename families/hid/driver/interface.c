/* SPDX-License-Identifier: MIT */
/*
 * hid/driver/interface.c - a device a driver reads or seizes (its
 * IOHIDInterface provider), through udkd's broker.
 *
 * Frames arrive on the HID channel: input reports (decoded with the
 * device's descriptor) or a Linux input device's events.  The driver's
 * callbacks run on the interface's queue; for a seized device the frame is
 * acknowledged after them, together with what the driver sent meanwhile.
 */
#include <inttypes.h>

#include "hid-lib.h"
#include "proto.h"
#include "util.h"

struct udk_hid_interface {
	uint32_t handle;
	uint64_t id;			/* the IOHIDInterface's registry id */
	bool seized;
	bool events_kind;		/* a Linux input device: events, no reports */
	struct udk_queue *queue;
	struct udk_hid_interface_ops ops;
	void *ctx;
	struct udk_hid_descriptor *desc;
	struct hid_decoder *dec;
	bool closed;
};

#define HAS(iface, field)                                                                                      \
	((iface)->ops.struct_size >= offsetof(struct udk_hid_interface_ops, field) + sizeof((iface)->ops.field) &&  \
	 (iface)->ops.field)

static void
emit(void *ctx, const struct udk_hid_event *ev)
{
	struct udk_hid_interface *iface = ctx;

	if (HAS(iface, event) && !iface->closed)
		iface->ops.event(iface, ev, iface->ctx);
}

void
hid_interface_record(struct udk_hid_interface *iface, const struct proto_hid_rec *rec, const uint8_t *payload)
{
	if (iface->closed)
		return;
	switch (rec->type) {
	case PROTO_HID_REC_REPORT:
	case PROTO_HID_REC_EVENTS:
		if (iface->seized)
			hid_channel_batch_begin();
		if (rec->type == PROTO_HID_REC_REPORT) {
			if (HAS(iface, report))
				iface->ops.report(iface, rec->time_ns, payload, rec->len, iface->ctx);
			if (iface->desc && !iface->closed)
				hid_decoder_report(iface->dec, rec->time_ns, payload, rec->len, emit, iface);
		} else {
			hid_decoder_evdev(iface->dec, rec->time_ns, (const struct proto_hid_evdev *)payload,
					  rec->len / sizeof(struct proto_hid_evdev), emit, iface);
		}
		if (iface->seized) {
			struct proto_hid_rec ack = { .handle = iface->handle, .type = PROTO_HID_REC_ACK, .seq = rec->seq };
			hid_channel_batch_end(&ack);
		}
		break;
	case PROTO_HID_REC_CLOSED: {
		char reason[1025];
		size_t n = MIN(rec->len, sizeof(reason) - 1);
		memcpy(reason, payload, n);
		reason[n] = 0;
		iface->closed = true;
		hid_channel_remove(iface->handle);
		udk_log_notice("HID device %" PRIu64 " closed by udkd: %s", iface->id, reason);
		if (HAS(iface, closed))
			iface->ops.closed(iface, rec->status, reason, iface->ctx);
		break;
	}
	default:
		break;
	}
}

UDK_EXPORT int
udk_hid_interface_open(struct udk_service *self, struct udk_service *provider, uint32_t options,
		       struct udk_queue *queue, const struct udk_hid_interface_ops *ops, void *ctx,
		       struct udk_hid_interface **ret)
{
	struct udk_hid_interface *iface;
	struct udk_value *body, *reply = NULL;
	struct proto_hid_rec start = { .type = PROTO_HID_REC_START };
	const uint8_t *bytes;
	size_t len = 0;
	int r;

	udk_return_val_if_fail(self && provider && ops && ret, -EINVAL);
	if (!udk_service_is_a(provider, "IOHIDInterface"))
		return udk_error_set(-UDK_E_UNSUPPORTED,
				     "udk_hid_interface_open() opens an IOHIDInterface; the provider is a %s: match "
				     "IOProviderClass IOHIDInterface",
				     udk_service_get_class(provider));
	if (!queue)
		queue = udk_service_get_default_queue(self);
	r = hid_channel_ensure(queue);
	if (r < 0)
		return r;
	iface = calloc(1, sizeof(*iface));
	if (!iface)
		return -ENOMEM;
	memcpy(&iface->ops, ops, MIN(ops->struct_size, sizeof(iface->ops)));
	iface->ops.struct_size = MIN(ops->struct_size, (uint32_t)sizeof(iface->ops));
	iface->ctx = ctx;
	iface->queue = udk_queue_ref(queue);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	udk_dict_set_bool(body, "seize", options & UDK_HID_OPEN_SEIZE);
	r = rt_call(OP_DRV_OPEN_PROVIDER, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		goto fail;
	if (!streq(udk_dict_get_string(reply, "backend"), "hid")) {
		r = udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the HID device with an unknown backend");
		goto fail;
	}
	iface->handle = (uint32_t)udk_dict_get_int(reply, "handle", 0);
	iface->id = udk_value_get_uint(udk_dict_get(reply, "id"), 0);
	iface->seized = udk_dict_get_bool(reply, "seized", false);
	iface->events_kind = streq(udk_dict_get_string(reply, "kind"), "events");
	bytes = udk_value_get_data(udk_dict_get(reply, "descriptor"), &len);
	if (bytes && (r = udk_hid_descriptor_parse(bytes, len, &iface->desc, NULL)) < 0)
		goto fail_open;
	r = hid_decoder_new(iface->desc, iface->id, &iface->dec);
	if (r < 0)
		goto fail_open;
	r = hid_channel_add(iface->handle, LH_INTERFACE, queue, iface);
	if (r < 0)
		goto fail_open;
	udk_value_unref(reply);
	start.handle = iface->handle;
	hid_channel_send(&start, NULL);
	*ret = iface;
	return 0;
fail_open:
	body = udk_value_new_dict();
	udk_dict_set_int(body, "handle", iface->handle);
	rt_call(OP_HID_CLOSE, body, NULL);
	udk_value_unref(body);
fail:
	udk_value_unref(reply);
	hid_decoder_free(iface->dec);
	udk_hid_descriptor_free(iface->desc);
	udk_queue_unref(iface->queue);
	free(iface);
	return r;
}

static void
nothing(void *ctx)
{
	(void)ctx;
}

UDK_EXPORT void
udk_hid_interface_close(struct udk_hid_interface *iface)
{
	struct udk_value *body;

	if (!iface)
		return;
	hid_channel_remove(iface->handle);
	if (!iface->closed) {
		body = udk_value_new_dict();
		udk_dict_set_int(body, "handle", iface->handle);
		rt_call(OP_HID_CLOSE, body, NULL);
		udk_value_unref(body);
	}
	iface->closed = true;
	/* a callback running on the queue ends before the memory goes */
	if (!udk_queue_is_current(iface->queue))
		udk_queue_dispatch_sync(iface->queue, nothing, NULL);
	hid_decoder_free(iface->dec);
	udk_hid_descriptor_free(iface->desc);
	udk_queue_unref(iface->queue);
	free(iface);
}

UDK_EXPORT const struct udk_hid_descriptor *
udk_hid_interface_get_descriptor(struct udk_hid_interface *iface)
{
	return iface ? iface->desc : NULL;
}

UDK_EXPORT uint64_t
udk_hid_interface_get_id(struct udk_hid_interface *iface)
{
	return iface ? iface->id : 0;
}

UDK_EXPORT int
udk_hid_interface_set_report(struct udk_hid_interface *iface, enum udk_hid_report_type type, const uint8_t *report,
			     size_t len)
{
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(iface && report && len, -EINVAL);
	if (iface->closed)
		return udk_set_reason(-UDK_E_TERMINATED, "the HID device was closed");
	body = udk_value_new_dict();
	udk_dict_set_int(body, "handle", iface->handle);
	udk_dict_set_int(body, "type", type);
	udk_dict_set_take(body, "data", udk_value_new_data(report, len));
	r = rt_call(OP_HID_SET_REPORT, body, NULL);
	udk_value_unref(body);
	return r;
}

UDK_EXPORT int
udk_hid_interface_get_report(struct udk_hid_interface *iface, enum udk_hid_report_type type, uint8_t report_id,
			     uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct udk_value *body, *reply = NULL;
	const uint8_t *data;
	size_t len = 0;
	int r;

	udk_return_val_if_fail(iface && buf && ret_len, -EINVAL);
	if (iface->closed)
		return udk_set_reason(-UDK_E_TERMINATED, "the HID device was closed");
	body = udk_value_new_dict();
	udk_dict_set_int(body, "handle", iface->handle);
	udk_dict_set_int(body, "type", type);
	udk_dict_set_int(body, "id", report_id);
	r = rt_call(OP_HID_GET_REPORT, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return r;
	data = udk_value_get_data(udk_dict_get(reply, "data"), &len);
	if (!data) {
		r = udk_set_reason(-UDK_E_PROTOCOL, "the device answered getReport without data");
	} else if (len > cap) {
		*ret_len = len;
		r = udk_set_reason(-ENOBUFS, "the report has %zu bytes; the buffer %zu", len, cap);
	} else {
		memcpy(buf, data, len);
		*ret_len = len;
	}
	udk_value_unref(reply);
	return r;
}
