/* SPDX-License-Identifier: MIT */
/*
 * hid-fixture.h - what the HID family's integration tests share: the
 * shipped HID bundles installed into a fixture (with test tweaks), the
 * simulated keyboard's control socket, and an app's view of a device's
 * events.
 */
#ifndef UDK_HID_FIXTURE_H
#define UDK_HID_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <udk/families/hid-client.h>

#include "fixture.h"

/* A simulated keyboard (and mouse) device entry, control socket in the fixture's dir. */
char *hid_sim_device(struct fixture *f, const char *name, const char *functions, const char *transport, bool built_in);
/* Install drivers/<dir> as <Name>.dext: @patch_info is inserted before UserClientProperties,
 * @extra_ent before the entitlements' end. */
void hid_install_bundle(struct fixture *f, const char *dir, const char *name, const char *exe, const char *patch_info,
			const char *extra_ent);
/* Send a command to the simulated device @name; returns the reply (static). */
const char *hid_sim(struct fixture *f, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The registry id of a path; fails the test after @timeout_ms. */
uint64_t hid_wait_path(struct fixture *f, const char *path, int timeout_ms);
/* Open the event service of device @path and subscribe. */
struct udk_hid_client *hid_events_open(struct fixture *f, const char *path, uint32_t mask);
/*
 * Read key events from @h into "name down/up" words separated by spaces,
 * until @n events or @timeout_ms of quiet; returns a static string.
 */
const char *hid_read_keys(struct udk_hid_client *h, int n, int timeout_ms);
/* `udkctl` with the fixture; asserts exit status @want. */
char *hid_udkctl(struct fixture *f, int want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
