/* SPDX-License-Identifier: MIT */
/*
 * testhid - the HID family's test driver: a root service on
 * IOUserResources whose user client makes virtual HID devices from
 * descriptors the test sends (through libudk-hid, or raw, the way a
 * hostile driver would, past the library's own check), sends their input
 * reports, and says what output and feature reports reached them.
 *
 * TestHIDUserClient selectors:
 *   0 Create(raw; descriptor) -> (status; reason)   raw 1: OP_HID_DEVICE_CREATE by hand
 *   1 SendReport(; report) -> (status)
 *   2 LastSetReport() -> (count, type; report)
 *   3 Destroy()
 */
#include <stdio.h>
#include <string.h>

#include <udk/families/hid.h>
#include <udk/userclient.h>

#include "hid-lib.h"
#include "util.h"

static struct {
	struct udk_service *root;
	struct udk_service *nub;
	struct udk_hid_device *dev;
	uint32_t raw_handle;
	uint8_t last[UDK_HID_MAX_REPORT];
	size_t last_len;
	uint32_t last_type;
	uint64_t set_count;
} st;

static int
set_report(struct udk_hid_device *dev, enum udk_hid_report_type type, const uint8_t *report, size_t len, void *ctx)
{
	(void)dev;
	(void)ctx;
	st.last_len = len < sizeof(st.last) ? len : sizeof(st.last);
	memcpy(st.last, report, st.last_len);
	st.last_type = type;
	st.set_count++;
	return 0;
}

static int
get_report(struct udk_hid_device *dev, enum udk_hid_report_type type, uint8_t id, uint8_t *buf, size_t cap,
	   size_t *ret_len, void *ctx)
{
	(void)dev;
	(void)ctx;
	if (type != UDK_HID_REPORT_FEATURE || cap < 2)
		return udk_error_set(-ENOENT, "only feature reports");
	buf[0] = id;
	buf[1] = 0x42;
	*ret_len = 2;
	return 0;
}

static void
destroy(void)
{
	udk_hid_device_destroy(st.dev);
	st.dev = NULL;
	if (st.nub) {
		udk_service_terminate(st.nub);
		udk_service_unref(st.nub);
		st.nub = NULL;
	}
}

static int
m_create(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	static const struct udk_hid_device_ops ops = { UDK_HID_DEVICE_OPS_INIT, .set_report = set_report,
						       .get_report = get_report };
	static const char *const classes[] = { "TestHIDDevice", "IOUserHIDDevice", NULL };
	struct udk_value *props = udk_value_new_dict();
	const char *why;
	int r;

	(void)uc;
	(void)ref;
	destroy();
	udk_dict_set_int(props, "VendorID", 0x1209);
	udk_dict_set_int(props, "ProductID", 0x0d0d);
	udk_dict_set_string(props, "Product", "udk test device");
	udk_dict_set_string(props, "UDKHIDExport", "none");
	r = udk_service_create_child(st.root, "TestHIDDevice", classes, props, &st.nub);
	if (r >= 0 && args->scalar_input[0]) {
		/* raw: what a driver without the library could send */
		struct udk_value *body = udk_value_new_dict(), *reply = NULL;
		r = hid_channel_ensure(udk_service_get_default_queue(st.root));
		udk_dict_set_uint(body, "object", udk_service_get_id(st.nub));
		udk_dict_set_take(body, "descriptor", udk_value_new_data(args->struct_input, args->struct_input_size));
		udk_dict_set(body, "properties", props);
		if (r >= 0)
			r = rt_call(OP_HID_DEVICE_CREATE, body, &reply);
		udk_value_unref(body);
		udk_value_unref(reply);
	} else if (r >= 0) {
		r = udk_hid_device_create(st.nub, args->struct_input, args->struct_input_size, props, NULL, &ops, NULL,
					  &st.dev);
	}
	udk_value_unref(props);
	why = r < 0 ? udk_error_reason() : "ok";
	args->scalar_output[0] = (uint64_t)(int64_t)r;
	args->scalar_output_count = 1;
	snprintf(args->struct_output, args->struct_output_size, "%s", why ? why : "?");
	args->struct_output_size = strlen(args->struct_output) + 1;
	if (r < 0 && !st.dev && st.nub) {
		udk_service_terminate(st.nub);
		udk_service_unref(st.nub);
		st.nub = NULL;
	}
	return 0;
}

static int
m_send(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	int r;

	(void)uc;
	(void)ref;
	r = st.dev ? udk_hid_device_handle_report(st.dev, 0, args->struct_input, args->struct_input_size) : -ENODEV;
	args->scalar_output[0] = (uint64_t)(int64_t)r;
	args->scalar_output_count = 1;
	return 0;
}

static int
m_last(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	(void)uc;
	(void)ref;
	args->scalar_output[0] = st.set_count;
	args->scalar_output[1] = st.last_type;
	args->scalar_output_count = 2;
	memcpy(args->struct_output, st.last, MIN(st.last_len, args->struct_output_size));
	args->struct_output_size = MIN(st.last_len, args->struct_output_size);
	return 0;
}

static int
m_destroy(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	(void)uc;
	(void)ref;
	(void)args;
	destroy();
	return 0;
}

static const struct udk_method_dispatch methods[] = {
	{ m_create, "Create", 0, 1, UDK_METHOD_VARIABLE, 1, UDK_METHOD_VARIABLE },
	{ m_send, "SendReport", 0, 0, UDK_METHOD_VARIABLE, 1, 0 },
	{ m_last, "LastSetReport", 0, 0, 0, 2, UDK_METHOD_VARIABLE },
	{ m_destroy, "Destroy", 0, 0, 0, 0, 0 },
};

static int
root_start(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	st.root = self;
	return udk_service_register(self);
}

static int
root_stop(struct udk_service *self, struct udk_service *provider)
{
	(void)self;
	(void)provider;
	destroy();
	return 0;
}

static const struct udk_class root_class = {
	UDK_CLASS_INIT,
	.name = "TestHIDRoot",
	.start = root_start,
	.stop = root_stop,
};

static const struct udk_class uc_class = {
	UDK_CLASS_INIT,
	.name = "TestHIDUserClient",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &root_class, &uc_class, &udk_hid_event_client_class,
							   NULL };

	return udk_driver_main(argc, argv, classes);
}
