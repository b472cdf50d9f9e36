/* SPDX-License-Identifier: MIT */
/*
 * audio-common.h - what every party of the audio family checks the same
 * way (internal; common/formats.c): format lists, names, and the device
 * description drivers publish.  Pure functions over udk_values, so one
 * fuzz target (tests/fuzz/fuzz-audio-state.c) drives them all.
 *
 * The description, as properties of an IOUserAudioDevice:
 *
 *	UDKAudioName		"loopback"		([a-z0-9_-], 1..32)
 *	UDKAudioDescription	"Simulated loopback"
 *	UDKAudioUID		"org.udk.sim.loopback"
 *	UDKAudioVisibility	"always" | "while-held"
 *	UDKAudioStreams		[{name, direction: "output"|"input",
 *				  formats: [{sample_format: "S16_LE", channels,
 *				             rate_min, rate_max}],
 *				  current: {sample_format, channels, rate}?,
 *				  in_use_by: pid?}]
 *	UDKAudioControls	[{name, kind: "volume"|"mute"|"selector",
 *				  value, min?, max?, items?, clock_source?}]
 */
#ifndef UDK_AUDIO_COMMON_H
#define UDK_AUDIO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../include/udk/families/audio.h"
#include <udk/value.h>

/* Sample formats by ALSA name and back; 0 / "?" when unknown. */
uint32_t audio_sample_format_parse(const char *name);
const char *audio_sample_format_str(uint32_t f);
unsigned audio_sample_bytes(uint32_t f);

/* A device name udk accepts ([a-z0-9_-], 1..32). */
bool audio_name_ok(const char *s, char *why, size_t len);

/* Check a list of ranges; @why says what is wrong, naming the entry. */
bool audio_formats_check(const struct udk_audio_format_range *f, uint32_t n, char *why, size_t len);
/* Whether @fmt is one of the ranges. */
bool audio_format_allowed(const struct udk_audio_format_range *f, uint32_t n, const struct udk_audio_format *fmt);
/* "S16_LE 2ch 48000 Hz; S32_LE 2ch 44100-96000 Hz" into @buf. */
void audio_formats_describe(const struct udk_audio_format_range *f, uint32_t n, char *buf, size_t len);
/* To and from the description's "formats" array (decoding checks). */
struct udk_value *audio_formats_to_value(const struct udk_audio_format_range *f, uint32_t n);
bool audio_formats_from_value(const struct udk_value *v, struct udk_audio_format_range *out, uint32_t max,
			      uint32_t *ret_n, char *why, size_t len);

/*
 * Check a whole description (the dictionary of UDKAudio* keys a driver
 * publishes) and return a clean copy holding only the known keys, or
 * NULL with @why.  Bounded: at most AUDIO_MAX_STREAMS streams, ...
 */
struct udk_value *audio_state_check(const struct udk_value *state, char *why, size_t len);

/* The rates ALSA knows (for ranges: which of them lie inside). */
extern const uint32_t audio_standard_rates[];
extern const unsigned audio_n_standard_rates;

#endif
