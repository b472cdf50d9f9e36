/* SPDX-License-Identifier: MIT */
/*
 * evdev-read - the guest tests' libevdev reader of a Linux input device:
 * prints its key events, one per line ("KEY_ESC 1"), and how long each
 * took from a mark, so tests check what evdev programs see.
 *
 *   evdev-read [--name NAME] [--phys PHYS] [--count N] [--timeout MS] [--node] [DEVICE]
 *
 * --name/--phys pick the first /dev/input/event* whose name equals NAME
 * (or whose phys is PHYS, or PHYS/...), waiting up to --timeout for it to
 * appear; --node prints the node found and exits.  Autorepeats (value 2)
 * are left out.  Exits 0 after N events, 1 after the timeout.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <libevdev/libevdev.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
find(const char *name, const char *phys, char *out, size_t len)
{
	DIR *d = opendir("/dev/input");
	struct dirent *e;
	int found = -1;

	while (d && (e = readdir(d)) && found < 0) {
		char path[300];
		struct libevdev *ev = NULL;
		int fd;
		if (strncmp(e->d_name, "event", 5))
			continue;
		snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (libevdev_new_from_fd(fd, &ev) == 0) {
			const char *n = libevdev_get_name(ev), *p = libevdev_get_phys(ev);
			/* phys: exactly, or followed by "/..." (the kernel's input0 and such) */
			if ((!name || (n && !strcmp(n, name))) &&
			    (!phys || (p && !strncmp(p, phys, strlen(phys)) && (!p[strlen(phys)] || p[strlen(phys)] == '/')))) {
				snprintf(out, len, "%s", path);
				found = 0;
			}
			libevdev_free(ev);
		}
		close(fd);
	}
	if (d)
		closedir(d);
	return found;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "phys", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'c' }, { "timeout", required_argument, NULL, 't' },
		{ "node", no_argument, NULL, 'N' },	   { NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *phys = NULL;
	long count = -1, timeout = 10000, deadline;
	bool node_only = false;
	char path[300] = "";
	struct libevdev *ev = NULL;
	int o, fd, n = 0;

	while ((o = getopt_long(argc, argv, "n:p:c:t:N", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			name = optarg;
			break;
		case 'p':
			phys = optarg;
			break;
		case 'c':
			count = atol(optarg);
			break;
		case 't':
			timeout = atol(optarg);
			break;
		case 'N':
			node_only = true;
			break;
		default:
			return 2;
		}
	}
	deadline = now_ms() + timeout;
	if (optind < argc) {
		snprintf(path, sizeof(path), "%s", argv[optind]);
	} else {
		while (find(name, phys, path, sizeof(path)) < 0) {
			if (now_ms() > deadline) {
				fprintf(stderr, "evdev-read: no input device named \"%s\"%s%s\n", name ? name : "",
					phys ? " with phys " : "", phys ? phys : "");
				return 1;
			}
			usleep(50000);
		}
	}
	if (node_only) {
		printf("%s\n", path);
		return 0;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || libevdev_new_from_fd(fd, &ev) < 0) {
		perror(path);
		return 1;
	}
	fprintf(stderr, "evdev-read: %s (%s)\n", path, libevdev_get_name(ev));
	printf("# ready\n");
	fflush(stdout);
	while (count < 0 || n < count) {
		struct input_event ie;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		int rc;
		if (left <= 0)
			return 1;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		while ((rc = libevdev_next_event(ev, LIBEVDEV_READ_FLAG_NORMAL, &ie)) >= 0) {
			if (rc == LIBEVDEV_READ_STATUS_SYNC)
				continue;
			if (ie.type != EV_KEY || ie.value == 2)
				continue;
			printf("%s %d\n", libevdev_event_code_get_name(EV_KEY, ie.code), ie.value);
			fflush(stdout);
			if (count >= 0 && ++n >= count)
				break;
		}
	}
	libevdev_free(ev);
	close(fd);
	return 0;
}
