/* SPDX-License-Identifier: MIT */
/*
 * families/audio.h - the audio family for drivers (DriverKit's
 * AudioDriverKit: IOUserAudioDriver, IOUserAudioDevice, IOUserAudioStream,
 * IOUserAudioControl and the zero timestamps of IOUserAudioClockDevice).
 *
 * A driver running as IOUserAudioDriver makes audio devices; every ALSA
 * program on the machine then plays and records them through the udk ALSA
 * plugin (`aplay -D udk:NAME`, docs/families/audio.md):
 *
 *	static const struct udk_audio_format_range fmts[] = {
 *		{ UDK_AUDIO_S16_LE, 2, 48000, 48000 },
 *		{ UDK_AUDIO_S32_LE, 2, 44100, 96000 },	// a range of rates
 *	};
 *	struct udk_audio_device_config dc = { UDK_AUDIO_DEVICE_CONFIG_INIT, .name = "mydac" };
 *	struct udk_audio_stream_config sc = { UDK_AUDIO_STREAM_CONFIG_INIT,
 *		.direction = UDK_AUDIO_OUTPUT, .formats = fmts, .n_formats = 2 };
 *	udk_audio_device_create(self, &dc, &ops, ctx, &dev);
 *	udk_audio_device_add_stream(dev, &sc, &out);
 *	udk_audio_device_publish(dev);
 *
 * The I/O path: each stream an app opens gets one ring buffer in shared
 * memory, mapped by the app (the plugin), the driver and, for hardware
 * that moves samples itself, the device.  No sample is copied and no
 * message is sent per period: the app writes samples and its position,
 * the clock owner (the device, or the driver) publishes the hardware
 * position and zero timestamps (udk_audio_stream_publish_position), and
 * the app computes from them where the hardware is and when to wake up.
 *
 * Formats: a stream offers a list of format ranges (sample format,
 * channels, a range of rates); the app picks one within them.  The list
 * may change at any time (a clock-source switch: 48 kHz gone, 44.1 kHz
 * offered): udk_audio_stream_set_formats() publishes the new list in the
 * registry and every app subscribed to property notifications of the
 * device hears it at once.  A malformed list is refused with the reason.
 *
 * Visibility: a device may be visible always, or only while an app holds
 * a presence handle (UDK_AUDIO_VISIBLE_WHILE_HELD): apps take one with
 * udk_audio_presence_hold() from <udk/families/audio-client.h>; when the
 * last holder exits or crashes, the device leaves the registry, open
 * streams end with UDK_E_HARDWARE_GONE, and it returns with the next holder.
 *
 * Threads: the ops run on the device's queue (config->queue, else the
 * driver's default queue), one at a time.  The position and ring
 * functions may be called from any thread (an interrupt handler, a timer).
 *
 * Errors: UDK_E_UNSUPPORTED when the driver's IOClass is not
 * IOUserAudioDriver; UDK_E_ENTITLEMENT when the bundle lacks family.audio;
 * -EINVAL with a reason for malformed formats, names and controls.
 */
#ifndef UDK_FAMILIES_AUDIO_H
#define UDK_FAMILIES_AUDIO_H

#include <stdbool.h>
#include <stdint.h>

#include <udk/driver.h>
#include <udk/queue.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_audio_device;
struct udk_audio_stream;
struct udk_audio_control;
struct udk_buffer;

enum udk_audio_direction {
	UDK_AUDIO_OUTPUT = 1,		/* playback: app -> device */
	UDK_AUDIO_INPUT = 2,		/* capture: device -> app */
};

/* Sample formats, little endian, interleaved frames. */
enum udk_audio_sample_format {
	UDK_AUDIO_S16_LE = 1,		/* 16-bit signed */
	UDK_AUDIO_S24_LE = 2,		/* 24-bit signed in the low bits of 32 */
	UDK_AUDIO_S32_LE = 3,		/* 32-bit signed */
	UDK_AUDIO_FLOAT_LE = 4,		/* 32-bit IEEE float */
	UDK_AUDIO_S24_3LE = 5,		/* 24-bit signed in 3 bytes */
};

/* A concrete format: what a stream runs at. */
struct udk_audio_format {
	uint32_t sample_rate;		/* Hz */
	uint16_t channels;
	uint16_t sample_format;		/* enum udk_audio_sample_format */
};

/* Formats a stream offers: every rate from rate_min to rate_max (equal
 * for one rate; ALSA's standard rates in between count). */
struct udk_audio_format_range {
	uint16_t sample_format;
	uint16_t channels;
	uint32_t rate_min, rate_max;
};

/* Bytes of one sample of @sample_format; 0 when unknown. */
UDK_EXPORT unsigned udk_audio_sample_bytes(uint32_t sample_format);
/* "S16_LE", "S24_LE", ... (ALSA's names); "?" when unknown. */
UDK_EXPORT const char *udk_audio_sample_format_name(uint32_t sample_format);

enum udk_audio_visibility {
	UDK_AUDIO_VISIBLE_ALWAYS = 0,
	/* only while an app holds a presence handle (the seed: a virtual
	 * device visible while its app runs) */
	UDK_AUDIO_VISIBLE_WHILE_HELD = 1,
};

struct udk_audio_device_config {
	uint32_t struct_size;		/* via UDK_AUDIO_DEVICE_CONFIG_INIT */
	/* The name apps use: `aplay -D udk:NAME`; [a-z0-9_-], 1..32
	 * characters, unique on the machine (else the reason names the owner). */
	const char *name;
	const char *description;	/* one line for `aplay -L`; NULL: the name */
	const char *uid;		/* a stable id (kAudioDevicePropertyDeviceUID); NULL: the name */
	uint32_t visibility;		/* enum udk_audio_visibility */
	struct udk_queue *queue;	/* where the ops run; NULL: the driver's default queue */
};

#define UDK_AUDIO_DEVICE_CONFIG_INIT .struct_size = sizeof(struct udk_audio_device_config)

struct udk_audio_stream_config {
	uint32_t struct_size;		/* via UDK_AUDIO_STREAM_CONFIG_INIT */
	uint32_t direction;		/* enum udk_audio_direction */
	const char *name;		/* NULL: "output N" / "input N" */
	const struct udk_audio_format_range *formats;
	uint32_t n_formats;		/* 1..32 */
	/* what an app may ask for, in frames; 0: 64 .. 65536 */
	uint32_t min_period_frames, max_buffer_frames;
};

#define UDK_AUDIO_STREAM_CONFIG_INIT .struct_size = sizeof(struct udk_audio_stream_config)

enum udk_audio_control_kind {
	UDK_AUDIO_CONTROL_VOLUME = 1,	/* value: hundredths of a dB, min..max */
	UDK_AUDIO_CONTROL_MUTE = 2,	/* value: 0 or 1 */
	UDK_AUDIO_CONTROL_SELECTOR = 3,	/* value: an item index, e.g. a clock source */
};

struct udk_audio_control_config {
	uint32_t struct_size;		/* via UDK_AUDIO_CONTROL_CONFIG_INIT */
	uint32_t kind;			/* enum udk_audio_control_kind */
	const char *name;		/* "Master", "Clock Source" */
	int32_t min, max;		/* VOLUME: the range in 1/100 dB */
	int32_t value;			/* initial */
	const char *const *items;	/* SELECTOR: NULL-terminated item names */
	bool clock_source;		/* SELECTOR: it picks the device's clock */
};

#define UDK_AUDIO_CONTROL_CONFIG_INIT .struct_size = sizeof(struct udk_audio_control_config)

/* What a stream is set up as, when an app opens it (ALSA hw_params). */
struct udk_audio_stream_setup {
	struct udk_audio_format format;
	uint32_t buffer_frames;		/* the ring's size */
	uint32_t period_frames;		/* how often the app wants to hear from it */
	uint32_t frame_bytes;
	int app_pid;			/* who opened it */
};

/*
 * What the family asks of the driver (IOUserAudioDevice's StartIO, StopIO,
 * and the control handlers).  Every callback is optional; fields are only
 * appended.  They run on the device's queue.  Return 0 or refuse with a
 * negative code and udk_error_set(code, "reason"): the app gets the reason.
 */
struct udk_audio_ops {
	uint32_t struct_size;		/* via UDK_AUDIO_OPS_INIT */
	/* An app set @stream up (ALSA hw_params): the ring exists.  Program
	 * the hardware for @setup here, or refuse it. */
	int (*stream_open)(struct udk_audio_stream *stream, const struct udk_audio_stream_setup *setup, void *ctx);
	/* StartIO: the app starts (positions begin at 0). */
	int (*stream_start)(struct udk_audio_stream *stream, void *ctx);
	/* StopIO: the app stopped, or it is going away. */
	void (*stream_stop)(struct udk_audio_stream *stream, void *ctx);
	/* The app closed the stream; the ring goes after this returns. */
	void (*stream_close)(struct udk_audio_stream *stream, void *ctx);
	/* An app changes a control.  Accept (0; the new value is published)
	 * or refuse.  A clock source's handler usually switches the clock,
	 * then sets the streams' new formats (udk_audio_stream_set_formats). */
	int (*control_set)(struct udk_audio_control *control, int32_t value, void *ctx);
	/* UDK_AUDIO_VISIBLE_WHILE_HELD: the first holder came (@present) or
	 * the last one went. */
	void (*presence_changed)(struct udk_audio_device *dev, bool present, void *ctx);
};

#define UDK_AUDIO_OPS_INIT .struct_size = sizeof(struct udk_audio_ops)

/*
 * Make a device of driver @self, whose IOClass must be IOUserAudioDriver
 * (or a subclass) and whose bundle must hold family.audio.  Add its
 * streams and controls, then udk_audio_device_publish().
 */
UDK_EXPORT int udk_audio_device_create(struct udk_service *self, const struct udk_audio_device_config *config,
				       const struct udk_audio_ops *ops, void *ctx, struct udk_audio_device **ret);
UDK_EXPORT int udk_audio_device_add_stream(struct udk_audio_device *dev, const struct udk_audio_stream_config *config,
					   struct udk_audio_stream **ret);
UDK_EXPORT int udk_audio_device_add_control(struct udk_audio_device *dev,
					    const struct udk_audio_control_config *config,
					    struct udk_audio_control **ret);
/*
 * Publish it: an IOUserAudioDevice in the registry under the driver, with
 * its description as properties (UDKAudioName, UDKAudioStreams, ...).
 * With UDK_AUDIO_VISIBLE_WHILE_HELD it appears only while an app holds it.
 */
UDK_EXPORT int udk_audio_device_publish(struct udk_audio_device *dev);
/* Take it away: open streams end with UDK_E_HARDWARE_GONE.  No callback
 * runs after this returns; not from within one. */
UDK_EXPORT void udk_audio_device_destroy(struct udk_audio_device *dev);

UDK_EXPORT const char *udk_audio_device_get_name(const struct udk_audio_device *dev);
/* Whether it is in the registry now. */
UDK_EXPORT bool udk_audio_device_is_visible(const struct udk_audio_device *dev);
/* The registry id of its IOUserAudioDevice (0 while hidden). */
UDK_EXPORT uint64_t udk_audio_device_get_id(const struct udk_audio_device *dev);

/* ---- streams ---- */

UDK_EXPORT struct udk_audio_device *udk_audio_stream_get_device(struct udk_audio_stream *stream);
UDK_EXPORT unsigned udk_audio_stream_get_index(const struct udk_audio_stream *stream);
UDK_EXPORT uint32_t udk_audio_stream_get_direction(const struct udk_audio_stream *stream);
/*
 * Replace the formats the stream offers (kAudioStreamPropertyAvailable-
 * PhysicalFormats).  Checked first: 1..32 ranges, known sample formats,
 * 1..64 channels, rates 8000..768000 with min <= max, no duplicates; a
 * bad list is refused (-EINVAL with the reason) and the old one stays.
 * Apps subscribed to the device's property notifications get the new
 * list; the ALSA plugin offers only these from its next hw_params.
 */
UDK_EXPORT int udk_audio_stream_set_formats(struct udk_audio_stream *stream,
					    const struct udk_audio_format_range *formats, uint32_t n);
/* The format and ring of the stream as an app set it up; -ENODATA when closed. */
UDK_EXPORT int udk_audio_stream_get_setup(struct udk_audio_stream *stream, struct udk_audio_stream_setup *ret);

/*
 * The ring (valid from stream_open to stream_close): the shared buffer,
 * where the samples start in it, and the app's position (frames it wrote
 * for output / read for input, since start).  For drivers that move
 * samples themselves (a bridge to other hardware); hardware that reads the
 * ring by DMA gets the buffer (see the backend functions below).
 */
UDK_EXPORT struct udk_buffer *udk_audio_stream_get_buffer(struct udk_audio_stream *stream);
UDK_EXPORT void *udk_audio_stream_get_samples(struct udk_audio_stream *stream);
UDK_EXPORT uint64_t udk_audio_stream_get_app_position(struct udk_audio_stream *stream);
/*
 * The clock: the hardware consumed (output) or produced (input) @frames
 * since start, and sample @frames passed at @host_ns (CLOCK_MONOTONIC, as
 * udk_time_now_ns(); 0: now).  This is the zero timestamp apps extrapolate
 * from; publish at least once per period.  No message: two stores.
 */
UDK_EXPORT int udk_audio_stream_publish_position(struct udk_audio_stream *stream, uint64_t frames,
						 uint64_t host_ns);
/* The app is playing out its last samples (ALSA drain): running dry now is
 * the end of the stream, not an underrun. */
UDK_EXPORT bool udk_audio_stream_is_draining(struct udk_audio_stream *stream);
/* The hardware ran dry (output) or the app fell behind (input): count it. */
UDK_EXPORT int udk_audio_stream_report_xrun(struct udk_audio_stream *stream, uint64_t frames);
/* Counters so far: xruns and frames lost or filled with silence. */
UDK_EXPORT int udk_audio_stream_get_xruns(struct udk_audio_stream *stream, uint64_t *ret_xruns,
					  uint64_t *ret_frames);

/* ---- controls ---- */

UDK_EXPORT int32_t udk_audio_control_get_value(const struct udk_audio_control *control);
UDK_EXPORT unsigned udk_audio_control_get_index(const struct udk_audio_control *control);
UDK_EXPORT struct udk_audio_device *udk_audio_control_get_device(struct udk_audio_control *control);
/* The driver changed it (a knob turned on the device): published. */
UDK_EXPORT int udk_audio_control_set_value(struct udk_audio_control *control, int32_t value);

/*
 * The driver's new_user_client: the family answers the audio user
 * clients (the plugin's on a device, presence handles on the driver).
 * Put it in the driver's struct udk_class, or call it for the types the
 * driver does not handle itself.
 */
UDK_EXPORT int udk_audio_driver_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret);

/* ---- simulated hardware (a device model of kind "audio") ---- */

struct udk_audio_hw;

/* A stream of the simulated device, as it describes itself. */
struct udk_audio_hw_stream {
	uint32_t direction;
	char name[128];
	struct udk_audio_format_range formats[32];
	uint32_t n_formats;
};

struct udk_audio_hw_info {
	char name[32];			/* the model's device name suggestion */
	char description[128];
	struct udk_audio_hw_stream streams[8];
	uint32_t n_streams;
	char clock_sources[16][32];	/* names; one entry when the clock is fixed */
	uint32_t n_clock_sources;
	uint32_t clock_source;		/* the current one */
};

/*
 * Open the simulated audio device the driver was started on (udkd brokers
 * a channel to the device model) and read what it offers.
 */
UDK_EXPORT int udk_audio_hw_open(struct udk_service *provider, struct udk_audio_hw **ret);
UDK_EXPORT void udk_audio_hw_close(struct udk_audio_hw *hw);
UDK_EXPORT int udk_audio_hw_get_info(struct udk_audio_hw *hw, struct udk_audio_hw_info *ret);
/* Switch the device's clock; @ret gets what it offers now. */
UDK_EXPORT int udk_audio_hw_set_clock_source(struct udk_audio_hw *hw, uint32_t source, struct udk_audio_hw_info *ret);
/*
 * Let hardware stream @index move @stream's samples: the ring is mapped
 * for the device's DMA and the device starts at its clock, writing the
 * positions and zero timestamps into the ring itself (the driver need do
 * nothing per period).  Stop undoes it.
 */
UDK_EXPORT int udk_audio_hw_start(struct udk_audio_hw *hw, unsigned index, struct udk_audio_stream *stream);
UDK_EXPORT int udk_audio_hw_stop(struct udk_audio_hw *hw, unsigned index);
/* Gain the device applies to stream @index (1/100 dB; mute). */
UDK_EXPORT int udk_audio_hw_set_gain(struct udk_audio_hw *hw, unsigned index, int32_t volume_db_x100, bool mute);

/* ---- a kernel sound card's PCM (udkd --alsa-dev-dir: UDKAudioALSAPCM) ---- */

struct udk_audio_pcm;

/*
 * The PCM the driver was started on (udkd opens its node for the driver):
 * its direction and the formats the card offers, as ranges for
 * udk_audio_device_add_stream (up to @max, *ret_n of them).
 */
UDK_EXPORT int udk_audio_pcm_open(struct udk_service *provider, struct udk_audio_pcm **ret,
				  struct udk_audio_format_range *formats, uint32_t max, uint32_t *ret_n);
UDK_EXPORT uint32_t udk_audio_pcm_get_direction(const struct udk_audio_pcm *pcm);
/* The card's id ("Loopback") and the PCM's device number. */
UDK_EXPORT const char *udk_audio_pcm_get_card_id(const struct udk_audio_pcm *pcm);
UDK_EXPORT unsigned udk_audio_pcm_get_device(const struct udk_audio_pcm *pcm);
/*
 * Run @stream on the card: the PCM is opened (through udkd) with the
 * stream's format, and a thread moves the samples between the stream's
 * ring and the card, paced by the card's clock, publishing the positions
 * and counting xruns.  Stop undoes it and closes the PCM, so the card is
 * held only while an app plays or records.
 */
UDK_EXPORT int udk_audio_pcm_start(struct udk_audio_pcm *pcm, struct udk_audio_stream *stream);
UDK_EXPORT void udk_audio_pcm_stop(struct udk_audio_pcm *pcm);
UDK_EXPORT void udk_audio_pcm_close(struct udk_audio_pcm *pcm);

#ifdef __cplusplus
}
#endif
#endif
