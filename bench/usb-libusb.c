/* SPDX-License-Identifier: MIT */
/*
 * usb-libusb - the baselines of the guest USB benchmark (bench/guest/):
 * the same transfers the udk drivers make, made by libusb directly on the
 * same device (the kernel driver detached while it runs).
 *
 *   usb-libusb ftdi-loop BYTES CHUNK   an FT232 (0403:6001): set up as the
 *        udk FTDI driver does, four 4 KiB bulk INs in flight, BYTES written
 *        (bulk OUTs of at most 4 KiB, as the udk driver sends them) at most
 *        CHUNK ahead of what came back; status bytes stripped
 *   usb-libusb bot-read MB             a bulk-only disk (46f4:0001): READ(10)
 *        of 64 KiB at a time (CBW, data, CSW), as usb-storage-app --read-mb
 *
 * Prints one JSON line.
 */
#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static libusb_device_handle *
open_claim(libusb_context *ctx, uint16_t vid, uint16_t pid, int iface)
{
	libusb_device_handle *h = libusb_open_device_with_vid_pid(ctx, vid, pid);

	if (!h) {
		fprintf(stderr, "usb-libusb: no device %04x:%04x\n", vid, pid);
		exit(1);
	}
	libusb_set_auto_detach_kernel_driver(h, 1);
	if (libusb_claim_interface(h, iface) < 0) {
		fprintf(stderr, "usb-libusb: cannot claim interface %d\n", iface);
		exit(1);
	}
	return h;
}

/* ---- FTDI ---- */

static uint8_t ring[1 << 20];
static size_t got, sent;
static int in_flight;

static void LIBUSB_CALL
in_done(struct libusb_transfer *t)
{
	in_flight--;
	if (t->status == LIBUSB_TRANSFER_COMPLETED)
		for (int off = 0; off < t->actual_length; off += 64) {
			int n = t->actual_length - off < 64 ? t->actual_length - off : 64;
			for (int k = 2; k < n; k++)
				ring[got++ % sizeof(ring)] = t->buffer[off + k];
		}
	if (t->status == LIBUSB_TRANSFER_COMPLETED || t->status == LIBUSB_TRANSFER_TIMED_OUT) {
		if (libusb_submit_transfer(t) == 0)
			in_flight++;
	}
}

static int
ftdi_loop(libusb_context *ctx, size_t bytes, size_t chunk)
{
	libusb_device_handle *h = open_claim(ctx, 0x0403, 0x6001, 0);
	struct libusb_transfer *ins[4];
	uint8_t *out = malloc(bytes), *bufs = malloc(4 * 4096);
	double t0, t1;

	for (size_t i = 0; i < bytes; i++)
		out[i] = (uint8_t)(i * 31 + 7);
	/* as the udk driver: reset, 8N1, no flow control, DTR/RTS, 115200, latency 1 ms */
	libusb_control_transfer(h, 0x40, 0, 0, 0, NULL, 0, 1000);
	libusb_control_transfer(h, 0x40, 4, 8, 0, NULL, 0, 1000);
	libusb_control_transfer(h, 0x40, 2, 0, 0, NULL, 0, 1000);
	libusb_control_transfer(h, 0x40, 1, 0x0303, 0, NULL, 0, 1000);
	libusb_control_transfer(h, 0x40, 3, 26, 0, NULL, 0, 1000);
	libusb_control_transfer(h, 0x40, 9, 1, 0, NULL, 0, 1000);
	for (int i = 0; i < 4; i++) {
		ins[i] = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(ins[i], h, 0x81, bufs + i * 4096, 4096, in_done, NULL, 0);
		if (libusb_submit_transfer(ins[i]) == 0)
			in_flight++;
	}
	t0 = now_s();
	while (got < bytes) {
		if (sent < bytes && sent - got < chunk) {
			/* at most @chunk ahead, at most 4 KiB per OUT as the udk driver
			 * (QEMU's UDP chardev truncates larger writes) */
			size_t want = chunk - (sent - got);
			int n = 0, k;
			if (want > bytes - sent)
				want = bytes - sent;
			k = (int)(want < 4096 ? want : 4096);
			if (libusb_bulk_transfer(h, 0x02, out + sent, k, &n, 5000) < 0) {
				fprintf(stderr, "usb-libusb: bulk OUT failed\n");
				return 1;
			}
			sent += (size_t)n;
		}
		/* wait for bytes only while some are on their way (the sync OUT above may have
		 * handled their completion already) */
		if (got < sent) {
			struct timeval tv = { 0, 100000 };
			libusb_handle_events_timeout_completed(ctx, &tv, NULL);
		}
		if (now_s() - t0 > 120) {
			fprintf(stderr, "usb-libusb: %zu of %zu bytes came back in 120 s\n", got, bytes);
			return 1;
		}
	}
	t1 = now_s();
	for (size_t i = 0; i < bytes && i < sizeof(ring); i++)
		if (ring[i] != out[i]) {
			fprintf(stderr, "usb-libusb: byte %zu differs\n", i);
			return 1;
		}
	printf("{\"bytes\":%zu,\"seconds\":%.6f,\"kbs\":%.1f}\n", bytes, t1 - t0, (double)bytes / (t1 - t0) / 1e3);
	for (int i = 0; i < 4; i++)
		libusb_cancel_transfer(ins[i]);
	while (in_flight > 0) {
		struct timeval tv = { 0, 100000 };
		libusb_handle_events_timeout(ctx, &tv);
	}
	for (int i = 0; i < 4; i++)
		libusb_free_transfer(ins[i]);
	libusb_release_interface(h, 0);
	libusb_close(h);
	free(out);
	free(bufs);
	return 0;
}

/* ---- bulk-only ---- */

static int
bot_read(libusb_context *ctx, size_t mb)
{
	libusb_device_handle *h = open_claim(ctx, 0x46f4, 0x0001, 0);
	const size_t chunk = 64 * 1024, total = mb << 20;
	uint8_t *buf = malloc(chunk), cbw[31], csw[13];
	double t0, t1;
	uint32_t tag = 0;

	t0 = now_s();
	for (size_t done = 0; done < total; done += chunk) {
		uint32_t lba = (uint32_t)(done / 512), blocks = chunk / 512;
		int n = 0;
		memset(cbw, 0, sizeof(cbw));
		memcpy(cbw, "USBC", 4);
		tag++;
		memcpy(cbw + 4, &tag, 4);
		cbw[8] = (uint8_t)chunk;
		cbw[9] = (uint8_t)(chunk >> 8);
		cbw[10] = (uint8_t)(chunk >> 16);
		cbw[11] = (uint8_t)(chunk >> 24);
		cbw[12] = 0x80;
		cbw[14] = 10;
		cbw[15] = 0x28;
		cbw[17] = (uint8_t)(lba >> 24);
		cbw[18] = (uint8_t)(lba >> 16);
		cbw[19] = (uint8_t)(lba >> 8);
		cbw[20] = (uint8_t)lba;
		cbw[22] = (uint8_t)(blocks >> 8);
		cbw[23] = (uint8_t)blocks;
		if (libusb_bulk_transfer(h, 0x02, cbw, 31, &n, 5000) < 0 ||
		    libusb_bulk_transfer(h, 0x81, buf, (int)chunk, &n, 5000) < 0 ||
		    libusb_bulk_transfer(h, 0x81, csw, 13, &n, 5000) < 0 || n != 13 || csw[12] != 0) {
			fprintf(stderr, "usb-libusb: READ(10) at %u failed\n", lba);
			return 1;
		}
	}
	t1 = now_s();
	printf("{\"bytes\":%zu,\"seconds\":%.6f,\"mbs\":%.2f}\n", total, t1 - t0, (double)total / (t1 - t0) / 1e6);
	libusb_release_interface(h, 0);
	libusb_close(h);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	libusb_context *ctx;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: usb-libusb ftdi-loop BYTES CHUNK | bot-read MB\n");
		return 2;
	}
	if (libusb_init(&ctx) < 0) {
		fprintf(stderr, "usb-libusb: libusb_init failed\n");
		return 1;
	}
	if (strcmp(argv[1], "ftdi-loop") == 0 && argc == 4)
		r = ftdi_loop(ctx, strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
	else if (strcmp(argv[1], "bot-read") == 0)
		r = bot_read(ctx, strtoull(argv[2], NULL, 0));
	else
		r = 2;
	libusb_exit(ctx);
	return r;
}
