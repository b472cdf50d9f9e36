/* SPDX-License-Identifier: MIT */
/*
 * @@name@@-regs.h - the @@Name@@ sensor's registers: what the driver
 * (driver/@@name@@.c) and the simulated device (model/@@name@@-model.c)
 * agree on.  A real device's datasheet takes this file's place.
 */
#ifndef @@NAME@@_REGS_H
#define @@NAME@@_REGS_H

/* The PCI function: IOPCIPrimaryMatch @@primary_match@@ in Info.plist and Entitlements.plist. */
#define @@NAME@@_VENDOR_ID @@vendor_id@@
#define @@NAME@@_DEVICE_ID @@device_id@@

/* BAR 0, 32-bit registers */
#define @@NAME@@_REG_ID 0x00		/* reads @@NAME@@_ID_MAGIC */
#define @@NAME@@_REG_TEMPERATURE 0x04	/* the temperature, thousandths of a degree Celsius (signed) */
#define @@NAME@@_REG_SAMPLES 0x08	/* temperatures read so far, this one included */

#define @@NAME@@_ID_MAGIC 0x75646b01u

#endif
