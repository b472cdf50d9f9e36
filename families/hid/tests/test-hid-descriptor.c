/* SPDX-License-Identifier: MIT */
/*
 * The report-descriptor parser and the usage tables: real descriptors
 * (boot keyboard, mouse with report IDs, consumer control) read as the
 * HID spec says, every kind of bad descriptor refused with its named
 * problem and offset, reports of the wrong length refused, values read
 * and written bit-exactly, usages to Linux codes and back.
 */
#include <linux/input-event-codes.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/hid-descriptor.h>
#include <udk/families/hid-usage.h>

#include "test.h"

/* a three-button mouse with a wheel (report 1) and a consumer control (report 2) */
static const uint8_t mouse_consumer[] = {
	0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x85, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01,
	0x29, 0x03, 0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x05,
	0x81, 0x01, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x38, 0x15, 0x81, 0x25, 0x7f, 0x75, 0x08,
	0x95, 0x03, 0x81, 0x06, 0xc0, 0xc0, 0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01, 0x85, 0x02, 0x19, 0x00,
	0x2a, 0x3c, 0x02, 0x15, 0x00, 0x26, 0x3c, 0x02, 0x95, 0x01, 0x75, 0x10, 0x81, 0x00, 0xc0,
};

static struct udk_hid_descriptor *
parse_ok(const uint8_t *d, size_t len)
{
	struct udk_hid_descriptor *desc = NULL;
	struct udk_hid_problem p;

	ASSERT_OK(udk_hid_descriptor_parse(d, len, &desc, &p));
	ASSERT_EQ(p.code, UDK_HID_OK);
	return desc;
}

static void
expect_refusal(const char *what, const uint8_t *d, size_t len, enum udk_hid_problem_code code, size_t offset)
{
	struct udk_hid_descriptor *desc = NULL;
	struct udk_hid_problem p;
	int r = udk_hid_descriptor_parse(d, len, &desc, &p);

	printf("# %s: %s\n", what, udk_error_reason() ? udk_error_reason() : "(no reason)");
	ASSERT_ERR(r, -UDK_E_BAD_DESCRIPTOR);
	ASSERT_TRUE(desc == NULL);
	if (p.code != code)
		FAIL("%s: problem %s, expected %s", what, udk_hid_problem_name(p.code), udk_hid_problem_name(code));
	ASSERT_EQ(p.offset, offset);
	/* the sentence names the problem and the byte */
	ASSERT_NOT_NULL(udk_error_reason());
	ASSERT_TRUE(strstr(udk_error_reason(), udk_hid_problem_name(code)) != NULL);
}

TEST(boot_keyboard_reads_as_the_spec_says)
{
	size_t len;
	const uint8_t *bytes = udk_hid_boot_keyboard_descriptor(&len);
	struct udk_hid_descriptor *d = parse_ok(bytes, len);
	const struct udk_hid_field *mods, *keys, *leds;
	uint32_t usages[4];

	ASSERT_FALSE(udk_hid_descriptor_uses_report_ids(d));
	ASSERT_EQ(udk_hid_descriptor_report_length(d, UDK_HID_REPORT_INPUT, 0), 8);
	ASSERT_EQ(udk_hid_descriptor_report_length(d, UDK_HID_REPORT_OUTPUT, 0), 1);
	ASSERT_EQ(udk_hid_descriptor_report_length(d, UDK_HID_REPORT_FEATURE, 0), 0);
	ASSERT_EQ(udk_hid_descriptor_get_field_count(d), 5);
	mods = udk_hid_descriptor_get_field(d, 0);
	ASSERT_EQ(mods->type, UDK_HID_REPORT_INPUT);
	ASSERT_EQ(mods->bit_offset, 0);
	ASSERT_EQ(mods->bit_size, 1);
	ASSERT_EQ(mods->count, 8);
	ASSERT_TRUE(mods->flags & UDK_HID_FIELD_VARIABLE);
	ASSERT_EQ(mods->n_usages, 8);
	ASSERT_EQ(udk_hid_field_usage(mods, 1, 1), UDK_HID_USAGE(7, 0xe1));
	keys = udk_hid_descriptor_get_field(d, 4);
	ASSERT_EQ(keys->bit_offset, 16);
	ASSERT_EQ(keys->count, 6);
	ASSERT_FALSE(keys->flags & UDK_HID_FIELD_VARIABLE);
	ASSERT_EQ(keys->logical_max, 101);
	ASSERT_EQ(udk_hid_field_usage(keys, 0, 0x39), UDK_HID_USAGE(7, 0x39));
	ASSERT_EQ(udk_hid_field_usage(keys, 0, 102), 0);
	leds = udk_hid_descriptor_get_field(d, 2);
	ASSERT_EQ(leds->type, UDK_HID_REPORT_OUTPUT);
	ASSERT_EQ(udk_hid_field_usage(leds, 1, 1), UDK_HID_USAGE(8, 2));
	ASSERT_EQ(udk_hid_descriptor_device_usages(d, usages, 4), 1);
	ASSERT_EQ(usages[0], UDK_HID_USAGE(1, 6));
	ASSERT_EQ(udk_hid_descriptor_get_collection_count(d), 1);
	ASSERT_EQ(udk_hid_descriptor_get_collection(d, 0)->type, UDK_HID_COLLECTION_APPLICATION);
	/* a report: shift down, caps lock and a */
	{
		uint8_t r[8] = { 0 };
		ASSERT_OK(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(7, 0xe1), true));
		ASSERT_OK(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(7, 0x39), true));
		ASSERT_OK(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(7, 0x04), true));
		ASSERT_EQ(r[0], 0x02);
		ASSERT_EQ(r[2], 0x39);
		ASSERT_EQ(r[3], 0x04);
		ASSERT_OK(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, r, 8, NULL));
		ASSERT_EQ(udk_hid_field_get_value(mods, r, 8, 1), 1);
		ASSERT_EQ(udk_hid_field_get_value(keys, r, 8, 1), 0x04);
		ASSERT_OK(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(7, 0x39), false));
		ASSERT_EQ(r[2], 0);
		ASSERT_EQ(r[3], 0x04);
		for (uint16_t k = 0x05; k < 0x0a; k++)
			ASSERT_OK(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(7, k), true));
		ASSERT_ERR(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(7, 0x0a), true), -ENOSPC);
		ASSERT_ERR(udk_hid_boot_keyboard_update(r, UDK_HID_USAGE(0x0c, 0xe9), true), -EINVAL);
	}
	udk_hid_descriptor_free(d);
}

TEST(report_ids_lengths_and_signed_values)
{
	struct udk_hid_descriptor *d = parse_ok(mouse_consumer, sizeof(mouse_consumer));
	const struct udk_hid_field *xyw = NULL, *cons = NULL;
	uint8_t ids[4];
	uint32_t usages[4];
	uint8_t report[5] = { 1, 0x05, 0xfe, 0x03, 0xff };
	struct udk_hid_problem p;

	ASSERT_TRUE(udk_hid_descriptor_uses_report_ids(d));
	ASSERT_EQ(udk_hid_descriptor_report_ids(d, UDK_HID_REPORT_INPUT, ids, 4), 2);
	ASSERT_EQ(ids[0], 1);
	ASSERT_EQ(ids[1], 2);
	ASSERT_EQ(udk_hid_descriptor_report_length(d, UDK_HID_REPORT_INPUT, 1), 5);
	ASSERT_EQ(udk_hid_descriptor_report_length(d, UDK_HID_REPORT_INPUT, 2), 3);
	ASSERT_EQ(udk_hid_descriptor_report_length(d, UDK_HID_REPORT_INPUT, 0), 0);
	ASSERT_EQ(udk_hid_descriptor_max_report_length(d, UDK_HID_REPORT_INPUT), 5);
	ASSERT_EQ(udk_hid_descriptor_device_usages(d, usages, 4), 2);
	ASSERT_EQ(usages[0], UDK_HID_USAGE(1, 2));
	ASSERT_EQ(usages[1], UDK_HID_USAGE(0x0c, 1));
	for (uint32_t i = 0; i < udk_hid_descriptor_get_field_count(d); i++) {
		const struct udk_hid_field *f = udk_hid_descriptor_get_field(d, i);
		if (f->report_id == 1 && f->count == 3 && f->bit_size == 8)
			xyw = f;
		if (f->report_id == 2)
			cons = f;
	}
	ASSERT_NOT_NULL(xyw);
	ASSERT_NOT_NULL(cons);
	ASSERT_TRUE(xyw->flags & UDK_HID_FIELD_RELATIVE);
	ASSERT_EQ(xyw->logical_min, -127);
	ASSERT_EQ(xyw->logical_max, 127);
	ASSERT_EQ(udk_hid_field_usage(xyw, 2, 0), UDK_HID_USAGE(1, 0x38));
	ASSERT_OK(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, report, 5, NULL));
	ASSERT_EQ(udk_hid_field_get_value(xyw, report, 5, 0), -2);
	ASSERT_EQ(udk_hid_field_get_value(xyw, report, 5, 1), 3);
	ASSERT_EQ(udk_hid_field_get_value(xyw, report, 5, 2), -1);
	udk_hid_field_set_value(xyw, report, 5, 1, -100);
	ASSERT_EQ(udk_hid_field_get_value(xyw, report, 5, 1), -100);
	ASSERT_EQ(report[0], 1);
	ASSERT_EQ(report[1], 0x05);
	/* the consumer control: a 16-bit array over 0x000..0x23c */
	ASSERT_EQ(cons->n_usages, 0x23d);
	ASSERT_EQ(cons->logical_max, 0x23c);
	{
		uint8_t c[3] = { 2, 0xe9, 0x00 };
		ASSERT_OK(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, c, 3, NULL));
		ASSERT_EQ(udk_hid_field_usage(cons, 0, udk_hid_field_get_value(cons, c, 3, 0)), UDK_HID_USAGE(0x0c, 0xe9));
	}
	/* reports of the wrong shape */
	ASSERT_ERR(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, report, 4, &p), -EBADMSG);
	ASSERT_EQ(p.code, UDK_HID_E_REPORT_SHORT);
	{
		uint8_t longer[6] = { 1 };
		ASSERT_ERR(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, longer, 6, &p), -EBADMSG);
		ASSERT_EQ(p.code, UDK_HID_E_REPORT_LONG);
	}
	{
		uint8_t unknown[5] = { 7 };
		ASSERT_ERR(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, unknown, 5, &p), -EBADMSG);
		ASSERT_EQ(p.code, UDK_HID_E_REPORT_UNKNOWN_ID);
		ASSERT_TRUE(strstr(udk_error_reason(), "report ID 7") != NULL);
	}
	ASSERT_ERR(udk_hid_report_check(d, UDK_HID_REPORT_INPUT, report, 0, &p), -EBADMSG);
	ASSERT_EQ(p.code, UDK_HID_E_REPORT_SHORT);
	{
		char *dump = NULL;
		ASSERT_OK(udk_hid_descriptor_dump(d, &dump));
		ASSERT_TRUE(strstr(dump, "Usage Page (0x0c Consumer)") != NULL);
		ASSERT_TRUE(strstr(dump, "input report 1: 5 bytes") != NULL);
		ASSERT_TRUE(strstr(dump, "Input (Data,Variable,Relative)") != NULL);
		free(dump);
	}
	udk_hid_descriptor_free(d);
}

TEST(bad_descriptors_are_refused_with_named_problems)
{
	/* Report Size 0, then 33 */
	static const uint8_t size0[] = { 0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x75, 0x00, 0x95, 0x01, 0x81, 0x02, 0xc0 };
	static const uint8_t size33[] = { 0x75, 0x21, 0x95, 0x01, 0x81, 0x02 };
	/* End Collection without Collection; a Collection never closed */
	static const uint8_t extra_end[] = { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0xc0 };
	static const uint8_t open_end[] = { 0xa1, 0x01, 0xa1, 0x00, 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0xc0 };
	/* an item running past the end; a long item; a reserved main tag; a reserved type */
	static const uint8_t truncated[] = { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0x26, 0xff };
	static const uint8_t long_item[] = { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0xfe, 0x00, 0x00 };
	static const uint8_t reserved_main[] = { 0x75, 0x08, 0x95, 0x01, 0xd1, 0x00 };
	static const uint8_t reserved_type[] = { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0x0c };
	/* report IDs: 0, over 255, mixed either way */
	static const uint8_t id0[] = { 0x85, 0x00, 0x75, 0x08, 0x95, 0x01, 0x81, 0x02 };
	static const uint8_t id256[] = { 0x86, 0x00, 0x01, 0x75, 0x08, 0x95, 0x01, 0x81, 0x02 };
	static const uint8_t mixed[] = { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0x85, 0x02, 0x81, 0x02 };
	static const uint8_t mixed_pop[] = { 0x75, 0x08, 0x95, 0x01, 0xa4, 0x85, 0x03, 0x81, 0x02, 0xb4, 0x81, 0x02 };
	/* Pop without Push; nine Pushes */
	static const uint8_t pop[] = { 0xb4 };
	static const uint8_t push9[] = { 0xa4, 0xa4, 0xa4, 0xa4, 0xa4, 0xa4, 0xa4, 0xa4, 0xa4 };
	/* a usage range upside down; unbalanced delimiters */
	static const uint8_t range[] = { 0x19, 0x10, 0x29, 0x01, 0x75, 0x08, 0x95, 0x01, 0x81, 0x00 };
	static const uint8_t delim[] = { 0xa9, 0x00 };
	/* constant-free but data-free: no field at all */
	static const uint8_t empty[] = { 0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0xc0 };
	/* one report over 4096 bytes */
	static const uint8_t huge[] = { 0x75, 0x08, 0x96, 0x01, 0x10, 0x81, 0x02 };
	static const uint8_t count[] = { 0x75, 0x08, 0x97, 0x00, 0x00, 0x01, 0x00, 0x81, 0x02 };
	uint8_t deep[2 * 17 + 6 + 17];
	uint8_t toolong[UDK_HID_MAX_DESCRIPTOR + 2];
	size_t n = 0;

	expect_refusal("report size 0", size0, sizeof(size0), UDK_HID_E_REPORT_SIZE, 10);
	expect_refusal("report size 33", size33, sizeof(size33), UDK_HID_E_REPORT_SIZE, 4);
	expect_refusal("end without collection", extra_end, sizeof(extra_end), UDK_HID_E_UNBALANCED, 6);
	expect_refusal("collection left open", open_end, sizeof(open_end), UDK_HID_E_UNBALANCED, sizeof(open_end));
	expect_refusal("truncated", truncated, sizeof(truncated), UDK_HID_E_TRUNCATED, 6);
	expect_refusal("long item", long_item, sizeof(long_item), UDK_HID_E_LONG_ITEM, 6);
	expect_refusal("reserved main tag", reserved_main, sizeof(reserved_main), UDK_HID_E_UNKNOWN_ITEM, 4);
	expect_refusal("reserved type", reserved_type, sizeof(reserved_type), UDK_HID_E_UNKNOWN_ITEM, 6);
	expect_refusal("report id 0", id0, sizeof(id0), UDK_HID_E_REPORT_ID, 0);
	expect_refusal("report id 256", id256, sizeof(id256), UDK_HID_E_REPORT_ID, 0);
	expect_refusal("unnumbered then numbered", mixed, sizeof(mixed), UDK_HID_E_REPORT_ID_MIXED, 6);
	expect_refusal("numbered then unnumbered", mixed_pop, sizeof(mixed_pop), UDK_HID_E_REPORT_ID_MIXED, 10);
	expect_refusal("pop", pop, sizeof(pop), UDK_HID_E_PUSH_POP, 0);
	expect_refusal("nine pushes", push9, sizeof(push9), UDK_HID_E_PUSH_POP, 8);
	expect_refusal("usage range", range, sizeof(range), UDK_HID_E_USAGE_RANGE, 2);
	expect_refusal("delimiter", delim, sizeof(delim), UDK_HID_E_DELIMITER, 0);
	expect_refusal("empty", empty, sizeof(empty), UDK_HID_E_EMPTY, sizeof(empty));
	expect_refusal("nothing", NULL, 0, UDK_HID_E_EMPTY, 0);
	expect_refusal("huge report", huge, sizeof(huge), UDK_HID_E_REPORT_TOO_LONG, 5);
	expect_refusal("huge count", count, sizeof(count), UDK_HID_E_REPORT_COUNT, 7);
	/* 17 nested collections */
	for (int i = 0; i < 17; i++) {
		deep[n++] = 0xa1;
		deep[n++] = 0x00;
	}
	expect_refusal("17 deep", deep, n, UDK_HID_E_TOO_DEEP, 32);
	/* 16 are fine */
	n = 0;
	for (int i = 0; i < 16; i++) {
		deep[n++] = 0xa1;
		deep[n++] = 0x00;
	}
	memcpy(deep + n, (const uint8_t[]){ 0x75, 0x08, 0x95, 0x01, 0x81, 0x02 }, 6);
	n += 6;
	memset(deep + n, 0xc0, 16);
	n += 16;
	udk_hid_descriptor_free(parse_ok(deep, n));
	memset(toolong, 0, sizeof(toolong));
	expect_refusal("too long", toolong, sizeof(toolong), UDK_HID_E_TOO_LONG, 0);
}

TEST(usages_map_to_linux_codes_and_back)
{
	uint16_t type, code;
	uint32_t u;

	ASSERT_TRUE(udk_hid_usage_to_evdev(UDK_HID_USAGE(7, 0x39), &type, &code));
	ASSERT_EQ(type, EV_KEY);
	ASSERT_EQ(code, KEY_CAPSLOCK);
	ASSERT_TRUE(udk_hid_usage_to_evdev(UDK_HID_USAGE(7, 0x04), &type, &code));
	ASSERT_EQ(code, KEY_A);
	ASSERT_TRUE(udk_hid_usage_to_evdev(UDK_HID_USAGE(9, 2), &type, &code));
	ASSERT_EQ(code, BTN_RIGHT);
	ASSERT_TRUE(udk_hid_usage_to_evdev(UDK_HID_USAGE(1, 0x38), &type, &code));
	ASSERT_EQ(type, EV_REL);
	ASSERT_EQ(code, REL_WHEEL);
	ASSERT_TRUE(udk_hid_usage_to_evdev(UDK_HID_USAGE(0x0c, 0xe9), &type, &code));
	ASSERT_EQ(code, KEY_VOLUMEUP);
	ASSERT_TRUE(udk_hid_usage_to_evdev(UDK_HID_USAGE(8, 2), &type, &code));
	ASSERT_EQ(type, EV_LED);
	ASSERT_EQ(code, LED_CAPSL);
	ASSERT_FALSE(udk_hid_usage_to_evdev(UDK_HID_USAGE(0xff00, 1), &type, &code));
	ASSERT_EQ(udk_hid_usage_from_evdev(EV_KEY, KEY_ESC), UDK_HID_USAGE(7, 0x29));
	ASSERT_EQ(udk_hid_usage_from_evdev(EV_KEY, KEY_VOLUMEUP), UDK_HID_USAGE(0x0c, 0xe9));
	ASSERT_EQ(udk_hid_usage_from_evdev(EV_KEY, KEY_BACKSLASH), UDK_HID_USAGE(7, 0x31));
	ASSERT_EQ(udk_hid_usage_from_evdev(EV_KEY, BTN_LEFT), UDK_HID_USAGE(9, 1));
	ASSERT_EQ(udk_hid_usage_from_evdev(EV_REL, REL_HWHEEL), UDK_HID_USAGE(0x0c, 0x238));
	ASSERT_EQ(udk_hid_usage_from_evdev(EV_KEY, 0x2ff), 0);
	/* every keyboard usage udk maps comes back as itself */
	for (uint16_t id = 4; id <= 0xe7; id++) {
		if (!udk_hid_usage_to_evdev(UDK_HID_USAGE(7, id), &type, &code) || id == 0x32 || id == 0x7f ||
		    id == 0x80 || id == 0x81)
			continue;
		if (udk_hid_usage_from_evdev(type, code) != UDK_HID_USAGE(7, id))
			FAIL("keyboard usage 0x%x -> code %u -> 0x%x", id, code, udk_hid_usage_from_evdev(type, code));
	}
	ASSERT_OK(udk_hid_usage_parse("caps_lock", &u));
	ASSERT_EQ(u, UDK_HID_USAGE(7, 0x39));
	ASSERT_OK(udk_hid_usage_parse("esc", &u));
	ASSERT_EQ(u, UDK_HID_USAGE(7, 0x29));
	ASSERT_OK(udk_hid_usage_parse("0xff00:0x12", &u));
	ASSERT_EQ(u, UDK_HID_USAGE(0xff00, 0x12));
	ASSERT_OK(udk_hid_usage_parse("button3", &u));
	ASSERT_EQ(u, UDK_HID_USAGE(9, 3));
	ASSERT_STREQ(udk_hid_usage_name(UDK_HID_USAGE(7, 0x29)), "escape");
	ASSERT_ERR(udk_hid_usage_parse("capslok", &u), -EINVAL);
	ASSERT_TRUE(strstr(udk_error_reason(), "capslok") != NULL);
	ASSERT_ERR(udk_hid_usage_parse("0x10000:1", &u), -EINVAL);
}
