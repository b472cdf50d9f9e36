/* SPDX-License-Identifier: MIT */
/*
 * alsa-bridge - a udk audio device on a kernel sound card: the same driver
 * API as the simulated devices' driver (drivers/sim-audio), on a real PCM
 * of the kernel (udkd --alsa-dev-dir publishes them as UDKAudioALSAPCM; in
 * the guest rig, snd-aloop's).
 *
 * One device per PCM, named CARDID-dDEVICE-out / -in in lower case
 * ("loopback-d0-out"), with one stream in the PCM's direction offering what
 * the card offers.  While an app uses the stream, the family's bridge
 * (udk_audio_pcm_start) moves its samples to or from the card, paced by
 * the card's clock; the card is held only then.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/audio.h>

struct bridge {
	struct udk_audio_pcm *pcm;
	struct udk_audio_device *dev;
};

static int
stream_start(struct udk_audio_stream *stream, void *ctx)
{
	struct bridge *b = ctx;

	return udk_audio_pcm_start(b->pcm, stream);
}

static void
stream_stop(struct udk_audio_stream *stream, void *ctx)
{
	struct bridge *b = ctx;

	(void)stream;
	udk_audio_pcm_stop(b->pcm);
}

static const struct udk_audio_ops ops = {
	UDK_AUDIO_OPS_INIT,
	.stream_start = stream_start,
	.stream_stop = stream_stop,
};

static int
bridge_start(struct udk_service *self, struct udk_service *provider)
{
	struct bridge *b = udk_service_get_ivars(self);
	struct udk_audio_format_range formats[32];
	struct udk_audio_device_config dc = { UDK_AUDIO_DEVICE_CONFIG_INIT };
	struct udk_audio_stream_config sc = { UDK_AUDIO_STREAM_CONFIG_INIT };
	char name[33], desc[128];
	uint32_t n = 0;
	size_t k = 0;
	int r;

	r = udk_audio_pcm_open(provider, &b->pcm, formats, 32, &n);
	if (r < 0)
		return r;
	for (const char *c = udk_audio_pcm_get_card_id(b->pcm); *c && k < 16; c++)
		if (isalnum((unsigned char)*c))
			name[k++] = (char)tolower((unsigned char)*c);
	name[k] = 0;
	snprintf(name + k, sizeof(name) - k, "-d%u-%s", udk_audio_pcm_get_device(b->pcm),
		 udk_audio_pcm_get_direction(b->pcm) == UDK_AUDIO_OUTPUT ? "out" : "in");
	snprintf(desc, sizeof(desc), "kernel sound card %.40s, PCM device %u (%s), through udk",
		 udk_audio_pcm_get_card_id(b->pcm), udk_audio_pcm_get_device(b->pcm),
		 udk_audio_pcm_get_direction(b->pcm) == UDK_AUDIO_OUTPUT ? "playback" : "capture");
	dc.name = name;
	dc.description = desc;
	r = udk_audio_device_create(self, &dc, &ops, b, &b->dev);
	if (r < 0)
		return r;
	sc.direction = udk_audio_pcm_get_direction(b->pcm);
	sc.formats = formats;
	sc.n_formats = n;
	sc.min_period_frames = 64;
	r = udk_audio_device_add_stream(b->dev, &sc, NULL);
	if (r < 0)
		return r;
	return udk_audio_device_publish(b->dev);
}

static int
bridge_stop(struct udk_service *self, struct udk_service *provider)
{
	struct bridge *b = udk_service_get_ivars(self);

	(void)provider;
	udk_audio_device_destroy(b->dev);
	udk_audio_pcm_close(b->pcm);
	return 0;
}

static const struct udk_class alsa_bridge = {
	UDK_CLASS_INIT,
	.name = "AlsaBridgeDriver",
	.ivars_size = sizeof(struct bridge),
	.start = bridge_start,
	.stop = bridge_stop,
	.new_user_client = udk_audio_driver_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &alsa_bridge, NULL };
	return udk_driver_main(argc, argv, classes);
}
