/* SPDX-License-Identifier: MIT */
/*
 * usb-private.h - the USB family's driver side (internal):
 *
 *   usb.c      the public API (<udk/families/usb.h>): devices, interfaces,
 *              pipes, transfers and their completions
 *   sim.c      backend "sim": the channel to a device model
 *   usbfs.c    backend "usbfs": a real device through libusb, on the
 *              usbfs descriptor udkd opened
 *
 * Backends run transfers asynchronously and report each exactly once
 * with usb_xfer_done(), from any thread.
 */
#ifndef UDK_USB_PRIVATE_H
#define UDK_USB_PRIVATE_H

#include <pthread.h>

#include <udk/families/usb.h>

#include "usb-desc.h"

struct udk_usb_device;
struct usb_xfer;

struct usb_backend {
	const char *name;
	/* Set up from udkd's answer (@info) and descriptor @fd (taken). */
	int (*open)(struct udk_usb_device *dev, const struct udk_value *info, int fd);
	void (*close)(struct udk_usb_device *dev);
	int (*set_configuration)(struct udk_usb_device *dev, uint8_t value);
	int (*claim)(struct udk_usb_device *dev, uint8_t iface);
	int (*release)(struct udk_usb_device *dev, uint8_t iface);
	int (*set_interface)(struct udk_usb_device *dev, uint8_t iface, uint8_t alt);
	/* clear the host side of a halt; with @request, the device's too */
	int (*clear_halt)(struct udk_usb_device *dev, uint8_t endpoint, bool request);
	int (*reset)(struct udk_usb_device *dev);
	/* start @x; it completes through usb_xfer_done() (even when this fails later) */
	int (*submit)(struct udk_usb_device *dev, struct usb_xfer *x);
	/* ask for @x to end with @status (-ECANCELED, -ETIMEDOUT); it still completes */
	void (*cancel)(struct udk_usb_device *dev, struct usb_xfer *x, int status);
	/* optional: wait for synchronous @x in the caller's thread (it may run the
	 * completion itself); usb.c then waits for x->done as always */
	void (*wait)(struct udk_usb_device *dev, struct usb_xfer *x);
};

struct usb_xfer {
	struct udk_usb_device *dev;
	struct udk_usb_pipe *pipe;		/* reference; NULL on the default pipe */
	uint64_t id;
	uint8_t endpoint;
	uint8_t type;
	bool in;
	bool short_not_ok;
	struct udk_usb_setup setup;
	struct udk_memory_descriptor *md;	/* reference, or NULL */
	uint64_t offset;			/* in md */
	uint8_t *buf;				/* the bytes (md's mapping or the caller's) */
	uint32_t length;
	uint32_t n_packets;
	struct udk_usb_iso_packet *packets;
	uint32_t timeout_ms;
	uint64_t deadline_ns;			/* 0: none */
	bool cancel_sent;
	/* completion */
	struct udk_queue *queue;
	udk_usb_completion_fn fn;
	udk_usb_iso_completion_fn iso_fn;
	void *ctx;
	struct udk_usb_iso_packet *user_packets;	/* sync isochronous: the caller's array */
	/* synchronous waiters */
	bool sync;
	bool done;
	int status;
	uint32_t actual;
	char reason[200];
	void *be;				/* the backend's */
	int be_done;				/* the backend saw it complete (backend wait) */
	struct usb_xfer *next;			/* pending list */
};

struct udk_usb_device {
	int refs;				/* the driver's, interfaces', iterators', transfers' */
	const struct usb_backend *be;
	struct udk_service *provider;
	uint64_t nub;				/* registry id of the device */
	struct usb_descs *descs;
	enum udk_usb_speed speed;
	int scope;				/* -1: the device; else the one interface opened */
	pthread_mutex_t lock;			/* below */
	pthread_cond_t cond;			/* a transfer finished */
	uint8_t config;
	struct usb_xfer *pending;
	uint64_t next_id;
	bool gone;
	char gone_reason[200];
	bool closing;
	struct udk_usb_interface **ifaces;	/* live ones of the current configuration (not references) */
	size_t n_ifaces;
	uint64_t iface_ids[32];			/* registry ids udkd gave, by number */
	void *backend_data;
};

struct udk_usb_interface {
	int refcount;
	struct udk_usb_device *dev;		/* not a reference: the device outlives them */
	uint8_t number;
	uint8_t config;				/* it belongs to */
	uint8_t alt;
	bool open;
	bool stale;				/* the configuration changed under it */
	struct udk_usb_device *own_dev;		/* interface drivers: the device handle made for it */
};

struct udk_usb_pipe {
	int refcount;
	struct udk_usb_interface *intf;		/* reference */
	struct udk_usb_endpoint_descriptor d;
	uint8_t alt;				/* the alternate setting it belongs to */
	_Atomic bool halted;
	_Atomic uint64_t stalls;
	unsigned pending;			/* under dev->lock */
};

extern const struct usb_backend usb_sim_backend;
extern const struct usb_backend usb_usbfs_backend;

/* A backend finished @x (any thread): status 0 or negative; @reason may be NULL. */
void usb_xfer_done(struct usb_xfer *x, int status, uint32_t actual, const char *reason);
/* The device is gone: every pending transfer fails with UDK_E_HARDWARE_GONE. */
void usb_device_gone(struct udk_usb_device *dev, const char *why);
/* The pending transfer with @id (under dev->lock), or NULL. */
struct usb_xfer *usb_xfer_find(struct udk_usb_device *dev, uint64_t id);
/* An unsupported operation, with the backend's reason. */
int usb_unsupported(struct udk_usb_device *dev, const char *what);

#endif
