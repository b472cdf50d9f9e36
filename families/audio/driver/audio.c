/* SPDX-License-Identifier: MIT */
/*
 * audio/driver/audio.c - libudk-audio: audio devices for drivers
 * (<udk/families/audio.h>).
 *
 * A device is published as an IOUserAudioDevice under the driver, its
 * description (streams, formats, controls) as properties that udkd checks
 * (OP_AUDIO_DEVICE_STATE) before they reach the registry, so apps
 * subscribed to property notifications hear every change.
 *
 * Apps (the ALSA plugin) open a user client on the device (AUDIO_UC_IO):
 * OPEN_STREAM sets a stream up and makes its ring (one memfd, mapped by the
 * app with udk_connection_map_memory, by this process, and by the device
 * for DMA); PREPARE, START and STOP drive it; nothing crosses the socket
 * while samples flow.  Presence handles (AUDIO_UC_PRESENCE, on the driver)
 * keep a UDK_AUDIO_VISIBLE_WHILE_HELD device in the registry while their
 * app lives: the kernel closes the app's socket when it ends, however it
 * ends, and the device leaves with the last holder.
 *
 * Locks: dev->lock guards a device's mutable state; dev->publish_lock
 * orders what udkd hears and is taken first.  The driver's ops run on the
 * device's queue (run_on_queue), never under either lock.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>

#include <udk/userclient.h>

#include "audio-common.h"
#include "audio-private.h"
#include "private.h"
#include "util.h"
#include "wire.h"

#define DEFAULT_MIN_PERIOD 16u
#define DEFAULT_MAX_BUFFER 65536u
#define COUNTERS_INTERVAL_NS (200ull * 1000 * 1000)

static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udk_audio_device *devices;

static const struct udk_class io_client_class;
static const struct udk_class presence_client_class;
static const struct udk_class nub_class;
static int peer_pid(struct udk_service *uc);

#define HAS(ops, f)                                                                                             \
	((ops)->struct_size >= offsetof(struct udk_audio_ops, f) + sizeof((ops)->f) && (ops)->f)

/* ---- running the driver's ops on the device's queue ---- */

struct queued {
	void (*fn)(struct queued *q);
	struct udk_audio_device *dev;
	struct udk_audio_stream *stream;
	struct udk_audio_control *control;
	const struct udk_audio_stream_setup *setup;
	int32_t value;
	bool flag;
	int r;
	char reason[300];
};

static void
run_block(void *data)
{
	struct queued *q = data;

	udk_clear_reason();
	q->fn(q);
	if (q->r < 0) {
		const char *why = udk_error_reason();
		snprintf(q->reason, sizeof(q->reason), "%s", why && *why ? why : udk_strerror(q->r));
	}
}

static int
run_on_queue(struct queued *q)
{
	int r;

	if (udk_queue_is_current(q->dev->queue)) {
		run_block(q);
	} else if ((r = udk_queue_dispatch_sync(q->dev->queue, run_block, q)) < 0) {
		return r;
	}
	if (q->r < 0)
		return udk_error_set(q->r, "%s", q->reason);
	return q->r;
}

static void
op_open(struct queued *q)
{
	q->r = HAS(&q->dev->ops, stream_open) ? q->dev->ops.stream_open(q->stream, q->setup, q->dev->ctx) : 0;
}

static void
op_start(struct queued *q)
{
	q->r = HAS(&q->dev->ops, stream_start) ? q->dev->ops.stream_start(q->stream, q->dev->ctx) : 0;
}

static void
op_stop(struct queued *q)
{
	if (HAS(&q->dev->ops, stream_stop))
		q->dev->ops.stream_stop(q->stream, q->dev->ctx);
	q->r = 0;
}

static void
op_close(struct queued *q)
{
	if (HAS(&q->dev->ops, stream_close))
		q->dev->ops.stream_close(q->stream, q->dev->ctx);
	q->r = 0;
}

static void
op_control(struct queued *q)
{
	q->r = HAS(&q->dev->ops, control_set) ? q->dev->ops.control_set(q->control, q->value, q->dev->ctx) : 0;
}

static void
op_presence(struct queued *q)
{
	if (HAS(&q->dev->ops, presence_changed))
		q->dev->ops.presence_changed(q->dev, q->flag, q->dev->ctx);
	q->r = 0;
}

static int
call_op(struct udk_audio_device *dev, void (*fn)(struct queued *), struct udk_audio_stream *s,
	const struct udk_audio_stream_setup *setup, struct udk_audio_control *c, int32_t value, bool flag)
{
	struct queued q = { .fn = fn, .dev = dev, .stream = s, .setup = setup, .control = c, .value = value,
			    .flag = flag };
	return run_on_queue(&q);
}

/* ---- the description udkd publishes ---- */

static struct udk_value *
format_value(const struct udk_audio_format *f)
{
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_string(v, "sample_format", audio_sample_format_str(f->sample_format));
	udk_dict_set_int(v, "channels", f->channels);
	udk_dict_set_int(v, "rate", f->sample_rate);
	return v;
}

/* Under dev->lock. */
static struct udk_value *
describe(struct udk_audio_device *dev)
{
	struct udk_value *st = udk_value_new_dict(), *list = udk_value_new_array();

	udk_dict_set_string(st, "UDKAudioName", dev->name);
	udk_dict_set_string(st, "UDKAudioDescription", dev->description);
	udk_dict_set_string(st, "UDKAudioUID", dev->uid);
	udk_dict_set_string(st, "UDKAudioVisibility",
			    dev->visibility == UDK_AUDIO_VISIBLE_WHILE_HELD ? "while-held" : "always");
	for (unsigned i = 0; i < dev->n_streams; i++) {
		struct udk_audio_stream *s = dev->streams[i];
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "name", s->name);
		udk_dict_set_string(e, "direction", s->direction == UDK_AUDIO_OUTPUT ? "output" : "input");
		udk_dict_set_take(e, "formats", audio_formats_to_value(s->formats, s->n_formats));
		udk_dict_set_int(e, "min_period_frames", s->min_period);
		udk_dict_set_int(e, "max_buffer_frames", s->max_buffer);
		if (s->owner) {
			udk_dict_set_take(e, "current", format_value(&s->setup.format));
			udk_dict_set_int(e, "in_use_by", s->setup.app_pid);
		}
		udk_array_append_take(list, e);
	}
	udk_dict_set_take(st, "UDKAudioStreams", list);
	list = udk_value_new_array();
	for (unsigned i = 0; i < dev->n_controls; i++) {
		struct udk_audio_control *c = dev->controls[i];
		struct udk_value *e = udk_value_new_dict();
		static const char *const kinds[] = { "?", "volume", "mute", "selector" };
		udk_dict_set_string(e, "name", c->name);
		udk_dict_set_string(e, "kind", kinds[c->kind <= 3 ? c->kind : 0]);
		udk_dict_set_int(e, "value", c->value);
		if (c->kind == UDK_AUDIO_CONTROL_VOLUME) {
			udk_dict_set_int(e, "min", c->min);
			udk_dict_set_int(e, "max", c->max);
		}
		if (c->kind == UDK_AUDIO_CONTROL_SELECTOR) {
			struct udk_value *items = udk_value_new_array();
			for (unsigned k = 0; k < c->n_items; k++)
				udk_array_append_take(items, udk_value_new_string(c->items[k]));
			udk_dict_set_take(e, "items", items);
			udk_dict_set_bool(e, "clock_source", c->clock_source);
		}
		udk_array_append_take(list, e);
	}
	udk_dict_set_take(st, "UDKAudioControls", list);
	return st;
}

/* Under publish_lock: tell udkd the description of the visible device. */
static int
send_state(struct udk_audio_device *dev)
{
	struct udk_value *body, *st;
	uint64_t id;
	int r;

	pthread_mutex_lock(&dev->lock);
	id = dev->nub ? udk_service_get_id(dev->nub) : 0;
	st = id ? describe(dev) : NULL;
	pthread_mutex_unlock(&dev->lock);
	if (!id)
		return 0;
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "device", id);
	udk_dict_set_take(body, "state", st);
	r = rt_call(OP_AUDIO_DEVICE_STATE, body, NULL);
	udk_value_unref(body);
	return r;
}

static int
publish_state(struct udk_audio_device *dev)
{
	int r;

	pthread_mutex_lock(&dev->publish_lock);
	r = send_state(dev);
	pthread_mutex_unlock(&dev->publish_lock);
	return r;
}

static void
send_presence(struct udk_audio_device *dev, bool visible, const char *why)
{
	struct udk_value *b = udk_value_new_dict();

	udk_dict_set_string(b, "name", dev->name);
	udk_dict_set_string(b, "uid", dev->uid);
	udk_dict_set_bool(b, "visible", visible);
	if (why)
		udk_dict_set_string(b, "reason", why);
	if (rt.connected)
		wire_send_value(rt.sock, OP_AUDIO_DEVICE_PRESENCE, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
	udk_value_unref(b);
}

/* ---- visibility ---- */

/* Under publish_lock. */
static int
make_visible(struct udk_audio_device *dev)
{
	static const char *const classes[] = { "IOUserAudioDevice", NULL };
	struct udk_service *nub = NULL;
	struct udk_value *props;
	int r;

	if (dev->nub)
		return 0;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKAudioName", dev->name);
	r = udk_service_create_child(dev->self, dev->name, classes, props, &nub);
	udk_value_unref(props);
	if (r < 0)
		return r;
	/* user clients of the nub are the family's */
	nub->cls = &nub_class;
	pthread_mutex_lock(&dev->lock);
	dev->nub = nub;
	pthread_mutex_unlock(&dev->lock);
	r = send_state(dev);
	if (r >= 0)
		r = udk_service_register(nub);
	if (r < 0) {
		char *why = udk_error_reason() ? strdup(udk_error_reason()) : NULL;
		pthread_mutex_lock(&dev->lock);
		dev->nub = NULL;
		pthread_mutex_unlock(&dev->lock);
		udk_service_terminate(nub);
		udk_service_unref(nub);
		if (why)
			udk_set_reason(r, "%s", why);
		free(why);
		return r;
	}
	send_presence(dev, true, NULL);
	return 0;
}

static void end_stream(struct udk_audio_stream *s, int code, const char *why);

/*
 * Out of the registry: open streams end with @why, then the nub goes.
 * With @if_unheld, only when no app holds it any more (a holder may have
 * come meanwhile).  Takes publish_lock itself: the streams' ops may
 * publish (and so must run without it).
 */
static void
make_hidden(struct udk_audio_device *dev, const char *why, bool if_unheld)
{
	struct udk_service *nub = NULL;

	for (unsigned i = 0; i < dev->n_streams; i++)
		end_stream(dev->streams[i], -UDK_E_HARDWARE_GONE, why);
	pthread_mutex_lock(&dev->publish_lock);
	pthread_mutex_lock(&dev->lock);
	if (!if_unheld || !dev->holders)
		nub = TAKE_PTR(dev->nub);
	pthread_mutex_unlock(&dev->lock);
	if (nub) {
		udk_service_terminate(nub);
		udk_service_unref(nub);
		udk_log_info("audio device %s: hidden (%s)", dev->name, why);
		send_presence(dev, false, why);
	}
	pthread_mutex_unlock(&dev->publish_lock);
}

/* ---- devices ---- */

static struct udk_audio_device *
device_ref(struct udk_audio_device *dev)
{
	atomic_fetch_add(&dev->refcount, 1);
	return dev;
}

static void
device_unref(struct udk_audio_device *dev)
{
	if (!dev || atomic_fetch_sub(&dev->refcount, 1) != 1)
		return;
	for (unsigned i = 0; i < dev->n_streams; i++) {
		free(dev->streams[i]->name);
		udk_buffer_unref(dev->streams[i]->ring);
		free(dev->streams[i]);
	}
	for (unsigned i = 0; i < dev->n_controls; i++) {
		struct udk_audio_control *c = dev->controls[i];
		for (unsigned k = 0; k < c->n_items; k++)
			free(c->items[k]);
		free(c->items);
		free(c->name);
		free(c);
	}
	udk_timer_unref(dev->counters);
	pthread_mutex_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->publish_lock);
	udk_queue_unref(dev->queue);
	udk_service_unref(dev->self);
	free(dev->name);
	free(dev->description);
	free(dev->uid);
	free(dev);
}

UDK_EXPORT int
udk_audio_device_create(struct udk_service *self, const struct udk_audio_device_config *config,
			const struct udk_audio_ops *ops, void *ctx, struct udk_audio_device **ret)
{
	struct udk_audio_device *dev;
	struct udk_audio_device_config cfg;
	char why[200], pname[AUDIO_NAME_MAX + 2], pvis[32];
	int r;

	udk_return_val_if_fail(self && config && ret, -EINVAL);
	if (config->struct_size < offsetof(struct udk_audio_device_config, queue) + sizeof(config->queue))
		return udk_error_set(-EINVAL, "struct udk_audio_device_config is too small: use UDK_AUDIO_DEVICE_CONFIG_INIT");
	r = udk_service_require_class(self, "IOUserAudioDriver", "audio device");
	if (r < 0)
		return r;
	/* the personality's keys win: a packager renames without code */
	cfg = *config;
	if (udk_service_get_string_property(self, "UDKAudioDeviceName", pname, sizeof(pname)) == 0)
		cfg.name = pname;
	if (udk_service_get_string_property(self, "UDKAudioVisibility", pvis, sizeof(pvis)) == 0) {
		if (streq(pvis, "while-held"))
			cfg.visibility = UDK_AUDIO_VISIBLE_WHILE_HELD;
		else if (streq(pvis, "always"))
			cfg.visibility = UDK_AUDIO_VISIBLE_ALWAYS;
		else
			return udk_error_set(-EINVAL, "the personality's UDKAudioVisibility is \"%s\"; use \"always\" or "
					     "\"while-held\"", pvis);
	}
	config = &cfg;
	if (!audio_name_ok(config->name, why, sizeof(why)))
		return udk_error_set(-EINVAL, "the audio device name %s", why);
	if (config->visibility > UDK_AUDIO_VISIBLE_WHILE_HELD)
		return udk_error_set(-EINVAL, "visibility must be UDK_AUDIO_VISIBLE_ALWAYS or _WHILE_HELD");
	pthread_mutex_lock(&devices_lock);
	for (struct udk_audio_device *d = devices; d; d = d->next)
		if (!d->destroyed && streq(d->name, config->name)) {
			pthread_mutex_unlock(&devices_lock);
			return udk_error_set(-EEXIST, "this driver already has an audio device named %s", config->name);
		}
	pthread_mutex_unlock(&devices_lock);
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->refcount = 1;
	dev->self = udk_service_ref(self);
	dev->queue = udk_queue_ref(config->queue ? config->queue : udk_service_get_default_queue(self));
	if (ops) {
		size_t n = MIN(ops->struct_size, sizeof(dev->ops));
		memcpy(&dev->ops, ops, n);
		dev->ops.struct_size = (uint32_t)n;
	} else {
		dev->ops.struct_size = sizeof(dev->ops);
	}
	dev->ctx = ctx;
	dev->name = strdup(config->name);
	dev->description = strdup(config->description && *config->description ? config->description : config->name);
	dev->uid = strdup(config->uid && *config->uid ? config->uid : config->name);
	dev->visibility = config->visibility;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_mutex_init(&dev->publish_lock, NULL);
	if (!dev->name || !dev->description || !dev->uid) {
		device_unref(dev);
		return -ENOMEM;
	}
	if (strlen(dev->description) > AUDIO_TEXT_MAX || strchr(dev->description, '|') ||
	    strlen(dev->uid) > AUDIO_TEXT_MAX || strchr(dev->uid, '|')) {
		device_unref(dev);
		return udk_error_set(-EINVAL, "the description and uid must be at most %d characters, without '|'",
				     AUDIO_TEXT_MAX);
	}
	pthread_mutex_lock(&devices_lock);
	dev->next = devices;
	devices = dev;
	pthread_mutex_unlock(&devices_lock);
	*ret = dev;
	return 0;
}

UDK_EXPORT int
udk_audio_device_add_stream(struct udk_audio_device *dev, const struct udk_audio_stream_config *config,
			    struct udk_audio_stream **ret)
{
	struct udk_audio_stream *s;
	char why[300];

	udk_return_val_if_fail(dev && config, -EINVAL);
	if (config->struct_size < offsetof(struct udk_audio_stream_config, max_buffer_frames) + sizeof(uint32_t))
		return udk_error_set(-EINVAL, "struct udk_audio_stream_config is too small: use UDK_AUDIO_STREAM_CONFIG_INIT");
	if (dev->published)
		return udk_error_set(-EBUSY, "add streams before udk_audio_device_publish()");
	if (dev->n_streams >= AUDIO_MAX_STREAMS)
		return udk_error_set(-ENOSPC, "a device has at most %d streams", AUDIO_MAX_STREAMS);
	if (config->direction != UDK_AUDIO_OUTPUT && config->direction != UDK_AUDIO_INPUT)
		return udk_error_set(-EINVAL, "a stream's direction is UDK_AUDIO_OUTPUT or UDK_AUDIO_INPUT");
	if (!audio_formats_check(config->formats, config->n_formats, why, sizeof(why)))
		return udk_error_set(-EINVAL, "stream %u of %s: %s", dev->n_streams, dev->name, why);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->index = dev->n_streams;
	s->direction = config->direction;
	s->name = config->name && *config->name
			  ? strdup(config->name)
			  : strdup_printf("%s %u", config->direction == UDK_AUDIO_OUTPUT ? "output" : "input", s->index);
	memcpy(s->formats, config->formats, config->n_formats * sizeof(*config->formats));
	s->n_formats = config->n_formats;
	s->min_period = config->min_period_frames ? config->min_period_frames : DEFAULT_MIN_PERIOD;
	s->max_buffer = config->max_buffer_frames ? config->max_buffer_frames : DEFAULT_MAX_BUFFER;
	if (!s->name || strlen(s->name) > AUDIO_TEXT_MAX || s->min_period < AUDIO_MIN_PERIOD ||
	    s->max_buffer > AUDIO_MAX_BUFFER || s->max_buffer < 2 * s->min_period) {
		free(s->name);
		free(s);
		return udk_error_set(-EINVAL, "stream %u of %s: a name of at most %d characters, periods of at least %d "
				     "frames and buffers of at most %u frames (twice the period or more)",
				     dev->n_streams, dev->name, AUDIO_TEXT_MAX, AUDIO_MIN_PERIOD, AUDIO_MAX_BUFFER);
	}
	dev->streams[dev->n_streams++] = s;
	if (ret)
		*ret = s;
	return 0;
}

UDK_EXPORT int
udk_audio_device_add_control(struct udk_audio_device *dev, const struct udk_audio_control_config *config,
			     struct udk_audio_control **ret)
{
	struct udk_audio_control *c;

	udk_return_val_if_fail(dev && config, -EINVAL);
	if (config->struct_size < offsetof(struct udk_audio_control_config, clock_source) + sizeof(bool))
		return udk_error_set(-EINVAL, "struct udk_audio_control_config is too small: use UDK_AUDIO_CONTROL_CONFIG_INIT");
	if (dev->published)
		return udk_error_set(-EBUSY, "add controls before udk_audio_device_publish()");
	if (dev->n_controls >= AUDIO_MAX_CONTROLS)
		return udk_error_set(-ENOSPC, "a device has at most %d controls", AUDIO_MAX_CONTROLS);
	if (!config->name || !*config->name || strlen(config->name) > AUDIO_TEXT_MAX || strchr(config->name, '|'))
		return udk_error_set(-EINVAL, "a control needs a name of 1..%d characters without '|'", AUDIO_TEXT_MAX);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dev = dev;
	c->index = dev->n_controls;
	c->kind = config->kind;
	c->name = strdup(config->name);
	c->min = config->min;
	c->max = config->max;
	c->value = config->value;
	c->clock_source = config->clock_source;
	switch (config->kind) {
	case UDK_AUDIO_CONTROL_VOLUME:
		if (c->min < -20000 || c->max > 20000 || c->min > c->max || c->value < c->min || c->value > c->max)
			goto bad;
		break;
	case UDK_AUDIO_CONTROL_MUTE:
		c->min = 0;
		c->max = 1;
		if (c->value != 0 && c->value != 1)
			goto bad;
		break;
	case UDK_AUDIO_CONTROL_SELECTOR:
		for (const char *const *it = config->items; it && *it; it++) {
			if (c->n_items >= AUDIO_MAX_ITEMS || !**it || strlen(*it) > AUDIO_TEXT_MAX || strchr(*it, '|'))
				goto bad;
			char **n = reallocarray(c->items, c->n_items + 1, sizeof(*n));
			if (!n)
				goto bad;
			c->items = n;
			c->items[c->n_items++] = strdup(*it);
		}
		c->min = 0;
		c->max = (int32_t)c->n_items - 1;
		if (!c->n_items || c->value < 0 || c->value > c->max)
			goto bad;
		break;
	default:
		goto bad;
	}
	dev->controls[dev->n_controls++] = c;
	if (ret)
		*ret = c;
	return 0;
bad:
	for (unsigned k = 0; k < c->n_items; k++)
		free(c->items[k]);
	free(c->items);
	free(c->name);
	free(c);
	return udk_error_set(-EINVAL,
			     "control \"%s\": a volume needs -20000 <= min <= value <= max <= 20000 (1/100 dB), a mute 0 "
			     "or 1, a selector 1..%d items of at most %d characters and a value among them",
			     config->name, AUDIO_MAX_ITEMS, AUDIO_TEXT_MAX);
}

UDK_EXPORT int
udk_audio_device_publish(struct udk_audio_device *dev)
{
	int r = 0;

	udk_return_val_if_fail(dev, -EINVAL);
	if (!dev->n_streams)
		return udk_error_set(-EINVAL, "audio device %s has no stream: add one before publishing", dev->name);
	/* apps find the driver for presence handles: RegisterService() it */
	{
		struct udk_value *names = udk_value_new_array(), *props = udk_value_new_dict();
		pthread_mutex_lock(&devices_lock);
		for (struct udk_audio_device *d = devices; d; d = d->next)
			if (d->self == dev->self && !d->destroyed)
				udk_array_append_take(names, udk_value_new_string(d->name));
		pthread_mutex_unlock(&devices_lock);
		udk_dict_set_take(props, "UDKAudioDevices", names);
		udk_service_set_properties(dev->self, props);
		udk_value_unref(props);
		udk_service_register(dev->self);
	}
	pthread_mutex_lock(&dev->publish_lock);
	dev->published = true;
	if (dev->visibility == UDK_AUDIO_VISIBLE_ALWAYS || dev->holders)
		r = make_visible(dev);
	else
		send_presence(dev, false, "waiting for an app to hold it");
	pthread_mutex_unlock(&dev->publish_lock);
	if (r >= 0)
		udk_log_info("audio device %s: %s", dev->name,
			     dev->nub ? "published" : "hidden until an app holds it (UDK_AUDIO_VISIBLE_WHILE_HELD)");
	return r;
}

UDK_EXPORT void
udk_audio_device_destroy(struct udk_audio_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_lock(&devices_lock);
	for (struct udk_audio_device **pp = &devices; *pp; pp = &(*pp)->next)
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	pthread_mutex_unlock(&devices_lock);
	make_hidden(dev, "its driver took it away", false);
	dev->destroyed = true;
	if (dev->counters)
		udk_timer_cancel(dev->counters);
	device_unref(dev);
}

UDK_EXPORT const char *
udk_audio_device_get_name(const struct udk_audio_device *dev)
{
	return dev ? dev->name : NULL;
}

UDK_EXPORT bool
udk_audio_device_is_visible(const struct udk_audio_device *dev)
{
	return dev && dev->nub;
}

UDK_EXPORT uint64_t
udk_audio_device_get_id(const struct udk_audio_device *dev)
{
	return dev && dev->nub ? udk_service_get_id(dev->nub) : 0;
}

/* ---- streams ---- */

UDK_EXPORT struct udk_audio_device *
udk_audio_stream_get_device(struct udk_audio_stream *stream)
{
	return stream ? stream->dev : NULL;
}

UDK_EXPORT unsigned
udk_audio_stream_get_index(const struct udk_audio_stream *stream)
{
	return stream ? stream->index : 0;
}

UDK_EXPORT uint32_t
udk_audio_stream_get_direction(const struct udk_audio_stream *stream)
{
	return stream ? stream->direction : 0;
}

UDK_EXPORT int
udk_audio_stream_set_formats(struct udk_audio_stream *stream, const struct udk_audio_format_range *formats,
			     uint32_t n)
{
	char why[300], list[600];

	udk_return_val_if_fail(stream, -EINVAL);
	if (!audio_formats_check(formats, n, why, sizeof(why)))
		return udk_error_set(-EINVAL, "stream %u (%s) of %s: refused the new formats: %s; it keeps the old ones",
				     stream->index, stream->name, stream->dev->name, why);
	pthread_mutex_lock(&stream->dev->lock);
	if (n == stream->n_formats && !memcmp(stream->formats, formats, n * sizeof(*formats))) {
		pthread_mutex_unlock(&stream->dev->lock);
		return 0;	/* nothing new to tell */
	}
	memcpy(stream->formats, formats, n * sizeof(*formats));
	stream->n_formats = n;
	pthread_mutex_unlock(&stream->dev->lock);
	audio_formats_describe(formats, n, list, sizeof(list));
	udk_log_info("audio device %s, stream %u (%s): formats now %s", stream->dev->name, stream->index, stream->name,
		     list);
	return publish_state(stream->dev);
}

UDK_EXPORT int
udk_audio_stream_get_setup(struct udk_audio_stream *stream, struct udk_audio_stream_setup *ret)
{
	int r = -ENODATA;

	udk_return_val_if_fail(stream && ret, -EINVAL);
	pthread_mutex_lock(&stream->dev->lock);
	if (stream->ring) {
		*ret = stream->setup;
		r = 0;
	}
	pthread_mutex_unlock(&stream->dev->lock);
	return r;
}

UDK_EXPORT struct udk_buffer *
udk_audio_stream_get_buffer(struct udk_audio_stream *stream)
{
	return stream ? stream->ring : NULL;
}

UDK_EXPORT void *
udk_audio_stream_get_samples(struct udk_audio_stream *stream)
{
	return stream ? stream->samples : NULL;
}

int
audio_stream_ring_fd(struct udk_audio_stream *stream, uint64_t *ret_size)
{
	if (!stream || !stream->ring)
		return udk_set_reason(-ENODATA, "the stream is not open");
	*ret_size = udk_buffer_get_size(stream->ring);
	return udk_buffer_get_fd(stream->ring);
}

UDK_EXPORT uint64_t
udk_audio_stream_get_app_position(struct udk_audio_stream *stream)
{
	/* acquire: pairs with the app's release store of appl_frames after
	 * it wrote the samples (alsa/pcm_udk.c, transfer) */
	return stream && stream->hdr ? atomic_load_explicit(&stream->hdr->appl_frames, memory_order_acquire) : 0;
}

UDK_EXPORT int
udk_audio_stream_publish_position(struct udk_audio_stream *stream, uint64_t frames, uint64_t host_ns)
{
	struct audio_ring_header *h;
	uint32_t seq;

	udk_return_val_if_fail(stream, -EINVAL);
	h = stream->hdr;
	if (!h)
		return -ENODATA;
	if (!host_ns)
		host_ns = udk_time_now_ns();
	/* seqlock writer: odd while writing; readers (the app's pointer and
	 * timer code) retry on odd or changed.  The release on the final
	 * increment pairs with the app's acquire load of pos_seq, so the
	 * samples written before (input) are visible with the position. */
	seq = atomic_load_explicit(&h->pos_seq, memory_order_relaxed);
	atomic_store_explicit(&h->pos_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&h->hw_frames, frames, memory_order_relaxed);
	atomic_store_explicit(&h->zero_sample, frames, memory_order_relaxed);
	atomic_store_explicit(&h->zero_host_ns, host_ns, memory_order_relaxed);
	atomic_store_explicit(&h->pos_seq, seq + 2, memory_order_release);
	return 0;
}

UDK_EXPORT bool
udk_audio_stream_is_draining(struct udk_audio_stream *stream)
{
	return stream && stream->hdr &&
	       (atomic_load_explicit(&stream->hdr->app_flags, memory_order_relaxed) & AUDIO_APP_DRAINING);
}

UDK_EXPORT int
udk_audio_stream_report_xrun(struct udk_audio_stream *stream, uint64_t frames)
{
	udk_return_val_if_fail(stream, -EINVAL);
	if (!stream->hdr)
		return -ENODATA;
	atomic_fetch_add_explicit(&stream->hdr->xruns, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&stream->hdr->xrun_frames, frames, memory_order_relaxed);
	return 0;
}

UDK_EXPORT int
udk_audio_stream_get_xruns(struct udk_audio_stream *stream, uint64_t *ret_xruns, uint64_t *ret_frames)
{
	udk_return_val_if_fail(stream, -EINVAL);
	if (!stream->hdr)
		return -ENODATA;
	if (ret_xruns)
		*ret_xruns = atomic_load_explicit(&stream->hdr->xruns, memory_order_relaxed);
	if (ret_frames)
		*ret_frames = atomic_load_explicit(&stream->hdr->xrun_frames, memory_order_relaxed);
	return 0;
}

/* ---- xrun counters to udkd, every 200 ms while something is open ---- */

/* Under dev->lock: a stream's counters since the device was made. */
static void
stream_counts(struct udk_audio_stream *s, uint64_t *xruns, uint64_t *frames)
{
	*xruns = s->base_xruns;
	*frames = s->base_frames;
	if (s->hdr) {
		*xruns += atomic_load_explicit(&s->hdr->xruns, memory_order_relaxed);
		*frames += atomic_load_explicit(&s->hdr->xrun_frames, memory_order_relaxed);
	}
}

/* Tell udkd the counters if they changed (any thread). */
static bool
send_counters(struct udk_audio_device *dev)
{
	struct udk_value *b = NULL, *list;
	bool any_open = false, changed = false;

	pthread_mutex_lock(&dev->lock);
	list = udk_value_new_array();
	for (unsigned i = 0; i < dev->n_streams; i++) {
		struct udk_audio_stream *s = dev->streams[i];
		struct udk_value *e;
		uint64_t x, f;
		stream_counts(s, &x, &f);
		any_open |= s->hdr != NULL;
		if (x != s->reported_xruns) {
			changed = true;
			udk_log_notice("audio device %s, stream %u (%s): %" PRIu64 " %s so far (%" PRIu64 " frames)",
				       dev->name, i, s->name, x, s->direction == UDK_AUDIO_OUTPUT ? "underruns" : "overruns",
				       f);
			s->reported_xruns = x;
		}
		e = udk_value_new_dict();
		udk_dict_set_string(e, "stream", s->name);
		udk_dict_set_uint(e, "xruns", x);
		udk_dict_set_uint(e, "frames", f);
		udk_array_append_take(list, e);
	}
	if (changed && dev->nub) {
		b = udk_value_new_dict();
		udk_dict_set_uint(b, "device", udk_service_get_id(dev->nub));
		udk_dict_set(b, "counters", list);
	}
	pthread_mutex_unlock(&dev->lock);
	udk_value_unref(list);
	if (b && rt.connected)
		wire_send_value(rt.sock, OP_AUDIO_DEVICE_COUNTERS, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
	udk_value_unref(b);
	return any_open;
}

static void
counters_tick(struct udk_timer *t, uint64_t now, void *data)
{
	struct udk_audio_device *dev = data;

	(void)t;
	(void)now;
	if (send_counters(dev))
		udk_timer_arm(dev->counters, udk_time_now_ns() + COUNTERS_INTERVAL_NS, 0);
}

static void
counters_start(struct udk_audio_device *dev)
{
	if (!dev->counters && udk_timer_create(dev->queue, counters_tick, dev, &dev->counters) < 0)
		return;
	udk_timer_arm(dev->counters, udk_time_now_ns() + COUNTERS_INTERVAL_NS, 0);
}

/* ---- controls ---- */

UDK_EXPORT int32_t
udk_audio_control_get_value(const struct udk_audio_control *control)
{
	return control ? control->value : 0;
}

UDK_EXPORT unsigned
udk_audio_control_get_index(const struct udk_audio_control *control)
{
	return control ? control->index : 0;
}

UDK_EXPORT struct udk_audio_device *
udk_audio_control_get_device(struct udk_audio_control *control)
{
	return control ? control->dev : NULL;
}

UDK_EXPORT int
udk_audio_control_set_value(struct udk_audio_control *control, int32_t value)
{
	udk_return_val_if_fail(control, -EINVAL);
	if (value < control->min || value > control->max)
		return udk_error_set(-ERANGE, "control %s takes %d..%d, not %d", control->name, control->min,
				     control->max, value);
	pthread_mutex_lock(&control->dev->lock);
	control->value = value;
	pthread_mutex_unlock(&control->dev->lock);
	return publish_state(control->dev);
}

/* ---- the app's side: streams ---- */

struct io_client {
	struct udk_audio_device *dev;	/* reference */
	struct udk_service *uc;		/* borrowed: the user client owns us */
	int pid;
};

static struct io_client *
io_of(struct udk_service *uc)
{
	return udk_service_get_ivars(uc);
}

/* Tear down stream @s: stop, close, and tell its app (@code, @why) through
 * the ring and its connection; a code of 0 is a normal close. */
static void
end_stream(struct udk_audio_stream *s, int code, const char *why)
{
	struct udk_audio_device *dev = s->dev;
	struct udk_buffer *ring;
	struct udk_service *uc;
	bool running;

	pthread_mutex_lock(&dev->lock);
	if (!s->owner || s->ending) {
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	s->ending = true;
	/* the user client (and its ivars, the owner) stay alive while we work */
	uc = s->owner->uc ? udk_service_ref(s->owner->uc) : NULL;
	running = s->running;
	s->running = false;
	pthread_mutex_unlock(&dev->lock);
	if (running)
		call_op(dev, op_stop, s, NULL, NULL, 0, false);
	call_op(dev, op_close, s, NULL, NULL, 0, false);
	pthread_mutex_lock(&dev->lock);
	if (code && s->hdr) {
		snprintf(s->hdr->reason, sizeof(s->hdr->reason), "%s", why);
		atomic_store_explicit(&s->hdr->error, code, memory_order_relaxed);
		/* release: the reason is written before the app sees GONE
		 * (pairs with the acquire load of state in alsa/pcm_udk.c) */
		atomic_store_explicit(&s->hdr->state, AUDIO_RING_GONE, memory_order_release);
	}
	if (s->hdr) {
		s->base_xruns += atomic_load_explicit(&s->hdr->xruns, memory_order_relaxed);
		s->base_frames += atomic_load_explicit(&s->hdr->xrun_frames, memory_order_relaxed);
	}
	ring = TAKE_PTR(s->ring);
	s->hdr = NULL;
	s->samples = NULL;
	s->owner = NULL;
	s->ending = false;
	pthread_mutex_unlock(&dev->lock);
	udk_buffer_unref(ring);
	/* the last of them, before the stream's counts stop moving */
	send_counters(dev);
	if (code && uc)
		uc_revoke(uc->id, why);
	udk_service_unref(uc);
}

/* The stream of @handle open on this connection, with a reference to its
 * ring (so a concurrent end_stream cannot unmap it under us). */
static struct udk_audio_stream *
stream_of_handle(struct io_client *io, uint64_t handle, struct udk_buffer **ret_ring, char *why, size_t len)
{
	struct udk_audio_device *dev = io->dev;
	struct udk_audio_stream *s;

	if (handle < 1 || handle > dev->n_streams) {
		snprintf(why, len, "no stream handle %" PRIu64, handle);
		return NULL;
	}
	s = dev->streams[handle - 1];
	pthread_mutex_lock(&dev->lock);
	if (s->owner != io || s->ending || !s->ring) {
		pthread_mutex_unlock(&dev->lock);
		snprintf(why, len, "stream %u of %s is not open on this connection", s->index, dev->name);
		return NULL;
	}
	*ret_ring = udk_buffer_ref(s->ring);
	pthread_mutex_unlock(&dev->lock);
	return s;
}

static int
m_open_stream(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct io_client *io = io_of(uc);
	struct udk_audio_device *dev = io->dev;
	const uint64_t *in = a->scalar_input;
	struct udk_audio_stream *s;
	struct udk_audio_stream_setup setup = { 0 };
	struct udk_buffer *ring = NULL;
	struct audio_ring_header *h;
	char list[600];
	uint64_t bytes;
	unsigned fb;
	int r;

	(void)ref;
	if (!io->pid)
		io->pid = peer_pid(uc);
	if (in[0] >= dev->n_streams)
		return udk_error_set(-EINVAL, "%s has %u streams; there is no stream %" PRIu64, dev->name, dev->n_streams,
				     in[0]);
	s = dev->streams[in[0]];
	if (in[1] > AUDIO_RATE_MAX || in[2] > AUDIO_MAX_CHANNELS || in[3] > 16 || in[4] > AUDIO_MAX_BUFFER ||
	    in[5] > AUDIO_MAX_BUFFER)
		return udk_error_set(-EINVAL, "stream %u of %s: values out of range", s->index, dev->name);
	setup.format = (struct udk_audio_format){ (uint32_t)in[1], (uint16_t)in[2], (uint16_t)in[3] };
	setup.buffer_frames = (uint32_t)in[4];
	setup.period_frames = (uint32_t)in[5];
	setup.app_pid = io->pid;
	/* hw_params again on the same connection: the old setup goes */
	if (s->owner == io)
		end_stream(s, 0, NULL);
	pthread_mutex_lock(&dev->lock);
	if (s->owner) {
		int pid = s->setup.app_pid;
		pthread_mutex_unlock(&dev->lock);
		return udk_error_set(-UDK_E_BUSY, "stream %u (%s) of %s is in use by pid %d; one app at a time", s->index,
				     s->name, dev->name, pid);
	}
	if (!audio_format_allowed(s->formats, s->n_formats, &setup.format)) {
		audio_formats_describe(s->formats, s->n_formats, list, sizeof(list));
		pthread_mutex_unlock(&dev->lock);
		return udk_error_set(-EINVAL, "%s %uch %u Hz is not offered by stream %u (%s) of %s now; it offers: %s",
				     audio_sample_format_str(setup.format.sample_format), setup.format.channels,
				     setup.format.sample_rate, s->index, s->name, dev->name, list);
	}
	pthread_mutex_unlock(&dev->lock);
	if (setup.period_frames < s->min_period || setup.buffer_frames > s->max_buffer ||
	    setup.buffer_frames < 2 * setup.period_frames)
		return udk_error_set(-EINVAL,
				     "stream %u of %s: periods of %u..%u frames and a buffer of two periods up to %u "
				     "frames, not a period of %u and a buffer of %u",
				     s->index, dev->name, s->min_period, s->max_buffer / 2, s->max_buffer,
				     setup.period_frames, setup.buffer_frames);
	fb = audio_sample_bytes(setup.format.sample_format) * setup.format.channels;
	setup.frame_bytes = fb;
	bytes = AUDIO_RING_DATA_OFFSET + (uint64_t)setup.buffer_frames * fb;
	bytes = (bytes + 4095) & ~4095ull;
	if (bytes > AUDIO_MAX_RING_BYTES)
		return udk_error_set(-EINVAL, "a ring of %" PRIu64 " bytes is too large (at most %u)", bytes,
				     AUDIO_MAX_RING_BYTES);
	r = udk_buffer_create(bytes, 0, &ring);
	if (r < 0)
		return udk_error_set(r, "cannot make the stream's ring: %s", udk_strerror(r));
	h = udk_buffer_get_address(ring);
	h->magic = AUDIO_RING_MAGIC;
	h->version = AUDIO_RING_VERSION;
	h->header_bytes = AUDIO_RING_DATA_OFFSET;
	h->frame_bytes = fb;
	h->data_bytes = (uint64_t)setup.buffer_frames * fb;
	h->buffer_frames = setup.buffer_frames;
	h->period_frames = setup.period_frames;
	h->rate = setup.format.sample_rate;
	h->channels = setup.format.channels;
	h->sample_format = setup.format.sample_format;
	h->direction = s->direction;
	atomic_store(&h->app_pid, (uint32_t)io->pid);
	atomic_store(&h->state, AUDIO_RING_SETUP);
	pthread_mutex_lock(&dev->lock);
	if (s->owner) {
		pthread_mutex_unlock(&dev->lock);
		udk_buffer_unref(ring);
		return udk_error_set(-UDK_E_BUSY, "stream %u of %s was just taken by another app", s->index, dev->name);
	}
	s->owner = io;
	s->ring = ring;
	s->hdr = h;
	s->samples = (uint8_t *)h + AUDIO_RING_DATA_OFFSET;
	s->setup = setup;
	pthread_mutex_unlock(&dev->lock);
	r = call_op(dev, op_open, s, &setup, NULL, 0, false);
	if (r < 0) {
		char *why = udk_error_reason() ? strdup(udk_error_reason()) : NULL;
		pthread_mutex_lock(&dev->lock);
		s->owner = NULL;
		ring = TAKE_PTR(s->ring);
		s->hdr = NULL;
		s->samples = NULL;
		pthread_mutex_unlock(&dev->lock);
		udk_buffer_unref(ring);
		r = udk_error_set(r, "the driver refused %s %uch %u Hz on stream %u of %s: %s",
				  audio_sample_format_str(setup.format.sample_format), setup.format.channels,
				  setup.format.sample_rate, s->index, dev->name, why ? why : udk_strerror(r));
		free(why);
		return r;
	}
	publish_state(dev);
	counters_start(dev);
	a->scalar_output[0] = s->index + 1;
	a->scalar_output[1] = setup.buffer_frames;
	a->scalar_output[2] = setup.period_frames;
	a->scalar_output[3] = s->index + 1;	/* the memory type to map */
	a->scalar_output_count = 4;
	return 0;
}

static void
reset_positions(struct audio_ring_header *h)
{
	uint32_t seq = atomic_load_explicit(&h->pos_seq, memory_order_relaxed);

	/* the writer side of the seqlock (see publish_position) */
	atomic_store_explicit(&h->pos_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&h->hw_frames, 0, memory_order_relaxed);
	atomic_store_explicit(&h->zero_sample, 0, memory_order_relaxed);
	atomic_store_explicit(&h->zero_host_ns, 0, memory_order_relaxed);
	atomic_store_explicit(&h->pos_seq, seq + 2, memory_order_release);
	atomic_store_explicit(&h->appl_frames, 0, memory_order_relaxed);
}

static int
m_prepare(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct io_client *io = io_of(uc);
	struct udk_buffer *ring = NULL;
	struct audio_ring_header *h;
	char why[200];
	struct udk_audio_stream *s = stream_of_handle(io, a->scalar_input[0], &ring, why, sizeof(why));
	bool running;

	(void)ref;
	if (!s)
		return udk_error_set(-EINVAL, "%s", why);
	h = udk_buffer_get_address(ring);
	pthread_mutex_lock(&io->dev->lock);
	running = s->running;
	s->running = false;
	pthread_mutex_unlock(&io->dev->lock);
	if (running)
		call_op(io->dev, op_stop, s, NULL, NULL, 0, false);
	reset_positions(h);
	atomic_store_explicit(&h->state, AUDIO_RING_SETUP, memory_order_release);
	udk_buffer_unref(ring);
	return 0;
}

static int
m_start(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct io_client *io = io_of(uc);
	struct udk_buffer *ring = NULL;
	struct audio_ring_header *h;
	char why[200];
	struct udk_audio_stream *s = stream_of_handle(io, a->scalar_input[0], &ring, why, sizeof(why));
	int r = 0;

	(void)ref;
	if (!s)
		return udk_error_set(-EINVAL, "%s", why);
	h = udk_buffer_get_address(ring);
	if (!s->running) {
		atomic_store_explicit(&h->state, AUDIO_RING_RUNNING, memory_order_release);
		r = call_op(io->dev, op_start, s, NULL, NULL, 0, false);
		if (r < 0) {
			atomic_store_explicit(&h->state, AUDIO_RING_STOPPED, memory_order_release);
		} else {
			pthread_mutex_lock(&io->dev->lock);
			s->running = true;
			pthread_mutex_unlock(&io->dev->lock);
		}
	}
	udk_buffer_unref(ring);
	return r;
}

static int
m_stop(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct io_client *io = io_of(uc);
	struct udk_buffer *ring = NULL;
	char why[200];
	struct udk_audio_stream *s = stream_of_handle(io, a->scalar_input[0], &ring, why, sizeof(why));
	bool running;

	(void)ref;
	if (!s)
		return udk_error_set(-EINVAL, "%s", why);
	pthread_mutex_lock(&io->dev->lock);
	running = s->running;
	s->running = false;
	pthread_mutex_unlock(&io->dev->lock);
	if (running)
		call_op(io->dev, op_stop, s, NULL, NULL, 0, false);
	atomic_store_explicit(&((struct audio_ring_header *)udk_buffer_get_address(ring))->state, AUDIO_RING_STOPPED,
			      memory_order_release);
	udk_buffer_unref(ring);
	return 0;
}

static int
m_close_stream(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct io_client *io = io_of(uc);
	struct udk_buffer *ring = NULL;
	char why[200];
	struct udk_audio_stream *s = stream_of_handle(io, a->scalar_input[0], &ring, why, sizeof(why));

	(void)ref;
	if (!s)
		return udk_error_set(-EINVAL, "%s", why);
	udk_buffer_unref(ring);
	end_stream(s, 0, NULL);
	publish_state(io->dev);
	return 0;
}

static int
m_set_control(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct io_client *io = io_of(uc);
	struct udk_audio_device *dev = io->dev;
	struct udk_audio_control *c;
	int64_t v = (int64_t)a->scalar_input[1];
	int r;

	(void)ref;
	if (a->scalar_input[0] >= dev->n_controls)
		return udk_error_set(-EINVAL, "%s has %u controls; there is no control %" PRIu64, dev->name,
				     dev->n_controls, a->scalar_input[0]);
	c = dev->controls[a->scalar_input[0]];
	if (v < c->min || v > c->max)
		return udk_error_set(-ERANGE, "control \"%s\" of %s takes %d..%d, not %" PRId64, c->name, dev->name,
				     c->min, c->max, v);
	r = call_op(dev, op_control, NULL, NULL, c, (int32_t)v, false);
	if (r < 0)
		return r;
	pthread_mutex_lock(&dev->lock);
	c->value = (int32_t)v;
	pthread_mutex_unlock(&dev->lock);
	return publish_state(dev);
}

static const struct udk_method_dispatch io_methods[AUDIO_SEL_COUNT] = {
	[AUDIO_SEL_DESCRIBE] = { NULL, "Describe", 0, 0, 0, 0, 0 },
	[AUDIO_SEL_OPEN_STREAM] = { m_open_stream, "OpenStream", 0, 6, 0, 4, 0 },
	[AUDIO_SEL_PREPARE] = { m_prepare, "Prepare", 0, 1, 0, 0, 0 },
	[AUDIO_SEL_START] = { m_start, "Start", 0, 1, 0, 0, 0 },
	[AUDIO_SEL_STOP] = { m_stop, "Stop", 0, 1, 0, 0, 0 },
	[AUDIO_SEL_CLOSE_STREAM] = { m_close_stream, "CloseStream", 0, 1, 0, 0, 0 },
	[AUDIO_SEL_SET_CONTROL] = { m_set_control, "SetControl", 0, 2, 0, 0, 0 },
};

static int
io_external_method(struct udk_service *uc, uint64_t selector, struct udk_method_args *args)
{
	if (selector >= AUDIO_SEL_COUNT || !io_methods[selector].function)
		return udk_error_set(-UDK_E_UNKNOWN_SELECTOR, "the audio user client has no selector %" PRIu64, selector);
	return udk_user_client_dispatch(uc, args, &io_methods[selector], NULL);
}

static int
io_copy_memory(struct udk_service *uc, uint64_t type, uint64_t *options, struct udk_buffer **ret)
{
	struct io_client *io = io_of(uc);
	struct udk_buffer *ring = NULL;
	char why[200];
	struct udk_audio_stream *s = stream_of_handle(io, type, &ring, why, sizeof(why));

	(void)options;
	if (!s)
		return udk_error_set(-EINVAL, "%s", why);
	*ret = ring;
	return 0;
}

static void
io_closed(struct udk_service *uc)
{
	struct io_client *io = io_of(uc);
	bool any = false;

	if (!io->dev)
		return;
	for (unsigned i = 0; i < io->dev->n_streams; i++) {
		bool mine;
		pthread_mutex_lock(&io->dev->lock);
		mine = io->dev->streams[i]->owner == io;
		pthread_mutex_unlock(&io->dev->lock);
		if (mine) {
			end_stream(io->dev->streams[i], 0, NULL);
			any = true;
		}
	}
	if (any)
		publish_state(io->dev);
	io->uc = NULL;
}

static void
io_free(struct udk_service *uc)
{
	struct io_client *io = io_of(uc);

	if (io && io->dev)
		device_unref(io->dev);
}

static const struct udk_class io_client_class = {
	UDK_CLASS_INIT,
	.name = "UDKAudioUserClient",
	.ivars_size = sizeof(struct io_client),
	.free = io_free,
	.external_method = io_external_method,
	.copy_client_memory_for_type = io_copy_memory,
	.client_closed = io_closed,
};

/* ---- presence handles ---- */

struct presence_client {
	struct udk_audio_device *dev;	/* reference, once held */
	int pid;
};

static void
release_presence(struct udk_audio_device *dev, int pid)
{
	bool last;
	char why[200];

	pthread_mutex_lock(&dev->lock);
	last = dev->holders > 0 && --dev->holders == 0;
	pthread_mutex_unlock(&dev->lock);
	if (!last || dev->visibility != UDK_AUDIO_VISIBLE_WHILE_HELD || dev->destroyed)
		return;
	snprintf(why, sizeof(why),
		 "the device %s went away: its app (pid %d) ended, and it is visible only while an app holds it",
		 dev->name, pid);
	make_hidden(dev, why, true);
	call_op(dev, op_presence, NULL, NULL, NULL, 0, false);
}

static int
m_hold(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct presence_client *pc = udk_service_get_ivars(uc);
	struct udk_audio_device *dev = NULL;
	char want[AUDIO_TEXT_MAX + 1];
	bool first;
	int r = 0;

	(void)ref;
	if (pc->dev)
		return udk_error_set(-EALREADY, "this connection holds %s already; open another for another device",
				     pc->dev->name);
	if (!a->struct_input || !a->struct_input_size || a->struct_input_size > AUDIO_TEXT_MAX)
		return udk_error_set(-EINVAL, "HoldPresence takes the device's name or uid");
	memcpy(want, a->struct_input, a->struct_input_size);
	want[a->struct_input_size] = 0;
	if (!pc->pid)
		pc->pid = peer_pid(uc);
	pthread_mutex_lock(&devices_lock);
	for (struct udk_audio_device *d = devices; d; d = d->next)
		if (d->self == uc->provider && !d->destroyed && (streq(d->name, want) || streq(d->uid, want)))
			dev = device_ref(d);
	pthread_mutex_unlock(&devices_lock);
	if (!dev)
		return udk_error_set(-ENOENT, "this driver has no audio device \"%s\"", want);
	pthread_mutex_lock(&dev->publish_lock);
	pthread_mutex_lock(&dev->lock);
	first = dev->holders++ == 0;
	pthread_mutex_unlock(&dev->lock);
	pc->dev = dev;
	if (first && dev->published && dev->visibility == UDK_AUDIO_VISIBLE_WHILE_HELD)
		r = make_visible(dev);
	pthread_mutex_unlock(&dev->publish_lock);
	if (r < 0)
		return r;
	if (first) {
		udk_log_info("audio device %s: held by pid %d%s", dev->name, pc->pid,
			     dev->visibility == UDK_AUDIO_VISIBLE_WHILE_HELD ? "; visible" : "");
		if (dev->visibility == UDK_AUDIO_VISIBLE_WHILE_HELD)
			call_op(dev, op_presence, NULL, NULL, NULL, 0, true);
	}
	a->scalar_output[0] = dev->nub ? 1 : 0;
	a->scalar_output_count = 1;
	return 0;
}

static const struct udk_method_dispatch presence_methods[AUDIO_PRESENCE_SEL_COUNT] = {
	[AUDIO_SEL_HOLD_PRESENCE] = { m_hold, "HoldPresence", 0, 0, UDK_METHOD_VARIABLE, 1, 0 },
};

static int
presence_external_method(struct udk_service *uc, uint64_t selector, struct udk_method_args *args)
{
	if (selector >= AUDIO_PRESENCE_SEL_COUNT)
		return udk_error_set(-UDK_E_UNKNOWN_SELECTOR, "the presence user client has no selector %" PRIu64,
				     selector);
	return udk_user_client_dispatch(uc, args, &presence_methods[selector], NULL);
}

static void
presence_closed(struct udk_service *uc)
{
	struct presence_client *pc = udk_service_get_ivars(uc);
	struct udk_audio_device *dev = TAKE_PTR(pc->dev);

	if (!dev)
		return;
	release_presence(dev, pc->pid);
	device_unref(dev);
}

static const struct udk_class presence_client_class = {
	UDK_CLASS_INIT,
	.name = "UDKAudioPresenceClient",
	.ivars_size = sizeof(struct presence_client),
	.external_method = presence_external_method,
	.client_closed = presence_closed,
};

/* ---- user clients: made by the family, not the executable's classes ---- */

static int
make_user_client(struct udk_service *provider, const struct udk_class *cls, struct udk_service **ret)
{
	struct udk_queue *q = NULL;
	struct udk_service *uc = NULL;
	uint64_t id;
	int r;

	r = udk_queue_create(cls->name, &q);
	if (r < 0)
		return r;
	pthread_mutex_lock(&rt.lock);
	id = rt.next_local_id++;
	pthread_mutex_unlock(&rt.lock);
	r = service_object_new(OBJ_USER_CLIENT, id, cls->name, cls->name, cls, NULL, q, &uc);
	udk_queue_unref(q);
	if (r < 0)
		return r;
	uc->provider = udk_service_ref(provider);
	*ret = uc;
	return 0;
}

/* The app on the other end of a user client being made: udkd sends its pid
 * with the request, but the connection is attached only after we return, so
 * the stream records it at OPEN_STREAM from the connection. */
static int
peer_pid(struct udk_service *uc)
{
	int pid = 0;

	if (udk_user_client_get_peer(uc, &pid, NULL) < 0)
		return 0;
	return pid;
}

/* new_user_client of the device nubs */
static int
nub_new_user_client(struct udk_service *nub, uint32_t type, struct udk_service **ret)
{
	struct udk_audio_device *dev = NULL;
	struct udk_service *uc = NULL;
	struct io_client *io;
	int r;

	if (type != AUDIO_UC_IO)
		return udk_error_set(-UDK_E_UNSUPPORTED, "an audio device offers user client type 0x%x (streams), not 0x%x",
				     AUDIO_UC_IO, type);
	pthread_mutex_lock(&devices_lock);
	for (struct udk_audio_device *d = devices; d; d = d->next)
		if (d->nub == nub && !d->destroyed)
			dev = device_ref(d);
	pthread_mutex_unlock(&devices_lock);
	if (!dev)
		return udk_error_set(-UDK_E_HARDWARE_GONE, "this audio device is gone");
	r = make_user_client(nub, &io_client_class, &uc);
	if (r < 0) {
		device_unref(dev);
		return r;
	}
	io = io_of(uc);
	io->dev = dev;
	io->uc = uc;
	*ret = uc;
	return 0;
}

static const struct udk_class nub_class = {
	UDK_CLASS_INIT,
	.name = "IOUserAudioDevice",
	.new_user_client = nub_new_user_client,
};

UDK_EXPORT int
udk_audio_driver_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret)
{
	udk_return_val_if_fail(self && ret, -EINVAL);
	if (type == AUDIO_UC_IO) {
		struct udk_audio_device *dev = NULL;
		pthread_mutex_lock(&devices_lock);
		for (struct udk_audio_device *d = devices; d; d = d->next)
			if (d->self == self && d->nub && !d->destroyed)
				dev = d;
		pthread_mutex_unlock(&devices_lock);
		if (!dev)
			return udk_error_set(-UDK_E_NO_SUCH_SERVICE,
					     "open the IOUserAudioDevice itself for streams, not its driver");
		return nub_new_user_client(dev->nub, type, ret);
	}
	if (type == AUDIO_UC_PRESENCE)
		return make_user_client(self, &presence_client_class, ret);
	return udk_error_set(-UDK_E_UNSUPPORTED,
			     "an audio driver offers user client types 0x%x (presence handles) and, on its devices, "
			     "0x%x (streams); not 0x%x",
			     AUDIO_UC_PRESENCE, AUDIO_UC_IO, type);
}
