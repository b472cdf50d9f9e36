/* SPDX-License-Identifier: MIT */
/*
 * The audio family's checks on what crosses a process boundary
 * (families/audio/common/formats.c): a device description a driver
 * publishes (udkd checks it before the registry; the ALSA plugin checks
 * what it reads back), after the value decoder.
 */
#include "../../families/audio/common/audio-common.h"
#include "util.h"
#include "value-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_value *v = NULL, *out;
	struct udk_audio_format_range f[32];
	uint32_t n = 0;
	char why[400];

	if (value_decode(data, size, &v) < 0)
		return 0;
	out = audio_state_check(udk_dict_get(v, "state") ? udk_dict_get(v, "state") : v, why, sizeof(why));
	if (out) {
		/* what passes is clean: checking it again passes, every stream's
		 * formats decode and check */
		struct udk_value *again = audio_state_check(out, why, sizeof(why));
		const struct udk_value *streams = udk_dict_get(out, "UDKAudioStreams");
		if (!again)
			abort();
		udk_value_unref(again);
		for (size_t i = 0; i < udk_array_size(streams); i++)
			if (!audio_formats_from_value(udk_dict_get(udk_array_get(streams, i), "formats"), f, 32, &n, why,
						      sizeof(why)) ||
			    !audio_formats_check(f, n, why, sizeof(why)))
				abort();
		udk_value_unref(out);
	}
	if (audio_formats_from_value(udk_dict_get(v, "formats"), f, 32, &n, why, sizeof(why))) {
		char text[2048];
		audio_formats_describe(f, n, text, sizeof(text));
		if (!n || n > 32)
			abort();
	}
	udk_value_unref(v);
	return 0;
}
