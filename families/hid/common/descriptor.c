/* SPDX-License-Identifier: MIT */
/*
 * hid/common/descriptor.c - the HID report-descriptor parser
 * (<udk/families/hid-descriptor.h>), shared by udkd, libudk-hid, the
 * device models and the tools.
 *
 * One pass over the short items (HID 1.11, 6.2.2): global items change
 * the global state (with Push and Pop), local items collect usages for the
 * next main item, main items become fields or collections.  Every count is
 * bounded before it is used, so a hostile descriptor costs at most the
 * limits in the header, and every refusal names the problem and the byte.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/hid-descriptor.h>

#include "buf.h"
#include "util.h"

#define N_TYPES 3

struct global_state {
	uint32_t usage_page;
	int64_t logical_min, logical_max;	/* raw: max is resolved against min at the main item */
	int64_t logical_max_unsigned;
	int64_t physical_min, physical_max, physical_max_unsigned;
	bool physical_set;
	int32_t unit_exponent;
	uint32_t unit;
	uint32_t report_size;
	uint32_t report_count;
	uint32_t report_id;
};

struct local_usage {
	uint32_t first, last;
	bool extended;			/* the page was given with the usage */
};

struct udk_hid_descriptor {
	uint8_t *data;
	size_t len;
	struct udk_hid_field *fields;
	uint32_t n_fields;
	struct udk_hid_usage_span *spans;	/* every field's spans, one array */
	uint32_t n_spans;
	struct udk_hid_collection *collections;
	uint32_t n_collections;
	bool ids;
	/* bits per report, by type and ID; defined[type][id] */
	uint32_t bits[N_TYPES][256];
	bool defined[N_TYPES][256];
};

static const char *const problem_names[UDK_HID_E__COUNT] = {
	[UDK_HID_OK] = "UDK_HID_OK",
	[UDK_HID_E_EMPTY] = "UDK_HID_E_EMPTY",
	[UDK_HID_E_TRUNCATED] = "UDK_HID_E_TRUNCATED",
	[UDK_HID_E_TOO_LONG] = "UDK_HID_E_TOO_LONG",
	[UDK_HID_E_LONG_ITEM] = "UDK_HID_E_LONG_ITEM",
	[UDK_HID_E_UNKNOWN_ITEM] = "UDK_HID_E_UNKNOWN_ITEM",
	[UDK_HID_E_ITEM_SIZE] = "UDK_HID_E_ITEM_SIZE",
	[UDK_HID_E_REPORT_SIZE] = "UDK_HID_E_REPORT_SIZE",
	[UDK_HID_E_REPORT_COUNT] = "UDK_HID_E_REPORT_COUNT",
	[UDK_HID_E_REPORT_TOO_LONG] = "UDK_HID_E_REPORT_TOO_LONG",
	[UDK_HID_E_UNBALANCED] = "UDK_HID_E_UNBALANCED",
	[UDK_HID_E_TOO_DEEP] = "UDK_HID_E_TOO_DEEP",
	[UDK_HID_E_PUSH_POP] = "UDK_HID_E_PUSH_POP",
	[UDK_HID_E_REPORT_ID] = "UDK_HID_E_REPORT_ID",
	[UDK_HID_E_REPORT_ID_MIXED] = "UDK_HID_E_REPORT_ID_MIXED",
	[UDK_HID_E_DELIMITER] = "UDK_HID_E_DELIMITER",
	[UDK_HID_E_TOO_MANY] = "UDK_HID_E_TOO_MANY",
	[UDK_HID_E_USAGE_RANGE] = "UDK_HID_E_USAGE_RANGE",
	[UDK_HID_E_REPORT_UNKNOWN_ID] = "UDK_HID_E_REPORT_UNKNOWN_ID",
	[UDK_HID_E_REPORT_SHORT] = "UDK_HID_E_REPORT_SHORT",
	[UDK_HID_E_REPORT_LONG] = "UDK_HID_E_REPORT_LONG",
};

UDK_EXPORT const char *
udk_hid_problem_name(enum udk_hid_problem_code code)
{
	return (unsigned)code < UDK_HID_E__COUNT ? problem_names[code] : NULL;
}

static const char *const type_names[N_TYPES] = { "input", "output", "feature" };

/* ---- the parser ---- */

struct parser {
	const uint8_t *data;
	size_t len;
	size_t at;			/* offset of the item being parsed */
	struct udk_hid_descriptor *d;
	struct global_state g;
	struct global_state stack[UDK_HID_MAX_PUSH];
	unsigned depth_push;
	/* local state */
	struct local_usage usages[UDK_HID_MAX_USAGES];
	uint32_t n_usages;
	bool have_min, have_max;
	uint32_t usage_min, usage_max;
	bool min_extended, max_extended;
	int delimiter;			/* open delimiter sets (0 or 1) */
	bool delimiter_taken;		/* the open set already gave its usage */
	/* collections */
	uint32_t open[UDK_HID_MAX_DEPTH];
	unsigned depth;
	/* report IDs */
	size_t first_unnumbered, first_numbered;	/* offsets + 1 */
	/* capacities */
	uint32_t cap_fields, cap_spans, cap_collections;
	struct udk_hid_problem *problem;
};

static int UDK_PRINTF(3, 4)
refuse(struct parser *p, enum udk_hid_problem_code code, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->problem) {
		p->problem->code = code;
		p->problem->offset = p->at;
	}
	return udk_set_reason(-UDK_E_BAD_DESCRIPTOR, "%s at byte %zu of the report descriptor: %s",
			      udk_hid_problem_name(code), p->at, msg);
}

static uint32_t
udata(const uint8_t *b, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static int32_t
sdata(const uint8_t *b, unsigned size)
{
	uint32_t v = udata(b, size);

	switch (size) {
	case 1:
		return (int8_t)v;
	case 2:
		return (int16_t)v;
	case 4:
		return (int32_t)v;
	default:
		return 0;
	}
}

static void
local_clear(struct parser *p)
{
	p->n_usages = 0;
	p->have_min = p->have_max = false;
	p->min_extended = p->max_extended = false;
	p->delimiter_taken = false;
}

static int
add_usage(struct parser *p, uint32_t first, uint32_t last, bool extended)
{
	if (p->delimiter) {
		/* alternatives: the first usage of a delimiter set stands for it */
		if (p->delimiter_taken)
			return 0;
		p->delimiter_taken = true;
	}
	if (p->n_usages >= UDK_HID_MAX_USAGES || p->d->n_spans + p->n_usages >= UDK_HID_MAX_USAGES)
		return refuse(p, UDK_HID_E_TOO_MANY, "more than %u usages", UDK_HID_MAX_USAGES);
	p->usages[p->n_usages++] = (struct local_usage){ first, last, extended };
	return 0;
}

/* Usage Minimum and Maximum form a span once both are given. */
static int
usage_range_close(struct parser *p)
{
	uint32_t lo = p->usage_min, hi = p->usage_max;

	if (!p->have_min || !p->have_max)
		return 0;
	/* a page given with one end applies to the other */
	if (p->min_extended && !p->max_extended)
		hi |= lo & 0xffff0000u;
	if (p->max_extended && !p->min_extended)
		lo |= hi & 0xffff0000u;
	if (UDK_HID_USAGE_PAGE(lo) != UDK_HID_USAGE_PAGE(hi) && (p->min_extended || p->max_extended))
		return refuse(p, UDK_HID_E_USAGE_RANGE, "Usage Minimum 0x%08x and Maximum 0x%08x are on different pages",
			      lo, hi);
	if (UDK_HID_USAGE_ID(lo) > UDK_HID_USAGE_ID(hi))
		return refuse(p, UDK_HID_E_USAGE_RANGE, "Usage Minimum 0x%x is above Usage Maximum 0x%x",
			      UDK_HID_USAGE_ID(lo), UDK_HID_USAGE_ID(hi));
	p->have_min = p->have_max = false;
	return add_usage(p, lo, hi, p->min_extended || p->max_extended);
}

static int
grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	void *n;
	uint32_t c = *cap ? *cap : 8;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*arr, (size_t)c * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = c;
	return 0;
}

static void
resolve_range(int64_t min, int64_t max_signed, int64_t max_unsigned, int32_t *ret_min, int32_t *ret_max)
{
	/* HID 5.8: a maximum is signed when the minimum is negative */
	int64_t max = min < 0 ? max_signed : max_unsigned;

	if (max > INT32_MAX)
		max = INT32_MAX;
	*ret_min = (int32_t)min;
	*ret_max = (int32_t)max;
}

static int
main_field(struct parser *p, enum udk_hid_report_type type, uint32_t flags)
{
	struct global_state *g = &p->g;
	struct udk_hid_descriptor *d = p->d;
	struct udk_hid_field *f;
	uint64_t bits, total;
	int r;

	r = usage_range_close(p);
	if (r < 0)
		return r;
	if (p->have_min || p->have_max)
		return refuse(p, UDK_HID_E_USAGE_RANGE, "a Usage %s without its Usage %s",
			      p->have_min ? "Minimum" : "Maximum", p->have_min ? "Maximum" : "Minimum");
	if (p->delimiter)
		return refuse(p, UDK_HID_E_DELIMITER, "a main item inside an open usage delimiter set");
	if (g->report_count == 0) {
		/* nothing in the report */
		local_clear(p);
		return 0;
	}
	if (g->report_size == 0 || g->report_size > 32)
		return refuse(p, UDK_HID_E_REPORT_SIZE,
			      "Report Size is %u bits for this %s item; udk reads fields of 1 to 32 bits (set a "
			      "Report Size before the item)",
			      g->report_size, type_names[type]);
	if (g->report_count > UDK_HID_MAX_REPORT * 8)
		return refuse(p, UDK_HID_E_REPORT_COUNT, "Report Count %u is larger than any report can hold",
			      g->report_count);
	if (g->report_id)
		p->first_numbered = p->first_numbered ? p->first_numbered : p->at + 1;
	else
		p->first_unnumbered = p->first_unnumbered ? p->first_unnumbered : p->at + 1;
	if (p->first_numbered && p->first_unnumbered)
		return refuse(p, UDK_HID_E_REPORT_ID_MIXED,
			      "the main item at byte %zu has no report ID but the one at byte %zu has one: a device "
			      "either numbers all its reports or none",
			      p->first_unnumbered - 1, p->first_numbered - 1);
	bits = (uint64_t)g->report_size * g->report_count;
	total = d->bits[type][g->report_id] + bits;
	if ((total + 7) / 8 + (g->report_id ? 1 : 0) > UDK_HID_MAX_REPORT)
		return refuse(p, UDK_HID_E_REPORT_TOO_LONG, "%s report %u grows to %llu bits, over the %u-byte limit",
			      type_names[type], g->report_id, (unsigned long long)total, UDK_HID_MAX_REPORT);
	if (d->n_fields >= UDK_HID_MAX_FIELDS)
		return refuse(p, UDK_HID_E_TOO_MANY, "more than %u input, output and feature items",
			      UDK_HID_MAX_FIELDS);
	if (grow((void **)&d->fields, &p->cap_fields, d->n_fields + 1, sizeof(*d->fields)) < 0 ||
	    grow((void **)&d->spans, &p->cap_spans, d->n_spans + p->n_usages + 1, sizeof(*d->spans)) < 0)
		return -ENOMEM;
	f = &d->fields[d->n_fields++];
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->report_id = (uint8_t)g->report_id;
	f->bit_offset = d->bits[type][g->report_id];
	f->bit_size = g->report_size;
	f->count = g->report_count;
	f->flags = flags;
	resolve_range(g->logical_min, g->logical_max, g->logical_max_unsigned, &f->logical_min, &f->logical_max);
	if (g->physical_set && (g->physical_min || g->physical_max || g->physical_max_unsigned))
		resolve_range(g->physical_min, g->physical_max, g->physical_max_unsigned, &f->physical_min,
			      &f->physical_max);
	else {
		f->physical_min = f->logical_min;
		f->physical_max = f->logical_max;
	}
	f->unit = g->unit;
	f->unit_exponent = (int8_t)g->unit_exponent;
	f->collection = p->depth ? p->open[p->depth - 1] : UINT32_MAX;
	/* spans are stored as offsets until the end: the array may move */
	f->spans = (const struct udk_hid_usage_span *)(uintptr_t)d->n_spans;
	for (uint32_t i = 0; i < p->n_usages; i++) {
		struct local_usage *u = &p->usages[i];
		uint32_t page = u->extended ? 0 : g->usage_page << 16;
		d->spans[d->n_spans++] = (struct udk_hid_usage_span){ u->first | page, u->last | page };
		f->n_usages += UDK_HID_USAGE_ID(u->last) - UDK_HID_USAGE_ID(u->first) + 1;
	}
	f->n_spans = p->n_usages;
	d->bits[type][g->report_id] = (uint32_t)total;
	d->defined[type][g->report_id] = true;
	local_clear(p);
	return 0;
}

static int
main_item(struct parser *p, unsigned tag, const uint8_t *b, unsigned size)
{
	uint32_t v = udata(b, size);

	switch (tag) {
	case 0x8:
		return main_field(p, UDK_HID_REPORT_INPUT, v & 0x1ff);
	case 0x9:
		return main_field(p, UDK_HID_REPORT_OUTPUT, v & 0x1ff);
	case 0xB:
		return main_field(p, UDK_HID_REPORT_FEATURE, v & 0x1ff);
	case 0xA: { /* Collection */
		struct udk_hid_descriptor *d = p->d;
		struct udk_hid_collection *c;
		int r = usage_range_close(p);
		if (r < 0)
			return r;
		if (p->depth >= UDK_HID_MAX_DEPTH)
			return refuse(p, UDK_HID_E_TOO_DEEP, "collections nest deeper than %u levels",
				      UDK_HID_MAX_DEPTH);
		if (d->n_collections >= UDK_HID_MAX_COLLECTIONS)
			return refuse(p, UDK_HID_E_TOO_MANY, "more than %u collections", UDK_HID_MAX_COLLECTIONS);
		if (grow((void **)&d->collections, &p->cap_collections, d->n_collections + 1,
			 sizeof(*d->collections)) < 0)
			return -ENOMEM;
		c = &d->collections[d->n_collections];
		c->type = v & 0xff;
		c->usage = 0;
		if (p->n_usages) {
			struct local_usage *u = &p->usages[0];
			c->usage = u->first | (u->extended ? 0 : p->g.usage_page << 16);
		}
		c->parent = p->depth ? p->open[p->depth - 1] : UINT32_MAX;
		c->depth = p->depth;
		p->open[p->depth++] = d->n_collections++;
		local_clear(p);
		return 0;
	}
	case 0xC: /* End Collection */
		if (!p->depth)
			return refuse(p, UDK_HID_E_UNBALANCED, "End Collection without an open Collection");
		p->depth--;
		local_clear(p);
		return 0;
	default:
		return refuse(p, UDK_HID_E_UNKNOWN_ITEM, "main item tag 0x%x is reserved", tag);
	}
}

static int
global_item(struct parser *p, unsigned tag, const uint8_t *b, unsigned size)
{
	struct global_state *g = &p->g;
	uint32_t u = udata(b, size);
	int32_t s = sdata(b, size);

	switch (tag) {
	case 0x0: /* Usage Page */
		if (u > 0xffff)
			return refuse(p, UDK_HID_E_ITEM_SIZE, "Usage Page 0x%x is over 16 bits", u);
		g->usage_page = u;
		return 0;
	case 0x1:
		g->logical_min = s;
		return 0;
	case 0x2:
		g->logical_max = s;
		g->logical_max_unsigned = u;
		return 0;
	case 0x3:
		g->physical_min = s;
		g->physical_set = true;
		return 0;
	case 0x4:
		g->physical_max = s;
		g->physical_max_unsigned = u;
		g->physical_set = true;
		return 0;
	case 0x5: /* Unit Exponent: a 4-bit signed nibble, or a plain signed value */
		if (!(u & 0xfffffff0u))
			g->unit_exponent = (u & 0x8) ? (int32_t)u - 16 : (int32_t)u;
		else
			g->unit_exponent = s < -128 ? -128 : s > 127 ? 127 : s;
		return 0;
	case 0x6:
		g->unit = u;
		return 0;
	case 0x7:
		g->report_size = u;
		return 0;
	case 0x8: /* Report ID */
		if (u == 0 || u > 255)
			return refuse(p, UDK_HID_E_REPORT_ID, "Report ID %u; report IDs are 1 to 255", u);
		g->report_id = u;
		p->d->ids = true;
		if (p->first_unnumbered)
			return refuse(p, UDK_HID_E_REPORT_ID_MIXED,
				      "Report ID %u comes after the main item at byte %zu, which has none: a device "
				      "either numbers all its reports or none",
				      u, p->first_unnumbered - 1);
		return 0;
	case 0x9:
		g->report_count = u;
		return 0;
	case 0xA: /* Push */
		if (size)
			return refuse(p, UDK_HID_E_ITEM_SIZE, "Push carries no data, this one has %u bytes", size);
		if (p->depth_push >= UDK_HID_MAX_PUSH)
			return refuse(p, UDK_HID_E_PUSH_POP, "more than %u Push items outstanding", UDK_HID_MAX_PUSH);
		p->stack[p->depth_push++] = *g;
		return 0;
	case 0xB: /* Pop */
		if (size)
			return refuse(p, UDK_HID_E_ITEM_SIZE, "Pop carries no data, this one has %u bytes", size);
		if (!p->depth_push)
			return refuse(p, UDK_HID_E_PUSH_POP, "Pop without a Push");
		*g = p->stack[--p->depth_push];
		/* the report ID may change back: that is allowed, ids stay in use */
		return 0;
	default:
		return refuse(p, UDK_HID_E_UNKNOWN_ITEM, "global item tag 0x%x is reserved", tag);
	}
}

static int
local_item(struct parser *p, unsigned tag, const uint8_t *b, unsigned size)
{
	uint32_t u = udata(b, size);
	int r;

	switch (tag) {
	case 0x0: /* Usage */
		return add_usage(p, u, u, size == 4);
	case 0x1:
		if (p->have_min) /* a new range starts */
			return refuse(p, UDK_HID_E_USAGE_RANGE, "two Usage Minimum items without a Usage Maximum");
		p->have_min = true;
		p->usage_min = u;
		p->min_extended = size == 4;
		return usage_range_close(p);
	case 0x2:
		if (p->have_max)
			return refuse(p, UDK_HID_E_USAGE_RANGE, "two Usage Maximum items without a Usage Minimum");
		p->have_max = true;
		p->usage_max = u;
		p->max_extended = size == 4;
		return usage_range_close(p);
	case 0xA: /* Delimiter */
		if (u == 1) {
			if (p->delimiter)
				return refuse(p, UDK_HID_E_DELIMITER, "a delimiter set opened inside another");
			p->delimiter = 1;
			p->delimiter_taken = false;
		} else if (u == 0) {
			if (!p->delimiter)
				return refuse(p, UDK_HID_E_DELIMITER, "a delimiter set closed without being opened");
			p->delimiter = 0;
		} else {
			return refuse(p, UDK_HID_E_DELIMITER, "Delimiter %u; it is 1 (open) or 0 (close)", u);
		}
		return 0;
	default:
		/* designators and strings: no meaning for udk */
		r = 0;
		return r;
	}
}

static void
finish_spans(struct udk_hid_descriptor *d)
{
	for (uint32_t i = 0; i < d->n_fields; i++)
		d->fields[i].spans = d->spans + (uintptr_t)d->fields[i].spans;
}

UDK_EXPORT int
udk_hid_descriptor_parse(const uint8_t *data, size_t len, struct udk_hid_descriptor **ret,
			 struct udk_hid_problem *ret_problem)
{
	struct parser *p;
	struct udk_hid_descriptor *d;
	int r = 0;

	udk_return_val_if_fail(ret && (data || !len), -EINVAL);
	if (ret_problem)
		*ret_problem = (struct udk_hid_problem){ UDK_HID_OK, 0 };
	p = calloc(1, sizeof(*p));
	d = calloc(1, sizeof(*d));
	if (!p || !d) {
		free(p);
		free(d);
		return -ENOMEM;
	}
	p->data = data;
	p->len = len;
	p->d = d;
	p->problem = ret_problem;
	if (len > UDK_HID_MAX_DESCRIPTOR) {
		r = refuse(p, UDK_HID_E_TOO_LONG, "the descriptor has %zu bytes; the limit is %u", len,
			   UDK_HID_MAX_DESCRIPTOR);
		goto out;
	}
	while (p->at < len) {
		uint8_t prefix = data[p->at];
		unsigned size = prefix & 3, type = (prefix >> 2) & 3, tag = prefix >> 4;

		if (size == 3)
			size = 4;
		if (prefix == 0xfe) {
			r = refuse(p, UDK_HID_E_LONG_ITEM, "a long item; HID defines none and udk reads none");
			goto out;
		}
		if (len - p->at - 1 < size) {
			r = refuse(p, UDK_HID_E_TRUNCATED, "the item needs %u data bytes but the descriptor ends after %zu",
				   size, len - p->at - 1);
			goto out;
		}
		switch (type) {
		case 0:
			r = main_item(p, tag, data + p->at + 1, size);
			break;
		case 1:
			r = global_item(p, tag, data + p->at + 1, size);
			break;
		case 2:
			r = local_item(p, tag, data + p->at + 1, size);
			break;
		default:
			r = refuse(p, UDK_HID_E_UNKNOWN_ITEM, "item type 3 is reserved (prefix 0x%02x)", prefix);
			break;
		}
		if (r < 0)
			goto out;
		p->at += 1 + size;
	}
	if (p->depth) {
		r = refuse(p, UDK_HID_E_UNBALANCED, "%u collection(s) still open at the end (the outermost opened as "
						    "collection %u)",
			   p->depth, p->open[0]);
		goto out;
	}
	if (p->delimiter) {
		r = refuse(p, UDK_HID_E_DELIMITER, "a delimiter set is still open at the end");
		goto out;
	}
	if (!d->n_fields) {
		r = refuse(p, UDK_HID_E_EMPTY, "no input, output or feature item with data: the device would have "
					       "no reports");
		goto out;
	}
	d->data = malloc(len);
	if (!d->data) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(d->data, data, len);
	d->len = len;
	finish_spans(d);
out:
	free(p);
	if (r < 0) {
		free(d->fields);
		free(d->spans);
		free(d->collections);
		free(d->data);
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

UDK_EXPORT void
udk_hid_descriptor_free(struct udk_hid_descriptor *d)
{
	if (!d)
		return;
	free(d->fields);
	free(d->spans);
	free(d->collections);
	free(d->data);
	free(d);
}

UDK_EXPORT const uint8_t *
udk_hid_descriptor_get_data(const struct udk_hid_descriptor *d, size_t *ret_len)
{
	if (ret_len)
		*ret_len = d ? d->len : 0;
	return d ? d->data : NULL;
}

UDK_EXPORT uint32_t
udk_hid_descriptor_get_field_count(const struct udk_hid_descriptor *d)
{
	return d ? d->n_fields : 0;
}

UDK_EXPORT const struct udk_hid_field *
udk_hid_descriptor_get_field(const struct udk_hid_descriptor *d, uint32_t i)
{
	return d && i < d->n_fields ? &d->fields[i] : NULL;
}

UDK_EXPORT uint32_t
udk_hid_descriptor_get_collection_count(const struct udk_hid_descriptor *d)
{
	return d ? d->n_collections : 0;
}

UDK_EXPORT const struct udk_hid_collection *
udk_hid_descriptor_get_collection(const struct udk_hid_descriptor *d, uint32_t i)
{
	return d && i < d->n_collections ? &d->collections[i] : NULL;
}

UDK_EXPORT bool
udk_hid_descriptor_uses_report_ids(const struct udk_hid_descriptor *d)
{
	return d && d->ids;
}

UDK_EXPORT size_t
udk_hid_descriptor_report_length(const struct udk_hid_descriptor *d, enum udk_hid_report_type type, uint8_t id)
{
	if (!d || (unsigned)type >= N_TYPES || !d->defined[type][id] || (d->ids != (id != 0)))
		return 0;
	return (d->bits[type][id] + 7) / 8 + (id ? 1 : 0);
}

UDK_EXPORT size_t
udk_hid_descriptor_max_report_length(const struct udk_hid_descriptor *d, enum udk_hid_report_type type)
{
	size_t max = 0;

	for (unsigned id = 0; id < 256; id++) {
		size_t l = udk_hid_descriptor_report_length(d, type, (uint8_t)id);
		max = l > max ? l : max;
	}
	return max;
}

UDK_EXPORT size_t
udk_hid_descriptor_report_ids(const struct udk_hid_descriptor *d, enum udk_hid_report_type type, uint8_t *ids,
			      size_t cap)
{
	size_t n = 0;

	if (!d || (unsigned)type >= N_TYPES)
		return 0;
	for (unsigned id = 0; id < 256; id++)
		if (udk_hid_descriptor_report_length(d, type, (uint8_t)id)) {
			if (n < cap && ids)
				ids[n] = (uint8_t)id;
			n++;
		}
	return n;
}

UDK_EXPORT size_t
udk_hid_descriptor_device_usages(const struct udk_hid_descriptor *d, uint32_t *usages, size_t cap)
{
	size_t n = 0;

	for (uint32_t i = 0; d && i < d->n_collections; i++) {
		const struct udk_hid_collection *c = &d->collections[i];
		bool dup = false;
		if (c->depth != 0 || c->type != UDK_HID_COLLECTION_APPLICATION || !c->usage)
			continue;
		for (size_t k = 0; k < n && k < cap; k++)
			dup |= usages[k] == c->usage;
		if (dup)
			continue;
		if (n < cap && usages)
			usages[n] = c->usage;
		n++;
	}
	return n;
}

UDK_EXPORT int
udk_hid_report_check(const struct udk_hid_descriptor *d, enum udk_hid_report_type type, const uint8_t *report,
		     size_t len, struct udk_hid_problem *ret_problem)
{
	enum udk_hid_problem_code code;
	size_t want;
	uint8_t id = 0;

	udk_return_val_if_fail(d && (report || !len) && (unsigned)type < N_TYPES, -EINVAL);
	if (d->ids) {
		if (!len) {
			code = UDK_HID_E_REPORT_SHORT;
			if (ret_problem)
				*ret_problem = (struct udk_hid_problem){ code, 0 };
			return udk_set_reason(-EBADMSG, "%s: an empty %s report; this device's reports start with a "
							"report ID",
					      udk_hid_problem_name(code), type_names[type]);
		}
		id = report[0];
	}
	want = udk_hid_descriptor_report_length(d, type, id);
	if (!want) {
		code = UDK_HID_E_REPORT_UNKNOWN_ID;
		if (ret_problem)
			*ret_problem = (struct udk_hid_problem){ code, 0 };
		return udk_set_reason(-EBADMSG, "%s: %s report ID %u is not in the report descriptor",
				      udk_hid_problem_name(code), type_names[type], id);
	}
	if (len == want) {
		if (ret_problem)
			*ret_problem = (struct udk_hid_problem){ UDK_HID_OK, 0 };
		return 0;
	}
	code = len < want ? UDK_HID_E_REPORT_SHORT : UDK_HID_E_REPORT_LONG;
	if (ret_problem)
		*ret_problem = (struct udk_hid_problem){ code, len < want ? len : want };
	return udk_set_reason(-EBADMSG, "%s: %s report %u has %zu bytes; the report descriptor says %zu",
			      udk_hid_problem_name(code), type_names[type], id, len, want);
}

/* ---- values ---- */

UDK_EXPORT uint32_t
udk_hid_field_get_raw(const struct udk_hid_field *f, const uint8_t *report, size_t len, uint32_t index)
{
	uint64_t bit, v = 0;
	unsigned start = f && f->report_id ? 8 : 0;

	if (!f || !report || index >= f->count)
		return 0;
	bit = start + f->bit_offset + (uint64_t)index * f->bit_size;
	for (unsigned i = 0; i < f->bit_size; i++, bit++) {
		if (bit / 8 >= len)
			break;
		v |= (uint64_t)((report[bit / 8] >> (bit % 8)) & 1) << i;
	}
	return (uint32_t)v;
}

UDK_EXPORT int32_t
udk_hid_field_get_value(const struct udk_hid_field *f, const uint8_t *report, size_t len, uint32_t index)
{
	uint32_t raw = udk_hid_field_get_raw(f, report, len, index);

	if (!f)
		return 0;
	if (f->logical_min < 0 && f->bit_size < 32 && (raw >> (f->bit_size - 1)) & 1)
		return (int32_t)(raw | ~((1u << f->bit_size) - 1));
	return (int32_t)raw;
}

UDK_EXPORT void
udk_hid_field_set_value(const struct udk_hid_field *f, uint8_t *report, size_t len, uint32_t index, int32_t value)
{
	uint64_t bit;
	unsigned start = f && f->report_id ? 8 : 0;
	uint32_t v = (uint32_t)value;

	if (!f || !report || index >= f->count)
		return;
	if (f->report_id && len)
		report[0] = f->report_id;
	bit = start + f->bit_offset + (uint64_t)index * f->bit_size;
	for (unsigned i = 0; i < f->bit_size; i++, bit++) {
		if (bit / 8 >= len)
			break;
		if ((v >> i) & 1)
			report[bit / 8] |= (uint8_t)(1u << (bit % 8));
		else
			report[bit / 8] &= (uint8_t)~(1u << (bit % 8));
	}
}

UDK_EXPORT uint32_t
udk_hid_field_usage_at(const struct udk_hid_field *f, uint32_t n)
{
	if (!f)
		return 0;
	for (uint32_t i = 0; i < f->n_spans; i++) {
		const struct udk_hid_usage_span *s = &f->spans[i];
		uint32_t width = UDK_HID_USAGE_ID(s->last) - UDK_HID_USAGE_ID(s->first) + 1;
		if (n < width)
			return s->first + n;
		n -= width;
	}
	return 0;
}

UDK_EXPORT uint32_t
udk_hid_field_usage(const struct udk_hid_field *f, uint32_t index, int32_t value)
{
	if (!f || !f->n_usages)
		return 0;
	if (f->flags & UDK_HID_FIELD_VARIABLE)
		return udk_hid_field_usage_at(f, index < f->n_usages ? index : f->n_usages - 1);
	if (value < f->logical_min || value > f->logical_max)
		return 0;
	return udk_hid_field_usage_at(f, (uint32_t)((int64_t)value - f->logical_min));
}

/* ---- the boot keyboard ---- */

static const uint8_t boot_keyboard[] = {
	0x05, 0x01, 0x09, 0x06, 0xa1, 0x01,		/* Generic Desktop, Keyboard, Application */
	0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, /* keyboard page, modifiers 0xe0..0xe7, 0..1 */
	0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, /* 8 x 1 bit, Input (Data,Var,Abs) */
	0x95, 0x01, 0x75, 0x08, 0x81, 0x01,		/* 1 x 8 bits, Input (Constant): reserved */
	0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, /* LEDs 1..5 */
	0x29, 0x05, 0x91, 0x02,				/* Output (Data,Var,Abs) */
	0x95, 0x01, 0x75, 0x03, 0x91, 0x01,		/* 3 bits of padding */
	0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0x65, /* 6 x 8 bits, 0..101 */
	0x05, 0x07, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00, /* key codes 0..101, Input (Data,Array) */
	0xc0,
};

UDK_EXPORT const uint8_t *
udk_hid_boot_keyboard_descriptor(size_t *ret_len)
{
	if (ret_len)
		*ret_len = sizeof(boot_keyboard);
	return boot_keyboard;
}

UDK_EXPORT int
udk_hid_boot_keyboard_update(uint8_t report[8], uint32_t usage, bool down)
{
	uint16_t id = UDK_HID_USAGE_ID(usage);
	int free_slot = -1;

	udk_return_val_if_fail(report, -EINVAL);
	if (UDK_HID_USAGE_PAGE(usage) != 0x07 || id < 0x04 || (id > 0x65 && id < 0xe0) || id > 0xe7)
		return udk_set_reason(-EINVAL, "usage 0x%08x is not a key a boot keyboard reports", usage);
	if (id >= 0xe0) {
		if (down)
			report[0] |= (uint8_t)(1u << (id - 0xe0));
		else
			report[0] &= (uint8_t)~(1u << (id - 0xe0));
		return 0;
	}
	for (int i = 2; i < 8; i++) {
		if (report[i] == id) {
			if (!down)
				report[i] = 0;
			return 0;
		}
		if (report[i] == 0 && free_slot < 0)
			free_slot = i;
	}
	if (!down)
		return 0;
	if (free_slot < 0)
		return udk_set_reason(-ENOSPC, "six keys are already down; a boot keyboard reports no seventh");
	report[free_slot] = (uint8_t)id;
	return 0;
}

/* ---- a readable dump ---- */

static const char *
page_name(uint32_t page)
{
	switch (page) {
	case 0x01: return "Generic Desktop";
	case 0x02: return "Simulation";
	case 0x05: return "Game";
	case 0x06: return "Generic Device";
	case 0x07: return "Keyboard/Keypad";
	case 0x08: return "LED";
	case 0x09: return "Button";
	case 0x0c: return "Consumer";
	case 0x0d: return "Digitizer";
	case 0x0f: return "Physical Input Device";
	case 0x14: return "Auxiliary Display";
	case 0x20: return "Sensor";
	case 0x84: return "Power Device";
	case 0x85: return "Battery System";
	default: return page >= 0xff00 ? "Vendor-defined" : NULL;
	}
}

static void
flags_str(struct buf *b, uint32_t f)
{
	buf_printf(b, "%s,%s,%s", f & UDK_HID_FIELD_CONSTANT ? "Constant" : "Data",
		   f & UDK_HID_FIELD_VARIABLE ? "Variable" : "Array", f & UDK_HID_FIELD_RELATIVE ? "Relative" : "Absolute");
	if (f & UDK_HID_FIELD_WRAP)
		buf_puts(b, ",Wrap");
	if (f & UDK_HID_FIELD_NONLINEAR)
		buf_puts(b, ",Nonlinear");
	if (f & UDK_HID_FIELD_NO_PREFERRED)
		buf_puts(b, ",NoPreferred");
	if (f & UDK_HID_FIELD_NULL_STATE)
		buf_puts(b, ",NullState");
	if (f & UDK_HID_FIELD_VOLATILE)
		buf_puts(b, ",Volatile");
	if (f & UDK_HID_FIELD_BUFFERED_BYTES)
		buf_puts(b, ",BufferedBytes");
}

UDK_EXPORT int
udk_hid_descriptor_dump(const struct udk_hid_descriptor *d, char **ret)
{
	static const char *const mains[16] = { [0x8] = "Input", [0x9] = "Output", [0xA] = "Collection",
					       [0xB] = "Feature", [0xC] = "End Collection" };
	static const char *const globals[16] = { "Usage Page",	  "Logical Minimum", "Logical Maximum",
						 "Physical Minimum", "Physical Maximum", "Unit Exponent",
						 "Unit",	     "Report Size",	"Report ID",
						 "Report Count",     "Push",		"Pop" };
	static const char *const locals[16] = { "Usage", "Usage Minimum", "Usage Maximum", "Designator Index",
						"Designator Minimum", "Designator Maximum", NULL, "String Index",
						"String Minimum", "String Maximum", "Delimiter" };
	struct buf b;
	size_t at = 0;
	unsigned indent = 0;

	udk_return_val_if_fail(d && ret, -EINVAL);
	buf_init(&b, 0);
	while (at < d->len) {
		uint8_t prefix = d->data[at];
		unsigned size = prefix & 3, type = (prefix >> 2) & 3, tag = prefix >> 4;
		const char *name = NULL;
		uint32_t v;

		size = size == 3 ? 4 : size;
		v = udata(d->data + at + 1, size);
		if (type == 0 && tag == 0xC && indent)
			indent--;
		buf_printf(&b, "%04zx: ", at);
		for (unsigned i = 0; i < 5; i++)
			buf_printf(&b, i <= size ? "%02x " : "   ", i <= size ? d->data[at + i] : 0);
		buf_printf(&b, "%*s", (int)indent * 2, "");
		name = type == 0 ? mains[tag] : type == 1 ? globals[tag] : type == 2 ? locals[tag] : NULL;
		buf_puts(&b, name ? name : "?");
		if (type == 0 && (tag == 0x8 || tag == 0x9 || tag == 0xB)) {
			buf_puts(&b, " (");
			flags_str(&b, v);
			buf_putc(&b, ')');
		} else if (type == 0 && tag == 0xA) {
			static const char *const ctypes[] = { "Physical", "Application", "Logical", "Report",
							      "Named Array", "Usage Switch", "Usage Modifier" };
			buf_printf(&b, " (%s)", v < 7 ? ctypes[v] : "Vendor");
			indent++;
		} else if (type == 1 && tag == 0) {
			const char *pn = page_name(v);
			buf_printf(&b, " (0x%02x%s%s)", v, pn ? " " : "", pn ? pn : "");
		} else if (type == 1 && (tag >= 1 && tag <= 5)) {
			buf_printf(&b, " (%d)", sdata(d->data + at + 1, size));
		} else if (size) {
			buf_printf(&b, " (%u)", v);
		}
		buf_putc(&b, '\n');
		at += 1 + size;
	}
	for (unsigned t = 0; t < N_TYPES; t++)
		for (unsigned id = 0; id < 256; id++) {
			size_t l = udk_hid_descriptor_report_length(d, t, (uint8_t)id);
			if (l)
				buf_printf(&b, "%s report %u: %zu bytes\n", type_names[t], id, l);
		}
	*ret = buf_steal_string(&b);
	return *ret ? 0 : -ENOMEM;
}
