/* SPDX-License-Identifier: MIT */
/*
 * hid/driver/device.c - virtual HID devices (IOUserHIDDevice).
 *
 * The driver's service becomes the device: udkd parses its descriptor and
 * publishes it.  handleReport sends an input report on the HID channel
 * (inside a seized device's frame it joins that frame's batch); setReport
 * and getReport from Linux or from readers arrive as requests on the
 * channel and are answered there.
 */
#include <inttypes.h>

#include "hid-lib.h"
#include "proto.h"
#include "util.h"

struct udk_hid_device {
	uint32_t handle;
	struct udk_service *self;
	struct udk_queue *queue;
	struct udk_hid_device_ops ops;
	void *ctx;
	struct udk_hid_descriptor *desc;
	char export[16];
	bool gone;
};

#define HAS(dev, field)                                                                                        \
	((dev)->ops.struct_size >= offsetof(struct udk_hid_device_ops, field) + sizeof((dev)->ops.field) &&        \
	 (dev)->ops.field)

static void
reply(struct udk_hid_device *dev, uint64_t seq, int status, const uint8_t *data, size_t len)
{
	struct proto_hid_rec rec = { .handle = dev->handle, .type = PROTO_HID_REC_REPLY, .seq = seq, .status = status,
				     .len = (uint16_t)len };

	hid_channel_send(&rec, data);
}

void
hid_device_record(struct udk_hid_device *dev, const struct proto_hid_rec *rec, const uint8_t *payload)
{
	int r;

	switch (rec->type) {
	case PROTO_HID_REC_SET_REPORT:
		r = HAS(dev, set_report) ? dev->ops.set_report(dev, rec->report_type, payload, rec->len, dev->ctx)
					 : -UDK_E_UNSUPPORTED;
		if (rec->seq)
			reply(dev, rec->seq, r < 0 ? r : 0, NULL, 0);
		break;
	case PROTO_HID_REC_GET_REPORT: {
		uint8_t buf[UDK_HID_MAX_REPORT];
		size_t len = 0;
		r = HAS(dev, get_report) ? dev->ops.get_report(dev, rec->report_type, rec->report_id, buf, sizeof(buf),
							       &len, dev->ctx)
					 : -UDK_E_UNSUPPORTED;
		if (r >= 0 && len > sizeof(buf))
			r = -EOVERFLOW;
		reply(dev, rec->seq, r < 0 ? r : 0, r < 0 ? NULL : buf, r < 0 ? 0 : len);
		break;
	}
	case PROTO_HID_REC_CLOSED:
		dev->gone = true;
		hid_channel_remove(dev->handle);
		break;
	default:
		break;
	}
}

UDK_EXPORT int
udk_hid_device_create(struct udk_service *self, const uint8_t *descriptor, size_t len,
		      const struct udk_value *properties, struct udk_queue *queue, const struct udk_hid_device_ops *ops,
		      void *ctx, struct udk_hid_device **ret)
{
	struct udk_hid_device *dev;
	struct udk_value *body, *reply_v = NULL, *props = NULL;
	const uint8_t *bytes = descriptor;
	int r;

	udk_return_val_if_fail(self && ret, -EINVAL);
	r = udk_service_require_class(self, "IOUserHIDDevice", "virtual HID device");
	if (r < 0)
		return r;
	r = udk_service_copy_properties(self, &props);
	if (r < 0)
		return r;
	if (!bytes) {
		bytes = udk_value_get_data(udk_dict_get(props, "ReportDescriptor"), &len);
		if (!bytes) {
			udk_value_unref(props);
			return udk_set_reason(-EINVAL, "no report descriptor: pass one, or give the service a "
						       "ReportDescriptor <data> property");
		}
	}
	if (!queue)
		queue = udk_service_get_default_queue(self);
	r = hid_channel_ensure(queue);
	if (r < 0) {
		udk_value_unref(props);
		return r;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		udk_value_unref(props);
		return -ENOMEM;
	}
	if (ops) {
		memcpy(&dev->ops, ops, MIN(ops->struct_size, sizeof(dev->ops)));
		dev->ops.struct_size = MIN(ops->struct_size, (uint32_t)sizeof(dev->ops));
	}
	dev->ctx = ctx;
	dev->self = udk_service_ref(self);
	dev->queue = udk_queue_ref(queue);
	/* the same parser as udkd: what it would refuse is refused here, in the same words */
	r = udk_hid_descriptor_parse(bytes, len, &dev->desc, NULL);
	if (r < 0)
		goto fail;
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", udk_service_get_id(self));
	udk_dict_set_take(body, "descriptor", udk_value_new_data(bytes, len));
	udk_dict_set(body, "properties", properties ? (struct udk_value *)properties : props);
	r = rt_call(OP_HID_DEVICE_CREATE, body, &reply_v);
	udk_value_unref(body);
	if (r < 0)
		goto fail;
	dev->handle = (uint32_t)udk_dict_get_int(reply_v, "handle", 0);
	snprintf(dev->export, sizeof(dev->export), "%s",
		 udk_dict_get_string(reply_v, "export") ? udk_dict_get_string(reply_v, "export") : "none");
	udk_value_unref(reply_v);
	r = hid_channel_add(dev->handle, LH_DEVICE, queue, dev);
	if (r < 0)
		goto fail;
	udk_value_unref(props);
	*ret = dev;
	return 0;
fail:
	udk_value_unref(props);
	udk_hid_descriptor_free(dev->desc);
	udk_queue_unref(dev->queue);
	udk_service_unref(dev->self);
	free(dev);
	return r;
}

static void
nothing(void *ctx)
{
	(void)ctx;
}

UDK_EXPORT void
udk_hid_device_destroy(struct udk_hid_device *dev)
{
	struct udk_value *body;

	if (!dev)
		return;
	hid_channel_remove(dev->handle);
	if (!dev->gone) {
		body = udk_value_new_dict();
		udk_dict_set_int(body, "handle", dev->handle);
		rt_call(OP_HID_DEVICE_DESTROY, body, NULL);
		udk_value_unref(body);
	}
	if (!udk_queue_is_current(dev->queue))
		udk_queue_dispatch_sync(dev->queue, nothing, NULL);
	udk_hid_descriptor_free(dev->desc);
	udk_queue_unref(dev->queue);
	udk_service_unref(dev->self);
	free(dev);
}

UDK_EXPORT int
udk_hid_device_handle_report(struct udk_hid_device *dev, uint64_t timestamp_ns, const uint8_t *report, size_t len)
{
	struct proto_hid_rec rec = { .type = PROTO_HID_REC_INPUT };
	int r;

	udk_return_val_if_fail(dev && report && len, -EINVAL);
	if (dev->gone)
		return udk_set_reason(-UDK_E_TERMINATED, "the virtual HID device was removed");
	r = udk_hid_report_check(dev->desc, UDK_HID_REPORT_INPUT, report, len, NULL);
	if (r < 0)
		return r;
	rec.handle = dev->handle;
	rec.len = (uint16_t)len;
	rec.time_ns = timestamp_ns ? timestamp_ns : udk_time_now_ns();
	return hid_channel_send(&rec, report);
}

UDK_EXPORT const struct udk_hid_descriptor *
udk_hid_device_get_descriptor(struct udk_hid_device *dev)
{
	return dev ? dev->desc : NULL;
}

UDK_EXPORT const char *
udk_hid_device_get_export(struct udk_hid_device *dev)
{
	return dev ? dev->export : NULL;
}
