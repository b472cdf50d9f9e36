/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/hidraw.c - the host's raw HID devices (--hid-hidraw[=DIR]),
 * with hotplug: each DIR/hidrawN becomes an IOHIDDevice under HIDRaw with
 * its report descriptor (HIDIOCGRDESC, parsed by udk's parser: a device
 * whose descriptor it refuses is not published, and the log says why),
 * its ids, name and bus, and DeviceUsagePairs from the descriptor.
 *
 * udkd reads its reports non-blocking on its loop; each one is checked
 * against the descriptor like any device's.  Output reports are written
 * to the node, feature reports go through HIDIOCSFEATURE/HIDIOCGFEATURE,
 * input reports on request through HIDIOCGINPUT.  hidraw has no grab: a
 * driver that seizes such a device is the only one udk gives its reports
 * to, but other programs with access to the node still read it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/hidraw.h>
#include <linux/input.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>

#include "hid-private.h"
#include "util.h"

struct hidraw_data {
	char *path;
};

#define RAW(dev) ((struct hidraw_data *)(dev)->backend_data)

static struct hid_dev *
dev_by_path(struct udkd *d, const char *path)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if (dev->backend == HID_HIDRAW && !dev->gone && streq(RAW(dev)->path, path))
			return dev;
	return NULL;
}

static void
on_hidraw(struct loop *l, int fd, uint32_t events, void *data)
{
	struct hid_dev *dev = data;
	struct udkd *d = dev->d;
	uint8_t buf[UDK_HID_MAX_REPORT + 1];

	(void)l;
	(void)events;
	for (int i = 0; i < 128; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			hid_dev_unplugged(d, dev, n == 0 || errno == ENODEV ? "unplugged" : "reading it failed");
			return;
		}
		hid_dev_input(d, dev, PROTO_HID_REC_REPORT, now_ns(), buf, (size_t)n);
	}
}

static struct service *
raw_bus(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	struct udk_value *props;

	if (st->hidraw_bus && st->hidraw_bus->state != SVC_TERMINATED)
		return st->hidraw_bus;
	service_unref(st->hidraw_bus);
	st->hidraw_bus = NULL;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKHIDBackend", "hidraw");
	if (service_new(d, d->reg.root, "HIDRaw", class_chain_for("UDKHIDBus"), props, &st->hidraw_bus) < 0)
		st->hidraw_bus = NULL;
	udk_value_unref(props);
	if (st->hidraw_bus) {
		service_ref(st->hidraw_bus);
		service_register(d, st->hidraw_bus);
	}
	return st->hidraw_bus;
}

static int
add_node(struct udkd *d, const char *name)
{
	struct hid_state *st = hid_state(d);
	char *path = strdup_printf("%s/%s", st->hidraw_dir, name), *key = NULL;
	struct hidraw_report_descriptor rd;
	struct hidraw_devinfo info;
	struct udk_hid_descriptor *desc = NULL;
	struct udk_hid_problem pr;
	struct udk_value *props;
	struct hidraw_data *h;
	struct hid_dev *dev = NULL;
	char pname[256] = "", phys[256] = "", uniq[256] = "";
	const char *transport;
	bool built_in;
	int fd, size = 0, r;

	if (!path || dev_by_path(d, path)) {
		free(path);
		return 0;
	}
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
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
	memset(&rd, 0, sizeof(rd));
	if (ioctl(fd, HIDIOCGRDESCSIZE, &size) < 0 || size <= 0 || size > HID_MAX_DESCRIPTOR_SIZE ||
	    (rd.size = (uint32_t)size, ioctl(fd, HIDIOCGRDESC, &rd) < 0) || ioctl(fd, HIDIOCGRAWINFO, &info) < 0) {
		log_warning(d, "%s: not a raw HID device (%s); it is not published", path, strerror(errno));
		close(fd);
		free(path);
		return 0;
	}
	r = udk_hid_descriptor_parse(rd.value, rd.size, &desc, &pr);
	if (r < 0) {
		log_warning(d, "%s: its report descriptor is refused, so it is not published: %s", path,
			    udk_error_reason());
		close(fd);
		free(path);
		return 0;
	}
	ioctl(fd, HIDIOCGRAWNAME(sizeof(pname) - 1), pname);
	ioctl(fd, HIDIOCGRAWPHYS(sizeof(phys) - 1), phys);
#ifdef HIDIOCGRAWUNIQ
	ioctl(fd, HIDIOCGRAWUNIQ(sizeof(uniq) - 1), uniq);
#endif
	if (startswith(phys, "udk-virtual")) {
		udk_hid_descriptor_free(desc);
		close(fd);
		free(path);
		return 0;
	}
	transport = hid_bus_transport((uint16_t)info.bustype, &built_in);
	props = udk_value_new_dict();
	udk_dict_set_int(props, "VendorID", (uint16_t)info.vendor);
	udk_dict_set_int(props, "ProductID", (uint16_t)info.product);
	udk_dict_set_string(props, "Transport", transport);
	udk_dict_set_bool(props, "Built-In", built_in);
	udk_dict_set_string(props, "Product", pname[0] ? pname : name);
	if (uniq[0])
		udk_dict_set_string(props, "SerialNumber", uniq);
	if (phys[0])
		udk_dict_set_string(props, "UDKHidrawPhys", phys);
	udk_dict_set_string(props, "UDKHidrawNode", path);
	key = strdup_printf("hidraw:%s:%04x:%04x:%s", transport, (uint16_t)info.vendor, (uint16_t)info.product,
			    phys[0] ? phys : pname);
	h = calloc(1, sizeof(*h));
	r = h && key && raw_bus(d) ? hid_dev_new(d, HID_HIDRAW, name, key, raw_bus(d), NULL, desc, props, true, &dev)
				  : -ENOMEM;
	udk_value_unref(props);
	free(key);
	if (r < 0) {
		udk_hid_descriptor_free(desc);
		free(h);
		close(fd);
		free(path);
		return r;
	}
	h->path = path;
	dev->backend_data = h;
	dev->fd = fd;
	loop_add_fd(d->loop, fd, EPOLLIN, on_hidraw, dev, &dev->src);
	log_info(d, "%s: %s (%s%s, %04x:%04x) published as a raw HID device", path, dev->product, transport,
		 built_in ? ", built-in" : "", (uint16_t)info.vendor, (uint16_t)info.product);
	return 0;
}

int
hid_hidraw_start(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	unsigned n = 0;
	int r;

	st->hidraw_watch = hid_node_dir_watch(d, st->hidraw_dir, "hidraw", add_node, dev_by_path,
					      "no hotplug for raw HID devices");
	if (!st->hidraw_watch)
		return -ENOMEM;
	raw_bus(d);
	r = hid_node_dir_scan(st->hidraw_watch, &n);
	if (r < 0)
		return udk_set_reason(r, "--hid-hidraw: cannot read %s: %s", st->hidraw_dir, strerror(-r));
	log_info(d, "HID: %u raw HID device node(s) in %s", n, st->hidraw_dir);
	return 0;
}

void
hid_hidraw_fini(struct udkd *d)
{
	struct hid_state *st = udkd_family_state(d, &udkd_family_hid);

	if (!st)
		return;
	hid_node_dir_free(st->hidraw_watch);
	st->hidraw_watch = NULL;
}

void
hid_hidraw_free(struct hid_dev *dev)
{
	if (dev->backend_data)
		free(RAW(dev)->path);
}

void
hid_hidraw_watch(struct udkd *d, struct hid_dev *dev, bool on)
{
	(void)d;
	(void)dev;
	(void)on;
}

void
hid_hidraw_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev, bool get)
{
	int64_t type = udk_dict_get_int(m->body, "type", -1);
	uint8_t buf[UDK_HID_MAX_REPORT + 1];
	size_t len = 0;
	const uint8_t *data = udk_value_get_data(udk_dict_get(m->body, "data"), &len);
	bool ids = udk_hid_descriptor_uses_report_ids(dev->desc);
	ssize_t n;

	(void)d;
	if (len > UDK_HID_MAX_REPORT) {
		proc_reply(p, m, -EMSGSIZE, "the report is too long", NULL, NULL, 0);
		return;
	}
	/* hidraw wants the report number first, 0 when the device numbers none */
	buf[0] = 0;
	if (!get) {
		memcpy(buf + (ids ? 0 : 1), data, len);
		len += ids ? 0 : 1;
	} else {
		buf[0] = (uint8_t)udk_dict_get_int(m->body, "id", 0);
		len = sizeof(buf);
	}
	if (!get && type == UDK_HID_REPORT_OUTPUT)
		n = write(dev->fd, buf, len);
	else if (!get && type == UDK_HID_REPORT_FEATURE)
		n = ioctl(dev->fd, HIDIOCSFEATURE(len), buf);
	else if (get && type == UDK_HID_REPORT_FEATURE)
		n = ioctl(dev->fd, HIDIOCGFEATURE(len), buf);
#ifdef HIDIOCGINPUT
	else if (get && type == UDK_HID_REPORT_INPUT)
		n = ioctl(dev->fd, HIDIOCGINPUT(len), buf);
#endif
	else {
		proc_reply(p, m, -UDK_E_UNSUPPORTED, "hidraw cannot do that with this report type", NULL, NULL, 0);
		return;
	}
	if (n < 0) {
		char *why = strdup_printf("%s: %s", RAW(dev)->path, strerror(errno));
		proc_reply(p, m, -errno, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (get) {
		struct udk_value *body = udk_value_new_dict();
		/* unnumbered reports come back after a 0 report number */
		size_t skip = ids ? 0 : 1;
		udk_dict_set_take(body, "data",
				  udk_value_new_data(buf + ((size_t)n > skip ? skip : 0), (size_t)n > skip ? (size_t)n - skip : 0));
		proc_reply(p, m, 0, NULL, body, NULL, 0);
		udk_value_unref(body);
		return;
	}
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
}
