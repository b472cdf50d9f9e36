/* SPDX-License-Identifier: MIT */
/*
 * audio/sim/devmodel.c - simulated audio hardware: the "audio" kind of
 * device model (<udk/families/audio-devmodel.h>) on the generic runtime
 * (lib/devmodel/).
 *
 * The engine is one thread per function, the device's clock.  While a
 * stream runs it wakes every half period (of the shortest running stream),
 * computes the device frame F the clock has reached, and brings every
 * running stream to F: outputs first (the samples the app left in the ring
 * go to play()), then inputs (capture() fills the ring).  Then it writes
 * each stream's position and a zero timestamp into the ring, under the
 * ring's seqlock: the app learns where the hardware is without a message.
 *
 * Rings are reached through the simulated IOMMU (udk_dm_dma_get on the
 * range the driver mapped), so the device touches only what its driver
 * prepared for it.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include <udk/families/audio-devmodel.h>

#include "../common/audio-common.h"
#include "../proto-audio.h"
#include "dm-private.h"
#include "util.h"

struct sim_stream {
	struct udk_dm_audio_stream desc;
	struct udk_audio_format_range formats[AUDIO_MAX_FORMATS];
	uint32_t n_formats;
	/* running (under engine lock) */
	bool running;
	void *dma;				/* udk_dm_dma_get() of the whole ring */
	struct audio_ring_header *hdr;
	uint8_t *data;
	struct udk_audio_format fmt;
	uint32_t frame_bytes, buffer_frames, period_frames;
	uint64_t start;				/* device frame at start */
	uint64_t done;				/* frames moved since start */
	bool in_xrun;
	int32_t volume_db_x100;
	bool mute;
	uint8_t *scratch;			/* gain applied (outputs) */
	size_t scratch_len;
};

struct sim_audio {
	struct udk_dm_audio_config cfg;
	struct udk_dm_audio_ops ops;
	char **clock_names;
	unsigned n_clocks, clock;
	struct sim_stream streams[AUDIO_MAX_STREAMS];
	unsigned n_streams;

	pthread_mutex_t lock;			/* streams' running state, the clock */
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started, quit;
	uint32_t rate;				/* the clock's rate while anything runs */
	uint64_t t0_ns;				/* when device frame 0 passed */
	unsigned n_running;
};

#define SIM(fn) ((struct sim_audio *)(fn)->kind_data)
#define HAS_OP(sa, f)                                                                                          \
	((sa)->ops.struct_size >= offsetof(struct udk_dm_audio_ops, f) + sizeof((sa)->ops.f) && (sa)->ops.f)

/* ---- samples ---- */

UDK_EXPORT int32_t
udk_dm_audio_sample_get(const void *p, uint32_t sf)
{
	const uint8_t *b = p;
	int32_t v;
	float f;

	switch (sf) {
	case UDK_AUDIO_S16_LE:
		return (int32_t)((uint32_t)(int16_t)(b[0] | b[1] << 8) << 16);
	case UDK_AUDIO_S24_LE:
		memcpy(&v, b, 4);
		return (int32_t)((uint32_t)v << 8);
	case UDK_AUDIO_S32_LE:
		memcpy(&v, b, 4);
		return v;
	case UDK_AUDIO_FLOAT_LE:
		memcpy(&f, b, 4);
		if (!(f > -1.0f))
			return INT32_MIN;
		if (f >= 1.0f)
			return INT32_MAX;
		return (int32_t)(f * 2147483648.0);
	case UDK_AUDIO_S24_3LE:
		return (int32_t)((uint32_t)b[0] << 8 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 24);
	default:
		return 0;
	}
}

UDK_EXPORT void
udk_dm_audio_sample_put(void *p, uint32_t sf, int32_t v)
{
	uint8_t *b = p;
	float f;
	int32_t w;

	switch (sf) {
	case UDK_AUDIO_S16_LE:
		b[0] = (uint8_t)((uint32_t)v >> 16);
		b[1] = (uint8_t)((uint32_t)v >> 24);
		break;
	case UDK_AUDIO_S24_LE:
		w = v >> 8;
		memcpy(b, &w, 4);
		break;
	case UDK_AUDIO_S32_LE:
		memcpy(b, &v, 4);
		break;
	case UDK_AUDIO_FLOAT_LE:
		f = (float)((double)v / 2147483648.0);
		memcpy(b, &f, 4);
		break;
	case UDK_AUDIO_S24_3LE:
		b[0] = (uint8_t)((uint32_t)v >> 8);
		b[1] = (uint8_t)((uint32_t)v >> 16);
		b[2] = (uint8_t)((uint32_t)v >> 24);
		break;
	default:
		break;
	}
}

/* ---- the ring's position block (the device's side of the seqlock) ---- */

static void
publish(struct sim_audio *sa, struct sim_stream *s)
{
	struct audio_ring_header *h = s->hdr;
	uint32_t seq = atomic_load_explicit(&h->pos_seq, memory_order_relaxed);
	uint64_t host = sa->t0_ns + (uint64_t)((double)(s->start + s->done) * 1e9 / sa->rate);

	/* writer: odd while writing; the release fence orders the samples
	 * captured before (input) and the odd count before the fields; the
	 * final release store pairs with the app's acquire load of pos_seq
	 * (alsa/pcm_udk.c, read_position) */
	atomic_store_explicit(&h->pos_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&h->hw_frames, s->done, memory_order_relaxed);
	atomic_store_explicit(&h->zero_sample, s->done, memory_order_relaxed);
	atomic_store_explicit(&h->zero_host_ns, host, memory_order_relaxed);
	atomic_store_explicit(&h->pos_seq, seq + 2, memory_order_release);
}

static void
apply_gain(struct sim_stream *s, const uint8_t *src, uint32_t n, const uint8_t **ret)
{
	size_t bytes = (size_t)n * s->frame_bytes;
	unsigned sb = audio_sample_bytes(s->fmt.sample_format);
	double g;

	if (!s->mute && s->volume_db_x100 == 0) {
		*ret = src;
		return;
	}
	if (s->scratch_len < bytes) {
		uint8_t *p = realloc(s->scratch, bytes);
		if (!p) {
			*ret = src;
			return;
		}
		s->scratch = p;
		s->scratch_len = bytes;
	}
	g = s->mute ? 0.0 : pow(10.0, s->volume_db_x100 / 2000.0);
	for (size_t i = 0; i + sb <= bytes; i += sb) {
		double v = udk_dm_audio_sample_get(src + i, s->fmt.sample_format) * g;
		udk_dm_audio_sample_put(s->scratch + i, s->fmt.sample_format,
					v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v);
	}
	*ret = s->scratch;
}

/* Under sa->lock: play output @s up to @target frames since its start. */
static void
run_output(struct udk_dm_function *fn, struct sim_audio *sa, unsigned idx, struct sim_stream *s, uint64_t target)
{
	/* acquire: pairs with the app's release store of appl_frames after
	 * it wrote the samples (alsa/pcm_udk.c, transfer) */
	uint64_t appl = atomic_load_explicit(&s->hdr->appl_frames, memory_order_acquire);
	bool draining = atomic_load_explicit(&s->hdr->app_flags, memory_order_relaxed) & AUDIO_APP_DRAINING;
	uint64_t want = target - s->done;
	uint64_t have = appl > s->done ? MIN(appl - s->done, (uint64_t)s->buffer_frames) : 0;
	uint64_t real = MIN(want, have), t = s->start + s->done;

	while (real) {
		uint32_t off = (uint32_t)(s->done % s->buffer_frames);
		uint32_t n = (uint32_t)MIN(real, (uint64_t)(s->buffer_frames - off));
		const uint8_t *src;
		apply_gain(s, s->data + (size_t)off * s->frame_bytes, n, &src);
		if (HAS_OP(sa, play))
			sa->ops.play(fn, idx, src, n, t, &s->fmt);
		s->done += n;
		t += n;
		real -= n;
		want -= n;
	}
	if (want) {
		/* ran dry: silence for the rest, counted once per episode */
		static const uint8_t zeros[4096];
		if (!s->in_xrun && !draining) {
			atomic_fetch_add_explicit(&s->hdr->xruns, 1, memory_order_relaxed);
			s->in_xrun = true;
		}
		if (!draining)
			atomic_fetch_add_explicit(&s->hdr->xrun_frames, want, memory_order_relaxed);
		while (want) {
			uint32_t n = (uint32_t)MIN(want, (uint64_t)(sizeof(zeros) / s->frame_bytes));
			if (HAS_OP(sa, play))
				sa->ops.play(fn, idx, zeros, n, t, &s->fmt);
			s->done += n;
			t += n;
			want -= n;
		}
	} else {
		s->in_xrun = false;
	}
}

/* Under sa->lock: capture into input @s up to @target. */
static void
run_input(struct udk_dm_function *fn, struct sim_audio *sa, unsigned idx, struct sim_stream *s, uint64_t target)
{
	/* acquire: pairs with the app's release store of appl_frames after
	 * it read the samples, so we never overwrite what it still reads */
	uint64_t appl = atomic_load_explicit(&s->hdr->appl_frames, memory_order_acquire);
	uint64_t t = s->start + s->done;

	if (target > appl + s->buffer_frames) {
		if (!s->in_xrun) {
			atomic_fetch_add_explicit(&s->hdr->xruns, 1, memory_order_relaxed);
			s->in_xrun = true;
		}
		atomic_fetch_add_explicit(&s->hdr->xrun_frames, target - s->done, memory_order_relaxed);
	} else {
		s->in_xrun = false;
	}
	while (s->done < target) {
		uint32_t off = (uint32_t)(s->done % s->buffer_frames);
		uint32_t n = (uint32_t)MIN(target - s->done, (uint64_t)(s->buffer_frames - off));
		uint8_t *dst = s->data + (size_t)off * s->frame_bytes;
		if (HAS_OP(sa, capture))
			sa->ops.capture(fn, idx, dst, n, t, &s->fmt);
		else
			memset(dst, 0, (size_t)n * s->frame_bytes);
		if (s->mute)
			memset(dst, 0, (size_t)n * s->frame_bytes);
		s->done += n;
		t += n;
	}
}

static void *
engine(void *data)
{
	struct udk_dm_function *fn = data;
	struct sim_audio *sa = SIM(fn);
	struct sched_param sp = { .sched_priority = 20 };

	/* a DMA engine is not preempted by the apps it serves: real-time when
	 * allowed (root), an ordinary thread otherwise */
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	pthread_mutex_lock(&sa->lock);
	while (!sa->quit) {
		uint64_t now, frame, min_period = UINT32_MAX, tick_ns;
		struct timespec ts;

		if (!sa->n_running) {
			pthread_cond_wait(&sa->cond, &sa->lock);
			continue;
		}
		now = now_ns();
		frame = (uint64_t)((double)(now - sa->t0_ns) * sa->rate / 1e9);
		for (int pass = 0; pass < 2; pass++)
			for (unsigned i = 0; i < sa->n_streams; i++) {
				struct sim_stream *s = &sa->streams[i];
				if (!s->running || (pass == 0) != (s->desc.direction == UDK_AUDIO_OUTPUT))
					continue;
				if (frame > s->start + s->done) {
					if (pass == 0)
						run_output(fn, sa, i, s, frame - s->start);
					else
						run_input(fn, sa, i, s, frame - s->start);
				}
				publish(sa, s);
				min_period = MIN(min_period, (uint64_t)s->period_frames);
			}
		tick_ns = min_period * 1000000000ull / sa->rate / 2;
		tick_ns = MAX(tick_ns, 250000ull);
		tick_ns = MIN(tick_ns, 20000000ull);
		now += tick_ns;
		ts.tv_sec = (time_t)(now / 1000000000ull);
		ts.tv_nsec = (long)(now % 1000000000ull);
		pthread_mutex_unlock(&sa->lock);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		pthread_mutex_lock(&sa->lock);
	}
	pthread_mutex_unlock(&sa->lock);
	return NULL;
}

/* ---- the driver's requests ---- */

static void
load_formats(struct udk_dm_function *fn)
{
	struct sim_audio *sa = SIM(fn);

	for (unsigned i = 0; i < sa->n_streams; i++) {
		struct sim_stream *s = &sa->streams[i];
		uint32_t n = 0;
		if (HAS_OP(sa, formats))
			n = sa->ops.formats(fn, sa->clock, i, s->formats, AUDIO_MAX_FORMATS);
		if (!n) {
			n = MIN(s->desc.n_formats, (uint32_t)AUDIO_MAX_FORMATS);
			memcpy(s->formats, s->desc.formats, n * sizeof(*s->formats));
		}
		s->n_formats = n;
	}
}

static struct udk_value *
info(struct sim_audio *sa)
{
	struct udk_value *v = udk_value_new_dict(), *list = udk_value_new_array();

	udk_dict_set_string(v, "name", sa->cfg.name);
	udk_dict_set_string(v, "description", sa->cfg.description ? sa->cfg.description : sa->cfg.name);
	for (unsigned i = 0; i < sa->n_streams; i++) {
		struct sim_stream *s = &sa->streams[i];
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "direction", s->desc.direction == UDK_AUDIO_OUTPUT ? "output" : "input");
		udk_dict_set_string(e, "name", s->desc.name);
		udk_dict_set_take(e, "formats", audio_formats_to_value(s->formats, s->n_formats));
		udk_array_append_take(list, e);
	}
	udk_dict_set_take(v, "streams", list);
	list = udk_value_new_array();
	for (unsigned i = 0; i < sa->n_clocks; i++)
		udk_array_append_take(list, udk_value_new_string(sa->clock_names[i]));
	udk_dict_set_take(v, "clock_sources", list);
	udk_dict_set_int(v, "clock_source", sa->clock);
	return v;
}

/* Under sa->lock. */
static void
stop_stream(struct udk_dm_function *fn, struct sim_stream *s, int code, const char *why)
{
	struct sim_audio *sa = SIM(fn);

	if (!s->running)
		return;
	if (code) {
		snprintf(s->hdr->reason, sizeof(s->hdr->reason), "%s", why);
		atomic_store_explicit(&s->hdr->error, code, memory_order_relaxed);
		/* release: the reason before the state (the app's acquire load) */
		atomic_store_explicit(&s->hdr->state, AUDIO_RING_GONE, memory_order_release);
	}
	s->running = false;
	s->hdr = NULL;
	s->data = NULL;
	udk_dm_dma_put(fn, TAKE_PTR(s->dma));
	sa->n_running--;
}

static void
hw_start(struct udk_dm_function *fn, struct wire_msg *m)
{
	struct sim_audio *sa = SIM(fn);
	int64_t idx = udk_dict_get_int(m->body, "stream", -1);
	uint64_t iova = udk_value_get_uint(udk_dict_get(m->body, "iova"), 0);
	uint64_t len = udk_value_get_uint(udk_dict_get(m->body, "length"), 0);
	const struct udk_value *f = udk_dict_get(m->body, "format");
	struct udk_audio_format fmt = {
		(uint32_t)udk_dict_get_int(f, "rate", 0),
		(uint16_t)udk_dict_get_int(f, "channels", 0),
		(uint16_t)audio_sample_format_parse(udk_dict_get_string(f, "sample_format")),
	};
	int64_t bf = udk_dict_get_int(m->body, "buffer_frames", 0), pf = udk_dict_get_int(m->body, "period_frames", 0);
	struct sim_stream *s;
	struct audio_ring_header *h;
	uint64_t fb;
	void *p = NULL;
	char why[300];
	int r;

	if (idx < 0 || (unsigned)idx >= sa->n_streams)
		return dm_chan_reply(fn, m, -EINVAL, "the device has no such stream", NULL, NULL, 0);
	s = &sa->streams[idx];
	if (!audio_format_allowed(s->formats, s->n_formats, &fmt)) {
		audio_formats_describe(s->formats, s->n_formats, why, sizeof(why));
		char *msg = strdup_printf("stream %" PRId64 " cannot run %s %uch %u Hz; it offers %s", idx,
					  audio_sample_format_str(fmt.sample_format), fmt.channels, fmt.sample_rate, why);
		dm_chan_reply(fn, m, -EINVAL, msg, NULL, NULL, 0);
		free(msg);
		return;
	}
	fb = (uint64_t)audio_sample_bytes(fmt.sample_format) * fmt.channels;
	if (bf < 2 * AUDIO_MIN_PERIOD || bf > AUDIO_MAX_BUFFER || pf < AUDIO_MIN_PERIOD || pf > bf ||
	    len < AUDIO_RING_DATA_OFFSET + (uint64_t)bf * fb)
		return dm_chan_reply(fn, m, -EINVAL, "the ring is smaller than the buffer it should hold", NULL, NULL, 0);
	r = udk_dm_dma_get(fn, iova, len, true, &p);
	if (r < 0)
		return dm_chan_reply(fn, m, r, udk_error_reason(), NULL, NULL, 0);
	h = p;
	if (h->magic != AUDIO_RING_MAGIC || h->version != AUDIO_RING_VERSION) {
		udk_dm_dma_put(fn, p);
		return dm_chan_reply(fn, m, -EINVAL, "the memory is not an audio ring", NULL, NULL, 0);
	}
	pthread_mutex_lock(&sa->lock);
	if (s->running)
		stop_stream(fn, s, 0, NULL);
	if (sa->n_running && sa->rate != fmt.sample_rate) {
		uint32_t rate = sa->rate;
		pthread_mutex_unlock(&sa->lock);
		udk_dm_dma_put(fn, p);
		char *msg = strdup_printf("the device's clock runs at %u Hz for another stream; it cannot run stream %" PRId64
					  " at %u Hz at the same time",
					  rate, idx, fmt.sample_rate);
		dm_chan_reply(fn, m, -UDK_E_BUSY, msg, NULL, NULL, 0);
		free(msg);
		return;
	}
	if (!sa->n_running) {
		sa->rate = fmt.sample_rate;
		sa->t0_ns = now_ns();
	}
	s->dma = p;
	s->hdr = h;
	s->data = (uint8_t *)p + AUDIO_RING_DATA_OFFSET;
	s->fmt = fmt;
	s->frame_bytes = (uint32_t)fb;
	s->buffer_frames = (uint32_t)bf;
	s->period_frames = (uint32_t)pf;
	s->start = (uint64_t)((double)(now_ns() - sa->t0_ns) * sa->rate / 1e9);
	s->done = 0;
	s->in_xrun = false;
	s->running = true;
	sa->n_running++;
	publish(sa, s);
	pthread_cond_signal(&sa->cond);
	pthread_mutex_unlock(&sa->lock);
	dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
}

static void
audio_message(struct udk_dm_function *fn, struct wire_msg *m)
{
	struct sim_audio *sa = SIM(fn);
	struct udk_value *reply;
	int64_t idx;

	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		if (!(m->h.flags & WIRE_F_ONEWAY))
			dm_chan_reply(fn, m, -UDK_E_PROTOCOL, "request body must be a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_AUDIO_HW_INFO:
		pthread_mutex_lock(&sa->lock);
		reply = info(sa);
		pthread_mutex_unlock(&sa->lock);
		dm_chan_reply(fn, m, 0, NULL, reply, NULL, 0);
		udk_value_unref(reply);
		return;
	case OP_AUDIO_HW_SET_CLOCK:
		idx = udk_dict_get_int(m->body, "source", -1);
		pthread_mutex_lock(&sa->lock);
		if (idx < 0 || (unsigned)idx >= MAX(sa->n_clocks, 1u)) {
			pthread_mutex_unlock(&sa->lock);
			return dm_chan_reply(fn, m, -EINVAL, "the device has no such clock source", NULL, NULL, 0);
		}
		if (sa->n_running) {
			pthread_mutex_unlock(&sa->lock);
			return dm_chan_reply(fn, m, -UDK_E_BUSY, "the clock cannot change while streams run", NULL, NULL, 0);
		}
		sa->clock = (unsigned)idx;
		load_formats(fn);
		reply = info(sa);
		pthread_mutex_unlock(&sa->lock);
		if (HAS_OP(sa, clock_changed))
			sa->ops.clock_changed(fn, (unsigned)idx);
		udk_dm_log(fn->dm, UDK_LOG_INFO, "clock source: %s", sa->n_clocks ? sa->clock_names[idx] : "fixed");
		dm_chan_reply(fn, m, 0, NULL, reply, NULL, 0);
		udk_value_unref(reply);
		return;
	case OP_AUDIO_HW_START:
		hw_start(fn, m);
		return;
	case OP_AUDIO_HW_STOP:
		idx = udk_dict_get_int(m->body, "stream", -1);
		if (idx < 0 || (unsigned)idx >= sa->n_streams)
			return dm_chan_reply(fn, m, -EINVAL, "the device has no such stream", NULL, NULL, 0);
		pthread_mutex_lock(&sa->lock);
		stop_stream(fn, &sa->streams[idx], 0, NULL);
		pthread_mutex_unlock(&sa->lock);
		dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		return;
	case OP_AUDIO_HW_SET_GAIN: {
		int64_t db = udk_dict_get_int(m->body, "volume_db_x100", 0);
		idx = udk_dict_get_int(m->body, "stream", -1);
		if (idx < 0 || (unsigned)idx >= sa->n_streams || db < -20000 || db > 20000)
			return dm_chan_reply(fn, m, -EINVAL, "no such stream, or a gain outside -200..200 dB", NULL, NULL,
					     0);
		pthread_mutex_lock(&sa->lock);
		sa->streams[idx].volume_db_x100 = (int32_t)db;
		sa->streams[idx].mute = udk_dict_get_bool(m->body, "mute", false);
		pthread_mutex_unlock(&sa->lock);
		dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		return;
	}
	default:
		if (!(m->h.flags & WIRE_F_ONEWAY))
			dm_chan_reply(fn, m, -EOPNOTSUPP, "the audio device does not know this request", NULL, NULL, 0);
	}
}

static void
stop_all(struct udk_dm_function *fn, int code, const char *why)
{
	struct sim_audio *sa = SIM(fn);

	pthread_mutex_lock(&sa->lock);
	for (unsigned i = 0; i < sa->n_streams; i++)
		stop_stream(fn, &sa->streams[i], code, why);
	pthread_mutex_unlock(&sa->lock);
}

static void
audio_closed(struct udk_dm_function *fn)
{
	/* the driver closed its channel (it stopped, or died: reset follows) */
	stop_all(fn, -UDK_E_DRIVER_DIED,
		 "the audio driver ended (it crashed or was stopped); the device returns when udkd has restarted it");
}

static void
audio_reset(struct udk_dm_function *fn, const char *why)
{
	(void)why;
	stop_all(fn, -UDK_E_DRIVER_DIED,
		 "the audio driver ended (it crashed or was stopped); the device returns when udkd has restarted it");
}

static int
audio_describe(struct udk_dm_function *fn, struct udk_value *desc)
{
	udk_dict_set_string(desc, "model", SIM(fn)->cfg.model);
	return 0;
}

static const struct dm_kind audio_kind = {
	.name = "audio",
	.describe = audio_describe,
	.message = audio_message,
	.closed = audio_closed,
	.reset = audio_reset,
};

UDK_EXPORT unsigned
udk_dm_audio_get_clock_source(struct udk_dm_function *fn)
{
	return fn && fn->kind == &audio_kind ? SIM(fn)->clock : 0;
}

UDK_EXPORT int
udk_dm_add_audio_function(struct udk_dm *dm, const struct udk_dm_audio_config *config,
			  const struct udk_dm_audio_ops *ops, void *userdata, struct udk_dm_function **ret)
{
	struct sim_audio *sa;
	struct udk_dm_function *fn = NULL;
	char why[300];
	int r;

	udk_return_val_if_fail(dm && config && config->model && config->name && config->streams, -EINVAL);
	if (config->n_streams < 1 || config->n_streams > AUDIO_MAX_STREAMS)
		return udk_set_reason(-EINVAL, "an audio device has 1..%d streams", AUDIO_MAX_STREAMS);
	for (unsigned i = 0; i < config->n_streams; i++)
		if (!audio_formats_check(config->streams[i].formats, config->streams[i].n_formats, why, sizeof(why)))
			return udk_set_reason(-EINVAL, "stream %u: %s", i, why);
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	sa->cfg = *config;
	if (ops) {
		memcpy(&sa->ops, ops, MIN(ops->struct_size, sizeof(sa->ops)));
		sa->ops.struct_size = (uint32_t)MIN(ops->struct_size, sizeof(sa->ops));
	}
	for (const char *const *c = config->clock_sources; c && *c && sa->n_clocks < AUDIO_MAX_ITEMS; c++) {
		char **n = reallocarray(sa->clock_names, sa->n_clocks + 1, sizeof(*n));
		if (!n)
			break;
		sa->clock_names = n;
		sa->clock_names[sa->n_clocks++] = strdup(*c);
	}
	sa->n_streams = config->n_streams;
	for (unsigned i = 0; i < sa->n_streams; i++)
		sa->streams[i].desc = config->streams[i];
	pthread_mutex_init(&sa->lock, NULL);
	pthread_cond_init(&sa->cond, NULL);
	r = dm_function_new(dm, &audio_kind, sa, userdata, &fn);
	if (r < 0) {
		free(sa);
		return r;
	}
	load_formats(fn);
	if (pthread_create(&sa->thread, NULL, engine, fn) != 0)
		return udk_set_reason(-EAGAIN, "cannot start the device's clock thread");
	sa->thread_started = true;
	if (ret)
		*ret = fn;
	return 0;
}
