/* SPDX-License-Identifier: MIT */
/*
 * @@name@@-model - a simulated @@Name@@ temperature sensor: a device model.
 *
 * udkd starts it for each device of machine.plist whose Model is
 * "@@name@@-model", and its driver reaches it exactly as it would real
 * hardware: register reads and writes through the PCI family.  The
 * temperature comes from the device's Properties (Temperature, in
 * thousandths of a degree Celsius); change it and restart the model with
 * `udkctl sim unplug NAME` and `udkctl sim plug NAME`.
 */
#include <stdio.h>

#include <udk/families/pci-devmodel.h>

#include "@@name@@-regs.h"

struct sensor {
	int32_t millicelsius;
	uint32_t samples;
};

/* Called on the model's main thread for every register read of the driver. */
static uint64_t
mmio_read(struct udk_dm_function *fn, int bar, uint64_t offset, unsigned width)
{
	struct sensor *s = udk_dm_function_get_userdata(fn);

	(void)width;
	if (bar != 0)
		return 0;
	switch (offset) {
	case @@NAME@@_REG_ID:
		return @@NAME@@_ID_MAGIC;
	case @@NAME@@_REG_TEMPERATURE:
		s->samples++;
		return (uint32_t)s->millicelsius;
	case @@NAME@@_REG_SAMPLES:
		return s->samples;
	default:
		return 0;
	}
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_ops ops = {
		UDK_DM_OPS_INIT,
		.mmio_read = mmio_read,
	};
	struct udk_dm_pci_config cfg = {
		.vendor_id = @@NAME@@_VENDOR_ID,
		.device_id = @@NAME@@_DEVICE_ID,
		.class_code = 0x118000,	/* signal processing controller, other */
		.bars = { [0] = { 4096, 0 } },
	};
	static struct sensor s;
	struct udk_dm *dm;
	struct udk_dm_function *fn;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 2;
	s.millicelsius = (int32_t)udk_dict_get_int(udk_dm_get_properties(dm), "Temperature", 21500);
	if (udk_dm_add_pci_function(dm, &cfg, &ops, &s, &fn) < 0) {
		fprintf(stderr, "@@name@@-model: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add the function");
		return 1;
	}
	return udk_dm_run(dm);
}
