/* SPDX-License-Identifier: MIT */
/*
 * fuzz-udkd.h - an in-process udkd for the fuzz targets that drive its
 * handlers (fuzz-control, fuzz-driver): set up as main() does, with a real
 * registry from a small machine description (widget0 with a part, widget1),
 * trust store, access and power state, and a state directory of its own.
 */
#ifndef UDK_FUZZ_UDKD_H
#define UDK_FUZZ_UDKD_H

#include "udkd.h"

/* Set up @d; its state directory is /tmp/udk-fuzz-NAME-XXXXXX.  Aborts on failure. */
void fuzz_udkd_init(struct udkd *d, const char *name);
/* Let udkd's loop serve what is ready: a bounded number of rounds. */
void fuzz_udkd_settle(struct udkd *d);
/* Read and drop whatever waits on @fd, closing descriptors that came with it. */
void fuzz_drain(int fd);

#endif
