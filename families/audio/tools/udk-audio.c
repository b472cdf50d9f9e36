/* SPDX-License-Identifier: MIT */
/*
 * udk-audio - udk audio devices from the command line.
 *
 *	udk-audio list				devices, streams, formats, controls
 *	udk-audio set DEVICE CONTROL VALUE	a volume (dB), mute (0/1), or a
 *						selector's item (name or index)
 *	udk-audio hold DEVICE			keep DEVICE visible while this runs
 *						(the presence handle of an app)
 *
 * Playing and recording is every ALSA program's job: aplay -D udk:DEVICE.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udk/families/audio-client.h>

static void
usage(void)
{
	fprintf(stderr, "usage: udk-audio list\n"
			"       udk-audio set DEVICE CONTROL VALUE\n"
			"       udk-audio hold DEVICE\n");
}

static int
fail(int r, const char *what)
{
	const char *why = udk_error_reason();
	fprintf(stderr, "udk-audio: %s: %s%s%s\n", what, udk_strerror(r), why ? ": " : "", why ? why : "");
	return 1;
}

static int
list(struct udk_client *c)
{
	struct udk_value *match = udk_matching_class("IOUserAudioDevice");
	uint64_t *ids = NULL;
	size_t n = 0;
	int r = udk_client_find_services(c, match, &ids, &n);

	udk_value_unref(match);
	if (r < 0)
		return fail(r, "cannot list the devices");
	for (size_t i = 0; i < n; i++) {
		struct udk_value *svc = NULL, *p;
		if (udk_client_copy_service(c, ids[i], &svc) < 0)
			continue;
		p = udk_dict_get(svc, "properties");
		printf("udk:%s  %s\n", udk_dict_get_string(p, "UDKAudioName"),
		       udk_dict_get_string(p, "UDKAudioDescription") ? udk_dict_get_string(p, "UDKAudioDescription") : "");
		for (size_t k = 0; k < udk_array_size(udk_dict_get(p, "UDKAudioStreams")); k++) {
			struct udk_value *s = udk_array_get(udk_dict_get(p, "UDKAudioStreams"), k), *f = udk_dict_get(s, "formats");
			printf("  stream %zu %s (%s):", k, udk_dict_get_string(s, "name"), udk_dict_get_string(s, "direction"));
			for (size_t j = 0; j < udk_array_size(f); j++) {
				struct udk_value *e = udk_array_get(f, j);
				long long lo = udk_dict_get_int(e, "rate_min", 0), hi = udk_dict_get_int(e, "rate_max", 0);
				printf("%s %s %lldch %lld%s%.0lld Hz", j ? ";" : "", udk_dict_get_string(e, "sample_format"),
				       (long long)udk_dict_get_int(e, "channels", 0), lo, lo == hi ? "" : "-",
				       lo == hi ? 0 : hi);
			}
			if (udk_dict_get(s, "in_use_by"))
				printf("  [in use by pid %lld]", (long long)udk_dict_get_int(s, "in_use_by", 0));
			printf("\n");
		}
		for (size_t k = 0; k < udk_array_size(udk_dict_get(p, "UDKAudioControls")); k++) {
			struct udk_value *e = udk_array_get(udk_dict_get(p, "UDKAudioControls"), k);
			const char *kind = udk_dict_get_string(e, "kind");
			long long v = udk_dict_get_int(e, "value", 0);
			printf("  control %zu \"%s\" (%s): ", k, udk_dict_get_string(e, "name"), kind);
			if (kind && !strcmp(kind, "selector"))
				printf("%s\n", udk_value_get_string(udk_array_get(udk_dict_get(e, "items"), (size_t)v)));
			else if (kind && !strcmp(kind, "volume"))
				printf("%.2f dB\n", v / 100.0);
			else
				printf("%lld\n", v);
		}
		udk_value_unref(svc);
	}
	free(ids);
	return 0;
}

/* A selector's item by name, else a number (dB for volumes). */
static int
parse_value(struct udk_client *c, const char *device, const char *control, const char *text, int32_t *ret)
{
	uint64_t id;
	struct udk_value *svc = NULL;
	char *end;
	double d;
	int r = udk_audio_find_device(c, device, &id);

	if (r >= 0 && udk_client_copy_service(c, id, &svc) >= 0) {
		struct udk_value *list = udk_dict_get(udk_dict_get(svc, "properties"), "UDKAudioControls");
		for (size_t i = 0; i < udk_array_size(list); i++) {
			struct udk_value *e = udk_array_get(list, i), *items = udk_dict_get(e, "items");
			if (strcmp(udk_dict_get_string(e, "name") ? udk_dict_get_string(e, "name") : "", control))
				continue;
			for (size_t k = 0; k < udk_array_size(items); k++)
				if (!strcmp(udk_value_get_string(udk_array_get(items, k)), text)) {
					*ret = (int32_t)k;
					udk_value_unref(svc);
					return 0;
				}
			if (!strcmp(udk_dict_get_string(e, "kind") ? udk_dict_get_string(e, "kind") : "", "volume")) {
				d = strtod(text, &end);
				udk_value_unref(svc);
				if (*end)
					return -EINVAL;
				*ret = (int32_t)lround(d * 100);
				return 0;
			}
		}
		udk_value_unref(svc);
	}
	*ret = (int32_t)strtol(text, &end, 10);
	return *end ? -EINVAL : 0;
}

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct udk_client *c = NULL;
	int r;

	if (argc < 2) {
		usage();
		return 2;
	}
	r = udk_client_new(NULL, &c);
	if (r < 0)
		return fail(r, "cannot reach udkd");
	if (!strcmp(argv[1], "list")) {
		r = list(c);
	} else if (!strcmp(argv[1], "set") && argc == 5) {
		int32_t v;
		if (parse_value(c, argv[2], argv[3], argv[4], &v) < 0) {
			fprintf(stderr, "udk-audio: %s is not a value of %s\n", argv[4], argv[3]);
			r = 2;
		} else if ((r = udk_audio_set_control(c, argv[2], argv[3], v)) < 0) {
			r = fail(r, r == -ENOENT ? "no such control (udk-audio list shows them)" : "the driver refused");
		} else {
			printf("%s: %s = %s\n", argv[2], argv[3], argv[4]);
			r = 0;
		}
	} else if (!strcmp(argv[1], "hold") && argc == 3) {
		struct udk_audio_presence *p = NULL;
		bool visible = false;
		r = udk_audio_presence_hold(c, argv[2], &p, &visible);
		if (r < 0) {
			r = fail(r, r == -ENOENT ? "no audio driver has this device" : "cannot hold it");
		} else {
			struct sigaction sa = { .sa_handler = on_signal };
			sigaction(SIGINT, &sa, NULL);
			sigaction(SIGTERM, &sa, NULL);
			printf("holding %s: %s\n", argv[2], visible ? "visible" : "not visible (its driver has not published it)");
			fflush(stdout);
			while (!stop)
				pause();
			udk_audio_presence_release(p);
			r = 0;
		}
	} else {
		usage();
		r = 2;
	}
	udk_client_unref(c);
	return r;
}
