/* SPDX-License-Identifier: MIT */
/* hid/daemon/evdev.c - Linux input devices as HID devices. */
#include "hid-private.h"
#include "util.h"

int
hid_evdev_start(struct udkd *d)
{
	(void)d;
	return 0;
}

void
hid_evdev_fini(struct udkd *d)
{
	(void)d;
}

int
hid_evdev_grab(struct hid_dev *dev, bool on)
{
	(void)dev;
	(void)on;
	return 0;
}

void
hid_evdev_give_back(struct udkd *d, struct hid_dev *dev, const struct hid_frame *f)
{
	(void)d;
	(void)dev;
	(void)f;
}

void
hid_evdev_watch(struct udkd *d, struct hid_dev *dev, bool on)
{
	(void)d;
	(void)dev;
	(void)on;
}

int
hid_hidraw_start(struct udkd *d)
{
	(void)d;
	return 0;
}

void
hid_hidraw_fini(struct udkd *d)
{
	(void)d;
}

void
hid_hidraw_watch(struct udkd *d, struct hid_dev *dev, bool on)
{
	(void)d;
	(void)dev;
	(void)on;
}

void
hid_hidraw_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev, bool get)
{
	(void)d;
	(void)dev;
	(void)get;
	proc_reply(p, m, -UDK_E_UNSUPPORTED, "raw HID devices are not published by this udkd", NULL, NULL, 0);
}
