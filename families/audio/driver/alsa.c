/* SPDX-License-Identifier: MIT */
/*
 * audio/driver/alsa.c - a kernel sound card's PCM under a udk stream
 * (udk_audio_pcm_*): the bridge from a udk audio device to real hardware.
 *
 * udkd opens the PCM node for the driver (--alsa-dev-dir; the sandboxed
 * driver opens no device node).  This file speaks the kernel's PCM
 * interface on that descriptor directly (<sound/asound.h>: HW_REFINE,
 * HW_PARAMS, PREPARE, WRITEI/READI_FRAMES, DELAY, DROP): alsa-lib opens
 * nodes by path, which a sandboxed driver cannot.
 *
 * The bridge is one thread per running stream.  Output: it takes what the
 * app wrote into the udk ring (its position, acquire) a period at a time
 * and writes it to the kernel, which blocks at the card's pace; a period
 * the app has not filled goes out as silence and counts as an underrun.
 * The position it publishes is what the card has played (what it was
 * given less its delay), so an app that drains waits for the card.
 * Input: it reads a period from the kernel into the ring.  After each
 * period it publishes the position and a zero timestamp
 * (udk_audio_stream_publish_position): the card's clock is the stream's.
 * A kernel xrun (EPIPE) is counted, the PCM prepared again, and the bridge
 * goes on.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <sound/asound.h>

#include "audio-common.h"
#include "audio-private.h"
#include "private.h"
#include "util.h"

struct udk_audio_pcm {
	struct udk_service *provider;	/* reference */
	uint32_t direction;
	unsigned card, device;
	char card_id[64];
	int fd;				/* while a stream runs */
	pthread_t thread;
	bool running;
	_Atomic bool stop;
	struct udk_audio_stream *stream;
	uint32_t period, frame_bytes, buffer_frames;
	uint64_t kernel_xruns;
};

static int
to_kernel_format(uint32_t f)
{
	switch (f) {
	case UDK_AUDIO_S16_LE:
		return SNDRV_PCM_FORMAT_S16_LE;
	case UDK_AUDIO_S24_LE:
		return SNDRV_PCM_FORMAT_S24_LE;
	case UDK_AUDIO_S32_LE:
		return SNDRV_PCM_FORMAT_S32_LE;
	case UDK_AUDIO_FLOAT_LE:
		return SNDRV_PCM_FORMAT_FLOAT_LE;
	case UDK_AUDIO_S24_3LE:
		return SNDRV_PCM_FORMAT_S24_3LE;
	default:
		return -1;
	}
}

/* ---- hw_params as the kernel wants them ---- */

static struct snd_mask *
mask(struct snd_pcm_hw_params *p, int param)
{
	return &p->masks[param - SNDRV_PCM_HW_PARAM_FIRST_MASK];
}

static struct snd_interval *
interval(struct snd_pcm_hw_params *p, int param)
{
	return &p->intervals[param - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL];
}

static void
params_any(struct snd_pcm_hw_params *p)
{
	memset(p, 0, sizeof(*p));
	for (int k = SNDRV_PCM_HW_PARAM_FIRST_MASK; k <= SNDRV_PCM_HW_PARAM_LAST_MASK; k++)
		memset(mask(p, k), 0xff, sizeof(struct snd_mask));
	for (int k = SNDRV_PCM_HW_PARAM_FIRST_INTERVAL; k <= SNDRV_PCM_HW_PARAM_LAST_INTERVAL; k++) {
		interval(p, k)->min = 0;
		interval(p, k)->max = UINT_MAX;
	}
	p->rmask = ~0u;
	p->cmask = 0;
	p->info = ~0u;
}

static void
set_mask(struct snd_pcm_hw_params *p, int param, unsigned bit)
{
	struct snd_mask *m = mask(p, param);

	memset(m, 0, sizeof(*m));
	m->bits[bit / 32] = 1u << (bit % 32);
}

static bool
mask_has(struct snd_pcm_hw_params *p, int param, unsigned bit)
{
	return mask(p, param)->bits[bit / 32] & (1u << (bit % 32));
}

static void
set_int(struct snd_pcm_hw_params *p, int param, unsigned lo, unsigned hi)
{
	struct snd_interval *i = interval(p, param);

	i->min = lo;
	i->max = hi;
	i->openmin = i->openmax = 0;
	i->integer = 1;
}

/* ---- the PCM ---- */

static int
open_node(struct udk_audio_pcm *pcm, struct udk_value **ret_info)
{
	struct udk_value *body = udk_value_new_dict(), *reply = NULL;
	int fds[2] = { -1, -1 }, r;

	udk_dict_set_uint(body, "provider", udk_service_get_id(pcm->provider));
	r = rt_call_fds(OP_DRV_OPEN_PROVIDER, body, &reply, fds, 2);
	udk_value_unref(body);
	if (r < 0)
		return r;
	if (fds[1] >= 0)
		close(fds[1]);
	if (fds[0] < 0 || !streq(udk_dict_get_string(reply, "backend"), "alsa")) {
		if (fds[0] >= 0)
			close(fds[0]);
		udk_value_unref(reply);
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the provider with another backend than alsa");
	}
	/* blocking I/O: the card's clock paces the bridge */
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) & ~O_NONBLOCK);
	if (ret_info)
		*ret_info = reply;
	else
		udk_value_unref(reply);
	return fds[0];
}

UDK_EXPORT int
udk_audio_pcm_open(struct udk_service *provider, struct udk_audio_pcm **ret, struct udk_audio_format_range *formats,
		   uint32_t max, uint32_t *ret_n)
{
	static const uint32_t ours[] = { UDK_AUDIO_S16_LE, UDK_AUDIO_S32_LE, UDK_AUDIO_S24_LE, UDK_AUDIO_FLOAT_LE,
					 UDK_AUDIO_S24_3LE };
	struct udk_audio_pcm *pcm;
	struct udk_value *info = NULL;
	struct snd_pcm_hw_params hw;
	unsigned cmin, cmax, rmin, rmax;
	uint32_t n = 0;
	int fd, pv = 0;

	udk_return_val_if_fail(provider && ret && formats && ret_n, -EINVAL);
	pcm = calloc(1, sizeof(*pcm));
	if (!pcm)
		return -ENOMEM;
	pcm->provider = udk_service_ref(provider);
	pcm->fd = -1;
	fd = open_node(pcm, &info);
	if (fd < 0) {
		udk_audio_pcm_close(pcm);
		return fd;
	}
	pcm->direction = streq(udk_dict_get_string(info, "direction"), "input") ? UDK_AUDIO_INPUT : UDK_AUDIO_OUTPUT;
	pcm->card = (unsigned)udk_dict_get_int(info, "card", 0);
	pcm->device = (unsigned)udk_dict_get_int(info, "device", 0);
	snprintf(pcm->card_id, sizeof(pcm->card_id), "%s",
		 udk_dict_get_string(info, "card_id") ? udk_dict_get_string(info, "card_id") : "card");
	udk_value_unref(info);
	/* what the card can do: refine "anything" */
	params_any(&hw);
	if (ioctl(fd, SNDRV_PCM_IOCTL_PVERSION, &pv) < 0 || ioctl(fd, SNDRV_PCM_IOCTL_HW_REFINE, &hw) < 0) {
		int e = errno;
		close(fd);
		udk_audio_pcm_close(pcm);
		return udk_error_set(-e, "the kernel PCM answers no hw_params refine: %s", strerror(e));
	}
	close(fd);
	cmin = interval(&hw, SNDRV_PCM_HW_PARAM_CHANNELS)->min;
	cmax = interval(&hw, SNDRV_PCM_HW_PARAM_CHANNELS)->max;
	rmin = MAX(interval(&hw, SNDRV_PCM_HW_PARAM_RATE)->min, (unsigned)AUDIO_RATE_MIN);
	rmax = MIN(interval(&hw, SNDRV_PCM_HW_PARAM_RATE)->max, 192000u);
	/* the udk formats it has, stereo and mono where it can */
	for (size_t i = 0; i < ARRAY_SIZE(ours) && n < max; i++) {
		int kf = to_kernel_format(ours[i]);
		if (!mask_has(&hw, SNDRV_PCM_HW_PARAM_FORMAT, (unsigned)kf))
			continue;
		for (unsigned ch = 2; ch >= 1 && n < max; ch--)
			if (ch >= cmin && ch <= cmax && rmin <= rmax)
				formats[n++] = (struct udk_audio_format_range){ (uint16_t)ours[i], (uint16_t)ch, rmin, rmax };
	}
	if (!n) {
		udk_audio_pcm_close(pcm);
		return udk_error_set(-UDK_E_UNSUPPORTED, "card %s device %u offers none of udk's sample formats",
				     pcm->card_id, pcm->device);
	}
	*ret_n = n;
	*ret = pcm;
	return 0;
}

UDK_EXPORT uint32_t
udk_audio_pcm_get_direction(const struct udk_audio_pcm *pcm)
{
	return pcm ? pcm->direction : 0;
}

UDK_EXPORT const char *
udk_audio_pcm_get_card_id(const struct udk_audio_pcm *pcm)
{
	return pcm ? pcm->card_id : NULL;
}

UDK_EXPORT unsigned
udk_audio_pcm_get_device(const struct udk_audio_pcm *pcm)
{
	return pcm ? pcm->device : 0;
}

/* ---- the bridge thread ---- */

static void
publish(struct udk_audio_pcm *pcm, uint64_t frames)
{
	udk_audio_stream_publish_position(pcm->stream, frames, 0);
}

static bool
xfer(struct udk_audio_pcm *pcm, void *buf, uint32_t frames)
{
	struct snd_xferi x = { .buf = buf, .frames = frames };
	unsigned long op = pcm->direction == UDK_AUDIO_OUTPUT ? SNDRV_PCM_IOCTL_WRITEI_FRAMES
								: SNDRV_PCM_IOCTL_READI_FRAMES;

	while (!atomic_load(&pcm->stop)) {
		if (ioctl(pcm->fd, op, &x) == 0) {
			/* a transfer cut short (a signal, an xrun after some
			 * frames) moved x.result frames: go on with the rest */
			if (x.result >= 0 && (snd_pcm_uframes_t)x.result < x.frames) {
				x.buf = (uint8_t *)x.buf + (size_t)x.result * pcm->frame_bytes;
				x.frames -= (snd_pcm_uframes_t)x.result;
				continue;
			}
			return true;
		}
		if (errno == EINTR || errno == EAGAIN)
			continue;
		if (errno == EPIPE || errno == ESTRPIPE) {
			/* the card ran dry / over: count it, start again */
			pcm->kernel_xruns++;
			udk_audio_stream_report_xrun(pcm->stream, frames);
			if (ioctl(pcm->fd, SNDRV_PCM_IOCTL_PREPARE) < 0)
				return false;
			continue;
		}
		if (!atomic_load(&pcm->stop))	/* DROP at stop ends a blocked call with EBADFD */
			udk_log_error("audio bridge: card %s device %u: %s", pcm->card_id, pcm->device, strerror(errno));
		return false;
	}
	return false;
}

static void *
bridge(void *data)
{
	struct udk_audio_pcm *pcm = data;
	struct udk_audio_stream *s = pcm->stream;
	uint8_t *ring = udk_audio_stream_get_samples(s);
	uint8_t *buf = calloc(pcm->period, pcm->frame_bytes);
	uint64_t done = 0;
	bool dry = false;

	if (!buf)
		return NULL;
	publish(pcm, 0);
	while (!atomic_load(&pcm->stop)) {
		uint32_t n = pcm->period;
		if (pcm->direction == UDK_AUDIO_OUTPUT) {
			uint64_t appl = udk_audio_stream_get_app_position(s);	/* acquire: the app's samples */
			uint64_t have = appl > done ? MIN(appl - done, (uint64_t)pcm->buffer_frames) : 0;
			uint32_t take = (uint32_t)MIN(have, (uint64_t)n);
			for (uint32_t k = 0; k < take;) {
				uint32_t off = (uint32_t)((done + k) % pcm->buffer_frames);
				uint32_t c = MIN(take - k, pcm->buffer_frames - off);
				memcpy(buf + (size_t)k * pcm->frame_bytes, ring + (size_t)off * pcm->frame_bytes,
				       (size_t)c * pcm->frame_bytes);
				k += c;
			}
			memset(buf + (size_t)take * pcm->frame_bytes, 0, (size_t)(n - take) * pcm->frame_bytes);
			if (take < n && !dry && !udk_audio_stream_is_draining(s))
				udk_audio_stream_report_xrun(s, n - take);
			dry = take < n;
			if (!xfer(pcm, buf, n))
				break;
		} else {
			uint64_t appl = udk_audio_stream_get_app_position(s);
			if (!xfer(pcm, buf, n))
				break;
			if (done + n > appl + pcm->buffer_frames && !dry)
				udk_audio_stream_report_xrun(s, n);
			dry = done + n > appl + pcm->buffer_frames;
			for (uint32_t k = 0; k < n;) {
				uint32_t off = (uint32_t)((done + k) % pcm->buffer_frames);
				uint32_t c = MIN(n - k, pcm->buffer_frames - off);
				memcpy(ring + (size_t)off * pcm->frame_bytes, buf + (size_t)k * pcm->frame_bytes,
				       (size_t)c * pcm->frame_bytes);
				k += c;
			}
		}
		done += n;
		if (pcm->direction == UDK_AUDIO_OUTPUT) {
			/* played is what left the card, not what it holds yet:
			 * an app that drains waits for the last of its samples */
			snd_pcm_sframes_t delay = 0;
			if (ioctl(pcm->fd, SNDRV_PCM_IOCTL_DELAY, &delay) < 0 || delay < 0)
				delay = 0;
			publish(pcm, done > (uint64_t)delay ? done - (uint64_t)delay : 0);
		} else {
			/* the samples moved before the position (release in publish) */
			publish(pcm, done);
		}
	}
	free(buf);
	return NULL;
}

UDK_EXPORT int
udk_audio_pcm_start(struct udk_audio_pcm *pcm, struct udk_audio_stream *stream)
{
	struct udk_audio_stream_setup setup;
	struct snd_pcm_hw_params hw;
	int kf, r, fd;

	udk_return_val_if_fail(pcm && stream, -EINVAL);
	if (pcm->running)
		udk_audio_pcm_stop(pcm);
	r = udk_audio_stream_get_setup(stream, &setup);
	if (r < 0)
		return udk_error_set(r, "the stream is not set up");
	kf = to_kernel_format(setup.format.sample_format);
	fd = open_node(pcm, NULL);
	if (fd < 0)
		return udk_error_set(fd, "cannot open card %s device %u: %s", pcm->card_id, pcm->device,
				     udk_error_reason() ? udk_error_reason() : udk_strerror(fd));
	/* the app's format and period; the kernel's own buffer below */
	for (int attempt = 0; attempt < 2; attempt++) {
		params_any(&hw);
		set_mask(&hw, SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_RW_INTERLEAVED);
		set_mask(&hw, SNDRV_PCM_HW_PARAM_FORMAT, (unsigned)kf);
		set_mask(&hw, SNDRV_PCM_HW_PARAM_SUBFORMAT, SNDRV_PCM_SUBFORMAT_STD);
		set_int(&hw, SNDRV_PCM_HW_PARAM_CHANNELS, setup.format.channels, setup.format.channels);
		set_int(&hw, SNDRV_PCM_HW_PARAM_RATE, setup.format.sample_rate, setup.format.sample_rate);
		if (attempt == 0) {
			/* at most half the app's buffer in the card, so the card's
			 * backlog never keeps the app from writing */
			unsigned periods = setup.buffer_frames / setup.period_frames / 2;
			periods = periods < 2 ? 2 : periods > 4 ? 4 : periods;
			set_int(&hw, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, setup.period_frames, setup.period_frames);
			set_int(&hw, SNDRV_PCM_HW_PARAM_PERIODS, periods, periods);
		}
		if (ioctl(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &hw) == 0)
			break;
		if (attempt == 1) {
			int e = errno;
			close(fd);
			return udk_error_set(-e, "card %s device %u refuses %s %uch %u Hz: %s", pcm->card_id, pcm->device,
					     audio_sample_format_str(setup.format.sample_format), setup.format.channels,
					     setup.format.sample_rate, strerror(e));
		}
	}
	if (ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0) {
		int e = errno;
		close(fd);
		return udk_error_set(-e, "card %s device %u: prepare: %s", pcm->card_id, pcm->device, strerror(e));
	}
	pcm->fd = fd;
	pcm->stream = stream;
	pcm->period = interval(&hw, SNDRV_PCM_HW_PARAM_PERIOD_SIZE)->min;
	if (!pcm->period || pcm->period > setup.buffer_frames / 2)
		pcm->period = setup.period_frames;
	pcm->frame_bytes = setup.frame_bytes;
	pcm->buffer_frames = setup.buffer_frames;
	atomic_store(&pcm->stop, false);
	if (pthread_create(&pcm->thread, NULL, bridge, pcm) != 0) {
		close(fd);
		pcm->fd = -1;
		return udk_error_set(-EAGAIN, "cannot start the bridge thread");
	}
	pcm->running = true;
	udk_log_info("audio bridge: card %s device %u (%s) runs %s %uch %u Hz, %u-frame periods", pcm->card_id,
		     pcm->device, pcm->direction == UDK_AUDIO_OUTPUT ? "playback" : "capture",
		     audio_sample_format_str(setup.format.sample_format), setup.format.channels,
		     setup.format.sample_rate, pcm->period);
	return 0;
}

UDK_EXPORT void
udk_audio_pcm_stop(struct udk_audio_pcm *pcm)
{
	if (!pcm || !pcm->running)
		return;
	atomic_store(&pcm->stop, true);
	/* DROP wakes a blocked read or write */
	ioctl(pcm->fd, SNDRV_PCM_IOCTL_DROP);
	pthread_join(pcm->thread, NULL);
	close(pcm->fd);
	pcm->fd = -1;
	pcm->running = false;
	pcm->stream = NULL;
}

UDK_EXPORT void
udk_audio_pcm_close(struct udk_audio_pcm *pcm)
{
	if (!pcm)
		return;
	udk_audio_pcm_stop(pcm);
	udk_service_unref(pcm->provider);
	free(pcm);
}
