/* SPDX-License-Identifier: MIT */
/*
 * bench-serial - a udk serial port (the simulated UART in loopback, its
 * driver, libudk-serial's pty backend) against a bare pty pair whose
 * master a thread echoes, measured in the same run:
 *
 *   throughput of 1-byte and 4 KiB writes (a reader thread takes the
 *   bytes back; every byte checked), goal >= 0.8x the bare pty;
 *   round-trip latency of a 1-byte and a 4 KiB write until it is read
 *   back (median), goal <= 2x the bare pty;
 *   how long a refused tcsetattr takes to be put back (the family sees
 *   the change, the driver refuses, the family restores): an upper bound
 *   of "the driver sees termios changes", goal <= 10 ms.
 *
 * Every figure is printed; a missed goal is printed as missed, not hidden.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.bench.uart"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
raw(int fd, speed_t speed, bool rtscts)
{
	struct termios t;

	if (tcgetattr(fd, &t) < 0)
		FAIL("tcgetattr: %m");
	cfmakeraw(&t);
	cfsetspeed(&t, speed);
	if (rtscts)
		t.c_cflag |= CRTSCTS;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		FAIL("tcsetattr: %m");
}

/* ---- the baseline: a pty whose master echoes ---- */

struct echo {
	int master;
	volatile bool stop;
	pthread_t thread;
};

static void *
echo_thread(void *data)
{
	struct echo *e = data;
	static char buf[65536];

	while (!e->stop) {
		struct pollfd pfd = { e->master, POLLIN, 0 };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t n = read(e->master, buf, sizeof(buf));
		for (ssize_t off = 0; n > 0 && off < n;) {
			ssize_t w = write(e->master, buf + off, (size_t)(n - off));
			if (w <= 0) {
				struct pollfd o = { e->master, POLLOUT, 0 };
				poll(&o, 1, 100);
				continue;
			}
			off += w;
		}
	}
	return NULL;
}

/* ---- measurements on a tty fd whose bytes come back ---- */

struct reader {
	int fd;
	uint64_t want, got;
	bool bad;
};

static void *
reader_thread(void *data)
{
	struct reader *r = data;
	static unsigned char buf[65536];

	while (r->got < r->want) {
		ssize_t n = read(r->fd, buf, sizeof(buf));
		if (n <= 0) {
			r->bad = true;
			return NULL;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != (unsigned char)((r->got + (uint64_t)i) * 131))
				r->bad = true;
		r->got += (uint64_t)n;
	}
	return NULL;
}

/* Bytes per second of @total bytes written @chunk at a time. */
static double
throughput(int fd, uint64_t total, size_t chunk)
{
	struct reader r = { fd, total, 0, false };
	unsigned char *buf = malloc(total);
	pthread_t t;
	double t0, dt;

	for (uint64_t i = 0; i < total; i++)
		buf[i] = (unsigned char)(i * 131);
	tcflush(fd, TCIOFLUSH);
	pthread_create(&t, NULL, reader_thread, &r);
	t0 = now_s();
	for (uint64_t off = 0; off < total;) {
		size_t n = total - off < chunk ? (size_t)(total - off) : chunk;
		ssize_t w = write(fd, buf + off, n);
		if (w <= 0)
			FAIL("write: %m");
		off += (uint64_t)w;
	}
	pthread_join(t, NULL);
	dt = now_s() - t0;
	free(buf);
	if (r.bad || r.got != total)
		FAIL("the bytes did not come back intact (%llu of %llu)", (unsigned long long)r.got,
		     (unsigned long long)total);
	return (double)total / dt;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median seconds from writing @size bytes to reading all of them back. */
static double
round_trip(int fd, size_t size, int iterations)
{
	unsigned char out[4096], in[4096];
	double *lat = calloc((size_t)iterations, sizeof(double)), med;

	memset(out, 0x5a, sizeof(out));
	for (int i = 0; i < iterations; i++) {
		double t0 = now_s();
		size_t got = 0;
		if (write(fd, out, size) != (ssize_t)size)
			FAIL("write: %m");
		while (got < size) {
			ssize_t n = read(fd, in, sizeof(in));
			if (n <= 0)
				FAIL("read: %m");
			got += (size_t)n;
		}
		lat[i] = now_s() - t0;
	}
	qsort(lat, (size_t)iterations, sizeof(double), cmp_double);
	med = lat[iterations / 2];
	free(lat);
	return med;
}

static void
report(const char *what, double udk, double base, bool higher_better, double goal)
{
	double ratio = udk / base;
	bool met = higher_better ? ratio >= goal : ratio <= goal;

	printf("%-34s udk %12.1f  pty %12.1f  ratio %5.2fx  goal %s%.1fx: %s\n", what, udk, base, ratio,
	       higher_better ? ">=" : "<=", goal, met ? "met" : "MISSED");
}

TEST_FULL(bench, 1800)
{
	const char *mb = getenv("UDK_BENCH_SERIAL_MB");
	uint64_t big = (uint64_t)(mb ? atoi(mb) : 64) << 20, small = big / 64;
	struct fixture f;
	struct echo e = { -1, false, 0 };
	char dev[400], port[500];
	int fd, iters = 2000;
	double u1, p1, u4, p4, ul1, pl1, ul4, pl4;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", TEST_DEVICE("uart0", "uart16550", ""));
	fixture_add_bundle_exe(&f, "U.dext", ID, "drivers/uart16550-driver",
			       "<key>U</key><dict>"
			       "<key>IOClass</key><string>IOUserSerial</string>"
			       "<key>IOUserClass</key><string>Uart16550Driver</string>"
			       "<key>IOUserServerName</key><string>" ID "</string>"
			       "<key>IOProviderClass</key><string>IOPCIDevice</string>"
			       "<key>IOPCIPrimaryMatch</key><string>0x05501234</string>"
			       "<key>IOTTYBaseName</key><string>bench</string></dict>");
	fixture_bundle_file(&f, "U.dext", "Entitlements.plist",
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
			    "<key>com.apple.developer.driverkit</key><true/>"
			    "<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"
			    "<key>IOPCIPrimaryMatch</key><string>0x05501234</string></dict></array>"
			    "<key>com.apple.developer.driverkit.family.serial</key><true/></dict></plist>\n");
	snprintf(dev, sizeof(dev), "%s/dev", f.dir);
	mkdir(dev, 0755);
	fixture_start(&f, "--dev-dir", dev, "--log-level", "notice", NULL);
	fixture_wait_class(&f, "IOSerialBSDClient", 10000);
	snprintf(port, sizeof(port), "%s/cu.bench", dev);

	/* the udk port: the UART at its top rate with RTS/CTS, raw */
	fd = open(port, O_RDWR | O_NOCTTY);
	if (fd < 0)
		FAIL("open %s: %m", port);
	raw(fd, B4000000, true);
	usleep(100000);
	u4 = throughput(fd, big, 4096);
	u1 = throughput(fd, small, 1);
	ul1 = round_trip(fd, 1, iters);
	ul4 = round_trip(fd, 4096, iters / 4);

	/* the refused rate: how soon the family puts the old one back */
	{
		double lat[50], t0;
		struct termios t;
		for (int i = 0; i < 50; i++) {
			tcgetattr(fd, &t);
			t.c_cflag = (t.c_cflag & ~(tcflag_t)CBAUD) | B4000000;
			tcsetattr(fd, TCSANOW, &t);
			usleep(20000);
			tcgetattr(fd, &t);
			/* 50 baud is below the UART's slowest rate: refused */
			cfsetspeed(&t, B50);
			t0 = now_s();
			tcsetattr(fd, TCSANOW, &t);
			for (;;) {
				tcgetattr(fd, &t);
				if (cfgetospeed(&t) == B4000000)
					break;
				if (now_s() - t0 > 5)
					FAIL("the refused rate was not put back within 5 s");
			}
			lat[i] = now_s() - t0;
		}
		qsort(lat, 50, sizeof(double), cmp_double);
		printf("%-34s median %.2f ms, max %.2f ms  goal <= 10 ms: %s\n", "termios change -> driver -> back",
		       lat[25] * 1e3, lat[49] * 1e3, lat[25] * 1e3 <= 10 ? "met" : "MISSED");
	}
	close(fd);

	/* the baseline: a bare pty pair echoing */
	{
		int slave;
		e.master = posix_openpt(O_RDWR | O_NOCTTY);
		if (e.master < 0 || grantpt(e.master) < 0 || unlockpt(e.master) < 0)
			FAIL("posix_openpt: %m");
		slave = open(ptsname(e.master), O_RDWR | O_NOCTTY);
		if (slave < 0)
			FAIL("open the pty slave: %m");
		raw(slave, B4000000, false);
		pthread_create(&e.thread, NULL, echo_thread, &e);
		p4 = throughput(slave, big, 4096);
		p1 = throughput(slave, small, 1);
		pl1 = round_trip(slave, 1, iters);
		pl4 = round_trip(slave, 4096, iters / 4);
		e.stop = true;
		pthread_join(e.thread, NULL);
		close(slave);
		close(e.master);
	}

	printf("serial bench: %llu MiB of 4 KiB writes, %llu KiB of 1-byte writes, %d round trips\n",
	       (unsigned long long)(big >> 20), (unsigned long long)(small >> 10), iters);
	report("throughput, 4 KiB writes (MB/s)", u4 / 1e6, p4 / 1e6, true, 0.8);
	report("throughput, 1-byte writes (KB/s)", u1 / 1e3, p1 / 1e3, true, 0.8);
	report("round trip, 1 byte (us, median)", ul1 * 1e6, pl1 * 1e6, false, 2.0);
	report("round trip, 4 KiB (us, median)", ul4 * 1e6, pl4 * 1e6, false, 2.0);
	fixture_stop(&f);
}
