/* SPDX-License-Identifier: MIT */
/*
 * proto-audio.h - the audio family's messages and shared memory
 * (internal).  Four parties speak it:
 *
 *   driver (libudk-audio)  <-> udkd           device state, OP_AUDIO_DEVICE_*
 *   driver (libudk-audio)  <-> device model   the simulated hardware, OP_AUDIO_HW_*
 *   app (ALSA plugin)      <-> driver         a user client: AUDIO_SEL_* methods
 *   all of them                               one ring per open stream (below)
 *
 * Bodies of OP_AUDIO_* messages are udk_value dictionaries; every side
 * checks every field (common/formats.c holds the checks they share).
 */
#ifndef UDK_AUDIO_PROTO_H
#define UDK_AUDIO_PROTO_H

#include <stdatomic.h>
#include <stdint.h>

#include "proto.h"

#define AUDIO_OP_BASE 1600
#define AUDIO_OP_COUNT 100

enum audio_op {
	/*
	 * driver -> udkd {device, state: {UDKAudio* keys}} -> {}: the
	 * description of an IOUserAudioDevice this driver published (name,
	 * streams, their formats, controls, clock).  udkd checks it
	 * (audio_state_check) and sets it as the nub's properties, so every
	 * app subscribed to property notifications hears the change.
	 */
	OP_AUDIO_DEVICE_STATE = AUDIO_OP_BASE,
	/* driver -> udkd oneway {name, uid, visible, reason?}: a device's
	 * presence changed (for `udkctl families audio` and the log). */
	OP_AUDIO_DEVICE_PRESENCE,
	/* driver -> udkd oneway {device, counters: {stream name: {xruns, frames}}} */
	OP_AUDIO_DEVICE_COUNTERS,

	/* driver <-> device model (the "audio" kind of simulated device) */
	OP_AUDIO_HW_INFO = AUDIO_OP_BASE + 50,	/* {} -> {hw description} */
	OP_AUDIO_HW_SET_CLOCK,	/* {source} -> {hw description} (formats follow the clock) */
	/* {stream, iova, length, format: {rate, channels, sample_format},
	 *  buffer_frames, period_frames} -> {}: the ring is DMA-mapped at
	 *  iova (header at 0, data at AUDIO_RING_DATA_OFFSET); the device
	 *  moves samples at its clock and writes the positions into it. */
	OP_AUDIO_HW_START,
	OP_AUDIO_HW_STOP,	/* {stream} -> {} */
	OP_AUDIO_HW_SET_GAIN,	/* {stream, volume_db_x100, mute} -> {} */
};

/* Bounds everyone enforces. */
#define AUDIO_NAME_MAX 32		/* device names: [a-z0-9_-] */
#define AUDIO_TEXT_MAX 128		/* descriptions, stream and control names */
#define AUDIO_MAX_STREAMS 8
#define AUDIO_MAX_FORMATS 32		/* format ranges per stream */
#define AUDIO_MAX_CONTROLS 16
#define AUDIO_MAX_ITEMS 16		/* selector items (clock sources) */
#define AUDIO_MAX_CHANNELS 64
#define AUDIO_RATE_MIN 8000
#define AUDIO_RATE_MAX 768000
#define AUDIO_MIN_PERIOD 16		/* frames */
#define AUDIO_MAX_BUFFER (1u << 20)	/* frames */
#define AUDIO_MAX_RING_BYTES (64u << 20)

/* ---- user client methods (app -> driver) ---- */

/* The user client types an app opens. */
#define AUDIO_UC_IO 0x75616900u		/* on an IOUserAudioDevice: streams, controls */
#define AUDIO_UC_PRESENCE 0x75617000u	/* on the IOUserAudioDriver: presence handles */

enum audio_selector {
	/* -> struct out: the device description as an XML plist (the
	 * UDKAudio* properties, current as the driver sees them) */
	AUDIO_SEL_DESCRIBE = 0,
	/* in: stream, rate, channels, sample_format, buffer_frames,
	 * period_frames -> out: handle, buffer_frames, period_frames,
	 * memory type (udk_connection_map_memory) */
	AUDIO_SEL_OPEN_STREAM,
	AUDIO_SEL_PREPARE,	/* in: handle: stopped, positions 0 */
	AUDIO_SEL_START,	/* in: handle */
	AUDIO_SEL_STOP,		/* in: handle */
	AUDIO_SEL_CLOSE_STREAM,	/* in: handle */
	AUDIO_SEL_SET_CONTROL,	/* in: control index, value */
	AUDIO_SEL_COUNT,
};

enum audio_presence_selector {
	/* struct in: the device's name or uid; holds it visible while the
	 * connection lasts -> out: 1 if the device is visible now */
	AUDIO_SEL_HOLD_PRESENCE = 0,
	AUDIO_PRESENCE_SEL_COUNT,
};

/* ---- the ring: one memfd per open stream ----
 *
 * Mapped by the driver (which made it), the app (udk_connection_map_memory)
 * and, for hardware that moves samples itself, the device (DMA).  Page 0 is
 * the header, the samples follow at AUDIO_RING_DATA_OFFSET: buffer_frames
 * interleaved frames of frame_bytes each.  Positions are frame counts since
 * the stream started, never wrapped; offset = count % buffer_frames.
 *
 * Who writes what:
 *   setup:    the driver, before the app maps it; read-only after
 *   position: the clock owner (the device, or the driver for devices whose
 *             position it reads), under pos_seq (a seqlock)
 *   appl:     the app (how far it wrote / read)
 *   state:    the driver (running, stopped, gone)
 * Each side treats what the others wrote as untrusted: offsets are taken
 * modulo buffer_frames and counts are bounded before use.
 */
#define AUDIO_RING_MAGIC 0x41444b55u	/* "UKDA" */
#define AUDIO_RING_VERSION 1u
#define AUDIO_RING_DATA_OFFSET 4096u

enum audio_ring_state {
	AUDIO_RING_SETUP = 1,		/* configured, not started */
	AUDIO_RING_RUNNING = 2,
	AUDIO_RING_STOPPED = 3,
	AUDIO_RING_GONE = 4,		/* the device went away: error holds why */
};

/* app_flags */
#define AUDIO_APP_DRAINING 1u		/* playing out the last samples: running dry is the end, not an xrun */

struct audio_ring_header {
	/* ---- setup (driver) ---- */
	uint32_t magic;
	uint32_t version;
	uint32_t header_bytes;		/* AUDIO_RING_DATA_OFFSET */
	uint32_t frame_bytes;
	uint64_t data_bytes;		/* buffer_frames * frame_bytes */
	uint32_t buffer_frames;
	uint32_t period_frames;
	uint32_t rate;
	uint16_t channels;
	uint16_t sample_format;		/* enum udk_audio_sample_format */
	uint32_t direction;		/* 1 output (playback), 2 input (capture) */
	uint32_t setup_pad[7];

	/* ---- position (clock owner), its own cache line ---- */
	_Alignas(64) _Atomic uint32_t pos_seq;	/* odd while being written */
	uint32_t pos_pad;
	_Atomic uint64_t hw_frames;	/* consumed (output) / produced (input) */
	_Atomic uint64_t zero_sample;	/* zero timestamp: a sample time ... */
	_Atomic uint64_t zero_host_ns;	/* ... and when it passed (CLOCK_MONOTONIC) */
	_Atomic uint64_t xruns;		/* underruns (output) / overruns (input) seen */
	_Atomic uint64_t xrun_frames;	/* frames of silence played / samples lost */

	/* ---- the app's, its own cache line ---- */
	_Alignas(64) _Atomic uint64_t appl_frames;	/* written (output) / read (input) */
	_Atomic uint32_t app_pid;
	_Atomic uint32_t app_flags;	/* AUDIO_APP_* */

	/* ---- state (driver), its own cache line ---- */
	_Alignas(64) _Atomic uint32_t state;	/* enum audio_ring_state */
	_Atomic int32_t error;		/* -UDK_E_* when GONE */
	char reason[192];		/* why, when GONE (NUL-terminated) */
};

_Static_assert(sizeof(struct audio_ring_header) <= AUDIO_RING_DATA_OFFSET, "ring header fits its page");

#endif
