/* SPDX-License-Identifier: MIT */
/*
 * families/hid-descriptor.h - HID report descriptors: the parser udkd,
 * drivers and tools share.
 *
 * A report descriptor (HID 1.11, section 6.2.2) says what a device's
 * reports hold: for each report (input, output, feature; numbered by an
 * optional report ID) its fields, each with usages, a size per element,
 * a count, logical and physical ranges and a unit, inside collections.
 *
 *	struct udk_hid_descriptor *d;
 *	struct udk_hid_problem why;
 *	if (udk_hid_descriptor_parse(bytes, len, &d, &why) < 0)
 *		printf("%s at byte %zu: %s\n", udk_hid_problem_name(why.code), why.offset, udk_error_reason());
 *
 * A descriptor the parser cannot stand behind is refused as a whole with
 * -UDK_E_BAD_DESCRIPTOR, a named problem (below), the byte offset of the
 * item and a sentence.  What it accepts is bounded: 4096 bytes of
 * descriptor, reports of up to 4096 bytes, 16 nested collections, 8 pushed
 * global states, 1024 fields, 4096 usages.
 *
 * Reports are checked against the descriptor before anything reads them
 * (udk_hid_report_check): a report whose ID is unknown, or that is longer
 * or shorter than its definition, is refused with a named problem; udkd
 * drops such reports, counts and logs them.
 */
#ifndef UDK_FAMILIES_HID_DESCRIPTOR_H
#define UDK_FAMILIES_HID_DESCRIPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The limits the parser enforces. */
#define UDK_HID_MAX_DESCRIPTOR 4096u
#define UDK_HID_MAX_REPORT 4096u	/* bytes, report ID included */
#define UDK_HID_MAX_DEPTH 16u		/* nested collections */
#define UDK_HID_MAX_PUSH 8u		/* Push items outstanding */
#define UDK_HID_MAX_FIELDS 1024u
#define UDK_HID_MAX_USAGES 4096u
#define UDK_HID_MAX_COLLECTIONS 512u

enum udk_hid_report_type {
	UDK_HID_REPORT_INPUT = 0,
	UDK_HID_REPORT_OUTPUT = 1,
	UDK_HID_REPORT_FEATURE = 2,
};

/* Why a descriptor or a report was refused.  Values are ABI: append only. */
enum udk_hid_problem_code {
	UDK_HID_OK = 0,
	UDK_HID_E_EMPTY,		/* no input, output or feature item at all */
	UDK_HID_E_TRUNCATED,		/* an item runs past the end of the descriptor */
	UDK_HID_E_TOO_LONG,		/* the descriptor is over UDK_HID_MAX_DESCRIPTOR bytes */
	UDK_HID_E_LONG_ITEM,		/* a long item (HID 6.2.2.3): none is defined */
	UDK_HID_E_UNKNOWN_ITEM,		/* a reserved main item tag or item type */
	UDK_HID_E_ITEM_SIZE,		/* an item whose data size does not fit its meaning */
	UDK_HID_E_REPORT_SIZE,		/* Report Size 0 or over 32 bits */
	UDK_HID_E_REPORT_COUNT,		/* Report Count too large */
	UDK_HID_E_REPORT_TOO_LONG,	/* a report over UDK_HID_MAX_REPORT bytes */
	UDK_HID_E_UNBALANCED,		/* End Collection without Collection, or one left open */
	UDK_HID_E_TOO_DEEP,		/* collections nested over UDK_HID_MAX_DEPTH */
	UDK_HID_E_PUSH_POP,		/* Pop without Push, or Push over UDK_HID_MAX_PUSH */
	UDK_HID_E_REPORT_ID,		/* Report ID 0 or over 255 */
	UDK_HID_E_REPORT_ID_MIXED,	/* reports with and without report IDs in one descriptor */
	UDK_HID_E_DELIMITER,		/* unbalanced usage delimiters */
	UDK_HID_E_TOO_MANY,		/* over the field, usage or collection limits */
	UDK_HID_E_USAGE_RANGE,		/* Usage Minimum above Usage Maximum, or one without the other */
	/* reports */
	UDK_HID_E_REPORT_UNKNOWN_ID,	/* a report ID the descriptor does not define */
	UDK_HID_E_REPORT_SHORT,		/* shorter than the descriptor says */
	UDK_HID_E_REPORT_LONG,		/* longer than the descriptor says */
	UDK_HID_E__COUNT
};

struct udk_hid_problem {
	enum udk_hid_problem_code code;
	size_t offset;			/* byte offset of the offending item (descriptors) */
};

/* "UDK_HID_E_UNBALANCED" ...; "UDK_HID_OK"; NULL for an unknown code. */
UDK_EXPORT const char *udk_hid_problem_name(enum udk_hid_problem_code code);

/* Main item flags (HID 6.2.2.5), as in the item's data. */
enum udk_hid_field_flags {
	UDK_HID_FIELD_CONSTANT = 1 << 0,
	UDK_HID_FIELD_VARIABLE = 1 << 1,	/* else an array of usage indexes */
	UDK_HID_FIELD_RELATIVE = 1 << 2,
	UDK_HID_FIELD_WRAP = 1 << 3,
	UDK_HID_FIELD_NONLINEAR = 1 << 4,
	UDK_HID_FIELD_NO_PREFERRED = 1 << 5,
	UDK_HID_FIELD_NULL_STATE = 1 << 6,
	UDK_HID_FIELD_VOLATILE = 1 << 7,
	UDK_HID_FIELD_BUFFERED_BYTES = 1 << 8,
};

/* An extended usage: page in the high 16 bits, usage in the low 16. */
#define UDK_HID_USAGE(page, usage) ((uint32_t)(page) << 16 | (uint16_t)(usage))
#define UDK_HID_USAGE_PAGE(u) ((uint16_t)((u) >> 16))
#define UDK_HID_USAGE_ID(u) ((uint16_t)((u)&0xffff))

struct udk_hid_usage_span {
	uint32_t first, last;		/* extended usages, first <= last */
};

/* One input, output or feature main item: @count elements of @bit_size bits. */
struct udk_hid_field {
	enum udk_hid_report_type type;
	uint8_t report_id;		/* 0: the descriptor uses no report IDs */
	uint32_t bit_offset;		/* in the report, after the report ID byte */
	uint32_t bit_size;		/* Report Size: 1..32 */
	uint32_t count;			/* Report Count */
	uint32_t flags;			/* enum udk_hid_field_flags */
	/*
	 * The field's usages, in order, as spans of extended usages (a Usage
	 * Minimum/Maximum pair is one span); udk_hid_field_usage() reads
	 * them.  Variable fields: element i has usage number min(i,
	 * n_usages - 1).  Arrays: an element's value v selects usage number
	 * v - logical_min.
	 */
	const struct udk_hid_usage_span *spans;
	uint32_t n_spans;
	uint32_t n_usages;		/* total over the spans */
	int32_t logical_min, logical_max;
	int32_t physical_min, physical_max;	/* equal to the logical range when the descriptor gives none */
	uint32_t unit;			/* HID unit nibbles; 0: none */
	int8_t unit_exponent;
	uint32_t collection;		/* index of the innermost collection, or UINT32_MAX */
};

enum udk_hid_collection_type {
	UDK_HID_COLLECTION_PHYSICAL = 0,
	UDK_HID_COLLECTION_APPLICATION = 1,
	UDK_HID_COLLECTION_LOGICAL = 2,
	UDK_HID_COLLECTION_REPORT = 3,
	UDK_HID_COLLECTION_NAMED_ARRAY = 4,
	UDK_HID_COLLECTION_USAGE_SWITCH = 5,
	UDK_HID_COLLECTION_USAGE_MODIFIER = 6,
};

struct udk_hid_collection {
	uint32_t type;			/* enum udk_hid_collection_type, or a vendor value */
	uint32_t usage;			/* extended usage, 0 when none was given */
	uint32_t parent;		/* UINT32_MAX for a top-level collection */
	uint32_t depth;			/* 0 for top level */
};

struct udk_hid_descriptor;

/*
 * Parse @len bytes.  0 and a new descriptor in *ret, or -UDK_E_BAD_DESCRIPTOR
 * (problem in *ret_problem when not NULL, and a sentence in
 * udk_error_reason()), or -ENOMEM.
 */
UDK_EXPORT int udk_hid_descriptor_parse(const uint8_t *data, size_t len, struct udk_hid_descriptor **ret,
					struct udk_hid_problem *ret_problem);
UDK_EXPORT void udk_hid_descriptor_free(struct udk_hid_descriptor *d);

/* The bytes it was parsed from (borrowed). */
UDK_EXPORT const uint8_t *udk_hid_descriptor_get_data(const struct udk_hid_descriptor *d, size_t *ret_len);

UDK_EXPORT uint32_t udk_hid_descriptor_get_field_count(const struct udk_hid_descriptor *d);
/* Field @i, in descriptor order (borrowed). */
UDK_EXPORT const struct udk_hid_field *udk_hid_descriptor_get_field(const struct udk_hid_descriptor *d, uint32_t i);
UDK_EXPORT uint32_t udk_hid_descriptor_get_collection_count(const struct udk_hid_descriptor *d);
UDK_EXPORT const struct udk_hid_collection *udk_hid_descriptor_get_collection(const struct udk_hid_descriptor *d,
									      uint32_t i);

/* Whether reports start with a report ID byte. */
UDK_EXPORT bool udk_hid_descriptor_uses_report_ids(const struct udk_hid_descriptor *d);
/*
 * Length in bytes (report ID included) of report @id of @type, or 0 when
 * the descriptor defines no such report.  @id is 0 when IDs are not used.
 */
UDK_EXPORT size_t udk_hid_descriptor_report_length(const struct udk_hid_descriptor *d, enum udk_hid_report_type type,
						   uint8_t id);
/* The longest report of @type (0: none). */
UDK_EXPORT size_t udk_hid_descriptor_max_report_length(const struct udk_hid_descriptor *d,
						       enum udk_hid_report_type type);
/*
 * The report IDs of @type the descriptor defines, ascending, into @ids
 * (room for @cap); returns how many there are (may exceed @cap).  A
 * descriptor without IDs has one report, ID 0.
 */
UDK_EXPORT size_t udk_hid_descriptor_report_ids(const struct udk_hid_descriptor *d, enum udk_hid_report_type type,
						uint8_t *ids, size_t cap);

/*
 * The device's usages as DriverKit publishes them: the top-level
 * application collections' usages in order (DeviceUsagePairs), at most
 * @cap, returned as extended usages; returns how many there are.  The
 * first is the PrimaryUsagePage/PrimaryUsage.
 */
UDK_EXPORT size_t udk_hid_descriptor_device_usages(const struct udk_hid_descriptor *d, uint32_t *usages, size_t cap);

/*
 * Check a report of @type as it arrives: its ID is defined and its length
 * is the descriptor's.  0, or -EBADMSG with the problem in *ret_problem
 * (UDK_HID_E_REPORT_UNKNOWN_ID, _SHORT, _LONG) and a sentence in
 * udk_error_reason().
 */
UDK_EXPORT int udk_hid_report_check(const struct udk_hid_descriptor *d, enum udk_hid_report_type type,
				    const uint8_t *report, size_t len, struct udk_hid_problem *ret_problem);

/* The raw bits of element @index of @f in @report (which passed the check). */
UDK_EXPORT uint32_t udk_hid_field_get_raw(const struct udk_hid_field *f, const uint8_t *report, size_t len,
					  uint32_t index);
/* The same as a value: sign-extended when the field's logical minimum is negative. */
UDK_EXPORT int32_t udk_hid_field_get_value(const struct udk_hid_field *f, const uint8_t *report, size_t len,
					   uint32_t index);
/* Write element @index of @f into @report (@len bytes, ID byte included). */
UDK_EXPORT void udk_hid_field_set_value(const struct udk_hid_field *f, uint8_t *report, size_t len, uint32_t index,
					int32_t value);
/* Usage number @n of @f (0 when @n >= f->n_usages). */
UDK_EXPORT uint32_t udk_hid_field_usage_at(const struct udk_hid_field *f, uint32_t n);
/*
 * The usage of element @index of a variable field, or the usage an array
 * element's @value selects (0 when it selects none: out of range or the
 * null state).
 */
UDK_EXPORT uint32_t udk_hid_field_usage(const struct udk_hid_field *f, uint32_t index, int32_t value);

/*
 * The boot keyboard's report descriptor (HID 1.11, appendix B.1): 8-byte
 * input reports (modifier bits, a reserved byte, six key codes) and a
 * 1-byte LED output report.  Borrowed, static.
 */
UDK_EXPORT const uint8_t *udk_hid_boot_keyboard_descriptor(size_t *ret_len);
/*
 * Press (@down) or release keyboard-page @usage in a boot keyboard input
 * report: modifiers (0xe0..0xe7) are bits, other keys take a free slot of
 * the six.  0, -ENOSPC when six keys are already down (the seventh is
 * not reported, the report is unchanged), -EINVAL for a usage a boot
 * keyboard does not report.
 */
UDK_EXPORT int udk_hid_boot_keyboard_update(uint8_t report[8], uint32_t usage, bool down);

/*
 * A readable dump of the descriptor, one item per line with its offset,
 * then the reports and their lengths (malloc'ed).  For tools and logs.
 */
UDK_EXPORT int udk_hid_descriptor_dump(const struct udk_hid_descriptor *d, char **ret);

#ifdef __cplusplus
}
#endif
#endif
