/* SPDX-License-Identifier: MIT */
/*
 * usb.c - the USB family API for drivers (<udk/families/usb.h>).
 *
 * Every call checks its arguments and the state here (is the interface
 * open, is the pipe of the current alternate setting, does the memory
 * descriptor allow the direction), then goes to the backend udkd named
 * when the provider was opened: "sim" or "usbfs".  Transfers are
 * asynchronous in every backend; a synchronous call waits for its
 * completion.  Completions of asynchronous transfers are dispatched to the
 * queue the caller named, exactly once.
 */
#include <stdatomic.h>

#include "private.h"
#include "proto-usb.h"
#include "usb-private.h"
#include "util.h"

#define LANG_US_ENGLISH 0x0409

/* The device lives while the driver, an interface, an iterator or a transfer holds it. */
static struct udk_usb_device *
dev_ref(struct udk_usb_device *dev)
{
	__atomic_add_fetch(&dev->refs, 1, __ATOMIC_RELAXED);
	return dev;
}

static void
dev_unref(struct udk_usb_device *dev)
{
	if (!dev || __atomic_sub_fetch(&dev->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	usb_descs_free(dev->descs);
	free(dev->ifaces);
	udk_service_unref(dev->provider);
	pthread_cond_destroy(&dev->cond);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

int
usb_unsupported(struct udk_usb_device *dev, const char *what)
{
	return udk_set_reason(-UDK_E_UNSUPPORTED, "%s is not possible with the %s backend", what, dev->be->name);
}

static int
gone(struct udk_usb_device *dev)
{
	return udk_set_reason(-UDK_E_HARDWARE_GONE, "%s",
			      dev->gone_reason[0] ? dev->gone_reason : "the USB device is gone (unplugged)");
}

void
usb_device_gone(struct udk_usb_device *dev, const char *why)
{
	pthread_mutex_lock(&dev->lock);
	if (!dev->gone) {
		dev->gone = true;
		snprintf(dev->gone_reason, sizeof(dev->gone_reason), "%s", why ? why : "the USB device is gone");
	}
	pthread_cond_broadcast(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
}

static const struct usb_backend *
backend_named(const char *name)
{
	if (streq(name, "sim"))
		return &usb_sim_backend;
	if (streq(name, "usbfs"))
		return &usb_usbfs_backend;
	return NULL;
}

/* Open @provider through udkd's broker; @want_iface: an interface nub. */
static int
open_provider(struct udk_service *provider, bool want_iface, struct udk_usb_device **ret, int *ret_iface)
{
	struct udk_value *body, *reply = NULL;
	const struct usb_backend *be;
	struct udk_usb_device *dev;
	const uint8_t *blob;
	size_t len = 0;
	int fds[2] = { -1, -1 }, r;
	int64_t iface;

	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	r = rt_call_fds(OP_DRV_OPEN_PROVIDER, body, &reply, fds, 1);
	udk_value_unref(body);
	if (r < 0)
		return r;
	be = backend_named(udk_dict_get_string(reply, "backend"));
	blob = udk_value_get_data(udk_dict_get(reply, "descriptors"), &len);
	iface = udk_dict_get_int(reply, "interface", -1);
	if (!be || fds[0] < 0 || !blob) {
		if (fds[0] >= 0)
			close(fds[0]);
		udk_value_unref(reply);
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the USB provider with an unknown backend");
	}
	if (want_iface != (iface >= 0)) {
		close(fds[0]);
		udk_value_unref(reply);
		return udk_set_reason(-EINVAL, want_iface ? "the provider is a USB device: open it with udk_usb_device_open()"
							  : "the provider is a USB interface: open it with "
							    "udk_usb_interface_open_provider()");
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(fds[0]);
		udk_value_unref(reply);
		return -ENOMEM;
	}
	dev->refs = 1;
	dev->be = be;
	dev->provider = udk_service_ref(provider);
	dev->nub = udk_value_get_uint(udk_dict_get(reply, "device"), 0);
	dev->speed = (enum udk_usb_speed)udk_dict_get_int(reply, "speed", 0);
	dev->config = (uint8_t)udk_dict_get_int(reply, "configuration", 0);
	dev->scope = (int)iface;
	dev->next_id = 1;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_cond_init(&dev->cond, NULL);
	r = usb_descs_parse(blob, len, &dev->descs);
	if (r >= 0)
		r = be->open(dev, reply, fds[0]);
	else
		close(fds[0]);
	udk_value_unref(reply);
	if (r < 0) {
		dev_unref(dev);
		return r;
	}
	*ret = dev;
	if (ret_iface)
		*ret_iface = (int)iface;
	return 0;
}

UDK_EXPORT int
udk_usb_device_open(struct udk_service *provider, struct udk_usb_device **ret)
{
	udk_return_val_if_fail(provider && ret, -EINVAL);
	return open_provider(provider, false, ret, NULL);
}

static void cancel_pending(struct udk_usb_device *dev, struct udk_usb_pipe *pipe, int status);

UDK_EXPORT void
udk_usb_device_close(struct udk_usb_device *dev)
{
	struct timespec ts;

	if (!dev)
		return;
	pthread_mutex_lock(&dev->lock);
	dev->closing = true;
	pthread_mutex_unlock(&dev->lock);
	cancel_pending(dev, NULL, -ECANCELED);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&dev->lock);
	while (dev->pending && !dev->gone)
		if (pthread_cond_timedwait(&dev->cond, &dev->lock, &ts))
			break;
	pthread_mutex_unlock(&dev->lock);
	/* the backend ends whatever is left (the channel closes) */
	dev->be->close(dev);
	usb_device_gone(dev, "the device was closed");
	pthread_mutex_lock(&dev->lock);
	for (size_t i = 0; i < dev->n_ifaces; i++)
		dev->ifaces[i]->stale = true;
	pthread_mutex_unlock(&dev->lock);
	dev_unref(dev);
}

UDK_EXPORT const char *
udk_usb_device_get_backend(const struct udk_usb_device *dev)
{
	return dev ? dev->be->name : NULL;
}

UDK_EXPORT enum udk_usb_speed
udk_usb_device_get_speed(const struct udk_usb_device *dev)
{
	return dev ? dev->speed : UDK_USB_SPEED_UNKNOWN;
}

UDK_EXPORT const struct udk_usb_device_descriptor *
udk_usb_device_get_descriptor(const struct udk_usb_device *dev)
{
	return dev ? &dev->descs->dev : NULL;
}

UDK_EXPORT int
udk_usb_device_get_configuration_descriptor(struct udk_usb_device *dev, uint8_t index,
					    const struct udk_usb_configuration_descriptor **ret, size_t *ret_len)
{
	const struct usb_config *c;

	udk_return_val_if_fail(dev && ret, -EINVAL);
	if (index >= dev->descs->n_configs)
		return udk_set_reason(-ENOENT, "the device has %u configuration%s; there is no index %u",
				      dev->descs->n_configs, dev->descs->n_configs == 1 ? "" : "s", index);
	c = &dev->descs->configs[index];
	*ret = (const struct udk_usb_configuration_descriptor *)(const void *)c->raw;
	if (ret_len)
		*ret_len = c->len;
	if (c->problem)
		return udk_set_reason(-EINVAL, "%s", c->problem);
	return 0;
}

UDK_EXPORT uint8_t
udk_usb_device_get_configuration(const struct udk_usb_device *dev)
{
	return dev ? dev->config : 0;
}

/* ---- transfers ---- */

struct usb_xfer *
usb_xfer_find(struct udk_usb_device *dev, uint64_t id)
{
	for (struct usb_xfer *x = dev->pending; x; x = x->next)
		if (x->id == id)
			return x;
	return NULL;
}

static void
xfer_free(struct usb_xfer *x)
{
	struct udk_usb_device *dev = x->dev;

	udk_memory_descriptor_unref(x->md);
	udk_usb_pipe_unref(x->pipe);
	if (x->queue)
		udk_queue_unref(x->queue);
	free(x->packets);
	free(x);
	dev_unref(dev);
}

static void
run_completion(void *data)
{
	struct usb_xfer *x = data;

	if (x->status < 0 && x->reason[0])
		udk_set_reason_str(x->reason);
	if (x->iso_fn)
		x->iso_fn(x->pipe, x->status, x->packets, x->n_packets, x->ctx);
	else if (x->fn)
		x->fn(x->pipe, x->status, x->actual, x->ctx);
	xfer_free(x);
}

static const char *
status_reason(struct usb_xfer *x, int status)
{
	switch (status) {
	case -EPIPE:
		return x->type == UDK_USB_TRANSFER_CONTROL ? "the device stalled the request (it refused it)"
							   : "the endpoint halted (stalled): clear it with "
							     "udk_usb_pipe_clear_stall()";
	case -ETIMEDOUT:
		return "the transfer did not complete in time and was cancelled";
	case -ECANCELED:
		return "the transfer was aborted";
	case -EOVERFLOW:
		return "the device sent more than was asked for (babble)";
	default:
		return NULL;
	}
}

void
usb_xfer_done(struct usb_xfer *x, int status, uint32_t actual, const char *reason)
{
	struct udk_usb_device *dev = x->dev;
	struct usb_xfer **pp;

	if (status >= 0)
		status = 0;
	if (status == 0 && x->short_not_ok && actual < x->length) {
		status = -EREMOTEIO;
		reason = "the device sent less than asked for";
	}
	pthread_mutex_lock(&dev->lock);
	for (pp = &dev->pending; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	x->next = NULL;
	if (x->pipe) {
		if (x->pipe->pending)
			x->pipe->pending--;
		if (status == -EPIPE) {
			atomic_store(&x->pipe->halted, true);
			atomic_fetch_add(&x->pipe->stalls, 1);
		}
	}
	x->status = status;
	x->actual = MIN(actual, x->length);
	if (status < 0) {
		const char *r = reason ? reason : status_reason(x, status);
		if (status == -EPIPE && x->pipe)
			snprintf(x->reason, sizeof(x->reason), "endpoint 0x%02x: %s", x->endpoint, r ? r : "stalled");
		else
			snprintf(x->reason, sizeof(x->reason), "%s", r ? r : udk_strerror(status));
	}
	/* isochronous: the caller's array gets the results */
	if (x->user_packets && x->packets)
		memcpy(x->user_packets, x->packets, x->n_packets * sizeof(*x->packets));
	if (x->sync) {
		x->done = true;
		pthread_cond_broadcast(&dev->cond);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	pthread_cond_broadcast(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
	if (udk_queue_dispatch_async(x->queue, run_completion, x) < 0)
		xfer_free(x); /* the queue is gone, and whoever waited on it */
}

static struct usb_xfer *
xfer_new(struct udk_usb_device *dev, struct udk_usb_pipe *pipe)
{
	struct usb_xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->dev = dev_ref(dev);
	x->pipe = pipe ? udk_usb_pipe_ref(pipe) : NULL;
	if (pipe) {
		x->endpoint = pipe->d.bEndpointAddress;
		x->type = pipe->d.bmAttributes & 3;
		x->in = (x->endpoint & UDK_USB_ENDPOINT_IN) != 0;
	}
	return x;
}

/* Start @x; on failure it is completed with the error (sync ones are waited for by the caller). */
static int
xfer_start(struct usb_xfer *x)
{
	struct udk_usb_device *dev = x->dev;
	int r;

	if (x->timeout_ms)
		x->deadline_ns = now_ns() + (uint64_t)x->timeout_ms * 1000000ull;
	pthread_mutex_lock(&dev->lock);
	if (dev->gone || dev->closing) {
		pthread_mutex_unlock(&dev->lock);
		return dev->gone ? gone(dev) : udk_set_reason(-ECANCELED, "the device is being closed");
	}
	x->id = dev->next_id++;
	x->next = dev->pending;
	dev->pending = x;
	if (x->pipe)
		x->pipe->pending++;
	pthread_mutex_unlock(&dev->lock);
	r = dev->be->submit(dev, x);
	if (r < 0) {
		const char *why = udk_error_reason();
		char copy[200];
		snprintf(copy, sizeof(copy), "%s", why ? why : udk_strerror(r));
		usb_xfer_done(x, r, 0, copy);
	}
	return 0;
}

/* Wait for a synchronous @x, free it and return its status. */
static int
xfer_wait(struct usb_xfer *x, uint32_t *ret_actual)
{
	struct udk_usb_device *dev = x->dev;
	int r;

	if (dev->be->wait)
		dev->be->wait(dev, x);
	pthread_mutex_lock(&dev->lock);
	while (!x->done)
		pthread_cond_wait(&dev->cond, &dev->lock);
	pthread_mutex_unlock(&dev->lock);
	r = x->status;
	if (ret_actual)
		*ret_actual = x->actual;
	if (r < 0)
		udk_set_reason_str(x->reason);
	{
		char keep[200];
		snprintf(keep, sizeof(keep), "%s", x->reason);
		xfer_free(x);
		if (r < 0)
			udk_set_reason_str(keep);
	}
	return r;
}

static int
run_sync(struct usb_xfer *x, uint32_t *ret_actual)
{
	int r;

	x->sync = true;
	r = xfer_start(x);
	if (r < 0) {
		xfer_free(x);
		return r;
	}
	return xfer_wait(x, ret_actual);
}

static int
run_async(struct usb_xfer *x, struct udk_queue *q)
{
	int r;

	x->queue = udk_queue_ref(q);
	r = xfer_start(x);
	if (r < 0)
		xfer_free(x);
	return r;
}

static void
cancel_pending(struct udk_usb_device *dev, struct udk_usb_pipe *pipe, int status)
{
	pthread_mutex_lock(&dev->lock);
	for (struct usb_xfer *x = dev->pending; x; x = x->next)
		if ((!pipe || x->pipe == pipe) && !x->cancel_sent) {
			x->cancel_sent = true;
			dev->be->cancel(dev, x, status);
		}
	pthread_mutex_unlock(&dev->lock);
}

static int
check_md(struct udk_memory_descriptor *md, uint64_t offset, uint32_t length, bool in)
{
	uint32_t dir = udk_memory_descriptor_get_direction(md);

	if (offset > udk_memory_descriptor_get_length(md) || length > udk_memory_descriptor_get_length(md) - offset)
		return udk_set_reason(-UDK_E_BAD_ADDRESS, "range %llu+%u is outside the memory descriptor's %llu bytes",
				      (unsigned long long)offset, length,
				      (unsigned long long)udk_memory_descriptor_get_length(md));
	if (in && !(dir & UDK_MEMORY_DIRECTION_IN))
		return udk_set_reason(-UDK_E_DIRECTION,
				      "an IN transfer writes the memory, but the descriptor's direction is OUT: create it "
				      "with UDK_MEMORY_DIRECTION_IN or INOUT");
	if (!in && !(dir & UDK_MEMORY_DIRECTION_OUT))
		return udk_set_reason(-UDK_E_DIRECTION,
				      "an OUT transfer reads the memory, but the descriptor's direction is IN: create it "
				      "with UDK_MEMORY_DIRECTION_OUT or INOUT");
	if (length > PROTO_USB_MAX_TRANSFER)
		return udk_set_reason(-EINVAL, "one transfer moves at most %u bytes", PROTO_USB_MAX_TRANSFER);
	return 0;
}

/* ---- the default pipe ---- */

static int
request_check(struct udk_usb_device *dev, const struct udk_usb_setup *setup)
{
	if (dev->gone)
		return gone(dev);
	if (setup->bmRequestType == 0 && setup->bRequest == UDK_USB_REQ_SET_CONFIGURATION)
		return udk_set_reason(-EINVAL, "set a configuration with udk_usb_device_set_configuration(), so udkd "
					       "publishes its interfaces");
	return 0;
}

UDK_EXPORT int
udk_usb_device_request(struct udk_usb_device *dev, const struct udk_usb_setup *setup, void *data,
		       uint32_t *ret_actual, uint32_t timeout_ms)
{
	struct usb_xfer *x;
	int r;

	udk_return_val_if_fail(dev && setup && (data || !setup->wLength), -EINVAL);
	if ((r = request_check(dev, setup)) < 0)
		return r;
	x = xfer_new(dev, NULL);
	if (!x)
		return -ENOMEM;
	x->type = UDK_USB_TRANSFER_CONTROL;
	x->in = (setup->bmRequestType & UDK_USB_DIR_IN) != 0;
	x->endpoint = x->in ? 0x80 : 0x00;
	x->setup = *setup;
	x->buf = data;
	x->length = setup->wLength;
	x->timeout_ms = timeout_ms;
	return run_sync(x, ret_actual);
}

UDK_EXPORT int
udk_usb_device_request_async(struct udk_usb_device *dev, const struct udk_usb_setup *setup,
			     struct udk_memory_descriptor *md, uint64_t offset, uint32_t timeout_ms,
			     struct udk_queue *queue, udk_usb_completion_fn fn, void *ctx)
{
	struct usb_xfer *x;
	bool in;
	int r;

	udk_return_val_if_fail(dev && setup && queue && fn && (md || !setup->wLength), -EINVAL);
	in = (setup->bmRequestType & UDK_USB_DIR_IN) != 0;
	if ((r = request_check(dev, setup)) < 0 || (md && (r = check_md(md, offset, setup->wLength, in)) < 0))
		return r;
	x = xfer_new(dev, NULL);
	if (!x)
		return -ENOMEM;
	x->type = UDK_USB_TRANSFER_CONTROL;
	x->in = in;
	x->endpoint = in ? 0x80 : 0x00;
	x->setup = *setup;
	if (md) {
		x->md = udk_memory_descriptor_ref(md);
		x->offset = offset;
		x->buf = md_address(md) + offset;
	}
	x->length = setup->wLength;
	x->timeout_ms = timeout_ms;
	x->fn = fn;
	x->ctx = ctx;
	return run_async(x, queue);
}

UDK_EXPORT int
udk_usb_device_copy_string(struct udk_usb_device *dev, uint8_t index, uint16_t language, char *buf, size_t len)
{
	struct udk_usb_setup s = { 0x80, UDK_USB_REQ_GET_DESCRIPTOR, (uint16_t)(UDK_USB_DT_STRING << 8 | index),
				   language ? language : LANG_US_ENGLISH, 255 };
	uint8_t raw[255];
	uint32_t n = 0;
	int r;

	udk_return_val_if_fail(dev && buf && len, -EINVAL);
	if (index == 0)
		return udk_set_reason(-EINVAL, "string index 0 is the list of languages, not a string");
	r = udk_usb_device_request(dev, &s, raw, &n, 1000);
	if (r < 0)
		return r;
	return usb_string_to_utf8(raw, n, buf, len);
}

UDK_EXPORT int
udk_usb_device_copy_bos(struct udk_usb_device *dev, void **ret, size_t *ret_len)
{
	struct udk_usb_setup s = { 0x80, UDK_USB_REQ_GET_DESCRIPTOR, UDK_USB_DT_BOS << 8, 0, 5 };
	uint8_t head[5];
	uint32_t n = 0;
	uint16_t total;
	void *p;
	int r;

	udk_return_val_if_fail(dev && ret, -EINVAL);
	if (dev->descs->dev.bcdUSB < 0x0201)
		return udk_set_reason(-ENOENT, "a USB %x.%02x device has no BOS descriptor (USB 2.01 and later have one)",
				      dev->descs->dev.bcdUSB >> 8, dev->descs->dev.bcdUSB & 0xff);
	r = udk_usb_device_request(dev, &s, head, &n, 1000);
	if (r == -EPIPE)
		return udk_set_reason(-ENOENT, "the device has no BOS descriptor (it stalled the request)");
	if (r < 0)
		return r;
	total = usb_le16(head + 2);
	if (n < 5 || head[1] != UDK_USB_DT_BOS || total < 5)
		return udk_set_reason(-EINVAL, "the device's BOS descriptor is malformed (%u bytes, type 0x%02x)", n,
				      n > 1 ? head[1] : 0);
	p = malloc(total);
	if (!p)
		return -ENOMEM;
	s.wLength = total;
	r = udk_usb_device_request(dev, &s, p, &n, 1000);
	if (r < 0 || n != total) {
		free(p);
		return r < 0 ? r : udk_set_reason(-EINVAL, "the BOS descriptor says %u bytes but %u came", total, n);
	}
	*ret = p;
	if (ret_len)
		*ret_len = total;
	return 0;
}

/* ---- configurations ---- */

static int
device_only(struct udk_usb_device *dev, const char *what)
{
	if (dev->scope >= 0)
		return udk_set_reason(-EPERM, "%s is for the driver of the device; this driver has one interface (%d)",
				      what, dev->scope);
	return 0;
}

UDK_EXPORT int
udk_usb_device_set_configuration(struct udk_usb_device *dev, uint8_t value, bool match_interfaces)
{
	const struct usb_config *c;
	struct udk_value *body, *reply = NULL, *list;
	int r;

	udk_return_val_if_fail(dev, -EINVAL);
	if ((r = device_only(dev, "setting a configuration")) < 0)
		return r;
	if (dev->gone)
		return gone(dev);
	c = usb_descs_config(dev->descs, value);
	if (value && !c) {
		char have[64] = "";
		for (unsigned i = 0; i < dev->descs->n_configs; i++)
			snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%u", i ? ", " : "",
				 dev->descs->configs[i].d.bConfigurationValue);
		return udk_set_reason(-EINVAL, "the device has no configuration %u (it has: %s)", value,
				      have[0] ? have : "none");
	}
	if (c && c->problem)
		return udk_set_reason(-EINVAL, "configuration %u cannot be used: %s", value, c->problem);
	r = dev->be->set_configuration(dev, value);
	if (r < 0)
		return r;
	pthread_mutex_lock(&dev->lock);
	dev->config = value;
	for (size_t i = 0; i < dev->n_ifaces; i++) {
		dev->ifaces[i]->stale = true;
		dev->ifaces[i]->open = false;
	}
	dev->n_ifaces = 0;
	memset(dev->iface_ids, 0, sizeof(dev->iface_ids));
	pthread_mutex_unlock(&dev->lock);
	/* udkd publishes the interfaces */
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "device", dev->nub);
	udk_dict_set_int(body, "configuration", value);
	udk_dict_set_bool(body, "match", match_interfaces);
	r = rt_call(OP_USB_CONFIGURED, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return r;
	list = udk_dict_get(reply, "interfaces");
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i);
		int64_t n = udk_dict_get_int(e, "number", -1);
		if (n >= 0 && n < 32)
			dev->iface_ids[n] = udk_value_get_uint(udk_dict_get(e, "id"), 0);
	}
	udk_value_unref(reply);
	return 0;
}

UDK_EXPORT int
udk_usb_device_reset(struct udk_usb_device *dev)
{
	int r;

	udk_return_val_if_fail(dev, -EINVAL);
	if ((r = device_only(dev, "resetting the port")) < 0)
		return r;
	if (dev->gone)
		return gone(dev);
	if (!dev->be->reset)
		return usb_unsupported(dev, "a port reset");
	r = dev->be->reset(dev);
	if (r >= 0) {
		/* halts are gone with the reset */
		pthread_mutex_lock(&dev->lock);
		pthread_mutex_unlock(&dev->lock);
	}
	return r;
}

/* ---- interfaces ---- */

static const struct usb_iface *
iface_desc(const struct udk_usb_interface *intf)
{
	return usb_config_iface(usb_descs_config(intf->dev->descs, intf->config), intf->number);
}

static const struct usb_alt *
alt_desc(const struct udk_usb_interface *intf, uint8_t alt)
{
	return usb_iface_alt(iface_desc(intf), alt);
}

static struct udk_usb_interface *
iface_new(struct udk_usb_device *dev, uint8_t number)
{
	struct udk_usb_interface *intf = calloc(1, sizeof(*intf)), **n;

	if (!intf)
		return NULL;
	n = reallocarray(dev->ifaces, dev->n_ifaces + 1, sizeof(*n));
	if (!n) {
		free(intf);
		return NULL;
	}
	dev->ifaces = n;
	intf->refcount = 1; /* the caller's; the device's list does not hold one */
	intf->dev = dev_ref(dev);
	intf->number = number;
	intf->config = dev->config;
	dev->ifaces[dev->n_ifaces++] = intf;
	return intf;
}

struct udk_usb_interface_iterator {
	struct udk_usb_device *dev;
	uint8_t config;
	uint8_t numbers[USB_MAX_INTERFACES];
	unsigned n, next;
};

UDK_EXPORT int
udk_usb_device_create_interface_iterator(struct udk_usb_device *dev, struct udk_usb_interface_iterator **ret)
{
	const struct usb_config *c;
	struct udk_usb_interface_iterator *it;

	udk_return_val_if_fail(dev && ret, -EINVAL);
	if (dev->gone)
		return gone(dev);
	c = usb_descs_config(dev->descs, dev->config);
	if (!c)
		return udk_set_reason(-ENXIO,
				      "the device is not configured, so it has no interfaces: call "
				      "udk_usb_device_set_configuration() first");
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->dev = dev_ref(dev);
	it->config = dev->config;
	for (unsigned i = 0; i < c->n_ifaces; i++)
		it->numbers[it->n++] = c->ifaces[i].number;
	*ret = it;
	return 0;
}

UDK_EXPORT int
udk_usb_interface_iterator_next(struct udk_usb_interface_iterator *it, struct udk_usb_interface **ret)
{
	struct udk_usb_device *dev;
	struct udk_usb_interface *intf = NULL;

	udk_return_val_if_fail(it && ret, -EINVAL);
	*ret = NULL;
	dev = it->dev;
	if (it->next >= it->n)
		return 0;
	if (dev->config != it->config)
		return udk_set_reason(-ECANCELED, "the configuration changed while iterating: make a new iterator");
	pthread_mutex_lock(&dev->lock);
	for (size_t i = 0; i < dev->n_ifaces; i++)
		if (dev->ifaces[i]->number == it->numbers[it->next] && !dev->ifaces[i]->stale)
			intf = dev->ifaces[i];
	if (intf)
		intf->refcount++;
	else
		intf = iface_new(dev, it->numbers[it->next]);
	pthread_mutex_unlock(&dev->lock);
	if (!intf)
		return -ENOMEM;
	it->next++;
	*ret = intf;
	return 0;
}

UDK_EXPORT void
udk_usb_interface_iterator_free(struct udk_usb_interface_iterator *it)
{
	if (!it)
		return;
	dev_unref(it->dev);
	free(it);
}

UDK_EXPORT int
udk_usb_interface_open_provider(struct udk_service *provider, struct udk_usb_interface **ret)
{
	struct udk_usb_device *dev = NULL;
	struct udk_usb_interface *intf;
	int number = -1, r;

	udk_return_val_if_fail(provider && ret, -EINVAL);
	r = open_provider(provider, true, &dev, &number);
	if (r < 0)
		return r;
	if (!usb_config_iface(usb_descs_config(dev->descs, dev->config), (uint8_t)number)) {
		udk_usb_device_close(dev);
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "interface %d is not in the device's configuration %u any more",
				      number, dev->config);
	}
	pthread_mutex_lock(&dev->lock);
	intf = iface_new(dev, (uint8_t)number);
	pthread_mutex_unlock(&dev->lock);
	if (!intf) {
		udk_usb_device_close(dev);
		return -ENOMEM;
	}
	dev->iface_ids[number & 31] = udk_service_get_id(provider);
	intf->own_dev = dev;
	r = dev->be->claim(dev, (uint8_t)number);
	if (r < 0) {
		intf->own_dev = NULL;
		intf->stale = true;
		udk_usb_device_close(dev);
		return r;
	}
	intf->open = true;
	*ret = intf;
	return 0;
}

static int
intf_usable(const struct udk_usb_interface *intf)
{
	if (intf->dev->gone)
		return gone(intf->dev);
	if (intf->stale || intf->config != intf->dev->config)
		return udk_set_reason(-ECANCELED, "the device's configuration changed since this interface was made: "
						  "iterate the interfaces again");
	return 0;
}

UDK_EXPORT int
udk_usb_interface_open(struct udk_usb_interface *intf)
{
	int r;

	udk_return_val_if_fail(intf, -EINVAL);
	if ((r = intf_usable(intf)) < 0)
		return r;
	if (intf->open)
		return 0;
	r = intf->dev->be->claim(intf->dev, intf->number);
	if (r < 0)
		return r;
	intf->open = true;
	intf->alt = 0;
	return 0;
}

UDK_EXPORT int
udk_usb_interface_close(struct udk_usb_interface *intf)
{
	struct udk_usb_device *dev;
	int r = 0;

	udk_return_val_if_fail(intf, -EINVAL);
	dev = intf->dev;
	if (!intf->open)
		return 0;
	/* its pipes' transfers end first */
	pthread_mutex_lock(&dev->lock);
	for (struct usb_xfer *x = dev->pending; x; x = x->next)
		if (x->pipe && x->pipe->intf == intf && !x->cancel_sent) {
			x->cancel_sent = true;
			dev->be->cancel(dev, x, -ECANCELED);
		}
	pthread_mutex_unlock(&dev->lock);
	intf->open = false;
	if (!dev->gone && !intf->stale)
		r = dev->be->release(dev, intf->number);
	return r;
}

UDK_EXPORT struct udk_usb_interface *
udk_usb_interface_ref(struct udk_usb_interface *intf)
{
	if (intf) {
		pthread_mutex_lock(&intf->dev->lock);
		intf->refcount++;
		pthread_mutex_unlock(&intf->dev->lock);
	}
	return intf;
}

UDK_EXPORT struct udk_usb_interface *
udk_usb_interface_unref(struct udk_usb_interface *intf)
{
	struct udk_usb_device *dev, *own;
	bool last;

	if (!intf)
		return NULL;
	dev = intf->dev;
	pthread_mutex_lock(&dev->lock);
	last = --intf->refcount == 0;
	if (last)
		for (size_t i = 0; i < dev->n_ifaces; i++)
			if (dev->ifaces[i] == intf) {
				dev->ifaces[i] = dev->ifaces[--dev->n_ifaces];
				break;
			}
	pthread_mutex_unlock(&dev->lock);
	if (!last)
		return NULL;
	/* the last reference closes it, as freeing an IOUSBHostInterface does */
	own = intf->own_dev;
	if (!own)
		udk_usb_interface_close(intf);
	free(intf);
	dev_unref(dev);
	/* an interface driver's interface owns its connection */
	if (own)
		udk_usb_device_close(own);
	return NULL;
}

UDK_EXPORT const struct udk_usb_interface_descriptor *
udk_usb_interface_get_descriptor(const struct udk_usb_interface *intf)
{
	const struct usb_alt *a = intf ? alt_desc(intf, intf->alt) : NULL;
	return a ? &a->d : NULL;
}

UDK_EXPORT uint64_t
udk_usb_interface_get_id(const struct udk_usb_interface *intf)
{
	return intf && intf->number < 32 ? intf->dev->iface_ids[intf->number] : 0;
}

UDK_EXPORT struct udk_usb_device *
udk_usb_interface_get_device(struct udk_usb_interface *intf)
{
	return intf ? intf->dev : NULL;
}

UDK_EXPORT unsigned
udk_usb_interface_get_alternate_count(const struct udk_usb_interface *intf)
{
	const struct usb_iface *i = intf ? iface_desc(intf) : NULL;
	return i ? i->n_alts : 0;
}

UDK_EXPORT const struct udk_usb_interface_descriptor *
udk_usb_interface_get_alternate(const struct udk_usb_interface *intf, uint8_t alternate)
{
	const struct usb_alt *a = intf ? alt_desc(intf, alternate) : NULL;
	return a ? &a->d : NULL;
}

UDK_EXPORT int
udk_usb_interface_select_alternate_setting(struct udk_usb_interface *intf, uint8_t alternate)
{
	struct udk_usb_device *dev;
	int r;

	udk_return_val_if_fail(intf, -EINVAL);
	if ((r = intf_usable(intf)) < 0)
		return r;
	if (!intf->open)
		return udk_set_reason(-EPERM, "open the interface before choosing its alternate setting");
	if (!alt_desc(intf, alternate))
		return udk_set_reason(-EINVAL, "interface %u has no alternate setting %u (it has %u)", intf->number,
				      alternate, udk_usb_interface_get_alternate_count(intf));
	dev = intf->dev;
	/* the old setting's pipes end */
	pthread_mutex_lock(&dev->lock);
	for (struct usb_xfer *x = dev->pending; x; x = x->next)
		if (x->pipe && x->pipe->intf == intf && !x->cancel_sent) {
			x->cancel_sent = true;
			dev->be->cancel(dev, x, -ECANCELED);
		}
	pthread_mutex_unlock(&dev->lock);
	r = dev->be->set_interface(dev, intf->number, alternate);
	if (r >= 0)
		intf->alt = alternate;
	return r;
}

UDK_EXPORT const struct udk_usb_endpoint_descriptor *
udk_usb_interface_get_endpoint(const struct udk_usb_interface *intf, unsigned index)
{
	const struct usb_alt *a = intf ? alt_desc(intf, intf->alt) : NULL;
	return a && index < a->n_eps ? &a->eps[index].d : NULL;
}

UDK_EXPORT const void *
udk_usb_interface_get_class_descriptors(const struct udk_usb_interface *intf, size_t *ret_len)
{
	const struct usb_alt *a = intf ? alt_desc(intf, intf->alt) : NULL;

	if (ret_len)
		*ret_len = a ? a->extra_len : 0;
	return a ? a->extra : NULL;
}

UDK_EXPORT int
udk_usb_interface_copy_pipe(struct udk_usb_interface *intf, uint8_t address, struct udk_usb_pipe **ret)
{
	const struct usb_ep *ep;
	struct udk_usb_pipe *p;
	int r;

	udk_return_val_if_fail(intf && ret, -EINVAL);
	if ((r = intf_usable(intf)) < 0)
		return r;
	if (!intf->open)
		return udk_set_reason(-EPERM, "open the interface (udk_usb_interface_open) before copying its pipes");
	ep = usb_alt_endpoint(alt_desc(intf, intf->alt), address);
	if (!ep)
		return udk_set_reason(-ENOENT, "interface %u alternate setting %u has no endpoint 0x%02x", intf->number,
				      intf->alt, address);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->refcount = 1;
	p->intf = udk_usb_interface_ref(intf);
	p->d = ep->d;
	p->alt = intf->alt;
	*ret = p;
	return 0;
}

/* ---- pipes ---- */

UDK_EXPORT struct udk_usb_pipe *
udk_usb_pipe_ref(struct udk_usb_pipe *pipe)
{
	if (pipe)
		__atomic_add_fetch(&pipe->refcount, 1, __ATOMIC_RELAXED);
	return pipe;
}

UDK_EXPORT struct udk_usb_pipe *
udk_usb_pipe_unref(struct udk_usb_pipe *pipe)
{
	if (!pipe || __atomic_sub_fetch(&pipe->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	udk_usb_interface_unref(pipe->intf);
	free(pipe);
	return NULL;
}

UDK_EXPORT const struct udk_usb_endpoint_descriptor *
udk_usb_pipe_get_descriptor(const struct udk_usb_pipe *pipe)
{
	return pipe ? &pipe->d : NULL;
}

static int
pipe_usable(struct udk_usb_pipe *pipe, bool iso)
{
	struct udk_usb_interface *intf = pipe->intf;
	unsigned type = pipe->d.bmAttributes & 3;
	int r;

	if ((r = intf_usable(intf)) < 0)
		return r;
	if (!intf->open)
		return udk_set_reason(-ECANCELED, "the pipe's interface was closed");
	if (pipe->alt != intf->alt)
		return udk_set_reason(-ECANCELED, "the interface's alternate setting changed: copy the pipe again");
	if (iso != (type == UDK_USB_TRANSFER_ISOCHRONOUS))
		return udk_set_reason(-EINVAL, "endpoint 0x%02x is a %s endpoint: use %s", pipe->d.bEndpointAddress,
				      usb_transfer_type_name(type), iso ? "udk_usb_pipe_io()" : "udk_usb_pipe_isoch_io()");
	return 0;
}

static struct usb_xfer *
pipe_xfer(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset, uint32_t length,
	  uint32_t timeout_ms, int *ret_r)
{
	struct usb_xfer *x;
	bool in = (pipe->d.bEndpointAddress & UDK_USB_ENDPOINT_IN) != 0;

	*ret_r = pipe_usable(pipe, false);
	if (*ret_r >= 0 && md)
		*ret_r = check_md(md, offset, length, in);
	if (*ret_r < 0)
		return NULL;
	x = xfer_new(pipe->intf->dev, pipe);
	if (!x) {
		*ret_r = -ENOMEM;
		return NULL;
	}
	if (md) {
		x->md = udk_memory_descriptor_ref(md);
		x->offset = offset;
		x->buf = md_address(md) + offset;
	}
	x->length = length;
	x->timeout_ms = timeout_ms;
	return x;
}

UDK_EXPORT int
udk_usb_pipe_io(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset, uint32_t length,
		uint32_t timeout_ms, uint32_t *ret_actual)
{
	struct usb_xfer *x;
	int r;

	udk_return_val_if_fail(pipe && md, -EINVAL);
	x = pipe_xfer(pipe, md, offset, length, timeout_ms, &r);
	if (!x)
		return r;
	return run_sync(x, ret_actual);
}

UDK_EXPORT int
udk_usb_pipe_io_async(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset, uint32_t length,
		      uint32_t timeout_ms, struct udk_queue *queue, udk_usb_completion_fn fn, void *ctx)
{
	struct usb_xfer *x;
	int r;

	udk_return_val_if_fail(pipe && md && queue && fn, -EINVAL);
	x = pipe_xfer(pipe, md, offset, length, timeout_ms, &r);
	if (!x)
		return r;
	x->fn = fn;
	x->ctx = ctx;
	return run_async(x, queue);
}

UDK_EXPORT int
udk_usb_pipe_io_buffer(struct udk_usb_pipe *pipe, void *buf, uint32_t length, uint32_t timeout_ms,
		       uint32_t *ret_actual)
{
	struct usb_xfer *x;
	int r;

	udk_return_val_if_fail(pipe && (buf || !length), -EINVAL);
	if (length > WIRE_MAX_LARGE / 2)
		return udk_set_reason(-EINVAL, "a plain buffer moves at most %u bytes; use a memory descriptor",
				      WIRE_MAX_LARGE / 2);
	x = pipe_xfer(pipe, NULL, 0, length, timeout_ms, &r);
	if (!x)
		return r;
	x->buf = buf;
	return run_sync(x, ret_actual);
}

static struct usb_xfer *
iso_xfer(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset, uint32_t n, int *ret_r)
{
	struct usb_xfer *x;
	bool in = (pipe->d.bEndpointAddress & UDK_USB_ENDPOINT_IN) != 0;

	*ret_r = pipe_usable(pipe, true);
	if (*ret_r < 0)
		return NULL;
	if (n == 0 || n > PROTO_USB_MAX_PACKETS) {
		*ret_r = udk_set_reason(-EINVAL, "an isochronous transfer has 1..%u packets", PROTO_USB_MAX_PACKETS);
		return NULL;
	}
	(void)in;
	x = xfer_new(pipe->intf->dev, pipe);
	if (!x) {
		*ret_r = -ENOMEM;
		return NULL;
	}
	x->packets = calloc(n, sizeof(*x->packets));
	if (!x->packets) {
		xfer_free(x);
		*ret_r = -ENOMEM;
		return NULL;
	}
	x->n_packets = n;
	x->md = udk_memory_descriptor_ref(md);
	x->offset = offset;
	return x;
}

static int
iso_finish_setup(struct usb_xfer *x, struct udk_usb_pipe *pipe)
{
	uint64_t total = 0;
	uint16_t mps = pipe->d.wMaxPacketSize & 0x7ff;
	unsigned mult = 1 + ((pipe->d.wMaxPacketSize >> 11) & 3);
	int r;

	for (uint32_t i = 0; i < x->n_packets; i++) {
		if (x->packets[i].length > (uint32_t)mps * mult)
			return udk_set_reason(-EINVAL, "packet %u is %u bytes; endpoint 0x%02x takes at most %u", i,
					      x->packets[i].length, pipe->d.bEndpointAddress, mps * mult);
		total += x->packets[i].length;
	}
	if (total > PROTO_USB_MAX_TRANSFER)
		return udk_set_reason(-EINVAL, "the packets add up to more than %u bytes", PROTO_USB_MAX_TRANSFER);
	x->length = (uint32_t)total;
	if ((r = check_md(x->md, x->offset, x->length, x->in)) < 0)
		return r;
	x->buf = md_address(x->md) + x->offset;
	return 0;
}

UDK_EXPORT int
udk_usb_pipe_isoch_io(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset,
		      struct udk_usb_iso_packet *packets, uint32_t n_packets, uint32_t timeout_ms)
{
	struct usb_xfer *x;
	int r;

	udk_return_val_if_fail(pipe && md && packets, -EINVAL);
	x = iso_xfer(pipe, md, offset, n_packets, &r);
	if (!x)
		return r;
	for (uint32_t i = 0; i < n_packets; i++)
		x->packets[i].length = packets[i].length;
	if ((r = iso_finish_setup(x, pipe)) < 0) {
		xfer_free(x);
		return r;
	}
	x->user_packets = packets;
	x->timeout_ms = timeout_ms;
	return run_sync(x, NULL);
}

UDK_EXPORT int
udk_usb_pipe_isoch_io_async(struct udk_usb_pipe *pipe, struct udk_memory_descriptor *md, uint64_t offset,
			    const uint32_t *lengths, uint32_t n_packets, struct udk_queue *queue,
			    udk_usb_iso_completion_fn fn, void *ctx)
{
	struct usb_xfer *x;
	int r;

	udk_return_val_if_fail(pipe && md && lengths && queue && fn, -EINVAL);
	x = iso_xfer(pipe, md, offset, n_packets, &r);
	if (!x)
		return r;
	for (uint32_t i = 0; i < n_packets; i++)
		x->packets[i].length = lengths[i];
	if ((r = iso_finish_setup(x, pipe)) < 0) {
		xfer_free(x);
		return r;
	}
	x->iso_fn = fn;
	x->ctx = ctx;
	return run_async(x, queue);
}

UDK_EXPORT int
udk_usb_pipe_abort(struct udk_usb_pipe *pipe)
{
	struct udk_usb_device *dev;
	struct timespec ts;
	int r = 0;

	udk_return_val_if_fail(pipe, -EINVAL);
	dev = pipe->intf->dev;
	cancel_pending(dev, pipe, -ECANCELED);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&dev->lock);
	while (pipe->pending && !dev->gone)
		if (pthread_cond_timedwait(&dev->cond, &dev->lock, &ts)) {
			r = udk_set_reason(-UDK_E_DEADLINE, "the device did not give back %u aborted transfer%s in 10 s",
					   pipe->pending, pipe->pending == 1 ? "" : "s");
			break;
		}
	pthread_mutex_unlock(&dev->lock);
	return r;
}

UDK_EXPORT int
udk_usb_pipe_clear_stall(struct udk_usb_pipe *pipe, bool with_request)
{
	struct udk_usb_device *dev;
	int r;

	udk_return_val_if_fail(pipe, -EINVAL);
	dev = pipe->intf->dev;
	if ((r = intf_usable(pipe->intf)) < 0)
		return r;
	r = dev->be->clear_halt(dev, pipe->d.bEndpointAddress, with_request);
	if (r >= 0)
		atomic_store(&pipe->halted, false);
	return r;
}

UDK_EXPORT bool
udk_usb_pipe_is_halted(const struct udk_usb_pipe *pipe)
{
	return pipe && atomic_load(&((struct udk_usb_pipe *)pipe)->halted);
}

UDK_EXPORT uint64_t
udk_usb_pipe_get_stall_count(const struct udk_usb_pipe *pipe)
{
	return pipe ? atomic_load(&((struct udk_usb_pipe *)pipe)->stalls) : 0;
}
