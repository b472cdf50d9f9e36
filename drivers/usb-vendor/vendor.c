/* SPDX-License-Identifier: MIT */
/*
 * usb-vendor - the forum's question, answered: a driver for a vendor-class
 * USB device (bDeviceClass 0, bInterfaceClass 0xFF) with bulk IN and OUT.
 *
 * As in the question, it matches IOUSBHostDevice, opens the device, sets
 * its configuration and walks the interfaces with an interface iterator.
 * The iterator returns every interface of the configuration, the
 * vendor-specific one included; the driver opens it, finds its bulk
 * endpoints and copies their pipes.  Its app streams bytes out and back
 * through the device (the simulated loopback returns what it receives),
 * or reads and writes raw packets (a real FTDI chip in the guest rig).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/usb.h>
#include <udk/userclient.h>

#include "vendor.h"

struct vendor {
	struct udk_usb_device *dev;
	struct udk_usb_interface *intf;
	struct udk_usb_pipe *in, *out;
	struct udk_queue *io_q;		/* where transfer completions run */
	uint64_t info[VI_COUNT];
	pthread_mutex_t lock;		/* one app at a time */
};

static struct vendor *drv;

static int
vendor_start(struct udk_service *self, struct udk_service *provider)
{
	struct vendor *v = udk_service_get_ivars(self);
	const struct udk_usb_configuration_descriptor *cd;
	struct udk_usb_interface_iterator *it;
	struct udk_usb_interface *intf;
	size_t len;
	int r;

	pthread_mutex_init(&v->lock, NULL);
	/* device->Open() */
	r = udk_usb_device_open(provider, &v->dev);
	if (r < 0)
		return r;
	/* device->SetConfiguration(): the first configuration, interfaces matched */
	r = udk_usb_device_get_configuration_descriptor(v->dev, 0, &cd, &len);
	if (r < 0)
		return udk_error_set(r, "the device's first configuration is unusable: %s", udk_error_reason());
	r = udk_usb_device_set_configuration(v->dev, cd->bConfigurationValue, true);
	if (r < 0)
		return r;
	/* device->CreateInterfaceIterator(): every interface, vendor class included */
	r = udk_usb_device_create_interface_iterator(v->dev, &it);
	if (r < 0)
		return r;
	while ((r = udk_usb_interface_iterator_next(it, &intf)) == 0 && intf) {
		const struct udk_usb_interface_descriptor *id = udk_usb_interface_get_descriptor(intf);
		v->info[VI_INTERFACES]++;
		if (!v->intf && id->bInterfaceClass == UDK_USB_CLASS_VENDOR_SPECIFIC)
			v->intf = udk_usb_interface_ref(intf);
		udk_usb_interface_unref(intf);
	}
	udk_usb_interface_iterator_free(it);
	if (r < 0)
		return r;
	if (!v->intf)
		return udk_error_set(-ENODEV, "the configuration has %llu interfaces and none of class 0xFF",
				     (unsigned long long)v->info[VI_INTERFACES]);
	r = udk_usb_interface_open(v->intf);
	if (r < 0)
		return r;
	/* its bulk pipes */
	for (unsigned i = 0;; i++) {
		const struct udk_usb_endpoint_descriptor *ep = udk_usb_interface_get_endpoint(v->intf, i);
		if (!ep)
			break;
		if ((ep->bmAttributes & 3) != UDK_USB_TRANSFER_BULK)
			continue;
		if ((ep->bEndpointAddress & UDK_USB_ENDPOINT_IN) && !v->in)
			r = udk_usb_interface_copy_pipe(v->intf, ep->bEndpointAddress, &v->in);
		else if (!(ep->bEndpointAddress & UDK_USB_ENDPOINT_IN) && !v->out)
			r = udk_usb_interface_copy_pipe(v->intf, ep->bEndpointAddress, &v->out);
		if (r < 0)
			return r;
	}
	if (!v->in || !v->out)
		return udk_error_set(-ENODEV, "the vendor interface lacks a bulk IN or a bulk OUT endpoint");
	r = udk_queue_create("usb-vendor-io", &v->io_q);
	if (r < 0)
		return r;
	v->info[VI_VENDOR] = udk_usb_device_get_descriptor(v->dev)->idVendor;
	v->info[VI_PRODUCT] = udk_usb_device_get_descriptor(v->dev)->idProduct;
	v->info[VI_CLASS] = udk_usb_interface_get_descriptor(v->intf)->bInterfaceClass;
	v->info[VI_INTERFACE] = udk_usb_interface_get_descriptor(v->intf)->bInterfaceNumber;
	v->info[VI_EP_IN] = udk_usb_pipe_get_descriptor(v->in)->bEndpointAddress;
	v->info[VI_EP_OUT] = udk_usb_pipe_get_descriptor(v->out)->bEndpointAddress;
	v->info[VI_MAX_PACKET] = udk_usb_pipe_get_descriptor(v->in)->wMaxPacketSize;
	v->info[VI_CONFIGURATION] = udk_usb_device_get_configuration(v->dev);
	v->info[VI_BACKEND] = strcmp(udk_usb_device_get_backend(v->dev), "usbfs") == 0;
	v->info[VI_INTERFACE_ID] = udk_usb_interface_get_id(v->intf);
	udk_log_info("vendor device %04llx:%04llx: interface %llu of class 0x%02llx, bulk IN 0x%02llx, OUT 0x%02llx (%s)",
		     (unsigned long long)v->info[VI_VENDOR], (unsigned long long)v->info[VI_PRODUCT],
		     (unsigned long long)v->info[VI_INTERFACE], (unsigned long long)v->info[VI_CLASS],
		     (unsigned long long)v->info[VI_EP_IN], (unsigned long long)v->info[VI_EP_OUT],
		     udk_usb_device_get_backend(v->dev));
	drv = v;
	return udk_service_register(self);
}

static int
vendor_stop(struct udk_service *self, struct udk_service *provider)
{
	struct vendor *v = udk_service_get_ivars(self);

	(void)provider;
	udk_usb_pipe_unref(v->in);
	udk_usb_pipe_unref(v->out);
	udk_usb_interface_unref(v->intf);
	udk_usb_device_close(v->dev);
	udk_queue_unref(v->io_q);
	return 0;
}

/* ---- the user client ---- */

static int
get_info(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	memcpy(a->scalar_output, drv->info, sizeof(drv->info));
	a->scalar_output_count = VI_COUNT;
	return 0;
}

/* A stream out and back, with @depth transfers of each direction in flight. */
struct loop_run {
	pthread_mutex_t m;
	pthread_cond_t c;
	struct udk_memory_descriptor *out, *in;
	uint64_t length, sent_next, recv_next, received;
	uint32_t chunk;
	unsigned out_flying, in_flying;
	int error;
	char why[200];
};

static void submit_more(struct loop_run *l);

static void
fail(struct loop_run *l, int status)
{
	if (!l->error) {
		l->error = status;
		snprintf(l->why, sizeof(l->why), "%s", udk_error_reason() ? udk_error_reason() : udk_strerror(status));
	}
}

static void
out_done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	struct loop_run *l = ctx;

	(void)pipe;
	(void)actual;
	pthread_mutex_lock(&l->m);
	l->out_flying--;
	if (status < 0)
		fail(l, status);
	submit_more(l);
	pthread_cond_signal(&l->c);
	pthread_mutex_unlock(&l->m);
}

static void
in_done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	struct loop_run *l = ctx;

	(void)pipe;
	pthread_mutex_lock(&l->m);
	l->in_flying--;
	if (status < 0)
		fail(l, status);
	else
		l->received += actual;
	submit_more(l);
	pthread_cond_signal(&l->c);
	pthread_mutex_unlock(&l->m);
}

/* Under l->m. */
static void
submit_more(struct loop_run *l)
{
	unsigned depth = 8;
	int r;

	while (!l->error && l->out_flying < depth && l->sent_next < l->length) {
		uint32_t n = (uint32_t)(l->length - l->sent_next < l->chunk ? l->length - l->sent_next : l->chunk);
		r = udk_usb_pipe_io_async(drv->out, l->out, l->sent_next, n, 10000, drv->io_q, out_done, l);
		if (r < 0) {
			fail(l, r);
			break;
		}
		l->sent_next += n;
		l->out_flying++;
	}
	while (!l->error && l->in_flying < depth && l->recv_next < l->length) {
		uint32_t n = (uint32_t)(l->length - l->recv_next < l->chunk ? l->length - l->recv_next : l->chunk);
		r = udk_usb_pipe_io_async(drv->in, l->in, l->recv_next, n, 10000, drv->io_q, in_done, l);
		if (r < 0) {
			fail(l, r);
			break;
		}
		l->recv_next += n;
		l->in_flying++;
	}
}

static int
loop(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct vendor_loop *req = a->struct_input;
	struct udk_address_segment so = { req->out, req->length }, si = { req->in, req->length };
	struct loop_run l = { .chunk = req->chunk };
	int r;

	(void)ref;
	if (!req->length || req->chunk < 512 || req->chunk > (16u << 20) || req->chunk % 512)
		return udk_error_set(-EINVAL, "a loop moves at least one byte in chunks of 512 bytes to 16 MiB, whole "
					      "packets");
	pthread_mutex_lock(&drv->lock);
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &so, &l.out);
	if (r >= 0)
		r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &si, &l.in);
	if (r < 0) {
		udk_memory_descriptor_unref(l.out);
		pthread_mutex_unlock(&drv->lock);
		return r;
	}
	l.length = req->length;
	pthread_mutex_init(&l.m, NULL);
	pthread_cond_init(&l.c, NULL);
	pthread_mutex_lock(&l.m);
	submit_more(&l);
	while (l.out_flying || l.in_flying)
		pthread_cond_wait(&l.c, &l.m);
	pthread_mutex_unlock(&l.m);
	udk_memory_descriptor_unref(l.out);
	udk_memory_descriptor_unref(l.in);
	pthread_mutex_unlock(&drv->lock);
	if (l.error)
		return udk_error_set(l.error, "%s", l.why);
	a->scalar_output[0] = l.received;
	a->scalar_output_count = 1;
	return 0;
}

static int
raw_io(struct udk_service *uc, struct udk_method_args *a, bool in)
{
	const struct vendor_io *req = a->struct_input;
	struct udk_address_segment seg = { req->addr, req->length };
	struct udk_memory_descriptor *md = NULL;
	uint32_t actual = 0;
	int r;

	if (!req->length)
		return udk_error_set(-EINVAL, "a transfer of 0 bytes");
	r = udk_user_client_create_memory_descriptor(uc, in ? UDK_MEMORY_DIRECTION_IN : UDK_MEMORY_DIRECTION_OUT, 1, &seg,
						     &md);
	if (r < 0)
		return r;
	r = udk_usb_pipe_io(in ? drv->in : drv->out, md, 0, req->length, req->timeout_ms, &actual);
	udk_memory_descriptor_unref(md);
	if (r < 0)
		return r;
	a->scalar_output[0] = actual;
	a->scalar_output_count = 1;
	return 0;
}

static int
do_write(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)ref;
	return raw_io(uc, a, false);
}

static int
do_read(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)ref;
	return raw_io(uc, a, true);
}

static int
get_strings(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct udk_usb_device_descriptor *dd = udk_usb_device_get_descriptor(drv->dev);
	uint8_t idx[3] = { dd->iManufacturer, dd->iProduct, dd->iSerialNumber };
	char *out = a->struct_output, s[256];
	size_t off = 0;

	(void)uc;
	(void)ref;
	for (int i = 0; i < 3; i++) {
		int r = idx[i] ? udk_usb_device_copy_string(drv->dev, idx[i], 0, s, sizeof(s)) : 0;
		if (r < 0)
			return r;
		if (!idx[i])
			s[0] = 0;
		if (off + strlen(s) + 1 > a->struct_output_size)
			return udk_error_set(-ENOBUFS, "give room for three strings");
		memcpy(out + off, s, strlen(s) + 1);
		off += strlen(s) + 1;
	}
	a->struct_output_size = off;
	return 0;
}

#define V UDK_METHOD_VARIABLE
static const struct udk_method_dispatch methods[VENDOR_SELECTOR_COUNT] = {
	[VENDOR_GET_INFO] = { get_info, "GetInfo", 0, 0, 0, VI_COUNT, 0 },
	[VENDOR_LOOP] = { loop, "Loop", 0, 0, sizeof(struct vendor_loop), 1, 0 },
	[VENDOR_WRITE] = { do_write, "Write", 0, 0, sizeof(struct vendor_io), 1, 0 },
	[VENDOR_READ] = { do_read, "Read", 0, 0, sizeof(struct vendor_io), 1, 0 },
	[VENDOR_STRINGS] = { get_strings, "Strings", 0, 0, 0, 0, V },
};

static const struct udk_class vendor_driver = {
	UDK_CLASS_INIT,
	.name = "VendorDriver",
	.ivars_size = sizeof(struct vendor),
	.start = vendor_start,
	.stop = vendor_stop,
};

static const struct udk_class vendor_user_client = {
	UDK_CLASS_INIT,
	.name = "VendorUserClient",
	.methods = methods,
	.n_methods = VENDOR_SELECTOR_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &vendor_driver, &vendor_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
