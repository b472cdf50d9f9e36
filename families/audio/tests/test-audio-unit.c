/* SPDX-License-Identifier: MIT */
/*
 * The audio family's checks alone (common/formats.c): what a driver may
 * publish as a stream's formats and as a device's description.  The driver
 * library refuses a bad list at publish time with these; udkd refuses it
 * again before it reaches the registry; the ALSA plugin checks what it reads.
 */
#include "audio-common.h"
#include "proto-audio.h"
#include "test.h"

static bool
check(const struct udk_audio_format_range *f, uint32_t n, const char *want)
{
	char why[300] = "";
	bool ok = audio_formats_check(f, n, why, sizeof(why));

	test_log("%s", ok ? "accepted" : why);
	if (want && !strstr(why, want))
		FAIL("the reason \"%s\" does not say \"%s\"", why, want);
	return ok;
}

TEST(format_lists_checked)
{
	struct udk_audio_format_range good[] = {
		{ UDK_AUDIO_S16_LE, 2, 48000, 48000 },
		{ UDK_AUDIO_S32_LE, 8, 44100, 96000 },
	};
	struct udk_audio_format_range f[AUDIO_MAX_FORMATS + 1];

	ASSERT_TRUE(check(good, 2, NULL));
	ASSERT_FALSE(check(good, 0, "at least one format"));
	ASSERT_FALSE(check(NULL, 1, "at least one format"));
	for (unsigned i = 0; i <= AUDIO_MAX_FORMATS; i++)
		f[i] = (struct udk_audio_format_range){ UDK_AUDIO_S16_LE, 2, 8000 + i, 8000 + i };
	ASSERT_FALSE(check(f, AUDIO_MAX_FORMATS + 1, "at most 32"));
	ASSERT_TRUE(check(f, AUDIO_MAX_FORMATS, NULL));
	f[0] = (struct udk_audio_format_range){ 99, 2, 48000, 48000 };
	ASSERT_FALSE(check(f, 1, "sample format 99 is unknown"));
	f[0] = (struct udk_audio_format_range){ UDK_AUDIO_S16_LE, 0, 48000, 48000 };
	ASSERT_FALSE(check(f, 1, "0 channels"));
	f[0] = (struct udk_audio_format_range){ UDK_AUDIO_S16_LE, 65, 48000, 48000 };
	ASSERT_FALSE(check(f, 1, "65 channels"));
	f[0] = (struct udk_audio_format_range){ UDK_AUDIO_S16_LE, 2, 48000, 44100 };
	ASSERT_FALSE(check(f, 1, "min <= max"));
	f[0] = (struct udk_audio_format_range){ UDK_AUDIO_S16_LE, 2, 4000, 8000 };
	ASSERT_FALSE(check(f, 1, "8000 <= min"));
	f[0] = (struct udk_audio_format_range){ UDK_AUDIO_S16_LE, 2, 48000, 1000000 };
	ASSERT_FALSE(check(f, 1, "<= 768000"));
	f[0] = good[0];
	f[1] = good[0];
	ASSERT_FALSE(check(f, 2, "format 1 repeats format 0"));
}

TEST(format_allowed_and_described)
{
	struct udk_audio_format_range r[] = {
		{ UDK_AUDIO_S16_LE, 2, 48000, 48000 },
		{ UDK_AUDIO_S32_LE, 8, 44100, 96000 },
	};
	struct udk_audio_format a = { 48000, 2, UDK_AUDIO_S16_LE }, b = { 88200, 8, UDK_AUDIO_S32_LE },
				 c = { 44100, 2, UDK_AUDIO_S16_LE }, d = { 48000, 8, UDK_AUDIO_S16_LE };
	char text[200];

	ASSERT_TRUE(audio_format_allowed(r, 2, &a));
	ASSERT_TRUE(audio_format_allowed(r, 2, &b));
	ASSERT_FALSE(audio_format_allowed(r, 2, &c));
	ASSERT_FALSE(audio_format_allowed(r, 2, &d));
	audio_formats_describe(r, 2, text, sizeof(text));
	ASSERT_STREQ(text, "S16_LE 2ch 48000 Hz; S32_LE 8ch 44100-96000 Hz");
}

TEST(format_values_round_trip_and_bad_ones_refused)
{
	struct udk_audio_format_range r[] = { { UDK_AUDIO_S24_3LE, 6, 32000, 192000 } }, back[AUDIO_MAX_FORMATS];
	struct udk_value *v = audio_formats_to_value(r, 1), *bad;
	uint32_t n = 0;
	char why[300];

	ASSERT_TRUE(audio_formats_from_value(v, back, AUDIO_MAX_FORMATS, &n, why, sizeof(why)));
	ASSERT_EQ(n, 1);
	ASSERT_TRUE(!memcmp(back, r, sizeof(r)));
	/* a string where a number goes, a negative rate, an unknown format */
	bad = udk_value_copy(v);
	udk_dict_set_string(udk_array_get(bad, 0), "channels", "two");
	ASSERT_FALSE(audio_formats_from_value(bad, back, AUDIO_MAX_FORMATS, &n, why, sizeof(why)));
	ASSERT_CONTAINS(why, "format 0 must be");
	udk_value_unref(bad);
	bad = udk_value_copy(v);
	udk_dict_set_int(udk_array_get(bad, 0), "rate_min", -1);
	ASSERT_FALSE(audio_formats_from_value(bad, back, AUDIO_MAX_FORMATS, &n, why, sizeof(why)));
	udk_value_unref(bad);
	bad = udk_value_copy(v);
	udk_dict_set_string(udk_array_get(bad, 0), "sample_format", "U8");
	ASSERT_FALSE(audio_formats_from_value(bad, back, AUDIO_MAX_FORMATS, &n, why, sizeof(why)));
	udk_value_unref(bad);
	bad = udk_value_new_dict();
	ASSERT_FALSE(audio_formats_from_value(bad, back, AUDIO_MAX_FORMATS, &n, why, sizeof(why)));
	udk_value_unref(bad);
	udk_value_unref(v);
}

static struct udk_value *
description(void)
{
	struct udk_audio_format_range r[] = { { UDK_AUDIO_S16_LE, 2, 48000, 48000 } };
	struct udk_value *d = udk_value_new_dict(), *streams = udk_value_new_array(), *s = udk_value_new_dict();
	struct udk_value *controls = udk_value_new_array(), *c = udk_value_new_dict(), *items = udk_value_new_array();

	udk_dict_set_string(d, "UDKAudioName", "mydac");
	udk_dict_set_string(d, "UDKAudioDescription", "My DAC");
	udk_dict_set_string(s, "name", "Out");
	udk_dict_set_string(s, "direction", "output");
	udk_dict_set_take(s, "formats", audio_formats_to_value(r, 1));
	udk_array_append_take(streams, s);
	udk_dict_set_take(d, "UDKAudioStreams", streams);
	udk_dict_set_string(c, "name", "Clock Source");
	udk_dict_set_string(c, "kind", "selector");
	udk_dict_set_int(c, "value", 1);
	udk_array_append_take(items, udk_value_new_string("Internal"));
	udk_array_append_take(items, udk_value_new_string("Word Clock"));
	udk_dict_set_take(c, "items", items);
	udk_array_append_take(controls, c);
	udk_dict_set_take(d, "UDKAudioControls", controls);
	return d;
}

static void
refused(struct udk_value *d, const char *want)
{
	char why[400] = "";
	struct udk_value *clean = audio_state_check(d, why, sizeof(why));

	test_log("%s", why);
	if (clean)
		FAIL("a bad description was accepted (wanted: %s)", want);
	ASSERT_CONTAINS(why, want);
	udk_value_unref(d);
}

TEST(device_descriptions_checked)
{
	struct udk_value *d = description(), *clean;
	char why[400];

	clean = audio_state_check(d, why, sizeof(why));
	ASSERT_NOT_NULL(clean);
	ASSERT_STREQ(udk_dict_get_string(clean, "UDKAudioVisibility"), "always");
	udk_value_unref(clean);
	/* unknown keys are dropped, known ones kept */
	udk_dict_set_string(d, "IOClass", "sneaky");
	clean = audio_state_check(d, why, sizeof(why));
	ASSERT_NOT_NULL(clean);
	ASSERT_TRUE(udk_dict_get(clean, "IOClass") == NULL);
	udk_value_unref(clean);
	udk_value_unref(d);

	d = description();
	udk_dict_set_string(d, "UDKAudioName", "My DAC");
	refused(d, "UDKAudioName");
	d = description();
	udk_dict_set_string(d, "UDKAudioDescription", "a|b");
	refused(d, "without '|'");
	d = description();
	udk_dict_set_take(d, "UDKAudioStreams", udk_value_new_array());
	refused(d, "1..8 streams");
	d = description();
	udk_dict_set_string(udk_array_get(udk_dict_get(d, "UDKAudioStreams"), 0), "direction", "sideways");
	refused(d, "direction");
	d = description();
	udk_dict_set_take(udk_array_get(udk_dict_get(d, "UDKAudioStreams"), 0), "formats", udk_value_new_array());
	refused(d, "at least one format");
	d = description();
	udk_dict_set_int(udk_array_get(udk_dict_get(d, "UDKAudioControls"), 0), "value", 2);
	refused(d, "a value among them");
	d = description();
	udk_dict_set_string(udk_array_get(udk_dict_get(d, "UDKAudioControls"), 0), "kind", "knob");
	refused(d, "kind must be");
	d = description();
	udk_dict_set_string(d, "UDKAudioVisibility", "sometimes");
	refused(d, "UDKAudioVisibility");
}

TEST(names)
{
	char why[200];

	ASSERT_TRUE(audio_name_ok("loopback", why, sizeof(why)));
	ASSERT_TRUE(audio_name_ok("usb-dac_2", why, sizeof(why)));
	ASSERT_FALSE(audio_name_ok("", why, sizeof(why)));
	ASSERT_FALSE(audio_name_ok("Loop", why, sizeof(why)));
	ASSERT_CONTAINS(why, "udk:NAME");
	ASSERT_FALSE(audio_name_ok("a:b", why, sizeof(why)));
	ASSERT_FALSE(audio_name_ok("abcdefghijklmnopqrstuvwxyz0123456", why, sizeof(why)));
}

TEST(ring_layout)
{
	/* the three parties' parts of the header sit on their own cache lines */
	ASSERT_EQ(offsetof(struct audio_ring_header, pos_seq) % 64, 0);
	ASSERT_EQ(offsetof(struct audio_ring_header, appl_frames) % 64, 0);
	ASSERT_EQ(offsetof(struct audio_ring_header, state) % 64, 0);
	ASSERT_TRUE(sizeof(struct audio_ring_header) <= AUDIO_RING_DATA_OFFSET);
}
