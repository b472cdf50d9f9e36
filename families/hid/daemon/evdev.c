/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/evdev.c - the host's Linux input devices as HID devices
 * (--hid-evdev[=DIR]), with hotplug.
 *
 * Each /dev/input/eventN becomes an IOHIDDevice under HIDInput with
 * DriverKit's keys: VendorID, ProductID, VersionNumber, Product,
 * SerialNumber (the device's uniq), Transport from its bus (USB, i8042,
 * SPI, I2C, Bluetooth ...), Built-In (i8042, SPI, I2C, the host's own
 * buses) and DeviceUsagePairs from what it can report (letter keys: a
 * keyboard; relative X/Y and a left button: a mouse; media keys: a
 * consumer control ...), so personalities match with the HID keys.
 *
 * udkd opens the node (libevdev reads its capabilities), sets its clock
 * to CLOCK_MONOTONIC and reads it on its loop, non-blocking: every
 * SYN_REPORT-ended run of events is one frame (device.c).  When the
 * kernel dropped events (SYN_DROPPED), libevdev's resync brings the state
 * back and the missing changes go out as one frame, counted.  A seizer's
 * EVIOCGRAB is udkd's, on udkd's descriptor, so a driver that dies or is
 * revoked cannot leave the keyboard grabbed.  Frames nobody handled are
 * written back into the device after the grab is released, so every
 * program sees them.  Devices udk exported itself (uhid, uinput: phys
 * "udk-virtual") are not published again.  Hotplug is inotify on DIR:
 * nodes that come are published, nodes that go are removed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libevdev/libevdev.h>
#include <linux/input.h>
#include <sys/inotify.h>

#include "hid-private.h"
#include "util.h"

#define MAX_FRAME (PROTO_HID_MAX_PAYLOAD / sizeof(struct proto_hid_evdev))

struct evdev_data {
	struct libevdev *ev;
	char *path;
	struct proto_hid_evdev frame[MAX_FRAME];
	size_t n;
	uint64_t frame_ns;
	uint64_t resyncs;
	bool give_back_warned;
};

#define EV(dev) ((struct evdev_data *)(dev)->backend_data)

const char *
hid_bus_transport(uint16_t bus, bool *ret_built_in)
{
	bool builtin = false;
	const char *t;

	switch (bus) {
	case BUS_USB:
		t = "USB";
		break;
	case BUS_BLUETOOTH:
		t = "Bluetooth";
		break;
	case BUS_I8042:
		t = "i8042";
		builtin = true;
		break;
	case BUS_SPI:
		t = "SPI";
		builtin = true;
		break;
	case BUS_I2C:
		t = "I2C";
		builtin = true;
		break;
	case BUS_HOST:
		t = "Host";
		builtin = true;
		break;
	case BUS_VIRTUAL:
		t = "Virtual";
		break;
	case BUS_RS232:
		t = "Serial";
		break;
	case BUS_ADB:
		t = "ADB";
		builtin = true;
		break;
	case BUS_INTEL_ISHTP:
	case BUS_AMD_SFH:
		t = "SensorHub";
		builtin = true;
		break;
	case BUS_PCI:
		t = "PCI";
		break;
	default:
		t = "Other";
		break;
	}
	if (ret_built_in)
		*ret_built_in = builtin;
	return t;
}

static void
add_pair(struct udk_value *pairs, int page, int usage)
{
	struct udk_value *p = udk_value_new_dict();

	udk_dict_set_int(p, "DeviceUsagePage", page);
	udk_dict_set_int(p, "DeviceUsage", usage);
	udk_array_append_take(pairs, p);
}

/* What the device is, from what it can report. */
static struct udk_value *
usage_pairs(struct libevdev *ev)
{
	struct udk_value *pairs = udk_value_new_array();
	bool letters = libevdev_has_event_code(ev, EV_KEY, KEY_A) && libevdev_has_event_code(ev, EV_KEY, KEY_Z) &&
		       libevdev_has_event_code(ev, EV_KEY, KEY_SPACE);
	bool keypad = libevdev_has_event_code(ev, EV_KEY, KEY_KP0) && libevdev_has_event_code(ev, EV_KEY, KEY_KP9);

	if (letters)
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_KEYBOARD);
	else if (keypad)
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_KEYPAD);
	if (libevdev_has_event_code(ev, EV_ABS, ABS_MT_POSITION_X)) {
		add_pair(pairs, UDK_HID_PAGE_DIGITIZER,
			 libevdev_has_property(ev, INPUT_PROP_DIRECT) ? 0x04 /* touch screen */ : 0x05 /* touch pad */);
	} else if (libevdev_has_event_code(ev, EV_REL, REL_X) && libevdev_has_event_code(ev, EV_REL, REL_Y) &&
		   libevdev_has_event_code(ev, EV_KEY, BTN_LEFT)) {
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_MOUSE);
	} else if (libevdev_has_event_code(ev, EV_ABS, ABS_X) && libevdev_has_event_code(ev, EV_ABS, ABS_Y) &&
		   (libevdev_has_event_code(ev, EV_KEY, BTN_LEFT) || libevdev_has_event_code(ev, EV_KEY, BTN_TOUCH))) {
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_POINTER);
	}
	if (libevdev_has_event_code(ev, EV_KEY, BTN_GAMEPAD))
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_GAMEPAD);
	else if (libevdev_has_event_code(ev, EV_KEY, BTN_JOYSTICK))
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_JOYSTICK);
	if (libevdev_has_event_code(ev, EV_KEY, KEY_VOLUMEUP) || libevdev_has_event_code(ev, EV_KEY, KEY_PLAYPAUSE) ||
	    libevdev_has_event_code(ev, EV_KEY, KEY_MUTE))
		add_pair(pairs, UDK_HID_PAGE_CONSUMER, UDK_HID_CONSUMER_CONTROL);
	if (!udk_array_size(pairs) &&
	    (libevdev_has_event_code(ev, EV_KEY, KEY_POWER) || libevdev_has_event_code(ev, EV_KEY, KEY_SLEEP)))
		add_pair(pairs, UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_SYSTEM_CONTROL);
	return pairs;
}

static struct hid_dev *
dev_by_path(struct udkd *d, const char *path)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if (dev->backend == HID_EVDEV && !dev->gone && streq(EV(dev)->path, path))
			return dev;
	return NULL;
}

static void
flush_frame(struct udkd *d, struct hid_dev *dev)
{
	struct evdev_data *e = EV(dev);

	if (!e->n)
		return;
	hid_dev_input(d, dev, PROTO_HID_REC_EVENTS, e->frame_ns, e->frame, e->n * sizeof(e->frame[0]));
	e->n = 0;
}

static void
add_event(struct udkd *d, struct hid_dev *dev, const struct input_event *ie)
{
	struct evdev_data *e = EV(dev);

	if (!e->n)
		e->frame_ns = (uint64_t)ie->input_event_sec * 1000000000ull + (uint64_t)ie->input_event_usec * 1000ull;
	e->frame[e->n++] = (struct proto_hid_evdev){ ie->type, ie->code, ie->value };
	if ((ie->type == EV_SYN && ie->code == SYN_REPORT) || e->n == MAX_FRAME)
		flush_frame(d, dev);
}

static void
on_evdev(struct loop *l, int fd, uint32_t events, void *data)
{
	struct hid_dev *dev = data;
	struct udkd *d = dev->d;
	struct evdev_data *e = EV(dev);

	(void)l;
	(void)fd;
	(void)events;
	/* bounded per wake-up: udkd's loop serves everything else too */
	for (int i = 0; i < 512; i++) {
		struct input_event ie;
		int rc = libevdev_next_event(e->ev, LIBEVDEV_READ_FLAG_NORMAL, &ie);

		if (rc == LIBEVDEV_READ_STATUS_SUCCESS) {
			add_event(d, dev, &ie);
		} else if (rc == LIBEVDEV_READ_STATUS_SYNC) {
			/* the kernel dropped events: what changed meanwhile comes as one frame */
			e->resyncs++;
			hid_dev_drop(d, dev, UDK_HID_OK, "the kernel's buffer overflowed (SYN_DROPPED); the key state "
							 "was read again and the changes sent as one frame");
			e->n = 0;
			while ((rc = libevdev_next_event(e->ev, LIBEVDEV_READ_FLAG_SYNC, &ie)) == LIBEVDEV_READ_STATUS_SYNC)
				add_event(d, dev, &ie);
			flush_frame(d, dev);
		} else if (rc == -EAGAIN) {
			return;
		} else {
			/* -ENODEV: unplugged; hotplug may not have said so yet */
			hid_dev_unplugged(d, dev, rc == -ENODEV ? "unplugged" : "reading it failed");
			return;
		}
	}
}

static void
evdev_free(struct hid_dev *dev)
{
	struct evdev_data *e = EV(dev);

	if (!e)
		return;
	libevdev_free(e->ev);
	free(e->path);
}

static struct service *
input_bus(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	struct udk_value *props;

	if (st->evdev_bus && st->evdev_bus->state != SVC_TERMINATED)
		return st->evdev_bus;
	service_unref(st->evdev_bus);
	st->evdev_bus = NULL;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKHIDBackend", "evdev");
	udk_dict_set_string(props, "UDKEvdevDirectory", st->evdev_dir);
	if (service_new(d, d->reg.root, "HIDInput", class_chain_for("UDKHIDBus"), props, &st->evdev_bus) < 0)
		st->evdev_bus = NULL;
	udk_value_unref(props);
	if (st->evdev_bus) {
		service_ref(st->evdev_bus);
		service_register(d, st->evdev_bus);
	}
	return st->evdev_bus;
}

static int
add_node(struct udkd *d, const char *name)
{
	struct hid_state *st = hid_state(d);
	char *path = strdup_printf("%s/%s", st->evdev_dir, name);
	struct libevdev *ev = NULL;
	struct udk_value *props;
	struct evdev_data *e;
	struct hid_dev *dev = NULL;
	const char *phys, *uniq, *product, *transport;
	char *key;
	bool built_in;
	int clk = CLOCK_MONOTONIC, fd, r;

	if (!path || dev_by_path(d, path)) {
		free(path);
		return 0;
	}
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		/* gone already (a device that came and went at once, as
		 * udkd's own short-lived exports do) is not worth a warning */
		if (errno == ENOENT || errno == ENODEV)
			log_debug(d, "%s: gone before it could be opened", path);
		else
			log_warning(d, "%s: cannot open it (%s); it is not published", path, strerror(errno));
		free(path);
		return 0;
	}
	r = libevdev_new_from_fd(fd, &ev);
	if (r < 0) {
		log_warning(d, "%s: not a Linux input device (%s); it is not published", path, strerror(-r));
		close(fd);
		free(path);
		return 0;
	}
	phys = libevdev_get_phys(ev);
	if ((phys && startswith(phys, "udk-virtual")) || hid_export_owns_node(d, path)) {
		/* one of udk's own virtual devices, exported: it is already under HIDVirtual */
		libevdev_free(ev);
		close(fd);
		free(path);
		return 0;
	}
	ioctl(fd, EVIOCSCLOCKID, &clk);
	uniq = libevdev_get_uniq(ev);
	product = libevdev_get_name(ev);
	transport = hid_bus_transport((uint16_t)libevdev_get_id_bustype(ev), &built_in);
	props = udk_value_new_dict();
	udk_dict_set_int(props, "VendorID", libevdev_get_id_vendor(ev));
	udk_dict_set_int(props, "ProductID", libevdev_get_id_product(ev));
	udk_dict_set_int(props, "VersionNumber", libevdev_get_id_version(ev));
	udk_dict_set_string(props, "Transport", transport);
	udk_dict_set_bool(props, "Built-In", built_in);
	udk_dict_set_string(props, "Product", product ? product : name);
	if (uniq && *uniq)
		udk_dict_set_string(props, "SerialNumber", uniq);
	if (phys && *phys)
		udk_dict_set_string(props, "UDKEvdevPhys", phys);
	udk_dict_set_string(props, "UDKEvdevNode", path);
	udk_dict_set_take(props, "DeviceUsagePairs", usage_pairs(ev));
	key = strdup_printf("evdev:%s:%04x:%04x:%s", transport, libevdev_get_id_vendor(ev),
			    libevdev_get_id_product(ev), phys && *phys ? phys : product ? product : name);
	e = calloc(1, sizeof(*e));
	r = e && key && input_bus(d) ? hid_dev_new(d, HID_EVDEV, name, key, input_bus(d), NULL, NULL, props, true, &dev)
				    : -ENOMEM;
	udk_value_unref(props);
	free(key);
	if (r < 0) {
		free(e);
		libevdev_free(ev);
		close(fd);
		free(path);
		return r;
	}
	e->ev = ev;
	e->path = path;
	dev->backend_data = e;
	dev->fd = fd;
	/* stale events from before: the device starts now */
	{
		struct input_event ie;
		int rc;
		while ((rc = libevdev_next_event(ev, LIBEVDEV_READ_FLAG_NORMAL, &ie)) >= 0)
			if (rc == LIBEVDEV_READ_STATUS_SYNC)
				while (libevdev_next_event(ev, LIBEVDEV_READ_FLAG_SYNC, &ie) == LIBEVDEV_READ_STATUS_SYNC)
					;
	}
	loop_add_fd(d->loop, fd, EPOLLIN, on_evdev, dev, &dev->src);
	log_info(d, "%s: %s (%s%s, %04x:%04x) published as a HID device", path, dev->product, transport,
		 built_in ? ", built-in" : "", libevdev_get_id_vendor(ev), libevdev_get_id_product(ev));
	return 0;
}

int
hid_evdev_start(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	unsigned n = 0;
	int r;

	st->evdev_watch = hid_node_dir_watch(d, st->evdev_dir, "event", add_node, dev_by_path,
					      "no hotplug: input devices plugged later are not seen");
	if (!st->evdev_watch)
		return -ENOMEM;
	input_bus(d);
	r = hid_node_dir_scan(st->evdev_watch, &n);
	if (r < 0)
		return udk_set_reason(r, "--hid-evdev: cannot read %s: %s", st->evdev_dir, strerror(-r));
	log_info(d, "HID: %u Linux input device node(s) in %s", n, st->evdev_dir);
	return 0;
}

void
hid_evdev_fini(struct udkd *d)
{
	struct hid_state *st = udkd_family_state(d, &udkd_family_hid);

	if (!st)
		return;
	hid_node_dir_free(st->evdev_watch);
	st->evdev_watch = NULL;
}

int
hid_evdev_grab(struct hid_dev *dev, bool on)
{
	int r;

	if (!EV(dev) || dev->grabbed == on)
		return 0;
	r = libevdev_grab(EV(dev)->ev, on ? LIBEVDEV_GRAB : LIBEVDEV_UNGRAB);
	if (r < 0)
		return r;
	dev->grabbed = on;
	return 0;
}

void
hid_evdev_give_back(struct udkd *d, struct hid_dev *dev, const struct hid_frame *f)
{
	struct evdev_data *e = EV(dev);
	const struct proto_hid_evdev *ev = (const struct proto_hid_evdev *)f->data;
	size_t n = f->len / sizeof(*ev);
	struct input_event out[MAX_FRAME + 1];
	size_t k = 0;

	if (!e || f->type != PROTO_HID_REC_EVENTS)
		return;
	/* written into the device, it reaches every program that reads it, udkd too */
	for (size_t i = 0; i < n && k < MAX_FRAME; i++)
		if (ev[i].type != EV_SYN)
			out[k++] = (struct input_event){ .type = ev[i].type, .code = ev[i].code, .value = ev[i].value };
	if (!k)
		return;
	out[k++] = (struct input_event){ .type = EV_SYN, .code = SYN_REPORT };
	if (write(dev->fd, out, k * sizeof(out[0])) < 0 && !e->give_back_warned) {
		e->give_back_warned = true;
		log_warning(d, "%s: %zu event(s) could not be written back into the device (%s); they are lost",
			    e->path, k - 1, strerror(errno));
	}
}

void
hid_evdev_watch(struct udkd *d, struct hid_dev *dev, bool on)
{
	/* always read: frames with no reader go nowhere, and none are stale when one comes */
	(void)d;
	(void)dev;
	(void)on;
}

void
hid_evdev_free(struct hid_dev *dev)
{
	evdev_free(dev);
}
