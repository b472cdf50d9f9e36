/* SPDX-License-Identifier: MIT */
/*
 * sim-audio - the driver of udk's simulated audio devices (the loopback,
 * the sine generator and the 8-channel interface, models/audio/): an
 * IOUserAudioDriver that opens its UDKAudioSimDevice, makes one audio
 * device with the streams the hardware describes, and lets the hardware
 * move the samples (udk_audio_hw_start): on the I/O path this driver does
 * nothing at all.
 *
 * Controls: a volume and a mute per output (applied by the device), and,
 * when the device has several clock sources, a "Clock Source" selector.
 * Switching the clock changes the formats the streams offer; the driver
 * publishes the new lists (udk_audio_stream_set_formats), which reach
 * every subscribed app at once.  The device has one clock for all its
 * streams: while one stream is open, the others are offered its rate only.
 *
 * The family's personality keys apply (docs/families/audio.md):
 * UDKAudioDeviceName renames the device, UDKAudioVisibility "while-held"
 * shows it only while an app holds it (the seed: a virtual device visible
 * while its app runs).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/audio.h>

struct sim {
	struct udk_audio_hw *hw;
	struct udk_audio_hw_info info;
	struct udk_audio_device *dev;
	struct udk_audio_stream *streams[8];
	struct udk_audio_control *volume[8], *mute[8], *clock;
	uint32_t open_rate;		/* the rate of the open streams, 0: none open */
	unsigned n_open;
};

/* The formats of stream @i, limited to @rate when nonzero. */
static void
offer(struct sim *s, unsigned i, uint32_t rate)
{
	const struct udk_audio_hw_stream *hs = &s->info.streams[i];
	struct udk_audio_format_range f[32];
	uint32_t n = 0;

	for (uint32_t k = 0; k < hs->n_formats; k++)
		if (!rate || (hs->formats[k].rate_min <= rate && rate <= hs->formats[k].rate_max)) {
			f[n] = hs->formats[k];
			if (rate)
				f[n].rate_min = f[n].rate_max = rate;
			n++;
		}
	if (n && udk_audio_stream_set_formats(s->streams[i], f, n) < 0)
		udk_log_warning("stream %u: %s", i, udk_error_reason());
}

static int
stream_open(struct udk_audio_stream *stream, const struct udk_audio_stream_setup *setup, void *ctx)
{
	struct sim *s = ctx;
	unsigned idx = udk_audio_stream_get_index(stream);

	if (s->n_open && s->open_rate != setup->format.sample_rate)
		return udk_error_set(-UDK_E_BUSY, "the device runs at %u Hz for its other open stream", s->open_rate);
	if (s->n_open++ == 0) {
		s->open_rate = setup->format.sample_rate;
		for (unsigned i = 0; i < s->info.n_streams; i++)
			if (i != idx)
				offer(s, i, s->open_rate);
	}
	return 0;
}

static void
stream_close(struct udk_audio_stream *stream, void *ctx)
{
	struct sim *s = ctx;

	(void)stream;
	if (s->n_open && --s->n_open == 0) {
		s->open_rate = 0;
		for (unsigned i = 0; i < s->info.n_streams; i++)
			offer(s, i, 0);
	}
}

static int
stream_start(struct udk_audio_stream *stream, void *ctx)
{
	struct sim *s = ctx;

	return udk_audio_hw_start(s->hw, udk_audio_stream_get_index(stream), stream);
}

static void
stream_stop(struct udk_audio_stream *stream, void *ctx)
{
	struct sim *s = ctx;

	udk_audio_hw_stop(s->hw, udk_audio_stream_get_index(stream));
}

static int
control_set(struct udk_audio_control *c, int32_t value, void *ctx)
{
	struct sim *s = ctx;

	if (c == s->clock) {
		struct udk_audio_hw_info info;
		int r;
		if (s->n_open)
			return udk_error_set(-UDK_E_BUSY, "close the open streams before switching the clock source");
		r = udk_audio_hw_set_clock_source(s->hw, (uint32_t)value, &info);
		if (r < 0)
			return udk_error_set(r, "the device refused the clock source: %s", udk_error_reason());
		s->info = info;
		udk_log_info("clock source: %s", info.clock_sources[value]);
		for (unsigned i = 0; i < s->info.n_streams; i++)
			offer(s, i, 0);
		return 0;
	}
	for (unsigned i = 0; i < s->info.n_streams; i++)
		if (c == s->volume[i] || c == s->mute[i]) {
			int32_t vol = c == s->volume[i] ? value : udk_audio_control_get_value(s->volume[i]);
			bool mute = c == s->mute[i] ? value : udk_audio_control_get_value(s->mute[i]);
			return udk_audio_hw_set_gain(s->hw, i, vol, mute);
		}
	return 0;
}

static const struct udk_audio_ops ops = {
	UDK_AUDIO_OPS_INIT,
	.stream_open = stream_open,
	.stream_start = stream_start,
	.stream_stop = stream_stop,
	.stream_close = stream_close,
	.control_set = control_set,
};

static int
sim_start(struct udk_service *self, struct udk_service *provider)
{
	struct sim *s = udk_service_get_ivars(self);
	struct udk_audio_device_config dc = { UDK_AUDIO_DEVICE_CONFIG_INIT };
	const char *clock_items[17];
	int r;

	r = udk_audio_hw_open(provider, &s->hw);
	if (r >= 0)
		r = udk_audio_hw_get_info(s->hw, &s->info);
	if (r < 0)
		return udk_error_set(r, "cannot open the simulated audio device: %s", udk_error_reason());
	dc.name = s->info.name;
	dc.description = s->info.description;
	r = udk_audio_device_create(self, &dc, &ops, s, &s->dev);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < s->info.n_streams; i++) {
		const struct udk_audio_hw_stream *hs = &s->info.streams[i];
		struct udk_audio_stream_config sc = { UDK_AUDIO_STREAM_CONFIG_INIT };
		sc.direction = hs->direction;
		sc.name = hs->name;
		sc.formats = hs->formats;
		sc.n_formats = hs->n_formats;
		r = udk_audio_device_add_stream(s->dev, &sc, &s->streams[i]);
		if (r < 0)
			return r;
		if (hs->direction == UDK_AUDIO_OUTPUT) {
			char cname[160];
			struct udk_audio_control_config vc = { UDK_AUDIO_CONTROL_CONFIG_INIT };
			vc.kind = UDK_AUDIO_CONTROL_VOLUME;
			snprintf(cname, sizeof(cname), "%s Volume", hs->name);
			vc.name = cname;
			vc.min = -6000;
			vc.max = 0;
			vc.value = 0;
			if ((r = udk_audio_device_add_control(s->dev, &vc, &s->volume[i])) < 0)
				return r;
			vc.kind = UDK_AUDIO_CONTROL_MUTE;
			snprintf(cname, sizeof(cname), "%s Mute", hs->name);
			vc.min = vc.max = vc.value = 0;
			if ((r = udk_audio_device_add_control(s->dev, &vc, &s->mute[i])) < 0)
				return r;
		}
	}
	if (s->info.n_clock_sources > 1) {
		struct udk_audio_control_config cc = { UDK_AUDIO_CONTROL_CONFIG_INIT };
		for (unsigned i = 0; i < s->info.n_clock_sources && i < 16; i++)
			clock_items[i] = s->info.clock_sources[i];
		clock_items[s->info.n_clock_sources < 16 ? s->info.n_clock_sources : 16] = NULL;
		cc.kind = UDK_AUDIO_CONTROL_SELECTOR;
		cc.name = "Clock Source";
		cc.items = clock_items;
		cc.value = (int32_t)s->info.clock_source;
		cc.clock_source = true;
		if ((r = udk_audio_device_add_control(s->dev, &cc, &s->clock)) < 0)
			return r;
	}
	return udk_audio_device_publish(s->dev);
}

static int
sim_stop(struct udk_service *self, struct udk_service *provider)
{
	struct sim *s = udk_service_get_ivars(self);

	(void)provider;
	udk_audio_device_destroy(s->dev);
	s->dev = NULL;
	udk_audio_hw_close(s->hw);
	s->hw = NULL;
	return 0;
}

static const struct udk_class sim_audio_driver = {
	UDK_CLASS_INIT,
	.name = "SimAudioDriver",
	.ivars_size = sizeof(struct sim),
	.start = sim_start,
	.stop = sim_stop,
	.new_user_client = udk_audio_driver_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &sim_audio_driver, NULL };
	return udk_driver_main(argc, argv, classes);
}
