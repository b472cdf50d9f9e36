/* SPDX-License-Identifier: MIT */
/*
 * hid-test - a simulated keyboard, mouse and consumer control for tests
 * and benchmarks (the HID kind of device model).
 *
 * Machine description Properties:
 *   Functions     ["keyboard", "mouse"] (default ["keyboard"]): a boot
 *                 keyboard; a mouse with a wheel (report 1) and a consumer
 *                 control (report 2)
 *   Transport     "USB" (default), "i8042", "SPI" ...; Built-In <bool>
 *   Product, VendorID, ProductID
 *   ControlSocket a path: the model listens there (SOCK_SEQPACKET) for
 *                 commands, one per datagram, answered "ok" or "error: ...":
 *     press KEY / release KEY / tap KEY...   keys by name (hid-usage.h)
 *     mouse DX DY [BUTTONS] / wheel N / consumer USAGE
 *     raw FUNCTION HEX                       any bytes as an input report
 *     leds                                   -> "leds HEX": the last output report
 *     count                                  -> "count N": input reports sent
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <udk/families/hid-devmodel.h>
#include <udk/families/hid-usage.h>

static const uint8_t mouse_consumer[] = {
	0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x85, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01,
	0x29, 0x03, 0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x05,
	0x81, 0x01, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x38, 0x15, 0x81, 0x25, 0x7f, 0x75, 0x08,
	0x95, 0x03, 0x81, 0x06, 0xc0, 0xc0, 0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01, 0x85, 0x02, 0x19, 0x00,
	0x2a, 0x3c, 0x02, 0x15, 0x00, 0x26, 0x3c, 0x02, 0x95, 0x01, 0x75, 0x10, 0x81, 0x00, 0xc0,
};

static struct udk_dm *dm;
static struct udk_dm_function *kbd, *mouse;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t kbd_report[8];
static uint8_t leds[8];
static size_t leds_len;
static unsigned long sent;
static uint32_t buttons;

static int
send_report(struct udk_dm_function *fn, const uint8_t *r, size_t len)
{
	int ret = udk_dm_hid_input_report(fn, r, len);
	if (ret >= 0)
		sent++;
	return ret;
}

static int
key(const char *name, int down, char *err, size_t errlen)
{
	uint32_t usage;

	if (!kbd)
		return snprintf(err, errlen, "no keyboard function"), -1;
	if (udk_hid_usage_parse(name, &usage) < 0)
		return snprintf(err, errlen, "%s", udk_error_reason()), -1;
	if (udk_hid_boot_keyboard_update(kbd_report, usage, down) < 0)
		return snprintf(err, errlen, "%s", udk_error_reason()), -1;
	return send_report(kbd, kbd_report, sizeof(kbd_report)) < 0 ? (snprintf(err, errlen, "udkd gone"), -1) : 0;
}

static int
hexbytes(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s && n < cap) {
		unsigned v;
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		if (sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return (int)n;
}

static void
command(char *cmd, char *reply, size_t len)
{
	char err[256] = "";
	char *save = NULL, *verb = strtok_r(cmd, " \n", &save), *arg;
	int r = 0;

	pthread_mutex_lock(&lock);
	if (!verb) {
		r = -1;
		snprintf(err, sizeof(err), "empty command");
	} else if (!strcmp(verb, "press") || !strcmp(verb, "release")) {
		while (r >= 0 && (arg = strtok_r(NULL, " \n", &save)))
			r = key(arg, !strcmp(verb, "press"), err, sizeof(err));
	} else if (!strcmp(verb, "tap")) {
		while (r >= 0 && (arg = strtok_r(NULL, " \n", &save))) {
			r = key(arg, 1, err, sizeof(err));
			if (r >= 0)
				r = key(arg, 0, err, sizeof(err));
		}
	} else if (!strcmp(verb, "mouse") || !strcmp(verb, "wheel")) {
		uint8_t rep[5] = { 1, 0, 0, 0, 0 };
		char *a = strtok_r(NULL, " \n", &save), *b = strtok_r(NULL, " \n", &save), *c = strtok_r(NULL, " \n", &save);
		if (!mouse) {
			r = -1;
			snprintf(err, sizeof(err), "no mouse function");
		} else {
			if (!strcmp(verb, "mouse")) {
				rep[2] = (uint8_t)(int8_t)(a ? atoi(a) : 0);
				rep[3] = (uint8_t)(int8_t)(b ? atoi(b) : 0);
				if (c)
					buttons = (uint32_t)atoi(c);
			} else {
				rep[4] = (uint8_t)(int8_t)(a ? atoi(a) : 0);
			}
			rep[1] = (uint8_t)(buttons & 7);
			r = send_report(mouse, rep, sizeof(rep));
		}
	} else if (!strcmp(verb, "consumer")) {
		uint32_t usage;
		arg = strtok_r(NULL, " \n", &save);
		if (!mouse || !arg || udk_hid_usage_parse(arg, &usage) < 0 || (usage >> 16) != 0x0c) {
			r = -1;
			snprintf(err, sizeof(err), "consumer USAGE needs the mouse function and a consumer usage");
		} else {
			uint8_t rep[3] = { 2, (uint8_t)usage, (uint8_t)((usage >> 8) & 0xff) };
			uint8_t up[3] = { 2, 0, 0 };
			r = send_report(mouse, rep, 3);
			if (r >= 0)
				r = send_report(mouse, up, 3);
		}
	} else if (!strcmp(verb, "raw")) {
		char *fn = strtok_r(NULL, " \n", &save), *hex = save;
		uint8_t buf[4200];
		int n = hex ? hexbytes(hex, buf, sizeof(buf)) : -1;
		struct udk_dm_function *f = fn && atoi(fn) == 1 ? mouse : kbd;
		if (!f || n < 0) {
			r = -1;
			snprintf(err, sizeof(err), "raw FUNCTION HEX");
		} else {
			r = send_report(f, buf, (size_t)n);
		}
	} else if (!strcmp(verb, "leds")) {
		size_t at = (size_t)snprintf(reply, len, "leds");
		for (size_t i = 0; i < leds_len && at + 3 < len; i++)
			at += (size_t)snprintf(reply + at, len - at, " %02x", leds[i]);
		pthread_mutex_unlock(&lock);
		return;
	} else if (!strcmp(verb, "count")) {
		snprintf(reply, len, "count %lu", sent);
		pthread_mutex_unlock(&lock);
		return;
	} else {
		r = -1;
		snprintf(err, sizeof(err), "unknown command \"%s\"", verb);
	}
	pthread_mutex_unlock(&lock);
	if (r < 0)
		snprintf(reply, len, "error: %s", err[0] ? err : "failed");
	else
		snprintf(reply, len, "ok");
}

static void *
serve(void *data)
{
	int lfd = (int)(intptr_t)data;

	for (;;) {
		int c = accept(lfd, NULL, NULL);
		char buf[8192], reply[512];
		ssize_t n;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		while ((n = recv(c, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = 0;
			command(buf, reply, sizeof(reply));
			send(c, reply, strlen(reply), MSG_NOSIGNAL);
		}
		close(c);
	}
}

static int
set_report(struct udk_dm_function *fn, enum udk_hid_report_type type, const uint8_t *report, size_t len)
{
	(void)type;
	if (fn != kbd)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	leds_len = len < sizeof(leds) ? len : sizeof(leds);
	memcpy(leds, report, leds_len);
	pthread_mutex_unlock(&lock);
	return 0;
}

static int
get_report(struct udk_dm_function *fn, enum udk_hid_report_type type, uint8_t id, uint8_t *buf, size_t cap,
	   size_t *ret_len)
{
	(void)id;
	if (fn != kbd || type != UDK_HID_REPORT_INPUT || cap < 8)
		return -ENOENT;
	pthread_mutex_lock(&lock);
	memcpy(buf, kbd_report, 8);
	pthread_mutex_unlock(&lock);
	*ret_len = 8;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_hid_ops ops = { UDK_DM_HID_OPS_INIT, .set_report = set_report,
						   .get_report = get_report };
	const struct udk_value *props;
	struct udk_value *fns;
	const char *transport, *product, *sock_path;
	bool built_in;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	props = udk_dm_get_properties(dm);
	fns = udk_dict_get(props, "Functions");
	transport = udk_dict_get_string(props, "Transport");
	product = udk_dict_get_string(props, "Product");
	built_in = udk_dict_get_bool(props, "Built-In", false);
	for (size_t i = 0; i < (fns ? udk_array_size(fns) : 1); i++) {
		const char *what = fns ? udk_value_get_string(udk_array_get(fns, i)) : "keyboard";
		struct udk_dm_hid_config cfg = { UDK_DM_HID_CONFIG_INIT };
		struct udk_dm_function *fn;
		cfg.transport = transport;
		cfg.built_in = built_in;
		cfg.vendor_id = (uint32_t)udk_dict_get_int(props, "VendorID", 0x1209);
		cfg.manufacturer = "udk";
		if (what && !strcmp(what, "mouse")) {
			cfg.descriptor = mouse_consumer;
			cfg.descriptor_len = sizeof(mouse_consumer);
			cfg.product_id = (uint32_t)udk_dict_get_int(props, "ProductID", 0x0002) + 1;
			cfg.product = "udk simulated mouse";
		} else {
			cfg.descriptor = udk_hid_boot_keyboard_descriptor(&cfg.descriptor_len);
			cfg.product_id = (uint32_t)udk_dict_get_int(props, "ProductID", 0x0001);
			cfg.product = product ? product : "udk simulated keyboard";
		}
		if (udk_dm_add_hid_function(dm, &cfg, &ops, NULL, &fn) < 0) {
			fprintf(stderr, "hid-test: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add a function");
			return 1;
		}
		if (what && !strcmp(what, "mouse"))
			mouse = fn;
		else
			kbd = fn;
	}
	sock_path = udk_dict_get_string(props, "ControlSocket");
	if (sock_path) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		pthread_t t;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		unlink(sock_path);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0) {
			perror(sock_path);
			return 1;
		}
		pthread_create(&t, NULL, serve, (void *)(intptr_t)lfd);
	}
	return udk_dm_run(dm);
}
