/* SPDX-License-Identifier: MIT */
/*
 * hid-events - udk's generic HID event service (IOUserHIDEventService):
 * it reads any HID device it is matched to and hands its keyboard,
 * pointer, scroll and consumer events, and its raw reports, to the apps
 * that open its user client (<udk/families/hid-client.h>; the udk-hid
 * tool's `events` command is one).  Keyboards need the user's grant
 * (`udkctl access grant --hid keyboard org.udk.hid-events`); apps need
 * access to this driver (`udkctl access grant org.udk.hid-events APP`).
 */
#include <udk/families/hid.h>

struct ivars {
	struct udk_hid_event_service *svc;
};

static int
events_start(struct udk_service *self, struct udk_service *provider)
{
	struct ivars *iv = udk_service_get_ivars(self);
	int r = udk_hid_event_service_start(self, provider, 0, NULL, NULL, &iv->svc);

	if (r < 0)
		return r;
	return udk_service_register(self);
}

static int
events_stop(struct udk_service *self, struct udk_service *provider)
{
	struct ivars *iv = udk_service_get_ivars(self);

	(void)provider;
	udk_hid_event_service_stop(iv->svc);
	iv->svc = NULL;
	return 0;
}

static const struct udk_class events_class = {
	UDK_CLASS_INIT,
	.name = "UDKHIDEventDriver",
	.ivars_size = sizeof(struct ivars),
	.start = events_start,
	.stop = events_stop,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &events_class, &udk_hid_event_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
