/* SPDX-License-Identifier: MIT */
/*
 * usbip.c - a simulated USB device driven by Linux itself.
 *
 * udkd attaches one end of a stream socket pair to the kernel's vhci-hcd
 * (/sys/devices/platform/vhci_hcd.0/attach) and hands the model the other
 * end.  The kernel then enumerates the device as if it were plugged in and
 * sends every URB as a USB/IP CMD_SUBMIT (Documentation/usb/usbip_protocol.rst):
 * a 48-byte header in network byte order, the OUT bytes, then the
 * isochronous packet descriptors.  Each goes into the same endpoint
 * queues udk drivers use; the answer is a RET_SUBMIT.  CMD_UNLINK cancels
 * one (RET_UNLINK says -ECONNRESET, or 0 when it had completed already).
 *
 * The kernel is a peer like any other: every size and count it sends is
 * checked; a malformed message ends the connection (Linux then sees the
 * device unplugged).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/uio.h>

#include "dm-private.h"
#include "proto-usb.h"
#include "usb-check.h"
#include "usb-desc.h"
#include "usb-sim.h"
#include "util.h"

#define URB_SHORT_NOT_OK 0x0001
#define be32 usbip_be32
#define put_be32 usbip_put_be32

static void detach(struct usb_dev *dev, const char *why);

/* Write everything or give up on the connection (the kernel reads promptly). */
static int
send_all(struct usb_dev *dev, struct iovec *iov, int n)
{
	while (n > 0 && dev->usbip_fd >= 0) {
		ssize_t w = writev(dev->usbip_fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = dev->usbip_fd, .events = POLLOUT };
			if (poll(&p, 1, 5000) <= 0) {
				detach(dev, "the kernel stopped reading the USB/IP connection");
				return -ETIMEDOUT;
			}
			continue;
		}
		if (w < 0) {
			detach(dev, "the USB/IP connection broke");
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return dev->usbip_fd >= 0 ? 0 : -ENOTCONN;
}

void
usbip_ret_submit(struct usb_dev *dev, struct xfer *x, int status)
{
	uint8_t h[USBIP_HDR] = { 0 };
	bool in = (x->t.endpoint & UDK_USB_ENDPOINT_IN) != 0;
	struct iovec iov[3];
	uint8_t *data = NULL, *iso = NULL;
	uint32_t actual = x->t.actual, errors = 0;
	int n = 1;

	if (dev->usbip_fd < 0)
		return;
	dev->usbip_done++;
	if (x->t.type == UDK_USB_TRANSFER_CONTROL)
		in = (x->t.setup.bmRequestType & UDK_USB_DIR_IN) != 0;
	if (status == 0 && in && (x->flags & PROTO_USB_SHORT_NOT_OK) && actual < x->t.length)
		status = -EREMOTEIO;
	put_be32(h + 0, USBIP_RET_SUBMIT);
	put_be32(h + 4, (uint32_t)x->id);
	iov[0] = (struct iovec){ h, USBIP_HDR };
	if (x->t.n_packets) {
		uint32_t off = 0, packed = 0;
		iso = calloc(x->t.n_packets, USBIP_ISO_DESC);
		data = in ? malloc(x->t.length ? x->t.length : 1) : NULL;
		if (!iso || (in && !data)) {
			free(iso);
			free(data);
			detach(dev, "out of memory");
			return;
		}
		for (uint32_t i = 0; i < x->t.n_packets; i++) {
			struct udk_usb_iso_packet *p = &x->t.packets[i];
			uint32_t a = MIN(p->actual, p->length);
			put_be32(iso + i * USBIP_ISO_DESC + 0, off);
			put_be32(iso + i * USBIP_ISO_DESC + 4, p->length);
			put_be32(iso + i * USBIP_ISO_DESC + 8, a);
			put_be32(iso + i * USBIP_ISO_DESC + 12, (uint32_t)p->status);
			if (p->status)
				errors++;
			if (in) {
				memcpy(data + packed, x->t.data + off, a);
				packed += a;
			}
			off += p->length;
		}
		actual = in ? packed : x->t.length;
		if (in && packed)
			iov[n++] = (struct iovec){ data, packed };
		iov[n++] = (struct iovec){ iso, x->t.n_packets * USBIP_ISO_DESC };
	} else if (in && status == 0 && actual) {
		iov[n++] = (struct iovec){ x->t.data, actual };
	}
	put_be32(h + 20, (uint32_t)status);
	put_be32(h + 24, status == 0 || x->t.n_packets ? actual : 0);
	put_be32(h + 32, x->t.n_packets);
	put_be32(h + 36, errors);
	send_all(dev, iov, n);
	free(data);
	free(iso);
}

static void
ret_unlink(struct usb_dev *dev, uint32_t seq, int status)
{
	uint8_t h[USBIP_HDR] = { 0 };
	struct iovec iov = { h, USBIP_HDR };

	put_be32(h + 0, USBIP_RET_UNLINK);
	put_be32(h + 4, seq);
	put_be32(h + 20, (uint32_t)status);
	send_all(dev, &iov, 1);
}

static bool
match_seq(const struct xfer *x, const void *ctx)
{
	return x->usbip && x->id == *(const uint32_t *)ctx;
}

/* One whole CMD_SUBMIT of @len bytes at @p. */
static void
cmd_submit(struct usb_dev *dev, const uint8_t *p, size_t len)
{
	struct usbip_submit u;
	const char *why = NULL;
	uint8_t address;
	struct xfer *x;

	if (usbip_parse_submit(p, len, &u, &why) < 0) {
		detach(dev, why);
		return;
	}
	address = (uint8_t)(u.ep | (u.dir == USBIP_DIR_IN ? UDK_USB_ENDPOINT_IN : 0));
	x = calloc(1, sizeof(*x));
	if (!x) {
		detach(dev, "out of memory");
		return;
	}
	x->usbip = true;
	x->id = u.seq;
	x->flags = u.flags & URB_SHORT_NOT_OK ? PROTO_USB_SHORT_NOT_OK : 0;
	x->t.endpoint = address;
	x->t.length = u.length;
	x->buf = malloc(u.length ? u.length : 1);
	if (!x->buf) {
		free(x);
		detach(dev, "out of memory");
		return;
	}
	x->t.data = x->buf;
	if (u.dir == USBIP_DIR_OUT) {
		memcpy(x->buf, u.data, u.length);
		x->t.actual = u.length;
	}
	if (u.ep == 0) {
		x->t.type = UDK_USB_TRANSFER_CONTROL;
		x->t.setup.bmRequestType = u.setup[0];
		x->t.setup.bRequest = u.setup[1];
		x->t.setup.wValue = usb_le16(u.setup + 2);
		x->t.setup.wIndex = usb_le16(u.setup + 4);
		x->t.setup.wLength = usb_le16(u.setup + 6);
	} else {
		const struct usb_ep *ep = usb_sim_find_ep(dev, address, NULL);
		if (!ep) {
			/* Linux only sends to endpoints it saw; this one went away */
			x->t.type = UDK_USB_TRANSFER_BULK;
			usbip_ret_submit(dev, x, -EPIPE);
			free(x->buf);
			free(x);
			return;
		}
		x->t.type = ep->d.bmAttributes & 3;
	}
	if (u.n_packets) {
		x->packets = calloc(u.n_packets, sizeof(*x->packets));
		if (!x->packets) {
			free(x->buf);
			free(x);
			detach(dev, "out of memory");
			return;
		}
		for (uint32_t i = 0; i < u.n_packets; i++)
			x->packets[i].length = be32(u.iso + (size_t)i * USBIP_ISO_DESC + 4);
		x->t.packets = x->packets;
		x->t.n_packets = u.n_packets;
	}
	usb_sim_submit(dev, x);
}

static void
cmd_unlink(struct usb_dev *dev, const uint8_t *p)
{
	uint32_t seq = be32(p + 4), victim = be32(p + 20);
	struct xfer *x = usb_sim_find(dev, match_seq, &victim);

	if (!x) {
		/* answered already */
		ret_unlink(dev, seq, 0);
		return;
	}
	/* an unlinked URB gets no RET_SUBMIT, only the RET_UNLINK */
	x->usbip = false;
	usb_sim_cancel(dev, x, -ECONNRESET, NULL);
	ret_unlink(dev, seq, (uint32_t)-ECONNRESET);
}

static void
on_usbip(struct loop *l, int fd, uint32_t events, void *data)
{
	struct usb_dev *dev = data;

	(void)l;
	(void)events;
	for (int round = 0; round < 64 && dev->usbip_fd == fd; round++) {
		ssize_t n;
		const char *why = NULL;

		if (dev->rx_cap - dev->rx_len < 65536) {
			size_t cap = dev->rx_cap ? dev->rx_cap * 2 : 131072;
			uint8_t *b;
			if (cap > PROTO_USB_MAX_TRANSFER + 131072u) {
				detach(dev, "a USB/IP message is larger than udk accepts");
				return;
			}
			b = realloc(dev->rx, cap);
			if (!b) {
				detach(dev, "out of memory");
				return;
			}
			dev->rx = b;
			dev->rx_cap = cap;
		}
		n = read(fd, dev->rx + dev->rx_len, dev->rx_cap - dev->rx_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			detach(dev, "Linux detached the device (vhci-hcd closed the USB/IP connection)");
			return;
		}
		dev->rx_len += (size_t)n;
		for (;;) {
			ssize_t len = usbip_message_len(dev->rx, dev->rx_len, &why);
			if (len < 0) {
				detach(dev, why);
				return;
			}
			if (len == 0)
				break;
			if (be32(dev->rx) == USBIP_CMD_SUBMIT)
				cmd_submit(dev, dev->rx, (size_t)len);
			else
				cmd_unlink(dev, dev->rx);
			if (dev->usbip_fd != fd)
				return;
			memmove(dev->rx, dev->rx + len, dev->rx_len - (size_t)len);
			dev->rx_len -= (size_t)len;
		}
	}
}

static void
detach(struct usb_dev *dev, const char *why)
{
	int fd = dev->usbip_fd;

	if (fd < 0)
		return;
	dev->usbip_fd = -1;
	loop_source_remove(dev->usbip_src);
	dev->usbip_src = NULL;
	close(fd);
	usb_sim_cancel_all(dev, NULL, true, -ESHUTDOWN, NULL, false);
	free(dev->rx);
	dev->rx = NULL;
	dev->rx_len = dev->rx_cap = 0;
	udk_dm_log(dev->fn->dm, UDK_LOG_NOTICE, "no longer attached to Linux: %s (%llu transfers answered)", why,
		   (unsigned long long)dev->usbip_done);
}

int
usbip_attach(struct usb_dev *dev, int fd, uint32_t devid, const char **why)
{
	if (fd < 0) {
		*why = "exporting needs the stream socket attached to vhci-hcd";
		return -EINVAL;
	}
	if (dev->usbip_fd >= 0 || dev->fn->chans) {
		close(fd);
		*why = dev->usbip_fd >= 0 ? "the device is attached to Linux already"
					  : "a udk driver has the device open; unplug or stop it first";
		return -UDK_E_BUSY;
	}
	fd_set_nonblock(fd, true);
	dev->usbip_fd = fd;
	dev->devid = devid;
	dev->usbip_done = 0;
	/* a fresh enumeration */
	usb_sim_reset(dev, "attached to Linux (vhci-hcd)", true);
	if (loop_add_fd(dm_loop(dev->fn->dm), fd, EPOLLIN, on_usbip, dev, &dev->usbip_src) < 0) {
		dev->usbip_fd = -1;
		close(fd);
		*why = "cannot watch the USB/IP socket";
		return -ENOMEM;
	}
	udk_dm_log(dev->fn->dm, UDK_LOG_INFO, "attached to Linux through vhci-hcd (devid 0x%x)", devid);
	return 0;
}
