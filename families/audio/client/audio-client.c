/* SPDX-License-Identifier: MIT */
/*
 * audio/client/audio-client.c - libudk-audio-client: presence handles and
 * controls for apps (<udk/families/audio-client.h>), on libudk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/audio-client.h>

#include "proto-audio.h"

struct udk_audio_presence {
	struct udk_connection *conn;
};

UDK_EXPORT int
udk_audio_presence_hold(struct udk_client *c, const char *name, struct udk_audio_presence **ret, bool *ret_visible)
{
	struct udk_value *match;
	uint64_t *ids = NULL;
	size_t n = 0;
	int r, last = -ENOENT;

	if (!c || !name || !*name || strlen(name) > AUDIO_TEXT_MAX || !ret)
		return -EINVAL;
	match = udk_matching_class("IOUserAudioDriver");
	r = udk_client_find_services(c, match, &ids, &n);
	udk_value_unref(match);
	if (r < 0)
		return r;
	/* the device may be hidden: ask each audio driver whether it is its */
	for (size_t i = 0; i < n; i++) {
		struct udk_connection *conn = NULL;
		uint64_t out = 0;
		uint32_t n_out = 1;
		r = udk_client_open(c, ids[i], AUDIO_UC_PRESENCE, &conn);
		if (r < 0) {
			last = r;
			continue;
		}
		r = udk_connection_call(conn, AUDIO_SEL_HOLD_PRESENCE, NULL, 0, name, strlen(name), &out, &n_out, NULL,
					NULL);
		if (r >= 0) {
			struct udk_audio_presence *p = calloc(1, sizeof(*p));
			if (!p) {
				udk_connection_unref(conn);
				free(ids);
				return -ENOMEM;
			}
			p->conn = conn;
			if (ret_visible)
				*ret_visible = out != 0;
			*ret = p;
			free(ids);
			return 0;
		}
		if (r != -ENOENT)
			last = r;
		udk_connection_unref(conn);
	}
	free(ids);
	return last;
}

UDK_EXPORT void
udk_audio_presence_release(struct udk_audio_presence *p)
{
	if (!p)
		return;
	udk_connection_close(p->conn);
	udk_connection_unref(p->conn);
	free(p);
}

UDK_EXPORT int
udk_audio_find_device(struct udk_client *c, const char *name, uint64_t *ret_id)
{
	struct udk_value *match = udk_matching_class("IOUserAudioDevice"), *pm = udk_value_new_dict();
	uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	udk_dict_set_string(pm, "UDKAudioName", name);
	udk_dict_set_take(match, "IOPropertyMatch", pm);
	r = udk_client_find_services(c, match, &ids, &n);
	udk_value_unref(match);
	if (r >= 0 && !n)
		r = -UDK_E_NO_SUCH_SERVICE;
	if (r >= 0)
		*ret_id = ids[0];
	free(ids);
	return r;
}

UDK_EXPORT int
udk_audio_set_control(struct udk_client *c, const char *name, const char *control, int32_t value)
{
	struct udk_connection *conn = NULL;
	struct udk_value *svc = NULL;
	const struct udk_value *controls;
	uint64_t id, in[2];
	char *end;
	long index = -1;
	int r;

	if (!c || !name || !control)
		return -EINVAL;
	r = udk_audio_find_device(c, name, &id);
	if (r < 0)
		return r;
	r = udk_client_copy_service(c, id, &svc);
	if (r < 0)
		return r;
	controls = udk_dict_get(udk_dict_get(svc, "properties"), "UDKAudioControls");
	for (size_t i = 0; i < udk_array_size(controls); i++) {
		const char *cn = udk_dict_get_string(udk_array_get(controls, i), "name");
		if (cn && !strcmp(cn, control))
			index = (long)i;
	}
	if (index < 0) {
		index = strtol(control, &end, 10);
		if (*end || index < 0 || (size_t)index >= udk_array_size(controls))
			index = -1;
	}
	udk_value_unref(svc);
	if (index < 0)
		return -ENOENT;
	r = udk_client_open(c, id, AUDIO_UC_IO, &conn);
	if (r < 0)
		return r;
	in[0] = (uint64_t)index;
	in[1] = (uint64_t)(int64_t)value;
	r = udk_connection_call(conn, AUDIO_SEL_SET_CONTROL, in, 2, NULL, 0, NULL, NULL, NULL, NULL);
	udk_connection_unref(conn);
	return r;
}
