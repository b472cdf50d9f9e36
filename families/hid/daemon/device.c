/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/device.c - HID devices in udkd: their nubs (an IOHIDDevice
 * with DriverKit's HID properties and an IOHIDInterface below it), the
 * drivers that read them, and the input path.
 *
 * Every input frame (a report, or a Linux input device's events up to
 * SYN_REPORT) is checked against the descriptor first: a report whose ID
 * is unknown or whose length is not the descriptor's is dropped, counted
 * by reason and logged (at most once a second per device).
 *
 * A device is read by any number of drivers, or seized by one.  Frames to
 * a seizer are numbered and kept until the driver acknowledges them
 * (PROTO_HID_REC_ACK, in the same datagram as the reports the driver made
 * of them).  When a seizer dies holding frames, they wait for the next
 * instance of the same driver for --hid-handoff-ms (udkd restarts a
 * crashed driver at once): it gets them first, so a restart loses and
 * repeats no key.  A frame two seizers died handling is not offered a
 * third time.  When no instance comes, or the seizer closes the device, or
 * its grant is revoked, the device is released at once and the frames
 * nobody handled are given back: written back into a Linux input device,
 * or passed to the device's other readers.
 */
#include <inttypes.h>

#include "hid-private.h"
#include "util.h"

/* ---- frames ---- */

static struct hid_frame *
frame_new(uint16_t type, uint64_t time_ns, const void *data, size_t len)
{
	struct hid_frame *f = malloc(sizeof(*f) + len);

	if (!f)
		return NULL;
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->time_ns = time_ns;
	f->len = (uint32_t)len;
	if (len)
		memcpy(f->data, data, len);
	return f;
}

static void
queue_push(struct hid_queue *q, struct hid_frame *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->n++;
	q->bytes += f->len;
}

static struct hid_frame *
queue_pop(struct hid_queue *q)
{
	struct hid_frame *f = q->head;

	if (!f)
		return NULL;
	q->head = f->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= f->len;
	f->next = NULL;
	return f;
}

static void
queue_clear(struct hid_queue *q)
{
	struct hid_frame *f;

	while ((f = queue_pop(q)))
		free(f);
}

/* ---- lookups ---- */

struct hid_dev *
hid_dev_by_iface(struct udkd *d, const struct service *s)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if (dev->iface == s && !dev->gone)
			return dev;
	return NULL;
}

struct hid_dev *
hid_dev_by_service(struct udkd *d, const struct service *s)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if ((dev->iface == s || dev->device == s || (dev->driver_service && dev->driver_service == s)) &&
		    !dev->gone)
			return dev;
	return NULL;
}

/* ---- nubs ---- */

static void
add_descriptor_props(struct udk_value *props, const struct udk_hid_descriptor *desc)
{
	size_t len;
	const uint8_t *bytes = udk_hid_descriptor_get_data(desc, &len);
	uint32_t usages[8];
	size_t n = udk_hid_descriptor_device_usages(desc, usages, 8);

	udk_dict_set_take(props, "ReportDescriptor", udk_value_new_data(bytes, len));
	udk_dict_set_int(props, "MaxInputReportSize",
			 (int64_t)udk_hid_descriptor_max_report_length(desc, UDK_HID_REPORT_INPUT));
	udk_dict_set_int(props, "MaxOutputReportSize",
			 (int64_t)udk_hid_descriptor_max_report_length(desc, UDK_HID_REPORT_OUTPUT));
	udk_dict_set_int(props, "MaxFeatureReportSize",
			 (int64_t)udk_hid_descriptor_max_report_length(desc, UDK_HID_REPORT_FEATURE));
	if (!udk_dict_get(props, "DeviceUsagePairs") && n) {
		struct udk_value *pairs = udk_value_new_array();
		for (size_t i = 0; i < n && i < 8; i++) {
			struct udk_value *pr = udk_value_new_dict();
			udk_dict_set_int(pr, "DeviceUsagePage", UDK_HID_USAGE_PAGE(usages[i]));
			udk_dict_set_int(pr, "DeviceUsage", UDK_HID_USAGE_ID(usages[i]));
			udk_array_append_take(pairs, pr);
		}
		udk_dict_set_take(props, "DeviceUsagePairs", pairs);
	}
	if (!udk_dict_get(props, "PrimaryUsagePage") && n) {
		udk_dict_set_int(props, "PrimaryUsagePage", UDK_HID_USAGE_PAGE(usages[0]));
		udk_dict_set_int(props, "PrimaryUsage", UDK_HID_USAGE_ID(usages[0]));
	}
}

static void
read_usages(struct hid_dev *dev, const struct udk_value *props)
{
	struct udk_value *pairs = udk_dict_get(props, "DeviceUsagePairs");

	dev->n_usages = 0;
	for (size_t i = 0; i < udk_array_size(pairs) && dev->n_usages < ARRAY_SIZE(dev->usages); i++) {
		struct udk_value *pr = udk_array_get(pairs, i);
		int64_t page = udk_dict_get_int(pr, "DeviceUsagePage", -1), usage = udk_dict_get_int(pr, "DeviceUsage", -1);
		if (page >= 0 && page <= 0xffff && usage >= 0 && usage <= 0xffff)
			dev->usages[dev->n_usages++] = UDK_HID_USAGE(page, usage);
	}
	if (!dev->n_usages && udk_dict_get(props, "PrimaryUsagePage"))
		dev->usages[dev->n_usages++] = UDK_HID_USAGE(udk_dict_get_int(props, "PrimaryUsagePage", 0) & 0xffff,
							     udk_dict_get_int(props, "PrimaryUsage", 0) & 0xffff);
}

int
hid_dev_new(struct udkd *d, enum hid_backend backend, const char *name, const char *key, struct service *parent,
	    struct service *device, struct udk_hid_descriptor *desc, struct udk_value *props, bool register_now,
	    struct hid_dev **ret)
{
	static const char *const backends[] = { "sim", "evdev", "hidraw", "virtual" };
	struct hid_state *st = hid_state(d);
	struct hid_dev *dev = calloc(1, sizeof(*dev));
	struct udk_value *iprops = NULL;
	bool created = false;
	int r;

	if (!dev)
		return -ENOMEM;
	dev->d = d;
	dev->backend = backend;
	dev->fd = -1;
	dev->name = strdup(name);
	dev->key = strdup(key);
	dev->desc = desc;
	if (!dev->name || !dev->key) {
		r = -ENOMEM;
		goto fail;
	}
	if (desc)
		add_descriptor_props(props, desc);
	udk_dict_set_string(props, "UDKHIDBackend", backends[backend]);
	udk_dict_set_string(props, "UDKHIDDeviceKey", key);
	if (!udk_dict_get(props, "Built-In"))
		udk_dict_set_bool(props, "Built-In", false);
	dev->built_in = udk_dict_get_bool(props, "Built-In", false);
	dev->transport = strdup(udk_dict_get_string(props, "Transport") ? udk_dict_get_string(props, "Transport") : "?");
	dev->product = strdup(udk_dict_get_string(props, "Product") ? udk_dict_get_string(props, "Product") : name);
	read_usages(dev, props);
	udk_dict_set_bool(props, "UDKHIDProtected", hid_dev_protected(dev));
	if (device) {
		dev->device = service_ref(device);
		r = service_set_properties(d, device, props);
	} else {
		r = service_new(d, parent, name, class_chain_for("IOHIDDevice"), props, &dev->device);
		if (r >= 0) {
			service_ref(dev->device);
			created = true;
		}
	}
	if (r < 0)
		goto fail;
	iprops = udk_value_copy(props);
	udk_dict_remove(iprops, "IORegistered");
	r = service_new(d, dev->device, "IOHIDInterface", class_chain_for("IOHIDInterface"), iprops, &dev->iface);
	udk_value_unref(iprops);
	if (r < 0)
		goto fail;
	service_ref(dev->iface);
	dev->next = st->devs;
	st->devs = dev;
	if (register_now && created)
		service_register(d, dev->device);
	service_register(d, dev->iface);
	*ret = dev;
	return 0;
fail:
	if (created)
		service_terminate(d, dev->device, "could not be published");
	service_unref(dev->device);
	free(dev->name);
	free(dev->key);
	free(dev->transport);
	free(dev->product);
	free(dev);
	return r;
}

/* ---- dropping ---- */

void
hid_dev_drop(struct udkd *d, struct hid_dev *dev, enum udk_hid_problem_code code, const char *why)
{
	uint64_t now = now_ns();

	if ((unsigned)code < UDK_HID_E__COUNT)
		dev->dropped[code]++;
	if (now - dev->last_drop_log_ns < 1000000000ull && dev->last_drop_log_ns) {
		dev->drops_unlogged++;
		return;
	}
	udkd_log(d, UDK_LOG_WARNING, "hid", "%s (%s): dropped an input report: %s%s", dev->name, dev->product,
		 why ? why : udk_hid_problem_name(code), dev->drops_unlogged ? " (and more since the last message)" : "");
	dev->last_drop_log_ns = now;
	dev->drops_unlogged = 0;
}

/* ---- delivery ---- */

static void
send_frame(struct udkd *d, struct hid_handle *h, const struct hid_frame *f, uint64_t seq)
{
	struct proto_hid_rec rec = { .handle = h->id, .type = f->type, .len = (uint16_t)f->len, .seq = seq,
				     .time_ns = f->time_ns };

	if (hid_chan_send(d, h->chan, &rec, f->data) >= 0)
		h->delivered++;
}

/* To every reader (and Linux, for a virtual device) when nobody seized it. */
static void
deliver(struct udkd *d, struct hid_dev *dev, const struct hid_frame *f)
{
	for (struct hid_handle *h = dev->readers, *next; h; h = next) {
		next = h->dnext;
		if (h->ready && !h->seize)
			send_frame(d, h, f, 0);
	}
	if (dev->backend == HID_VIRTUAL && f->type == PROTO_HID_REC_REPORT)
		hid_export_input(d, dev, f->data, f->len);
}

/* Frames nobody handled go back to the device. */
static void
give_back(struct udkd *d, struct hid_dev *dev, struct hid_queue *q)
{
	struct hid_frame *f;
	unsigned n = 0;

	while ((f = queue_pop(q))) {
		if (!dev->gone) {
			if (dev->backend == HID_EVDEV)
				hid_evdev_give_back(d, dev, f);
			else
				deliver(d, dev, f);
			n++;
		}
		free(f);
	}
	dev->given_back += n;
	if (n)
		udkd_log(d, UDK_LOG_NOTICE, "hid", "%s: %u input frame(s) nobody handled were given back to the device",
			 dev->name, n);
}

static void
watch(struct udkd *d, struct hid_dev *dev)
{
	bool on = (dev->readers || dev->seizer || dev->handoff) && !dev->gone;

	if (dev->backend == HID_EVDEV)
		hid_evdev_watch(d, dev, on);
	else if (dev->backend == HID_HIDRAW)
		hid_hidraw_watch(d, dev, on);
}

static void
release_grab(struct hid_dev *dev)
{
	if (dev->backend == HID_EVDEV && dev->grabbed && !dev->gone)
		hid_evdev_grab(dev, false);
}

void
hid_dev_input(struct udkd *d, struct hid_dev *dev, uint16_t type, uint64_t time_ns, const void *data, size_t len)
{
	struct udk_hid_problem pr;
	struct hid_frame *f;

	if (dev->gone)
		return;
	if (type == PROTO_HID_REC_REPORT && dev->desc &&
	    udk_hid_report_check(dev->desc, UDK_HID_REPORT_INPUT, data, len, &pr) < 0) {
		hid_dev_drop(d, dev, pr.code, udk_error_reason());
		return;
	}
	if (len > PROTO_HID_MAX_PAYLOAD)
		return;
	dev->frames++;
	if (dev->seizer) {
		struct hid_handle *h = dev->seizer;
		if (h->journal.n >= HID_JOURNAL_MAX || h->journal.bytes + len > HID_JOURNAL_BYTES) {
			dev->dropped_journal++;
			if (dev->dropped_journal == 1 || now_ns() - dev->last_drop_log_ns > 1000000000ull) {
				udkd_log(d, UDK_LOG_WARNING, "hid",
					 "%s: dropped an input frame: %s, which seized the device, has %u frames it has "
					 "not acknowledged",
					 dev->name, h->bundle, h->journal.n);
				dev->last_drop_log_ns = now_ns();
			}
			return;
		}
		f = frame_new(type, time_ns, data, len);
		if (!f)
			return;
		f->seq = ++h->next_seq;
		queue_push(&h->journal, f);
		if (h->ready)
			send_frame(d, h, f, f->seq);
		return;
	}
	if (dev->handoff) {
		if (dev->handoff->frames.n >= HID_JOURNAL_MAX || dev->handoff->frames.bytes + len > HID_JOURNAL_BYTES) {
			dev->dropped_journal++;
			return;
		}
		f = frame_new(type, time_ns, data, len);
		if (f)
			queue_push(&dev->handoff->frames, f);
		return;
	}
	{
		struct hid_frame *tmp = frame_new(type, time_ns, data, len);
		if (!tmp)
			return;
		deliver(d, dev, tmp);
		free(tmp);
	}
}

void
hid_handle_ack(struct udkd *d, struct hid_handle *h, uint64_t seq)
{
	(void)d;
	while (h->journal.head && h->journal.head->seq <= seq)
		free(queue_pop(&h->journal));
}

void
hid_handle_start(struct udkd *d, struct hid_handle *h)
{
	if (h->ready)
		return;
	h->ready = true;
	/* a seizer gets what waited for it: frames handed over, then new ones */
	for (struct hid_frame *f = h->journal.head; f; f = f->next)
		send_frame(d, h, f, f->seq);
}

/* ---- hand-off ---- */

static void
handoff_free(struct udkd *d, struct hid_handoff *ho)
{
	if (!ho)
		return;
	if (ho->timer)
		loop_timer_cancel(d->loop, ho->timer);
	queue_clear(&ho->frames);
	free(ho->bundle);
	free(ho);
}

static void
on_handoff_timeout(struct loop *l, void *data)
{
	struct hid_dev *dev = data;
	struct hid_handoff *ho = dev->handoff;
	struct udkd *d = dev->d;

	(void)l;
	if (!ho)
		return;
	ho->timer = NULL;
	dev->handoff = NULL;
	udkd_log(d, UDK_LOG_NOTICE, "hid",
		 "%s: %s seized it and ended; no new instance came within %" PRIu64 " ms: the device is released",
		 dev->name, ho->bundle, hid_state(d)->handoff_ms);
	release_grab(dev);
	give_back(d, dev, &ho->frames);
	handoff_free(d, ho);
	watch(d, dev);
}

static void
handoff_start(struct udkd *d, struct hid_dev *dev, struct hid_handle *h)
{
	struct hid_handoff *ho = calloc(1, sizeof(*ho));
	uint64_t ms = hid_state(d)->handoff_ms;

	if (!ho || !ms) {
		free(ho);
		release_grab(dev);
		give_back(d, dev, &h->journal);
		return;
	}
	ho->bundle = strdup(h->bundle);
	ho->since_ns = now_ns();
	/* the oldest frame is the one it was handling when it died */
	if (h->journal.head)
		h->journal.head->tries++;
	while (h->journal.head)
		queue_push(&ho->frames, queue_pop(&h->journal));
	dev->handoff = ho;
	loop_add_timer(d->loop, now_ns() + ms * 1000000ull, on_handoff_timeout, dev, &ho->timer);
	udkd_log(d, UDK_LOG_NOTICE, "hid",
		 "%s: %s, which seized it, ended holding %u input frame(s); they wait %" PRIu64
		 " ms for its next instance",
		 dev->name, ho->bundle, ho->frames.n, ms);
}

/* A new seizer takes over what a hand-off kept. */
static void
handoff_take(struct udkd *d, struct hid_dev *dev, struct hid_handle *h)
{
	struct hid_handoff *ho = dev->handoff;
	struct hid_frame *f;
	unsigned n = 0;

	if (!ho)
		return;
	dev->handoff = NULL;
	if (!streq(ho->bundle, h->bundle)) {
		udkd_log(d, UDK_LOG_NOTICE, "hid", "%s: %s seizes it; what %s held goes back to the device first",
			 dev->name, h->bundle, ho->bundle);
		give_back(d, dev, &ho->frames);
		handoff_free(d, ho);
		return;
	}
	/* a frame two instances died handling is not offered a third time */
	if (ho->frames.head && ho->frames.head->tries >= 2) {
		struct hid_queue one = { 0 };
		queue_push(&one, queue_pop(&ho->frames));
		udkd_log(d, UDK_LOG_WARNING, "hid",
			 "%s: two instances of %s died handling the same input frame; it goes back to the device "
			 "instead of to the next instance",
			 dev->name, h->bundle);
		give_back(d, dev, &one);
	}
	while ((f = queue_pop(&ho->frames))) {
		f->seq = ++h->next_seq;
		queue_push(&h->journal, f);
		n++;
	}
	dev->replayed += n;
	udkd_log(d, UDK_LOG_NOTICE, "hid", "%s: %s is back after %" PRIu64 " ms and takes over %u input frame(s)",
		 dev->name, h->bundle, (now_ns() - ho->since_ns) / 1000000, n);
	handoff_free(d, ho);
}

/* ---- readers ---- */

void
hid_handle_end(struct udkd *d, struct hid_handle *h, bool died)
{
	struct hid_dev *dev = h->dev;

	if (!dev) {
		hid_handle_free(h);
		return;
	}
	if (h->owner) {
		h->dev = NULL;
		dev->owner = NULL;
		hid_handle_free(h);
		if (died && !dev->gone)
			hid_virtual_orphan(d, dev);
		else
			hid_dev_remove(d, dev, "its driver removed it");
		return;
	}
	for (struct hid_handle **pp = &dev->readers; *pp; pp = &(*pp)->dnext)
		if (*pp == h) {
			*pp = h->dnext;
			break;
		}
	if (dev->seizer == h) {
		dev->seizer = NULL;
		if (dev->gone) {
			/* nothing to give back to */
		} else if (died) {
			handoff_start(d, dev, h);
		} else {
			release_grab(dev);
			give_back(d, dev, &h->journal);
		}
	}
	h->dev = NULL;
	hid_handle_free(h);
	watch(d, dev);
}

void
hid_handle_close(struct udkd *d, struct hid_handle *h, int status, const char *why)
{
	struct proto_hid_rec rec = { .handle = h->id, .type = PROTO_HID_REC_CLOSED, .status = status };
	size_t len = why ? strlen(why) : 0;

	rec.len = (uint16_t)MIN(len, 1024u);
	hid_chan_send(d, h->chan, &rec, why);
	hid_handle_end(d, h, false);
}

static struct udk_value *
open_reply(struct hid_dev *dev, struct hid_handle *h)
{
	struct udk_value *v = udk_value_new_dict();
	size_t len;

	udk_dict_set_string(v, "backend", "hid");
	udk_dict_set_uint(v, "handle", h->id);
	udk_dict_set_uint(v, "id", dev->iface->id);
	udk_dict_set_string(v, "kind", dev->backend == HID_EVDEV ? "events" : "reports");
	udk_dict_set_string(v, "name", dev->name);
	udk_dict_set_bool(v, "seized", h->seize);
	if (dev->desc) {
		const uint8_t *b = udk_hid_descriptor_get_data(dev->desc, &len);
		udk_dict_set_take(v, "descriptor", udk_value_new_data(b, len));
	}
	return v;
}

void
hid_dev_open(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev)
{
	bool seize = udk_dict_get_bool(m->body, "seize", false);
	struct hid_chan *c = hid_chan_of(d, p);
	struct hid_handle *h;
	struct udk_value *reply;
	int r;

	if (!c) {
		proc_reply(p, m, -EPROTO, "open the HID channel first (OP_HID_CHANNEL); libudk-hid does", NULL, NULL,
			   0);
		return;
	}
	r = hid_policy_check(d, p->bundle, dev, seize);
	if (r < 0) {
		proc_reply(p, m, r, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	if (seize && dev->seizer) {
		char *why = strdup_printf("%s is seized by %s (pid %d); one driver at a time may seize a device",
					  dev->name, dev->seizer->bundle, dev->seizer->chan->proc->pid);
		proc_reply(p, m, -UDK_E_BUSY, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (seize && dev->backend == HID_EVDEV && !dev->grabbed) {
		r = hid_evdev_grab(dev, true);
		if (r < 0) {
			char *why = strdup_printf("%s cannot be seized: %s", dev->name,
						  r == -EBUSY ? "another program holds it (EVIOCGRAB)" : strerror(-r));
			proc_reply(p, m, r == -EBUSY ? -UDK_E_BUSY : r, why, NULL, NULL, 0);
			free(why);
			return;
		}
	}
	if (hid_chan_count(c, false) >= HID_CHAN_HANDLES) {
		proc_reply(p, m, -ENOSPC, "this driver holds 64 HID devices open already; close one first", NULL,
			   NULL, 0);
		return;
	}
	h = hid_handle_new(c, dev, false);
	if (!h) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	h->seize = seize;
	h->dnext = dev->readers;
	dev->readers = h;
	if (seize) {
		dev->seizer = h;
		handoff_take(d, dev, h);
	}
	watch(d, dev);
	reply = open_reply(dev, h);
	proc_reply(p, m, 0, NULL, reply, NULL, 0);
	udk_value_unref(reply);
	udkd_log(d, UDK_LOG_INFO, "hid", "%s %s %s (%s%s)", h->bundle, seize ? "seized" : "opened", dev->name,
		 dev->product, dev->built_in ? ", built-in" : "");
}

/* ---- removal ---- */

static void dev_remove(struct udkd *d, struct hid_dev *dev, const char *why, bool hardware);

void
hid_dev_remove(struct udkd *d, struct hid_dev *dev, const char *why)
{
	dev_remove(d, dev, why, false);
}

void
hid_dev_unplugged(struct udkd *d, struct hid_dev *dev, const char *why)
{
	dev_remove(d, dev, why, true);
}

static void
dev_remove(struct udkd *d, struct hid_dev *dev, const char *why, bool hardware)
{
	struct hid_state *st = hid_state(d);

	if (dev->gone)
		return;
	dev->gone = true;
	while (dev->readers)
		hid_handle_close(d, dev->readers, -UDK_E_HARDWARE_GONE, why);
	if (dev->owner) {
		struct hid_handle *o = dev->owner;
		dev->owner = NULL;
		o->dev = NULL;
		hid_handle_close(d, o, -UDK_E_HARDWARE_GONE, why);
	}
	handoff_free(d, dev->handoff);
	dev->handoff = NULL;
	if (dev->orphan_timer)
		loop_timer_cancel(d->loop, dev->orphan_timer);
	dev->orphan_timer = NULL;
	if (dev->export)
		hid_export_destroy(d, dev);
	watch(d, dev);
	if (dev->backend == HID_EVDEV)
		hid_evdev_grab(dev, false);
	if (dev->fd >= 0) {
		loop_source_remove(dev->src);
		dev->src = NULL;
		close(dev->fd);
		dev->fd = -1;
	}
	for (struct hid_dev **pp = &st->devs; *pp; pp = &(*pp)->next)
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	/* a simulated device's nub is its model's, and the model tells the apps */
	if (hardware && dev->backend != HID_SIM)
		/* the apps of the drivers on the device nub and on the interface under it first
		 * (UDK_E_HARDWARE_GONE), then the services, the interface before its device */
		launcher_uc_hardware_gone(d, dev->device, why);
	service_terminate(d, dev->iface, why);
	if (dev->backend != HID_SIM)
		service_terminate(d, dev->device, why);
	udkd_log(d, UDK_LOG_INFO, "hid", "%s (%s) is gone: %s", dev->name, dev->product, why);
	service_unref(dev->iface);
	service_unref(dev->device);
	service_unref(dev->driver_service);
	udk_hid_descriptor_free(dev->desc);
	if (dev->backend == HID_EVDEV)
		hid_evdev_free(dev);
	else if (dev->backend == HID_HIDRAW)
		hid_hidraw_free(dev);
	free(dev->backend_data);
	free(dev->name);
	free(dev->key);
	free(dev->transport);
	free(dev->product);
	free(dev);
}

/* ---- udkctl ---- */

struct udk_value *
hid_devices_describe(struct udkd *d)
{
	static const char *const backends[] = { "sim", "evdev", "hidraw", "virtual" };
	struct udk_value *list = udk_value_new_array();

	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next) {
		struct udk_value *e = udk_value_new_dict(), *rs = udk_value_new_array(), *drops = udk_value_new_dict();
		char *path = service_path(dev->iface);

		udk_dict_set_string(e, "name", dev->name);
		udk_dict_set_string(e, "product", dev->product);
		udk_dict_set_string(e, "backend", backends[dev->backend]);
		udk_dict_set_string(e, "path", path ? path : "?");
		udk_dict_set_string(e, "key", dev->key);
		udk_dict_set_string(e, "transport", dev->transport);
		udk_dict_set_bool(e, "built_in", dev->built_in);
		udk_dict_set_bool(e, "protected", hid_dev_protected(dev));
		free(path);
		for (struct hid_handle *h = dev->readers; h; h = h->dnext) {
			struct udk_value *r = udk_value_new_dict();
			udk_dict_set_string(r, "driver", h->bundle);
			udk_dict_set_int(r, "pid", h->chan->proc->pid);
			udk_dict_set_bool(r, "seized", h->seize);
			udk_dict_set_uint(r, "delivered", h->delivered);
			udk_dict_set_uint(r, "unacknowledged", h->journal.n);
			udk_array_append_take(rs, r);
		}
		udk_dict_set_take(e, "readers", rs);
		if (dev->handoff) {
			udk_dict_set_string(e, "handoff_for", dev->handoff->bundle);
			udk_dict_set_uint(e, "handoff_frames", dev->handoff->frames.n);
		}
		udk_dict_set_uint(e, "frames", dev->frames);
		udk_dict_set_uint(e, "given_back", dev->given_back);
		udk_dict_set_uint(e, "replayed", dev->replayed);
		for (unsigned k = 1; k < UDK_HID_E__COUNT; k++)
			if (dev->dropped[k])
				udk_dict_set_uint(drops, udk_hid_problem_name(k), dev->dropped[k]);
		if (dev->dropped_journal)
			udk_dict_set_uint(drops, "unacknowledged", dev->dropped_journal);
		udk_dict_set_take(e, "dropped", drops);
		if (dev->export)
			udk_dict_set_take(e, "export", hid_export_describe(dev));
		udk_array_append_take(list, e);
	}
	return list;
}
