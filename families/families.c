/* SPDX-License-Identifier: MIT */
/*
 * families.c - what udkd knows about families beyond the ones it loads.
 * The families it loads are listed in families/meson.build (family_names),
 * from which the build generates the registration table.
 */
#include "family.h"

/* DriverKit classes of families udk does not have, for `udkctl explain`. */
const struct udkd_absent_class udkd_absent_classes[] = {
	{ "IOUserNetworkEthernet", "networking" },
	{ "IOUserNetworkPacketBufferPool", "networking" },
	{ "IOUserMIDIDriver", "midi" },
	{ "IOUserGraphics", "graphics" },
	{ "IOUserVideoDriver", "video" },
	{ NULL, NULL },
};
