/* SPDX-License-Identifier: MIT */
/* capture.h - the contract between the capture driver and its apps. */
#ifndef UDK_EXAMPLE_CAPTURE_H
#define UDK_EXAMPLE_CAPTURE_H

#include <stdint.h>

#define CAPTURE_MAX_BUFFERS 16

enum capture_selector {
	CAPTURE_GET_EDID,	/* struct capture_edid: the driver fills the app's buffer */
	CAPTURE_GET_FORMAT,	/* -> width, height, stride, frame size */
	CAPTURE_ADD_BUFFERS,	/* struct capture_buffers: prepare the app's buffers for DMA */
	CAPTURE_START,		/* scalar fps (0: as fast as possible) */
	CAPTURE_STOP,
	CAPTURE_RELEASE,	/* scalar index: the app is done with that buffer */
	CAPTURE_IRQ_LATENCY,	/* scalar n -> median, p99 ns from device to handler */
	CAPTURE_SELECTOR_COUNT,
};

struct capture_edid {
	uint64_t size;
	uint64_t uaddr;
};

struct capture_buffers {
	uint64_t count;
	uint64_t addr[CAPTURE_MAX_BUFFERS];
};

/* Data queue 0 carries one of these per captured frame. */
struct capture_event {
	uint32_t index;		/* which buffer */
	uint32_t reserved;
	uint64_t frame;		/* frame number */
	uint64_t time_ns;	/* when the card signalled it */
};

#endif
