/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/export.c - virtual HID devices exported to Linux, so every
 * evdev, X or Wayland program sees them.
 *
 *   uhid (preferred): udkd writes UHID_CREATE2 with the device's report
 *	descriptor, ids and name; the kernel parses the descriptor itself
 *	(hid-generic), makes its input and hidraw devices, and every input
 *	report goes in as UHID_INPUT2.  What the kernel sends back (output
 *	reports such as keyboard LEDs, and getReport/setReport requests) goes
 *	to the device's driver as requests on its HID channel; the answers go
 *	back as UHID_GET_REPORT_REPLY / UHID_SET_REPORT_REPLY.
 *
 *   uinput (where uhid is absent): udkd makes the input device itself
 *	with libevdev's uinput helper: the key, relative, absolute and LED
 *	codes the descriptor's usages map to (hid-usage.h).  Input reports
 *	are decoded (the event decoder event services use) and written as
 *	events; LEDs the system sets come back as an output report.
 *
 * udkd opens /dev/uhid and /dev/uinput (--hid-uhid, --hid-uinput); the
 * driver never does: it has its HID channel, whose reports udkd checks
 * against the descriptor before the kernel sees them.  The export's phys
 * is "udk-virtual/..." so udkd's own evdev and hidraw scans skip it.  The
 * export lives as long as the device: a driver restarting within the
 * hand-off time finds it as it left it.
 */
#include <fcntl.h>
#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>
#include <linux/input.h>
#include <linux/uhid.h>
#include <linux/uinput.h>
#include <sys/ioctl.h>

#include "hid-decode.h"
#include "hid-private.h"
#include "util.h"

enum export_kind { EXPORT_UHID = 1, EXPORT_UINPUT };

struct hid_export {
	enum export_kind kind;
	struct hid_dev *dev;
	int fd;
	struct loop_source *src;
	char phys[64];
	char name[128];
	/* uinput */
	struct libevdev *ev;
	struct libevdev_uinput *ui;
	struct hid_decoder *dec;
	uint32_t buttons;
	uint32_t leds;			/* bit n: LED code n on */
	bool started;			/* uhid: UHID_START came */
	uint64_t written, failed;
};

bool
hid_export_owns_node(struct udkd *d, const char *path)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next) {
		struct hid_export *x = dev->export;
		if (x && x->ui && libevdev_uinput_get_devnode(x->ui) && streq(libevdev_uinput_get_devnode(x->ui), path))
			return true;
	}
	return false;
}

const char *
hid_export_kind(const struct hid_dev *dev)
{
	if (!dev->export)
		return "none";
	return dev->export->kind == EXPORT_UHID ? "uhid" : "uinput";
}

struct udk_value *
hid_export_describe(const struct hid_dev *dev)
{
	struct hid_export *x = dev->export;
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_string(v, "kind", hid_export_kind(dev));
	if (!x)
		return v;
	udk_dict_set_string(v, "name", x->name);
	udk_dict_set_string(v, "phys", x->phys);
	if (x->ui && libevdev_uinput_get_devnode(x->ui))
		udk_dict_set_string(v, "node", libevdev_uinput_get_devnode(x->ui));
	udk_dict_set_uint(v, "reports", x->written);
	udk_dict_set_uint(v, "failed", x->failed);
	return v;
}

static uint16_t
bus_of(const char *transport)
{
	if (streq(transport, "USB"))
		return BUS_USB;
	if (streq(transport, "Bluetooth"))
		return BUS_BLUETOOTH;
	return BUS_VIRTUAL;
}

/* ---- uhid ---- */

struct uhid_pending {
	struct hid_export *x;		/* NULL once the export is gone */
	uint32_t id;
	bool get;
	struct uhid_pending *next;
};

static struct uhid_pending *uhid_requests;

static void
uhid_write(struct hid_export *x, const struct uhid_event *ev, size_t len)
{
	if (write(x->fd, ev, len) < 0)
		x->failed++;
}

static void
uhid_answered(struct udkd *d, int status, const uint8_t *data, size_t len, void *ctx)
{
	struct uhid_pending *q = ctx;
	struct uhid_event ev;

	(void)d;
	for (struct uhid_pending **pp = &uhid_requests; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	if (q->x) {
		memset(&ev, 0, sizeof(ev));
		if (q->get) {
			ev.type = UHID_GET_REPORT_REPLY;
			ev.u.get_report_reply.id = q->id;
			ev.u.get_report_reply.err = status < 0 ? EIO : 0;
			if (status >= 0 && data && len <= UHID_DATA_MAX) {
				memcpy(ev.u.get_report_reply.data, data, len);
				ev.u.get_report_reply.size = (uint16_t)len;
			}
		} else {
			ev.type = UHID_SET_REPORT_REPLY;
			ev.u.set_report_reply.id = q->id;
			ev.u.set_report_reply.err = status < 0 ? EIO : 0;
		}
		uhid_write(q->x, &ev, sizeof(ev));
	}
	free(q);
}

static uint8_t
rtype(uint8_t uhid_rtype)
{
	return uhid_rtype == UHID_FEATURE_REPORT ? UDK_HID_REPORT_FEATURE
	       : uhid_rtype == UHID_INPUT_REPORT ? UDK_HID_REPORT_INPUT
						 : UDK_HID_REPORT_OUTPUT;
}

static void
on_uhid(struct loop *l, int fd, uint32_t events, void *data)
{
	struct hid_export *x = data;
	struct hid_dev *dev = x->dev;
	struct udkd *d = dev->d;

	(void)l;
	(void)events;
	for (int i = 0; i < 32; i++) {
		struct uhid_event ev;
		ssize_t n = read(fd, &ev, sizeof(ev));
		struct uhid_pending *q;

		if (n < (ssize_t)sizeof(ev.type))
			return;
		switch (ev.type) {
		case UHID_START:
			x->started = true;
			break;
		case UHID_OUTPUT:
			/* e.g. the LEDs: no answer is wanted */
			if (ev.u.output.size <= UHID_DATA_MAX)
				hid_virtual_request(d, dev, PROTO_HID_REC_SET_REPORT, rtype(ev.u.output.rtype), 0,
						    ev.u.output.data, ev.u.output.size, NULL, NULL);
			break;
		case UHID_GET_REPORT:
		case UHID_SET_REPORT:
			q = calloc(1, sizeof(*q));
			if (!q)
				break;
			q->x = x;
			q->get = ev.type == UHID_GET_REPORT;
			q->id = q->get ? ev.u.get_report.id : ev.u.set_report.id;
			q->next = uhid_requests;
			uhid_requests = q;
			if ((q->get ? hid_virtual_request(d, dev, PROTO_HID_REC_GET_REPORT, rtype(ev.u.get_report.rtype),
							  ev.u.get_report.rnum, NULL, 0, uhid_answered, q)
				    : hid_virtual_request(d, dev, PROTO_HID_REC_SET_REPORT, rtype(ev.u.set_report.rtype),
							  ev.u.set_report.rnum, ev.u.set_report.data,
							  MIN(ev.u.set_report.size, (uint16_t)UHID_DATA_MAX), uhid_answered, q)) < 0)
				uhid_answered(d, -EIO, NULL, 0, q);
			break;
		default:
			break;
		}
	}
}

static int
uhid_create(struct udkd *d, struct hid_dev *dev, struct hid_export *x, const struct udk_value *props)
{
	struct uhid_event ev;
	size_t len;
	const uint8_t *rd = udk_hid_descriptor_get_data(dev->desc, &len);

	x->fd = open(hid_state(d)->uhid_path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (x->fd < 0)
		return -errno;
	memset(&ev, 0, sizeof(ev));
	ev.type = UHID_CREATE2;
	snprintf((char *)ev.u.create2.name, sizeof(ev.u.create2.name), "%s", x->name);
	snprintf((char *)ev.u.create2.phys, sizeof(ev.u.create2.phys), "%s", x->phys);
	snprintf((char *)ev.u.create2.uniq, sizeof(ev.u.create2.uniq), "%s", dev->name);
	ev.u.create2.rd_size = (uint16_t)len;
	ev.u.create2.bus = bus_of(udk_dict_get_string(props, "Transport"));
	ev.u.create2.vendor = (uint32_t)udk_dict_get_int(props, "VendorID", 0);
	ev.u.create2.product = (uint32_t)udk_dict_get_int(props, "ProductID", 0);
	ev.u.create2.version = (uint32_t)udk_dict_get_int(props, "VersionNumber", 0);
	ev.u.create2.country = (uint32_t)udk_dict_get_int(props, "CountryCode", 0);
	memcpy(ev.u.create2.rd_data, rd, len);
	if (write(x->fd, &ev, sizeof(ev)) < 0) {
		int r = -errno;
		close(x->fd);
		x->fd = -1;
		return r;
	}
	loop_add_fd(d->loop, x->fd, EPOLLIN, on_uhid, x, &x->src);
	return 0;
}

static void
uhid_input(struct hid_export *x, const uint8_t *report, size_t len)
{
	struct uhid_event ev;

	if (len > UHID_DATA_MAX)
		return;
	ev.type = UHID_INPUT2;
	ev.u.input2.size = (uint16_t)len;
	memcpy(ev.u.input2.data, report, len);
	/* the kernel zero-fills what is not written */
	uhid_write(x, &ev, offsetof(struct uhid_event, u.input2.data) + len);
}

/* ---- uinput ---- */

static void
enable_usage(struct libevdev *ev, const struct udk_hid_field *f, uint32_t usage)
{
	uint16_t type, code;

	if (!udk_hid_usage_to_evdev(usage, &type, &code))
		return;
	if (f->type == UDK_HID_REPORT_OUTPUT && type != EV_LED)
		return;
	if (f->type == UDK_HID_REPORT_INPUT && type == EV_LED)
		return;
	if (type == EV_REL && !(f->flags & UDK_HID_FIELD_RELATIVE)) {
		/* an absolute X or Y: a position */
		struct input_absinfo abs = { .minimum = f->logical_min, .maximum = f->logical_max };
		if (code == REL_X || code == REL_Y)
			libevdev_enable_event_code(ev, EV_ABS, code == REL_X ? ABS_X : ABS_Y, &abs);
		return;
	}
	libevdev_enable_event_code(ev, type, code, NULL);
}

static void
on_uinput(struct loop *l, int fd, uint32_t events, void *data);

static int
uinput_create(struct udkd *d, struct hid_dev *dev, struct hid_export *x, const struct udk_value *props)
{
	struct libevdev *ev = libevdev_new();
	unsigned budget = 1u << 16;
	int r;

	if (!ev)
		return -ENOMEM;
	libevdev_set_name(ev, x->name);
	libevdev_set_phys(ev, x->phys);
	libevdev_set_uniq(ev, dev->name);
	libevdev_set_id_bustype(ev, bus_of(udk_dict_get_string(props, "Transport")));
	libevdev_set_id_vendor(ev, (int)udk_dict_get_int(props, "VendorID", 0));
	libevdev_set_id_product(ev, (int)udk_dict_get_int(props, "ProductID", 0));
	libevdev_set_id_version(ev, (int)udk_dict_get_int(props, "VersionNumber", 0));
	for (uint32_t i = 0; i < udk_hid_descriptor_get_field_count(dev->desc); i++) {
		const struct udk_hid_field *f = udk_hid_descriptor_get_field(dev->desc, i);
		if ((f->flags & UDK_HID_FIELD_CONSTANT) || f->type == UDK_HID_REPORT_FEATURE)
			continue;
		for (uint32_t n = 0; n < f->n_usages && budget; n++, budget--)
			enable_usage(ev, f, udk_hid_field_usage_at(f, n));
	}
	libevdev_enable_event_type(ev, EV_SYN);
	x->fd = open(hid_state(d)->uinput_path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (x->fd < 0) {
		r = -errno;
		libevdev_free(ev);
		return r;
	}
	/* libevdev's uinput helper does not pass phys on: udk's mark, before the device is made */
	ioctl(x->fd, UI_SET_PHYS, x->phys);
	r = libevdev_uinput_create_from_device(ev, x->fd, &x->ui);
	if (r < 0) {
		close(x->fd);
		x->fd = -1;
		libevdev_free(ev);
		return r;
	}
	x->ev = ev;
	r = hid_decoder_new(dev->desc, 0, &x->dec);
	if (r < 0)
		return r;
	loop_add_fd(d->loop, x->fd, EPOLLIN, on_uinput, x, &x->src);
	return 0;
}

static void
put(struct hid_export *x, unsigned type, unsigned code, int value)
{
	if (libevdev_uinput_write_event(x->ui, type, code, value) < 0)
		x->failed++;
}

static void
uinput_event(void *ctx, const struct udk_hid_event *ev)
{
	struct hid_export *x = ctx;
	uint16_t type, code;

	switch (ev->type) {
	case UDK_HID_EVENT_KEYBOARD:
	case UDK_HID_EVENT_CONSUMER:
		if (udk_hid_usage_to_evdev(UDK_HID_USAGE(ev->key.usage_page, ev->key.usage), &type, &code) && type == EV_KEY)
			put(x, EV_KEY, code, ev->key.value);
		break;
	case UDK_HID_EVENT_POINTER:
		for (unsigned b = 0; b < 16; b++)
			if (((ev->pointer.buttons ^ x->buttons) >> b) & 1 &&
			    udk_hid_usage_to_evdev(UDK_HID_USAGE(UDK_HID_PAGE_BUTTON, b + 1), &type, &code))
				put(x, EV_KEY, code, (ev->pointer.buttons >> b) & 1);
		x->buttons = ev->pointer.buttons;
		if (ev->flags & UDK_HID_EVENT_ABSOLUTE) {
			put(x, EV_ABS, ABS_X, ev->pointer.x);
			put(x, EV_ABS, ABS_Y, ev->pointer.y);
		} else {
			if (ev->pointer.x)
				put(x, EV_REL, REL_X, ev->pointer.x);
			if (ev->pointer.y)
				put(x, EV_REL, REL_Y, ev->pointer.y);
		}
		break;
	case UDK_HID_EVENT_SCROLL:
		if (ev->scroll.dy)
			put(x, EV_REL, REL_WHEEL, ev->scroll.dy);
		if (ev->scroll.dx)
			put(x, EV_REL, REL_HWHEEL, ev->scroll.dx);
		break;
	default:
		break;
	}
}

static void
uinput_input(struct hid_export *x, const uint8_t *report, size_t len)
{
	hid_decoder_report(x->dec, now_ns(), report, len, uinput_event, x);
	put(x, EV_SYN, SYN_REPORT, 0);
}

/* The LEDs the system set, as the device's output report. */
static void
leds_to_report(struct udkd *d, struct hid_export *x)
{
	struct hid_dev *dev = x->dev;
	uint8_t report[UDK_HID_MAX_REPORT];
	size_t len = 0;
	uint8_t id = 0;
	bool any = false;

	memset(report, 0, sizeof(report));
	for (uint32_t i = 0; i < udk_hid_descriptor_get_field_count(dev->desc); i++) {
		const struct udk_hid_field *f = udk_hid_descriptor_get_field(dev->desc, i);
		if (f->type != UDK_HID_REPORT_OUTPUT || !(f->flags & UDK_HID_FIELD_VARIABLE) ||
		    (any && f->report_id != id))
			continue;
		for (uint32_t e = 0; e < f->count; e++) {
			uint32_t u = udk_hid_field_usage(f, e, 0);
			uint16_t type, code;
			if (UDK_HID_USAGE_PAGE(u) != UDK_HID_PAGE_LED || !udk_hid_usage_to_evdev(u, &type, &code) ||
			    code >= 32)
				continue;
			if (!any) {
				id = f->report_id;
				len = udk_hid_descriptor_report_length(dev->desc, UDK_HID_REPORT_OUTPUT, id);
				any = true;
			}
			udk_hid_field_set_value(f, report, len, e, (x->leds >> code) & 1);
		}
	}
	if (any && len)
		hid_virtual_request(d, dev, PROTO_HID_REC_SET_REPORT, UDK_HID_REPORT_OUTPUT, id, report, len, NULL, NULL);
}

static void
on_uinput(struct loop *l, int fd, uint32_t events, void *data)
{
	struct hid_export *x = data;
	bool leds = false;

	(void)l;
	(void)events;
	for (int i = 0; i < 64; i++) {
		struct input_event ie;
		if (read(fd, &ie, sizeof(ie)) != (ssize_t)sizeof(ie))
			break;
		if (ie.type == EV_LED && ie.code < 32) {
			if (ie.value)
				x->leds |= 1u << ie.code;
			else
				x->leds &= ~(1u << ie.code);
			leds = true;
		}
	}
	if (leds)
		leds_to_report(x->dev->d, x);
}

/* ---- the export ---- */

int
hid_export_create(struct udkd *d, struct hid_dev *dev, const char *how, const struct udk_value *props)
{
	struct hid_export *x;
	int r = -ENOENT;

	if (streq(how, "none"))
		return 0;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->dev = dev;
	x->fd = -1;
	snprintf(x->phys, sizeof(x->phys), "udk-virtual/%s", dev->name);
	snprintf(x->name, sizeof(x->name), "%s", udk_dict_get_string(props, "Product") ? udk_dict_get_string(props, "Product")
										     : dev->name);
	if (streq(how, "uhid") || streq(how, "auto")) {
		r = uhid_create(d, dev, x, props);
		if (r >= 0)
			x->kind = EXPORT_UHID;
		else
			udkd_log(d, streq(how, "uhid") ? UDK_LOG_WARNING : UDK_LOG_INFO, "hid",
				 "%s: no uhid export (%s: %s)%s", dev->name, hid_state(d)->uhid_path, strerror(-r),
				 streq(how, "auto") ? "; trying uinput" : "");
	}
	if (r < 0 && (streq(how, "uinput") || streq(how, "auto"))) {
		r = uinput_create(d, dev, x, props);
		if (r >= 0)
			x->kind = EXPORT_UINPUT;
		else
			udkd_log(d, streq(how, "uinput") ? UDK_LOG_WARNING : UDK_LOG_INFO, "hid",
				 "%s: no uinput export (%s: %s)", dev->name, hid_state(d)->uinput_path, strerror(-r));
	}
	if (r < 0) {
		if (x->ui)
			libevdev_uinput_destroy(x->ui);
		libevdev_free(x->ev);
		hid_decoder_free(x->dec);
		if (x->fd >= 0)
			close(x->fd);
		free(x);
		udkd_log(d, streq(how, "auto") ? UDK_LOG_INFO : UDK_LOG_WARNING, "hid",
			 "%s stays inside udk: Linux programs do not see it (neither uhid nor uinput can be opened)",
			 dev->name);
		return 0;
	}
	dev->export = x;
	{
		struct udk_value *p = udk_value_new_dict();
		udk_dict_set_string(p, "UDKHIDExport", hid_export_kind(dev));
		udk_dict_set_string(p, "UDKHIDExportPhys", x->phys);
		if (x->ui && libevdev_uinput_get_devnode(x->ui))
			udk_dict_set_string(p, "UDKHIDExportNode", libevdev_uinput_get_devnode(x->ui));
		service_set_properties(d, dev->device, p);
		udk_value_unref(p);
	}
	udkd_log(d, UDK_LOG_INFO, "hid", "%s is exported to Linux through %s as \"%s\" (%s)", dev->name,
		 hid_export_kind(dev), x->name, x->phys);
	return 0;
}

void
hid_export_destroy(struct udkd *d, struct hid_dev *dev)
{
	struct hid_export *x = dev->export;

	(void)d;
	if (!x)
		return;
	dev->export = NULL;
	for (struct uhid_pending *q = uhid_requests; q; q = q->next)
		if (q->x == x)
			q->x = NULL;
	loop_source_remove(x->src);
	if (x->kind == EXPORT_UHID && x->fd >= 0) {
		struct uhid_event ev = { .type = UHID_DESTROY };
		uhid_write(x, &ev, sizeof(ev));
	}
	if (x->ui)
		libevdev_uinput_destroy(x->ui);
	libevdev_free(x->ev);
	hid_decoder_free(x->dec);
	if (x->fd >= 0)
		close(x->fd);
	free(x);
}

void
hid_export_input(struct udkd *d, struct hid_dev *dev, const uint8_t *report, size_t len)
{
	struct hid_export *x = dev->export;

	(void)d;
	if (!x)
		return;
	if (x->kind == EXPORT_UHID)
		uhid_input(x, report, len);
	else
		uinput_input(x, report, len);
	x->written++;
}
