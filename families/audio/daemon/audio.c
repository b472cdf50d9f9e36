/* SPDX-License-Identifier: MIT */
/*
 * audio/daemon/audio.c - the audio family's udkd side (daemon/family.h).
 *
 * Today: its classes as DriverKit names them and its entitlement,
 * family.audio.  Audio devices and their export to ALSA come with the
 * family's driver API (docs/families/audio.md).
 */
#include "family.h"

static const struct udkd_family_class audio_classes[] = {
	{ "IOUserAudioDriver", "IOService", "family.audio", "audio driver" },
	{ "IOUserAudioDevice", "IOService", "family.audio", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement audio_entitlements[] = {
	{ "family.audio", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_audio = {
	UDKD_FAMILY_INIT,
	.name = "audio",
	.title = "audio devices",
	.docs = "docs/families/audio.md",
	.classes = audio_classes,
	.entitlements = audio_entitlements,
};

