/* SPDX-License-Identifier: MIT */
/*
 * families/hid-devmodel.h - simulated HID devices: the HID kind of device
 * model (the generic part is <udk/devmodel.h>).
 *
 *	udk_dm_add_hid_function(dm, &config, &ops, state, &fn);
 *	...
 *	udk_dm_hid_input_report(fn, report, len);	// a key went down
 *
 * udkd parses the report descriptor when the model says hello (a bad one
 * stops the model with the parser's named problem) and publishes an
 * IOHIDDevice under HIDSimulated with the config's properties.  Input
 * reports go to udkd, which checks them against the descriptor and hands
 * them to the drivers reading the device, as for a real one.  Drivers'
 * output and feature reports come to set_report; get_report answers
 * getReport.  Callbacks run on the model's main thread;
 * udk_dm_hid_input_report() may be called from any thread.
 */
#ifndef UDK_FAMILIES_HID_DEVMODEL_H
#define UDK_FAMILIES_HID_DEVMODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <udk/devmodel.h>
#include <udk/families/hid-descriptor.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_dm_hid_config {
	uint32_t struct_size;		/* sizeof(struct udk_dm_hid_config) */
	const uint8_t *descriptor;	/* the report descriptor (copied) */
	size_t descriptor_len;
	uint32_t vendor_id, product_id, version;
	const char *transport;		/* "USB", "i8042", "SPI", "Bluetooth" ...; NULL: "USB" */
	const char *product, *manufacturer, *serial;	/* may be NULL */
	bool built_in;			/* a laptop's own keyboard, say */
	uint32_t location_id;
};

struct udk_dm_hid_ops {
	uint32_t struct_size;		/* sizeof(struct udk_dm_hid_ops) */
	/* An output or feature report from a driver (report ID first when numbered). */
	int (*set_report)(struct udk_dm_function *fn, enum udk_hid_report_type type, const uint8_t *report,
			  size_t len);
	/* getReport: report @report_id of @type into @buf, its length in *ret_len. */
	int (*get_report)(struct udk_dm_function *fn, enum udk_hid_report_type type, uint8_t report_id, uint8_t *buf,
			  size_t cap, size_t *ret_len);
};

#define UDK_DM_HID_CONFIG_INIT .struct_size = sizeof(struct udk_dm_hid_config)
#define UDK_DM_HID_OPS_INIT .struct_size = sizeof(struct udk_dm_hid_ops)

UDK_EXPORT int udk_dm_add_hid_function(struct udk_dm *dm, const struct udk_dm_hid_config *config,
				       const struct udk_dm_hid_ops *ops, void *userdata, struct udk_dm_function **ret);
/* An input report; @len and its ID must be the descriptor's (udkd drops and counts others). */
UDK_EXPORT int udk_dm_hid_input_report(struct udk_dm_function *fn, const uint8_t *report, size_t len);

#ifdef __cplusplus
}
#endif
#endif
