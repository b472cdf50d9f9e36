/* SPDX-License-Identifier: MIT */
/* hello.h - the contract between the Hello driver and its apps. */
#ifndef UDK_EXAMPLE_HELLO_H
#define UDK_EXAMPLE_HELLO_H

#include <stdint.h>

enum hello_selector {
	HELLO_GREET,		/* struct in: a name; struct out: a greeting */
	HELLO_ADD,		/* scalars a, b -> a + b */
	HELLO_GET_EDID,		/* struct in: struct hello_edid; fills the app's buffer */
	HELLO_TICK_ASYNC,	/* async, scalar n: completes after n ticks with the tick count */
	HELLO_CHECKSUM,		/* struct in of any size (over 4 KiB it travels in memory) -> sum */
	HELLO_START_EVENTS,	/* scalar n: put n events on data queue 0 */
	HELLO_SELECTOR_COUNT,
};

/* udk_connection_map_memory() types */
enum hello_memory {
	HELLO_MEMORY_STATUS,	/* a read-only page of driver status (struct hello_status) */
};

struct hello_status {
	uint64_t calls;		/* external methods served */
	uint64_t events;	/* events queued */
};

/* data queue 0 carries these */
struct hello_event {
	uint64_t seq;
	uint64_t time_ns;
};

/* The seed's MWCAP_EDID_DATA: an app buffer passed by address. */
struct hello_edid {
	uint64_t size;
	uint64_t uaddr;
};

#define HELLO_EDID_SIZE 256

#endif
