/* SPDX-License-Identifier: MIT */
/*
 * The USB descriptor reader (families/usb/common/desc.c) on good and bad
 * input: every problem is caught and said in words, nothing is read past
 * the end (the fuzz target tests/fuzz/fuzz-usb.c goes further).
 */
#include <string.h>

#include "test.h"
#include "usb-desc.h"

static const uint8_t good[] = {
	18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x09, 0x12, 0x01, 0x00, 0x00, 0x01, 1, 2, 3, 1,
	9, 2, 44, 0, 2, 1, 0, 0x80, 50,
	9, 4, 0, 0, 2, 0xff, 0, 0, 0,
	7, 5, 0x01, 2, 0x00, 0x02, 0,
	7, 5, 0x81, 2, 0x00, 0x02, 0,
	9, 4, 1, 0, 0, 0x0a, 0, 0, 0,
	/* a class-specific descriptor after interface 1 */
	3, 0x24, 0x00,
};

static struct usb_descs *
parse_ok(const uint8_t *p, size_t len)
{
	struct usb_descs *d = NULL;

	ASSERT_OK(usb_descs_parse(p, len, &d));
	ASSERT_NOT_NULL(d);
	return d;
}

TEST(a_good_set_reads_whole)
{
	struct usb_descs *d = parse_ok(good, sizeof(good));
	const struct usb_config *c = usb_descs_config(d, 1);
	const struct usb_alt *a;

	ASSERT_EQ(d->dev.idVendor, 0x1209);
	ASSERT_EQ(d->dev.idProduct, 0x0001);
	ASSERT_EQ(d->n_configs, 1);
	ASSERT_NOT_NULL(c);
	ASSERT_NULL(c->problem);
	ASSERT_EQ(c->n_ifaces, 2);
	a = usb_iface_alt(usb_config_iface(c, 0), 0);
	ASSERT_EQ(a->n_eps, 2);
	ASSERT_EQ(usb_alt_endpoint(a, 0x81)->d.wMaxPacketSize, 512);
	a = usb_iface_alt(usb_config_iface(c, 1), 0);
	ASSERT_EQ(a->extra_len, 3);
	ASSERT_NULL(usb_descs_config(d, 2));
	usb_descs_free(d);
}

static void
expect_problem(const uint8_t *p, size_t len, const char *words)
{
	struct usb_descs *d = parse_ok(p, len);

	ASSERT_TRUE(d->n_configs >= 1);
	ASSERT_NOT_NULL(d->configs[0].problem);
	ASSERT_CONTAINS(d->configs[0].problem, words);
	usb_descs_free(d);
}

TEST(bad_configurations_keep_the_device_and_say_why)
{
	uint8_t b[sizeof(good)];

	/* more interfaces claimed than held */
	memcpy(b, good, sizeof(b));
	b[18 + 4] = 3;
	expect_problem(b, sizeof(b), "claims 3 interfaces (bNumInterfaces) but holds 2");
	/* max packet 0 on a bulk endpoint */
	memcpy(b, good, sizeof(b));
	b[18 + 9 + 9 + 7 + 4] = 0;
	b[18 + 9 + 9 + 7 + 5] = 0;
	expect_problem(b, sizeof(b), "endpoint 0x81 (bulk) of interface 0 alternate 0 has wMaxPacketSize 0");
	/* an endpoint count that does not add up */
	memcpy(b, good, sizeof(b));
	b[18 + 9 + 4] = 3;
	expect_problem(b, sizeof(b), "declares bNumEndpoints 3 but 2 endpoint descriptors follow");
	/* wTotalLength past the end */
	memcpy(b, good, sizeof(b));
	b[18 + 2] = 200;
	expect_problem(b, sizeof(b), "wTotalLength 200 but only 44 bytes of descriptors follow");
	/* a descriptor with bLength 0 (a loop, were it not caught) */
	memcpy(b, good, sizeof(b));
	b[18 + 9 + 9] = 0;
	expect_problem(b, sizeof(b), "has bLength 0 (at least 2)");
	/* bLength past the configuration's end */
	memcpy(b, good, sizeof(b));
	b[sizeof(b) - 3] = 9;
	expect_problem(b, sizeof(b), "has bLength 9, past the end of the configuration");
	/* an endpoint before any interface */
	{
		const uint8_t e[] = { 18, 1, 0, 2, 0, 0, 0, 64, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1,
				      9, 2, 16, 0, 0, 1, 0, 0x80, 50, 7, 5, 0x81, 2, 0, 2, 0 };
		expect_problem(e, sizeof(e), "an endpoint descriptor before any interface descriptor");
	}
	/* more configurations announced than there are */
	memcpy(b, good, sizeof(b));
	b[17] = 2;
	{
		struct usb_descs *d = parse_ok(b, sizeof(b));
		ASSERT_EQ(d->n_configs, 2);
		ASSERT_NULL(d->configs[0].problem);
		ASSERT_CONTAINS(d->configs[1].problem, "says it has 2 configurations but the descriptors hold only 1");
		usb_descs_free(d);
	}
}

TEST(a_bad_device_descriptor_is_refused)
{
	uint8_t b[sizeof(good)];
	struct usb_descs *d = NULL;

	ASSERT_ERR(usb_descs_parse(good, 10, &d), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "the device descriptor is 10 bytes; it must be 18");
	memcpy(b, good, sizeof(b));
	b[0] = 17;
	ASSERT_ERR(usb_descs_parse(b, sizeof(b), &d), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "bLength 17");
	memcpy(b, good, sizeof(b));
	b[7] = 7;
	ASSERT_ERR(usb_descs_parse(b, sizeof(b), &d), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "bMaxPacketSize0 is 7");
	ASSERT_NULL(d);
}

TEST(strings_convert_both_ways)
{
	uint8_t raw[64];
	char out[64];
	size_t n = usb_string_from_utf8("Grüße €", raw, sizeof(raw));

	ASSERT_EQ(n, 2 + 7 * 2);
	ASSERT_EQ(usb_string_to_utf8(raw, n, out, sizeof(out)), (int)strlen("Grüße €"));
	ASSERT_STREQ(out, "Grüße €");
	raw[0] = 3; /* odd length */
	ASSERT_ERR(usb_string_to_utf8(raw, n, out, sizeof(out)), -EINVAL);
	raw[0] = (uint8_t)n;
	ASSERT_ERR(usb_string_to_utf8(raw, n, out, 4), -ENOBUFS);
}
