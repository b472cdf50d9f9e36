/* SPDX-License-Identifier: MIT */
/*
 * pcm_udk.c - the udk ALSA plugin (libasound_module_pcm_udk.so): every
 * ALSA program plays and records udk audio devices.
 *
 *	aplay -D udk:loopback song.wav
 *	arecord -D udk:loopback -f S16_LE -r 48000 -c 2 take.wav
 *
 * It is an alsa-lib I/O plugin (pcm_ioplug.h) inside the app.  It finds
 * the IOUserAudioDevice named DEVICE in udkd's registry, opens a user
 * client on it (so udkd's app access rules apply: the driver's
 * allow-any-userclient-access, or `udkctl access grant`), and builds the
 * hw_params constraints from the formats the stream offers now.  hw_params
 * asks the driver for the exact setup (it refuses what it does not offer,
 * with the list it does) and maps the stream's ring.  From then on nothing
 * crosses a socket while samples flow: the app's samples are copied once,
 * straight into the ring (the copy every ALSA write does into a DMA
 * buffer), its position is published with a release store, and the
 * hardware's position and zero timestamp are read from the ring.  The
 * plugin sleeps on a timerfd set from the zero timestamp for when the
 * next period is due; the connection's descriptor is polled too, so a
 * crashed driver or a device that went away wakes the app with ENODEV,
 * never a hang.
 *
 * Also here: the configuration hook udk_alsa_namehints, which lists the
 * devices udkd knows for `aplay -L` (50-udk.conf).
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>

#include "audio-common.h"
#include "proto-audio.h"

#define MAX_DESC 4096

struct udk_pcm {
	snd_pcm_ioplug_t io;
	char *device;			/* as asked ("" : the first one) */
	char *name;			/* as found */
	struct udk_client *client;
	struct udk_connection *conn;
	uint64_t service;
	unsigned stream;		/* udk stream index */
	uint32_t direction;
	struct udk_audio_format_range formats[AUDIO_MAX_FORMATS];
	uint32_t n_formats;
	uint32_t min_period, max_buffer;	/* frames, as the stream allows */

	/* set up (hw_params) */
	uint64_t handle;
	struct udk_buffer *ring;
	struct audio_ring_header *hdr;
	uint8_t *data;
	uint32_t buffer_frames, period_frames, frame_bytes, rate, sample_bits;
	uint64_t appl;			/* frames written / read since prepare */
	snd_pcm_uframes_t avail_min;
	int timer_fd;
	bool running, gone;
	char reason[256];
};

/* ---- formats ---- */

static uint32_t
from_alsa(snd_pcm_format_t f)
{
	switch (f) {
	case SND_PCM_FORMAT_S16_LE:
		return UDK_AUDIO_S16_LE;
	case SND_PCM_FORMAT_S24_LE:
		return UDK_AUDIO_S24_LE;
	case SND_PCM_FORMAT_S32_LE:
		return UDK_AUDIO_S32_LE;
	case SND_PCM_FORMAT_FLOAT_LE:
		return UDK_AUDIO_FLOAT_LE;
	case SND_PCM_FORMAT_S24_3LE:
		return UDK_AUDIO_S24_3LE;
	default:
		return 0;
	}
}

static snd_pcm_format_t
to_alsa(uint32_t f)
{
	switch (f) {
	case UDK_AUDIO_S16_LE:
		return SND_PCM_FORMAT_S16_LE;
	case UDK_AUDIO_S24_LE:
		return SND_PCM_FORMAT_S24_LE;
	case UDK_AUDIO_S32_LE:
		return SND_PCM_FORMAT_S32_LE;
	case UDK_AUDIO_FLOAT_LE:
		return SND_PCM_FORMAT_FLOAT_LE;
	case UDK_AUDIO_S24_3LE:
		return SND_PCM_FORMAT_S24_3LE;
	default:
		return SND_PCM_FORMAT_UNKNOWN;
	}
}

/*
 * The device's description from udkd's registry, checked as udkd checks
 * it; the stream of our direction (the first, or @want) and its formats.
 */
static int
load_formats(struct udk_pcm *u, int want)
{
	struct udk_value *svc = NULL, *clean;
	const struct udk_value *streams;
	char why[400];
	int r, found = -1;

	r = udk_client_copy_service(u->client, u->service, &svc);
	if (r < 0) {
		SNDERR("udk: device %s: %s", u->name ? u->name : u->device,
		       udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return -ENODEV;
	}
	clean = audio_state_check(udk_dict_get(svc, "properties"), why, sizeof(why));
	udk_value_unref(svc);
	if (!clean) {
		SNDERR("udk: device %s has a malformed description: %s", u->device, why);
		return -EIO;
	}
	streams = udk_dict_get(clean, "UDKAudioStreams");
	for (size_t i = 0; i < udk_array_size(streams); i++) {
		const struct udk_value *s = udk_array_get(streams, i);
		bool out = !strcmp(udk_dict_get_string(s, "direction"), "output");
		if (out != (u->direction == UDK_AUDIO_OUTPUT))
			continue;
		if (want >= 0 && (int)i != want)
			continue;
		if (!audio_formats_from_value(udk_dict_get(s, "formats"), u->formats, AUDIO_MAX_FORMATS, &u->n_formats,
					      why, sizeof(why))) {
			udk_value_unref(clean);
			SNDERR("udk: device %s: %s", u->device, why);
			return -EIO;
		}
		u->min_period = (uint32_t)udk_dict_get_int(s, "min_period_frames", AUDIO_MIN_PERIOD);
		u->max_buffer = (uint32_t)udk_dict_get_int(s, "max_buffer_frames", 65536);
		found = (int)i;
		break;
	}
	if (!u->name)
		u->name = strdup(udk_dict_get_string(clean, "UDKAudioName"));
	udk_value_unref(clean);
	if (found < 0) {
		SNDERR("udk: device %s has no %s stream%s", u->device,
		       u->direction == UDK_AUDIO_OUTPUT ? "output (playback)" : "input (capture)",
		       want >= 0 ? " with that index" : "");
		return -ENODEV;
	}
	u->stream = (unsigned)found;
	return 0;
}

static int
set_constraints(struct udk_pcm *u)
{
	static const unsigned access[] = { SND_PCM_ACCESS_RW_INTERLEAVED, SND_PCM_ACCESS_RW_NONINTERLEAVED,
					   SND_PCM_ACCESS_MMAP_INTERLEAVED, SND_PCM_ACCESS_MMAP_NONINTERLEAVED };
	unsigned fmts[8], chans[AUDIO_MAX_FORMATS], rates[AUDIO_MAX_FORMATS * 16];
	unsigned nf = 0, nc = 0, nr = 0, max_fb = 0, min_fb = UINT32_MAX;
	int r;

	snd_pcm_ioplug_params_reset(&u->io);
	for (uint32_t i = 0; i < u->n_formats; i++) {
		const struct udk_audio_format_range *f = &u->formats[i];
		unsigned a = (unsigned)to_alsa(f->sample_format), fb = audio_sample_bytes(f->sample_format) * f->channels;
		bool seen = false;
		for (unsigned k = 0; k < nf; k++)
			seen |= fmts[k] == a;
		if (!seen)
			fmts[nf++] = a;
		seen = false;
		for (unsigned k = 0; k < nc; k++)
			seen |= chans[k] == f->channels;
		if (!seen)
			chans[nc++] = f->channels;
		max_fb = fb > max_fb ? fb : max_fb;
		min_fb = fb < min_fb ? fb : min_fb;
		/* the range's ends and ALSA's standard rates inside it */
		for (unsigned k = 0; k < audio_n_standard_rates + 2; k++) {
			uint32_t rate = k == 0 ? f->rate_min : k == 1 ? f->rate_max : audio_standard_rates[k - 2];
			if (rate < f->rate_min || rate > f->rate_max)
				continue;
			seen = false;
			for (unsigned j = 0; j < nr; j++)
				seen |= rates[j] == rate;
			if (!seen && nr < sizeof(rates) / sizeof(rates[0]))
				rates[nr++] = rate;
		}
	}
	if ((r = snd_pcm_ioplug_set_param_list(&u->io, SND_PCM_IOPLUG_HW_ACCESS, 4, access)) < 0 ||
	    (r = snd_pcm_ioplug_set_param_list(&u->io, SND_PCM_IOPLUG_HW_FORMAT, nf, fmts)) < 0 ||
	    (r = snd_pcm_ioplug_set_param_list(&u->io, SND_PCM_IOPLUG_HW_CHANNELS, nc, chans)) < 0 ||
	    (r = snd_pcm_ioplug_set_param_list(&u->io, SND_PCM_IOPLUG_HW_RATE, nr, rates)) < 0 ||
	    /* ioplug constrains bytes, the stream frames: bounds every
	     * offered frame size keeps within the stream's limits */
	    (r = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, u->min_period * max_fb,
						 (u->max_buffer / 2) * min_fb)) < 0 ||
	    (r = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, 2 * u->min_period * max_fb,
						 u->max_buffer * min_fb)) < 0 ||
	    (r = snd_pcm_ioplug_set_param_minmax(&u->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024)) < 0)
		return r;
	return 0;
}

/* ---- the ring ---- */

/* The hardware's position and zero timestamp, consistent (seqlock reader). */
static void
read_position(struct udk_pcm *u, uint64_t *hw, uint64_t *zs, uint64_t *zh)
{
	struct audio_ring_header *h = u->hdr;

	for (int tries = 0;; tries++) {
		/* acquire: pairs with the clock owner's release store of an
		 * even pos_seq (sim/devmodel.c publish, driver/audio.c
		 * udk_audio_stream_publish_position); captured samples are
		 * visible with the position */
		uint32_t s1 = atomic_load_explicit(&h->pos_seq, memory_order_acquire);
		*hw = atomic_load_explicit(&h->hw_frames, memory_order_relaxed);
		*zs = atomic_load_explicit(&h->zero_sample, memory_order_relaxed);
		*zh = atomic_load_explicit(&h->zero_host_ns, memory_order_relaxed);
		/* acquire fence: the loads above complete before pos_seq is read again */
		atomic_thread_fence(memory_order_acquire);
		if (!(s1 & 1) && s1 == atomic_load_explicit(&h->pos_seq, memory_order_relaxed))
			return;
		if (tries > 1000) /* a writer that died mid-update: take what is there */
			return;
	}
}

/* Whether the device went away (and why, in u->reason). */
static bool
check_gone(struct udk_pcm *u)
{
	if (u->gone)
		return true;
	/* acquire: pairs with the release store of GONE after the reason
	 * (driver/audio.c end_stream, sim/devmodel.c stop_stream) */
	if (u->hdr && atomic_load_explicit(&u->hdr->state, memory_order_acquire) == AUDIO_RING_GONE) {
		char r[sizeof(u->hdr->reason)];
		memcpy(r, u->hdr->reason, sizeof(r));
		r[sizeof(r) - 1] = 0;
		snprintf(u->reason, sizeof(u->reason), "%s", r[0] ? r : "the device went away");
		u->gone = true;
	}
	if (u->gone)
		SNDERR("udk: %s: %s", u->name, u->reason);
	return u->gone;
}

/* The connection's descriptor woke us: the driver died or cut us off? */
static bool
check_connection(struct udk_pcm *u, short revents)
{
	int r;

	if (u->gone)
		return true;
	if (check_gone(u))
		return true;
	if (!(revents & (POLLHUP | POLLERR))) {
		/* data, not an end: ask the driver something harmless */
		r = udk_connection_call(u->conn, AUDIO_SEL_DESCRIBE, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL);
		if (r == -UDK_E_UNKNOWN_SELECTOR || r >= 0)
			return false;
	} else {
		r = -UDK_E_DRIVER_DIED;
	}
	snprintf(u->reason, sizeof(u->reason), "%s",
		 r == -UDK_E_DRIVER_DIED
			 ? "the audio driver ended (it crashed or was stopped); the device returns when udkd has restarted it"
			 : udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	u->gone = true;
	SNDERR("udk: %s: %s", u->name, u->reason);
	return true;
}

static snd_pcm_sframes_t
avail_now(struct udk_pcm *u, uint64_t hw)
{
	if (u->direction == UDK_AUDIO_OUTPUT)
		return (snd_pcm_sframes_t)u->buffer_frames - (snd_pcm_sframes_t)(u->appl - hw);
	return (snd_pcm_sframes_t)(hw - u->appl);
}

/* Arm the timer for when @avail_min frames will be there (now if they are). */
static void
arm_timer(struct udk_pcm *u)
{
	struct itimerspec its = { 0 };
	uint64_t hw, zs, zh, target, when, now;
	struct timespec ts;
	snd_pcm_uframes_t want = u->avail_min ? u->avail_min : u->period_frames;

	if (u->timer_fd < 0 || !u->hdr)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	read_position(u, &hw, &zs, &zh);
	if (u->io.state == SND_PCM_STATE_DRAINING)
		target = u->appl;
	else if (u->direction == UDK_AUDIO_OUTPUT)
		target = u->appl + want > u->buffer_frames ? u->appl + want - u->buffer_frames : 0;
	else
		target = u->appl + want;
	if (!u->running || target <= hw || u->gone) {
		when = now + 1;
	} else {
		uint64_t period_ns = (uint64_t)u->period_frames * 1000000000ull / u->rate;
		uint64_t soonest = now + (period_ns / 4 < 100000 ? 100000 : period_ns / 4 > 1000000 ? 1000000 : period_ns / 4);
		/* the zero timestamp: sample zs passed at zh; 50 us of slack
		 * for the device to publish */
		when = zh ? zh + (uint64_t)((double)(target - zs) * 1e9 / u->rate) + 50000 : now + period_ns;
		/* due but not published yet: look again a little later, not at once */
		if (when < soonest)
			when = soonest;
	}
	its.it_value.tv_sec = (time_t)(when / 1000000000ull);
	its.it_value.tv_nsec = (long)(when % 1000000000ull);
	timerfd_settime(u->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- ioplug callbacks ---- */

static int
udk_start(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;
	uint64_t in = u->handle;
	int r;

	if (check_gone(u))
		return -ENODEV;
	r = udk_connection_call(u->conn, AUDIO_SEL_START, &in, 1, NULL, 0, NULL, NULL, NULL, NULL);
	if (r < 0) {
		SNDERR("udk: %s: cannot start: %s", u->name, udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return r == -UDK_E_DRIVER_DIED || r == -UDK_E_REVOKED || r == -UDK_E_HARDWARE_GONE ? -ENODEV : -EIO;
	}
	u->running = true;
	return 0;
}

static int
udk_stop(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;
	uint64_t in = u->handle;

	u->running = false;
	if (u->gone || !u->handle)
		return 0;
	udk_connection_call(u->conn, AUDIO_SEL_STOP, &in, 1, NULL, 0, NULL, NULL, NULL, NULL);
	return 0;
}

static snd_pcm_sframes_t
udk_pointer(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;
	uint64_t hw, zs, zh;

	if (!u->hdr)
		return 0;
	read_position(u, &hw, &zs, &zh);
	if (check_gone(u)) {
		/* DISCONNECTED makes the app's next call fail with ENODEV; a
		 * negative pointer would look like an xrun instead */
		snd_pcm_ioplug_set_state(io, SND_PCM_STATE_DISCONNECTED);
		return (snd_pcm_sframes_t)(u->appl % u->buffer_frames);
	}
	if (u->running) {
		if (u->direction == UDK_AUDIO_OUTPUT && hw > u->appl && io->state != SND_PCM_STATE_DRAINING)
			return -EPIPE;	/* underrun: the device played silence */
		if (u->direction == UDK_AUDIO_INPUT && hw > u->appl + u->buffer_frames)
			return -EPIPE;	/* overrun: the device overwrote unread samples */
	}
	if (u->direction == UDK_AUDIO_OUTPUT && hw > u->appl)
		hw = u->appl;
	return (snd_pcm_sframes_t)(hw % u->buffer_frames);
}

static void
ring_areas(struct udk_pcm *u, snd_pcm_channel_area_t *areas)
{
	for (unsigned c = 0; c < u->io.channels; c++) {
		areas[c].addr = u->data;
		areas[c].first = c * u->sample_bits;
		areas[c].step = u->frame_bytes * 8;
	}
}

static snd_pcm_sframes_t
udk_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas, snd_pcm_uframes_t offset,
	     snd_pcm_uframes_t size)
{
	struct udk_pcm *u = io->private_data;
	snd_pcm_channel_area_t ring[AUDIO_MAX_CHANNELS];
	snd_pcm_uframes_t done = 0;

	if (check_gone(u)) {
		snd_pcm_ioplug_set_state(io, SND_PCM_STATE_DISCONNECTED);
		return -ENODEV;
	}
	ring_areas(u, ring);
	while (done < size) {
		snd_pcm_uframes_t at = (snd_pcm_uframes_t)((u->appl + done) % u->buffer_frames);
		snd_pcm_uframes_t n = size - done;
		if (n > u->buffer_frames - at)
			n = u->buffer_frames - at;
		if (u->direction == UDK_AUDIO_OUTPUT)
			snd_pcm_areas_copy(ring, at, areas, offset + done, io->channels, n, io->format);
		else
			snd_pcm_areas_copy(areas, offset + done, ring, at, io->channels, n, io->format);
		done += n;
	}
	u->appl += size;
	/* release: the samples (written for output, read for input) before
	 * the position; pairs with the device's acquire load of appl_frames
	 * (sim/devmodel.c run_output / run_input) */
	atomic_store_explicit(&u->hdr->appl_frames, u->appl, memory_order_release);
	return (snd_pcm_sframes_t)size;
}

static void
close_stream(struct udk_pcm *u)
{
	uint64_t in = u->handle;

	if (u->handle && !u->gone)
		udk_connection_call(u->conn, AUDIO_SEL_CLOSE_STREAM, &in, 1, NULL, 0, NULL, NULL, NULL, NULL);
	u->handle = 0;
	u->hdr = NULL;
	u->data = NULL;
	udk_buffer_unref(u->ring);
	u->ring = NULL;
	u->running = false;
}

static int
udk_hw_params(snd_pcm_ioplug_t *io, snd_pcm_hw_params_t *params)
{
	struct udk_pcm *u = io->private_data;
	uint64_t in[6], out[4];
	uint32_t n_out = 4;
	struct audio_ring_header *h;
	uint64_t size;
	int r;

	(void)params;
	if (check_gone(u))
		return -ENODEV;
	close_stream(u);
	in[0] = u->stream;
	in[1] = io->rate;
	in[2] = io->channels;
	in[3] = from_alsa(io->format);
	in[4] = io->buffer_size;
	in[5] = io->period_size;
	r = udk_connection_call(u->conn, AUDIO_SEL_OPEN_STREAM, in, 6, NULL, 0, out, &n_out, NULL, NULL);
	if (r < 0) {
		/* the driver's sentence names what it offers instead */
		SNDERR("udk: %s: %s", u->name, udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		if (r == -UDK_E_DRIVER_DIED || r == -UDK_E_REVOKED || r == -UDK_E_TERMINATED)
			return -ENODEV;
		return r == -UDK_E_BUSY ? -EBUSY : -EINVAL;
	}
	u->handle = out[0];
	r = udk_connection_map_memory(u->conn, out[3], 0, &u->ring);
	if (r < 0) {
		SNDERR("udk: %s: cannot map the stream's ring: %s", u->name,
		       udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		close_stream(u);
		return -EIO;
	}
	h = udk_buffer_get_address(u->ring);
	size = udk_buffer_get_size(u->ring);
	/* the driver made it, but check what we are about to index with */
	if (size < AUDIO_RING_DATA_OFFSET || h->magic != AUDIO_RING_MAGIC || h->version != AUDIO_RING_VERSION ||
	    h->buffer_frames != io->buffer_size || h->frame_bytes == 0 ||
	    h->frame_bytes != snd_pcm_format_physical_width(io->format) / 8 * io->channels ||
	    (uint64_t)h->buffer_frames * h->frame_bytes > size - AUDIO_RING_DATA_OFFSET) {
		SNDERR("udk: %s: the driver's ring does not match the setup", u->name);
		close_stream(u);
		return -EIO;
	}
	u->hdr = h;
	u->data = (uint8_t *)h + AUDIO_RING_DATA_OFFSET;
	u->buffer_frames = h->buffer_frames;
	u->period_frames = (uint32_t)io->period_size;
	u->frame_bytes = h->frame_bytes;
	u->rate = io->rate;
	u->sample_bits = (uint32_t)snd_pcm_format_physical_width(io->format);
	u->appl = 0;
	return 0;
}

static int
udk_hw_free(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;

	close_stream(u);
	/* the next hw_params offers what the stream offers now */
	if (!u->gone && load_formats(u, (int)u->stream) == 0)
		set_constraints(u);
	return 0;
}

static int
udk_sw_params(snd_pcm_ioplug_t *io, snd_pcm_sw_params_t *params)
{
	struct udk_pcm *u = io->private_data;

	snd_pcm_sw_params_get_avail_min(params, &u->avail_min);
	return 0;
}

static int
udk_prepare(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;
	uint64_t in = u->handle;
	int r;

	if (check_gone(u))
		return -ENODEV;
	r = udk_connection_call(u->conn, AUDIO_SEL_PREPARE, &in, 1, NULL, 0, NULL, NULL, NULL, NULL);
	if (r < 0) {
		SNDERR("udk: %s: %s", u->name, udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return -ENODEV;
	}
	u->appl = 0;
	u->running = false;
	atomic_store_explicit(&u->hdr->app_flags, 0, memory_order_relaxed);
	return 0;
}

static int
udk_drain(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;

	if (u->direction != UDK_AUDIO_OUTPUT || !u->hdr)
		return 0;
	/* running dry from here on is the end of the stream, not an underrun */
	atomic_fetch_or_explicit(&u->hdr->app_flags, AUDIO_APP_DRAINING, memory_order_relaxed);
	if (!u->running && u->appl) {
		int r = udk_start(io);
		if (r < 0)
			return r;
	}
	for (;;) {
		struct pollfd pfd[2] = { { u->timer_fd, POLLIN, 0 }, { udk_connection_get_fd(u->conn), POLLIN, 0 } };
		uint64_t hw, zs, zh, junk;
		read_position(u, &hw, &zs, &zh);
		if (hw >= u->appl || !u->running)
			return 0;
		if (check_gone(u))
			return -ENODEV;
		if (io->nonblock)
			return -EAGAIN;
		arm_timer(u);
		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents & POLLIN)
			(void)!read(u->timer_fd, &junk, sizeof(junk));
		if (pfd[1].revents && check_connection(u, pfd[1].revents))
			return -ENODEV;
	}
}

static int
udk_poll_count(snd_pcm_ioplug_t *io)
{
	(void)io;
	return 2;
}

static int
udk_poll_descriptors(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int space)
{
	struct udk_pcm *u = io->private_data;

	if (space < 2)
		return -EINVAL;
	arm_timer(u);
	pfd[0] = (struct pollfd){ u->timer_fd, POLLIN, 0 };
	pfd[1] = (struct pollfd){ udk_connection_get_fd(u->conn), POLLIN, 0 };
	return 2;
}

static int
udk_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds, unsigned short *revents)
{
	struct udk_pcm *u = io->private_data;
	uint64_t hw, zs, zh, junk;
	snd_pcm_uframes_t want = u->avail_min ? u->avail_min : u->period_frames;

	*revents = 0;
	if (nfds >= 1 && (pfd[0].revents & POLLIN))
		(void)!read(u->timer_fd, &junk, sizeof(junk));
	if (nfds >= 2 && pfd[1].revents && check_connection(u, pfd[1].revents)) {
		snd_pcm_ioplug_set_state(io, SND_PCM_STATE_DISCONNECTED);
		*revents = POLLERR;
		return -ENODEV;
	}
	if (!u->hdr)
		return 0;
	if (check_gone(u)) {
		snd_pcm_ioplug_set_state(io, SND_PCM_STATE_DISCONNECTED);
		*revents = POLLERR;
		return -ENODEV;
	}
	read_position(u, &hw, &zs, &zh);
	if (u->running && (u->direction == UDK_AUDIO_OUTPUT ? hw > u->appl : hw > u->appl + u->buffer_frames)) {
		/* an xrun: ready, so the app's next call meets EPIPE and recovers
		 * (POLLERR would make alsa-lib answer EIO instead) */
		*revents = u->direction == UDK_AUDIO_OUTPUT ? POLLOUT : POLLIN;
		return 0;
	}
	if (avail_now(u, hw) >= (snd_pcm_sframes_t)want || io->state != SND_PCM_STATE_RUNNING)
		*revents = u->direction == UDK_AUDIO_OUTPUT ? POLLOUT : POLLIN;
	else
		arm_timer(u);
	return 0;
}

static int
udk_close(snd_pcm_ioplug_t *io)
{
	struct udk_pcm *u = io->private_data;

	close_stream(u);
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	udk_connection_unref(u->conn);
	udk_client_unref(u->client);
	free(u->device);
	free(u->name);
	free(u);
	return 0;
}

static const snd_pcm_ioplug_callback_t udk_callbacks = {
	.start = udk_start,
	.stop = udk_stop,
	.pointer = udk_pointer,
	.transfer = udk_transfer,
	.close = udk_close,
	.hw_params = udk_hw_params,
	.hw_free = udk_hw_free,
	.sw_params = udk_sw_params,
	.prepare = udk_prepare,
	.drain = udk_drain,
	.poll_descriptors_count = udk_poll_count,
	.poll_descriptors = udk_poll_descriptors,
	.poll_revents = udk_poll_revents,
};

/* The IOUserAudioDevice named @name ("" : the first one). */
static int
find_device(struct udk_pcm *u, const char *runtime_dir)
{
	struct udk_value *match = udk_matching_class("IOUserAudioDevice");
	uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	r = udk_client_new(runtime_dir, &u->client);
	if (r < 0) {
		SNDERR("udk: %s", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		udk_value_unref(match);
		return -ENODEV;
	}
	if (*u->device) {
		struct udk_value *pm = udk_value_new_dict();
		udk_dict_set_string(pm, "UDKAudioName", u->device);
		udk_dict_set_take(match, "IOPropertyMatch", pm);
	}
	r = udk_client_find_services(u->client, match, &ids, &n);
	udk_value_unref(match);
	if (r < 0 || n == 0) {
		free(ids);
		if (*u->device)
			SNDERR("udk: no audio device \"%s\" (`udkctl families audio` lists them; a device shown only while "
			       "its app runs appears when the app starts)",
			       u->device);
		else
			SNDERR("udk: no udk audio device is there");
		return -ENODEV;
	}
	u->service = ids[0];
	free(ids);
	return 0;
}

/* alsa-lib finds the plugin's entry point by name: it must be visible */
#pragma GCC visibility push(default)
SND_PCM_PLUGIN_DEFINE_FUNC(udk);
#pragma GCC visibility pop

SND_PCM_PLUGIN_DEFINE_FUNC(udk)
{
	snd_config_iterator_t i, next;
	const char *device = "", *runtime_dir = NULL;
	long stream_index = -1;
	struct udk_pcm *u;
	int r;

	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "device")) {
			if (snd_config_get_string(n, &device) < 0) {
				SNDERR("udk: device must be a string (the udk audio device's name)");
				return -EINVAL;
			}
			continue;
		}
		if (!strcmp(id, "runtime_dir")) {
			if (snd_config_get_string(n, &runtime_dir) < 0)
				return -EINVAL;
			continue;
		}
		if (!strcmp(id, "stream")) {
			if (snd_config_get_integer(n, &stream_index) < 0)
				return -EINVAL;
			continue;
		}
		SNDERR("udk: unknown field %s (the udk plugin takes device, stream and runtime_dir)", id);
		return -EINVAL;
	}
	if (runtime_dir && !*runtime_dir)
		runtime_dir = NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->timer_fd = -1;
	u->device = strdup(device);
	u->direction = stream == SND_PCM_STREAM_PLAYBACK ? UDK_AUDIO_OUTPUT : UDK_AUDIO_INPUT;
	r = find_device(u, runtime_dir);
	if (r >= 0)
		r = load_formats(u, (int)stream_index);
	if (r >= 0) {
		r = udk_client_open(u->client, u->service, AUDIO_UC_IO, &u->conn);
		if (r < 0) {
			/* udkd's sentence says what to do, e.g. the grant command */
			SNDERR("udk: cannot open %s: %s", u->name, udk_error_reason() ? udk_error_reason() : udk_strerror(r));
			r = r == -UDK_E_NOT_PERMITTED ? -EACCES : -ENODEV;
		}
	}
	if (r >= 0) {
		u->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (u->timer_fd < 0)
			r = -errno;
	}
	if (r < 0)
		goto fail;
	u->io.version = SND_PCM_IOPLUG_VERSION;
	u->io.name = "udk audio device";
	u->io.callback = &udk_callbacks;
	u->io.private_data = u;
	u->io.flags = SND_PCM_IOPLUG_FLAG_MONOTONIC;
	u->io.poll_fd = u->timer_fd;
	u->io.poll_events = POLLIN;
	r = snd_pcm_ioplug_create(&u->io, name, stream, mode);
	if (r < 0)
		goto fail;
	r = set_constraints(u);
	if (r < 0) {
		snd_pcm_ioplug_delete(&u->io);
		return r;
	}
	*pcmp = u->io.pcm;
	return 0;
fail:
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	udk_connection_unref(u->conn);
	udk_client_unref(u->client);
	free(u->device);
	free(u->name);
	free(u);
	return r;
}

/* alsa-lib finds these by name: they must be visible */
#pragma GCC visibility push(default)
SND_PCM_PLUGIN_SYMBOL(udk);
#pragma GCC visibility pop

/* ---- `aplay -L`: a configuration hook that adds namehints ---- */

__attribute__((visibility("default"))) int udk_alsa_namehints(snd_config_t *root, snd_config_t *config,
								  snd_config_t **dst, snd_config_t *private_data);

static int
child(snd_config_t *parent, const char *id, snd_config_t **ret)
{
	int r;

	if (snd_config_search(parent, id, ret) >= 0)
		return snd_config_get_type(*ret) == SND_CONFIG_TYPE_COMPOUND ? 0 : -EINVAL;
	if ((r = snd_config_make_compound(ret, id, 0)) < 0)
		return r;
	if ((r = snd_config_add(parent, *ret)) < 0)
		snd_config_delete(*ret);
	return r;
}

int
udk_alsa_namehints(snd_config_t *root, snd_config_t *config, snd_config_t **dst, snd_config_t *private_data)
{
	struct udk_client *c = NULL;
	struct udk_value *match;
	snd_config_t *hints, *pcm;
	uint64_t *ids = NULL;
	size_t n = 0;

	(void)config;
	(void)private_data;
	*dst = NULL;
	/* no udkd, no udk devices: silently nothing */
	if (udk_client_new(NULL, &c) < 0)
		return 0;
	match = udk_matching_class("IOUserAudioDevice");
	if (udk_client_find_services(c, match, &ids, &n) < 0)
		n = 0;
	udk_value_unref(match);
	if (n && child(root, "namehint", &hints) >= 0 && child(hints, "pcm", &pcm) >= 0) {
		for (size_t i = 0; i < n && i < 64; i++) {
			struct udk_value *svc = NULL, *clean;
			char why[200], text[512], id[64];
			bool in = false, out = false;
			snd_config_t *node;
			if (udk_client_copy_service(c, ids[i], &svc) < 0)
				continue;
			clean = audio_state_check(udk_dict_get(svc, "properties"), why, sizeof(why));
			udk_value_unref(svc);
			if (!clean)
				continue;
			for (size_t k = 0; k < udk_array_size(udk_dict_get(clean, "UDKAudioStreams")); k++) {
				const char *d = udk_dict_get_string(udk_array_get(udk_dict_get(clean, "UDKAudioStreams"), k),
								    "direction");
				out |= d && !strcmp(d, "output");
				in |= d && !strcmp(d, "input");
			}
			snprintf(text, sizeof(text), "udk:%s|%s\nudk audio device%s%s",
				 udk_dict_get_string(clean, "UDKAudioName"),
				 udk_dict_get_string(clean, "UDKAudioDescription")
					 ? udk_dict_get_string(clean, "UDKAudioDescription")
					 : udk_dict_get_string(clean, "UDKAudioName"),
				 in && out ? "" : "|IOID", in && out ? "" : out ? "Output" : "Input");
			snprintf(id, sizeof(id), "__udk_%s", udk_dict_get_string(clean, "UDKAudioName"));
			udk_value_unref(clean);
			if (snd_config_search(pcm, id, &node) >= 0)
				snd_config_delete(node);
			if (snd_config_imake_string(&node, id, text) >= 0 && snd_config_add(pcm, node) < 0)
				snd_config_delete(node);
		}
	}
	free(ids);
	udk_client_unref(c);
	return 0;
}

#pragma GCC visibility push(default)
SND_DLSYM_BUILD_VERSION(udk_alsa_namehints, SND_CONFIG_DLSYM_VERSION_HOOK);
#pragma GCC visibility pop
