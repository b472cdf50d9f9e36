/* SPDX-License-Identifier: MIT */
/* hid/daemon/export.c - virtual HID devices exported to Linux (uhid, uinput). */
#include "hid-private.h"
#include "util.h"

int
hid_export_create(struct udkd *d, struct hid_dev *dev, const char *how, const struct udk_value *props)
{
	(void)d;
	(void)dev;
	(void)how;
	(void)props;
	return 0;
}

void
hid_export_destroy(struct udkd *d, struct hid_dev *dev)
{
	(void)d;
	(void)dev;
}

void
hid_export_input(struct udkd *d, struct hid_dev *dev, const uint8_t *report, size_t len)
{
	(void)d;
	(void)dev;
	(void)report;
	(void)len;
}

const char *
hid_export_kind(const struct hid_dev *dev)
{
	(void)dev;
	return "none";
}

struct udk_value *
hid_export_describe(const struct hid_dev *dev)
{
	(void)dev;
	return udk_value_new_dict();
}
