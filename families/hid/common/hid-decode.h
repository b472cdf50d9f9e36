/* SPDX-License-Identifier: MIT */
/*
 * hid-decode.h - input reports and Linux input frames to HID events
 * (internal; the event services of libudk-hid, udkd's uinput export and
 * the fuzz targets use it).
 *
 * A decoder keeps the last report of every report ID (and, for Linux
 * input devices, which keys are down), so it emits one event per change:
 * a key going down or up, pointer motion and button changes, scrolling.
 */
#ifndef UDK_HID_DECODE_H
#define UDK_HID_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <udk/families/hid-descriptor.h>
#include <udk/families/hid-event.h>

#include "proto-hid.h"

struct hid_decoder;

typedef void (*hid_emit_fn)(void *ctx, const struct udk_hid_event *ev);

/* @d: the device's descriptor (borrowed, outlives the decoder), or NULL for
 * a Linux input device.  @sender goes into every event. */
int hid_decoder_new(const struct udk_hid_descriptor *d, uint64_t sender, struct hid_decoder **ret);
void hid_decoder_free(struct hid_decoder *dec);
/* One input report that passed udk_hid_report_check(). */
void hid_decoder_report(struct hid_decoder *dec, uint64_t time_ns, const uint8_t *report, size_t len, hid_emit_fn emit,
			void *ctx);
/* One frame of Linux input events. */
void hid_decoder_evdev(struct hid_decoder *dec, uint64_t time_ns, const struct proto_hid_evdev *ev, size_t n,
		       hid_emit_fn emit, void *ctx);
/* Whether @usage (extended) is down now. */
bool hid_decoder_is_down(struct hid_decoder *dec, uint32_t usage);
/* Everything that is down goes up (the device went away or was released). */
void hid_decoder_release_all(struct hid_decoder *dec, uint64_t time_ns, hid_emit_fn emit, void *ctx);

#endif
