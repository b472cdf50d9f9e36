/* SPDX-License-Identifier: MIT */
/*
 * audio/daemon/audio.c - the audio family's udkd side (daemon/family.h).
 *
 * Classes: IOUserAudioDriver (the role a personality's IOClass names),
 * IOUserAudioDevice (a device a driver publishes; apps open it for
 * streams), UDKAudioSimDevice (simulated audio hardware, a device model of
 * kind "audio") and UDKAudioALSAPCM (a PCM of the kernel's sound cards,
 * with --alsa-dev-dir).  Entitlement: family.audio.
 *
 * What udkd does for audio: it checks every device description a driver
 * publishes (OP_AUDIO_DEVICE_STATE: names, streams, format lists, controls;
 * common/formats.c) before it becomes the device's registry properties,
 * so a malformed format list is refused at publish time and every app
 * subscribed to property notifications hears each change; it keeps device
 * names unique across drivers; it brokers the channel from a driver to its
 * simulated device; and `udkctl families audio` shows the devices, their
 * streams, who uses them, xruns, and the devices hidden until their app
 * runs.  Samples never pass through udkd.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../common/audio-common.h"
#include "../proto-audio.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

extern const struct udkd_family udkd_family_audio;

#define MAX_HIDDEN 64

/* A device a driver holds back until an app holds it (OP_AUDIO_DEVICE_PRESENCE). */
struct hidden {
	struct driver_proc *proc;	/* reference */
	char name[AUDIO_NAME_MAX + 1];
	char reason[200];
	bool visible;
	uint64_t since_ms;
};

struct audio_state {
	char *alsa_dir;			/* --alsa-dev-dir: the kernel's PCM nodes, or NULL */
	unsigned alsa_pcms;
	struct hidden hidden[MAX_HIDDEN];
	unsigned n_hidden;
	unsigned states, refused, shown, hidden_count;
};

static struct audio_state *
state(struct udkd *d)
{
	struct audio_state *st = udkd_family_state(d, &udkd_family_audio);

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (st)
			udkd_family_set_state(d, &udkd_family_audio, st);
	}
	return st;
}

static void
reply_err(struct driver_proc *p, struct wire_msg *m, int code, const char *fmt, ...) UDK_PRINTF(4, 5);

static void
reply_err(struct driver_proc *p, struct wire_msg *m, int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	proc_reply(p, m, code, msg, NULL, NULL, 0);
}

/* ---- device descriptions ---- */

struct name_ctx {
	const char *name;
	const struct service *self;
	const struct service *found;
};

static void
find_name(struct udkd *d, struct service *s, void *data)
{
	struct name_ctx *n = data;

	(void)d;
	if (s != n->self && s->state != SVC_TERMINATED && service_is_a(s, "IOUserAudioDevice") &&
	    streq(udk_dict_get_string(s->props, "UDKAudioName"), n->name))
		n->found = s;
}

static void
device_state(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct audio_state *st = state(d);
	struct service *s = service_by_id(d, udk_value_get_uint(udk_dict_get(m->body, "device"), 0));
	struct udk_value *clean;
	struct name_ctx n = { 0 };
	char why[500];

	if (!s || s->owner != p || s->state == SVC_TERMINATED || !service_is_a(s, "IOUserAudioDevice"))
		return reply_err(p, m, -UDK_E_NO_SUCH_SERVICE, "the audio device is not one this driver published");
	clean = audio_state_check(udk_dict_get(m->body, "state"), why, sizeof(why));
	if (!clean) {
		if (st)
			st->refused++;
		log_warning(d, "%s: audio device %s: description refused: %s", p->label, s->name, why);
		return reply_err(p, m, -EINVAL, "the audio device's description is refused: %s", why);
	}
	n.name = udk_dict_get_string(clean, "UDKAudioName");
	n.self = s;
	registry_walk(d, find_name, &n);
	if (n.found) {
		const char *owner = n.found->owner && n.found->owner->bundle ? n.found->owner->bundle->identifier : "?";
		udk_value_unref(clean);
		return reply_err(p, m, -EEXIST, "the audio device name %s is taken by %s; pick another name", n.name,
				 owner);
	}
	if (st)
		st->states++;
	service_set_properties(d, s, clean);
	udk_value_unref(clean);
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
}

static void
device_presence(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct audio_state *st = state(d);
	const char *name = udk_dict_get_string(m->body, "name"), *reason = udk_dict_get_string(m->body, "reason");
	bool visible = udk_dict_get_bool(m->body, "visible", false);
	struct hidden *h = NULL;
	char why[200];

	if (!st || !audio_name_ok(name, why, sizeof(why)))
		return;
	for (unsigned i = 0; i < st->n_hidden; i++)
		if (st->hidden[i].proc == p && streq(st->hidden[i].name, name))
			h = &st->hidden[i];
	if (!h) {
		if (st->n_hidden >= MAX_HIDDEN)
			return;
		h = &st->hidden[st->n_hidden++];
		memset(h, 0, sizeof(*h));
		h->proc = proc_ref(p);
		snprintf(h->name, sizeof(h->name), "%s", name);
	}
	h->visible = visible;
	h->since_ms = wall_ms();
	snprintf(h->reason, sizeof(h->reason), "%.190s", reason ? reason : "");
	if (visible)
		st->shown++;
	else
		st->hidden_count++;
	log_info(d, "audio device %s of %s: %s%s%s", name, p->bundle ? p->bundle->identifier : p->label, visible ? "visible" : "hidden",
		 reason ? ": " : "", reason ? h->reason : "");
}

static void
device_counters(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct service *s = service_by_id(d, udk_value_get_uint(udk_dict_get(m->body, "device"), 0));
	const struct udk_value *list = udk_dict_get(m->body, "counters");
	struct udk_value *clean, *props;

	if (!s || s->owner != p || !service_is_a(s, "IOUserAudioDevice") || udk_value_get_type(list) != UDK_VALUE_ARRAY ||
	    udk_array_size(list) > AUDIO_MAX_STREAMS)
		return;
	clean = udk_value_new_array();
	for (size_t i = 0; i < udk_array_size(list); i++) {
		const struct udk_value *e = udk_array_get(list, i);
		const char *name = udk_dict_get_string(e, "stream");
		struct udk_value *c;
		if (!name || strlen(name) > AUDIO_TEXT_MAX || udk_value_get_type(udk_dict_get(e, "xruns")) != UDK_VALUE_INT ||
		    udk_value_get_type(udk_dict_get(e, "frames")) != UDK_VALUE_INT) {
			udk_value_unref(clean);
			log_warning(d, "%s sent malformed audio counters", p->label);
			return;
		}
		c = udk_value_new_dict();
		udk_dict_set_string(c, "stream", name);
		udk_dict_set_uint(c, "xruns", udk_value_get_uint(udk_dict_get(e, "xruns"), 0));
		udk_dict_set_uint(c, "frames", udk_value_get_uint(udk_dict_get(e, "frames"), 0));
		udk_array_append_take(clean, c);
	}
	props = udk_value_new_dict();
	udk_dict_set_take(props, "UDKAudioXruns", clean);
	service_set_properties(d, s, props);
	udk_value_unref(props);
}

static void
audio_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	if (p->kind != PROC_KIND_DRIVER || udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		if (!(m->h.flags & WIRE_F_ONEWAY))
			reply_err(p, m, -EOPNOTSUPP, "audio devices are published by drivers, with a dictionary");
		return;
	}
	switch (m->h.op) {
	case OP_AUDIO_DEVICE_STATE:
		device_state(d, p, m);
		return;
	case OP_AUDIO_DEVICE_PRESENCE:
		device_presence(d, p, m);
		return;
	case OP_AUDIO_DEVICE_COUNTERS:
		device_counters(d, p, m);
		return;
	default:
		if (!(m->h.flags & WIRE_F_ONEWAY))
			reply_err(p, m, -EOPNOTSUPP, "the audio family has no request %u", m->h.op);
	}
}

static void open_alsa(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s);

/* ---- simulated audio hardware ---- */

static int
audio_model_function(struct udkd *d, struct device_model *m, size_t index, const struct udk_value *desc,
		     struct service **ret)
{
	const char *model = udk_dict_get_string(desc, "model");
	struct udk_value *props;
	struct service *nub = NULL;
	char name[80];
	int r;

	if (!model || strlen(model) > AUDIO_NAME_MAX)
		return udk_set_reason(-EINVAL, "an audio function must say which model it is (\"model\", at most %d "
				      "characters)", AUDIO_NAME_MAX);
	props = udk_value_new_dict();
	udk_dict_set_string(props, "UDKAudioModel", model);
	udk_dict_set_string(props, "UDKDevice", m->name);
	udk_dict_set_int(props, "UDKFunction", (int64_t)index);
	udk_dict_set_string(props, "UDKBackend", "sim");
	udk_dict_set_string(props, "IOName", model);
	if (index == 0)
		snprintf(name, sizeof(name), "%s", m->name);
	else
		snprintf(name, sizeof(name), "%s.%zu", m->name, index);
	r = service_new(d, d->reg.root, name, class_chain_for("UDKAudioSimDevice"), props, &nub);
	udk_value_unref(props);
	if (r < 0)
		return udk_set_reason(r, "cannot publish the audio function");
	*ret = nub;
	return 0;
}

static void
audio_describe_model(struct udkd *d, const struct device_model *m, struct udk_value *entry)
{
	(void)d;
	for (size_t i = 0; i < m->n_nubs; i++)
		if (service_is_a(m->nubs[i], "UDKAudioSimDevice")) {
			udk_dict_set_string(entry, "family", "audio");
			return;
		}
}

static void
audio_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	struct udk_value *info;

	if (service_is_a(s, "UDKAudioALSAPCM")) {
		open_alsa(d, p, m, s);
		return;
	}
	if (!service_is_a(s, "UDKAudioSimDevice") || !model_of_nub(d, s, NULL)) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED,
			   "only simulated audio devices (UDKAudioSimDevice) can be opened; an IOUserAudioDevice is "
			   "opened by apps, through its driver",
			   NULL, NULL, 0);
		return;
	}
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "sim");
	model_connect(d, p, m, s, info);
}

/* ---- the kernel's sound cards (--alsa-dev-dir) ----
 *
 * Each PCM node of DIR (pcmC<card>D<device><p|c>) becomes a UDKAudioALSAPCM
 * under the root, with its card's id from sysfs.  A driver on one (the
 * bridge, drivers/alsa-bridge) gets the node opened by udkd: the sandboxed
 * driver opens no device node itself.  udkd opens it anew for every
 * request, so the kernel device is held only while the driver uses it.
 */

static void
card_id(unsigned card, char *buf, size_t len)
{
	char path[96], *text = NULL;
	size_t n = 0;

	snprintf(buf, len, "card%u", card);
	snprintf(path, sizeof(path), "/sys/class/sound/card%u/id", card);
	if (read_file(path, 4096, &text, &n) < 0)
		return;
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	if (n && n < len) {
		memcpy(buf, text, n);
		buf[n] = 0;
	}
	free(text);
}

static int
scan_alsa(struct udkd *d, struct audio_state *st)
{
	DIR *dir = opendir(st->alsa_dir);
	struct dirent *e;

	if (!dir)
		return udk_set_reason(-errno, "--alsa-dev-dir %s: %s", st->alsa_dir, strerror(errno));
	while ((e = readdir(dir)) && st->alsa_pcms < 64) {
		unsigned card, dev;
		char dirc, tail, name[64], id[64];
		struct udk_value *props;
		struct service *s = NULL;
		if (sscanf(e->d_name, "pcmC%uD%u%c%c", &card, &dev, &dirc, &tail) != 3 || (dirc != 'p' && dirc != 'c') ||
		    card > 63 || dev > 63)
			continue;
		card_id(card, id, sizeof(id));
		props = udk_value_new_dict();
		udk_dict_set_int(props, "UDKAudioALSACard", card);
		udk_dict_set_int(props, "UDKAudioALSADevice", dev);
		udk_dict_set_string(props, "UDKAudioALSADirection", dirc == 'p' ? "output" : "input");
		udk_dict_set_string(props, "UDKAudioALSACardId", id);
		udk_dict_set_string(props, "UDKAudioALSANode", e->d_name);
		udk_dict_set_string(props, "UDKBackend", "alsa");
		udk_dict_set_string(props, "IOName", id);
		snprintf(name, sizeof(name), "pcmC%uD%u%c", card, dev, dirc);
		if (service_new(d, d->reg.root, name, class_chain_for("UDKAudioALSAPCM"), props, &s) == 0) {
			service_register(d, s);
			st->alsa_pcms++;
		}
		udk_value_unref(props);
	}
	closedir(dir);
	log_info(d, "audio: %u kernel PCM(s) from %s", st->alsa_pcms, st->alsa_dir);
	return 0;
}

static void
open_alsa(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	struct audio_state *st = state(d);
	const char *node = udk_dict_get_string(s->props, "UDKAudioALSANode");
	struct udk_value *info;
	char why[300];
	int dfd, fd;

	if (!st || !st->alsa_dir || !node || strchr(node, '/'))
		return proc_reply(p, m, -UDK_E_UNSUPPORTED, "this kernel PCM is not udkd's to open", NULL, NULL, 0);
	dfd = open(st->alsa_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	/* non-blocking: a busy PCM answers EBUSY at once instead of waiting */
	fd = dfd >= 0 ? openat(dfd, node, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW) : -1;
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot open %s/%s: %s%s", st->alsa_dir, node, strerror(errno),
			 errno == EBUSY ? " (another program has it)" : "");
		if (dfd >= 0)
			close(dfd);
		return proc_reply(p, m, errno == EBUSY ? -UDK_E_BUSY : -UDK_E_HARDWARE_GONE, why, NULL, NULL, 0);
	}
	close(dfd);
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "alsa");
	udk_dict_set(info, "card", udk_dict_get(s->props, "UDKAudioALSACard"));
	udk_dict_set(info, "device", udk_dict_get(s->props, "UDKAudioALSADevice"));
	udk_dict_set(info, "direction", udk_dict_get(s->props, "UDKAudioALSADirection"));
	udk_dict_set(info, "card_id", udk_dict_get(s->props, "UDKAudioALSACardId"));
	proc_reply(p, m, 0, NULL, info, &fd, 1);
	udk_value_unref(info);
	close(fd);
}

/* ---- udkctl families audio ---- */

static void
collect_devices(struct udkd *d, struct service *s, void *data)
{
	struct udk_value *list = data, *e, *streams;
	char *path;

	(void)d;
	if (s->state != SVC_REGISTERED || !service_is_a(s, "IOUserAudioDevice") ||
	    !udk_dict_get_string(s->props, "UDKAudioName"))
		return;
	e = udk_value_new_dict();
	udk_dict_set_string(e, "name", udk_dict_get_string(s->props, "UDKAudioName"));
	udk_dict_set_string(e, "alsa", "udk:");
	path = service_path(s);
	if (path)
		udk_dict_set_string(e, "path", path);
	free(path);
	udk_dict_set_uint(e, "id", s->id);
	udk_dict_set_string(e, "driver", s->owner && s->owner->bundle ? s->owner->bundle->identifier : "?");
	udk_dict_set_string(e, "visibility", udk_dict_get_string(s->props, "UDKAudioVisibility"));
	streams = udk_value_new_array();
	for (size_t i = 0; i < udk_array_size(udk_dict_get(s->props, "UDKAudioStreams")); i++) {
		const struct udk_value *sv = udk_array_get(udk_dict_get(s->props, "UDKAudioStreams"), i);
		struct udk_audio_format_range f[AUDIO_MAX_FORMATS];
		struct udk_value *se = udk_value_new_dict();
		uint32_t n = 0;
		char text[600], why[200];
		udk_dict_set_string(se, "name", udk_dict_get_string(sv, "name"));
		udk_dict_set_string(se, "direction", udk_dict_get_string(sv, "direction"));
		if (audio_formats_from_value(udk_dict_get(sv, "formats"), f, AUDIO_MAX_FORMATS, &n, why, sizeof(why))) {
			audio_formats_describe(f, n, text, sizeof(text));
			udk_dict_set_string(se, "formats", text);
		}
		if (udk_dict_get(sv, "current"))
			udk_dict_set(se, "current", udk_dict_get(sv, "current"));
		if (udk_dict_get(sv, "in_use_by"))
			udk_dict_set(se, "in_use_by", udk_dict_get(sv, "in_use_by"));
		for (size_t k = 0; k < udk_array_size(udk_dict_get(s->props, "UDKAudioXruns")); k++) {
			const struct udk_value *x = udk_array_get(udk_dict_get(s->props, "UDKAudioXruns"), k);
			if (streq(udk_dict_get_string(x, "stream"), udk_dict_get_string(sv, "name"))) {
				udk_dict_set(se, "xruns", udk_dict_get(x, "xruns"));
				udk_dict_set(se, "xrun_frames", udk_dict_get(x, "frames"));
			}
		}
		udk_array_append_take(streams, se);
	}
	udk_dict_set_take(e, "streams", streams);
	if (udk_dict_get(s->props, "UDKAudioControls"))
		udk_dict_set(e, "controls", udk_dict_get(s->props, "UDKAudioControls"));
	udk_array_append_take(list, e);
}

static struct udk_value *
audio_describe(struct udkd *d)
{
	struct audio_state *st = state(d);
	struct udk_value *v = udk_value_new_dict(), *list = udk_value_new_array(), *hidden = udk_value_new_array();

	registry_walk(d, collect_devices, list);
	/* the alsa name of each */
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i);
		char alsa[64];
		snprintf(alsa, sizeof(alsa), "udk:%s", udk_dict_get_string(e, "name"));
		udk_dict_set_string(e, "alsa", alsa);
	}
	for (unsigned i = 0; st && i < st->n_hidden; i++) {
		struct hidden *h = &st->hidden[i];
		struct udk_value *e;
		if (h->visible)
			continue;
		e = udk_value_new_dict();
		udk_dict_set_string(e, "name", h->name);
		udk_dict_set_string(e, "driver", h->proc->bundle ? h->proc->bundle->identifier : h->proc->label);
		udk_dict_set_string(e, "why", h->reason);
		udk_array_append_take(hidden, e);
	}
	udk_dict_set_take(v, "devices", list);
	udk_dict_set_take(v, "hidden", hidden);
	if (st && st->alsa_dir) {
		udk_dict_set_string(v, "alsa_dev_dir", st->alsa_dir);
		udk_dict_set_uint(v, "kernel_pcms", st->alsa_pcms);
	}
	if (st) {
		udk_dict_set_uint(v, "descriptions_published", st->states);
		udk_dict_set_uint(v, "descriptions_refused", st->refused);
	}
	return v;
}

/* ---- events and lifecycle ---- */

static void
on_proc_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct audio_state *st = udkd_family_state(d, &udkd_family_audio);
	unsigned w = 0;

	(void)ev;
	(void)ctx;
	if (!st)
		return;
	for (unsigned i = 0; i < st->n_hidden; i++) {
		if (st->hidden[i].proc == data) {
			proc_unref(st->hidden[i].proc);
			continue;
		}
		st->hidden[w++] = st->hidden[i];
	}
	st->n_hidden = w;
}

static int
audio_init(struct udkd *d)
{
	if (!state(d))
		return -ENOMEM;
	udkd_listen(d, UDKD_EV_PROC_DIED, on_proc_died, NULL);
	return 0;
}

static int
audio_start(struct udkd *d)
{
	struct audio_state *st = state(d);

	if (!st || !st->alsa_dir)
		return 0;
	if (scan_alsa(d, st) < 0)
		log_warning(d, "audio: %s", udk_error_reason());
	return 0;
}

static const struct udkd_family_option audio_options[] = {
	{ "alsa-dev-dir", optional_argument, "DIR",
	  "publish the kernel's PCM devices (DIR, default /dev/snd) for audio drivers that bridge them" },
	{ NULL, 0, NULL, NULL },
};

static int
audio_set_option(struct udkd *d, const char *name, const char *value)
{
	struct audio_state *st = state(d);

	if (!st)
		return -ENOMEM;
	if (streq(name, "alsa-dev-dir")) {
		free(st->alsa_dir);
		st->alsa_dir = strdup(value ? value : "/dev/snd");
		return st->alsa_dir ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

static void
audio_fini(struct udkd *d)
{
	struct audio_state *st = udkd_family_state(d, &udkd_family_audio);

	if (!st)
		return;
	free(st->alsa_dir);
	for (unsigned i = 0; i < st->n_hidden; i++)
		proc_unref(st->hidden[i].proc);
	free(st);
	udkd_family_set_state(d, &udkd_family_audio, NULL);
}

/* Personality keys the family reads (libudk-audio, udk_audio_device_create):
 * they name and show devices, they do not match. */
static const char *const audio_property_keys[] = { "UDKAudioDeviceName", "UDKAudioVisibility", NULL };

static const struct udkd_family_class audio_classes[] = {
	{ "IOUserAudioDriver", "IOService", "family.audio", "audio driver" },
	{ "IOUserAudioDevice", "IOService", "family.audio", NULL },
	{ "UDKAudioSimDevice", "IOService", "family.audio", NULL },
	{ "UDKAudioALSAPCM", "IOService", "family.audio", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement audio_entitlements[] = {
	{ "family.audio", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_audio = {
	UDKD_FAMILY_INIT,
	.name = "audio",
	.title = "audio devices",
	.docs = "docs/families/audio.md",
	.classes = audio_classes,
	.entitlements = audio_entitlements,
	.init = audio_init,
	.start = audio_start,
	.fini = audio_fini,
	.options = audio_options,
	.set_option = audio_set_option,
	.open_provider = audio_open_provider,
	.op_base = AUDIO_OP_BASE,
	.op_count = AUDIO_OP_COUNT,
	.message = audio_message,
	.model_kind = "audio",
	.model_function = audio_model_function,
	.describe_model = audio_describe_model,
	.describe = audio_describe,
	.property_keys = audio_property_keys,
};
