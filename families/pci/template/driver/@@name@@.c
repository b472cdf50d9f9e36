/* SPDX-License-Identifier: MIT */
/*
 * @@name@@ - the driver of the @@Name@@ temperature sensor, a PCI function
 * (simulated by model/@@name@@-model.c; a real one works the same way).
 *
 * udkd starts this executable when a PCI function matches the
 * personality in Info.plist (IOPCIPrimaryMatch) and the bundle holds the
 * entitlement for it (Entitlements.plist).  start() opens the function,
 * checks its ID register and registers the service, so that apps find it;
 * an app that opens it gets a user client, whose methods are declared in
 * @@name@@.xml.
 *
 * Threads: start, stop and every method run on the service's default
 * queue, one at a time, so the state below needs no lock.
 */
#include <udk/driver.h>
#include <udk/families/pci.h>
#include <udk/userclient.h>

#include "@@name@@-driver.h"	/* generated from @@name@@.xml by udk-iig */
#include "@@name@@-regs.h"

/* The driver's state: one per instance (udk_service_get_ivars). */
struct @@name@@ {
	struct udk_pci_device *pci;
};

static int
@@name@@_start(struct udk_service *self, struct udk_service *provider)
{
	struct @@name@@ *dev = udk_service_get_ivars(self);
	uint32_t id = 0;
	int r;

	r = udk_pci_open(provider, &dev->pci);
	if (r < 0)
		return r; /* the reason is set: udkctl drivers shows it */
	r = udk_pci_memory_read32(dev->pci, 0, @@NAME@@_REG_ID, &id);
	if (r < 0)
		return r;
	if (id != @@NAME@@_ID_MAGIC)
		return udk_error_set(-ENODEV, "BAR 0 does not look like a @@Name@@ sensor: ID register 0x%08x", id);
	udk_log_info("@@Name@@ sensor ready (%s backend)", udk_pci_get_backend(dev->pci));
	/* apps find the service from now on (udk_client_wait_for_service) */
	return udk_service_register(self);
}

static int
@@name@@_stop(struct udk_service *self, struct udk_service *provider)
{
	struct @@name@@ *dev = udk_service_get_ivars(self);

	(void)provider;
	udk_pci_close(dev->pci);
	dev->pci = NULL;
	return 0;
}

/*
 * ReadTemperature (@@name@@.xml).  The generated dispatch table checked the
 * call before it got here.  A user client's provider is the driver's
 * service: that is how it reaches the driver's state.
 */
int
@@name@@_handle_read_temperature(struct udk_service *uc, int64_t *ret_millicelsius, uint64_t *ret_samples)
{
	struct @@name@@ *dev = udk_service_get_ivars(udk_service_get_provider(uc));
	uint32_t t = 0, n = 0;
	int r;

	if ((r = udk_pci_memory_read32(dev->pci, 0, @@NAME@@_REG_TEMPERATURE, &t)) < 0 ||
	    (r = udk_pci_memory_read32(dev->pci, 0, @@NAME@@_REG_SAMPLES, &n)) < 0)
		return r;
	*ret_millicelsius = (int32_t)t;
	*ret_samples = n;
	return 0;
}

static const struct udk_class @@name@@_driver = {
	UDK_CLASS_INIT,
	.name = @@NAME@@_SERVICE_CLASS,		/* IOUserClass in Info.plist */
	.ivars_size = sizeof(struct @@name@@),
	.start = @@name@@_start,
	.stop = @@name@@_stop,
};

static const struct udk_class @@name@@_user_client = {
	UDK_CLASS_INIT,
	.name = @@NAME@@_USER_CLIENT_CLASS,	/* UserClientProperties.IOUserClass in Info.plist */
	.methods = @@name@@_dispatch,
	.n_methods = @@NAME@@_SELECTOR_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &@@name@@_driver, &@@name@@_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
