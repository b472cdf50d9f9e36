/* SPDX-License-Identifier: MIT */
/*
 * usb/sim/devmodel.c - simulated USB devices: the USB kind of device model
 * (<udk/families/usb-devmodel.h>) on the generic device-model runtime
 * (lib/devmodel/).
 *
 * One function is one USB device.  Its hosts are udk drivers, each on a
 * channel of its own (the driver of the device, and drivers of single
 * interfaces), or Linux, when udkd exports the device to vhci-hcd over a
 * USB/IP stream (usbip.c).  Both submit transfers into the same
 * per-endpoint queues; the model sees one transfer per endpoint at a
 * time, in order, and never which host sent it.
 *
 * Data moves without copies on udk channels: a driver maps its memory
 * descriptors once (OP_USB_MEM_MAP, a memfd) and transfers name a range
 * of one; the model reads and writes those bytes in place.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <udk/families/usb-devmodel.h>

#include "dm-private.h"
#include "proto-usb.h"
#include "usb-check.h"
#include "usb-desc.h"
#include "usb-sim.h"
#include "util.h"

#define MAX_MEMS 64u

struct mem {
	uint32_t id;
	uint8_t *addr;
	size_t size;
	bool writable;
	int refs;
	struct mem *next;
};

/* dm_chan->kind_data */
struct usb_chan {
	struct dm_chan *c;
	struct usb_dev *dev;
	int scope;			/* -1: the device; else one interface number */
	uint8_t claimed[32];		/* interface numbers, a bitmap */
	struct mem *mems;
	unsigned n_mems;
};

#define DEV(fn) ((struct usb_dev *)(fn)->kind_data)

#define HAS_OP(dev, field)                                                                                     \
	((dev)->ops.struct_size >= offsetof(struct udk_dm_usb_ops, field) + sizeof((dev)->ops.field) &&        \
	 (dev)->ops.field)

static bool
claimed(const struct usb_chan *uc, uint8_t iface)
{
	return uc->claimed[iface / 8] & (1u << (iface % 8));
}

static void
set_claim(struct usb_chan *uc, uint8_t iface, bool on)
{
	if (on)
		uc->claimed[iface / 8] |= (uint8_t)(1u << (iface % 8));
	else
		uc->claimed[iface / 8] &= (uint8_t)~(1u << (iface % 8));
}

/* ---- endpoints of the current configuration ---- */

const struct usb_config *
usb_sim_config(struct usb_dev *dev)
{
	return usb_descs_config(dev->descs, dev->config);
}

const struct usb_ep *
usb_sim_find_ep(struct usb_dev *dev, uint8_t address, uint8_t *ret_iface)
{
	const struct usb_config *c = usb_sim_config(dev);

	for (unsigned i = 0; c && i < c->n_ifaces; i++) {
		const struct usb_alt *a = usb_iface_alt(&c->ifaces[i], dev->alt[c->ifaces[i].number]);
		const struct usb_ep *e = usb_alt_endpoint(a, address);
		if (e) {
			if (ret_iface)
				*ret_iface = c->ifaces[i].number;
			return e;
		}
	}
	return NULL;
}

static unsigned
qindex(uint8_t address)
{
	if (UDK_USB_ENDPOINT_NUMBER(address) == 0)
		return 0;
	return UDK_USB_ENDPOINT_NUMBER(address) | ((address & UDK_USB_ENDPOINT_IN) ? 16u : 0u);
}

/* ---- transfers ---- */

static void pump(struct usb_dev *dev, unsigned qi);

static void
mem_unref(struct mem *m)
{
	if (m && --m->refs == 0) {
		munmap(m->addr, m->size);
		free(m);
	}
}

static void
xfer_free(struct xfer *x)
{
	mem_unref(x->mem);
	free(x->buf);
	free(x->packets);
	free(x);
}

/* Take @x out of its queue (it must be there). */
static void
unqueue(struct usb_dev *dev, struct xfer *x)
{
	struct epq *q = &dev->q[qindex(x->t.endpoint)];

	for (struct xfer **pp = &q->head; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			if (q->tail == x) {
				q->tail = NULL;
				for (struct xfer *k = q->head; k; k = k->next)
					q->tail = k;
			}
			break;
		}
	x->next = NULL;
}

static void
send_completion(struct xfer *x, int status, const char *reason)
{
	struct proto_usb_complete c = { x->id, status, x->t.actual, 0, 0 };
	struct iovec iov[3];
	unsigned n = 1;
	bool in = x->t.type == UDK_USB_TRANSFER_CONTROL ? (x->t.setup.bmRequestType & UDK_USB_DIR_IN)
							 : (x->t.endpoint & UDK_USB_ENDPOINT_IN);

	iov[0] = (struct iovec){ &c, sizeof(c) };
	if (x->t.n_packets) {
		c.n_packets = x->t.n_packets;
		iov[n++] = (struct iovec){ x->t.packets, x->t.n_packets * sizeof(*x->t.packets) };
	}
	if (status < 0 && reason) {
		c.inline_len = (uint32_t)strlen(reason) + 1;
		iov[n++] = (struct iovec){ (void *)reason, c.inline_len };
	} else if (in && !x->mem && x->t.actual) {
		c.inline_len = x->t.actual;
		iov[n++] = (struct iovec){ x->t.data, x->t.actual };
	}
	dm_chan_sendv(x->chan->c, OP_USB_COMPLETE, WIRE_F_ONEWAY, 0, 0, iov, n);
}

/* @x is done: tell its host, free it.  It is out of its queue already. */
static void
deliver(struct usb_dev *dev, struct xfer *x, int status, const char *reason)
{
	if (x->t.actual > x->t.length)
		x->t.actual = x->t.length;
	if (x->chan)
		send_completion(x, status, reason);
	else if (x->usbip)
		usbip_ret_submit(dev, x, status);
	xfer_free(x);
}

static void
finish(struct usb_dev *dev, struct xfer *x, int status, const char *reason)
{
	unsigned qi = qindex(x->t.endpoint);

	unqueue(dev, x);
	if (status == -EPIPE && qi != 0)
		dev->q[qi].halted = true;
	deliver(dev, x, status, reason);
	pump(dev, qi);
}

static int
reply_bytes(struct xfer *x, const void *p, size_t len)
{
	x->t.actual = (uint32_t)MIN(len, x->t.length);
	memcpy(x->t.data, p, x->t.actual);
	return 0;
}

static int
set_configuration(struct usb_dev *dev, uint8_t value, const char **why)
{
	const struct usb_config *c = usb_descs_config(dev->descs, value);
	int r;

	if (value && !c) {
		*why = "the device has no configuration with that bConfigurationValue";
		return -EINVAL;
	}
	if (c && c->problem) {
		*why = c->problem;
		return -EINVAL;
	}
	if (HAS_OP(dev, set_configuration) && (r = dev->ops.set_configuration(dev->fn, value)) < 0) {
		*why = "the device refused the configuration";
		return r;
	}
	/* every endpoint of the old configuration goes away */
	for (unsigned qi = 1; qi < 32; qi++) {
		struct xfer *x;
		while ((x = dev->q[qi].head)) {
			unqueue(dev, x);
			if (x->at_model && HAS_OP(dev, cancel))
				dev->ops.cancel(dev->fn, &x->t);
			deliver(dev, x, -ECANCELED, "the configuration changed");
		}
		dev->q[qi].halted = false;
	}
	memset(dev->alt, 0, sizeof(dev->alt));
	dev->config = value;
	for (struct dm_chan *k = dev->fn->chans; k; k = k->next) {
		struct usb_chan *uc = k->kind_data;
		if (uc->scope < 0)
			memset(uc->claimed, 0, sizeof(uc->claimed));
	}
	udk_dm_log(dev->fn->dm, UDK_LOG_INFO, "configuration %u set", value);
	return 0;
}

static void
cancel_iface(struct usb_dev *dev, uint8_t iface, const char *why)
{
	for (unsigned qi = 1; qi < 32; qi++) {
		struct xfer *x = dev->q[qi].head, *next;
		for (; x; x = next) {
			uint8_t owner = 0xff;
			next = x->next;
			if (!usb_sim_find_ep(dev, x->t.endpoint, &owner) || owner != iface)
				continue;
			unqueue(dev, x);
			if (x->at_model && HAS_OP(dev, cancel))
				dev->ops.cancel(dev->fn, &x->t);
			deliver(dev, x, -ECANCELED, why);
		}
	}
}

static int
set_interface(struct usb_dev *dev, uint8_t iface, uint8_t alt, const char **why)
{
	const struct usb_iface *i = usb_config_iface(usb_sim_config(dev), iface);
	int r;

	if (!i || !usb_iface_alt(i, alt)) {
		*why = "the current configuration has no such interface or alternate setting";
		return -EINVAL;
	}
	if (HAS_OP(dev, set_interface) && (r = dev->ops.set_interface(dev->fn, iface, alt)) < 0) {
		*why = "the device refused the alternate setting";
		return r;
	}
	cancel_iface(dev, iface, "the alternate setting changed");
	dev->alt[iface] = alt;
	for (unsigned qi = 1; qi < 32; qi++)
		if (dev->q[qi].halted) {
			uint8_t a = (uint8_t)((qi & 15) | (qi & 16 ? 0x80 : 0)), owner = 0xff;
			if (!usb_sim_find_ep(dev, a, &owner) || owner == iface)
				dev->q[qi].halted = false;
		}
	return 0;
}

static void
clear_halt(struct usb_dev *dev, uint8_t ep)
{
	unsigned qi = qindex(ep);

	if (!qi)
		return;
	dev->q[qi].halted = false;
	if (HAS_OP(dev, clear_halt))
		dev->ops.clear_halt(dev->fn, ep);
	pump(dev, qi);
}

/*
 * The standard requests of chapter 9.  0: answered; -EPIPE: stalled;
 * 1: not ours, the model's.
 */
static int
standard_request(struct usb_dev *dev, struct xfer *x, const char **why)
{
	const struct udk_usb_setup *s = &x->t.setup;
	uint8_t type = s->wValue >> 8, index = s->wValue & 0xff;
	uint8_t buf[256];
	int r;

	if ((s->bmRequestType & UDK_USB_TYPE_MASK) != UDK_USB_TYPE_STANDARD)
		return 1;
	switch (s->bRequest) {
	case UDK_USB_REQ_GET_DESCRIPTOR:
		if (s->bmRequestType != 0x80)
			return 1;
		if (type == UDK_USB_DT_DEVICE)
			return reply_bytes(x, dev->descs->blob, sizeof(struct udk_usb_device_descriptor));
		if (type == UDK_USB_DT_CONFIGURATION) {
			if (index >= dev->descs->n_configs)
				return -EPIPE;
			return reply_bytes(x, dev->descs->configs[index].raw, dev->descs->configs[index].len);
		}
		if (type == UDK_USB_DT_STRING) {
			if (index == 0) {
				static const uint8_t langs[] = { 4, UDK_USB_DT_STRING, 0x09, 0x04 };
				return reply_bytes(x, langs, sizeof(langs));
			}
			if (index > dev->n_strings)
				return -EPIPE;
			return reply_bytes(x, buf, usb_string_from_utf8(dev->strings[index - 1], buf, sizeof(buf)));
		}
		if (type == UDK_USB_DT_BOS) {
			if (!dev->bos)
				return -EPIPE;
			return reply_bytes(x, dev->bos, dev->bos_len);
		}
		return 1;
	case UDK_USB_REQ_SET_ADDRESS:
		return s->bmRequestType == 0 ? 0 : -EPIPE;
	case UDK_USB_REQ_GET_CONFIGURATION:
		buf[0] = dev->config;
		return reply_bytes(x, buf, 1);
	case UDK_USB_REQ_SET_CONFIGURATION:
		if (x->chan && x->chan->scope >= 0) {
			*why = "only the driver of the device sets its configuration, not the driver of an interface";
			return -EPERM;
		}
		r = set_configuration(dev, (uint8_t)s->wValue, why);
		return r < 0 ? -EPIPE : 0;
	case UDK_USB_REQ_GET_INTERFACE:
		if (!usb_config_iface(usb_sim_config(dev), (uint8_t)s->wIndex))
			return -EPIPE;
		buf[0] = dev->alt[(uint8_t)s->wIndex];
		return reply_bytes(x, buf, 1);
	case UDK_USB_REQ_SET_INTERFACE:
		if (x->chan && !claimed(x->chan, (uint8_t)s->wIndex)) {
			*why = "claim the interface (open it) before choosing its alternate setting";
			return -EPERM;
		}
		return set_interface(dev, (uint8_t)s->wIndex, (uint8_t)s->wValue, why) < 0 ? -EPIPE : 0;
	case UDK_USB_REQ_GET_STATUS:
		memset(buf, 0, 2);
		if ((s->bmRequestType & UDK_USB_RECIP_MASK) == UDK_USB_RECIP_DEVICE) {
			const struct usb_config *c = usb_sim_config(dev);
			buf[0] = c && (c->d.bmAttributes & 0x40) ? 1 : 0;
		} else if ((s->bmRequestType & UDK_USB_RECIP_MASK) == UDK_USB_RECIP_ENDPOINT) {
			uint8_t ep = (uint8_t)s->wIndex;
			if (UDK_USB_ENDPOINT_NUMBER(ep) && !usb_sim_find_ep(dev, ep, NULL))
				return -EPIPE;
			buf[0] = dev->q[qindex(ep)].halted && qindex(ep) ? 1 : 0;
		}
		return reply_bytes(x, buf, 2);
	case UDK_USB_REQ_CLEAR_FEATURE:
	case UDK_USB_REQ_SET_FEATURE:
		if ((s->bmRequestType & UDK_USB_RECIP_MASK) == UDK_USB_RECIP_ENDPOINT &&
		    s->wValue == UDK_USB_FEATURE_ENDPOINT_HALT) {
			uint8_t ep = (uint8_t)s->wIndex, owner = 0xff;
			if (!UDK_USB_ENDPOINT_NUMBER(ep))
				return 0;
			if (!usb_sim_find_ep(dev, ep, &owner))
				return -EPIPE;
			if (x->chan && !claimed(x->chan, owner)) {
				*why = "claim the endpoint's interface before clearing or setting its halt";
				return -EPERM;
			}
			if (s->bRequest == UDK_USB_REQ_CLEAR_FEATURE) {
				/* the request completes first; then the queue moves */
				dev->q[qindex(ep)].halted = false;
				if (HAS_OP(dev, clear_halt))
					dev->ops.clear_halt(dev->fn, ep);
				dev->kick_after |= 1u << qindex(ep);
			} else {
				udk_dm_usb_halt(dev->fn, ep);
			}
			return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* Run the head of queue @qi until one stays with the model. */
static void
pump(struct usb_dev *dev, unsigned qi)
{
	struct epq *q = &dev->q[qi];

	if (q->busy)
		return;
	q->busy = true;
	while (q->head && !q->head->at_model) {
		struct xfer *x = q->head;
		const char *why = NULL;
		int r;

		if (q->halted && qi) {
			finish(dev, x, -EPIPE, "the endpoint is halted (stalled): clear the halt first");
			continue;
		}
		x->at_model = true;
		if (qi == 0) {
			r = standard_request(dev, x, &why);
			if (r == 1)
				r = HAS_OP(dev, control) ? dev->ops.control(dev->fn, &x->t) : -EPIPE;
		} else {
			r = HAS_OP(dev, transfer) ? dev->ops.transfer(dev->fn, &x->t) : -EPIPE;
		}
		if (r == UDK_DM_USB_PENDING)
			continue; /* held (or completed from inside the callback) */
		if (q->head != x)
			continue; /* the model completed it itself and returned a result too */
		x->at_model = false;
		/* the model may have completed or halted meanwhile: x is still the head */
		finish(dev, x, r < 0 ? r : 0,
		       why ? why : r == -EPIPE ? (qi ? "the device halted (stalled) the endpoint" : "the device stalled the request")
				 : NULL);
	}
	q->busy = false;
	if (dev->kick_after) {
		uint32_t k = dev->kick_after;
		dev->kick_after = 0;
		for (unsigned i = 1; i < 32; i++)
			if (k & (1u << i))
				pump(dev, i);
	}
}

void
usb_sim_submit(struct usb_dev *dev, struct xfer *x)
{
	struct epq *q = &dev->q[qindex(x->t.endpoint)];

	x->dev = dev;
	if (q->tail)
		q->tail->next = x;
	else
		q->head = x;
	q->tail = x;
	pump(dev, qindex(x->t.endpoint));
}

/* Cancel @x wherever it is; it completes with @status. */
void
usb_sim_cancel(struct usb_dev *dev, struct xfer *x, int status, const char *why)
{
	unsigned qi = qindex(x->t.endpoint);
	bool head = dev->q[qi].head == x;

	unqueue(dev, x);
	if (x->at_model && HAS_OP(dev, cancel))
		dev->ops.cancel(dev->fn, &x->t);
	deliver(dev, x, status, why);
	if (head)
		pump(dev, qi);
}

struct xfer *
usb_sim_find(struct usb_dev *dev, bool (*fn)(const struct xfer *x, const void *ctx), const void *ctx)
{
	for (unsigned qi = 0; qi < 32; qi++)
		for (struct xfer *x = dev->q[qi].head; x; x = x->next)
			if (fn(x, ctx))
				return x;
	return NULL;
}

/* Every pending transfer of @chan (NULL: of every host) ends with @status. */
void
usb_sim_cancel_all(struct usb_dev *dev, struct usb_chan *chan, bool usbip, int status, const char *why, bool tell)
{
	for (unsigned qi = 0; qi < 32; qi++) {
		struct xfer *x = dev->q[qi].head, *next;
		for (; x; x = next) {
			next = x->next;
			if (chan && x->chan != chan)
				continue;
			if (usbip && !x->usbip)
				continue;
			unqueue(dev, x);
			if (x->at_model && HAS_OP(dev, cancel))
				dev->ops.cancel(dev->fn, &x->t);
			if (tell) {
				deliver(dev, x, status, why);
			} else {
				xfer_free(x);
			}
		}
	}
	for (unsigned qi = 0; qi < 32; qi++)
		pump(dev, qi);
}

void
usb_sim_reset(struct usb_dev *dev, const char *why, bool unconfigure)
{
	usb_sim_cancel_all(dev, NULL, false, -ECANCELED, why, true);
	for (unsigned qi = 0; qi < 32; qi++)
		dev->q[qi].halted = false;
	if (unconfigure) {
		dev->config = 0;
		memset(dev->alt, 0, sizeof(dev->alt));
		if (HAS_OP(dev, set_configuration))
			dev->ops.set_configuration(dev->fn, 0);
	}
	if (HAS_OP(dev, reset))
		dev->ops.reset(dev->fn, why);
	udk_dm_log(dev->fn->dm, UDK_LOG_NOTICE, "port reset: %s", why);
}

/* ---- the model's calls ---- */

static struct usb_dev *
usb_dev_of(struct udk_dm_function *fn)
{
	if (!fn || !fn->kind_data || strcmp(fn->kind->name, "usb") != 0)
		return NULL;
	return DEV(fn);
}

UDK_EXPORT int
udk_dm_usb_complete(struct udk_dm_usb_transfer *t, int status)
{
	struct xfer *x = (struct xfer *)t;

	udk_return_val_if_fail(t && x->at_model, -EINVAL);
	x->at_model = false;
	if (status >= 0)
		status = 0;
	finish(x->dev, x, status, status == -EPIPE ? "the device halted (stalled) the endpoint" : NULL);
	return 0;
}

UDK_EXPORT struct udk_dm_usb_transfer *
udk_dm_usb_pending(struct udk_dm_function *fn, uint8_t endpoint)
{
	struct usb_dev *dev = usb_dev_of(fn);
	struct xfer *x = dev ? dev->q[qindex(endpoint)].head : NULL;

	if (x && x->at_model && (qindex(endpoint) || true))
		return &x->t;
	return NULL;
}

UDK_EXPORT int
udk_dm_usb_halt(struct udk_dm_function *fn, uint8_t endpoint)
{
	struct usb_dev *dev = usb_dev_of(fn);
	unsigned qi = qindex(endpoint);
	struct xfer *x;

	udk_return_val_if_fail(dev && qi, -EINVAL);
	dev->q[qi].halted = true;
	x = dev->q[qi].head;
	if (x && x->at_model) {
		x->at_model = false;
		if (HAS_OP(dev, cancel))
			dev->ops.cancel(fn, &x->t);
		finish(dev, x, -EPIPE, "the device halted (stalled) the endpoint");
	}
	return 0;
}

UDK_EXPORT void
udk_dm_usb_kick(struct udk_dm_function *fn, uint8_t endpoint)
{
	struct usb_dev *dev = usb_dev_of(fn);

	if (dev)
		pump(dev, qindex(endpoint));
}

UDK_EXPORT uint8_t
udk_dm_usb_get_configuration(struct udk_dm_function *fn)
{
	struct usb_dev *dev = usb_dev_of(fn);
	return dev ? dev->config : 0;
}

UDK_EXPORT uint8_t
udk_dm_usb_get_alternate(struct udk_dm_function *fn, uint8_t interface)
{
	struct usb_dev *dev = usb_dev_of(fn);
	return dev ? dev->alt[interface] : 0;
}

UDK_EXPORT const char *
udk_dm_usb_get_host(struct udk_dm_function *fn)
{
	struct usb_dev *dev = usb_dev_of(fn);
	return dev && dev->usbip_fd >= 0 ? "linux" : "udk";
}

/* ---- udk drivers' channels ---- */

static struct mem *
mem_find(struct usb_chan *uc, uint32_t id)
{
	for (struct mem *m = uc->mems; m; m = m->next)
		if (m->id == id)
			return m;
	return NULL;
}

static void
mem_map(struct usb_chan *uc, struct wire_msg *m)
{
	int fd = wire_msg_take_fd(m, 0);
	int64_t id = udk_dict_get_int(m->body, "id", 0);
	struct mem *mem;
	struct stat st;

	if (fd < 0 || id <= 0 || id > UINT32_MAX || mem_find(uc, (uint32_t)id) || uc->n_mems >= MAX_MEMS ||
	    fstat(fd, &st) < 0 || st.st_size <= 0) {
		if (fd >= 0)
			close(fd);
		dm_chan_reply_on(uc->c, m, -EINVAL, "a memory mapping needs a new id, a memfd, and room (64 at most)",
				 NULL, NULL, 0);
		return;
	}
	mem = calloc(1, sizeof(*mem));
	if (!mem) {
		close(fd);
		dm_chan_reply_on(uc->c, m, -ENOMEM, "out of memory", NULL, NULL, 0);
		return;
	}
	mem->id = (uint32_t)id;
	mem->size = (size_t)st.st_size;
	mem->writable = true;
	mem->addr = mmap(NULL, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem->addr == MAP_FAILED) {
		/* sealed against writing: the memory is only ever sent */
		mem->writable = false;
		mem->addr = mmap(NULL, mem->size, PROT_READ, MAP_SHARED, fd, 0);
	}
	close(fd);
	if (mem->addr == MAP_FAILED) {
		int e = -errno;
		free(mem);
		dm_chan_reply_on(uc->c, m, e, "cannot map the driver's memory", NULL, NULL, 0);
		return;
	}
	mem->refs = 1;
	mem->next = uc->mems;
	uc->mems = mem;
	uc->n_mems++;
	dm_chan_reply_on(uc->c, m, 0, NULL, NULL, NULL, 0);
}

static void
mem_drop(struct usb_chan *uc, uint32_t id)
{
	for (struct mem **pp = &uc->mems; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct mem *m = *pp;
			*pp = m->next;
			uc->n_mems--;
			mem_unref(m);
			return;
		}
}

/* Fail a submission right away (it never entered a queue). */
static void
refuse(struct usb_chan *uc, const struct proto_usb_submit *s, int status, const char *why)
{
	struct proto_usb_complete c = { s->id, status, 0, 0, (uint32_t)strlen(why) + 1 };
	struct iovec iov[2] = { { &c, sizeof(c) }, { (void *)why, c.inline_len } };

	dm_chan_sendv(uc->c, OP_USB_COMPLETE, WIRE_F_ONEWAY, 0, 0, iov, 2);
}

static void
submit(struct usb_chan *uc, struct wire_msg *m)
{
	struct usb_dev *dev = uc->dev;
	struct proto_usb_submit s;
	const struct usb_ep *ep = NULL;
	struct xfer *x;
	const uint8_t *lens = NULL, *outp = NULL;
	uint8_t owner = 0xff;
	bool in;
	char why[200];

	if (m->len < sizeof(s)) {
		/* not even an id to answer: the driver is broken */
		udk_dm_log(dev->fn->dm, UDK_LOG_ERROR, "a driver sent a malformed transfer; closing its channel");
		dm_chan_close(uc->c);
		return;
	}
	{
		const char *w = NULL;
		int r = usb_submit_check(m->payload, m->len, &s, &lens, &outp, &w);
		if (r < 0) {
			refuse(uc, &s, r, w);
			return;
		}
	}
	in = s.type == UDK_USB_TRANSFER_CONTROL ? (s.setup.bmRequestType & UDK_USB_DIR_IN) : (s.endpoint & UDK_USB_ENDPOINT_IN);
	if (dev->usbip_fd >= 0) {
		refuse(uc, &s, -UDK_E_HARDWARE_GONE, "the device is attached to Linux (vhci-hcd) now");
		return;
	}
	if (UDK_USB_ENDPOINT_NUMBER(s.endpoint) == 0) {
		if (s.type != UDK_USB_TRANSFER_CONTROL || s.setup.wLength != s.length || s.n_packets) {
			refuse(uc, &s, -EINVAL, "the default pipe carries control transfers whose wLength is the length");
			return;
		}
	} else {
		ep = usb_sim_find_ep(dev, s.endpoint, &owner);
		if (!ep) {
			snprintf(why, sizeof(why), "endpoint 0x%02x is not in the device's current configuration (%u)",
				 s.endpoint, dev->config);
			refuse(uc, &s, -ENOENT, why);
			return;
		}
		if ((ep->d.bmAttributes & 3) != s.type) {
			snprintf(why, sizeof(why), "endpoint 0x%02x is a %s endpoint, not %s", s.endpoint,
				 usb_transfer_type_name(ep->d.bmAttributes & 3), usb_transfer_type_name(s.type));
			refuse(uc, &s, -EINVAL, why);
			return;
		}
		if (!claimed(uc, owner)) {
			snprintf(why, sizeof(why), "endpoint 0x%02x belongs to interface %u, which this driver has not opened",
				 s.endpoint, owner);
			refuse(uc, &s, -EPERM, why);
			return;
		}
		if ((s.type == UDK_USB_TRANSFER_ISOCHRONOUS) != (s.n_packets > 0)) {
			refuse(uc, &s, -EINVAL, "isochronous transfers, and only they, come in packets");
			return;
		}
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		refuse(uc, &s, -ENOMEM, "out of memory");
		return;
	}
	x->chan = uc;
	x->id = s.id;
	x->flags = s.flags;
	x->t.endpoint = s.endpoint;
	x->t.type = s.type;
	x->t.setup = s.setup;
	x->t.length = s.length;
	if (s.n_packets) {
		uint64_t sum = 0;
		x->packets = calloc(s.n_packets, sizeof(*x->packets));
		if (!x->packets) {
			xfer_free(x);
			refuse(uc, &s, -ENOMEM, "out of memory");
			return;
		}
		for (unsigned i = 0; i < s.n_packets; i++) {
			uint32_t l;
			memcpy(&l, lens + i * sizeof(l), sizeof(l));
			x->packets[i].length = l;
			sum += l;
		}
		(void)sum; /* usb_submit_check saw they add up */
		x->t.packets = x->packets;
		x->t.n_packets = s.n_packets;
	}
	if (s.mem) {
		struct mem *mem = mem_find(uc, s.mem);
		if (!mem || s.offset > mem->size || s.length > mem->size - s.offset) {
			xfer_free(x);
			refuse(uc, &s, -UDK_E_BAD_ADDRESS, "the transfer's range is outside the memory the driver mapped");
			return;
		}
		if (in && !mem->writable) {
			xfer_free(x);
			refuse(uc, &s, -UDK_E_DIRECTION,
			       "an IN transfer into memory the device may only read (direction OUT): create the memory "
			       "descriptor with direction IN");
			return;
		}
		mem->refs++;
		x->mem = mem;
		x->t.data = mem->addr + s.offset;
	} else {
		x->buf = malloc(s.length ? s.length : 1);
		if (!x->buf) {
			xfer_free(x);
			refuse(uc, &s, -ENOMEM, "out of memory");
			return;
		}
		if (!in && outp)
			memcpy(x->buf, outp, s.length);
		x->t.data = x->buf;
	}
	if (!in)
		x->t.actual = s.length;
	usb_sim_submit(dev, x);
}

struct cancel_key {
	struct proto_usb_cancel c;
	const struct usb_chan *uc;
};

static bool
match_cancel(const struct xfer *x, const void *ctx)
{
	const struct cancel_key *k = ctx;
	return x->chan == k->uc && x->id == k->c.id;
}

static void
cancel(struct usb_chan *uc, struct wire_msg *m)
{
	struct cancel_key k = { .uc = uc };
	struct xfer *x;

	if (m->len != sizeof(k.c))
		return;
	memcpy(&k.c, m->payload, sizeof(k.c));
	x = usb_sim_find(uc->dev, match_cancel, &k);
	if (x)
		usb_sim_cancel(uc->dev, x, k.c.status < 0 ? k.c.status : -ECANCELED,
			       k.c.status == -ETIMEDOUT ? "the transfer timed out" : "the transfer was aborted");
}

static int
claim(struct usb_chan *uc, int64_t iface, const char **why)
{
	struct usb_dev *dev = uc->dev;

	if (iface < 0 || iface > 255 || !usb_config_iface(usb_sim_config(dev), (uint8_t)iface)) {
		*why = dev->config ? "the current configuration has no such interface"
				   : "the device is not configured: set a configuration first";
		return -ENOENT;
	}
	if (uc->scope >= 0 && uc->scope != iface) {
		*why = "a driver of one interface cannot open another";
		return -EPERM;
	}
	for (struct dm_chan *k = dev->fn->chans; k; k = k->next) {
		struct usb_chan *o = k->kind_data;
		if (o != uc && claimed(o, (uint8_t)iface)) {
			*why = "another driver has the interface open";
			return -UDK_E_BUSY;
		}
	}
	set_claim(uc, (uint8_t)iface, true);
	return 0;
}

static void
reply_state(struct usb_chan *uc, struct wire_msg *m)
{
	struct usb_dev *dev = uc->dev;
	struct udk_value *b = udk_value_new_dict(), *alts = udk_value_new_dict(), *halted = udk_value_new_array();
	const struct usb_config *c = usb_sim_config(dev);

	udk_dict_set_int(b, "configuration", dev->config);
	for (unsigned i = 0; c && i < c->n_ifaces; i++) {
		char key[8];
		snprintf(key, sizeof(key), "%u", c->ifaces[i].number);
		udk_dict_set_int(alts, key, dev->alt[c->ifaces[i].number]);
	}
	for (unsigned qi = 1; qi < 32; qi++)
		if (dev->q[qi].halted)
			udk_array_append_take(halted, udk_value_new_int((qi & 15) | (qi & 16 ? 0x80 : 0)));
	udk_dict_set_take(b, "alternates", alts);
	udk_dict_set_take(b, "halted", halted);
	dm_chan_reply_on(uc->c, m, 0, NULL, b, NULL, 0);
	udk_value_unref(b);
}

static void
usb_chan_message(struct dm_chan *c, struct wire_msg *m)
{
	struct usb_chan *uc = c->kind_data;
	struct usb_dev *dev = uc->dev;
	const char *why = NULL;
	int r = 0;

	if (m->h.op == OP_USB_SUBMIT) {
		submit(uc, m);
		return;
	}
	if (m->h.op == OP_USB_CANCEL) {
		cancel(uc, m);
		return;
	}
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		dm_chan_reply_on(c, m, -UDK_E_PROTOCOL, "request body must be a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_USB_MEM_MAP:
		mem_map(uc, m);
		return;
	case OP_USB_MEM_UNMAP:
		mem_drop(uc, (uint32_t)udk_dict_get_int(m->body, "id", 0));
		return;
	case OP_USB_GET_STATE:
		reply_state(uc, m);
		return;
	case OP_USB_SET_CONFIGURATION:
		if (uc->scope >= 0) {
			r = -EPERM;
			why = "only the driver of the device sets its configuration, not the driver of an interface";
		} else {
			int64_t v = udk_dict_get_int(m->body, "value", -1);
			r = v < 0 || v > 255 ? (why = "bConfigurationValue is 0..255", -EINVAL)
					     : set_configuration(dev, (uint8_t)v, &why);
		}
		break;
	case OP_USB_CLAIM:
		r = claim(uc, udk_dict_get_int(m->body, "interface", -1), &why);
		break;
	case OP_USB_RELEASE: {
		int64_t i = udk_dict_get_int(m->body, "interface", -1);
		if (i < 0 || i > 255 || !claimed(uc, (uint8_t)i)) {
			r = -ENOENT;
			why = "this driver has not opened that interface";
			break;
		}
		cancel_iface(dev, (uint8_t)i, "the interface was closed");
		set_claim(uc, (uint8_t)i, false);
		break;
	}
	case OP_USB_SET_INTERFACE: {
		int64_t i = udk_dict_get_int(m->body, "interface", -1), a = udk_dict_get_int(m->body, "alternate", -1);
		if (i < 0 || i > 255 || a < 0 || a > 255 || !claimed(uc, (uint8_t)i)) {
			r = -EPERM;
			why = "open the interface before choosing its alternate setting";
			break;
		}
		r = set_interface(dev, (uint8_t)i, (uint8_t)a, &why);
		break;
	}
	case OP_USB_CLEAR_HALT: {
		int64_t e = udk_dict_get_int(m->body, "endpoint", -1);
		uint8_t owner = 0xff;
		if (e < 0 || e > 255 || !usb_sim_find_ep(dev, (uint8_t)e, &owner) || !claimed(uc, owner)) {
			r = -ENOENT;
			why = "no such endpoint on an interface this driver has open";
			break;
		}
		clear_halt(dev, (uint8_t)e);
		break;
	}
	case OP_USB_RESET:
		if (uc->scope >= 0) {
			r = -EPERM;
			why = "only the driver of the device resets it";
			break;
		}
		usb_sim_reset(dev, "its driver asked for a port reset", false);
		break;
	default:
		r = -EOPNOTSUPP;
		why = "the device does not know this request";
		break;
	}
	dm_chan_reply_on(c, m, r, why, NULL, NULL, 0);
}

static int
usb_chan_open(struct udk_dm_function *fn, struct dm_chan *c, const struct udk_value *req)
{
	struct usb_dev *dev = DEV(fn);
	struct usb_chan *uc;
	int64_t iface = udk_dict_get_int(req, "interface", -1);

	if (dev->usbip_fd >= 0)
		return udk_set_reason(-UDK_E_BUSY, "the device is attached to Linux (vhci-hcd): Linux's drivers drive it");
	if (iface < 0) {
		for (struct dm_chan *k = fn->chans; k; k = k->next)
			if (((struct usb_chan *)k->kind_data)->scope < 0)
				return udk_set_reason(-UDK_E_BUSY, "the device is open by another driver (pid %d)", k->client);
	} else if (iface > 255 || !usb_config_iface(usb_sim_config(dev), (uint8_t)iface)) {
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "interface %lld is not in the device's current configuration",
				      (long long)iface);
	}
	uc = calloc(1, sizeof(*uc));
	if (!uc)
		return -ENOMEM;
	uc->c = c;
	uc->dev = dev;
	uc->scope = (int)iface;
	c->kind_data = uc;
	if (iface >= 0) {
		const char *why = NULL;
		int r = claim(uc, iface, &why);
		if (r < 0) {
			free(uc);
			c->kind_data = NULL;
			return udk_set_reason(r, "%s", why);
		}
	}
	if (HAS_OP(dev, struct_size) && iface < 0)
		udk_dm_log(fn->dm, UDK_LOG_DEBUG, "a driver (pid %d) opened the device", c->client);
	return 0;
}

static void
usb_chan_closed(struct dm_chan *c)
{
	struct usb_chan *uc = c->kind_data;
	struct usb_dev *dev;

	if (!uc)
		return;
	dev = uc->dev;
	/* its transfers end with it: nobody is left to hear */
	usb_sim_cancel_all(dev, uc, false, -ECANCELED, NULL, false);
	for (unsigned i = 0; i < 256; i++)
		if (claimed(uc, (uint8_t)i) && dev->alt[i]) {
			/* the next driver finds the interface as a new one */
			const char *why;
			set_interface(dev, (uint8_t)i, 0, &why);
		}
	while (uc->mems) {
		struct mem *m = uc->mems;
		uc->mems = m->next;
		mem_unref(m);
	}
	free(uc);
	c->kind_data = NULL;
}

/* ---- udkd's requests ---- */

static void
usb_udkd_message(struct udk_dm_function *fn, struct wire_msg *m)
{
	struct usb_dev *dev = DEV(fn);
	const char *why = NULL;
	int r = 0;

	switch (m->h.op) {
	case OP_USB_DM_SET_CONFIGURATION: {
		int64_t v = udk_dict_get_int(m->body, "value", -1);
		r = v < 0 || v > 255 ? (why = "bConfigurationValue is 0..255", -EINVAL) : set_configuration(dev, (uint8_t)v, &why);
		break;
	}
	case OP_USB_DM_RESET: {
		const char *reason = udk_dict_get_string(m->body, "reason");
		usb_sim_reset(dev, reason ? reason : "udkd asked", udk_dict_get_bool(m->body, "unconfigure", true));
		break;
	}
	case OP_USB_DM_EXPORT: {
		int fd = wire_msg_take_fd(m, 0);
		r = usbip_attach(dev, fd, (uint32_t)udk_dict_get_int(m->body, "devid", 0), &why);
		break;
	}
	default:
		r = -EOPNOTSUPP;
		why = "the USB kind does not know this request";
		break;
	}
	dm_udkd_reply(fn->dm, m, r, why, NULL);
}

/* ---- the kind ---- */

static int
usb_describe(struct udk_dm_function *fn, struct udk_value *desc)
{
	struct usb_dev *dev = DEV(fn);
	struct udk_value *strings = udk_value_new_array();

	udk_dict_set_data(desc, "descriptors", dev->descs->blob, dev->descs->blob_len);
	for (unsigned i = 0; i < dev->n_strings; i++)
		udk_array_append_take(strings, udk_value_new_string(dev->strings[i]));
	udk_dict_set_take(desc, "strings", strings);
	if (dev->bos)
		udk_dict_set_data(desc, "bos", dev->bos, dev->bos_len);
	udk_dict_set_int(desc, "speed", dev->speed);
	return 0;
}

static void
usb_reset(struct udk_dm_function *fn, const char *why)
{
	/* the driver of the device died: a port reset, and it is unconfigured */
	usb_sim_reset(DEV(fn), why, true);
}

static const struct dm_kind usb_kind = {
	.name = "usb",
	.describe = usb_describe,
	.reset = usb_reset,
	.chan_open = usb_chan_open,
	.chan_message = usb_chan_message,
	.chan_closed = usb_chan_closed,
	.udkd_message = usb_udkd_message,
};

UDK_EXPORT int
udk_dm_add_usb_device(struct udk_dm *dm, const struct udk_dm_usb_device *desc, const struct udk_dm_usb_ops *ops,
		      void *userdata, struct udk_dm_function **ret)
{
	struct udk_dm_function *fn;
	struct usb_dev *dev;
	int r;

	udk_return_val_if_fail(dm && desc && ops && ops->struct_size, -EINVAL);
	if (desc->n_strings > 254 || (desc->n_strings && !desc->strings))
		return udk_set_reason(-EINVAL, "at most 254 strings");
	if (desc->bos && (desc->bos_len < 5 || desc->bos_len > 4096 || desc->bos[1] != UDK_USB_DT_BOS ||
			  usb_le16(desc->bos + 2) != desc->bos_len))
		return udk_set_reason(-EINVAL, "the BOS descriptor's wTotalLength must be its length (5..4096 bytes)");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->usbip_fd = -1;
	r = usb_descs_parse(desc->descriptors, desc->descriptors_len, &dev->descs);
	if (r < 0) {
		free(dev);
		return r;
	}
	dev->ops = *ops;
	if (dev->ops.struct_size > sizeof(dev->ops))
		dev->ops.struct_size = sizeof(dev->ops);
	dev->speed = desc->speed ? desc->speed : UDK_USB_SPEED_HIGH;
	dev->n_strings = desc->n_strings;
	dev->strings = calloc(desc->n_strings + 1, sizeof(char *));
	for (unsigned i = 0; dev->strings && i < desc->n_strings; i++)
		dev->strings[i] = strdup(desc->strings[i] ? desc->strings[i] : "");
	if (desc->bos) {
		dev->bos = malloc(desc->bos_len);
		if (dev->bos) {
			memcpy(dev->bos, desc->bos, desc->bos_len);
			dev->bos_len = desc->bos_len;
		}
	}
	r = dm_function_new(dm, &usb_kind, dev, userdata, &fn);
	if (r < 0) {
		usb_descs_free(dev->descs);
		free(dev);
		return r;
	}
	dev->fn = fn;
	for (unsigned i = 0; i < dev->descs->n_configs; i++)
		if (dev->descs->configs[i].problem)
			udk_dm_log(dm, UDK_LOG_WARNING, "configuration %u cannot be used: %s", i, dev->descs->configs[i].problem);
	if (ret)
		*ret = fn;
	return 0;
}
