/* SPDX-License-Identifier: MIT */
/*
 * usbfs.c - backend "usbfs": a real USB device through Linux's usbfs,
 * driven by libusb.
 *
 * udkd opened /dev/bus/usb/BBB/DDD, took the interfaces from their kernel
 * drivers, and handed this process the descriptor; the driver never opens
 * a device node (its sandbox would not let it).  libusb takes the
 * descriptor with libusb_wrap_sys_device(), with device discovery off
 * (LIBUSB_OPTION_NO_DEVICE_DISCOVERY: no scanning of /dev or sysfs, no
 * hotplug monitor), and runs transfers asynchronously.  A synchronous
 * transfer is waited for in the caller's thread, which handles libusb's
 * events itself when nobody else does (no thread hand-off per transfer);
 * an event thread runs only while asynchronous transfers are out, and
 * delivers their completions.  What libusb does on the
 * descriptor is reads (the descriptors), ioctls (USBDEVFS_*), poll(),
 * plus an eventfd and a timerfd of its own: nothing the sandbox denies.
 */
#include <libusb.h>
#include <linux/usbdevice_fs.h>
#include <sys/ioctl.h>

#include "private.h"
#include "usb-private.h"
#include "util.h"

struct ufs {
	libusb_context *ctx;
	libusb_device_handle *h;
	int fd;
	pthread_t events;
	bool events_started;
	_Atomic bool stop;
	uint32_t claimed;		/* interfaces 0..31 */
	pthread_mutex_t ev_lock;	/* async_out */
	pthread_cond_t ev_cond;
	unsigned async_out;		/* asynchronous transfers out: the event thread runs */
};

/* libusb's side of one transfer */
struct ut {
	struct libusb_transfer *t;
	struct usb_xfer *x;
	int cancel_status;		/* what a cancellation means */
	uint8_t *ctrl;			/* setup + data of a control transfer */
};

#define UFS(dev) ((struct ufs *)(dev)->backend_data)

static int
lerr(struct udk_usb_device *dev, int r, const char *what)
{
	switch (r) {
	case LIBUSB_SUCCESS:
		return 0;
	case LIBUSB_ERROR_NO_DEVICE:
		usb_device_gone(dev, "the USB device was unplugged");
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "%s: the USB device was unplugged", what);
	case LIBUSB_ERROR_BUSY:
		return udk_set_reason(-UDK_E_BUSY, "%s: the interface is claimed by another program or a kernel driver",
				      what);
	case LIBUSB_ERROR_NOT_FOUND:
		return udk_set_reason(-ENOENT, "%s: no such interface, setting or endpoint on the device", what);
	case LIBUSB_ERROR_PIPE:
		return udk_set_reason(-EPIPE, "%s: the device refused (stalled)", what);
	case LIBUSB_ERROR_TIMEOUT:
		return udk_set_reason(-ETIMEDOUT, "%s: the device did not answer in time", what);
	case LIBUSB_ERROR_ACCESS:
		return udk_set_reason(-EACCES, "%s: usbfs refused access", what);
	case LIBUSB_ERROR_INVALID_PARAM:
		return udk_set_reason(-EINVAL, "%s: usbfs says the request is invalid", what);
	case LIBUSB_ERROR_NOT_SUPPORTED:
		return udk_set_reason(-UDK_E_UNSUPPORTED, "%s: not supported by usbfs", what);
	case LIBUSB_ERROR_NO_MEM:
		return -ENOMEM;
	default:
		return udk_set_reason(-EIO, "%s: %s", what, libusb_strerror((enum libusb_error)r));
	}
}

static void *
event_thread(void *data)
{
	struct ufs *u = data;

	for (;;) {
		struct timeval tv = { 0, 200000 };
		pthread_mutex_lock(&u->ev_lock);
		while (!u->stop && !u->async_out)
			pthread_cond_wait(&u->ev_cond, &u->ev_lock);
		pthread_mutex_unlock(&u->ev_lock);
		if (u->stop)
			break;
		libusb_handle_events_timeout_completed(u->ctx, &tv, NULL);
	}
	return NULL;
}

static void
async_count(struct ufs *u, int d)
{
	pthread_mutex_lock(&u->ev_lock);
	u->async_out += (unsigned)d;
	if (d > 0)
		pthread_cond_signal(&u->ev_cond);
	pthread_mutex_unlock(&u->ev_lock);
}

static void LIBUSB_CALL
on_done(struct libusb_transfer *t)
{
	struct ut *ut = t->user_data;
	struct usb_xfer *x = ut->x;
	int status;
	const char *why = NULL;
	uint32_t actual = (uint32_t)t->actual_length;

	switch (t->status) {
	case LIBUSB_TRANSFER_COMPLETED:
		status = 0;
		break;
	case LIBUSB_TRANSFER_TIMED_OUT:
		status = -ETIMEDOUT;
		break;
	case LIBUSB_TRANSFER_CANCELLED:
		status = ut->cancel_status ? ut->cancel_status : -ECANCELED;
		break;
	case LIBUSB_TRANSFER_STALL:
		status = -EPIPE;
		break;
	case LIBUSB_TRANSFER_NO_DEVICE:
		status = -UDK_E_HARDWARE_GONE;
		usb_device_gone(x->dev, "the USB device was unplugged");
		why = "the USB device was unplugged";
		break;
	case LIBUSB_TRANSFER_OVERFLOW:
		status = -EOVERFLOW;
		break;
	default:
		status = -EIO;
		why = "usbfs reported a transfer error";
		break;
	}
	if (x->type == UDK_USB_TRANSFER_CONTROL && ut->ctrl) {
		if (x->in && actual && x->buf)
			memcpy(x->buf, ut->ctrl + LIBUSB_CONTROL_SETUP_SIZE, MIN(actual, x->length));
	}
	if (x->type == UDK_USB_TRANSFER_ISOCHRONOUS) {
		actual = 0;
		for (int i = 0; i < t->num_iso_packets && (uint32_t)i < x->n_packets; i++) {
			struct libusb_iso_packet_descriptor *p = &t->iso_packet_desc[i];
			x->packets[i].actual = p->actual_length;
			x->packets[i].status = p->status == LIBUSB_TRANSFER_COMPLETED ? 0
					       : p->status == LIBUSB_TRANSFER_STALL ? -EPIPE
										     : -EIO;
			actual += p->actual_length;
		}
	}
	/* a cancel runs under the device lock: it sees the transfer whole or not at all */
	pthread_mutex_lock(&x->dev->lock);
	x->be = NULL;
	pthread_mutex_unlock(&x->dev->lock);
	free(ut->ctrl);
	libusb_free_transfer(t);
	free(ut);
	if (x->sync) {
		/* the waiter handling events sees this before it looks at x->done */
		__atomic_store_n(&x->be_done, 1, __ATOMIC_RELEASE);
		usb_xfer_done(x, status, actual, why);
	} else {
		struct ufs *u = UFS(x->dev);
		usb_xfer_done(x, status, actual, why);
		async_count(u, -1);
	}
}

static int
ufs_submit(struct udk_usb_device *dev, struct usb_xfer *x)
{
	struct ufs *u = UFS(dev);
	struct ut *ut = calloc(1, sizeof(*ut));
	struct libusb_transfer *t;
	unsigned timeout = x->timeout_ms;
	int r;

	if (!ut)
		return -ENOMEM;
	t = libusb_alloc_transfer((int)x->n_packets);
	if (!t) {
		free(ut);
		return -ENOMEM;
	}
	ut->t = t;
	ut->x = x;
	switch (x->type) {
	case UDK_USB_TRANSFER_CONTROL:
		ut->ctrl = malloc(LIBUSB_CONTROL_SETUP_SIZE + x->length);
		if (!ut->ctrl) {
			libusb_free_transfer(t);
			free(ut);
			return -ENOMEM;
		}
		libusb_fill_control_setup(ut->ctrl, x->setup.bmRequestType, x->setup.bRequest, x->setup.wValue,
					  x->setup.wIndex, x->setup.wLength);
		if (!x->in && x->length)
			memcpy(ut->ctrl + LIBUSB_CONTROL_SETUP_SIZE, x->buf, x->length);
		libusb_fill_control_transfer(t, u->h, ut->ctrl, on_done, ut, timeout);
		break;
	case UDK_USB_TRANSFER_BULK:
		libusb_fill_bulk_transfer(t, u->h, x->endpoint, x->buf, (int)x->length, on_done, ut, timeout);
		break;
	case UDK_USB_TRANSFER_INTERRUPT:
		libusb_fill_interrupt_transfer(t, u->h, x->endpoint, x->buf, (int)x->length, on_done, ut, timeout);
		break;
	case UDK_USB_TRANSFER_ISOCHRONOUS:
		libusb_fill_iso_transfer(t, u->h, x->endpoint, x->buf, (int)x->length, (int)x->n_packets, on_done, ut,
					 timeout);
		for (uint32_t i = 0; i < x->n_packets; i++)
			t->iso_packet_desc[i].length = x->packets[i].length;
		break;
	default:
		libusb_free_transfer(t);
		free(ut);
		return -EINVAL;
	}
	if (x->short_not_ok)
		t->flags |= LIBUSB_TRANSFER_SHORT_NOT_OK;
	x->be = ut;
	if (!x->sync)
		async_count(u, 1);
	r = libusb_submit_transfer(t);
	if (r < 0) {
		if (!x->sync)
			async_count(u, -1);
		x->be = NULL;
		free(ut->ctrl);
		libusb_free_transfer(t);
		free(ut);
		return lerr(dev, r, "submitting the transfer");
	}
	return 0;
}

/* A synchronous transfer: handle events here while nobody else does. */
static void
ufs_wait(struct udk_usb_device *dev, struct usb_xfer *x)
{
	struct ufs *u = UFS(dev);

	while (!__atomic_load_n(&x->be_done, __ATOMIC_ACQUIRE)) {
		struct timeval tv = { 1, 0 };
		libusb_handle_events_timeout_completed(u->ctx, &tv, &x->be_done);
	}
}

static void
ufs_cancel(struct udk_usb_device *dev, struct usb_xfer *x, int status)
{
	struct ut *ut = x->be;

	(void)dev;
	if (!ut)
		return;
	ut->cancel_status = status;
	libusb_cancel_transfer(ut->t);
}

static int
ufs_set_configuration(struct udk_usb_device *dev, uint8_t value)
{
	struct ufs *u = UFS(dev);

	/* usbfs refuses to change the configuration while this process holds interfaces */
	for (unsigned i = 0; i < 32; i++)
		if (u->claimed & (1u << i))
			libusb_release_interface(u->h, (int)i);
	u->claimed = 0;
	return lerr(dev, libusb_set_configuration(u->h, value ? value : -1), "setting the configuration");
}

static int
ufs_claim(struct udk_usb_device *dev, uint8_t iface)
{
	struct ufs *u = UFS(dev);
	int r = lerr(dev, libusb_claim_interface(u->h, iface), "claiming the interface");

	if (r >= 0 && iface < 32)
		u->claimed |= 1u << iface;
	return r;
}

static int
ufs_release(struct udk_usb_device *dev, uint8_t iface)
{
	struct ufs *u = UFS(dev);

	if (iface < 32)
		u->claimed &= ~(1u << iface);
	return lerr(dev, libusb_release_interface(u->h, iface), "releasing the interface");
}

static int
ufs_set_interface(struct udk_usb_device *dev, uint8_t iface, uint8_t alt)
{
	return lerr(dev, libusb_set_interface_alt_setting(UFS(dev)->h, iface, alt), "selecting the alternate setting");
}

static int
ufs_clear_halt(struct udk_usb_device *dev, uint8_t endpoint, bool request)
{
	struct ufs *u = UFS(dev);
	unsigned ep = endpoint;

	if (request)
		return lerr(dev, libusb_clear_halt(u->h, endpoint), "clearing the halt");
	/* the host side only: the data toggle, as ClearStall(false) */
	if (ioctl(u->fd, USBDEVFS_RESETEP, &ep) < 0)
		return udk_set_reason(-errno, "USBDEVFS_RESETEP: %s", strerror(errno));
	return 0;
}

static int
ufs_reset(struct udk_usb_device *dev)
{
	int r = libusb_reset_device(UFS(dev)->h);

	if (r == LIBUSB_ERROR_NOT_FOUND) {
		usb_device_gone(dev, "the device came back from the reset as another device (re-enumerated)");
		return udk_set_reason(-UDK_E_HARDWARE_GONE,
				      "the device came back from the reset as another device (its descriptors changed)");
	}
	return lerr(dev, r, "resetting the port");
}

static void
ufs_close(struct udk_usb_device *dev)
{
	struct ufs *u = UFS(dev);

	if (!u)
		return;
	pthread_mutex_lock(&u->ev_lock);
	u->stop = true;
	pthread_cond_signal(&u->ev_cond);
	pthread_mutex_unlock(&u->ev_lock);
	if (u->h) {
		for (unsigned i = 0; i < 32; i++)
			if (u->claimed & (1u << i))
				libusb_release_interface(u->h, (int)i);
		libusb_close(u->h);
	}
	if (u->ctx)
		libusb_interrupt_event_handler(u->ctx);
	if (u->events_started)
		pthread_join(u->events, NULL);
	if (u->ctx)
		libusb_exit(u->ctx);
	if (u->fd >= 0)
		close(u->fd);
	pthread_cond_destroy(&u->ev_cond);
	pthread_mutex_destroy(&u->ev_lock);
	free(u);
	dev->backend_data = NULL;
}

static int
ufs_open(struct udk_usb_device *dev, const struct udk_value *info, int fd)
{
	struct ufs *u = calloc(1, sizeof(*u));
	int r;

	(void)info;
	if (!u) {
		close(fd);
		return -ENOMEM;
	}
	u->fd = fd;
	pthread_mutex_init(&u->ev_lock, NULL);
	pthread_cond_init(&u->ev_cond, NULL);
	dev->backend_data = u;
	/* no scanning and no hotplug monitor: this process sees only the descriptor it was given */
	libusb_set_option(NULL, LIBUSB_OPTION_NO_DEVICE_DISCOVERY);
	r = libusb_init(&u->ctx);
	if (r < 0) {
		u->ctx = NULL;
		ufs_close(dev);
		return udk_set_reason(-EIO, "libusb cannot start: %s", libusb_strerror((enum libusb_error)r));
	}
	r = libusb_wrap_sys_device(u->ctx, (intptr_t)fd, &u->h);
	if (r < 0) {
		u->h = NULL;
		ufs_close(dev);
		return udk_set_reason(r == LIBUSB_ERROR_NO_DEVICE ? -UDK_E_HARDWARE_GONE : -EIO,
				      "libusb cannot use the usbfs descriptor udkd gave: %s",
				      libusb_strerror((enum libusb_error)r));
	}
	r = -pthread_create(&u->events, NULL, event_thread, u);
	if (r < 0) {
		ufs_close(dev);
		return r;
	}
	u->events_started = true;
	return 0;
}

const struct usb_backend usb_usbfs_backend = {
	.name = "usbfs",
	.open = ufs_open,
	.close = ufs_close,
	.set_configuration = ufs_set_configuration,
	.claim = ufs_claim,
	.release = ufs_release,
	.set_interface = ufs_set_interface,
	.clear_halt = ufs_clear_halt,
	.reset = ufs_reset,
	.submit = ufs_submit,
	.cancel = ufs_cancel,
	.wait = ufs_wait,
};
