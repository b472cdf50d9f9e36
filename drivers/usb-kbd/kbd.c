/* SPDX-License-Identifier: MIT */
/*
 * usb-kbd - a USB keyboard in boot protocol: the driver matches the HID
 * boot-keyboard interface (class 3 / subclass 1 / protocol 1), asks for
 * the boot protocol (SET_PROTOCOL) and a report every @idle ms even when
 * nothing changes (SET_IDLE), and keeps two interrupt IN transfers in
 * flight; the 8-byte reports (modifiers, reserved, six key codes) go to
 * apps through its user client.  The HID family will make it an input
 * device; until then apps read the reports.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <udk/driver.h>
#include <udk/families/usb.h>
#include <udk/userclient.h>

#include "kbd.h"

#define REPORTS 256
#define IDLE_MS 100

struct kbd {
	struct udk_usb_interface *intf;
	struct udk_usb_device *dev;
	struct udk_usb_pipe *in;
	struct udk_queue *q;
	struct udk_buffer *buf;
	struct udk_memory_descriptor *md;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t ring[REPORTS][8];
	unsigned head, len;
	uint64_t total;
	bool stopping;
	int error;
};

static struct kbd *K;

static int
hid_request(struct kbd *k, uint8_t req, uint16_t value)
{
	struct udk_usb_setup s = { 0x21, req, value, udk_usb_interface_get_descriptor(k->intf)->bInterfaceNumber, 0 };
	return udk_usb_device_request(k->dev, &s, NULL, NULL, 1000);
}

static void submit(struct kbd *k, uint64_t slot);

static void
done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	uint64_t slot = (uint64_t)(uintptr_t)ctx;
	struct kbd *k = K;

	(void)pipe;
	pthread_mutex_lock(&k->lock);
	if (status < 0) {
		if (!k->stopping && status != -ECANCELED)
			k->error = status;
	} else if (actual == 8) {
		memcpy(k->ring[(k->head + k->len) % REPORTS], (uint8_t *)udk_buffer_get_address(k->buf) + slot * 8, 8);
		if (k->len < REPORTS)
			k->len++;
		else
			k->head = (k->head + 1) % REPORTS;
		k->total++;
	}
	pthread_cond_broadcast(&k->cond);
	if (!k->stopping && status >= 0)
		submit(k, slot);
	pthread_mutex_unlock(&k->lock);
}

static void
submit(struct kbd *k, uint64_t slot)
{
	int r = udk_usb_pipe_io_async(k->in, k->md, slot * 8, 8, 0, k->q, done, (void *)(uintptr_t)slot);

	if (r < 0)
		k->error = r;
}

static int
kbd_start(struct udk_service *self, struct udk_service *provider)
{
	struct kbd *k = udk_service_get_ivars(self);
	const struct udk_usb_endpoint_descriptor *ep;
	int r;

	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	if ((r = udk_usb_interface_open_provider(provider, &k->intf)) < 0)
		return r;
	k->dev = udk_usb_interface_get_device(k->intf);
	for (unsigned i = 0; (ep = udk_usb_interface_get_endpoint(k->intf, i)); i++)
		if ((ep->bmAttributes & 3) == UDK_USB_TRANSFER_INTERRUPT && (ep->bEndpointAddress & 0x80))
			break;
	if (!ep)
		return udk_error_set(-ENODEV, "a boot keyboard interface has an interrupt IN endpoint; this one has none");
	if ((r = udk_usb_interface_copy_pipe(k->intf, ep->bEndpointAddress, &k->in)) < 0)
		return r;
	/* boot protocol; a report every IDLE_MS (in units of 4 ms) */
	if ((r = hid_request(k, 0x0b, 0)) < 0)
		udk_log_warning("kbd: SET_PROTOCOL(boot) refused: %s", udk_strerror(r));
	if ((r = hid_request(k, 0x0a, (uint16_t)((IDLE_MS / 4) << 8))) < 0)
		udk_log_warning("kbd: SET_IDLE refused: %s; reports come only when keys change", udk_strerror(r));
	if ((r = udk_queue_create("kbd-in", &k->q)) < 0 || (r = udk_buffer_create(16, 0, &k->buf)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(k->buf, UDK_MEMORY_DIRECTION_IN, &k->md)) < 0)
		return r;
	K = k;
	pthread_mutex_lock(&k->lock);
	submit(k, 0);
	submit(k, 1);
	pthread_mutex_unlock(&k->lock);
	udk_log_info("kbd: boot keyboard %04x:%04x, interface %u, interrupt IN 0x%02x (%s)",
		     udk_usb_device_get_descriptor(k->dev)->idVendor, udk_usb_device_get_descriptor(k->dev)->idProduct,
		     udk_usb_interface_get_descriptor(k->intf)->bInterfaceNumber, ep->bEndpointAddress,
		     udk_usb_device_get_backend(k->dev));
	return udk_service_register(self);
}

static int
kbd_stop(struct udk_service *self, struct udk_service *provider)
{
	struct kbd *k = udk_service_get_ivars(self);

	(void)provider;
	pthread_mutex_lock(&k->lock);
	k->stopping = true;
	pthread_mutex_unlock(&k->lock);
	if (k->in)
		udk_usb_pipe_abort(k->in);
	udk_usb_pipe_unref(k->in);
	udk_queue_unref(k->q);
	udk_memory_descriptor_unref(k->md);
	udk_buffer_unref(k->buf);
	udk_usb_interface_unref(k->intf);
	return 0;
}

static int
get_info(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	a->scalar_output[0] = udk_usb_device_get_descriptor(K->dev)->idVendor;
	a->scalar_output[1] = udk_usb_device_get_descriptor(K->dev)->idProduct;
	a->scalar_output[2] = udk_usb_interface_get_descriptor(K->intf)->bInterfaceNumber;
	a->scalar_output[3] = strcmp(udk_usb_device_get_backend(K->dev), "usbfs") == 0;
	a->scalar_output[4] = IDLE_MS;
	pthread_mutex_lock(&K->lock);
	a->scalar_output[5] = K->total;
	pthread_mutex_unlock(&K->lock);
	a->scalar_output_count = 6;
	return 0;
}

static int
read_reports(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t want = a->scalar_input[0], got = 0;
	struct timespec ts;
	int r = 0;

	(void)uc;
	(void)ref;
	if (want * 8 > a->struct_output_size)
		want = a->struct_output_size / 8;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(a->scalar_input[1] / 1000);
	ts.tv_nsec += (long)(a->scalar_input[1] % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&K->lock);
	while (got < want) {
		while (!K->len && !K->error)
			if (pthread_cond_timedwait(&K->cond, &K->lock, &ts))
				break;
		if (!K->len)
			break;
		memcpy((uint8_t *)a->struct_output + got * 8, K->ring[K->head], 8);
		K->head = (K->head + 1) % REPORTS;
		K->len--;
		got++;
	}
	if (!got && K->error)
		r = K->error;
	pthread_mutex_unlock(&K->lock);
	a->struct_output_size = got * 8;
	return r;
}

static const struct udk_method_dispatch methods[KBD_SELECTOR_COUNT] = {
	[KBD_GET_INFO] = { get_info, "GetInfo", 0, 0, 0, 6, 0 },
	[KBD_READ] = { read_reports, "ReadReports", 0, 2, 0, 0, UDK_METHOD_VARIABLE },
};

static const struct udk_class kbd_driver = {
	UDK_CLASS_INIT,
	.name = "KbdDriver",
	.ivars_size = sizeof(struct kbd),
	.start = kbd_start,
	.stop = kbd_stop,
};

static const struct udk_class kbd_user_client = {
	UDK_CLASS_INIT,
	.name = "KbdUserClient",
	.methods = methods,
	.n_methods = KBD_SELECTOR_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &kbd_driver, &kbd_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
