/* SPDX-License-Identifier: MIT */
/*
 * hid/sim/devmodel.c - simulated HID devices: the HID kind of device model
 * (<udk/families/hid-devmodel.h>) on the generic runtime (lib/devmodel/).
 * Input reports go to udkd (OP_HID_DM_INPUT), which owns the path to
 * drivers; udkd's set/get report requests come back to the function.
 */
#include <udk/families/hid-devmodel.h>

#include "dm-private.h"
#include "proto-hid.h"
#include "util.h"

struct hid_fn {
	struct udk_dm_hid_ops ops;
	uint8_t *descriptor;
	size_t descriptor_len;
	struct udk_value *props;
};

#define HID(fn) ((struct hid_fn *)(fn)->kind_data)
#define HAS(fn, field)                                                                                         \
	(HID(fn)->ops.struct_size >= offsetof(struct udk_dm_hid_ops, field) + sizeof(HID(fn)->ops.field) &&      \
	 HID(fn)->ops.field)

static int
hid_describe(struct udk_dm_function *fn, struct udk_value *desc)
{
	udk_dict_set_take(desc, "descriptor", udk_value_new_data(HID(fn)->descriptor, HID(fn)->descriptor_len));
	udk_dict_set(desc, "properties", HID(fn)->props);
	return 0;
}

static void
hid_message(struct udk_dm_function *fn, struct wire_msg *m)
{
	dm_chan_reply(fn, m, -EOPNOTSUPP, "a simulated HID device is reached through udkd", NULL, NULL, 0);
}

static void
hid_udkd_message(struct udk_dm_function *fn, struct wire_msg *m)
{
	int64_t type = udk_dict_get_int(m->body, "type", -1);
	size_t len = 0;
	const uint8_t *data = udk_value_get_data(udk_dict_get(m->body, "data"), &len);
	int r;

	if (type < 0 || type > 2) {
		dm_udkd_reply(fn->dm, m, -EINVAL, "no such report type", NULL);
		return;
	}
	if (m->h.op == OP_HID_DM_SET_REPORT) {
		r = HAS(fn, set_report) ? HID(fn)->ops.set_report(fn, (enum udk_hid_report_type)type, data, data ? len : 0)
					: -UDK_E_UNSUPPORTED;
		dm_udkd_reply(fn->dm, m, r < 0 ? r : 0, r < 0 ? "the device refused the report" : NULL, NULL);
	} else if (m->h.op == OP_HID_DM_GET_REPORT) {
		uint8_t buf[UDK_HID_MAX_REPORT];
		size_t n = 0;
		struct udk_value *body = NULL;
		r = HAS(fn, get_report) ? HID(fn)->ops.get_report(fn, (enum udk_hid_report_type)type,
								  (uint8_t)udk_dict_get_int(m->body, "id", 0), buf,
								  sizeof(buf), &n)
					: -UDK_E_UNSUPPORTED;
		if (r >= 0 && n <= sizeof(buf)) {
			body = udk_value_new_dict();
			udk_dict_set_take(body, "data", udk_value_new_data(buf, n));
		}
		dm_udkd_reply(fn->dm, m, r < 0 ? r : 0, r < 0 ? "the device has no such report" : NULL, body);
		udk_value_unref(body);
	} else {
		dm_udkd_reply(fn->dm, m, -EOPNOTSUPP, "a simulated HID device does not handle this", NULL);
	}
}

static const struct dm_kind hid_kind = {
	.name = "hid",
	.describe = hid_describe,
	.message = hid_message,
	.udkd_message = hid_udkd_message,
};

UDK_EXPORT int
udk_dm_add_hid_function(struct udk_dm *dm, const struct udk_dm_hid_config *config, const struct udk_dm_hid_ops *ops,
			void *userdata, struct udk_dm_function **ret)
{
	struct udk_hid_descriptor *d = NULL;
	struct udk_dm_function *fn;
	struct hid_fn *h;
	struct udk_value *p;
	int r;

	udk_return_val_if_fail(dm && config && ret, -EINVAL);
	/* a model's own mistake is caught here, before udkd refuses it */
	r = udk_hid_descriptor_parse(config->descriptor, config->descriptor_len, &d, NULL);
	if (r < 0)
		return r;
	udk_hid_descriptor_free(d);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (ops)
		memcpy(&h->ops, ops, MIN(ops->struct_size, sizeof(h->ops)));
	h->descriptor = malloc(config->descriptor_len);
	if (!h->descriptor) {
		free(h);
		return -ENOMEM;
	}
	memcpy(h->descriptor, config->descriptor, config->descriptor_len);
	h->descriptor_len = config->descriptor_len;
	p = h->props = udk_value_new_dict();
	udk_dict_set_int(p, "VendorID", config->vendor_id);
	udk_dict_set_int(p, "ProductID", config->product_id);
	udk_dict_set_int(p, "VersionNumber", config->version);
	udk_dict_set_string(p, "Transport", config->transport ? config->transport : "USB");
	if (config->product)
		udk_dict_set_string(p, "Product", config->product);
	if (config->manufacturer)
		udk_dict_set_string(p, "Manufacturer", config->manufacturer);
	if (config->serial)
		udk_dict_set_string(p, "SerialNumber", config->serial);
	udk_dict_set_bool(p, "Built-In", config->built_in);
	if (config->location_id)
		udk_dict_set_int(p, "LocationID", config->location_id);
	r = dm_function_new(dm, &hid_kind, h, userdata, &fn);
	if (r < 0) {
		udk_value_unref(h->props);
		free(h->descriptor);
		free(h);
		return r;
	}
	*ret = fn;
	return 0;
}

UDK_EXPORT int
udk_dm_hid_input_report(struct udk_dm_function *fn, const uint8_t *report, size_t len)
{
	struct udk_value *b;
	int r;

	udk_return_val_if_fail(fn && report && strcmp(fn->kind->name, "hid") == 0, -EINVAL);
	if (len > UDK_HID_MAX_REPORT)
		return -EMSGSIZE;
	b = udk_value_new_dict();
	udk_dict_set_int(b, "function", fn->index);
	udk_dict_set_take(b, "report", udk_value_new_data(report, len));
	udk_dict_set_uint(b, "time_ns", now_ns());
	r = dm_udkd_send(fn->dm, OP_HID_DM_INPUT, b);
	udk_value_unref(b);
	return r;
}
