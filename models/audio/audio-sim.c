/* SPDX-License-Identifier: MIT */
/*
 * audio-sim.c - simulated audio devices (the "audio" kind of device model,
 * <udk/families/audio-devmodel.h>), built three times:
 *
 *   audio-loopback   (AUDIO_VARIANT_LOOPBACK)  what is played on the output
 *                    stream is captured on the input stream, bit for bit, at
 *                    the same device frame: 2 channels, S16_LE or S32_LE, at
 *                    44.1, 48 or 96 kHz.
 *   audio-sine       (AUDIO_VARIANT_SINE)  an input that records a 1 kHz sine
 *                    (half scale); two clock sources: "Internal" (48 and 96
 *                    kHz) and "Word Clock" (44.1 kHz only), so switching the
 *                    clock changes the formats the stream offers.
 *   audio-interface  (AUDIO_VARIANT_INTERFACE)  an 8-channel interface at
 *                    44.1, 48 and 96 kHz in S32_LE and S24_LE, and in S16_LE
 *                    at 44.1 and 48 kHz only (as real interfaces lack some
 *                    combinations); its 8 inputs are wired to its 8 outputs.
 *
 * Properties of the machine description's entry: Frequency (the sine's, in
 * Hz, default 1000).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/audio-devmodel.h>

#define WIRE_FRAMES 96000u	/* one second at 96 kHz */
#define WIRE_CHANNELS 8u

static const struct udk_audio_format_range loopback_formats[] = {
	{ UDK_AUDIO_S16_LE, 2, 44100, 44100 }, { UDK_AUDIO_S16_LE, 2, 48000, 48000 },
	{ UDK_AUDIO_S16_LE, 2, 96000, 96000 }, { UDK_AUDIO_S32_LE, 2, 44100, 44100 },
	{ UDK_AUDIO_S32_LE, 2, 48000, 48000 }, { UDK_AUDIO_S32_LE, 2, 96000, 96000 },
};

static const struct udk_audio_format_range interface_formats[] = {
	{ UDK_AUDIO_S32_LE, 8, 44100, 44100 }, { UDK_AUDIO_S32_LE, 8, 48000, 48000 },
	{ UDK_AUDIO_S32_LE, 8, 96000, 96000 }, { UDK_AUDIO_S24_LE, 8, 44100, 44100 },
	{ UDK_AUDIO_S24_LE, 8, 48000, 48000 }, { UDK_AUDIO_S24_LE, 8, 96000, 96000 },
	{ UDK_AUDIO_S16_LE, 8, 44100, 44100 }, { UDK_AUDIO_S16_LE, 8, 48000, 48000 },
};

static const struct udk_audio_format_range sine_internal[] = {
	{ UDK_AUDIO_S16_LE, 2, 48000, 48000 }, { UDK_AUDIO_S16_LE, 2, 96000, 96000 },
	{ UDK_AUDIO_S32_LE, 2, 48000, 48000 }, { UDK_AUDIO_S32_LE, 2, 96000, 96000 },
};

static const struct udk_audio_format_range sine_word_clock[] = {
	{ UDK_AUDIO_S16_LE, 2, 44100, 44100 },
	{ UDK_AUDIO_S32_LE, 2, 44100, 44100 },
};

/* The loop: device frames [t0, t1) as 32-bit samples, WIRE_FRAMES deep. */
struct wire {
	int32_t *samples;		/* WIRE_FRAMES x WIRE_CHANNELS */
	uint64_t t0, t1;
	double frequency;
};

static void
play(struct udk_dm_function *fn, unsigned index, const void *frames, uint32_t n, uint64_t t,
     const struct udk_audio_format *fmt)
{
	struct wire *w = udk_dm_function_get_userdata(fn);
	unsigned sb = udk_audio_sample_bytes(fmt->sample_format);
	const uint8_t *p = frames;

	(void)index;
	if (t != w->t1)			/* a gap: what was in the wire is past */
		w->t0 = w->t1 = t;
	for (uint32_t i = 0; i < n; i++) {
		int32_t *slot = w->samples + ((t + i) % WIRE_FRAMES) * WIRE_CHANNELS;
		for (unsigned c = 0; c < WIRE_CHANNELS; c++)
			slot[c] = c < fmt->channels ? udk_dm_audio_sample_get(p + ((size_t)i * fmt->channels + c) * sb,
									     fmt->sample_format)
						    : 0;
	}
	w->t1 = t + n;
	if (w->t1 - w->t0 > WIRE_FRAMES)
		w->t0 = w->t1 - WIRE_FRAMES;
}

static void
capture_loop(struct udk_dm_function *fn, unsigned index, void *frames, uint32_t n, uint64_t t,
	     const struct udk_audio_format *fmt)
{
	struct wire *w = udk_dm_function_get_userdata(fn);
	unsigned sb = udk_audio_sample_bytes(fmt->sample_format);
	uint8_t *p = frames;

	(void)index;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t at = t + i;
		const int32_t *slot = at >= w->t0 && at < w->t1 ? w->samples + (at % WIRE_FRAMES) * WIRE_CHANNELS : NULL;
		for (unsigned c = 0; c < fmt->channels; c++)
			udk_dm_audio_sample_put(p + ((size_t)i * fmt->channels + c) * sb, fmt->sample_format,
						slot && c < WIRE_CHANNELS ? slot[c] : 0);
	}
	if (t + n > w->t0)
		w->t0 = t + n < w->t1 ? t + n : w->t1;
}

static void
capture_sine(struct udk_dm_function *fn, unsigned index, void *frames, uint32_t n, uint64_t t,
	     const struct udk_audio_format *fmt)
{
	struct wire *w = udk_dm_function_get_userdata(fn);
	unsigned sb = udk_audio_sample_bytes(fmt->sample_format);
	uint8_t *p = frames;

	(void)index;
	for (uint32_t i = 0; i < n; i++) {
		double ph = fmod((double)(t + i) * w->frequency / fmt->sample_rate, 1.0);
		int32_t v = (int32_t)(sin(2 * M_PI * ph) * 1073741823.0);
		for (unsigned c = 0; c < fmt->channels; c++)
			udk_dm_audio_sample_put(p + ((size_t)i * fmt->channels + c) * sb, fmt->sample_format, v);
	}
}

static uint32_t
sine_formats(struct udk_dm_function *fn, unsigned source, unsigned index, struct udk_audio_format_range *out,
	     uint32_t max)
{
	const struct udk_audio_format_range *f = source == 1 ? sine_word_clock : sine_internal;
	uint32_t n = source == 1 ? 2 : 4;

	(void)fn;
	(void)index;
	if (n > max)
		n = max;
	memcpy(out, f, n * sizeof(*f));
	return n;
}

int
main(int argc, char **argv)
{
	struct udk_dm *dm;
	struct wire w = { 0 };
	const struct udk_value *props;
	struct udk_dm_audio_config cfg = { UDK_DM_AUDIO_CONFIG_INIT };
	struct udk_dm_audio_ops ops = { UDK_DM_AUDIO_OPS_INIT };
	struct udk_dm_audio_stream streams[2];
	int r;

	(void)loopback_formats;
	(void)interface_formats;
	(void)sine_word_clock;
	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	props = udk_dm_get_properties(dm);
	w.frequency = (double)udk_dict_get_int(props, "Frequency", 1000);
	if (w.frequency <= 0 || w.frequency > 20000)
		w.frequency = 1000;
	w.samples = calloc((size_t)WIRE_FRAMES * WIRE_CHANNELS, sizeof(int32_t));
	if (!w.samples)
		return 1;
#if defined(AUDIO_VARIANT_SINE)
	static const char *const clocks[] = { "Internal", "Word Clock", NULL };
	streams[0] = (struct udk_dm_audio_stream){ UDK_AUDIO_INPUT, "Sine", sine_internal, 4 };
	cfg.model = "sine";
	cfg.name = "sine";
	cfg.description = "udk simulated sine generator (1 kHz) with a switchable clock";
	cfg.n_streams = 1;
	cfg.clock_sources = clocks;
	ops.formats = sine_formats;
	ops.capture = capture_sine;
	(void)play;
	(void)capture_loop;
#elif defined(AUDIO_VARIANT_INTERFACE)
	streams[0] = (struct udk_dm_audio_stream){ UDK_AUDIO_OUTPUT, "Outputs 1-8", interface_formats, 8 };
	streams[1] = (struct udk_dm_audio_stream){ UDK_AUDIO_INPUT, "Inputs 1-8", interface_formats, 8 };
	cfg.model = "interface";
	cfg.name = "interface";
	cfg.description = "udk simulated 8-channel audio interface (inputs looped to outputs)";
	cfg.n_streams = 2;
	ops.play = play;
	ops.capture = capture_loop;
	(void)sine_formats;
	(void)capture_sine;
#else
	streams[0] = (struct udk_dm_audio_stream){ UDK_AUDIO_OUTPUT, "Loopback out", loopback_formats, 6 };
	streams[1] = (struct udk_dm_audio_stream){ UDK_AUDIO_INPUT, "Loopback in", loopback_formats, 6 };
	cfg.model = "loopback";
	cfg.name = "loopback";
	cfg.description = "udk simulated loopback (played on its output, captured on its input)";
	cfg.n_streams = 2;
	ops.play = play;
	ops.capture = capture_loop;
	(void)sine_formats;
	(void)capture_sine;
#endif
	cfg.streams = streams;
	r = udk_dm_add_audio_function(dm, &cfg, &ops, &w, NULL);
	if (r < 0) {
		fprintf(stderr, "audio model: %s\n", udk_strerror(r));
		return 1;
	}
	return udk_dm_run(dm);
}
