/* SPDX-License-Identifier: MIT */
/*
 * audio/common/formats.c - format lists, names and device descriptions,
 * checked the same way by the driver library (at publish time), udkd
 * (before they reach the registry) and the ALSA plugin (before it builds
 * constraints from them).  See audio-common.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../proto-audio.h"
#include "audio-common.h"

static const struct {
	uint32_t id;
	const char *name;
	unsigned bytes;
} sample_formats[] = {
	{ UDK_AUDIO_S16_LE, "S16_LE", 2 },   { UDK_AUDIO_S24_LE, "S24_LE", 4 },
	{ UDK_AUDIO_S32_LE, "S32_LE", 4 },   { UDK_AUDIO_FLOAT_LE, "FLOAT_LE", 4 },
	{ UDK_AUDIO_S24_3LE, "S24_3LE", 3 },
};

const uint32_t audio_standard_rates[] = { 8000,	 11025, 16000, 22050,  32000,  44100,  48000,
					  64000, 88200, 96000, 176400, 192000, 352800, 384000 };
const unsigned audio_n_standard_rates = sizeof(audio_standard_rates) / sizeof(audio_standard_rates[0]);

uint32_t
audio_sample_format_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(sample_formats) / sizeof(sample_formats[0]); i++)
		if (!strcmp(sample_formats[i].name, name))
			return sample_formats[i].id;
	return 0;
}

const char *
audio_sample_format_str(uint32_t f)
{
	for (size_t i = 0; i < sizeof(sample_formats) / sizeof(sample_formats[0]); i++)
		if (sample_formats[i].id == f)
			return sample_formats[i].name;
	return "?";
}

unsigned
audio_sample_bytes(uint32_t f)
{
	for (size_t i = 0; i < sizeof(sample_formats) / sizeof(sample_formats[0]); i++)
		if (sample_formats[i].id == f)
			return sample_formats[i].bytes;
	return 0;
}

UDK_EXPORT unsigned
udk_audio_sample_bytes(uint32_t sample_format)
{
	return audio_sample_bytes(sample_format);
}

UDK_EXPORT const char *
udk_audio_sample_format_name(uint32_t sample_format)
{
	return audio_sample_format_str(sample_format);
}

bool
audio_name_ok(const char *s, char *why, size_t len)
{
	size_t n = s ? strlen(s) : 0;

	if (!n) {
		snprintf(why, len, "is empty");
		return false;
	}
	if (n > AUDIO_NAME_MAX) {
		snprintf(why, len, "is %zu characters long; at most %d are allowed", n, AUDIO_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			snprintf(why, len,
				 "\"%.40s\" has the character 0x%02x at %zu; use lower-case letters, digits, '_' and '-' "
				 "(it becomes the ALSA device udk:NAME)",
				 s, (unsigned char)c, i);
			return false;
		}
	}
	return true;
}

static bool
text_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > AUDIO_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '|')	/* '|' separates ALSA's hint fields */
			return false;
	return true;
}

bool
audio_formats_check(const struct udk_audio_format_range *f, uint32_t n, char *why, size_t len)
{
	if (!f || n == 0) {
		snprintf(why, len, "a stream must offer at least one format");
		return false;
	}
	if (n > AUDIO_MAX_FORMATS) {
		snprintf(why, len, "%" PRIu32 " format ranges; at most %d are allowed", n, AUDIO_MAX_FORMATS);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct udk_audio_format_range *r = &f[i];
		if (!audio_sample_bytes(r->sample_format)) {
			snprintf(why, len,
				 "format %" PRIu32 ": sample format %u is unknown (use UDK_AUDIO_S16_LE, S24_LE, S32_LE, "
				 "FLOAT_LE or S24_3LE)",
				 i, r->sample_format);
			return false;
		}
		if (r->channels < 1 || r->channels > AUDIO_MAX_CHANNELS) {
			snprintf(why, len, "format %" PRIu32 ": %u channels; 1..%d are allowed", i, r->channels,
				 AUDIO_MAX_CHANNELS);
			return false;
		}
		if (r->rate_min < AUDIO_RATE_MIN || r->rate_max > AUDIO_RATE_MAX || r->rate_min > r->rate_max) {
			snprintf(why, len,
				 "format %" PRIu32 ": rates %" PRIu32 "..%" PRIu32 " Hz; a range needs %d <= min <= max "
				 "<= %d",
				 i, r->rate_min, r->rate_max, AUDIO_RATE_MIN, AUDIO_RATE_MAX);
			return false;
		}
		for (uint32_t j = 0; j < i; j++)
			if (!memcmp(&f[j], r, sizeof(*r))) {
				snprintf(why, len, "format %" PRIu32 " repeats format %" PRIu32, i, j);
				return false;
			}
	}
	return true;
}

bool
audio_format_allowed(const struct udk_audio_format_range *f, uint32_t n, const struct udk_audio_format *fmt)
{
	for (uint32_t i = 0; i < n; i++)
		if (f[i].sample_format == fmt->sample_format && f[i].channels == fmt->channels &&
		    fmt->sample_rate >= f[i].rate_min && fmt->sample_rate <= f[i].rate_max)
			return true;
	return false;
}

void
audio_formats_describe(const struct udk_audio_format_range *f, uint32_t n, char *buf, size_t len)
{
	size_t at = 0;

	if (len)
		buf[0] = 0;
	for (uint32_t i = 0; i < n && at < len; i++) {
		int k;
		if (f[i].rate_min == f[i].rate_max)
			k = snprintf(buf + at, len - at, "%s%s %uch %" PRIu32 " Hz", i ? "; " : "",
				     audio_sample_format_str(f[i].sample_format), f[i].channels, f[i].rate_min);
		else
			k = snprintf(buf + at, len - at, "%s%s %uch %" PRIu32 "-%" PRIu32 " Hz", i ? "; " : "",
				     audio_sample_format_str(f[i].sample_format), f[i].channels, f[i].rate_min,
				     f[i].rate_max);
		if (k < 0)
			break;
		at += (size_t)k;
	}
}

struct udk_value *
audio_formats_to_value(const struct udk_audio_format_range *f, uint32_t n)
{
	struct udk_value *a = udk_value_new_array();

	for (uint32_t i = 0; a && i < n; i++) {
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_string(e, "sample_format", audio_sample_format_str(f[i].sample_format));
		udk_dict_set_int(e, "channels", f[i].channels);
		udk_dict_set_int(e, "rate_min", f[i].rate_min);
		udk_dict_set_int(e, "rate_max", f[i].rate_max);
		udk_array_append_take(a, e);
	}
	return a;
}

static bool
get_uint(const struct udk_value *d, const char *key, uint64_t max, uint64_t *ret)
{
	const struct udk_value *v = udk_dict_get(d, key);
	int64_t i;

	if (udk_value_get_type(v) != UDK_VALUE_INT)
		return false;
	i = udk_value_get_int(v, -1);
	if (i < 0 || (uint64_t)i > max)
		return false;
	*ret = (uint64_t)i;
	return true;
}

bool
audio_formats_from_value(const struct udk_value *v, struct udk_audio_format_range *out, uint32_t max,
			 uint32_t *ret_n, char *why, size_t len)
{
	size_t n = udk_array_size(v);

	if (udk_value_get_type(v) != UDK_VALUE_ARRAY) {
		snprintf(why, len, "formats must be an array");
		return false;
	}
	if (n > max || n > AUDIO_MAX_FORMATS) {
		snprintf(why, len, "%zu format ranges; at most %d are allowed", n, AUDIO_MAX_FORMATS);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const struct udk_value *e = udk_array_get(v, i);
		uint64_t ch, lo, hi;
		uint32_t sf = audio_sample_format_parse(udk_dict_get_string(e, "sample_format"));

		if (udk_value_get_type(e) != UDK_VALUE_DICT || !sf || !get_uint(e, "channels", AUDIO_MAX_CHANNELS, &ch) ||
		    !get_uint(e, "rate_min", AUDIO_RATE_MAX, &lo) || !get_uint(e, "rate_max", AUDIO_RATE_MAX, &hi)) {
			snprintf(why, len,
				 "format %zu must be {sample_format: S16_LE|S24_LE|S32_LE|FLOAT_LE|S24_3LE, channels, "
				 "rate_min, rate_max}",
				 i);
			return false;
		}
		out[i] = (struct udk_audio_format_range){ (uint16_t)sf, (uint16_t)ch, (uint32_t)lo, (uint32_t)hi };
	}
	*ret_n = (uint32_t)n;
	return audio_formats_check(out, (uint32_t)n, why, len);
}

/* ---- the whole description ---- */

static bool
copy_text(struct udk_value *to, const struct udk_value *from, const char *key, bool required, char *why, size_t len)
{
	const struct udk_value *v = udk_dict_get(from, key);

	if (!v && !required)
		return true;
	if (!text_ok(udk_value_get_string(v))) {
		snprintf(why, len, "%s must be a string of 1..%d printable characters without '|'", key, AUDIO_TEXT_MAX);
		return false;
	}
	udk_dict_set(to, key, (struct udk_value *)v);
	return true;
}

static struct udk_value *
check_stream(const struct udk_value *s, size_t index, char *why, size_t len)
{
	struct udk_audio_format_range f[AUDIO_MAX_FORMATS];
	const char *dir = udk_dict_get_string(s, "direction");
	const struct udk_value *cur = udk_dict_get(s, "current"), *pid = udk_dict_get(s, "in_use_by");
	struct udk_value *out;
	uint32_t n = 0;
	char inner[300];

	if (udk_value_get_type(s) != UDK_VALUE_DICT) {
		snprintf(why, len, "stream %zu must be a dictionary", index);
		return NULL;
	}
	if (!dir || (strcmp(dir, "output") && strcmp(dir, "input"))) {
		snprintf(why, len, "stream %zu: direction must be \"output\" or \"input\"", index);
		return NULL;
	}
	if (!audio_formats_from_value(udk_dict_get(s, "formats"), f, AUDIO_MAX_FORMATS, &n, inner, sizeof(inner))) {
		snprintf(why, len, "stream %zu: %s", index, inner);
		return NULL;
	}
	out = udk_value_new_dict();
	if (!copy_text(out, s, "name", true, inner, sizeof(inner))) {
		snprintf(why, len, "stream %zu: %s", index, inner);
		udk_value_unref(out);
		return NULL;
	}
	udk_dict_set_string(out, "direction", dir);
	udk_dict_set_take(out, "formats", audio_formats_to_value(f, n));
	{
		uint64_t lo = AUDIO_MIN_PERIOD, hi = 65536;
		if ((udk_dict_get(s, "min_period_frames") && !get_uint(s, "min_period_frames", AUDIO_MAX_BUFFER, &lo)) ||
		    (udk_dict_get(s, "max_buffer_frames") && !get_uint(s, "max_buffer_frames", AUDIO_MAX_BUFFER, &hi)) ||
		    lo < AUDIO_MIN_PERIOD || hi < 2 * lo) {
			snprintf(why, len, "stream %zu: min_period_frames and max_buffer_frames must be %d <= 2 * min <= "
				 "max <= %u", index, AUDIO_MIN_PERIOD, AUDIO_MAX_BUFFER);
			udk_value_unref(out);
			return NULL;
		}
		udk_dict_set_int(out, "min_period_frames", (int64_t)lo);
		udk_dict_set_int(out, "max_buffer_frames", (int64_t)hi);
	}
	if (cur) {
		uint64_t rate, ch;
		uint32_t sf = audio_sample_format_parse(udk_dict_get_string(cur, "sample_format"));
		if (udk_value_get_type(cur) != UDK_VALUE_DICT || !sf || !get_uint(cur, "rate", AUDIO_RATE_MAX, &rate) ||
		    !get_uint(cur, "channels", AUDIO_MAX_CHANNELS, &ch)) {
			snprintf(why, len, "stream %zu: current must be {sample_format, channels, rate}", index);
			udk_value_unref(out);
			return NULL;
		}
		udk_dict_set(out, "current", (struct udk_value *)cur);
	}
	if (pid) {
		uint64_t p;
		if (!get_uint(s, "in_use_by", INT32_MAX, &p)) {
			snprintf(why, len, "stream %zu: in_use_by must be a process id", index);
			udk_value_unref(out);
			return NULL;
		}
		udk_dict_set_int(out, "in_use_by", (int64_t)p);
	}
	return out;
}

static struct udk_value *
check_control(const struct udk_value *c, size_t index, char *why, size_t len)
{
	const char *kind = udk_dict_get_string(c, "kind");
	const struct udk_value *items = udk_dict_get(c, "items");
	struct udk_value *out;
	int64_t value = udk_dict_get_int(c, "value", INT64_MIN);
	char inner[200];

	if (udk_value_get_type(c) != UDK_VALUE_DICT || !kind ||
	    (strcmp(kind, "volume") && strcmp(kind, "mute") && strcmp(kind, "selector"))) {
		snprintf(why, len, "control %zu: kind must be \"volume\", \"mute\" or \"selector\"", index);
		return NULL;
	}
	if (value < INT32_MIN || value > INT32_MAX) {
		snprintf(why, len, "control %zu: value must be a 32-bit integer", index);
		return NULL;
	}
	out = udk_value_new_dict();
	if (!copy_text(out, c, "name", true, inner, sizeof(inner))) {
		snprintf(why, len, "control %zu: %s", index, inner);
		udk_value_unref(out);
		return NULL;
	}
	udk_dict_set_string(out, "kind", kind);
	udk_dict_set_int(out, "value", value);
	if (!strcmp(kind, "volume")) {
		int64_t lo = udk_dict_get_int(c, "min", INT64_MIN), hi = udk_dict_get_int(c, "max", INT64_MIN);
		if (lo < -20000 || hi > 20000 || lo > hi || value < lo || value > hi) {
			snprintf(why, len, "control %zu: a volume needs -20000 <= min <= value <= max <= 20000 (1/100 dB)",
				 index);
			udk_value_unref(out);
			return NULL;
		}
		udk_dict_set_int(out, "min", lo);
		udk_dict_set_int(out, "max", hi);
	} else if (!strcmp(kind, "mute")) {
		if (value != 0 && value != 1) {
			snprintf(why, len, "control %zu: a mute is 0 or 1", index);
			udk_value_unref(out);
			return NULL;
		}
	} else {
		size_t n = udk_array_size(items);
		struct udk_value *list;
		if (udk_value_get_type(items) != UDK_VALUE_ARRAY || n < 1 || n > AUDIO_MAX_ITEMS || value < 0 ||
		    (size_t)value >= n) {
			snprintf(why, len, "control %zu: a selector needs 1..%d items and a value among them", index,
				 AUDIO_MAX_ITEMS);
			udk_value_unref(out);
			return NULL;
		}
		list = udk_value_new_array();
		for (size_t i = 0; i < n; i++) {
			const char *item = udk_value_get_string(udk_array_get(items, i));
			if (!text_ok(item)) {
				snprintf(why, len, "control %zu: item %zu must be a printable string", index, i);
				udk_value_unref(list);
				udk_value_unref(out);
				return NULL;
			}
			udk_array_append_take(list, udk_value_new_string(item));
		}
		udk_dict_set_take(out, "items", list);
		udk_dict_set_bool(out, "clock_source", udk_dict_get_bool(c, "clock_source", false));
	}
	return out;
}

struct udk_value *
audio_state_check(const struct udk_value *state, char *why, size_t len)
{
	const struct udk_value *streams = udk_dict_get(state, "UDKAudioStreams");
	const struct udk_value *controls = udk_dict_get(state, "UDKAudioControls");
	const char *vis = udk_dict_get_string(state, "UDKAudioVisibility");
	struct udk_value *out, *list;
	char inner[400];

	if (udk_value_get_type(state) != UDK_VALUE_DICT) {
		snprintf(why, len, "the description must be a dictionary");
		return NULL;
	}
	if (!audio_name_ok(udk_dict_get_string(state, "UDKAudioName"), inner, sizeof(inner))) {
		snprintf(why, len, "UDKAudioName %s", inner);
		return NULL;
	}
	if (udk_value_get_type(streams) != UDK_VALUE_ARRAY || udk_array_size(streams) < 1 ||
	    udk_array_size(streams) > AUDIO_MAX_STREAMS) {
		snprintf(why, len, "UDKAudioStreams must list 1..%d streams", AUDIO_MAX_STREAMS);
		return NULL;
	}
	if (controls && (udk_value_get_type(controls) != UDK_VALUE_ARRAY || udk_array_size(controls) > AUDIO_MAX_CONTROLS)) {
		snprintf(why, len, "UDKAudioControls must list at most %d controls", AUDIO_MAX_CONTROLS);
		return NULL;
	}
	if (vis && strcmp(vis, "always") && strcmp(vis, "while-held")) {
		snprintf(why, len, "UDKAudioVisibility must be \"always\" or \"while-held\"");
		return NULL;
	}
	out = udk_value_new_dict();
	udk_dict_set_string(out, "UDKAudioName", udk_dict_get_string(state, "UDKAudioName"));
	udk_dict_set_string(out, "UDKAudioVisibility", vis ? vis : "always");
	if (!copy_text(out, state, "UDKAudioDescription", false, inner, sizeof(inner)) ||
	    !copy_text(out, state, "UDKAudioUID", false, inner, sizeof(inner))) {
		snprintf(why, len, "%s", inner);
		udk_value_unref(out);
		return NULL;
	}
	list = udk_value_new_array();
	for (size_t i = 0; i < udk_array_size(streams); i++) {
		struct udk_value *s = check_stream(udk_array_get(streams, i), i, why, len);
		if (!s) {
			udk_value_unref(list);
			udk_value_unref(out);
			return NULL;
		}
		udk_array_append_take(list, s);
	}
	udk_dict_set_take(out, "UDKAudioStreams", list);
	list = udk_value_new_array();
	for (size_t i = 0; i < udk_array_size(controls); i++) {
		struct udk_value *c = check_control(udk_array_get(controls, i), i, why, len);
		if (!c) {
			udk_value_unref(list);
			udk_value_unref(out);
			return NULL;
		}
		udk_array_append_take(list, c);
	}
	udk_dict_set_take(out, "UDKAudioControls", list);
	return out;
}
