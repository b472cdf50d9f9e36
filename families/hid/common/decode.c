/* SPDX-License-Identifier: MIT */
/*
 * hid/common/decode.c - input reports and Linux input frames to HID
 * events (hid-decode.h).
 *
 * Reports: variable fields are compared with the same report's previous
 * values (keys and buttons emit on change, relative axes always), arrays
 * are sets of selected usages (what left the set went up, what joined went
 * down; an ErrorRollOver array keeps its previous keys).  Linux frames:
 * key codes become usages, relative axes pointer motion and scrolling,
 * SYN_REPORT ends a pointer event.  Both keep the set of usages that are
 * down, so nothing is reported down twice or up without having been down.
 */
#include <linux/input-event-codes.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/hid-usage.h>

#include "hid-decode.h"
#include "util.h"

#define MAX_DOWN 256

struct hid_decoder {
	const struct udk_hid_descriptor *desc;
	uint64_t sender;
	uint8_t *prev[256];		/* last report per ID (NULL: all zero so far) */
	uint32_t down[MAX_DOWN];	/* usages down (keys, consumer controls, buttons) */
	unsigned n_down;
	uint32_t buttons;
	/* a pointer event being built */
	int32_t dx, dy, sdx, sdy, ax, ay;
	bool moved, scrolled, abs_moved, buttons_changed;
};

int
hid_decoder_new(const struct udk_hid_descriptor *d, uint64_t sender, struct hid_decoder **ret)
{
	struct hid_decoder *dec = calloc(1, sizeof(*dec));

	if (!dec)
		return -ENOMEM;
	dec->desc = d;
	dec->sender = sender;
	*ret = dec;
	return 0;
}

void
hid_decoder_free(struct hid_decoder *dec)
{
	if (!dec)
		return;
	for (unsigned i = 0; i < 256; i++)
		free(dec->prev[i]);
	free(dec);
}

static bool
is_down(struct hid_decoder *dec, uint32_t usage)
{
	for (unsigned i = 0; i < dec->n_down; i++)
		if (dec->down[i] == usage)
			return true;
	return false;
}

static bool
set_down(struct hid_decoder *dec, uint32_t usage, bool down)
{
	for (unsigned i = 0; i < dec->n_down; i++)
		if (dec->down[i] == usage) {
			if (!down)
				dec->down[i] = dec->down[--dec->n_down];
			return !down;
		}
	if (!down || dec->n_down >= MAX_DOWN)
		return false;
	dec->down[dec->n_down++] = usage;
	return true;
}

static uint32_t
key_type(uint32_t usage)
{
	uint16_t page = UDK_HID_USAGE_PAGE(usage), id = UDK_HID_USAGE_ID(usage);

	if (page == UDK_HID_PAGE_KEYBOARD)
		return UDK_HID_EVENT_KEYBOARD;
	if (page == UDK_HID_PAGE_CONSUMER || (page == UDK_HID_PAGE_GENERIC_DESKTOP && id >= 0x81 && id <= 0x83))
		return UDK_HID_EVENT_CONSUMER;
	return 0;
}

static void
emit_key(struct hid_decoder *dec, uint64_t t, uint32_t type, uint32_t usage, bool down, hid_emit_fn emit, void *ctx)
{
	struct udk_hid_event ev = { .type = type, .timestamp_ns = t, .sender = dec->sender };

	if (!set_down(dec, usage, down))
		return;
	ev.key.usage_page = UDK_HID_USAGE_PAGE(usage);
	ev.key.usage = UDK_HID_USAGE_ID(usage);
	ev.key.value = down;
	emit(ctx, &ev);
}

static void
emit_value(struct hid_decoder *dec, uint64_t t, uint32_t usage, int32_t value, hid_emit_fn emit, void *ctx)
{
	struct udk_hid_event ev = { .type = UDK_HID_EVENT_VALUE, .timestamp_ns = t, .sender = dec->sender };

	ev.key.usage_page = UDK_HID_USAGE_PAGE(usage);
	ev.key.usage = UDK_HID_USAGE_ID(usage);
	ev.key.value = value;
	emit(ctx, &ev);
}

/* A usage that is a key, a button or a plain value went to @on. */
static void
usage_state(struct hid_decoder *dec, uint64_t t, uint32_t usage, bool on, hid_emit_fn emit, void *ctx)
{
	uint32_t type = key_type(usage);

	if (!UDK_HID_USAGE_ID(usage))
		return;
	if (UDK_HID_USAGE_PAGE(usage) == UDK_HID_PAGE_BUTTON) {
		unsigned bit = UDK_HID_USAGE_ID(usage) - 1;
		if (bit < 32 && !!(dec->buttons & (1u << bit)) != on) {
			dec->buttons ^= 1u << bit;
			dec->buttons_changed = true;
			set_down(dec, usage, on);
		}
		return;
	}
	if (type) {
		emit_key(dec, t, type, usage, on, emit, ctx);
		return;
	}
	if (set_down(dec, usage, on))
		emit_value(dec, t, usage, on, emit, ctx);
}

static void
flush_pointer(struct hid_decoder *dec, uint64_t t, hid_emit_fn emit, void *ctx)
{
	if (dec->moved || dec->buttons_changed) {
		struct udk_hid_event ev = { .type = UDK_HID_EVENT_POINTER, .timestamp_ns = t, .sender = dec->sender };
		ev.pointer.x = dec->dx;
		ev.pointer.y = dec->dy;
		ev.pointer.buttons = dec->buttons;
		emit(ctx, &ev);
	}
	if (dec->abs_moved) {
		struct udk_hid_event ev = { .type = UDK_HID_EVENT_POINTER, .flags = UDK_HID_EVENT_ABSOLUTE,
					    .timestamp_ns = t, .sender = dec->sender };
		ev.pointer.x = dec->ax;
		ev.pointer.y = dec->ay;
		ev.pointer.buttons = dec->buttons;
		emit(ctx, &ev);
	}
	if (dec->scrolled) {
		struct udk_hid_event ev = { .type = UDK_HID_EVENT_SCROLL, .timestamp_ns = t, .sender = dec->sender };
		ev.scroll.dx = dec->sdx;
		ev.scroll.dy = dec->sdy;
		emit(ctx, &ev);
	}
	dec->dx = dec->dy = dec->sdx = dec->sdy = 0;
	dec->moved = dec->scrolled = dec->abs_moved = dec->buttons_changed = false;
}

static void
relative(struct hid_decoder *dec, uint64_t t, uint32_t usage, int32_t v, hid_emit_fn emit, void *ctx)
{
	if (!v)
		return;
	if (usage == UDK_HID_USAGE(1, UDK_HID_GD_X)) {
		dec->dx += v;
		dec->moved = true;
	} else if (usage == UDK_HID_USAGE(1, UDK_HID_GD_Y)) {
		dec->dy += v;
		dec->moved = true;
	} else if (usage == UDK_HID_USAGE(1, UDK_HID_GD_WHEEL)) {
		dec->sdy += v;
		dec->scrolled = true;
	} else if (usage == UDK_HID_USAGE(0x0c, UDK_HID_CONSUMER_AC_PAN)) {
		dec->sdx += v;
		dec->scrolled = true;
	} else {
		emit_value(dec, t, usage, v, emit, ctx);
	}
}

/* Whether an array element's usage is one of the keyboard's error codes. */
static bool
rollover(uint32_t usage)
{
	return UDK_HID_USAGE_PAGE(usage) == UDK_HID_PAGE_KEYBOARD && UDK_HID_USAGE_ID(usage) >= 1 &&
	       UDK_HID_USAGE_ID(usage) <= 3;
}

static void
array_field(struct hid_decoder *dec, uint64_t t, const struct udk_hid_field *f, uint8_t *cur, const uint8_t *prev,
	    size_t len, hid_emit_fn emit, void *ctx)
{
	uint32_t n = f->count < 64 ? f->count : 64;
	uint32_t now[64], before[64];

	for (uint32_t i = 0; i < n; i++) {
		now[i] = udk_hid_field_usage(f, i, udk_hid_field_get_value(f, cur, len, i));
		before[i] = udk_hid_field_usage(f, i, udk_hid_field_get_value(f, prev, len, i));
		if (rollover(now[i])) {
			/* the keyboard cannot say which keys are down: keep the last state */
			for (uint32_t k = 0; k < f->count; k++)
				udk_hid_field_set_value(f, cur, len, k, udk_hid_field_get_value(f, prev, len, k));
			return;
		}
	}
	/* up first, then down, as a keyboard's rollover would */
	for (uint32_t i = 0; i < n; i++) {
		bool still = false;
		for (uint32_t k = 0; k < n && !still; k++)
			still = now[k] == before[i];
		if (before[i] && !still && !rollover(before[i]))
			usage_state(dec, t, before[i], false, emit, ctx);
	}
	for (uint32_t i = 0; i < n; i++) {
		bool had = false;
		for (uint32_t k = 0; k < n && !had; k++)
			had = before[k] == now[i];
		if (now[i] && !had)
			usage_state(dec, t, now[i], true, emit, ctx);
	}
}

void
hid_decoder_report(struct hid_decoder *dec, uint64_t t, const uint8_t *report, size_t len, hid_emit_fn emit,
		   void *ctx)
{
	const struct udk_hid_descriptor *d = dec->desc;
	uint8_t id = udk_hid_descriptor_uses_report_ids(d) && len ? report[0] : 0;
	uint8_t *prev = dec->prev[id], *cur;

	if (!d || !len || len > UDK_HID_MAX_REPORT)
		return;
	if (!prev) {
		prev = calloc(1, len);
		if (!prev)
			return;
		if (id)
			prev[0] = id;
		dec->prev[id] = prev;
	}
	cur = malloc(len);
	if (!cur)
		return;
	memcpy(cur, report, len);
	for (uint32_t i = 0; i < udk_hid_descriptor_get_field_count(d); i++) {
		const struct udk_hid_field *f = udk_hid_descriptor_get_field(d, i);
		if (f->type != UDK_HID_REPORT_INPUT || f->report_id != id || (f->flags & UDK_HID_FIELD_CONSTANT) ||
		    !f->n_usages)
			continue;
		if (!(f->flags & UDK_HID_FIELD_VARIABLE)) {
			array_field(dec, t, f, cur, prev, len, emit, ctx);
			continue;
		}
		for (uint32_t e = 0; e < f->count && e < 1024; e++) {
			uint32_t usage = udk_hid_field_usage(f, e, 0);
			int32_t v = udk_hid_field_get_value(f, cur, len, e);
			int32_t pv = udk_hid_field_get_value(f, prev, len, e);
			bool absolute = !(f->flags & UDK_HID_FIELD_RELATIVE);

			if (!absolute) {
				relative(dec, t, usage, v, emit, ctx);
			} else if (usage == UDK_HID_USAGE(1, UDK_HID_GD_X) || usage == UDK_HID_USAGE(1, UDK_HID_GD_Y)) {
				*(usage == UDK_HID_USAGE(1, UDK_HID_GD_X) ? &dec->ax : &dec->ay) = v;
				dec->abs_moved |= v != pv;
			} else if (key_type(usage) || UDK_HID_USAGE_PAGE(usage) == UDK_HID_PAGE_BUTTON ||
				   (f->bit_size == 1 && f->logical_max == 1)) {
				usage_state(dec, t, usage, v != 0, emit, ctx);
			} else if (v != pv) {
				emit_value(dec, t, usage, v, emit, ctx);
			}
		}
	}
	flush_pointer(dec, t, emit, ctx);
	memcpy(prev, cur, len);
	free(cur);
}

void
hid_decoder_evdev(struct hid_decoder *dec, uint64_t t, const struct proto_hid_evdev *ev, size_t n, hid_emit_fn emit,
		  void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t usage;
		switch (ev[i].type) {
		case EV_KEY:
			if (ev[i].value == 2) /* the kernel's autorepeat: repeats are the host's business */
				break;
			usage = udk_hid_usage_from_evdev(EV_KEY, ev[i].code);
			if (usage)
				usage_state(dec, t, usage, ev[i].value != 0, emit, ctx);
			break;
		case EV_REL:
			if (ev[i].code == REL_WHEEL_HI_RES || ev[i].code == REL_HWHEEL_HI_RES)
				break;
			usage = udk_hid_usage_from_evdev(EV_REL, ev[i].code);
			if (usage)
				relative(dec, t, usage, ev[i].value, emit, ctx);
			break;
		case EV_ABS:
			if (ev[i].code == ABS_X || ev[i].code == ABS_Y) {
				*(ev[i].code == ABS_X ? &dec->ax : &dec->ay) = ev[i].value;
				dec->abs_moved = true;
			}
			break;
		case EV_SYN:
			if (ev[i].code == SYN_REPORT)
				flush_pointer(dec, t, emit, ctx);
			break;
		default:
			break;
		}
	}
	flush_pointer(dec, t, emit, ctx);
}

void
hid_decoder_release_all(struct hid_decoder *dec, uint64_t t, hid_emit_fn emit, void *ctx)
{
	while (dec->n_down) {
		uint32_t usage = dec->down[dec->n_down - 1];
		if (UDK_HID_USAGE_PAGE(usage) == UDK_HID_PAGE_BUTTON)
			usage_state(dec, t, usage, false, emit, ctx);
		else if (key_type(usage))
			emit_key(dec, t, key_type(usage), usage, false, emit, ctx);
		else if (set_down(dec, usage, false))
			emit_value(dec, t, usage, 0, emit, ctx);
	}
	flush_pointer(dec, t, emit, ctx);
	for (unsigned i = 0; i < 256; i++) {
		free(dec->prev[i]);
		dec->prev[i] = NULL;
	}
}

bool
hid_decoder_is_down(struct hid_decoder *dec, uint32_t usage)
{
	return is_down(dec, usage);
}
