/* SPDX-License-Identifier: MIT */
/*
 * block/daemon/block.c - the block storage family's udkd side
 * (daemon/family.h).
 *
 * Today: its classes as DriverKit names them and its entitlement,
 * family.block-storage-device.  Block devices and their export to Linux
 * come with the family's driver API (docs/families/block.md).
 */
#include "family.h"

static const struct udkd_family_class block_classes[] = {
	{ "IOBlockStorageDevice", "IOService", "family.block-storage-device", NULL },
	{ "IOUserBlockStorageDevice", "IOBlockStorageDevice", NULL, "block storage device" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement block_entitlements[] = {
	{ "family.block-storage-device", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_block = {
	UDKD_FAMILY_INIT,
	.name = "block",
	.title = "block storage devices",
	.docs = "docs/families/block.md",
	.classes = block_classes,
	.entitlements = block_entitlements,
};

