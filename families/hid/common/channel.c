/* SPDX-License-Identifier: MIT */
/*
 * hid/common/channel.c - the records of the HID channel (proto-hid.h):
 * the walker both ends use before trusting a datagram, and batches.
 */
#include <stdlib.h>
#include <string.h>

#include "proto-hid.h"
#include "util.h"

static bool
type_ok(uint16_t type, int from_udkd)
{
	if (from_udkd)
		return type >= PROTO_HID_REC_REPORT && type <= PROTO_HID_REC_CLOSED;
	return type >= PROTO_HID_REC_ACK && type <= PROTO_HID_REC_START;
}

int
proto_hid_walk(const uint8_t *data, size_t len, int from_udkd,
	       int (*fn)(void *ctx, const struct proto_hid_rec *rec, const uint8_t *payload), void *ctx)
{
	size_t at = 0;
	int n = 0;

	if (len > PROTO_HID_MAX_DATAGRAM)
		return udk_set_reason(-UDK_E_PROTOCOL, "a HID channel datagram of %zu bytes, over the %u-byte limit", len,
				      PROTO_HID_MAX_DATAGRAM);
	while (at < len) {
		struct proto_hid_rec rec;
		size_t size;
		int r;

		if (len - at < sizeof(rec))
			return udk_set_reason(-UDK_E_PROTOCOL, "HID channel record %d: %zu bytes left, a header needs %zu",
					      n, len - at, sizeof(rec));
		memcpy(&rec, data + at, sizeof(rec));
		if (!type_ok(rec.type, from_udkd))
			return udk_set_reason(-UDK_E_PROTOCOL, "HID channel record %d: type %u is not one %s sends", n,
					      rec.type, from_udkd ? "udkd" : "a driver");
		if (rec.len > PROTO_HID_MAX_PAYLOAD)
			return udk_set_reason(-UDK_E_PROTOCOL, "HID channel record %d: %u bytes of payload, over %u", n,
					      rec.len, PROTO_HID_MAX_PAYLOAD);
		size = proto_hid_rec_size(rec.len);
		if (size > len - at)
			return udk_set_reason(-UDK_E_PROTOCOL,
					      "HID channel record %d: %u bytes of payload, but the datagram ends after %zu",
					      n, rec.len, len - at - sizeof(rec));
		if (rec.report_type > 2)
			return udk_set_reason(-UDK_E_PROTOCOL, "HID channel record %d: report type %u", n,
					      rec.report_type);
		r = fn ? fn(ctx, &rec, data + at + sizeof(rec)) : 0;
		if (r < 0)
			return r;
		at += size;
		n++;
	}
	return n;
}

int
proto_hid_batch_add(struct proto_hid_batch *b, const struct proto_hid_rec *rec, const void *payload)
{
	size_t size = proto_hid_rec_size(rec->len);

	if (rec->len > PROTO_HID_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (b->len + size > PROTO_HID_MAX_DATAGRAM)
		return -ENOSPC;
	if (b->len + size > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		uint8_t *n;
		while (cap < b->len + size)
			cap *= 2;
		n = realloc(b->data, cap);
		if (!n)
			return -ENOMEM;
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, rec, sizeof(*rec));
	if (rec->len)
		memcpy(b->data + b->len + sizeof(*rec), payload, rec->len);
	memset(b->data + b->len + sizeof(*rec) + rec->len, 0, size - sizeof(*rec) - rec->len);
	b->len += size;
	b->n++;
	return 0;
}

void
proto_hid_batch_reset(struct proto_hid_batch *b)
{
	b->len = 0;
	b->n = 0;
}

void
proto_hid_batch_free(struct proto_hid_batch *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
