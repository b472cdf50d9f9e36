/* SPDX-License-Identifier: MIT */
/*
 * udk-hid - HID report descriptors and a device's events, from the shell.
 *
 *   udk-hid parse FILE|-            dump a report descriptor (binary, or hex text)
 *   udk-hid events DEVICE [-n N] [-t MS] [--reports] [--time]
 *                                   print a device's events as its event
 *                                   service sees them (DEVICE: a registry
 *                                   path or id of an IOHIDDevice or its
 *                                   IOHIDInterface), one per line:
 *       keyboard escape down | keyboard 0x07:0x64 up | consumer volume_up down
 *       pointer x=3 y=-2 buttons=0x1 | scroll dx=0 dy=1 | value 0x01:0x30 17
 *       report 01 05 fe 03 ff
 *   udk-hid led DEVICE HEX          send an output report (keyboard LEDs)
 *
 * Exit status 0; 1 with the reason on stderr.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/client.h>
#include <udk/families/hid-client.h>
#include <udk/families/hid-usage.h>

#include "util.h"

static int
fail(int r, const char *what)
{
	fprintf(stderr, "udk-hid: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static int
read_input(const char *path, uint8_t *buf, size_t cap, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0, n = 0;
	bool hex = true;
	int r;

	if (streq(path, "-")) {
		size_t cap_t = 1 << 16;
		text = malloc(cap_t);
		if (!text)
			return -ENOMEM;
		len = fread(text, 1, cap_t - 1, stdin);
		text[len] = 0;
	} else {
		r = read_file(path, 1 << 16, &text, &len);
		if (r < 0)
			return udk_set_reason(r, "cannot read %s: %s", path, strerror(-r));
	}
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF \t\r\n,x", text[i]))
			hex = false;
	if (hex) {
		for (const char *p = text; *p && n < cap;) {
			unsigned v;
			int used = 0;
			while (*p && strchr(" \t\r\n,", *p))
				p++;
			if (!*p)
				break;
			if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
				p += 2;
			if (sscanf(p, "%2x%n", &v, &used) != 1) {
				free(text);
				return udk_set_reason(-EINVAL, "%s: not hex at \"%.8s\"", path, p);
			}
			buf[n++] = (uint8_t)v;
			p += used;
		}
	} else {
		n = MIN(len, cap);
		memcpy(buf, text, n);
	}
	free(text);
	*ret_len = n;
	return 0;
}

static int
cmd_parse(int argc, char **argv)
{
	uint8_t buf[UDK_HID_MAX_DESCRIPTOR + 1];
	struct udk_hid_descriptor *d;
	struct udk_hid_problem p;
	char *dump = NULL;
	size_t len = 0;
	int r;

	if (argc != 1) {
		fprintf(stderr, "usage: udk-hid parse FILE|-\n");
		return 2;
	}
	r = read_input(argv[0], buf, sizeof(buf), &len);
	if (r < 0)
		return fail(r, "parse");
	r = udk_hid_descriptor_parse(buf, len, &d, &p);
	if (r < 0)
		return fail(r, "parse");
	udk_hid_descriptor_dump(d, &dump);
	fputs(dump ? dump : "", stdout);
	free(dump);
	udk_hid_descriptor_free(d);
	return 0;
}

static void
usage_str(uint32_t page, uint32_t usage, char *buf, size_t len)
{
	const char *name = udk_hid_usage_name(UDK_HID_USAGE(page, usage));

	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "0x%02x:0x%02x", page, usage);
}

static void
print_event(const struct udk_hid_event *ev, bool with_time)
{
	char u[64];

	if (with_time)
		printf("%" PRIu64 " ", ev->timestamp_ns);
	switch (ev->type) {
	case UDK_HID_EVENT_KEYBOARD:
	case UDK_HID_EVENT_CONSUMER:
		usage_str(ev->key.usage_page, ev->key.usage, u, sizeof(u));
		printf("%s %s %s\n", ev->type == UDK_HID_EVENT_KEYBOARD ? "keyboard" : "consumer", u,
		       ev->key.value ? "down" : "up");
		break;
	case UDK_HID_EVENT_POINTER:
		printf("pointer%s x=%d y=%d buttons=0x%x\n", ev->flags & UDK_HID_EVENT_ABSOLUTE ? " absolute" : "",
		       ev->pointer.x, ev->pointer.y, ev->pointer.buttons);
		break;
	case UDK_HID_EVENT_SCROLL:
		printf("scroll dx=%d dy=%d\n", ev->scroll.dx, ev->scroll.dy);
		break;
	default:
		printf("value 0x%02x:0x%02x %d\n", ev->key.usage_page, ev->key.usage, ev->key.value);
		break;
	}
	fflush(stdout);
}

static int
device_id(struct udk_client *c, const char *arg, uint64_t *ret)
{
	char *end;
	uint64_t id = strtoull(arg, &end, 0);

	if (*arg && !*end) {
		*ret = id;
		return 0;
	}
	return udk_client_lookup_path(c, arg, ret);
}

static int
cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },  { "timeout", required_argument, NULL, 't' },
		{ "reports", no_argument, NULL, 'r' },	     { "time", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	long count = -1, timeout = -1;
	bool reports = false, with_time = false;
	struct udk_client *c = NULL;
	struct udk_hid_client *h = NULL;
	uint64_t dev, svc;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "+n:t:rT", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			count = atol(optarg);
			break;
		case 't':
			timeout = atol(optarg);
			break;
		case 'r':
			reports = true;
			break;
		case 'T':
			with_time = true;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: udk-hid events DEVICE [-n N] [-t MS] [--reports] [--time]\n");
		return 2;
	}
	r = udk_client_new(NULL, &c);
	if (r >= 0)
		r = device_id(c, argv[optind], &dev);
	if (r >= 0)
		r = udk_hid_client_find_event_service(c, dev, 10000, &svc);
	if (r >= 0)
		r = udk_hid_client_open(c, svc, reports ? UDK_HID_SUBSCRIBE_REPORTS : UDK_HID_SUBSCRIBE_EVENTS, &h);
	if (r < 0) {
		udk_client_unref(c);
		return fail(r, argv[optind]);
	}
	printf("# reading %s (event service 0x%" PRIx64 ")\n", argv[optind], svc);
	fflush(stdout);
	for (long i = 0; count < 0 || i < count; i++) {
		if (reports) {
			uint8_t buf[UDK_HID_MAX_REPORT];
			size_t len;
			uint64_t t;
			r = udk_hid_client_next_report(h, buf, sizeof(buf), &len, &t, (int)timeout);
			if (r < 0)
				break;
			if (with_time)
				printf("%" PRIu64 " ", t);
			printf("report");
			for (size_t k = 0; k < len; k++)
				printf(" %02x", buf[k]);
			printf("\n");
			fflush(stdout);
		} else {
			struct udk_hid_event ev;
			r = udk_hid_client_next_event(h, &ev, (int)timeout);
			if (r < 0)
				break;
			print_event(&ev, with_time);
		}
	}
	udk_hid_client_close(h);
	udk_client_unref(c);
	if (r < 0 && r != -EAGAIN)
		return fail(r, "events");
	return 0;
}

static int
cmd_led(int argc, char **argv)
{
	struct udk_client *c = NULL;
	struct udk_hid_client *h = NULL;
	uint8_t buf[64];
	size_t len = 0;
	uint64_t dev, svc;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: udk-hid led DEVICE HEX\n");
		return 2;
	}
	for (const char *p = argv[1]; *p && len < sizeof(buf); p += 2) {
		unsigned v;
		if (sscanf(p, "%2x", &v) != 1)
			return fail(udk_set_reason(-EINVAL, "\"%s\" is not hex", argv[1]), "led");
		buf[len++] = (uint8_t)v;
		if (!p[1])
			break;
	}
	r = udk_client_new(NULL, &c);
	if (r >= 0)
		r = device_id(c, argv[0], &dev);
	if (r >= 0)
		r = udk_hid_client_find_event_service(c, dev, 10000, &svc);
	if (r >= 0)
		r = udk_hid_client_open(c, svc, UDK_HID_SUBSCRIBE_EVENTS, &h);
	if (r >= 0)
		r = udk_hid_client_set_report(h, UDK_HID_REPORT_OUTPUT, buf, len);
	udk_hid_client_close(h);
	udk_client_unref(c);
	return r < 0 ? fail(r, "led") : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: udk-hid parse FILE|- | events DEVICE [...] | led DEVICE HEX\n");
		return 2;
	}
	if (streq(argv[1], "parse"))
		return cmd_parse(argc - 2, argv + 2);
	if (streq(argv[1], "events"))
		return cmd_events(argc - 1, argv + 1);
	if (streq(argv[1], "led"))
		return cmd_led(argc - 2, argv + 2);
	fprintf(stderr, "udk-hid: unknown command \"%s\"\n", argv[1]);
	return 2;
}
