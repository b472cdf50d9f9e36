/* SPDX-License-Identifier: MIT */
/*
 * testdyn - a driver linked against the shared libudk-driver.so of the
 * build (the other test drivers link it statically).  Inside the sandbox
 * the build tree is not readable, so the loader fails and the process
 * exits with 127 at launch: test-systemd checks that udkd says which
 * library and what to do.  Without the sandbox it starts: DynDriver.
 */
#include <udk/driver.h>

static int
dyn_start(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	udk_log_info("testdyn: started, linked against libudk-driver.so");
	return udk_service_register(self);
}

static const struct udk_class dyn_driver = {
	UDK_CLASS_INIT,
	.name = "DynDriver",
	.start = dyn_start,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &dyn_driver, NULL };

	return udk_driver_main(argc, argv, classes);
}
