/* SPDX-License-Identifier: MIT */
/* Family matching keys: PCI id lists with masks, USB key sets and scores. */
#include "family-match.h"

extern const struct family_matcher pci_family_matcher;
extern const struct family_matcher usb_family_matcher;
#include "test.h"
#include "util.h"

struct diags {
	int errors;
	char last[256];
};

static void
collect(void *ctx, bool error, const char *key, const char *message)
{
	struct diags *d = ctx;

	if (error)
		d->errors++;
	snprintf(d->last, sizeof(d->last), "%s: %s", key, message);
}

static struct udk_value *
pci_props(uint32_t vendor, uint32_t device, uint32_t class_code)
{
	struct udk_value *p = udk_value_new_dict();

	udk_dict_set_int(p, "vendor-id", vendor);
	udk_dict_set_int(p, "device-id", device);
	udk_dict_set_int(p, "subsystem-vendor-id", 0x1af4);
	udk_dict_set_int(p, "subsystem-id", 0x0001);
	udk_dict_set_int(p, "class-code", class_code);
	return p;
}

TEST(pci_primary_match_with_masks)
{
	struct udk_value *pers = udk_value_new_dict();
	struct udk_value *props = pci_props(0x8086, 0x1001, 0x020000);
	struct udk_value *report = udk_value_new_array();
	int64_t score = 0;

	udk_dict_set_string(pers, "IOPCIPrimaryMatch", "0x12348086 0x10018086");
	ASSERT_TRUE(pci_family_matcher.match(pers, props, &score, report));
	udk_dict_set_string(pers, "IOPCIPrimaryMatch", "0x10008086&0xff00ffff");
	ASSERT_TRUE(pci_family_matcher.match(pers, props, &score, NULL));
	udk_dict_set_string(pers, "IOPCIPrimaryMatch", "0x10028086");
	ASSERT_FALSE(pci_family_matcher.match(pers, props, &score, report));
	ASSERT_CONTAINS(udk_dict_get_string(udk_array_get(report, 1), "detail"),
			"device/vendor 0x10018086 is not in \"0x10028086\"");
	/* the development wildcard from "How to sign a DEXT" */
	udk_dict_set_string(pers, "IOPCIPrimaryMatch", "0xFFFFFFFF&0x00000000");
	ASSERT_TRUE(pci_family_matcher.match(pers, props, &score, NULL));
	udk_value_unref(report);
	udk_value_unref(props);
	udk_value_unref(pers);
}

TEST(pci_class_and_secondary_match)
{
	struct udk_value *pers = udk_value_new_dict();
	struct udk_value *props = pci_props(0x1af4, 0x1041, 0x020000);
	int64_t score = 0;

	udk_dict_set_string(pers, "IOPCIClassMatch", "0x02000000&0xffff0000");
	ASSERT_TRUE(pci_family_matcher.match(pers, props, &score, NULL));
	udk_dict_set_string(pers, "IOPCIClassMatch", "0x01000000&0xff000000");
	ASSERT_FALSE(pci_family_matcher.match(pers, props, &score, NULL));
	udk_dict_remove(pers, "IOPCIClassMatch");
	udk_dict_set_string(pers, "IOPCISecondaryMatch", "0x00011af4");
	ASSERT_TRUE(pci_family_matcher.match(pers, props, &score, NULL));
	udk_dict_set_string(pers, "IOPCIMatch", "0x00011af4");
	ASSERT_TRUE(pci_family_matcher.match(pers, props, &score, NULL));
	ASSERT_EQ(score, 0);
	udk_value_unref(props);
	udk_value_unref(pers);
}

TEST(pci_bad_syntax_is_reported)
{
	struct udk_value *pers = udk_value_new_dict();
	struct diags d = { 0 };

	udk_dict_set_string(pers, "IOPCIPrimaryMatch", "0x10018086&zz");
	pci_family_matcher.validate(pers, collect, &d);
	ASSERT_EQ(d.errors, 1);
	ASSERT_CONTAINS(d.last, "IOPCIPrimaryMatch: \"0x10018086&zz\" is not of the form 0xDDDDVVVV&0xMMMMMMMM");
	udk_dict_set_int(pers, "IOPCIPrimaryMatch", 5);
	pci_family_matcher.validate(pers, collect, &d);
	ASSERT_CONTAINS(d.last, "must be a <string>");
	udk_dict_set_string(pers, "IOPCIPrimaryMatch", "");
	pci_family_matcher.validate(pers, collect, &d);
	ASSERT_CONTAINS(d.last, "the list is empty");
	udk_value_unref(pers);
}

static struct udk_value *
usb_device(int vid, int pid, int bcd, int cls)
{
	struct udk_value *p = udk_value_new_dict();

	udk_dict_set_int(p, "idVendor", vid);
	udk_dict_set_int(p, "idProduct", pid);
	udk_dict_set_int(p, "bcdDevice", bcd);
	udk_dict_set_int(p, "bDeviceClass", cls);
	udk_dict_set_int(p, "bDeviceSubClass", 2);
	udk_dict_set_int(p, "bDeviceProtocol", 3);
	return p;
}

static int64_t
usb_score(const char *provider, struct udk_value *props, const char *keys[], const int vals[])
{
	struct udk_value *pers = udk_value_new_dict();
	int64_t score = 0;
	bool m;

	udk_dict_set_string(pers, "IOProviderClass", provider);
	for (int i = 0; keys[i]; i++)
		udk_dict_set_int(pers, keys[i], vals[i]);
	m = usb_family_matcher.match(pers, props, &score, NULL);
	udk_value_unref(pers);
	return m ? score : -1;
}

TEST(usb_scores_follow_the_matching_table)
{
	struct udk_value *dev = usb_device(0x05ac, 0x1234, 0x0100, 0xff);

	ASSERT_EQ(usb_score("IOUSBHostDevice", dev, (const char *[]){ "idVendor", "idProduct", "bcdDevice", NULL },
			    (const int[]){ 0x05ac, 0x1234, 0x0100 }),
		  100000);
	ASSERT_EQ(usb_score("IOUSBHostDevice", dev, (const char *[]){ "idVendor", "idProduct", NULL },
			    (const int[]){ 0x05ac, 0x1234 }),
		  90000);
	ASSERT_EQ(usb_score("IOUSBHostDevice", dev,
			    (const char *[]){ "idVendor", "bDeviceSubClass", "bDeviceProtocol", NULL },
			    (const int[]){ 0x05ac, 2, 3 }),
		  80000);
	ASSERT_EQ(usb_score("IOUSBHostDevice", dev, (const char *[]){ "bDeviceClass", "bDeviceSubClass", NULL },
			    (const int[]){ 0xff, 2 }),
		  50000);
	/* a wrong product never matches */
	ASSERT_EQ(usb_score("IOUSBHostDevice", dev, (const char *[]){ "idVendor", "idProduct", NULL },
			    (const int[]){ 0x05ac, 0x9999 }),
		  -1);
	/* vendor-class sets only count for class 0xff */
	udk_value_unref(dev);
	dev = usb_device(0x05ac, 0x1234, 0x0100, 0x02);
	ASSERT_EQ(usb_score("IOUSBHostDevice", dev,
			    (const char *[]){ "idVendor", "bDeviceSubClass", "bDeviceProtocol", NULL },
			    (const int[]){ 0x05ac, 2, 3 }),
		  0);
	udk_value_unref(dev);
}

TEST(usb_validation)
{
	struct udk_value *pers = udk_value_new_dict();
	struct diags d = { 0 };

	udk_dict_set_string(pers, "idVendor", "0x05ac");
	udk_dict_set_int(pers, "bInterfaceClass", 300);
	usb_family_matcher.validate(pers, collect, &d);
	ASSERT_EQ(d.errors, 2);
	ASSERT_CONTAINS(d.last, "bInterfaceClass: value 300 is outside 0..255");
	udk_value_unref(pers);
}
