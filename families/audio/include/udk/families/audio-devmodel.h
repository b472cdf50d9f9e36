/* SPDX-License-Identifier: MIT */
/*
 * families/audio-devmodel.h - simulated audio hardware: the "audio" kind
 * of device model (on <udk/devmodel.h>).
 *
 * A simulated audio device has streams (outputs the driver plays into,
 * inputs it captures from), one clock that paces all of them, and
 * optionally several clock sources whose choice changes the formats the
 * streams offer.  The runtime does what the hardware's DMA engine does:
 * once the driver started a stream, it reads (output) or writes (input)
 * the stream's ring at the clock's pace, straight in the driver's shared
 * memory (through the simulated IOMMU), and writes the positions and zero
 * timestamps into the ring, as a DMA position buffer.  Your callbacks only
 * see samples:
 *
 *	static void play(struct udk_dm_function *fn, unsigned stream, const void *frames,
 *			 uint32_t n, uint64_t t, const struct udk_audio_format *fmt);
 *	static void capture(struct udk_dm_function *fn, unsigned stream, void *frames,
 *			    uint32_t n, uint64_t t, const struct udk_audio_format *fmt);
 *
 * @t is the device's frame clock: frames played at t and captured at t
 * happened at the same instant (a loopback copies t to t, bit for bit).
 * In one tick every output is played before any input is captured.
 *
 * Underruns (the app wrote too little) play silence for what is missing
 * and are counted; overruns (the app read too little) overwrite and are
 * counted.  When the driver dies, running streams are marked gone in their
 * rings, so apps hear at once.
 */
#ifndef UDK_FAMILIES_AUDIO_DEVMODEL_H
#define UDK_FAMILIES_AUDIO_DEVMODEL_H

#include <udk/devmodel.h>
#include <udk/families/audio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_dm_audio_stream {
	uint32_t direction;		/* UDK_AUDIO_OUTPUT or UDK_AUDIO_INPUT */
	const char *name;
	const struct udk_audio_format_range *formats;	/* under clock source 0 */
	uint32_t n_formats;
};

struct udk_dm_audio_config {
	uint32_t struct_size;		/* via UDK_DM_AUDIO_CONFIG_INIT */
	const char *model;		/* "loopback": the nub's UDKAudioModel, for matching */
	const char *name;		/* the device name its driver should use */
	const char *description;
	const struct udk_dm_audio_stream *streams;
	uint32_t n_streams;		/* 1..8 */
	const char *const *clock_sources;	/* NULL-terminated; NULL: one fixed clock */
};

#define UDK_DM_AUDIO_CONFIG_INIT .struct_size = sizeof(struct udk_dm_audio_config)

struct udk_dm_audio_ops {
	uint32_t struct_size;		/* via UDK_DM_AUDIO_OPS_INIT */
	/* The formats of stream @index under clock @source (up to @max);
	 * NULL: the config's, whatever the clock. */
	uint32_t (*formats)(struct udk_dm_function *fn, unsigned source, unsigned index,
			    struct udk_audio_format_range *out, uint32_t max);
	/* Output @index played @n frames at device frame @t. */
	void (*play)(struct udk_dm_function *fn, unsigned index, const void *frames, uint32_t n, uint64_t t,
		     const struct udk_audio_format *fmt);
	/* Input @index records @n frames at device frame @t into @frames. */
	void (*capture)(struct udk_dm_function *fn, unsigned index, void *frames, uint32_t n, uint64_t t,
			const struct udk_audio_format *fmt);
	/* The driver switched the clock (no stream runs). */
	void (*clock_changed)(struct udk_dm_function *fn, unsigned source);
};

#define UDK_DM_AUDIO_OPS_INIT .struct_size = sizeof(struct udk_dm_audio_ops)

UDK_EXPORT int udk_dm_add_audio_function(struct udk_dm *dm, const struct udk_dm_audio_config *config,
					 const struct udk_dm_audio_ops *ops, void *userdata,
					 struct udk_dm_function **ret);
/* The clock source in use. */
UDK_EXPORT unsigned udk_dm_audio_get_clock_source(struct udk_dm_function *fn);

/* Sample conversions for models: one sample of @fmt at @p to and from a
 * 32-bit left-justified integer. */
UDK_EXPORT int32_t udk_dm_audio_sample_get(const void *p, uint32_t sample_format);
UDK_EXPORT void udk_dm_audio_sample_put(void *p, uint32_t sample_format, int32_t v);

#ifdef __cplusplus
}
#endif
#endif
