/* SPDX-License-Identifier: MIT */
/*
 * families/audio-client.h - for apps: what an app does with udk audio
 * devices besides playing and recording (which every ALSA program does,
 * through the udk ALSA plugin).
 *
 * Presence (the seed: a virtual device visible only while its app runs):
 * a device whose driver made it UDK_AUDIO_VISIBLE_WHILE_HELD is in the
 * registry, in `aplay -L` and openable only while some app holds it:
 *
 *	struct udk_audio_presence *p;
 *	udk_audio_presence_hold(client, "mydevice", &p);	// visible now
 *	...						// the app's life
 *	udk_audio_presence_release(p);			// or just exit, or crash
 *
 * The handle is a user client connection to the device's driver: when the
 * app ends, however it ends, the kernel closes it and the device goes.
 *
 * Controls: udk_audio_set_control() changes a control by name (a volume in
 * 1/100 dB, a mute 0/1, a selector's item index, e.g. a clock source).
 * What changes reaches every app subscribed to the device's property
 * notifications (udk_client_add_notification, UDK_NOTIFY_PROPERTY;
 * udk_notification_get_properties() gives the new description).
 */
#ifndef UDK_FAMILIES_AUDIO_CLIENT_H
#define UDK_FAMILIES_AUDIO_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <udk/client.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_audio_presence;

/*
 * Hold the audio device @name (or its uid) visible while the handle lives.
 * -ENOENT when no audio driver has such a device.  *ret_visible (may be
 * NULL) tells whether it is in the registry now.
 */
UDK_EXPORT int udk_audio_presence_hold(struct udk_client *c, const char *name, struct udk_audio_presence **ret,
				       bool *ret_visible);
UDK_EXPORT void udk_audio_presence_release(struct udk_audio_presence *p);

/* The registry id of the visible device @name; UDK_E_NO_SUCH_SERVICE. */
UDK_EXPORT int udk_audio_find_device(struct udk_client *c, const char *name, uint64_t *ret_id);

/*
 * Set @control (its name, or its index in decimal) of device @name to
 * @value; for selectors @value is the item's index.  The driver may refuse
 * (e.g. a clock switch while streams run), with the reason.
 */
UDK_EXPORT int udk_audio_set_control(struct udk_client *c, const char *name, const char *control, int32_t value);

#ifdef __cplusplus
}
#endif
#endif
