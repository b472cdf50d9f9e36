/* SPDX-License-Identifier: MIT */
/*
 * testusb - the USB family's test driver, on the usb-test model
 * (models/usb-test).  Every call of <udk/families/usb.h> behind a
 * selector of its user client (testusb.h).
 *
 * Classes:
 *   TestUsbDriver           on an IOUSBHostDevice; personality key
 *                           UDKTestMode: "configure" (default: set
 *                           configuration 1 and open every interface but
 *                           those UDKTestSkip lists) or "no-configure"
 *   TestUsbInterfaceDriver  on an IOUSBHostInterface: opens it
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/usb.h>
#include <udk/userclient.h>

#include "testusb.h"

struct tu {
	struct udk_usb_device *dev;
	struct udk_usb_interface *ifs[4];
	struct udk_usb_interface *own;		/* interface drivers */
	struct udk_usb_pipe *out, *in, *intr, *cdc_in;
	struct udk_queue *q;
	unsigned n_iter;
	pthread_mutex_t busy_lock;
	pthread_cond_t busy_cond;
	unsigned busy;				/* calls in flight */
};

static struct tu *T;

static void
busy(int d)
{
	pthread_mutex_lock(&T->busy_lock);
	T->busy += (unsigned)d;
	pthread_cond_broadcast(&T->busy_cond);
	pthread_mutex_unlock(&T->busy_lock);
}

static int
open_interfaces(struct tu *t, const char *skip)
{
	struct udk_usb_interface_iterator *it;
	struct udk_usb_interface *intf;
	int r;

	t->n_iter = 0;
	r = udk_usb_device_create_interface_iterator(t->dev, &it);
	if (r < 0)
		return r;
	while ((r = udk_usb_interface_iterator_next(it, &intf)) == 0 && intf) {
		uint8_t n = udk_usb_interface_get_descriptor(intf)->bInterfaceNumber;
		char key[4];
		t->n_iter++;
		snprintf(key, sizeof(key), "%u", n);
		if (n < 4 && !(skip && strstr(skip, key)) && udk_usb_interface_open(intf) == 0)
			t->ifs[n] = udk_usb_interface_ref(intf);
		udk_usb_interface_unref(intf);
	}
	udk_usb_interface_iterator_free(it);
	if (r < 0)
		return r;
	if (t->ifs[0]) {
		if ((r = udk_usb_interface_copy_pipe(t->ifs[0], 0x01, &t->out)) < 0 ||
		    (r = udk_usb_interface_copy_pipe(t->ifs[0], 0x81, &t->in)) < 0 ||
		    (r = udk_usb_interface_copy_pipe(t->ifs[0], 0x82, &t->intr)) < 0)
			return r;
	}
	if (t->ifs[2] && (r = udk_usb_interface_copy_pipe(t->ifs[2], 0x84, &t->cdc_in)) < 0)
		return r;
	return 0;
}

static void
drop_interfaces(struct tu *t)
{
	udk_usb_pipe_unref(t->out);
	udk_usb_pipe_unref(t->in);
	udk_usb_pipe_unref(t->intr);
	udk_usb_pipe_unref(t->cdc_in);
	t->out = t->in = t->intr = t->cdc_in = NULL;
	for (int i = 0; i < 4; i++) {
		udk_usb_interface_unref(t->ifs[i]);
		t->ifs[i] = NULL;
	}
}

static int
dev_start(struct udk_service *self, struct udk_service *provider)
{
	struct tu *t = udk_service_get_ivars(self);
	char mode[32] = "configure", skip[32] = "";
	int r;

	pthread_mutex_init(&t->busy_lock, NULL);
	pthread_cond_init(&t->busy_cond, NULL);
	udk_service_get_string_property(self, "UDKTestMode", mode, sizeof(mode));
	udk_service_get_string_property(self, "UDKTestSkip", skip, sizeof(skip));
	if ((r = udk_queue_create("testusb-io", &t->q)) < 0)
		return r;
	if ((r = udk_usb_device_open(provider, &t->dev)) < 0)
		return r;
	T = t;
	if (strcmp(mode, "no-configure") != 0) {
		if ((r = udk_usb_device_set_configuration(t->dev, 1, true)) < 0)
			return r;
		if ((r = open_interfaces(t, skip)) < 0)
			return r;
	}
	udk_log_info("testusb: %s, configuration %u, %u interfaces iterated", mode,
		     udk_usb_device_get_configuration(t->dev), t->n_iter);
	return udk_service_register(self);
}

static int
stop_common(struct udk_service *self)
{
	struct tu *t = udk_service_get_ivars(self);
	struct timespec ts;

	/* calls in flight end by themselves first (an unplug fails their transfers) */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&t->busy_lock);
	bool waited = t->busy != 0;
	while (t->busy)
		if (pthread_cond_timedwait(&t->busy_cond, &t->busy_lock, &ts))
			break;
	pthread_mutex_unlock(&t->busy_lock);
	/* a call that just ended still has its reply to send: once this stop
	 * returns udkd may end the process before that thread runs again */
	if (waited)
		usleep(200000);
	drop_interfaces(t);
	udk_usb_interface_unref(t->own);
	if (t->dev)
		udk_usb_device_close(t->dev);
	udk_queue_unref(t->q);
	return 0;
}

static int
dev_stop(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	return stop_common(self);
}

static int
iface_start(struct udk_service *self, struct udk_service *provider)
{
	struct tu *t = udk_service_get_ivars(self);
	int r;

	pthread_mutex_init(&t->busy_lock, NULL);
	pthread_cond_init(&t->busy_cond, NULL);
	if ((r = udk_queue_create("testusb-io", &t->q)) < 0)
		return r;
	if ((r = udk_usb_interface_open_provider(provider, &t->own)) < 0)
		return r;
	T = t;
	for (unsigned i = 0;; i++) {
		const struct udk_usb_endpoint_descriptor *ep = udk_usb_interface_get_endpoint(t->own, i);
		if (!ep)
			break;
		if ((ep->bEndpointAddress & 0x80) && (ep->bmAttributes & 3) == UDK_USB_TRANSFER_BULK && !t->in &&
		    (r = udk_usb_interface_copy_pipe(t->own, ep->bEndpointAddress, &t->in)) < 0)
			return r;
	}
	udk_log_info("testusb: interface %u (class 0x%02x) opened",
		     udk_usb_interface_get_descriptor(t->own)->bInterfaceNumber,
		     udk_usb_interface_get_descriptor(t->own)->bInterfaceClass);
	return udk_service_register(self);
}

static int
iface_stop(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	return stop_common(self);
}

/* ---- helpers ---- */

static int
new_md(uint64_t size, uint32_t dir, struct udk_buffer **rb, struct udk_memory_descriptor **ret)
{
	int r = udk_buffer_create(size, 0, rb);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_from_buffer(*rb, dir, ret);
	if (r < 0)
		udk_buffer_unref(*rb);
	return r;
}

static int
vendor(uint8_t type, uint8_t req, uint16_t value, uint16_t index, void *data, uint16_t len, uint32_t *actual)
{
	struct udk_usb_setup s = { type, req, value, index, len };
	return udk_usb_device_request(T->dev, &s, data, actual, 2000);
}

struct waitc {
	pthread_mutex_t m;
	pthread_cond_t c;
	int left;
	int status[16];
	uint32_t actual[16];
	int n;
};

static void
waitc_done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	struct waitc *w = ctx;

	(void)pipe;
	pthread_mutex_lock(&w->m);
	if (w->n < 16) {
		w->status[w->n] = status;
		w->actual[w->n] = actual;
	}
	w->n++;
	w->left--;
	pthread_cond_broadcast(&w->c);
	pthread_mutex_unlock(&w->m);
}

static void
waitc_init(struct waitc *w, int n)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->c, NULL);
	w->left = n;
}

static bool
waitc_wait(struct waitc *w, int seconds)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&w->m);
	while (w->left > 0 && ok)
		ok = pthread_cond_timedwait(&w->c, &w->m, &ts) == 0;
	pthread_mutex_unlock(&w->m);
	return w->left <= 0;
}

/* ---- selectors ---- */

#define OUT1(v) (a->scalar_output[0] = (uint64_t)(v), a->scalar_output_count = 1)

static int
s_info(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_usb_device *dev = T->dev ? T->dev : udk_usb_interface_get_device(T->own);
	const struct udk_usb_device_descriptor *d = udk_usb_device_get_descriptor(dev);

	(void)uc;
	(void)ref;
	a->scalar_output[0] = d->idVendor;
	a->scalar_output[1] = d->idProduct;
	a->scalar_output[2] = d->bcdUSB;
	a->scalar_output[3] = d->bNumConfigurations;
	a->scalar_output[4] = udk_usb_device_get_configuration(dev);
	a->scalar_output[5] = T->own ? udk_usb_interface_get_descriptor(T->own)->bInterfaceNumber : T->n_iter;
	a->scalar_output[6] = strcmp(udk_usb_device_get_backend(dev), "usbfs") == 0;
	a->scalar_output[7] = udk_usb_device_get_speed(dev);
	a->scalar_output_count = 8;
	return 0;
}

static int
s_iter(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_usb_interface_iterator *it;
	struct udk_usb_interface *intf;
	uint8_t *o = a->struct_output;
	size_t n = 0;
	int r;

	(void)uc;
	(void)ref;
	if ((r = udk_usb_device_create_interface_iterator(T->dev, &it)) < 0)
		return r;
	while ((r = udk_usb_interface_iterator_next(it, &intf)) == 0 && intf) {
		const struct udk_usb_interface_descriptor *d = udk_usb_interface_get_descriptor(intf);
		if (n + 6 <= a->struct_output_size) {
			o[n] = d->bInterfaceNumber;
			o[n + 1] = d->bInterfaceClass;
			o[n + 2] = d->bInterfaceSubClass;
			o[n + 3] = d->bInterfaceProtocol;
			o[n + 4] = d->bNumEndpoints;
			o[n + 5] = (uint8_t)udk_usb_interface_get_alternate_count(intf);
			n += 6;
		}
		udk_usb_interface_unref(intf);
	}
	udk_usb_interface_iterator_free(it);
	a->struct_output_size = n;
	return r;
}

static int
s_string(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	int r;

	(void)uc;
	(void)ref;
	r = udk_usb_device_copy_string(T->dev, (uint8_t)a->scalar_input[0], 0, a->struct_output, a->struct_output_size);
	if (r < 0)
		return r;
	a->struct_output_size = (size_t)r;
	return 0;
}

static int
s_bos(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	void *p = NULL;
	size_t n = 0;
	int r;

	(void)uc;
	(void)ref;
	if ((r = udk_usb_device_copy_bos(T->dev, &p, &n)) < 0)
		return r;
	if (n > a->struct_output_size)
		n = a->struct_output_size;
	memcpy(a->struct_output, p, n);
	a->struct_output_size = n;
	free(p);
	return 0;
}

static int
s_config_desc(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct udk_usb_configuration_descriptor *c;
	size_t n = 0;
	int r;

	(void)uc;
	(void)ref;
	r = udk_usb_device_get_configuration_descriptor(T->dev, (uint8_t)a->scalar_input[0], &c, &n);
	if (r < 0)
		return r;
	if (n > a->struct_output_size)
		n = a->struct_output_size;
	memcpy(a->struct_output, c, n);
	a->struct_output_size = n;
	return 0;
}

static int
s_set_config(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	int r;

	(void)uc;
	(void)ref;
	drop_interfaces(T);
	r = udk_usb_device_set_configuration(T->dev, (uint8_t)a->scalar_input[0], a->scalar_input[1] != 0);
	if (r >= 0 && a->scalar_input[0] == 1)
		r = open_interfaces(T, NULL);
	return r;
}

static int
s_control_echo(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint8_t buf[256];
	uint32_t n = 0;
	int r;

	(void)uc;
	(void)ref;
	memcpy(buf, a->struct_input, a->struct_input_size);
	if ((r = vendor(0x40, 0x01, 0, 0, buf, (uint16_t)a->struct_input_size, &n)) < 0)
		return r;
	memset(buf, 0, sizeof(buf));
	if ((r = vendor(0xc0, 0x01, 0, 0, buf, (uint16_t)a->struct_output_size, &n)) < 0)
		return r;
	memcpy(a->struct_output, buf, n);
	a->struct_output_size = n;
	return 0;
}

static int
s_vendor(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	return vendor((uint8_t)a->scalar_input[0], (uint8_t)a->scalar_input[1], (uint16_t)a->scalar_input[2],
		      (uint16_t)a->scalar_input[3], NULL, 0, NULL);
}

static int
s_bulk_loop(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint32_t len = (uint32_t)a->scalar_input[0], got = 0, sent = 0;
	struct udk_buffer *ob = NULL, *ib = NULL;
	struct udk_memory_descriptor *om = NULL, *im = NULL;
	uint8_t *op, *ip;
	uint64_t ok = 0;
	int r;

	(void)uc;
	(void)ref;
	if ((r = new_md(len, UDK_MEMORY_DIRECTION_OUT, &ob, &om)) < 0 || (r = new_md(len, UDK_MEMORY_DIRECTION_IN, &ib, &im)) < 0)
		goto out;
	op = udk_buffer_get_address(ob);
	ip = udk_buffer_get_address(ib);
	for (uint32_t i = 0; i < len; i++)
		op[i] = (uint8_t)(i * 7 + 3);
	if ((r = udk_usb_pipe_io(T->out, om, 0, len, 2000, &sent)) < 0)
		goto out;
	while (got < len) {
		uint32_t n = 0;
		if ((r = udk_usb_pipe_io(T->in, im, got, len - got, 2000, &n)) < 0)
			goto out;
		got += n;
	}
	for (uint32_t i = 0; i < len; i++)
		ok += ip[i] == (uint8_t)(i * 7 + 3);
	OUT1(ok);
	r = 0;
out:
	udk_memory_descriptor_unref(om);
	udk_memory_descriptor_unref(im);
	udk_buffer_unref(ob);
	udk_buffer_unref(ib);
	return r;
}

static int
s_bulk_app(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t len = a->scalar_input[2];
	struct udk_address_segment so = { a->scalar_input[0], len }, si = { a->scalar_input[1], len };
	struct udk_memory_descriptor *om = NULL, *im = NULL;
	struct waitc w;
	uint64_t got = 0;
	int r;

	(void)ref;
	if ((r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &so, &om)) < 0)
		return r;
	if ((r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &si, &im)) < 0)
		goto out;
	waitc_init(&w, 2);
	if ((r = udk_usb_pipe_io_async(T->out, om, 0, (uint32_t)len, 2000, T->q, waitc_done, &w)) < 0)
		goto out;
	if ((r = udk_usb_pipe_io_async(T->in, im, 0, (uint32_t)len, 2000, T->q, waitc_done, &w)) < 0) {
		w.left = 1;
		waitc_wait(&w, 5);
		goto out;
	}
	if (!waitc_wait(&w, 10)) {
		r = udk_error_set(-ETIMEDOUT, "completions did not come");
		goto out;
	}
	for (int i = 0; i < 2; i++)
		if (w.status[i] < 0)
			r = w.status[i];
	got = w.actual[0] > w.actual[1] ? w.actual[0] : w.actual[1];
	OUT1(got);
out:
	udk_memory_descriptor_unref(om);
	udk_memory_descriptor_unref(im);
	return r;
}

static int
s_intr(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t n = a->scalar_input[0], sum = 0;
	int r;

	(void)uc;
	(void)ref;
	if ((r = vendor(0x40, 0x10, (uint16_t)n, 0, NULL, 0, NULL)) < 0)
		return r;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t rep[8];
		uint32_t got = 0, c;
		if ((r = udk_usb_pipe_io_buffer(T->intr, rep, sizeof(rep), 2000, &got)) < 0)
			return r;
		if (got != 8 || memcmp(rep + 4, "udkR", 4) != 0)
			return udk_error_set(-EBADMSG, "report %llu is not a report (%u bytes)", (unsigned long long)i, got);
		memcpy(&c, rep, 4);
		sum += c;
	}
	OUT1(sum);
	return 0;
}

static int
s_timeout(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint8_t rep[8];
	uint64_t t0 = udk_time_now_ns();
	int r;

	(void)uc;
	(void)ref;
	r = udk_usb_pipe_io_buffer(T->intr, rep, sizeof(rep), (uint32_t)a->scalar_input[0], NULL);
	a->scalar_output[0] = (uint64_t)(int64_t)r;
	a->scalar_output[1] = (udk_time_now_ns() - t0) / 1000000u;
	a->scalar_output_count = 2;
	return 0;
}

static int
s_abort(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_buffer *b = NULL;
	struct udk_memory_descriptor *md = NULL;
	struct waitc w;
	int r;

	(void)uc;
	(void)ref;
	if ((r = new_md(8, UDK_MEMORY_DIRECTION_IN, &b, &md)) < 0)
		return r;
	waitc_init(&w, 1);
	r = udk_usb_pipe_io_async(T->intr, md, 0, 8, 0, T->q, waitc_done, &w);
	if (r >= 0) {
		/* the transfer is at the device, waiting for a report that never comes */
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
		r = udk_usb_pipe_abort(T->intr);
		a->scalar_output[1] = (uint64_t)(int64_t)r;
		r = waitc_wait(&w, 5) ? 0 : udk_error_set(-ETIMEDOUT, "the aborted transfer never completed");
		a->scalar_output[0] = (uint64_t)(int64_t)w.status[0];
		a->scalar_output_count = 2;
	}
	udk_memory_descriptor_unref(md);
	udk_buffer_unref(b);
	return r;
}

static int
s_stall(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint8_t buf[64];
	int r;

	(void)uc;
	(void)ref;
	if ((r = vendor(0x40, 0x20, 0, 0x84, NULL, 0, NULL)) < 0)
		return r;
	r = udk_usb_pipe_io_buffer(T->cdc_in, buf, sizeof(buf), 2000, NULL);
	a->scalar_output[0] = (uint64_t)(int64_t)r;
	a->scalar_output[1] = udk_usb_pipe_is_halted(T->cdc_in);
	a->scalar_output[2] = udk_usb_pipe_get_stall_count(T->cdc_in);
	{
		/* another pipe of the device is not affected */
		uint8_t x[4] = { 1, 2, 3, 4 }, y[4] = { 0 };
		uint32_t n = 0;
		int r1 = udk_usb_pipe_io_buffer(T->out, x, 4, 2000, NULL);
		int r2 = udk_usb_pipe_io_buffer(T->in, y, 4, 2000, &n);
		a->scalar_output[3] = r1 == 0 && r2 == 0 && n == 4 && memcmp(x, y, 4) == 0;
	}
	r = udk_usb_pipe_clear_stall(T->cdc_in, true);
	if (r < 0)
		return r;
	r = udk_usb_pipe_io_buffer(T->cdc_in, buf, sizeof(buf), 2000, NULL);
	a->scalar_output[4] = (uint64_t)(int64_t)r;
	a->scalar_output[5] = udk_usb_pipe_is_halted(T->cdc_in);
	a->scalar_output_count = 6;
	return 0;
}

static int
s_iso(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint32_t n = (uint32_t)a->scalar_input[0];
	struct udk_usb_pipe *in = NULL, *out = NULL;
	struct udk_buffer *b = NULL;
	struct udk_memory_descriptor *md = NULL, *omd = NULL;
	struct udk_usb_iso_packet *pk = calloc(n ? n : 1, sizeof(*pk));
	uint64_t total = 0, ok = 1;
	uint32_t stats[6] = { 0 }, got = 0;
	int r;

	(void)uc;
	(void)ref;
	if (!pk)
		return -ENOMEM;
	if ((r = udk_usb_interface_select_alternate_setting(T->ifs[1], 1)) < 0)
		goto out;
	if ((r = udk_usb_interface_copy_pipe(T->ifs[1], 0x83, &in)) < 0 ||
	    (r = udk_usb_interface_copy_pipe(T->ifs[1], 0x03, &out)) < 0)
		goto out;
	if ((r = new_md((uint64_t)n * 192, UDK_MEMORY_DIRECTION_INOUT, &b, &md)) < 0)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		pk[i].length = 192;
	r = udk_usb_pipe_isoch_io(in, md, 0, pk, n, 2000);
	a->scalar_output[0] = (uint64_t)(int64_t)r;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = (const uint8_t *)udk_buffer_get_address(b) + (size_t)i * 192;
		total += pk[i].actual;
		if (pk[i].actual && (p[0] != p[pk[i].actual - 1] || pk[i].status))
			ok = 0;
		if (i && pk[i].actual && p[0] != (uint8_t)(((const uint8_t *)udk_buffer_get_address(b))[0] + i))
			ok = 0;
	}
	a->scalar_output[1] = total;
	a->scalar_output[2] = n ? pk[0].actual : 0;
	a->scalar_output[3] = ok;
	udk_memory_descriptor_from_buffer(b, UDK_MEMORY_DIRECTION_OUT, &omd);
	for (uint32_t i = 0; i < n; i++)
		pk[i].length = 192;
	r = udk_usb_pipe_isoch_io(out, omd, 0, pk, n, 2000);
	a->scalar_output[4] = (uint64_t)(int64_t)r;
	vendor(0xc0, 0x30, 0, 0, stats, sizeof(stats), &got);
	a->scalar_output[5] = stats[3];
	a->scalar_output_count = 6;
	r = udk_usb_interface_select_alternate_setting(T->ifs[1], 0);
	/* the old setting's pipe is gone with it */
	if (r >= 0 && udk_usb_pipe_isoch_io(in, md, 0, pk, 1, 2000) != -ECANCELED)
		r = udk_error_set(-EPROTO, "a pipe of the old alternate setting still worked");
out:
	udk_usb_pipe_unref(in);
	udk_usb_pipe_unref(out);
	udk_memory_descriptor_unref(md);
	udk_memory_descriptor_unref(omd);
	udk_buffer_unref(b);
	free(pk);
	return r;
}

static int
s_alts(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct udk_usb_interface_descriptor *a0 = udk_usb_interface_get_alternate(T->ifs[1], 0);
	const struct udk_usb_interface_descriptor *a1 = udk_usb_interface_get_alternate(T->ifs[1], 1);

	(void)uc;
	(void)ref;
	a->scalar_output[0] = udk_usb_interface_get_alternate_count(T->ifs[1]);
	a->scalar_output[1] = a0 ? a0->bNumEndpoints : 99;
	a->scalar_output[2] = a1 ? a1->bNumEndpoints : 99;
	a->scalar_output[3] = udk_usb_interface_get_alternate(T->ifs[1], 7) == NULL;
	a->scalar_output_count = 4;
	return 0;
}

static int
s_wait_in(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t n = a->scalar_input[0];
	struct udk_buffer *b = NULL;
	struct udk_memory_descriptor *md = NULL;
	struct waitc w;
	uint8_t buf[64];
	uint64_t gone = 0;
	int r;

	(void)uc;
	(void)ref;
	if (n > 8)
		n = 8;
	busy(1);
	if ((r = new_md(64 * 8, UDK_MEMORY_DIRECTION_IN, &b, &md)) < 0) {
		busy(-1);
		return r;
	}
	waitc_init(&w, (int)n);
	for (uint64_t i = 0; i < n; i++)
		if (udk_usb_pipe_io_async(T->intr, md, i * 64, 8, 0, T->q, waitc_done, &w) < 0)
			w.left--;
	/* waits for ever: only the device going away ends it */
	r = udk_usb_pipe_io_buffer(T->in, buf, sizeof(buf), 0, NULL);
	waitc_wait(&w, 5);
	for (int i = 0; i < w.n && i < 16; i++)
		gone += w.status[i] == -UDK_E_HARDWARE_GONE;
	a->scalar_output[0] = (uint64_t)(int64_t)r;
	a->scalar_output[1] = gone;
	a->scalar_output_count = 2;
	udk_memory_descriptor_unref(md);
	udk_buffer_unref(b);
	busy(-1);
	/* the status is the answer: the call itself worked */
	return 0;
}

static int
s_crash(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_buffer *b = NULL;
	struct udk_memory_descriptor *md = NULL;
	static struct waitc w;

	(void)uc;
	(void)ref;
	(void)a;
	new_md(64, UDK_MEMORY_DIRECTION_IN, &b, &md);
	waitc_init(&w, 1);
	udk_usb_pipe_io_async(T->in, md, 0, 64, 0, T->q, waitc_done, &w);
	raise(SIGKILL);
	return 0;
}

static int
s_reset(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_buffer *b = NULL;
	struct udk_memory_descriptor *md = NULL;
	struct waitc w;
	int r;

	(void)uc;
	(void)ref;
	if ((r = new_md(64, UDK_MEMORY_DIRECTION_IN, &b, &md)) < 0)
		return r;
	waitc_init(&w, 1);
	if ((r = udk_usb_pipe_io_async(T->in, md, 0, 64, 0, T->q, waitc_done, &w)) >= 0) {
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
		r = udk_usb_device_reset(T->dev);
		a->scalar_output[1] = (uint64_t)(int64_t)r;
		r = waitc_wait(&w, 5) ? 0 : udk_error_set(-ETIMEDOUT, "the transfer never completed after the reset");
		a->scalar_output[0] = (uint64_t)(int64_t)w.status[0];
		a->scalar_output_count = 2;
	}
	udk_memory_descriptor_unref(md);
	udk_buffer_unref(b);
	return r;
}

static int
s_open_iface(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_usb_interface_iterator *it;
	struct udk_usb_interface *intf;
	int r, status = -ENOENT;

	(void)uc;
	(void)ref;
	if ((r = udk_usb_device_create_interface_iterator(T->dev, &it)) < 0)
		return r;
	while (udk_usb_interface_iterator_next(it, &intf) == 0 && intf) {
		if (udk_usb_interface_get_descriptor(intf)->bInterfaceNumber == a->scalar_input[0]) {
			status = udk_usb_interface_open(intf);
			if (status == 0 && a->scalar_input[0] < 4 && !T->ifs[a->scalar_input[0]])
				T->ifs[a->scalar_input[0]] = udk_usb_interface_ref(intf);
		}
		udk_usb_interface_unref(intf);
	}
	udk_usb_interface_iterator_free(it);
	OUT1((int64_t)status);
	return 0;
}

static int
s_stats(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint32_t v[6] = { 0 }, n = 0;
	int r;

	(void)uc;
	(void)ref;
	if ((r = vendor(0xc0, 0x30, 0, 0, v, sizeof(v), &n)) < 0)
		return r;
	for (int i = 0; i < 6; i++)
		a->scalar_output[i] = v[i];
	a->scalar_output_count = 6;
	return 0;
}

static int
s_iface_read(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint8_t buf[64];
	uint32_t n = 0;
	int r;

	(void)uc;
	(void)ref;
	if (!T->in)
		return udk_error_set(-ENOENT, "the interface has no bulk IN endpoint");
	if ((r = udk_usb_pipe_io_buffer(T->in, buf, sizeof(buf), 2000, &n)) < 0)
		return r;
	a->scalar_output[0] = n;
	a->scalar_output[1] = n ? buf[0] : 0;
	a->scalar_output_count = 2;
	return 0;
}

#define V UDK_METHOD_VARIABLE
static const struct udk_method_dispatch methods[U_COUNT] = {
	[U_INFO] = { s_info, "Info", 0, 0, 0, 8, 0 },
	[U_ITER] = { s_iter, "Iterate", 0, 0, 0, 0, V },
	[U_STRING] = { s_string, "String", 0, 1, 0, 0, V },
	[U_BOS] = { s_bos, "Bos", 0, 0, 0, 0, V },
	[U_CONFIG_DESC] = { s_config_desc, "ConfigurationDescriptor", 0, 1, 0, 0, V },
	[U_SET_CONFIG] = { s_set_config, "SetConfiguration", 0, 2, 0, 0, 0 },
	[U_CONTROL_ECHO] = { s_control_echo, "ControlEcho", 0, 0, V, 0, V },
	[U_VENDOR] = { s_vendor, "Vendor", 0, 4, 0, 0, 0 },
	[U_BULK_LOOP] = { s_bulk_loop, "BulkLoop", 0, 1, 0, 1, 0 },
	[U_BULK_APP] = { s_bulk_app, "BulkApp", 0, 3, 0, 1, 0 },
	[U_INTR] = { s_intr, "Interrupt", 0, 1, 0, 1, 0 },
	[U_TIMEOUT] = { s_timeout, "Timeout", 0, 1, 0, 2, 0 },
	[U_ABORT] = { s_abort, "Abort", 0, 0, 0, 2, 0 },
	[U_STALL] = { s_stall, "Stall", 0, 0, 0, 6, 0 },
	[U_ISO] = { s_iso, "Isochronous", 0, 1, 0, 6, 0 },
	[U_ALTS] = { s_alts, "Alternates", 0, 0, 0, 4, 0 },
	[U_WAIT_IN] = { s_wait_in, "WaitIn", 0, 1, 0, 2, 0 },
	[U_CRASH] = { s_crash, "Crash", 0, 0, 0, 0, 0 },
	[U_RESET] = { s_reset, "Reset", 0, 0, 0, 2, 0 },
	[U_OPEN_IFACE] = { s_open_iface, "OpenInterface", 0, 1, 0, 1, 0 },
	[U_STATS] = { s_stats, "Stats", 0, 0, 0, 6, 0 },
	[U_IFACE_READ] = { s_iface_read, "InterfaceRead", 0, 0, 0, 2, 0 },
};

static const struct udk_class dev_class = {
	UDK_CLASS_INIT,
	.name = "TestUsbDriver",
	.ivars_size = sizeof(struct tu),
	.start = dev_start,
	.stop = dev_stop,
};

static const struct udk_class iface_class = {
	UDK_CLASS_INIT,
	.name = "TestUsbInterfaceDriver",
	.ivars_size = sizeof(struct tu),
	.start = iface_start,
	.stop = iface_stop,
};

static const struct udk_class uc_class = {
	UDK_CLASS_INIT,
	.name = "TestUsbUserClient",
	.methods = methods,
	.n_methods = U_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &dev_class, &iface_class, &uc_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
