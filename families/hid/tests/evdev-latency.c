/* SPDX-License-Identifier: MIT */
/*
 * evdev-latency - key-to-event latency on a real kernel (the guest rig's
 * tests/guest/53-hid-latency.sh): a uinput keyboard is the "physical" one;
 * each key written to it is timed until a reader holds it, first reading
 * its own node directly, then (once the caller wrote the virtual
 * keyboard's node into WAITFILE) through the remapper's virtual keyboard.
 *
 *   evdev-latency KEYS WAITFILE
 *
 * Prints "source NODE", then "direct MEDIAN_US P99_US" and "remapped
 * MEDIAN_US P99_US".  Keys go one at a time.
 */
#include <fcntl.h>
#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Write a key, wait until @fd has a key event; -1 on a 10 s timeout. */
static double
one(struct libevdev_uinput *ui, struct libevdev *rd, int fd, int value)
{
	double t0 = now_us();
	struct input_event ie;

	libevdev_uinput_write_event(ui, EV_KEY, KEY_X, value);
	libevdev_uinput_write_event(ui, EV_SYN, SYN_REPORT, 0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc;
		if (poll(&p, 1, 10000) <= 0)
			return -1;
		while ((rc = libevdev_next_event(rd, LIBEVDEV_READ_FLAG_NORMAL, &ie)) >= 0)
			if (rc == LIBEVDEV_READ_STATUS_SUCCESS && ie.type == EV_KEY && ie.value == value)
				return now_us() - t0;
	}
}

static int
measure(struct libevdev_uinput *ui, const char *node, int n, const char *label)
{
	struct libevdev *rd = NULL;
	double *lat = calloc((size_t)n, sizeof(double));
	int fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || libevdev_new_from_fd(fd, &rd) < 0 || !lat) {
		perror(node);
		return 1;
	}
	for (int i = 0; i < n / 10; i++) /* warm up */
		one(ui, rd, fd, !(i % 2));
	if (n / 10 % 2)
		one(ui, rd, fd, 0);
	for (int i = 0; i < n; i++) {
		lat[i] = one(ui, rd, fd, !(i % 2));
		if (lat[i] < 0) {
			fprintf(stderr, "evdev-latency: %s: key %d never came\n", label, i);
			return 1;
		}
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
	printf("%s %.1f %.1f\n", label, lat[n / 2], lat[n * 99 / 100]);
	fflush(stdout);
	libevdev_free(rd);
	close(fd);
	free(lat);
	return 0;
}

int
main(int argc, char **argv)
{
	struct libevdev *dev = libevdev_new();
	struct libevdev_uinput *ui = NULL;
	char node[256] = "";
	int n;

	if (argc != 3) {
		fprintf(stderr, "usage: evdev-latency KEYS WAITFILE\n");
		return 2;
	}
	n = atoi(argv[1]);
	libevdev_set_name(dev, "udk latency keyboard");
	libevdev_set_id_bustype(dev, BUS_USB);
	libevdev_set_id_vendor(dev, 0x1209);
	libevdev_set_id_product(dev, 0x4c41);
	for (unsigned k = KEY_ESC; k <= KEY_KPDOT; k++)
		libevdev_enable_event_code(dev, EV_KEY, k, NULL);
	if (libevdev_uinput_create_from_device(dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &ui) < 0) {
		perror("uinput");
		return 1;
	}
	printf("source %s\n", libevdev_uinput_get_devnode(ui));
	fflush(stdout);
	sleep(1);
	if (measure(ui, libevdev_uinput_get_devnode(ui), n, "direct"))
		return 1;
	/* the caller grants the remapper and says where its virtual keyboard is */
	for (int i = 0; i < 6000; i++) {
		FILE *f = fopen(argv[2], "r");
		if (f) {
			if (fgets(node, sizeof(node), f))
				node[strcspn(node, "\n")] = 0;
			fclose(f);
			if (node[0])
				break;
		}
		usleep(50000);
	}
	if (!node[0] || measure(ui, node, n, "remapped"))
		return 1;
	libevdev_uinput_destroy(ui);
	libevdev_free(dev);
	return 0;
}
