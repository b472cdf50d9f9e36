/* SPDX-License-Identifier: MIT */
/* audio-private.h - libudk-audio's insides shared by its files. */
#ifndef UDK_AUDIO_PRIVATE_H
#define UDK_AUDIO_PRIVATE_H

#include <pthread.h>

#include <udk/buffer.h>
#include <udk/families/audio.h>

#include "../proto-audio.h"

struct io_client;

struct udk_audio_control {
	struct udk_audio_device *dev;
	unsigned index;
	uint32_t kind;
	char *name;
	int32_t min, max, value;
	char **items;
	unsigned n_items;
	bool clock_source;
};

struct udk_audio_stream {
	struct udk_audio_device *dev;
	unsigned index;
	uint32_t direction;
	char *name;
	struct udk_audio_format_range formats[AUDIO_MAX_FORMATS];
	uint32_t n_formats;
	uint32_t min_period, max_buffer;

	/* open by an app (under dev->lock) */
	struct io_client *owner;
	struct udk_audio_stream_setup setup;
	struct udk_buffer *ring;
	struct audio_ring_header *hdr;
	uint8_t *samples;
	bool running;
	bool ending;			/* end_stream() at work */
	uint64_t reported_xruns;	/* total as last told udkd */
	uint64_t base_xruns, base_frames;	/* from the rings of earlier opens */
};

struct udk_audio_device {
	_Atomic int refcount;
	struct udk_service *self;	/* the driver (reference) */
	struct udk_queue *queue;
	struct udk_audio_ops ops;
	void *ctx;
	char *name, *description, *uid;
	uint32_t visibility;

	struct udk_audio_stream *streams[AUDIO_MAX_STREAMS];
	unsigned n_streams;
	struct udk_audio_control *controls[AUDIO_MAX_CONTROLS];
	unsigned n_controls;

	pthread_mutex_t lock;		/* everything below, the streams' open state, control values */
	pthread_mutex_t publish_lock;	/* orders what udkd hears */
	struct udk_service *nub;	/* the IOUserAudioDevice while visible (reference) */
	bool published, destroyed;
	unsigned holders;		/* presence handles */
	struct udk_timer *counters;	/* xrun counters to udkd while streams are open */
	struct udk_audio_device *next;	/* in the process's list */
};

/* hw.c needs the ring of a stream */
int audio_stream_ring_fd(struct udk_audio_stream *stream, uint64_t *ret_size);

#endif
