/* SPDX-License-Identifier: MIT */
/*
 * audio/driver/hw.c - the simulated audio device, from its driver's side
 * (udk_audio_hw_*): a channel to the device model, brokered by udkd.
 *
 * The device describes its streams and clock sources (OP_AUDIO_HW_INFO).
 * To run a stream the driver maps the stream's ring for the device's DMA
 * (OP_DM_DMA_MAP, read and write: the device reads the app's position and
 * samples, writes positions and captured samples) and starts it
 * (OP_AUDIO_HW_START).  From then on the device, not the driver, moves the
 * samples and publishes the positions: nothing happens here per period.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include "audio-common.h"
#include "audio-private.h"
#include "private.h"
#include "util.h"
#include "wire.h"

#define IOVA_BASE 0x100000000ull	/* stream i's ring at IOVA_BASE * (i + 1) */

struct udk_audio_hw {
	int fd;
	pthread_mutex_t lock;
	uint32_t serial;
	uint64_t mapped_len[AUDIO_MAX_STREAMS];	/* 0: not mapped */
	uint64_t faults;
};

/* Under hw->lock: a request and its reply, skipping fault notices. */
static int
call(struct udk_audio_hw *hw, uint16_t op, struct udk_value *body, const int *fds, unsigned n_fds,
     struct udk_value **ret)
{
	uint32_t serial = ++hw->serial;
	struct udk_value *empty = body ? NULL : udk_value_new_dict();
	int r = wire_send_value(hw->fd, op, 0, serial, 0, body ? body : empty, fds, n_fds);

	udk_value_unref(empty);
	if (r < 0)
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "the simulated audio device is gone");
	for (;;) {
		struct wire_msg m;
		r = wire_recv(hw->fd, &m, false);
		if (r == -EBADMSG)
			return udk_set_reason(-UDK_E_PROTOCOL, "the device model sent a malformed message");
		if (r < 0)
			return udk_set_reason(-UDK_E_HARDWARE_GONE, "the simulated audio device is gone");
		if (m.h.op == OP_DM_FAULT) {
			hw->faults++;
			udk_log_error("audio: IOMMU fault: %s",
				      udk_dict_get_string(m.body, "reason") ? udk_dict_get_string(m.body, "reason") : "?");
			wire_msg_clear(&m);
			continue;
		}
		if ((m.h.flags & WIRE_F_REPLY) && m.h.serial == serial) {
			r = m.h.status;
			if (r < 0)
				udk_set_reason_str(udk_dict_get_string(m.body, "reason"));
			else if (ret)
				*ret = TAKE_PTR(m.body);
			wire_msg_clear(&m);
			return r;
		}
		wire_msg_clear(&m);
	}
}

static int
locked_call(struct udk_audio_hw *hw, uint16_t op, struct udk_value *body, const int *fds, unsigned n_fds,
	    struct udk_value **ret)
{
	int r;

	pthread_mutex_lock(&hw->lock);
	r = call(hw, op, body, fds, n_fds, ret);
	pthread_mutex_unlock(&hw->lock);
	return r;
}

static void
copy_text(char *to, size_t len, const char *from)
{
	snprintf(to, len, "%s", from ? from : "");
}

/* The device's description, checked (the model is another process). */
static int
decode_info(const struct udk_value *v, struct udk_audio_hw_info *ret)
{
	const struct udk_value *streams = udk_dict_get(v, "streams"), *clocks = udk_dict_get(v, "clock_sources");
	char why[300];

	memset(ret, 0, sizeof(*ret));
	copy_text(ret->name, sizeof(ret->name), udk_dict_get_string(v, "name"));
	copy_text(ret->description, sizeof(ret->description), udk_dict_get_string(v, "description"));
	if (udk_array_size(streams) < 1 || udk_array_size(streams) > AUDIO_MAX_STREAMS)
		return udk_set_reason(-UDK_E_PROTOCOL, "the device describes %zu streams (1..%d)",
				      udk_array_size(streams), AUDIO_MAX_STREAMS);
	for (size_t i = 0; i < udk_array_size(streams); i++) {
		const struct udk_value *s = udk_array_get(streams, i);
		struct udk_audio_hw_stream *hs = &ret->streams[i];
		const char *dir = udk_dict_get_string(s, "direction");
		hs->direction = streq(dir, "output") ? UDK_AUDIO_OUTPUT : streq(dir, "input") ? UDK_AUDIO_INPUT : 0;
		copy_text(hs->name, sizeof(hs->name), udk_dict_get_string(s, "name"));
		if (!hs->direction ||
		    !audio_formats_from_value(udk_dict_get(s, "formats"), hs->formats, 32, &hs->n_formats, why, sizeof(why)))
			return udk_set_reason(-UDK_E_PROTOCOL, "the device's stream %zu is malformed: %s", i,
					      hs->direction ? why : "direction must be output or input");
	}
	ret->n_streams = (uint32_t)udk_array_size(streams);
	for (size_t i = 0; i < udk_array_size(clocks) && i < 16; i++)
		copy_text(ret->clock_sources[i], sizeof(ret->clock_sources[i]),
			  udk_value_get_string(udk_array_get(clocks, i)));
	ret->n_clock_sources = (uint32_t)MIN(udk_array_size(clocks), 16);
	ret->clock_source = (uint32_t)udk_dict_get_int(v, "clock_source", 0);
	if (ret->n_clock_sources && ret->clock_source >= ret->n_clock_sources)
		return udk_set_reason(-UDK_E_PROTOCOL, "the device's clock source is out of range");
	return 0;
}

UDK_EXPORT int
udk_audio_hw_open(struct udk_service *provider, struct udk_audio_hw **ret)
{
	struct udk_value *body, *reply = NULL;
	struct udk_audio_hw *hw;
	int fds[2] = { -1, -1 }, r;

	udk_return_val_if_fail(provider && ret, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	r = rt_call_fds(OP_DRV_OPEN_PROVIDER, body, &reply, fds, 2);
	udk_value_unref(body);
	if (r < 0)
		return r;
	if (fds[1] >= 0)
		close(fds[1]);
	if (fds[0] < 0 || !streq(udk_dict_get_string(reply, "backend"), "sim")) {
		if (fds[0] >= 0)
			close(fds[0]);
		udk_value_unref(reply);
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the audio device with an unknown backend");
	}
	udk_value_unref(reply);
	hw = calloc(1, sizeof(*hw));
	if (!hw) {
		close(fds[0]);
		return -ENOMEM;
	}
	hw->fd = fds[0];
	fd_set_nonblock(hw->fd, false);
	pthread_mutex_init(&hw->lock, NULL);
	*ret = hw;
	return 0;
}

UDK_EXPORT void
udk_audio_hw_close(struct udk_audio_hw *hw)
{
	if (!hw)
		return;
	close(hw->fd);
	pthread_mutex_destroy(&hw->lock);
	free(hw);
}

UDK_EXPORT int
udk_audio_hw_get_info(struct udk_audio_hw *hw, struct udk_audio_hw_info *ret)
{
	struct udk_value *reply = NULL;
	int r;

	udk_return_val_if_fail(hw && ret, -EINVAL);
	r = locked_call(hw, OP_AUDIO_HW_INFO, NULL, NULL, 0, &reply);
	if (r >= 0)
		r = decode_info(reply, ret);
	udk_value_unref(reply);
	return r;
}

UDK_EXPORT int
udk_audio_hw_set_clock_source(struct udk_audio_hw *hw, uint32_t source, struct udk_audio_hw_info *ret)
{
	struct udk_value *b = udk_value_new_dict(), *reply = NULL;
	int r;

	udk_return_val_if_fail(hw, -EINVAL);
	udk_dict_set_int(b, "source", source);
	r = locked_call(hw, OP_AUDIO_HW_SET_CLOCK, b, NULL, 0, &reply);
	udk_value_unref(b);
	if (r >= 0 && ret)
		r = decode_info(reply, ret);
	udk_value_unref(reply);
	return r;
}

static int
unmap(struct udk_audio_hw *hw, unsigned index)
{
	struct udk_value *b;
	int r;

	if (!hw->mapped_len[index])
		return 0;
	b = udk_value_new_dict();
	udk_dict_set_uint(b, "iova", IOVA_BASE * (index + 1));
	udk_dict_set_uint(b, "length", hw->mapped_len[index]);
	r = call(hw, OP_DM_DMA_UNMAP, b, NULL, 0, NULL);
	udk_value_unref(b);
	hw->mapped_len[index] = 0;
	return r;
}

UDK_EXPORT int
udk_audio_hw_start(struct udk_audio_hw *hw, unsigned index, struct udk_audio_stream *stream)
{
	struct udk_audio_stream_setup setup;
	struct udk_value *b, *f;
	uint64_t size = 0;
	int fd, r;

	udk_return_val_if_fail(hw && stream && index < AUDIO_MAX_STREAMS, -EINVAL);
	r = udk_audio_stream_get_setup(stream, &setup);
	if (r < 0)
		return udk_error_set(r, "the stream is not open");
	fd = audio_stream_ring_fd(stream, &size);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&hw->lock);
	unmap(hw, index);
	b = udk_value_new_dict();
	udk_dict_set_uint(b, "iova", IOVA_BASE * (index + 1));
	udk_dict_set_uint(b, "length", size);
	udk_dict_set_uint(b, "offset", 0);
	udk_dict_set_int(b, "direction", UDK_MEMORY_DIRECTION_INOUT);
	r = call(hw, OP_DM_DMA_MAP, b, &fd, 1, NULL);
	udk_value_unref(b);
	if (r >= 0) {
		hw->mapped_len[index] = size;
		b = udk_value_new_dict();
		udk_dict_set_int(b, "stream", index);
		udk_dict_set_uint(b, "iova", IOVA_BASE * (index + 1));
		udk_dict_set_uint(b, "length", size);
		f = udk_value_new_dict();
		udk_dict_set_int(f, "rate", setup.format.sample_rate);
		udk_dict_set_int(f, "channels", setup.format.channels);
		udk_dict_set_string(f, "sample_format", audio_sample_format_str(setup.format.sample_format));
		udk_dict_set_take(b, "format", f);
		udk_dict_set_int(b, "buffer_frames", setup.buffer_frames);
		udk_dict_set_int(b, "period_frames", setup.period_frames);
		r = call(hw, OP_AUDIO_HW_START, b, NULL, 0, NULL);
		udk_value_unref(b);
		if (r < 0) {
			char *why = udk_error_reason() ? strdup(udk_error_reason()) : NULL;
			unmap(hw, index);
			if (why)
				udk_set_reason(r, "%s", why);
			free(why);
		}
	}
	pthread_mutex_unlock(&hw->lock);
	if (r < 0)
		return udk_error_set(r, "the device did not start stream %u: %s", index,
				     udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	return 0;
}

UDK_EXPORT int
udk_audio_hw_stop(struct udk_audio_hw *hw, unsigned index)
{
	struct udk_value *b;
	int r;

	udk_return_val_if_fail(hw && index < AUDIO_MAX_STREAMS, -EINVAL);
	b = udk_value_new_dict();
	udk_dict_set_int(b, "stream", index);
	pthread_mutex_lock(&hw->lock);
	r = call(hw, OP_AUDIO_HW_STOP, b, NULL, 0, NULL);
	unmap(hw, index);
	pthread_mutex_unlock(&hw->lock);
	udk_value_unref(b);
	return r;
}

UDK_EXPORT int
udk_audio_hw_set_gain(struct udk_audio_hw *hw, unsigned index, int32_t volume_db_x100, bool mute)
{
	struct udk_value *b;
	int r;

	udk_return_val_if_fail(hw, -EINVAL);
	b = udk_value_new_dict();
	udk_dict_set_int(b, "stream", index);
	udk_dict_set_int(b, "volume_db_x100", volume_db_x100);
	udk_dict_set_bool(b, "mute", mute);
	r = locked_call(hw, OP_AUDIO_HW_SET_GAIN, b, NULL, 0, NULL);
	udk_value_unref(b);
	return r;
}
