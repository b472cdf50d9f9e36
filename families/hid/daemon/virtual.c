/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/virtual.c - virtual HID devices (IOUserHIDDevice): a driver
 * makes one of a service it owns whose class is IOUserHIDDevice.  udkd
 * parses the report descriptor (a bad one is refused with the parser's
 * named problem), publishes DriverKit's HID properties on the service and
 * an IOHIDInterface below it, and exports it to Linux (export.c).  Input
 * reports come over the driver's HID channel; output and feature reports
 * (from Linux or from the drivers reading it) go to the driver as
 * requests on the channel, answered by PROTO_HID_REC_REPLY.
 *
 * The other direction is here too: a driver sets or gets a report of a
 * device it opened (OP_HID_SET_REPORT, OP_HID_GET_REPORT), answered by the
 * device's backend.
 */
#include <inttypes.h>

#include "hid-private.h"
#include "util.h"

#define MAX_REQUESTS 256u

struct hid_request {
	struct hid_request *next;
	uint64_t id;
	hid_request_fn done;
	void *ctx;
};

static const char *const string_keys[] = { "Transport", "Manufacturer", "Product", "SerialNumber", NULL };
static const char *const int_keys[] = { "VendorID", "ProductID", "VersionNumber", "CountryCode", "LocationID",
					"PrimaryUsagePage", "PrimaryUsage", NULL };

/* The device's properties from the driver's: known keys only, typed and bounded. */
static int
device_props(const struct udk_value *in, struct udk_value **ret)
{
	struct udk_value *out = udk_value_new_dict();

	for (const char *const *k = string_keys; *k; k++) {
		struct udk_value *v = udk_dict_get(in, *k);
		if (!v)
			continue;
		if (udk_value_get_type(v) != UDK_VALUE_STRING || strlen(udk_value_get_string(v)) > 128) {
			udk_value_unref(out);
			return udk_set_reason(-EINVAL, "property %s must be a <string> of at most 128 characters", *k);
		}
		udk_dict_set(out, *k, v);
	}
	for (const char *const *k = int_keys; *k; k++) {
		struct udk_value *v = udk_dict_get(in, *k);
		if (!v)
			continue;
		if (udk_value_get_type(v) != UDK_VALUE_INT || udk_value_get_int(v, -1) < 0 ||
		    udk_value_get_int(v, -1) > 0xffffffffll) {
			udk_value_unref(out);
			return udk_set_reason(-EINVAL, "property %s must be an <integer> from 0 to 0xffffffff", *k);
		}
		udk_dict_set(out, *k, v);
	}
	if (!udk_dict_get(out, "Transport"))
		udk_dict_set_string(out, "Transport", "Virtual");
	*ret = out;
	return 0;
}

static struct service *
virtual_bus(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	struct udk_value *props;

	if (st->virtual_bus && st->virtual_bus->state != SVC_TERMINATED)
		return st->virtual_bus;
	service_unref(st->virtual_bus);
	st->virtual_bus = NULL;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKHIDBackend", "virtual");
	if (service_new(d, d->reg.root, "HIDVirtual", class_chain_for("UDKHIDBus"), props, &st->virtual_bus) < 0)
		st->virtual_bus = NULL;
	udk_value_unref(props);
	if (st->virtual_bus) {
		service_ref(st->virtual_bus);
		service_register(d, st->virtual_bus);
	}
	return st->virtual_bus;
}

/* A name under HIDVirtual no other device has. */
static void
free_name(struct udkd *d, const char *base, char *buf, size_t len)
{
	for (unsigned n = 1;; n++) {
		bool taken = false;
		if (n == 1)
			snprintf(buf, len, "%s", base);
		else
			snprintf(buf, len, "%s-%u", base, n);
		for (struct hid_dev *dev = hid_state(d)->devs; dev && !taken; dev = dev->next)
			taken = dev->backend == HID_VIRTUAL && streq(dev->name, buf);
		if (!taken)
			return;
	}
}

static struct hid_dev *
orphan_with_key(struct udkd *d, const char *key)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if (dev->backend == HID_VIRTUAL && !dev->owner && !dev->gone && streq(dev->key, key))
			return dev;
	return NULL;
}

static bool
same_descriptor(const struct udk_hid_descriptor *a, const struct udk_hid_descriptor *b)
{
	size_t la, lb;
	const uint8_t *pa = udk_hid_descriptor_get_data(a, &la), *pb = udk_hid_descriptor_get_data(b, &lb);

	return la == lb && memcmp(pa, pb, la) == 0;
}

static void
on_orphan_timeout(struct loop *l, void *data)
{
	struct hid_dev *dev = data;
	struct udkd *d = dev->d;

	(void)l;
	dev->orphan_timer = NULL;
	udkd_log(d, UDK_LOG_NOTICE, "hid", "%s: its driver did not come back within %llu ms", dev->name,
		 (unsigned long long)hid_state(d)->handoff_ms);
	hid_dev_remove(d, dev, "its driver ended and did not come back");
}

void
hid_virtual_orphan(struct udkd *d, struct hid_dev *dev)
{
	uint64_t ms = hid_state(d)->handoff_ms;

	if (!ms) {
		hid_dev_remove(d, dev, "its driver ended");
		return;
	}
	udkd_log(d, UDK_LOG_NOTICE, "hid",
		 "%s: its driver ended; the device, its readers and its Linux export wait %llu ms for the driver's "
		 "next instance",
		 dev->name, (unsigned long long)ms);
	loop_add_timer(d->loop, now_ns() + ms * 1000000ull, on_orphan_timeout, dev, &dev->orphan_timer);
}

void
hid_virtual_create(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct hid_state *st = hid_state(d);
	struct service *s = service_by_id(d, udk_value_get_uint(udk_dict_get(m->body, "object"), 0));
	struct udk_value *in = udk_dict_get(m->body, "properties"), *props = NULL, *reply, *mine;
	const char *export = udk_dict_get_string(in, "UDKHIDExport");
	struct hid_chan *c = hid_chan_of(d, p);
	struct udk_hid_descriptor *desc = NULL;
	struct udk_hid_problem pr;
	struct hid_dev *dev = NULL;
	struct hid_handle *h;
	const uint8_t *bytes;
	char *spath = NULL, *key = NULL, *mpath;
	char name[128];
	bool back = false;
	size_t len = 0;
	int r;

	if (!c) {
		proc_reply(p, m, -EPROTO, "open the HID channel first (OP_HID_CHANNEL); libudk-hid does", NULL, NULL,
			   0);
		return;
	}
	if (!s || s->owner != p || s->state == SVC_TERMINATED) {
		proc_reply(p, m, -EPERM, "a virtual HID device is made of a service this driver owns", NULL, NULL, 0);
		return;
	}
	if (!service_is_a(s, "IOUserHIDDevice")) {
		char *why = strdup_printf("%s is not an IOUserHIDDevice: give it IOClass IOUserHIDDevice (or "
					  "AppleUserHIDDevice), which needs the family.hid.device entitlement",
					  s->name);
		proc_reply(p, m, -UDK_E_UNSUPPORTED, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (hid_dev_by_service(d, s)) {
		proc_reply(p, m, -EEXIST, "this service is already a virtual HID device", NULL, NULL, 0);
		return;
	}
	if (hid_chan_count(c, true) >= HID_CHAN_DEVICES || hid_chan_count(c, false) >= HID_CHAN_HANDLES) {
		proc_reply(p, m, -ENOSPC, "this driver has made 16 virtual HID devices already; destroy one first", NULL,
			   NULL, 0);
		return;
	}
	bytes = udk_value_get_data(udk_dict_get(m->body, "descriptor"), &len);
	r = udk_hid_descriptor_parse(bytes, bytes ? len : 0, &desc, &pr);
	if (r < 0) {
		udkd_log(d, UDK_LOG_WARNING, "hid", "%s (pid %d): virtual HID device %s refused: %s", p->label, p->pid,
			 s->name, udk_error_reason());
		proc_reply(p, m, r, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	if (in && udk_value_get_type(in) != UDK_VALUE_DICT) {
		udk_hid_descriptor_free(desc);
		proc_reply(p, m, -EINVAL, "properties must be a dictionary", NULL, NULL, 0);
		return;
	}
	if (export && !streq(export, "auto") && !streq(export, "uhid") && !streq(export, "uinput") &&
	    !streq(export, "none")) {
		udk_hid_descriptor_free(desc);
		proc_reply(p, m, -EINVAL, "UDKHIDExport is \"auto\", \"uhid\", \"uinput\" or \"none\"", NULL, NULL, 0);
		return;
	}
	r = device_props(in, &props);
	if (r < 0) {
		udk_hid_descriptor_free(desc);
		proc_reply(p, m, r, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	/* a virtual device is never built in, whatever its driver says */
	udk_dict_set_bool(props, "Built-In", false);
	/* its identity: where the driver's service is, stable across the driver's restarts */
	spath = service_path(s);
	key = strdup_printf("virtual:%s", spath ? spath : s->name);
	dev = key ? orphan_with_key(d, key) : NULL;
	if (dev && !same_descriptor(dev->desc, desc)) {
		hid_dev_remove(d, dev, "its driver came back with another report descriptor");
		dev = NULL;
	}
	if (dev) {
		/* the driver's next instance takes its device back: readers and the export never saw it go */
		udk_hid_descriptor_free(desc);
		desc = NULL;
		if (dev->orphan_timer)
			loop_timer_cancel(d->loop, dev->orphan_timer);
		dev->orphan_timer = NULL;
		back = true;
	} else {
		struct service *bus = virtual_bus(d);
		free_name(d, s->name, name, sizeof(name));
		r = bus ? hid_dev_new(d, HID_VIRTUAL, name, key ? key : "virtual:?", bus, NULL, desc, props, true, &dev)
			: -ENOMEM;
		if (r < 0) {
			udk_hid_descriptor_free(desc);
			udk_value_unref(props);
			free(spath);
			free(key);
			proc_reply(p, m, r, "cannot publish the virtual device", NULL, NULL, 0);
			return;
		}
	}
	udk_value_unref(props);
	service_unref(dev->driver_service);
	dev->driver_service = service_ref(s);
	/* the driver's own service shows the device it is */
	mine = udk_value_copy(dev->device->props);
	udk_dict_remove(mine, "IORegistered");
	mpath = service_path(dev->device);
	udk_dict_set_string(mine, "UDKHIDDevice", mpath ? mpath : "?");
	service_set_properties(d, s, mine);
	udk_value_unref(mine);
	h = hid_handle_new(c, dev, true);
	if (!h) {
		hid_dev_remove(d, dev, "out of memory");
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		free(spath);
		free(key);
		free(mpath);
		return;
	}
	dev->owner = h;
	h->ready = true;
	st->next_virtual++;
	if (!back)
		hid_export_create(d, dev, export ? export : "auto", in);
	reply = udk_value_new_dict();
	udk_dict_set_uint(reply, "handle", h->id);
	udk_dict_set_string(reply, "export", hid_export_kind(dev));
	udk_dict_set_string(reply, "device", mpath ? mpath : "?");
	if (dev->export)
		udk_dict_set_take(reply, "linux", hid_export_describe(dev));
	proc_reply(p, m, 0, NULL, reply, NULL, 0);
	udk_value_unref(reply);
	if (back)
		udkd_log(d, UDK_LOG_NOTICE, "hid", "%s is back and takes its virtual HID device %s again (%s)", h->bundle,
			 dev->name, mpath ? mpath : "?");
	else
		udkd_log(d, UDK_LOG_INFO, "hid", "%s made virtual HID device %s at %s (export: %s)", h->bundle,
			 dev->name, mpath ? mpath : "?", hid_export_kind(dev));
	free(spath);
	free(key);
	free(mpath);
}

void
hid_virtual_destroy(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct hid_handle *h = hid_handle_find(hid_chan_of(d, p), (uint32_t)udk_dict_get_int(m->body, "handle", 0));

	if (!h || !h->owner) {
		proc_reply(p, m, -ENOENT, "no such virtual HID device of this driver", NULL, NULL, 0);
		return;
	}
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
	hid_handle_end(d, h, false);
}

void
hid_virtual_input(struct udkd *d, struct hid_handle *h, uint64_t time_ns, const uint8_t *data, size_t len)
{
	if (!h->dev)
		return;
	hid_dev_input(d, h->dev, PROTO_HID_REC_REPORT, time_ns ? time_ns : now_ns(), data, len);
}

/* ---- requests to a virtual device's driver ---- */

int
hid_virtual_request(struct udkd *d, struct hid_dev *dev, uint16_t rec_type, uint8_t report_type, uint8_t report_id,
		    const uint8_t *data, size_t len, hid_request_fn done, void *ctx)
{
	struct hid_handle *o = dev->owner;
	struct hid_chan *c = o ? o->chan : NULL;
	struct proto_hid_rec rec = { .type = rec_type, .report_type = report_type, .report_id = report_id };
	struct hid_request *q;
	unsigned n = 0;
	int r;

	if (!c)
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "%s has no driver", dev->name);
	for (q = c->requests; q; q = q->next)
		n++;
	if (n >= MAX_REQUESTS)
		return udk_set_reason(-EAGAIN, "%s's driver has %u report requests it has not answered", dev->name, n);
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->id = ++c->next_request;
	q->done = done;
	q->ctx = ctx;
	rec.handle = o->id;
	rec.seq = done ? q->id : 0;
	rec.len = (uint16_t)len;
	rec.time_ns = now_ns();
	r = hid_chan_send(d, c, &rec, data);
	if (r < 0 || !done) {
		free(q);
		return r < 0 ? udk_set_reason(r, "cannot reach %s's driver", dev->name) : 0;
	}
	q->next = c->requests;
	c->requests = q;
	return 0;
}

void
hid_virtual_reply(struct udkd *d, struct hid_chan *c, const struct proto_hid_rec *rec, const uint8_t *payload)
{
	for (struct hid_request **pp = &c->requests; *pp; pp = &(*pp)->next) {
		struct hid_request *q = *pp;
		if (q->id != rec->seq)
			continue;
		*pp = q->next;
		q->done(d, rec->status > 0 ? -EPROTO : rec->status, payload, rec->len, q->ctx);
		free(q);
		return;
	}
}

void
hid_requests_fail(struct udkd *d, struct hid_chan *c)
{
	while (c->requests) {
		struct hid_request *q = c->requests;
		c->requests = q->next;
		udk_set_reason(-UDK_E_DRIVER_DIED, "the virtual device's driver ended");
		q->done(d, -UDK_E_DRIVER_DIED, NULL, 0, q->ctx);
		free(q);
	}
}

/* ---- a driver's report requests on a device it opened ---- */

struct pending_reply {
	struct driver_proc *p;
	struct wire_msg m;		/* the header, to answer */
};

static void
virtual_answered(struct udkd *d, int status, const uint8_t *data, size_t len, void *ctx)
{
	struct pending_reply *pr = ctx;
	struct udk_value *body = NULL;

	(void)d;
	if (status >= 0 && data) {
		body = udk_value_new_dict();
		udk_dict_set_take(body, "data", udk_value_new_data(data, len));
	}
	if (pr->p->state != PROC_DEAD)
		proc_reply(pr->p, &pr->m, status, status < 0 ? (status == -UDK_E_DRIVER_DIED
									? "the virtual device's driver ended"
									: "the virtual device's driver refused")
							      : NULL,
			   body, NULL, 0);
	udk_value_unref(body);
	proc_unref(pr->p);
	free(pr);
}

void
hid_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct hid_handle *h = hid_handle_find(hid_chan_of(d, p), (uint32_t)udk_dict_get_int(m->body, "handle", 0));
	int64_t type = udk_dict_get_int(m->body, "type", -1);
	bool get = m->h.op == OP_HID_GET_REPORT;
	struct hid_dev *dev = h ? h->dev : NULL;
	size_t len = 0;
	const uint8_t *data = udk_value_get_data(udk_dict_get(m->body, "data"), &len);

	if (!h || h->owner || !dev) {
		proc_reply(p, m, -ENOENT, "no such HID device open in this driver", NULL, NULL, 0);
		return;
	}
	if (type < 0 || type > 2 || (!get && type == UDK_HID_REPORT_INPUT) || (!get && !data)) {
		proc_reply(p, m, -EINVAL,
			   get ? "getReport asks for an input, output or feature report"
			       : "setReport sends an output or feature report with its data",
			   NULL, NULL, 0);
		return;
	}
	if (!get && dev->desc && udk_hid_report_check(dev->desc, (enum udk_hid_report_type)type, data, len, NULL) < 0) {
		proc_reply(p, m, -EBADMSG, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	switch (dev->backend) {
	case HID_SIM:
		hid_sim_report_request(d, p, m, dev, get);
		return;
	case HID_HIDRAW:
		hid_hidraw_report_request(d, p, m, dev, get);
		return;
	case HID_VIRTUAL: {
		struct pending_reply *pr = calloc(1, sizeof(*pr));
		int r;
		if (!pr) {
			proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
			return;
		}
		pr->p = proc_ref(p);
		pr->m.h = m->h;
		r = hid_virtual_request(d, dev, get ? PROTO_HID_REC_GET_REPORT : PROTO_HID_REC_SET_REPORT,
					(uint8_t)type, (uint8_t)udk_dict_get_int(m->body, "id", 0), data, len,
					virtual_answered, pr);
		if (r < 0) {
			proc_reply(p, m, r, udk_error_reason(), NULL, NULL, 0);
			proc_unref(pr->p);
			free(pr);
		}
		return;
	}
	case HID_EVDEV:
	default:
		proc_reply(p, m, -UDK_E_UNSUPPORTED,
			   "a Linux input device has events, not reports: open its hidraw device for reports", NULL,
			   NULL, 0);
		return;
	}
}
