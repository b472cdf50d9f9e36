/* SPDX-License-Identifier: MIT */
/*
 * usb/daemon/host.c - real USB devices, and simulated ones given to Linux.
 *
 * Enumeration (--usb-sysfs): every device under /sys/bus/usb/devices (not
 * the root hubs) becomes an IOUSBHostDevice nub under /USBHost, with its
 * true descriptors from sysfs's `descriptors` file (read once, through a
 * directory descriptor), its bus and address, its speed and the
 * configuration Linux set.  Hot plug comes from the kernel's netlink
 * uevents, read without blocking on udkd's loop; only messages from the
 * kernel itself (sender port 0) count.
 *
 * Opening: when a udk driver opens a device or an interface, udkd opens
 * /dev/bus/usb/BBB/DDD itself, takes the interfaces away from their
 * kernel drivers (USBDEVFS_DISCONNECT) and hands the driver the
 * descriptor; the driver's libusb wraps it (libusb_wrap_sys_device), so
 * the sandboxed driver never opens a device node.  When the driver ends,
 * udkd gives the interfaces back to the kernel (USBDEVFS_CONNECT); when it
 * died, udkd resets the port first (USBDEVFS_RESET).  These system calls
 * can wait for the device or for a kernel driver's unbinding, so they run
 * on a thread of their own and post their result to the loop.
 *
 * Export: a simulated device whose machine-description entry says
 * <key>Host</key><string>linux</string> is attached to vhci-hcd: udkd
 * makes a stream socket pair, gives the model one end
 * (OP_USB_DM_EXPORT), and writes "PORT FD DEVID SPEED" with the other to
 * vhci_hcd.0/attach.  Linux then enumerates it and binds its own drivers
 * (a CDC-ACM model becomes /dev/ttyACM0).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/usbdevice_fs.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "proto-usb.h"
#include "usb-check.h"
#include "usb-daemon.h"
#include "util.h"


/* ---- reading sysfs ---- */

/*
 * An attribute of a sysfs directory, read once through its descriptor.
 * sysfs sizes say nothing (text attributes claim 4096 bytes, descriptors
 * 18 + 65535): read up to @max and take what comes.
 */
static char *
attr_read(int dirfd, const char *name, size_t max, bool text, size_t *ret_len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	char *buf;
	size_t len = 0;

	if (fd < 0)
		return NULL;
	buf = malloc(max + 1);
	while (buf && len < max) {
		ssize_t n = read(fd, buf + len, max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf)
		return NULL;
	buf[len] = 0;
	/* text attributes end in a newline */
	while (text && len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = 0;
	if (ret_len)
		*ret_len = len;
	return buf;
}

static char *
attr_at(int dirfd, const char *name, size_t max, size_t *ret_len)
{
	return attr_read(dirfd, name, max, true, ret_len);
}

static long
attr_long(int dirfd, const char *name, long fallback)
{
	char *s = attr_at(dirfd, name, 64, NULL), *end = NULL;
	long v = fallback;

	if (s && *s) {
		v = strtol(s, &end, 10);
		if (*end && *end != '.')
			v = fallback;
	}
	free(s);
	return v;
}

static enum udk_usb_speed
speed_of(int dirfd)
{
	char *s = attr_at(dirfd, "speed", 64, NULL);
	enum udk_usb_speed sp = UDK_USB_SPEED_UNKNOWN;

	if (!s)
		return sp;
	if (streq(s, "1.5"))
		sp = UDK_USB_SPEED_LOW;
	else if (streq(s, "12"))
		sp = UDK_USB_SPEED_FULL;
	else if (streq(s, "480"))
		sp = UDK_USB_SPEED_HIGH;
	else if (streq(s, "5000"))
		sp = UDK_USB_SPEED_SUPER;
	else if (streq(s, "10000") || streq(s, "20000"))
		sp = UDK_USB_SPEED_SUPER_PLUS;
	free(s);
	return sp;
}

/* The kernel driver bound to interface @ifno of configuration @cfg, or NULL. */
static char *
kernel_driver(const char *sysfs_dir, const char *sysname, unsigned cfg, unsigned ifno)
{
	char *path = strdup_printf("%s/%s:%u.%u/driver", sysfs_dir, sysname, cfg, ifno), buf[PATH_MAX], *slash;
	ssize_t n = path ? readlink(path, buf, sizeof(buf) - 1) : -1;

	free(path);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	slash = strrchr(buf, '/');
	return strdup(slash ? slash + 1 : buf);
}

static void
refresh_kernel_drivers(struct udkd *d, struct usb_device *dev)
{
	struct usb_state *st = usb_state(d);
	uint8_t cfg = (uint8_t)udk_dict_get_int(dev->nub->props, "UDKActiveConfiguration", 0);
	const struct usb_config *c = usb_descs_config(dev->descs, cfg);
	struct udk_value *drivers = udk_value_new_dict(), *props = udk_value_new_dict();

	for (unsigned i = 0; i < 32; i++) {
		free(dev->kernel_drivers[i]);
		dev->kernel_drivers[i] = NULL;
	}
	for (unsigned i = 0; c && i < c->n_ifaces; i++) {
		unsigned n = c->ifaces[i].number;
		char key[8];
		if (n >= 32)
			continue;
		dev->kernel_drivers[n] = kernel_driver(st->sysfs_dir, dev->sysname, cfg, n);
		snprintf(key, sizeof(key), "%u", n);
		udk_dict_set_string(drivers, key, dev->kernel_drivers[n] ? dev->kernel_drivers[n] : "(none)");
	}
	udk_dict_set_take(props, "UDKKernelDrivers", drivers);
	service_set_properties(d, dev->nub, props);
	udk_value_unref(props);
}

static struct service *
host_bus(struct udkd *d)
{
	struct usb_state *st = usb_state(d);
	struct udk_value *props;

	if (st->host_bus)
		return st->host_bus;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "IOName", "usb-host");
	udk_dict_set_string(props, "UDKBackend", "usbfs");
	udk_dict_set_string(props, "UDKSysfs", st->sysfs_dir);
	if (service_new(d, d->reg.root, "USBHost", class_chain_for("IOUSBHostController"), props, &st->host_bus) == 0) {
		service_ref(st->host_bus);
		service_register(d, st->host_bus);
	}
	udk_value_unref(props);
	return st->host_bus;
}

static struct usb_device *
find_sysname(struct udkd *d, const char *sysname)
{
	for (struct usb_device *dev = usb_state(d)->devices; dev; dev = dev->next)
		if (dev->backend == USB_USBFS && streq(dev->sysname, sysname))
			return dev;
	return NULL;
}

/* Device names are "B-P[.P...]"; interfaces "B-P:C.I"; root hubs "usbN". */
static bool
is_device_name(const char *name)
{
	return name[0] >= '1' && name[0] <= '9' && strchr(name, '-') && !strchr(name, ':') && strlen(name) < 64;
}

static int
publish_sysfs_device(struct udkd *d, const char *sysname)
{
	struct usb_state *st = usb_state(d);
	int dirfd;
	char *path, *blob, *s;
	size_t len = 0;
	struct usb_descs *descs = NULL;
	struct udk_value *props;
	struct usb_device *dev;
	struct service *nub = NULL, *bus = host_bus(d);
	long busnum, devnum, cfg;
	enum udk_usb_speed speed;
	int r;

	if (!bus || find_sysname(d, sysname))
		return 0;
	path = strdup_printf("%s/%s", st->sysfs_dir, sysname);
	dirfd = path ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	free(path);
	if (dirfd < 0)
		return udk_set_reason(-errno, "cannot read %s/%s: %s", st->sysfs_dir, sysname, strerror(errno));
	blob = attr_read(dirfd, "descriptors", USB_MAX_DESCRIPTORS + 1, false, &len);
	busnum = attr_long(dirfd, "busnum", -1);
	devnum = attr_long(dirfd, "devnum", -1);
	cfg = attr_long(dirfd, "bConfigurationValue", 0);
	speed = speed_of(dirfd);
	r = blob ? usb_descs_parse((const uint8_t *)blob, len, &descs) : udk_set_reason(-ENOENT, "no descriptors file");
	free(blob);
	if (r < 0 || busnum < 1 || busnum > 255 || devnum < 1 || devnum > 255) {
		log_warning(d, "USB device %s cannot be published: %s", sysname,
			    r < 0 ? udk_error_reason() : "its busnum or devnum is missing");
		usb_descs_free(descs);
		close(dirfd);
		return r < 0 ? r : -EINVAL;
	}
	props = usb_device_props(descs, speed);
	udk_dict_set_string(props, "UDKBackend", "usbfs");
	udk_dict_set_string(props, "UDKSysfsName", sysname);
	udk_dict_set_int(props, "USBBusNumber", busnum);
	udk_dict_set_int(props, "USBAddress", devnum);
	udk_dict_set_int(props, "locationID", (busnum << 24) | (devnum & 0xff));
	udk_dict_set_int(props, "UDKActiveConfiguration", cfg);
	if ((s = attr_at(dirfd, "manufacturer", 512, NULL)))
		udk_dict_set_string(props, "USB Vendor Name", s);
	free(s);
	if ((s = attr_at(dirfd, "product", 512, NULL)))
		udk_dict_set_string(props, "USB Product Name", s);
	free(s);
	if ((s = attr_at(dirfd, "serial", 512, NULL)))
		udk_dict_set_string(props, "USB Serial Number", s);
	free(s);
	close(dirfd);
	r = service_new(d, bus, sysname, class_chain_for("IOUSBHostDevice"), props, &nub);
	udk_value_unref(props);
	dev = r == 0 ? calloc(1, sizeof(*dev)) : NULL;
	if (!dev) {
		usb_descs_free(descs);
		if (nub)
			service_terminate(d, nub, "out of memory");
		return r < 0 ? r : -ENOMEM;
	}
	dev->backend = USB_USBFS;
	dev->descs = descs;
	dev->speed = speed;
	dev->sysname = strdup(sysname);
	dev->busnum = (unsigned)busnum;
	dev->devnum = (unsigned)devnum;
	dev->nub = service_ref(nub);
	dev->next = st->devices;
	st->devices = dev;
	refresh_kernel_drivers(d, dev);
	log_info(d, "USB device %s: %04x:%04x at %03ld/%03ld, %s speed, configuration %ld", sysname,
		 descs->dev.idVendor, descs->dev.idProduct, busnum, devnum, usb_speed_name(speed), cfg);
	service_register(d, nub);
	usb_configure_unclaimed(d, dev);
	return 0;
}

static void
scan_sysfs(struct udkd *d)
{
	struct usb_state *st = usb_state(d);
	DIR *dir = opendir(st->sysfs_dir);
	struct dirent *e;
	unsigned n = 0;

	if (!dir) {
		log_warning(d, "cannot read %s: %s; no real USB devices are published (this kernel may have no USB)",
			    st->sysfs_dir, strerror(errno));
		return;
	}
	host_bus(d);
	while ((e = readdir(dir)))
		if (is_device_name(e->d_name) && publish_sysfs_device(d, e->d_name) == 0)
			n++;
	closedir(dir);
	log_info(d, "published %u real USB devices from %s", n, st->sysfs_dir);
}

/* ---- hot plug: netlink uevents ---- */

static void
handle_uevent(struct udkd *d, const char *buf, size_t len)
{
	struct usb_uevent ev;
	struct usb_device *dev;

	if (usb_uevent_parse(buf, len, &ev) < 0)
		return;
	if (ev.device && is_device_name(ev.sysname)) {
		if (streq(ev.action, "add")) {
			log_info(d, "USB device %s plugged in", ev.sysname);
			publish_sysfs_device(d, ev.sysname);
		} else if (streq(ev.action, "remove") && (dev = find_sysname(d, ev.sysname))) {
			log_info(d, "USB device %s unplugged", ev.sysname);
			/* apps first (UDK_E_HARDWARE_GONE), then the nub and its interfaces */
			udkd_service_hardware_gone(d, dev->nub, "the USB device was unplugged");
		}
	} else if (ev.interface && (streq(ev.action, "bind") || streq(ev.action, "unbind"))) {
		char dname[64];
		const char *colon = strchr(ev.sysname, ':');
		size_t n = colon ? (size_t)(colon - ev.sysname) : 0;
		if (!n || n >= sizeof(dname))
			return;
		memcpy(dname, ev.sysname, n);
		dname[n] = 0;
		if ((dev = find_sysname(d, dname)))
			refresh_kernel_drivers(d, dev);
	}
}

/* udkd's uevent service (daemon/uevent.c) hands over only the kernel's messages. */
static void
on_uevent(struct udkd *d, const char *msg, size_t len, void *ctx)
{
	(void)ctx;
	/* NULL: a burst overflowed the socket; the devices seen stay as they are */
	if (msg)
		handle_uevent(d, msg, len);
}

static void
start_uevents(struct udkd *d)
{
	struct usb_state *st = usb_state(d);

	if (udkd_uevents_listen(d, on_uevent, NULL) < 0) {
		log_warning(d, "%s: USB devices plugged in later are not seen",
			    udk_error_reason() ? udk_error_reason() : "no kernel uevents");
		return;
	}
	st->hotplug = true;
}

int
usb_host_start(struct udkd *d)
{
	start_uevents(d);
	scan_sysfs(d);
	return 0;
}

void
usb_host_fini(struct udkd *d)
{
	struct usb_state *st = usb_state(d);

	/* jobs still on their threads finish by themselves; give them a moment */
	for (int i = 0; i < 250 && __atomic_load_n(&st->jobs, __ATOMIC_ACQUIRE); i++)
		usleep(20000);
}

/* ---- usbfs jobs, on threads ---- */

#define USB_MAX_JOBS 64			/* opens and releases on threads at once */
#define USB_MAX_PARKED 8		/* opens waiting for one device's reset */

enum job_kind {
	JOB_OPEN,			/* open, detach kernel drivers */
	JOB_RELEASE,			/* (reset,) attach kernel drivers again */
};

struct usb_job {
	struct usb_job *next;		/* an open parked while the port resets (usb_device.parked) */
	struct udkd *d;
	enum job_kind kind;
	char *node;			/* /dev/bus/usb/BBB/DDD */
	uint64_t nub;			/* the device nub */
	/* open */
	struct driver_proc *proc;	/* reference */
	struct wire_msg req;		/* header only */
	int iface;			/* -1: every interface */
	uint32_t kernel_bound;		/* interfaces with a kernel driver */
	uint8_t config;
	/* release */
	uint32_t reattach;
	bool reset;
	char *sysfs;			/* the device's sysfs directory, to see who has the interfaces */
	/* results */
	int fd;
	uint32_t detached;
	int error;
	char why[256];
	char done_note[256];
};

static void
job_free(struct usb_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->proc)
		proc_unref(j->proc);
	free(j->node);
	free(j->sysfs);
	free(j);
}

static int
usbfs_ifioctl(int fd, unsigned ifno, unsigned long code)
{
	struct usbdevfs_ioctl io = { .ifno = (int)ifno, .ioctl_code = (int)code, .data = NULL };
	return ioctl(fd, USBDEVFS_IOCTL, &io);
}

static void job_done(struct loop *l, void *data);
static void start_open(struct udkd *d, struct usb_device *dev, struct usb_job *j);

static void *
job_thread(void *data)
{
	struct usb_job *j = data;
	struct usb_state *st = usb_state(j->d);

	if (j->kind == JOB_OPEN) {
		j->fd = open(j->node, O_RDWR | O_CLOEXEC);
		if (j->fd < 0) {
			j->error = -errno;
			snprintf(j->why, sizeof(j->why), "udkd cannot open %s: %s%s", j->node, strerror(errno),
				 errno == ENOENT ? " (the device is gone, or usbfs has no node for it)" : "");
		}
		for (unsigned i = 0; j->fd >= 0 && i < 32; i++) {
			if (!(j->kernel_bound & (1u << i)) || (j->iface >= 0 && (unsigned)j->iface != i))
				continue;
			if (usbfs_ifioctl(j->fd, i, USBDEVFS_DISCONNECT) == 0)
				j->detached |= 1u << i;
			else if (errno != ENODATA) {
				j->error = -errno;
				snprintf(j->why, sizeof(j->why),
					 "udkd cannot take interface %u of %s from its kernel driver: %s", i, j->node,
					 strerror(errno));
				break;
			}
		}
	} else {
		int fd = open(j->node, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			snprintf(j->done_note, sizeof(j->done_note), "cannot open %s to give the interfaces back: %s",
				 j->node, strerror(errno));
		} else {
			int rr = j->reset ? ioctl(fd, USBDEVFS_RESET, 0) : 0;
			unsigned back = 0;
			char names[128] = "";
			/* EBUSY: the kernel bound a driver by itself (a reset rebinds) */
			for (unsigned i = 0; i < 32; i++)
				if (j->reattach & (1u << i))
					usbfs_ifioctl(fd, i, USBDEVFS_CONNECT);
			/* who has them now */
			for (unsigned i = 0; j->sysfs && i < 32; i++) {
				char link[PATH_MAX], buf[PATH_MAX];
				ssize_t n;
				if (!(j->reattach & (1u << i)))
					continue;
				snprintf(link, sizeof(link), "%s:%u.%u/driver", j->sysfs, j->config, i);
				n = readlink(link, buf, sizeof(buf) - 1);
				if (n > 0) {
					const char *base;
					size_t used = strlen(names);
					buf[n] = 0;
					back++;
					base = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
					if (used + strlen(base) + 4 < sizeof(names))
						snprintf(names + used, sizeof(names) - used, "%s%.40s", names[0] ? ", " : " (", base);
				}
			}
			if (names[0])
				snprintf(names + strlen(names), sizeof(names) - strlen(names), ")");
			snprintf(j->done_note, sizeof(j->done_note), "%s%s; %u interface%s with a kernel driver again%s",
				 j->reset ? "port reset" : "released",
				 j->reset && rr < 0 ? " failed" : "", back, back == 1 ? "" : "s", names);
			close(fd);
		}
	}
	if (loop_post(j->d->loop, job_done, j) < 0)
		job_free(j);
	__atomic_sub_fetch(&st->jobs, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int
run_job(struct usb_job *j)
{
	struct usb_state *st = usb_state(j->d);
	pthread_attr_t attr;
	pthread_t t;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	__atomic_add_fetch(&st->jobs, 1, __ATOMIC_ACQ_REL);
	r = -pthread_create(&t, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	if (r < 0)
		__atomic_sub_fetch(&st->jobs, 1, __ATOMIC_ACQ_REL);
	return r;
}

static void
open_done(struct udkd *d, struct usb_job *j)
{
	struct service *s = service_by_id(d, j->nub);
	struct usb_device *dev = s ? usb_device_of(d, s) : NULL;
	struct udk_value *info;

	if (!dev || j->proc->state == PROC_DEAD || j->error < 0) {
		if (j->proc->state != PROC_DEAD)
			proc_reply(j->proc, &j->req, j->error < 0 ? j->error : -UDK_E_HARDWARE_GONE,
				   j->error < 0 ? j->why : "the device is gone", NULL, NULL, 0);
		if (dev && j->detached) {
			/* nobody took them: give them back */
			struct usb_job *r = calloc(1, sizeof(*r));
			if (r) {
				r->d = d;
				r->kind = JOB_RELEASE;
				r->node = strdup(j->node);
				r->nub = j->nub;
				r->fd = -1;
				r->reattach = j->detached;
				r->config = j->config;
				r->sysfs = strdup_printf("%s/%s", usb_state(d)->sysfs_dir, dev->sysname);
				if (!r->node || run_job(r) < 0)
					job_free(r);
			}
		}
		return;
	}
	dev->detached |= j->detached;
	dev->users++;
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "usbfs");
	udk_dict_set_data(info, "descriptors", dev->descs->blob, dev->descs->blob_len);
	udk_dict_set_int(info, "speed", dev->speed);
	udk_dict_set_int(info, "configuration", j->config);
	udk_dict_set_uint(info, "device", dev->nub->id);
	udk_dict_set_int(info, "busnum", dev->busnum);
	udk_dict_set_int(info, "devnum", dev->devnum);
	if (j->iface >= 0)
		udk_dict_set_int(info, "interface", j->iface);
	proc_reply(j->proc, &j->req, 0, NULL, info, &j->fd, 1);
	udk_value_unref(info);
	if (j->detached)
		log_info(d, "USB device %s: interfaces 0x%x taken from their kernel drivers for %s (pid %d)", dev->sysname,
			 j->detached, usb_who(j->proc), j->proc->pid);
	refresh_kernel_drivers(d, dev);
}

static void
release_done(struct udkd *d, struct usb_job *j)
{
	struct service *s = service_by_id(d, j->nub);
	struct usb_device *dev = s ? usb_device_of(d, s) : NULL;

	log_notice(d, "USB device %s: %s", j->node, j->done_note);
	if (dev) {
		struct udk_value *p = udk_value_new_dict();
		dev->reattaching = false;
		free(dev->last_reset);
		dev->last_reset = strdup(j->done_note);
		udk_dict_set_string(p, "UDKLastRelease", j->done_note);
		service_set_properties(d, dev->nub, p);
		udk_value_unref(p);
		refresh_kernel_drivers(d, dev);
		/* the opens that came while the port reset: now the kernel drivers are known again */
		while (dev->parked && !dev->reattaching) {
			struct usb_job *o = dev->parked;
			dev->parked = o->next;
			o->next = NULL;
			start_open(d, dev, o);
		}
	}
}

static void
job_done(struct loop *l, void *data)
{
	struct usb_job *j = data;

	(void)l;
	if (j->kind == JOB_OPEN)
		open_done(j->d, j);
	else
		release_done(j->d, j);
	job_free(j);
}

/* Run an open job: the interfaces a kernel driver has are read now, not when the open came. */
static void
start_open(struct udkd *d, struct usb_device *dev, struct usb_job *j)
{
	j->kernel_bound = 0;
	for (unsigned i = 0; i < 32; i++)
		if (dev->kernel_drivers[i] && !streq(dev->kernel_drivers[i], "usbfs"))
			j->kernel_bound |= 1u << i;
	if (run_job(j) < 0) {
		proc_reply(j->proc, &j->req, -ENOMEM, "cannot start a thread to open the device", NULL, NULL, 0);
		job_free(j);
	}
}

void
usb_host_open(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct usb_device *dev, int iface)
{
	struct usb_state *st = usb_state(d);
	struct usb_job *j;
	unsigned parked = 0;

	/* bounded: each open is a thread for a moment, and opens wait during a reset */
	for (struct usb_job *q = dev->parked; q; q = q->next)
		parked++;
	if (__atomic_load_n(&st->jobs, __ATOMIC_ACQUIRE) >= USB_MAX_JOBS || parked >= USB_MAX_PARKED) {
		proc_reply(p, m, -UDK_E_BUSY,
			   parked >= USB_MAX_PARKED ? "the device's port is being reset and other opens already wait for "
						      "it; open it again in a moment"
						    : "udkd is opening or releasing many USB devices at once; open it again "
						      "in a moment",
			   NULL, NULL, 0);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	j->d = d;
	j->kind = JOB_OPEN;
	j->fd = -1;
	j->node = strdup_printf("%s/%03u/%03u", st->dev_dir, dev->busnum, dev->devnum);
	j->nub = dev->nub->id;
	j->proc = proc_ref(p);
	wire_msg_init(&j->req);
	j->req.h = m->h;
	j->iface = iface;
	j->config = (uint8_t)udk_dict_get_int(dev->nub->props, "UDKActiveConfiguration", 0);
	if (!j->node) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		job_free(j);
		return;
	}
	if (dev->reattaching) {
		/* The port is being reset and its interfaces given back to their kernel drivers after the
		 * last driver died.  Opening now would race that: the interfaces this open takes from their
		 * kernel drivers could be given back to them behind it.  It runs when the reset is done. */
		struct usb_job **tail = &dev->parked;
		while (*tail)
			tail = &(*tail)->next;
		*tail = j;
		log_info(d, "USB device %s: %s (pid %d) opens it once the port reset is done", dev->sysname,
			 usb_who(p), p->pid);
		return;
	}
	start_open(d, dev, j);
}

/* The device went away with opens still parked: each is answered. */
void
usb_host_drop_parked(struct usb_device *dev)
{
	while (dev->parked) {
		struct usb_job *j = dev->parked;
		dev->parked = j->next;
		if (j->proc->state != PROC_DEAD)
			proc_reply(j->proc, &j->req, -UDK_E_HARDWARE_GONE, "the device went away while its port was reset",
				   NULL, NULL, 0);
		job_free(j);
	}
}

void
usb_host_released(struct udkd *d, struct usb_device *dev, bool crashed)
{
	struct usb_state *st = usb_state(d);
	struct usb_job *j;

	/* only a driver that holds a usbfs descriptor leaves something to undo */
	if (!dev->users)
		return;
	dev->users--;
	if (dev->users && !crashed)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->d = d;
	j->kind = JOB_RELEASE;
	j->fd = -1;
	j->node = strdup_printf("%s/%03u/%03u", st->dev_dir, dev->busnum, dev->devnum);
	j->nub = dev->nub->id;
	j->reset = crashed;
	j->reattach = dev->users ? 0 : dev->detached;
	j->config = (uint8_t)udk_dict_get_int(dev->nub->props, "UDKActiveConfiguration", 0);
	j->sysfs = strdup_printf("%s/%s", st->sysfs_dir, dev->sysname);
	if (!dev->users)
		dev->detached = 0;
	dev->reattaching = true;
	if (!j->node || run_job(j) < 0)
		job_free(j);
}

/* ---- export to vhci-hcd ---- */

struct export_wait {
	struct udkd *d;
	uint64_t nub;
	char model[64];
	int sock;			/* the kernel's end */
	int port;
	uint32_t devid;
	enum udk_usb_speed speed;
};

/* A free vhci port for @speed from the status file, or -1 with a reason. */
static int
free_port(struct udkd *d, enum udk_usb_speed speed, char *why, size_t n)
{
	struct usb_state *st = usb_state(d);
	char *path = strdup_printf("%s/status", st->vhci_dir), *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	int port = -1;
	const char *hub = speed >= UDK_USB_SPEED_SUPER ? "ss" : "hs";

	if (!path || read_file(path, 65536, &buf, &len) < 0) {
		snprintf(why, n, "vhci-hcd is not there (cannot read %s: %s): modprobe vhci-hcd", path ? path : "status",
			 strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char h[8];
		unsigned p, sta;
		if (sscanf(line, "%7s %u %u", h, &p, &sta) == 3 && streq(h, hub) && sta == 4 /* VDEV_ST_NULL */) {
			port = (int)p;
			break;
		}
	}
	free(buf);
	if (port < 0)
		snprintf(why, n, "every %s port of vhci-hcd is in use", hub);
	return port;
}

static void
export_note(struct udkd *d, struct export_wait *w, const char *error)
{
	struct service *s = service_by_id(d, w->nub);
	struct device_model *m = model_find(d, w->model);
	struct usb_model *um = m ? model_family_data(m, &udkd_family_usb) : NULL;
	struct udk_value *p = udk_value_new_dict();

	if (um) {
		um->vhci_port = error ? -1 : w->port;
		snprintf(um->export_error, sizeof(um->export_error), "%s", error ? error : "");
	}
	if (error) {
		udk_dict_set_string(p, "UDKExportError", error);
		log_error(d, "device %s cannot be given to Linux: %s", w->model, error);
	} else {
		udk_dict_set_int(p, "UDKVhciPort", w->port);
		udk_dict_set_int(p, "UDKVhciDevid", w->devid);
		log_info(d, "device %s attached to Linux through vhci-hcd port %d", w->model, w->port);
	}
	if (s)
		service_set_properties(d, s, p);
	udk_value_unref(p);
}

static void
exported(struct udkd *d, struct driver_proc *model, struct wire_msg *reply, int status, void *data)
{
	struct export_wait *w = data;
	struct usb_state *st = usb_state(d);
	char *path, line[96], err[256];
	int fd, r = 0;

	(void)model;
	if (status < 0) {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
		snprintf(err, sizeof(err), "the model refused: %s", why ? why : udk_strerror(status));
		export_note(d, w, err);
		goto out;
	}
	path = strdup_printf("%s/attach", st->vhci_dir);
	snprintf(line, sizeof(line), "%d %d %u %d", w->port, w->sock, w->devid, (int)w->speed);
	fd = path ? open(path, O_WRONLY | O_CLOEXEC) : -1;
	if (fd < 0 || write(fd, line, strlen(line)) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		snprintf(err, sizeof(err), "writing \"%s\" to %s failed: %s", line, path ? path : "attach", strerror(-r));
		export_note(d, w, err);
	} else {
		export_note(d, w, NULL);
	}
	free(path);
out:
	/* the kernel holds its own reference to the socket now */
	close(w->sock);
	free(w);
}

static void
export_now(struct loop *l, void *data)
{
	struct export_wait *w = data;
	struct udkd *d = w->d;
	struct device_model *m = model_find(d, w->model);
	struct service *s = service_by_id(d, w->nub);
	struct udk_value *body;
	int sv[2];
	char why[256];
	size_t index = 0;

	(void)l;
	if (!m || !s || !m->proc || m->proc->state == PROC_DEAD) {
		free(w);
		return;
	}
	model_of_nub(d, s, &index);
	w->port = free_port(d, w->speed, why, sizeof(why));
	if (w->port < 0) {
		export_note(d, w, why);
		free(w);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, sizeof(why), "cannot make a socket pair: %s", strerror(errno));
		export_note(d, w, why);
		free(w);
		return;
	}
	w->sock = sv[0];
	w->devid = 0x10000u | (uint32_t)(w->port + 1);
	body = udk_value_new_dict();
	udk_dict_set_int(body, "function", (int64_t)index);
	udk_dict_set_int(body, "devid", w->devid);
	if (proc_request(d, m->proc, OP_USB_DM_EXPORT, body, &sv[1], 1, d->cfg.request_timeout_ms, exported, w) < 0) {
		close(sv[0]);
		snprintf(why, sizeof(why), "cannot reach the model");
		export_note(d, w, why);
		free(w);
	}
	udk_value_unref(body);
	close(sv[1]);
}

void
usb_export_model(struct udkd *d, struct device_model *m, struct service *nub, enum udk_usb_speed speed)
{
	struct export_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return;
	w->d = d;
	w->nub = nub->id;
	w->sock = -1;
	w->speed = speed;
	snprintf(w->model, sizeof(w->model), "%s", m->name);
	/* after the hello's answer: the model listens to udkd from then on */
	if (loop_post(d->loop, export_now, w) < 0)
		free(w);
}
