/* SPDX-License-Identifier: MIT */
/*
 * scsi/daemon/scsi.c - the SCSI family's udkd side (daemon/family.h).
 *
 * Today: its classes as DriverKit names them and its entitlements:
 * family.scsicontroller to run as a SCSI controller (host bus adapter),
 * transport.scsi to match the peripheral nubs a controller publishes per
 * LUN or to run as a peripheral driver.  (macOS asks no entitlement of its
 * own for peripheral drivers; udk does, so that no family's services are
 * open to every bundle: docs/driverkit-compat.md.)  Controllers and
 * peripherals come with the family's driver API (docs/families/scsi.md).
 */
#include "family.h"

static const struct udkd_family_class scsi_classes[] = {
	{ "IOSCSIParallelInterfaceController", "IOService", "family.scsicontroller", NULL },
	{ "IOUserSCSIParallelInterfaceController", "IOSCSIParallelInterfaceController", NULL, "SCSI controller" },
	{ "IOSCSIPeripheralDeviceNub", "IOService", "transport.scsi", NULL },
	{ "IOUserSCSIPeripheralDeviceType00", "IOService", "transport.scsi", "SCSI peripheral (block commands)" },
	{ "IOUserSCSIPeripheralDeviceType05", "IOService", "transport.scsi", "SCSI peripheral (multimedia commands)" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement scsi_entitlements[] = {
	{ "family.scsicontroller", NULL, NULL },
	{ "transport.scsi", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_scsi = {
	UDKD_FAMILY_INIT,
	.name = "scsi",
	.title = "SCSI controllers and peripherals",
	.docs = "docs/families/scsi.md",
	.classes = scsi_classes,
	.entitlements = scsi_entitlements,
};

