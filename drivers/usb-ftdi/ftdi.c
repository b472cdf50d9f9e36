/* SPDX-License-Identifier: MIT */
/*
 * usb-ftdi - a USB-serial driver for the FTDI FT232 (0403:6001): the chip
 * QEMU's usb-serial emulates and models/usb-ftdi simulates.
 *
 * It sets the chip up with vendor requests on the default pipe (reset,
 * 8N1, no flow control, DTR and RTS, a 1 ms latency timer and the baud
 * rate as the FT232's divisor), keeps four bulk IN transfers in flight and
 * strips the two status bytes the chip puts in front of every packet, so
 * readers see the byte stream.  Apps read and write through its user
 * client; the serial family will export it as a tty (docs/families/usb.md
 * says what is missing for that).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/driver.h>
#include <udk/families/usb.h>
#include <udk/userclient.h>

#include "ftdi.h"

#define RING (256u << 10)
#define IN_FLIGHT 4
#define IN_SIZE 4096

enum {
	SIO_RESET = 0,
	SIO_SET_MODEM_CTRL = 1,
	SIO_SET_FLOW_CTRL = 2,
	SIO_SET_BAUD = 3,
	SIO_SET_DATA = 4,
	SIO_GET_MODEM_STATUS = 5,
	SIO_SET_LATENCY = 9,
};

struct ftdi {
	struct udk_usb_device *dev;
	struct udk_usb_interface *intf;
	struct udk_usb_pipe *in, *out;
	uint16_t in_mps;
	struct udk_queue *q;
	struct udk_buffer *in_buf;
	struct udk_memory_descriptor *in_md;
	pthread_mutex_t lock;		/* ring, counters */
	pthread_cond_t cond;
	uint8_t *ring;
	size_t head, len;
	uint64_t bytes_in, bytes_out, overruns;
	uint8_t modem;
	uint32_t baud;
	bool stopping;
	unsigned flying;
	int error;
};

static struct ftdi *F;

static int
vendor_out(struct ftdi *f, uint8_t req, uint16_t value, uint16_t index)
{
	struct udk_usb_setup s = { UDK_USB_DIR_OUT | UDK_USB_TYPE_VENDOR, req, value, index, 0 };
	return udk_usb_device_request(f->dev, &s, NULL, NULL, 1000);
}

/* The FT232's divisor: 24 MHz / (8 * d + s), s in eighths coded oddly. */
static int
set_baud(struct ftdi *f, uint32_t baud, uint32_t *ret_actual)
{
	static const uint8_t code[8] = { 0, 3, 2, 4, 1, 5, 6, 7 }; /* eighths -> subdivisor code */
	uint32_t eighths, d, s;
	int r;

	if (baud < 183 || baud > 3000000)
		return udk_error_set(-EINVAL, "the FT232 runs from 183 to 3000000 baud, not %u", baud);
	eighths = (24000000u + baud / 2) / baud;
	d = eighths / 8;
	s = eighths % 8;
	r = vendor_out(f, SIO_SET_BAUD, (uint16_t)((d & 0x3fff) | ((code[s] & 3u) << 14)), (uint16_t)((code[s] >> 2) & 1));
	if (r >= 0) {
		f->baud = 24000000u / (8 * d + s);
		if (ret_actual)
			*ret_actual = f->baud;
	}
	return r;
}

static void submit_in(struct ftdi *f, uint64_t slot);

static void
in_done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	uint64_t slot = (uint64_t)(uintptr_t)ctx;
	struct ftdi *f = F;
	const uint8_t *p = (const uint8_t *)udk_buffer_get_address(f->in_buf) + slot * IN_SIZE;

	(void)pipe;
	pthread_mutex_lock(&f->lock);
	f->flying--;
	if (status < 0) {
		if (!f->stopping && status != -ECANCELED && !f->error) {
			f->error = status;
			udk_log_error("ftdi: bulk IN failed: %s", udk_error_reason() ? udk_error_reason() : udk_strerror(status));
		}
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	/* every packet: 2 status bytes, then data */
	for (uint32_t off = 0; off < actual; off += f->in_mps) {
		uint32_t n = actual - off < f->in_mps ? actual - off : f->in_mps;
		if (n < 2)
			break;
		f->modem = p[off];
		for (uint32_t k = 2; k < n; k++) {
			if (f->len == RING) {
				f->overruns++;
				continue;
			}
			f->ring[(f->head + f->len) % RING] = p[off + k];
			f->len++;
		}
		f->bytes_in += n - 2;
	}
	pthread_cond_broadcast(&f->cond);
	if (!f->stopping)
		submit_in(f, slot);
	pthread_mutex_unlock(&f->lock);
}

/* Under f->lock. */
static void
submit_in(struct ftdi *f, uint64_t slot)
{
	int r = udk_usb_pipe_io_async(f->in, f->in_md, slot * IN_SIZE, IN_SIZE, 0, f->q, in_done, (void *)(uintptr_t)slot);

	if (r < 0) {
		if (!f->error)
			f->error = r;
		udk_log_error("ftdi: cannot queue a bulk IN: %s", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return;
	}
	f->flying++;
}

static int
ftdi_start(struct udk_service *self, struct udk_service *provider)
{
	struct ftdi *f = udk_service_get_ivars(self);
	struct udk_usb_interface_iterator *it;
	struct udk_usb_interface *intf;
	int r;

	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->ring = malloc(RING);
	if (!f->ring)
		return -ENOMEM;
	if ((r = udk_usb_device_open(provider, &f->dev)) < 0)
		return r;
	/* the whole chip is this driver's: no interface drivers */
	if ((r = udk_usb_device_set_configuration(f->dev, 1, false)) < 0)
		return r;
	if ((r = udk_usb_device_create_interface_iterator(f->dev, &it)) < 0)
		return r;
	if (udk_usb_interface_iterator_next(it, &intf) == 0 && intf)
		f->intf = intf;
	udk_usb_interface_iterator_free(it);
	if (!f->intf)
		return udk_error_set(-ENODEV, "the FT232 has no interface in configuration 1");
	if ((r = udk_usb_interface_open(f->intf)) < 0)
		return r;
	for (unsigned i = 0;; i++) {
		const struct udk_usb_endpoint_descriptor *ep = udk_usb_interface_get_endpoint(f->intf, i);
		if (!ep)
			break;
		if ((ep->bmAttributes & 3) != UDK_USB_TRANSFER_BULK)
			continue;
		if (ep->bEndpointAddress & UDK_USB_ENDPOINT_IN) {
			r = udk_usb_interface_copy_pipe(f->intf, ep->bEndpointAddress, &f->in);
			f->in_mps = ep->wMaxPacketSize & 0x7ff;
		} else {
			r = udk_usb_interface_copy_pipe(f->intf, ep->bEndpointAddress, &f->out);
		}
		if (r < 0)
			return r;
	}
	if (!f->in || !f->out || f->in_mps < 3)
		return udk_error_set(-ENODEV, "the FT232's interface lacks its bulk endpoints");
	/* the chip: reset, 8N1, no flow control, DTR and RTS up, 1 ms latency, 115200 */
	if ((r = vendor_out(f, SIO_RESET, 0, 0)) < 0 || (r = vendor_out(f, SIO_SET_DATA, 8, 0)) < 0 ||
	    (r = vendor_out(f, SIO_SET_FLOW_CTRL, 0, 0)) < 0 || (r = vendor_out(f, SIO_SET_MODEM_CTRL, 0x0303, 0)) < 0 ||
	    (r = set_baud(f, 115200, NULL)) < 0)
		return r;
	/* the latency timer is optional on clones: a refusal is not fatal */
	vendor_out(f, SIO_SET_LATENCY, 1, 0);
	if ((r = udk_queue_create("ftdi-in", &f->q)) < 0 || (r = udk_buffer_create(IN_FLIGHT * IN_SIZE, 0, &f->in_buf)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(f->in_buf, UDK_MEMORY_DIRECTION_IN, &f->in_md)) < 0)
		return r;
	F = f;
	pthread_mutex_lock(&f->lock);
	for (uint64_t i = 0; i < IN_FLIGHT; i++)
		submit_in(f, i);
	pthread_mutex_unlock(&f->lock);
	udk_log_info("ftdi: FT232 %04x:%04x at %u baud (%s)", udk_usb_device_get_descriptor(f->dev)->idVendor,
		     udk_usb_device_get_descriptor(f->dev)->idProduct, f->baud, udk_usb_device_get_backend(f->dev));
	return udk_service_register(self);
}

static int
ftdi_stop(struct udk_service *self, struct udk_service *provider)
{
	struct ftdi *f = udk_service_get_ivars(self);

	(void)provider;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->in)
		udk_usb_pipe_abort(f->in);
	udk_usb_pipe_unref(f->in);
	udk_usb_pipe_unref(f->out);
	udk_usb_interface_unref(f->intf);
	udk_usb_device_close(f->dev);
	udk_queue_unref(f->q);
	udk_memory_descriptor_unref(f->in_md);
	udk_buffer_unref(f->in_buf);
	free(f->ring);
	return 0;
}

/* ---- the user client ---- */

static int
get_info(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	pthread_mutex_lock(&F->lock);
	a->scalar_output[0] = udk_usb_device_get_descriptor(F->dev)->idVendor;
	a->scalar_output[1] = udk_usb_device_get_descriptor(F->dev)->idProduct;
	a->scalar_output[2] = strcmp(udk_usb_device_get_backend(F->dev), "usbfs") == 0;
	a->scalar_output[3] = F->baud;
	a->scalar_output[4] = F->bytes_in;
	a->scalar_output[5] = F->bytes_out;
	a->scalar_output[6] = F->overruns;
	pthread_mutex_unlock(&F->lock);
	a->scalar_output_count = 7;
	return 0;
}

static int
write_md(struct udk_memory_descriptor *md, uint64_t off, uint32_t len, uint32_t timeout, uint32_t *ret)
{
	int r = udk_usb_pipe_io(F->out, md, off, len, timeout, ret);

	if (r >= 0) {
		pthread_mutex_lock(&F->lock);
		F->bytes_out += *ret;
		pthread_mutex_unlock(&F->lock);
	}
	return r;
}

/* Take up to @len bytes out of the ring into @md at @off, waiting until
 * @deadline for the first one. */
static int
read_md(struct udk_memory_descriptor *md, uint64_t off, uint32_t len, uint64_t deadline_ns, uint32_t *ret)
{
	struct timespec ts;
	uint32_t n = 0;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	{
		uint64_t now = udk_time_now_ns(), wait = deadline_ns > now ? deadline_ns - now : 0;
		ts.tv_sec += (time_t)(wait / 1000000000u);
		ts.tv_nsec += (long)(wait % 1000000000u);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&F->lock);
	while (!F->len && !F->error && !F->stopping)
		if (pthread_cond_timedwait(&F->cond, &F->lock, &ts))
			break;
	if (!F->len && F->error)
		r = F->error;
	while (n < len && F->len) {
		size_t k = RING - F->head;
		if (k > F->len)
			k = F->len;
		if (k > len - n)
			k = len - n;
		udk_memory_descriptor_write(md, off + n, F->ring + F->head, k);
		F->head = (F->head + k) % RING;
		F->len -= k;
		n += (uint32_t)k;
	}
	pthread_mutex_unlock(&F->lock);
	*ret = n;
	return r;
}

static int
do_io(struct udk_service *uc, struct udk_method_args *a, bool in)
{
	const struct ftdi_io *req = a->struct_input;
	struct udk_address_segment seg = { req->addr, req->length };
	struct udk_memory_descriptor *md = NULL;
	uint32_t n = 0;
	int r;

	if (!req->length)
		return udk_error_set(-EINVAL, "a transfer of 0 bytes");
	r = udk_user_client_create_memory_descriptor(uc, in ? UDK_MEMORY_DIRECTION_IN : UDK_MEMORY_DIRECTION_OUT, 1, &seg, &md);
	if (r < 0)
		return r;
	if (in)
		r = read_md(md, 0, req->length, udk_time_now_ns() + (uint64_t)req->timeout_ms * 1000000u, &n);
	else
		r = write_md(md, 0, req->length, req->timeout_ms, &n);
	udk_memory_descriptor_unref(md);
	if (r < 0)
		return r;
	a->scalar_output[0] = n;
	a->scalar_output_count = 1;
	return 0;
}

static int
do_write(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)ref;
	return do_io(uc, a, false);
}

static int
do_read(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)ref;
	return do_io(uc, a, true);
}

static int
do_set_baud(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint32_t actual = 0;
	int r;

	(void)uc;
	(void)ref;
	if (a->scalar_input[0] > UINT32_MAX)
		return udk_error_set(-EINVAL, "a baud rate fits in 32 bits");
	r = set_baud(F, (uint32_t)a->scalar_input[0], &actual);
	if (r < 0)
		return r;
	a->scalar_output[0] = actual;
	a->scalar_output_count = 1;
	return 0;
}

static int
do_modem(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct udk_usb_setup s = { UDK_USB_DIR_IN | UDK_USB_TYPE_VENDOR, SIO_GET_MODEM_STATUS, 0, 0, 2 };
	uint8_t st[2] = { 0 };
	uint32_t n = 0;
	int r;

	(void)uc;
	(void)ref;
	if ((r = udk_usb_device_request(F->dev, &s, st, &n, 1000)) < 0)
		return r;
	a->scalar_output[0] = st[0] & 0xf0;
	a->scalar_output_count = 1;
	return 0;
}

/* Write and read back at once, so a loopback on the other side never
 * overflows: at most @chunk bytes ahead. */
static int
do_loop(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct ftdi_loop *req = a->struct_input;
	struct udk_address_segment so = { req->out, req->length }, si = { req->in, req->length };
	struct udk_memory_descriptor *om = NULL, *im = NULL;
	uint32_t sent = 0, got = 0, chunk = req->chunk ? req->chunk : 4096;
	uint64_t deadline;
	int r;

	(void)ref;
	if (!req->length)
		return udk_error_set(-EINVAL, "a loop of 0 bytes");
	if ((r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &so, &om)) < 0)
		return r;
	if ((r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &si, &im)) < 0)
		goto out;
	deadline = udk_time_now_ns() + (uint64_t)(req->timeout_ms ? req->timeout_ms : 10000) * 1000000u;
	while (got < req->length) {
		uint32_t n = 0;
		if (sent < req->length && sent - got < chunk) {
			uint32_t k = req->length - sent < chunk ? req->length - sent : chunk;
			if ((r = write_md(om, sent, k, 5000, &n)) < 0)
				goto out;
			sent += n;
		}
		if ((r = read_md(im, got, req->length - got, deadline, &n)) < 0)
			goto out;
		got += n;
		if (!n && udk_time_now_ns() >= deadline) {
			r = udk_error_set(-ETIMEDOUT, "%u of %u bytes came back before the timeout", got, req->length);
			goto out;
		}
	}
	a->scalar_output[0] = got;
	a->scalar_output_count = 1;
out:
	udk_memory_descriptor_unref(om);
	udk_memory_descriptor_unref(im);
	return r;
}

#define V UDK_METHOD_VARIABLE
static const struct udk_method_dispatch methods[FTDI_SELECTOR_COUNT] = {
	[FTDI_GET_INFO] = { get_info, "GetInfo", 0, 0, 0, 7, 0 },
	[FTDI_WRITE] = { do_write, "Write", 0, 0, sizeof(struct ftdi_io), 1, 0 },
	[FTDI_READ] = { do_read, "Read", 0, 0, sizeof(struct ftdi_io), 1, 0 },
	[FTDI_SET_BAUD] = { do_set_baud, "SetBaud", 0, 1, 0, 1, 0 },
	[FTDI_MODEM_STATUS] = { do_modem, "ModemStatus", 0, 0, 0, 1, 0 },
	[FTDI_LOOP] = { do_loop, "Loop", 0, 0, sizeof(struct ftdi_loop), 1, 0 },
};

static const struct udk_class ftdi_driver = {
	UDK_CLASS_INIT,
	.name = "FtdiDriver",
	.ivars_size = sizeof(struct ftdi),
	.start = ftdi_start,
	.stop = ftdi_stop,
};

static const struct udk_class ftdi_user_client = {
	UDK_CLASS_INIT,
	.name = "FtdiUserClient",
	.methods = methods,
	.n_methods = FTDI_SELECTOR_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &ftdi_driver, &ftdi_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
