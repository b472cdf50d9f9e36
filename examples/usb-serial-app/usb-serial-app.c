/* SPDX-License-Identifier: MIT */
/*
 * usb-serial-app - use a USB-serial chip driven by udk (drivers/usb-ftdi)
 * as every serial program does: through its tty, /dev/cu.usbserial-SERIAL,
 * which the serial family made for the driver.
 *
 *   usb-serial-app [--runtime-dir DIR] [--port PATH] --info
 *   usb-serial-app [--runtime-dir DIR] [--port PATH] --baud RATE
 *   usb-serial-app [--runtime-dir DIR] [--port PATH] --write TEXT
 *   usb-serial-app [--runtime-dir DIR] [--port PATH] --read N [--timeout MS]
 *   usb-serial-app [--runtime-dir DIR] [--port PATH] --loop BYTES [--chunk N] [--stall MS] [--json]
 *
 * Without --port it asks udkd for the IOSerialBSDClient whose base name is
 * "usbserial" and opens its call-out device.  --info also reads the
 * driver's counters and the chip's modem status through the driver's user
 * client.  --baud sets the rate with tcsetattr and shows what the chip
 * runs at (the driver refuses rates the FT232's divisor cannot make within
 * 3%; the family then puts the old rate back on the tty).  --loop sends
 * BYTES of a pattern and reads them back (the line must loop back: the
 * simulated chip does; in the guest rig QEMU's host side does) and checks
 * every byte.  --stall MS waits that long after the first write before
 * reading (the bytes pile up in the port's RX ring).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <udk/client.h>

#include "ftdi.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "usb-serial-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static int
die_errno(const char *what, const char *path)
{
	fprintf(stderr, "usb-serial-app: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct {
	uint32_t rate;
	speed_t code;
} speeds[] = {
	{ 300, B300 },	       { 1200, B1200 },	    { 2400, B2400 },	 { 4800, B4800 },     { 9600, B9600 },
	{ 19200, B19200 },     { 38400, B38400 },   { 57600, B57600 },	 { 115200, B115200 }, { 230400, B230400 },
	{ 460800, B460800 },   { 500000, B500000 }, { 921600, B921600 }, { 1000000, B1000000 },
	{ 1500000, B1500000 }, { 2000000, B2000000 }, { 2500000, B2500000 }, { 3000000, B3000000 },
	{ 3500000, B3500000 }, { 4000000, B4000000 },
};

static uint32_t
rate_of(speed_t code)
{
	for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
		if (speeds[i].code == code)
			return speeds[i].rate;
	return 0;
}

/* Read up to @len bytes, waiting up to @timeout_ms for the first. */
static ssize_t
read_some(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r = poll(&p, 1, timeout_ms);

	if (r <= 0)
		return r;
	return read(fd, buf, len);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { fd, POLLOUT, 0 };
			poll(&pf, 1, 1000);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' }, { "info", no_argument, NULL, 'i' },
		{ "baud", required_argument, NULL, 'b' },	  { "write", required_argument, NULL, 'w' },
		{ "read", required_argument, NULL, 'R' },	  { "timeout", required_argument, NULL, 't' },
		{ "loop", required_argument, NULL, 'l' },	  { "chunk", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },		  { "port", required_argument, NULL, 'p' },
		{ "stall", required_argument, NULL, 's' },	  { NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL, *text = NULL, *port = NULL;
	uint64_t baud = 0, read_n = 0, timeout = 1000, loop = 0, chunk = 4096, stall = 0, id, info[8];
	bool want_info = false, json = false;
	struct udk_client *c;
	struct udk_connection *conn;
	struct termios tio;
	char path[512] = "";
	uint32_t n;
	int o, r, fd;

	while ((o = getopt_long(argc, argv, "r:ib:w:R:t:l:c:jp:s:", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			runtime = optarg;
			break;
		case 'i':
			want_info = true;
			break;
		case 'b':
			baud = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			text = optarg;
			break;
		case 'R':
			read_n = strtoull(optarg, NULL, 0);
			break;
		case 't':
			timeout = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			loop = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			port = optarg;
			break;
		case 's':
			stall = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: usb-serial-app [--runtime-dir DIR] [--port PATH] --info | --baud RATE | "
					"--write TEXT | --read N [--timeout MS] | --loop BYTES [--chunk N] [--stall MS] [--json]\n");
			return 2;
		}
	}
	if (!chunk)
		chunk = 4096;
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class("FtdiDriver");
		r = udk_client_wait_for_service(c, m, 10000, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the USB-serial driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open", r);
	if (port) {
		snprintf(path, sizeof(path), "%s", port);
	} else {
		/* the port's IOSerialBSDClient: base name "usbserial" */
		struct udk_value *m = udk_matching_class("IOSerialBSDClient"), *svc = NULL;
		uint64_t pid;
		udk_dict_set_string(m, "IOTTYBaseName", "usbserial");
		r = udk_client_wait_for_service(c, m, 10000, &pid);
		udk_value_unref(m);
		if (r < 0)
			return die("find the port (IOSerialBSDClient)", r);
		if ((r = udk_client_copy_service(c, pid, &svc)) < 0)
			return die("read the port's properties", r);
		{
			const char *cu = udk_dict_get_string(udk_dict_get(svc, "properties"), "IOCalloutDevice");
			snprintf(path, sizeof(path), "%s", cu ? cu : "");
		}
		udk_value_unref(svc);
	}
	fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return die_errno("open", path);
	if (tcgetattr(fd, &tio) < 0)
		return die_errno("tcgetattr", path);
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return die_errno("tcsetattr", path);
	if (want_info) {
		uint64_t modem = 0;
		n = 8;
		if ((r = udk_connection_call(conn, FTDI_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
			return die("GetInfo", r);
		n = 1;
		if ((r = udk_connection_call(conn, FTDI_MODEM_STATUS, NULL, 0, NULL, 0, &modem, &n, NULL, NULL)) < 0)
			return die("ModemStatus", r);
		printf("FT232 %04" PRIx64 ":%04" PRIx64 " (%s backend) at %" PRIu64 " baud, port %s; %" PRIu64
		       " bytes in, %" PRIu64 " out, %" PRIu64 " overruns, RX ring full %" PRIu64
		       " times; modem lines 0x%02" PRIx64 "%s%s%s\n",
		       info[0], info[1], info[2] ? "usbfs" : "sim", info[3], path, info[4], info[5], info[6], info[7], modem,
		       modem & 0x10 ? " CTS" : "", modem & 0x20 ? " DSR" : "", modem & 0x80 ? " DCD" : "");
	}
	if (baud) {
		speed_t code = 0;
		uint64_t was;
		double t0;
		for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
			if (speeds[i].rate == baud)
				code = speeds[i].code;
		if (!code) {
			fprintf(stderr, "usb-serial-app: %" PRIu64 " is not a termios rate\n", baud);
			return 2;
		}
		n = 8;
		if ((r = udk_connection_call(conn, FTDI_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
			return die("GetInfo", r);
		was = info[3];
		cfsetspeed(&tio, code);
		if (tcsetattr(fd, TCSANOW, &tio) < 0)
			return die_errno("tcsetattr", path);
		/* the driver hears it within milliseconds; a refusal puts the old rate back */
		t0 = now_s();
		for (;;) {
			struct termios now;
			n = 8;
			if ((r = udk_connection_call(conn, FTDI_GET_INFO, NULL, 0, NULL, 0, info, &n, NULL, NULL)) < 0)
				return die("GetInfo", r);
			if (tcgetattr(fd, &now) == 0 && cfgetospeed(&now) != code) {
				printf("baud rate %" PRIu64 " asked: refused, the tty is back at %u (see the driver's log)\n",
				       baud, rate_of(cfgetospeed(&now)));
				tio = now;
				break;
			}
			if (info[3] != was || now_s() - t0 > 1.0) {
				printf("baud rate %" PRIu64 " asked, the chip runs at %" PRIu64 "\n", baud, info[3]);
				break;
			}
			usleep(2000);
		}
	}
	if (text) {
		if (write_all(fd, text, strlen(text)) < 0)
			return die_errno("write", path);
		printf("wrote %zu bytes\n", strlen(text));
	}
	if (read_n) {
		char *buf = calloc(1, read_n + 1);
		size_t got = 0;
		double end = now_s() + (double)timeout / 1e3;
		if (!buf)
			return die("allocate", -ENOMEM);
		while (got < read_n && now_s() < end) {
			ssize_t k = read_some(fd, buf + got, read_n - got, (int)((end - now_s()) * 1e3) + 1);
			if (k < 0)
				return die_errno("read", path);
			got += (size_t)k;
		}
		printf("read %zu bytes: \"%s\"\n", got, buf);
		free(buf);
	}
	if (loop) {
		uint8_t *ob = malloc(loop), *ib = calloc(1, loop);
		uint64_t bad = 0, x = 88172645463325252ull, sent = 0, got = 0;
		double t0, t1, last;
		if (!ob || !ib)
			return die("allocate", -ENOMEM);
		for (uint64_t i = 0; i < loop; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			ob[i] = (uint8_t)x;
		}
		tcflush(fd, TCIOFLUSH);
		t0 = last = now_s();
		/* at most @chunk bytes ahead of what came back */
		while (got < loop && now_s() - last < (timeout < 10000 ? 10.0 : (double)timeout / 1e3)) {
			ssize_t k;
			if (sent < loop && sent - got < chunk) {
				uint64_t m = chunk - (sent - got);
				if (m > loop - sent)
					m = loop - sent;
				if (write_all(fd, ob + sent, m) < 0)
					return die_errno("write", path);
				sent += m;
				if (stall) {
					usleep((useconds_t)(stall * 1000));
					stall = 0;
				}
			}
			k = read_some(fd, ib + got, loop - got, 100);
			if (k < 0)
				return die_errno("read", path);
			if (k > 0)
				last = now_s();
			got += (uint64_t)k;
		}
		t1 = now_s();
		for (uint64_t i = 0; i < loop; i++)
			bad += ob[i] != ib[i];
		if (json)
			printf("{\"bytes\":%" PRIu64 ",\"received\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"seconds\":%.6f,\"kbs\":%.1f}\n",
			       loop, got, bad, t1 - t0, (double)loop / (t1 - t0) / 1e3);
		else
			printf("looped %" PRIu64 " bytes through %s: %" PRIu64 " came back, %" PRIu64 " differ; %.1f kB/s\n",
			       loop, path, got, bad, (double)loop / (t1 - t0) / 1e3);
		free(ob);
		free(ib);
		if (bad || got != loop)
			return 1;
	}
	close(fd);
	udk_connection_unref(conn);
	udk_client_unref(c);
	return 0;
}
