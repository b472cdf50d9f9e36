/* SPDX-License-Identifier: MIT */
/*
 * hid-lib.h - libudk-hid's insides (internal), one section per file:
 *
 *   channel.c       the process's HID channel: receive, route, batch, send
 *   interface.c     devices a driver reads or seizes
 *   device.c        virtual HID devices
 *   eventservice.c  event services and the user client apps open
 */
#ifndef UDK_HID_LIB_H
#define UDK_HID_LIB_H

#include <pthread.h>

#include <udk/families/hid.h>

#include "hid-decode.h"
#include "private.h"
#include "proto-hid.h"

enum lib_handle_kind {
	LH_INTERFACE,
	LH_DEVICE,
};

/* What a record on the channel is for. */
struct lib_handle {
	struct lib_handle *next;
	uint32_t id;
	enum lib_handle_kind kind;
	struct udk_queue *queue;	/* where its records are handled (reference) */
	void *obj;			/* struct udk_hid_interface or struct udk_hid_device */
};

/* ---- channel.c ---- */

/* Open the channel if needed; its records are read on @queue's thread. */
int hid_channel_ensure(struct udk_queue *queue);
/* Route records of handle @id to @obj on @queue. */
int hid_channel_add(uint32_t id, enum lib_handle_kind kind, struct udk_queue *queue, void *obj);
/* Forget @id: records for it are dropped from now on. */
void hid_channel_remove(uint32_t id);
/*
 * Send a record.  Inside hid_channel_batch_begin/end on this thread it
 * joins the batch, which goes out as one datagram.
 */
int hid_channel_send(const struct proto_hid_rec *rec, const void *payload);
void hid_channel_batch_begin(void);
/* Send the batch with @ack (may be NULL) last. */
void hid_channel_batch_end(const struct proto_hid_rec *ack);

/* ---- interface.c ---- */

void hid_interface_record(struct udk_hid_interface *iface, const struct proto_hid_rec *rec, const uint8_t *payload);

/* ---- device.c ---- */

void hid_device_record(struct udk_hid_device *dev, const struct proto_hid_rec *rec, const uint8_t *payload);

#endif
