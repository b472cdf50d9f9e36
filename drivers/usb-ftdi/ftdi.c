/* SPDX-License-Identifier: MIT */
/*
 * usb-ftdi - a USB-serial driver for the FTDI FT232 (0403:6001): the chip
 * QEMU's usb-serial emulates and models/usb-ftdi simulates, exported as a
 * tty by the serial family (IOUserUSBSerial):
 *
 *	/dev/tty.usbserial-SERIAL and /dev/cu.usbserial-SERIAL
 *
 * SERIAL is the chip's USB serial number, as macOS names FTDI ports.
 *
 * It sets the chip up with vendor requests on the default pipe (reset,
 * 8N1, no flow control, DTR and RTS, a 1 ms latency timer), keeps four bulk
 * IN transfers in flight, strips the two status bytes the chip puts in
 * front of every 64-byte packet (the modem lines go to
 * udk_serial_report_modem, line errors to udk_serial_report_errors) and
 * puts the data in the port's RX ring.  When the ring is full it stops
 * asking the chip for more (the chip NAKs: USB's flow control) until the
 * family says there is room.  Bytes the app writes go out one bulk OUT
 * transfer at a time.  tcsetattr reaches set_line: the baud rate as the
 * FT232's divisor (refused when the divisor cannot come within 3%), data
 * bits, parity, stop bits, and RTS/CTS or XON/XOFF flow control.
 *
 * Everything (USB completions and the port's callbacks) runs on one queue,
 * so the port's state needs no lock; the counters the user client reads
 * have one.  The user client (FtdiUserClient) reports those counters and
 * reads the modem status register; the data goes through the tty.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/driver.h>
#include <udk/families/serial.h>
#include <udk/families/usb.h>
#include <udk/userclient.h>

#include "ftdi.h"

#define IN_FLIGHT 4
#define IN_SIZE 4096
#define OUT_SIZE 4096

enum {
	SIO_RESET = 0,
	SIO_SET_MODEM_CTRL = 1,
	SIO_SET_FLOW_CTRL = 2,
	SIO_SET_BAUD = 3,
	SIO_SET_DATA = 4,
	SIO_GET_MODEM_STATUS = 5,
	SIO_SET_LATENCY = 9,
};

/* SIO_SET_DATA: bits 0-7 data bits, 8-10 parity, 11-13 stop bits, 14 break */
#define DATA_BREAK 0x4000
/* SIO_SET_FLOW_CTRL: wIndex high byte */
#define FLOW_RTS_CTS 0x0100
#define FLOW_XON_XOFF 0x0400

struct in_slot {
	uint32_t len, off;		/* data bytes (status stripped) and how many went to the ring */
};

struct ftdi {
	struct udk_usb_device *dev;
	struct udk_usb_interface *intf;
	struct udk_usb_pipe *in, *out;
	uint16_t in_mps;
	struct udk_queue *q;		/* completions and the port's callbacks */
	struct udk_serial_port *port;
	struct udk_buffer *in_buf, *out_buf;
	struct udk_memory_descriptor *in_md, *out_md;
	/* on q only */
	struct in_slot slot[IN_FLIGHT];
	uint64_t parked[IN_FLIGHT];	/* slots with data the ring had no room for, oldest first */
	unsigned n_parked;
	uint32_t out_len;		/* bytes of the bulk OUT in flight, 0: none */
	uint16_t data_value;		/* the last SIO_SET_DATA, without break */
	uint8_t modem_seen;
	/* shared with the user client and stop */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t bytes_in, bytes_out, overruns, rx_full;
	uint8_t modem;
	uint32_t baud;
	bool stopping;
	unsigned flying;		/* transfers in flight (IN and OUT) */
	int error;
};

static struct ftdi *F;

static const char *
reason(int r)
{
	return udk_error_reason() ? udk_error_reason() : udk_strerror(r);
}

static int
vendor_out(struct ftdi *f, uint8_t req, uint16_t value, uint16_t index)
{
	struct udk_usb_setup s = { UDK_USB_DIR_OUT | UDK_USB_TYPE_VENDOR, req, value, index, 0 };
	return udk_usb_device_request(f->dev, &s, NULL, NULL, 1000);
}

/*
 * The FT232's divisor: 3 MHz / (d + s/8), s in eighths coded oddly.  The
 * rate the chip makes for @baud, and the divisor's wValue / wIndex.
 */
static uint32_t
divisor(uint32_t baud, uint16_t *ret_value, uint16_t *ret_index)
{
	static const uint8_t code[8] = { 0, 3, 2, 4, 1, 5, 6, 7 }; /* eighths -> subdivisor code */
	uint32_t eighths = (24000000u + baud / 2) / baud, d, s;

	if (eighths < 8)
		eighths = 8; /* 3 Mbaud */
	if (eighths > 0x3fff * 8 + 7)
		eighths = 0x3fff * 8 + 7;
	d = eighths / 8;
	s = eighths % 8;
	if (d == 1 && s) /* 1 + fraction is not codable: 1.0 or 1.5 only (the chip's rule) */
		s = s < 4 ? 0 : 4;
	*ret_value = (uint16_t)((d & 0x3fff) | ((code[s] & 3u) << 14));
	*ret_index = (uint16_t)((code[s] >> 2) & 1);
	return 24000000u / (8 * d + s);
}

static int
set_baud(struct ftdi *f, uint32_t baud)
{
	uint16_t value, index;
	uint32_t actual;
	uint64_t diff;
	int r;

	if (baud < 183 || baud > 3000000)
		return udk_error_set(-EINVAL, "the FT232 runs from 183 to 3000000 baud, not %u", baud);
	actual = divisor(baud, &value, &index);
	diff = actual > baud ? actual - baud : baud - actual;
	if (diff * 100 > (uint64_t)baud * 3)
		return udk_error_set(-EINVAL,
				     "the FT232's divisor cannot make %u baud within 3%%: the nearest it makes is %u", baud,
				     actual);
	if ((r = vendor_out(f, SIO_SET_BAUD, value, index)) < 0)
		return r;
	pthread_mutex_lock(&f->lock);
	f->baud = actual;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* ---- device -> app ---- */

static void submit_in(struct ftdi *f, uint64_t slot);

/* Move what the ring takes of @slot's data; true when it is all there. */
static bool
drain_slot(struct ftdi *f, uint64_t slot)
{
	const uint8_t *data = (const uint8_t *)udk_buffer_get_address(f->in_buf) + slot * IN_SIZE;
	struct in_slot *s = &f->slot[slot];

	while (s->off < s->len) {
		void *p;
		size_t room, n;
		if (udk_serial_rx_reserve(f->port, &p, &room) < 0 || !room)
			return false;
		n = s->len - s->off < room ? s->len - s->off : room;
		memcpy(p, data + s->off, n);
		udk_serial_rx_commit(f->port, n);
		s->off += (uint32_t)n;
	}
	return true;
}

/* Under nothing, on q: hand parked data to the ring, resubmit drained slots. */
static void
drain_parked(struct ftdi *f)
{
	while (f->n_parked) {
		uint64_t slot = f->parked[0];
		if (!drain_slot(f, slot))
			return;
		memmove(f->parked, f->parked + 1, (f->n_parked - 1) * sizeof(f->parked[0]));
		f->n_parked--;
		pthread_mutex_lock(&f->lock);
		if (!f->stopping && !f->error)
			submit_in(f, slot);
		pthread_mutex_unlock(&f->lock);
	}
}

static void
in_done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	uint64_t slot = (uint64_t)(uintptr_t)ctx;
	struct ftdi *f = F;
	uint8_t *p = (uint8_t *)udk_buffer_get_address(f->in_buf) + slot * IN_SIZE;
	struct udk_serial_errors errs = { 0 };
	uint32_t w = 0, data = 0;
	bool more;

	(void)pipe;
	if (status < 0) {
		pthread_mutex_lock(&f->lock);
		if (!f->stopping && status != -ECANCELED && !f->error) {
			f->error = status;
			udk_log_error("ftdi: bulk IN failed: %s", reason(status));
		}
		f->flying--;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	/* every packet: the modem status byte, the line status byte, then data;
	 * the data is packed to the front of the slot */
	for (uint32_t off = 0; off < actual; off += f->in_mps) {
		uint32_t n = actual - off < f->in_mps ? actual - off : f->in_mps;
		if (n < 2)
			break;
		if ((p[off] & 0xf0) != f->modem_seen) {
			uint8_t m = p[off];
			f->modem_seen = m & 0xf0;
			udk_serial_report_modem(f->port, (m & 0x10 ? UDK_SERIAL_CTS : 0) | (m & 0x20 ? UDK_SERIAL_DSR : 0) |
								 (m & 0x40 ? UDK_SERIAL_RI : 0) | (m & 0x80 ? UDK_SERIAL_DCD : 0));
		}
		errs.overrun += (p[off + 1] & 0x02) != 0;
		errs.parity += (p[off + 1] & 0x04) != 0;
		errs.framing += (p[off + 1] & 0x08) != 0;
		errs.breaks += (p[off + 1] & 0x10) != 0;
		memmove(p + w, p + off + 2, n - 2);
		w += n - 2;
		data += n - 2;
	}
	if (errs.overrun || errs.parity || errs.framing || errs.breaks)
		udk_serial_report_errors(f->port, &errs);
	f->slot[slot] = (struct in_slot){ w, 0 };
	/* in order: behind parked data, or parked itself when the ring is full */
	if (f->n_parked || !drain_slot(f, slot)) {
		if (!f->n_parked) {
			pthread_mutex_lock(&f->lock);
			f->rx_full++;
			pthread_mutex_unlock(&f->lock);
		}
		f->parked[f->n_parked++] = slot;
		more = false;
	} else {
		more = true;
	}
	pthread_mutex_lock(&f->lock);
	f->bytes_in += data;
	f->overruns += errs.overrun;
	f->modem = p[0];
	if (more && !f->stopping && !f->error)
		submit_in(f, slot);
	f->flying--;
	pthread_cond_broadcast(&f->cond);
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
		udk_log_error("ftdi: cannot queue a bulk IN: %s", reason(r));
		return;
	}
	f->flying++;
}

static void
rx_space(struct udk_serial_port *port, void *ctx)
{
	(void)port;
	drain_parked(ctx);
}

/* ---- app -> device ---- */

static void send_some(struct ftdi *f);

static void
out_done(struct udk_usb_pipe *pipe, int status, uint32_t actual, void *ctx)
{
	struct ftdi *f = ctx;

	(void)pipe;
	if (status >= 0)
		udk_serial_tx_consume(f->port, actual);
	f->out_len = 0;
	pthread_mutex_lock(&f->lock);
	f->flying--;
	if (status >= 0)
		f->bytes_out += actual;
	else if (status != -ECANCELED && !f->stopping && !f->error) {
		f->error = status;
		udk_log_error("ftdi: bulk OUT failed: %s", reason(status));
	}
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (status >= 0)
		send_some(f);
}

/* On q: one bulk OUT at a time, of what waits in the TX ring. */
static void
send_some(struct ftdi *f)
{
	const void *p;
	size_t len;
	int r;

	if (f->out_len || udk_serial_tx_peek(f->port, &p, &len) < 0 || !len)
		return;
	if (len > OUT_SIZE)
		len = OUT_SIZE;
	memcpy(udk_buffer_get_address(f->out_buf), p, len);
	pthread_mutex_lock(&f->lock);
	if (f->stopping || f->error) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	/* no timeout: the chip NAKs while its far side holds it off (CTS, a
	 * full loopback); stop aborts */
	r = udk_usb_pipe_io_async(f->out, f->out_md, 0, (uint32_t)len, 0, f->q, out_done, f);
	if (r < 0) {
		f->error = r;
		udk_log_error("ftdi: cannot queue a bulk OUT: %s", reason(r));
	} else {
		f->flying++;
		f->out_len = (uint32_t)len;
	}
	pthread_mutex_unlock(&f->lock);
}

static void
tx_ready(struct udk_serial_port *port, void *ctx)
{
	(void)port;
	send_some(ctx);
}

/* ---- line settings (IOUserSerial's HwProgram*) ---- */

static int
set_line(struct udk_serial_port *port, const struct udk_serial_line *line, void *ctx)
{
	static const uint16_t parity[] = { 0, 1, 2, 3, 4 };
	struct ftdi *f = ctx;
	uint16_t data, flow = 0, xon = 0;
	int r;

	(void)port;
	if (line->data_bits != 7 && line->data_bits != 8)
		return udk_error_set(-EINVAL, "the FT232 sends 7 or 8 data bits, not %u", line->data_bits);
	if (line->parity > UDK_SERIAL_PARITY_SPACE || (line->stop_bits != 1 && line->stop_bits != 2))
		return udk_error_set(-EINVAL, "parity %u with %u stop bits is not a setting", line->parity, line->stop_bits);
	if ((r = set_baud(f, line->baud)) < 0)
		return r;
	data = (uint16_t)(line->data_bits | parity[line->parity] << 8 | (line->stop_bits == 2 ? 2 : 0) << 11);
	if ((r = vendor_out(f, SIO_SET_DATA, data, 0)) < 0)
		return r;
	f->data_value = data;
	if (line->rts_cts)
		flow = FLOW_RTS_CTS;
	else if (line->xon_xoff || line->xon_xoff_input) {
		flow = FLOW_XON_XOFF;
		xon = (uint16_t)(line->xon_char | line->xoff_char << 8);
	}
	return vendor_out(f, SIO_SET_FLOW_CTRL, xon, flow);
}

static void
set_modem(struct udk_serial_port *port, uint32_t lines, void *ctx)
{
	struct ftdi *f = ctx;
	/* the high byte says which lines the low byte sets */
	uint16_t v = (uint16_t)(0x0300 | (lines & UDK_SERIAL_DTR ? 1 : 0) | (lines & UDK_SERIAL_RTS ? 2 : 0));
	int r;

	(void)port;
	if ((r = vendor_out(f, SIO_SET_MODEM_CTRL, v, 0)) < 0)
		udk_log_error("ftdi: cannot set DTR/RTS: %s", reason(r));
}

static void
set_break(struct udk_serial_port *port, bool on, void *ctx)
{
	struct ftdi *f = ctx;
	int r;

	(void)port;
	if ((r = vendor_out(f, SIO_SET_DATA, (uint16_t)(f->data_value | (on ? DATA_BREAK : 0)), 0)) < 0)
		udk_log_error("ftdi: cannot %s break: %s", on ? "send" : "end", reason(r));
}

static const struct udk_serial_ops serial_ops = {
	UDK_SERIAL_OPS_INIT,
	.set_line = set_line,
	.set_modem = set_modem,
	.set_break = set_break,
	.tx_ready = tx_ready,
	.rx_space = rx_space,
};

/* The suffix from the USB serial number: letters, digits, "_-.+" kept, the rest "_". */
static void
suffix_from(const char *serial, char *buf, size_t len)
{
	size_t i;

	for (i = 0; serial[i] && i + 1 < len && i < 32; i++) {
		char c = serial[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			  c == '-' || c == '.' || c == '+';
		buf[i] = ok ? c : '_';
	}
	buf[i] = 0;
	if (buf[0] == '.' || buf[0] == '-')
		buf[0] = '_';
}

static int
ftdi_start(struct udk_service *self, struct udk_service *provider)
{
	struct ftdi *f = udk_service_get_ivars(self);
	struct udk_usb_interface_iterator *it;
	struct udk_usb_interface *intf;
	struct udk_serial_config cfg = { UDK_SERIAL_CONFIG_INIT };
	char serial[128] = "", suffix[40] = "";
	uint8_t iserial;
	int r;

	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
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
	/* the chip: reset (both FIFOs); the port's first set_line and
	 * set_modem do the rest; the latency timer is optional on clones */
	if ((r = vendor_out(f, SIO_RESET, 0, 0)) < 0)
		return r;
	vendor_out(f, SIO_SET_LATENCY, 1, 0);
	if ((r = udk_queue_create("ftdi", &f->q)) < 0 || (r = udk_buffer_create(IN_FLIGHT * IN_SIZE, 0, &f->in_buf)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(f->in_buf, UDK_MEMORY_DIRECTION_IN, &f->in_md)) < 0 ||
	    (r = udk_buffer_create(OUT_SIZE, 0, &f->out_buf)) < 0 ||
	    (r = udk_memory_descriptor_from_buffer(f->out_buf, UDK_MEMORY_DIRECTION_OUT, &f->out_md)) < 0)
		return r;
	F = f;
	/* the names: IOTTYBaseName from the personality, the serial number as suffix */
	iserial = udk_usb_device_get_descriptor(f->dev)->iSerialNumber;
	if (iserial && udk_usb_device_copy_string(f->dev, iserial, 0, serial, sizeof(serial)) >= 0 && serial[0]) {
		suffix_from(serial, suffix, sizeof(suffix));
		cfg.suffix = suffix;
	}
	cfg.queue = f->q;
	cfg.initial = (struct udk_serial_line){ .struct_size = sizeof(struct udk_serial_line),
						.baud = 115200,
						.data_bits = 8,
						.stop_bits = 1,
						.xon_char = 0x11,
						.xoff_char = 0x13,
						.read_enabled = true };
	if ((r = udk_serial_port_create(self, &cfg, &serial_ops, f, &f->port)) < 0)
		return r;
	pthread_mutex_lock(&f->lock);
	for (uint64_t i = 0; i < IN_FLIGHT; i++)
		submit_in(f, i);
	pthread_mutex_unlock(&f->lock);
	udk_log_info("ftdi: FT232 %04x:%04x at %u baud (%s): %s", udk_usb_device_get_descriptor(f->dev)->idVendor,
		     udk_usb_device_get_descriptor(f->dev)->idProduct, f->baud, udk_usb_device_get_backend(f->dev),
		     udk_serial_port_get_callout_path(f->port));
	return udk_service_register(self);
}

static int
ftdi_stop(struct udk_service *self, struct udk_service *provider)
{
	struct ftdi *f = udk_service_get_ivars(self);
	struct timespec ts;

	(void)provider;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_mutex_unlock(&f->lock);
	/* every transfer completes (-ECANCELED); wait for the completions */
	if (f->in)
		udk_usb_pipe_abort(f->in);
	if (f->out)
		udk_usb_pipe_abort(f->out);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&f->lock);
	while (f->flying)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &ts))
			break;
	pthread_mutex_unlock(&f->lock);
	if (f->port)
		udk_serial_port_destroy(f->port);
	f->port = NULL;
	udk_usb_pipe_unref(f->in);
	udk_usb_pipe_unref(f->out);
	udk_usb_interface_unref(f->intf);
	udk_usb_device_close(f->dev);
	udk_queue_unref(f->q);
	udk_memory_descriptor_unref(f->in_md);
	udk_buffer_unref(f->in_buf);
	udk_memory_descriptor_unref(f->out_md);
	udk_buffer_unref(f->out_buf);
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
	a->scalar_output[7] = F->rx_full;
	pthread_mutex_unlock(&F->lock);
	a->scalar_output_count = 8;
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

static const struct udk_method_dispatch methods[FTDI_SELECTOR_COUNT] = {
	[FTDI_GET_INFO] = { get_info, "GetInfo", 0, 0, 0, 8, 0 },
	[FTDI_MODEM_STATUS] = { do_modem, "ModemStatus", 0, 0, 0, 1, 0 },
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
