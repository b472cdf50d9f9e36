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
	HELLO_SELECTOR_COUNT,
};

/* The seed's MWCAP_EDID_DATA: an app buffer passed by address. */
struct hello_edid {
	uint64_t size;
	uint64_t uaddr;
};

#define HELLO_EDID_SIZE 256

#endif
