/* SPDX-License-Identifier: MIT */
/*
 * hid-private.h - the HID family's udkd side (internal), one section per
 * file:
 *
 *   hid.c       the family: classes, entitlements, options, events, udkctl
 *   match.c     personality keys (DeviceUsagePairs, VendorID ...)
 *   device.c    devices, their nubs, readers, seizing, the input path,
 *               acknowledged frames and the hand-off after a crash
 *   channel.c   the HID channel of each driver process (proto-hid.h)
 *   virtual.c   virtual HID devices drivers make
 *   sim.c       simulated HID devices (device models of kind "hid")
 *   policy.c    protected-device access: keyboards need the user's grant
 *   evdev.c     Linux input devices (/dev/input/event*), hotplug
 *   hidraw.c    Linux raw HID devices (/dev/hidraw*), hotplug
 *   export.c    virtual devices exported to Linux through uhid or uinput
 *
 * Everything runs on udkd's loop; nothing here blocks on a peer.
 */
#ifndef UDKD_HID_PRIVATE_H
#define UDKD_HID_PRIVATE_H

#include <udk/families/hid-descriptor.h>
#include <udk/families/hid-usage.h>

#include "family.h"
#include "proto-hid.h"
#include "udkd.h"

extern const struct udkd_family udkd_family_hid;
extern const struct family_matcher hid_family_matcher;

enum hid_backend {
	HID_SIM,		/* a device model */
	HID_EVDEV,		/* /dev/input/eventN */
	HID_HIDRAW,		/* /dev/hidrawN */
	HID_VIRTUAL,		/* a driver's IOUserHIDDevice */
};

/* An input frame: a report, or a SYN_REPORT-ended run of Linux input events. */
struct hid_frame {
	struct hid_frame *next;
	uint64_t seq;
	uint64_t time_ns;
	uint16_t type;			/* PROTO_HID_REC_REPORT or _EVENTS */
	uint16_t tries;			/* seizing drivers that died holding it */
	uint32_t len;
	uint8_t data[];
};

struct hid_queue {
	struct hid_frame *head, *tail;
	unsigned n;
	size_t bytes;
};

#define HID_JOURNAL_MAX 4096u		/* frames a seizing driver may leave unacknowledged */
#define HID_JOURNAL_BYTES (1u << 20)	/* and their bytes */
#define HID_CHAN_HANDLES 64u		/* devices a driver process may hold open or have made */
#define HID_CHAN_DEVICES 16u		/* of which virtual devices */
#define HID_CHAN_BACKLOG (4u << 20)	/* bytes a driver may leave unread on its channel */

struct hid_chan;
struct hid_dev;
struct hid_export;

/* A driver's use of a device: an open reader, or a virtual device's owner. */
struct hid_handle {
	struct hid_handle *next;	/* in the channel */
	struct hid_handle *dnext;	/* in the device's readers */
	struct hid_chan *chan;
	uint32_t id;
	bool owner;			/* the virtual device's own handle */
	bool seize;
	bool ready;			/* the driver said PROTO_HID_REC_START */
	struct hid_dev *dev;
	char *bundle;			/* the driver's bundle identifier */
	struct hid_queue journal;	/* seized: sent or waiting, not acknowledged */
	uint64_t next_seq;
	uint64_t delivered, dropped;
};

/* A driver process's channel. */
struct hid_chan {
	struct hid_chan *next;
	struct driver_proc *proc;	/* reference */
	int fd;
	struct loop_source *src;
	struct hid_handle *handles;
	uint32_t next_id;
	/* datagrams the kernel would not take yet */
	struct pending_dgram *pending, **pending_tail;
	size_t pending_bytes;
	/* requests udkd made of this driver's virtual devices */
	struct hid_request *requests;
	uint64_t next_request;
};

/* Frames a dead seizing driver held, waiting for its next instance. */
struct hid_handoff {
	char *bundle;
	struct hid_queue frames;
	struct loop_timer *timer;
	uint64_t since_ns;
};

struct hid_dev {
	struct hid_dev *next;
	struct udkd *d;
	enum hid_backend backend;
	char *name;			/* "kbd0", "event3", "hidraw1", a virtual device's service name */
	char *key;			/* for device grants: "sim:kbd0", "evdev:i8042:0001:0001:isa0060/serio0/input0" */
	struct service *device;		/* the IOHIDDevice (reference) */
	struct service *iface;		/* its IOHIDInterface (reference) */
	struct udk_hid_descriptor *desc;	/* NULL for Linux input devices */
	uint32_t usages[8];		/* DeviceUsagePairs, extended */
	unsigned n_usages;
	bool built_in;
	char *transport;
	char *product;
	struct hid_handle *readers;
	struct hid_handle *seizer;
	struct hid_handoff *handoff;
	struct hid_handle *owner;	/* virtual devices: the driver's handle; NULL while orphaned */
	struct service *driver_service;	/* virtual devices: the driver's IOUserHIDDevice (reference) */
	struct loop_timer *orphan_timer;	/* virtual devices whose driver died: removal */
	/* backends */
	int fd;				/* evdev, hidraw: udkd's descriptor; -1 */
	struct loop_source *src;
	bool grabbed;			/* evdev: EVIOCGRAB held by udkd for a seizer */
	void *backend_data;
	struct device_model *model;	/* sim */
	size_t fn_index;
	struct hid_export *export;	/* virtual devices: uhid / uinput */
	/* what happened */
	uint64_t frames, given_back, replayed;
	uint64_t dropped[UDK_HID_E__COUNT];
	uint64_t dropped_journal;	/* a seizing driver fell too far behind */
	uint64_t last_drop_log_ns;
	unsigned drops_unlogged;
	bool gone;
};

struct hid_state {
	struct udkd *d;
	struct hid_chan *chans;
	struct hid_dev *devs;
	struct service *sim_bus;	/* HIDSimulated, made on first use */
	struct service *virtual_bus;	/* HIDVirtual, made on first use */
	uint64_t handoff_ms;		/* --hid-handoff-ms */
	unsigned next_virtual;
	/* backends (evdev.c, hidraw.c, export.c) */
	bool evdev;
	char *evdev_dir;
	bool hidraw;
	char *hidraw_dir;
	char *uhid_path, *uinput_path;
	struct service *evdev_bus, *hidraw_bus;
	struct hid_node_dir *evdev_watch, *hidraw_watch;
};

struct hid_state *hid_state(struct udkd *d);

/* A watched directory of device nodes PREFIXn (nodes.c): evdev and hidraw. */
struct hid_node_dir;
typedef int (*hid_node_add_fn)(struct udkd *d, const char *name);
typedef struct hid_dev *(*hid_node_find_fn)(struct udkd *d, const char *path);
/* Watch @dir (NULL: out of memory); without inotify, logs @without_hotplug. */
struct hid_node_dir *hid_node_dir_watch(struct udkd *d, const char *dir, const char *prefix, hid_node_add_fn add,
					hid_node_find_fn find, const char *without_hotplug);
/* Add every node there now; -errno when the directory cannot be read. */
int hid_node_dir_scan(struct hid_node_dir *w, unsigned *ret_count);
void hid_node_dir_free(struct hid_node_dir *w);

/* ---- device.c ---- */

/*
 * A new device: publish an IOHIDDevice @name under @parent (or use
 * @device, an existing service: virtual devices), with @props, and its
 * IOHIDInterface.  The DriverKit HID properties are added from @desc when
 * it is given.  The device is registered (matchable) when @register_now.
 */
int hid_dev_new(struct udkd *d, enum hid_backend backend, const char *name, const char *key, struct service *parent,
		struct service *device, struct udk_hid_descriptor *desc, struct udk_value *props, bool register_now,
		struct hid_dev **ret);
/* The device went away (@why): readers are told, frames in hand-off are dropped. */
void hid_dev_remove(struct udkd *d, struct hid_dev *dev, const char *why);
/* The same when the hardware went away (its node removed, ENODEV): apps of the
 * drivers above are told UDK_E_HARDWARE_GONE before those drivers stop
 * (udkd_service_hardware_gone). */
void hid_dev_unplugged(struct udkd *d, struct hid_dev *dev, const char *why);
struct hid_dev *hid_dev_by_iface(struct udkd *d, const struct service *s);
struct hid_dev *hid_dev_by_service(struct udkd *d, const struct service *s);
/* An input frame from the backend: checked, then to the seizer or the readers. */
void hid_dev_input(struct udkd *d, struct hid_dev *dev, uint16_t type, uint64_t time_ns, const void *data,
		   size_t len);
/* Record a dropped input, log at most once a second per device. */
void hid_dev_drop(struct udkd *d, struct hid_dev *dev, enum udk_hid_problem_code code, const char *why);
/* A reader / owner ends: @died (its driver crashed) starts a hand-off for a seizer. */
void hid_handle_end(struct udkd *d, struct hid_handle *h, bool died);
/* Open @dev for driver @p; reply to @m. */
void hid_dev_open(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev);
/* PROTO_HID_REC_ACK, _START from the driver. */
void hid_handle_ack(struct udkd *d, struct hid_handle *h, uint64_t seq);
void hid_handle_start(struct udkd *d, struct hid_handle *h);
/* Describe the family's devices for `udkctl families hid`. */
struct udk_value *hid_devices_describe(struct udkd *d);
/* Close @h from udkd's side: tell the driver (@status, @why), then end it. */
void hid_handle_close(struct udkd *d, struct hid_handle *h, int status, const char *why);

/* ---- channel.c ---- */

struct hid_chan *hid_chan_of(struct udkd *d, struct driver_proc *p);
void hid_chan_open(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
/* The driver is gone: end its handles (a crash starts hand-offs) and close. */
void hid_chan_proc_died(struct udkd *d, struct driver_proc *p);
struct hid_handle *hid_handle_new(struct hid_chan *c, struct hid_dev *dev, bool owner);
struct hid_handle *hid_handle_find(struct hid_chan *c, uint32_t id);
/* Handles of @c (only virtual devices' own with @owners_only). */
unsigned hid_chan_count(struct hid_chan *c, bool owners_only);
void hid_handle_free(struct hid_handle *h);
/* Send one record to the driver; a driver that lets HID_CHAN_BACKLOG pile up is killed. */
int hid_chan_send(struct udkd *d, struct hid_chan *c, const struct proto_hid_rec *rec, const void *payload);
void hid_chans_fini(struct udkd *d);

/* ---- virtual.c ---- */

/* The driver of virtual device @dev died: it waits --hid-handoff-ms for the driver's next instance. */
void hid_virtual_orphan(struct udkd *d, struct hid_dev *dev);

void hid_virtual_create(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
void hid_virtual_destroy(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
/* A driver's OP_HID_SET_REPORT / OP_HID_GET_REPORT on a device it opened. */
void hid_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
/* Input report from a virtual device's driver (PROTO_HID_REC_INPUT). */
void hid_virtual_input(struct udkd *d, struct hid_handle *h, uint64_t time_ns, const uint8_t *data, size_t len);
/*
 * Ask the driver of virtual device @dev to set / get a report; @done runs
 * once with the answer (status, data) or UDK_E_DRIVER_DIED.
 */
typedef void (*hid_request_fn)(struct udkd *d, int status, const uint8_t *data, size_t len, void *ctx);
int hid_virtual_request(struct udkd *d, struct hid_dev *dev, uint16_t rec_type, uint8_t report_type,
			uint8_t report_id, const uint8_t *data, size_t len, hid_request_fn done, void *ctx);
/* PROTO_HID_REC_REPLY from the driver. */
void hid_virtual_reply(struct udkd *d, struct hid_chan *c, const struct proto_hid_rec *rec, const uint8_t *payload);
/* The channel closes: pending requests fail. */
void hid_requests_fail(struct udkd *d, struct hid_chan *c);

/* ---- sim.c ---- */

int hid_sim_model_function(struct udkd *d, struct device_model *m, size_t index, const struct udk_value *desc,
			   struct service **ret);
void hid_sim_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m);
/* Set / get a report of a simulated device for driver request @m. */
void hid_sim_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev,
			    bool get);

/* ---- policy.c ---- */

/* Whether a device is protected (its readers need the user's grant). */
bool hid_dev_protected(const struct hid_dev *dev);
/*
 * May driver @b read (or @seize) @dev?  0, or -UDK_E_NOT_PERMITTED with a
 * sentence naming the policy, the device and the command that grants it.
 */
int hid_policy_check(struct udkd *d, const struct bundle *b, const struct hid_dev *dev, bool seize);
/* The same without remembering a refusal. */
bool hid_policy_allows(struct udkd *d, const struct bundle *b, const struct hid_dev *dev, bool seize);
/* A driver refused for want of a grant ended: retry it if the grant came meanwhile. */
void hid_policy_proc_died(struct udkd *d, struct driver_proc *p);
int hid_grant_check(struct udkd *d, const char *what, char **ret_normalized);
void hid_grant_changed(struct udkd *d, const char *driver, const char *what, bool granted);
int hid_protected_check(struct udkd *d, const struct bundle *b, const struct udkd_protected_device *pd, bool record);

/* ---- evdev.c, hidraw.c ---- */

int hid_evdev_start(struct udkd *d);
void hid_evdev_fini(struct udkd *d);
int hid_evdev_grab(struct hid_dev *dev, bool on);
void hid_evdev_give_back(struct udkd *d, struct hid_dev *dev, const struct hid_frame *f);
void hid_evdev_watch(struct udkd *d, struct hid_dev *dev, bool on);
/* The backend's part of a device's removal (backend_data's insides). */
void hid_evdev_free(struct hid_dev *dev);
void hid_hidraw_free(struct hid_dev *dev);
/* Transport and built-in of a Linux bus type (BUS_USB ...). */
const char *hid_bus_transport(uint16_t bus, bool *ret_built_in);
int hid_hidraw_start(struct udkd *d);
void hid_hidraw_fini(struct udkd *d);
void hid_hidraw_watch(struct udkd *d, struct hid_dev *dev, bool on);
void hid_hidraw_report_request(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct hid_dev *dev,
			       bool get);

/* ---- export.c ---- */

/* Export virtual device @dev as @how ("auto", "uhid", "uinput", "none"); sets dev->export. */
int hid_export_create(struct udkd *d, struct hid_dev *dev, const char *how, const struct udk_value *props);
void hid_export_destroy(struct udkd *d, struct hid_dev *dev);
/* An input report of @dev goes to Linux. */
void hid_export_input(struct udkd *d, struct hid_dev *dev, const uint8_t *report, size_t len);
const char *hid_export_kind(const struct hid_dev *dev);
/* Whether input node @path is one of udk's own uinput exports. */
bool hid_export_owns_node(struct udkd *d, const char *path);
/* What Linux made of it: {kind, node, name} (may be NULL). */
struct udk_value *hid_export_describe(const struct hid_dev *dev);

#endif
