/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/sim.c - simulated HID devices: device models whose functions
 * are of kind "hid" (<udk/families/hid-devmodel.h>).  Each function's
 * hello gives its report descriptor and properties; udkd parses the
 * descriptor (a bad one stops the model, with the parser's named problem)
 * and publishes an IOHIDDevice under HIDSimulated.  The model's input
 * reports come to udkd (OP_HID_DM_INPUT) and take the same path as every
 * device's: checked, counted, to the seizer or the readers.  Drivers'
 * output and feature reports go to the model as requests.
 */
#include "hid-private.h"
#include "util.h"

static struct service *
sim_bus(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	struct udk_value *props;

	if (st->sim_bus && st->sim_bus->state != SVC_TERMINATED)
		return st->sim_bus;
	service_unref(st->sim_bus);
	st->sim_bus = NULL;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKHIDBackend", "sim");
	if (service_new(d, d->reg.root, "HIDSimulated", class_chain_for("UDKHIDBus"), props, &st->sim_bus) < 0)
		st->sim_bus = NULL;
	udk_value_unref(props);
	if (st->sim_bus) {
		service_ref(st->sim_bus);
		service_register(d, st->sim_bus);
	}
	return st->sim_bus;
}

static const char *const string_keys[] = { "Transport", "Manufacturer", "Product", "SerialNumber", NULL };
static const char *const int_keys[] = { "VendorID", "ProductID", "VersionNumber", "CountryCode", "LocationID", NULL };

int
hid_sim_model_function(struct udkd *d, struct device_model *m, size_t index, const struct udk_value *desc,
		       struct service **ret)
{
	const struct udk_value *in = udk_dict_get(desc, "properties");
	struct udk_hid_descriptor *hd = NULL;
	struct udk_value *props;
	struct service *bus = sim_bus(d);
	struct hid_dev *dev = NULL;
	struct udk_hid_problem pr;
	const uint8_t *bytes;
	char name[96], key[160];
	size_t len = 0;
	int r;

	if (!bus)
		return -ENOMEM;
	bytes = udk_value_get_data(udk_dict_get(desc, "descriptor"), &len);
	r = udk_hid_descriptor_parse(bytes, bytes ? len : 0, &hd, &pr);
	if (r < 0)
		return udk_set_reason(r, "its report descriptor is refused: %s", udk_error_reason());
	props = udk_value_new_dict();
	for (const char *const *k = string_keys; *k; k++) {
		const char *v = udk_dict_get_string(in, *k);
		if (v && strlen(v) <= 128)
			udk_dict_set_string(props, *k, v);
	}
	for (const char *const *k = int_keys; *k; k++) {
		int64_t v = udk_dict_get_int(in, *k, -1);
		if (v >= 0 && v <= 0xffffffffll)
			udk_dict_set_int(props, *k, v);
	}
	if (!udk_dict_get(props, "Transport"))
		udk_dict_set_string(props, "Transport", "USB");
	udk_dict_set_bool(props, "Built-In", udk_dict_get_bool(in, "Built-In", false));
	udk_dict_set_string(props, "UDKDevice", m->name);
	udk_dict_set_int(props, "UDKFunction", (int64_t)index);
	if (index == 0)
		snprintf(name, sizeof(name), "%s", m->name);
	else
		snprintf(name, sizeof(name), "%s.%zu", m->name, index);
	snprintf(key, sizeof(key), "sim:%s", name);
	r = hid_dev_new(d, HID_SIM, name, key, bus, NULL, hd, props, false, &dev);
	udk_value_unref(props);
	if (r < 0) {
		udk_hid_descriptor_free(hd);
		return udk_set_reason(r, "cannot publish the simulated HID device");
	}
	dev->model = m;
	dev->fn_index = index;
	*ret = dev->device;
	return 0;
}

static struct hid_dev *
dev_of_model(struct udkd *d, const struct device_model *m, size_t index)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if (dev->backend == HID_SIM && dev->model == m && dev->fn_index == index && !dev->gone)
			return dev;
	return NULL;
}

void
hid_sim_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	if (m->h.op == OP_HID_DM_INPUT) {
		int64_t index = udk_dict_get_int(m->body, "function", -1);
		struct hid_dev *dev = index >= 0 ? dev_of_model(d, p->model, (size_t)index) : NULL;
		size_t len = 0;
		const uint8_t *report = udk_value_get_data(udk_dict_get(m->body, "report"), &len);
		uint64_t t = udk_value_get_uint(udk_dict_get(m->body, "time_ns"), 0);

		if (dev && report)
			hid_dev_input(d, dev, PROTO_HID_REC_REPORT, t ? t : now_ns(), report, len);
		else if (dev)
			hid_dev_drop(d, dev, UDK_HID_E_REPORT_SHORT, "a simulated input report without data");
		return;
	}
	proc_reply(p, m, -EOPNOTSUPP, "udkd does not take this HID request from a device model", NULL, NULL, 0);
}

struct sim_pending {
	struct driver_proc *p;
	struct wire_msg m;
};

static void
sim_answered(struct udkd *d, struct driver_proc *model, struct wire_msg *reply, int status, void *data)
{
	struct sim_pending *sp = data;
	struct udk_value *body = NULL;
	const char *reason = NULL;

	(void)d;
	(void)model;
	if (status >= 0 && reply && udk_dict_get(reply->body, "data")) {
		body = udk_value_new_dict();
		udk_dict_set(body, "data", udk_dict_get(reply->body, "data"));
	} else if (status < 0) {
		reason = reply ? udk_dict_get_string(reply->body, "reason") : NULL;
		if (!reason)
			reason = status == -UDK_E_DRIVER_DIED ? "the simulated device stopped"
							      : "the simulated device did not answer";
	}
	if (sp->p->state != PROC_DEAD)
		proc_reply(sp->p, &sp->m, status, reason, body, NULL, 0);
	udk_value_unref(body);
	proc_unref(sp->p);
	free(sp);
}

void
hid_sim_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev, bool get)
{
	struct sim_pending *sp;
	struct udk_value *body;
	int r;

	if (!dev->model || !dev->model->proc || dev->model->proc->state == PROC_DEAD) {
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, "the simulated device is not running", NULL, NULL, 0);
		return;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	sp->p = proc_ref(p);
	sp->m.h = m->h;
	body = udk_value_new_dict();
	udk_dict_set_int(body, "function", (int64_t)dev->fn_index);
	udk_dict_set_int(body, "type", udk_dict_get_int(m->body, "type", 0));
	udk_dict_set_int(body, "id", udk_dict_get_int(m->body, "id", 0));
	if (!get)
		udk_dict_set(body, "data", udk_dict_get(m->body, "data"));
	r = proc_request(d, dev->model->proc, get ? OP_HID_DM_GET_REPORT : OP_HID_DM_SET_REPORT, body, NULL, 0,
			 d->cfg.request_timeout_ms, sim_answered, sp);
	udk_value_unref(body);
	if (r < 0) {
		proc_reply(p, m, r, "cannot reach the simulated device", NULL, NULL, 0);
		proc_unref(sp->p);
		free(sp);
	}
}
