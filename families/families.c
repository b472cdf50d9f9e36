/* SPDX-License-Identifier: MIT */
/*
 * families.c - the registration table: the one place that lists the
 * families udkd loads (daemon/family.h).  A new family adds its folder
 * families/<name>/ and one line here (and one in families/meson.build).
 */
#include "family.h"

extern const struct udkd_family udkd_family_pci;
extern const struct udkd_family udkd_family_usb;
extern const struct udkd_family udkd_family_serial;
extern const struct udkd_family udkd_family_hid;
extern const struct udkd_family udkd_family_scsi;
extern const struct udkd_family udkd_family_block;
extern const struct udkd_family udkd_family_audio;

const struct udkd_family *const udkd_families[] = {
	&udkd_family_pci,
	&udkd_family_usb,
	&udkd_family_serial,
	&udkd_family_hid,
	&udkd_family_scsi,
	&udkd_family_block,
	&udkd_family_audio,
};

const size_t udkd_n_families = sizeof(udkd_families) / sizeof(udkd_families[0]);

/* DriverKit classes of families udk does not have, for `udkctl explain`. */
const struct udkd_absent_class udkd_absent_classes[] = {
	{ "IOUserNetworkEthernet", "networking" },
	{ "IOUserNetworkPacketBufferPool", "networking" },
	{ "IOUserMIDIDriver", "midi" },
	{ "IOUserGraphics", "graphics" },
	{ "IOUserVideoDriver", "video" },
	{ NULL, NULL },
};
