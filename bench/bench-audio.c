/* SPDX-License-Identifier: MIT */
/*
 * bench-audio - the audio family's figures, against baselines measured in
 * the same run (docs/families/audio.md has the last results):
 *
 *   round trip: a known 48 kHz stereo signal (UDK_BENCH_AUDIO_SECONDS,
 *   default 60) played with aplay through the simulated loopback while
 *   arecord captures it, 64-frame periods: the capture must equal the
 *   input sample for sample, with 0 xruns.  aplay and arecord run with
 *   SCHED_FIFO when allowed, as audio servers do (chrt); the same with
 *   ordinary priority is printed too.
 *
 *   CPU per stream: the CPU time aplay, the driver and the device model
 *   spend playing 10 s through udk:loopback (paced by its clock), against
 *   aplay playing the same file to ALSA's null plugin (no pacing, no
 *   device: the cost of aplay and alsa-lib alone).
 *
 *   latency from write to capture: an ALSA client writes a click into the
 *   loopback's output and times its arrival on the input, at periods of
 *   64, 256 and 1024 frames (2 periods queued), against the period time.
 *
 *   notification and presence: a clock switch until a subscribed client
 *   has the new list (goal 10 ms), and an app's exit until its device has
 *   left the registry (goal 100 ms).
 */
#include <alsa/asoundlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udk/families/audio-client.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.bench.simaudio"

#define ENTITLEMENTS                                                                                           \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.family.audio</key><true/>\n"                                      \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define PERSONALITIES                                                                                          \
	"<key>SimAudio</key><dict>"                                                                            \
	"<key>IOClass</key><string>IOUserAudioDriver</string>"                                                 \
	"<key>IOUserClass</key><string>SimAudioDriver</string>"                                                \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>UDKAudioSimDevice</string></dict>"                                  \
	"<key>Virtual</key><dict>"                                                                             \
	"<key>IOClass</key><string>IOUserAudioDriver</string>"                                                 \
	"<key>IOUserClass</key><string>SimAudioDriver</string>"                                                \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>UDKAudioSimDevice</string>"                                         \
	"<key>IOPropertyMatch</key><dict><key>UDKDevice</key><string>vloop0</string></dict>"                   \
	"<key>IOProbeScore</key><integer>100</integer>"                                                        \
	"<key>UDKAudioDeviceName</key><string>virtual</string>"                                                \
	"<key>UDKAudioVisibility</key><string>while-held</string></dict>"

#define DEV(name, model) TEST_DEVICE(name, model, "<key>Kind</key><string>audio</string>")

static struct fixture f;
static char alsa[1200], tmp[300];

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	st = system(cmd);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static size_t
count_in(const char *path, const char *needle)
{
	char *buf = NULL, *p;
	size_t len = 0, n = 0;
	FILE *fp = fopen(path, "re");

	if (!fp)
		return 0;
	if (getdelim(&buf, &len, '\0', fp) < 0) {
		fclose(fp);
		free(buf);
		return 0;
	}
	fclose(fp);
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	free(buf);
	return n;
}

static void
make_signal(const char *path, size_t frames)
{
	FILE *fp = fopen(path, "we");
	uint32_t x = 88172645u;

	for (size_t i = 0; i < frames * 4; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		fputc(i < 4 ? (int)(x | 1) & 0xff : (int)(x & 0xff), fp);
	}
	fclose(fp);
}

static bool
exact(const char *in, const char *out)
{
	char cmd[1000];
	/* the capture starts with the silence before aplay began */
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import sys; a=open('%s','rb').read(); b=open('%s','rb').read(); i=b.find(a[:256]); "
		 "sys.exit(0 if i>=0 and b[i:i+len(a)]==a else 1)\"",
		 in, out);
	return system(cmd) == 0;
}

/* One aplay + arecord round trip; prints the figures. */
static bool
roundtrip(unsigned seconds, const char *prio, unsigned buffer, size_t *ret_xruns)
{
	char in[400], out[400], plog[400], rlog[400];
	pid_t rec;
	bool ok;
	int st;

	snprintf(in, sizeof(in), "%s/in.raw", tmp);
	snprintf(out, sizeof(out), "%s/out.raw", tmp);
	snprintf(plog, sizeof(plog), "%s/aplay.log", tmp);
	snprintf(rlog, sizeof(rlog), "%s/arecord.log", tmp);
	make_signal(in, (size_t)48000 * seconds);
	rec = fork();
	if (rec == 0) {
		char cmd[4096];
		snprintf(cmd, sizeof(cmd),
			 "%s %s arecord -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 --period-size=64 --buffer-size=%u "
			 "-s %u %s 2> %s",
			 alsa, prio, buffer, 48000 * (seconds + 2), out, rlog);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	usleep(500000);
	st = sh("%s %s aplay -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 --period-size=64 --buffer-size=%u %s 2> %s",
		alsa, prio, buffer, in, plog);
	waitpid(rec, NULL, 0);
	ok = st == 0 && exact(in, out);
	*ret_xruns = count_in(plog, "underrun") + count_in(rlog, "overrun");
	printf("# round trip %us, 64-frame periods, buffer %u frames, %s: capture %s the input, %zu xruns (aplay %zu "
	       "underruns, arecord %zu overruns)\n",
	       seconds, buffer, *prio ? "SCHED_FIFO" : "ordinary priority", ok ? "equals" : "DIFFERS from", *ret_xruns,
	       count_in(plog, "underrun"), count_in(rlog, "overrun"));
	return ok;
}

/* CPU seconds (user + system) of process @pid so far. */
static double
cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fp = fopen(path, "re");
	if (!fp || !fgets(buf, sizeof(buf), fp)) {
		if (fp)
			fclose(fp);
		return 0;
	}
	fclose(fp);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The pid after @key in udkctl's output for @args (0 when absent). */
static pid_t
pid_from(const char *args, const char *key)
{
	char *out = fixture_udkctl(&f, NULL, args), *at = strstr(out, key);
	pid_t pid = at ? (pid_t)atoi(at + strlen(key)) : 0;

	free(out);
	return pid;
}

static double
children_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void
cpu_cost(void)
{
	char in[400];
	pid_t drv = pid_from("drivers " ID, "instance /loop0/SimAudioDriver: running, pid ");
	pid_t model = 0;
	char *sim = fixture_udkctl(&f, NULL, "--json sim list"), *at = strstr(sim, "\"name\": \"loop0\"");

	if (!at)
		at = strstr(sim, "\"name\":\"loop0\"");
	if (at && (at = strstr(at, "\"pid\"")))
		model = (pid_t)atoi(strchr(at, ':') + 1);
	free(sim);
	if (!drv || !model)
		FAIL("cannot find the loopback's driver (%d) or model (%d) process", drv, model);
	double c0, c1, d0, d1, m0, m1, null_cpu, udk_cpu, t0, wall;

	snprintf(in, sizeof(in), "%s/cpu.raw", tmp);
	make_signal(in, 48000 * 10);
	c0 = children_cpu();
	sh("%s aplay -q -D null -t raw -f S16_LE -r 48000 -c 2 --period-size=256 --buffer-size=4096 %s", alsa, in);
	null_cpu = children_cpu() - c0;
	c0 = children_cpu();
	d0 = cpu_of(drv);
	m0 = cpu_of(model);
	t0 = now_s();
	sh("%s aplay -q -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 --period-size=256 --buffer-size=4096 %s", alsa, in);
	wall = now_s() - t0;
	c1 = children_cpu();
	d1 = cpu_of(drv);
	m1 = cpu_of(model);
	udk_cpu = (c1 - c0) + (d1 - d0) + (m1 - m0);
	printf("# CPU, 10 s of 48 kHz stereo at 256-frame periods: aplay -> null %.3f s; aplay -> udk:loopback %.3f s "
	       "(aplay+plugin %.3f, driver %.3f, device model %.3f) in %.1f s of wall time = %.2f%% of a core\n",
	       null_cpu, udk_cpu, c1 - c0, d1 - d0, m1 - m0, wall, 100.0 * udk_cpu / wall);
	printf("# CPU per stream vs aplay -> null: %.1fx (aplay+plugin alone: %.1fx)\n",
	       null_cpu > 0 ? udk_cpu / null_cpu : 0, null_cpu > 0 ? (c1 - c0) / null_cpu : 0);
}

/* Write a click into the output, time its arrival on the input. */
static double
latency(unsigned period)
{
	snd_pcm_t *out = NULL, *in = NULL;
	int16_t *buf = calloc((size_t)period * 2, sizeof(int16_t));
	double t_write = 0, result = -1;
	int r;

	if (snd_pcm_open(&out, "udk:loopback", SND_PCM_STREAM_PLAYBACK, 0) < 0 ||
	    snd_pcm_open(&in, "udk:loopback", SND_PCM_STREAM_CAPTURE, 0) < 0)
		goto done;
	if (snd_pcm_set_params(out, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 2, 48000, 0,
			       (unsigned)((uint64_t)period * 4 * 1000000 / 48000)) < 0 ||
	    snd_pcm_set_params(in, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 2, 48000, 0,
			       (unsigned)((uint64_t)period * 4 * 1000000 / 48000)) < 0)
		goto done;
	snd_pcm_start(in);
	/* silence, two periods queued, then the click at the start of a period */
	for (int i = 0; i < 200; i++) {
		memset(buf, 0, (size_t)period * 4);
		if (i == 100) {
			buf[0] = 30000;
			t_write = now_s();
		}
		r = (int)snd_pcm_writei(out, buf, period);
		if (r < 0)
			snd_pcm_recover(out, r, 1);
		while (snd_pcm_avail(in) >= (snd_pcm_sframes_t)period) {
			int16_t cap[4096 * 2];
			snd_pcm_sframes_t n = snd_pcm_readi(in, cap, period);
			for (snd_pcm_sframes_t k = 0; t_write > 0 && result < 0 && k < n; k++)
				if (cap[2 * k] == 30000)
					result = now_s() - t_write;
		}
		if (result >= 0)
			break;
		if (i >= 2)
			snd_pcm_wait(out, 100);
	}
	for (int i = 0; result < 0 && t_write > 0 && i < 100; i++) {
		int16_t cap[4096 * 2];
		snd_pcm_wait(in, 100);
		snd_pcm_sframes_t n = snd_pcm_readi(in, cap, period);
		for (snd_pcm_sframes_t k = 0; result < 0 && k < n; k++)
			if (cap[2 * k] == 30000)
				result = now_s() - t_write;
	}
done:
	if (out)
		snd_pcm_close(out);
	if (in)
		snd_pcm_close(in);
	free(buf);
	return result;
}

static int notified;

static void
on_prop(struct udk_client *c, enum udk_notification_type type, uint64_t id, const char *name, void *data)
{
	const struct udk_value *p = udk_notification_get_properties();
	const struct udk_value *fm = udk_dict_get(udk_array_get(udk_dict_get(p, "UDKAudioStreams"), 0), "formats");

	(void)c;
	(void)id;
	(void)name;
	(void)data;
	if (type == UDK_NOTIFY_PROPERTY && fm && udk_dict_get_int(udk_array_get(fm, 0), "rate_min", 0) == 44100)
		notified = 1;
}

static void
notification_latency(void)
{
	struct udk_value *m = udk_matching_class("IOUserAudioDevice");
	struct udk_notification *n = NULL;
	double best = 1e9, worst = 0, sum = 0;
	int rounds = 20;

	udk_client_add_notification(f.client, UDK_NOTIFY_PROPERTY, m, on_prop, NULL, &n);
	udk_value_unref(m);
	for (int i = 0; i < rounds; i++) {
		double t0 = now_s(), dt;
		notified = 0;
		udk_audio_set_control(f.client, "sine", "Clock Source", 1);
		while (!notified && now_s() - t0 < 5)
			udk_client_dispatch(f.client, 100);
		dt = now_s() - t0;
		best = dt < best ? dt : best;
		worst = dt > worst ? dt : worst;
		sum += dt;
		udk_audio_set_control(f.client, "sine", "Clock Source", 0);
		udk_client_dispatch(f.client, 50);
	}
	udk_notification_remove(n);
	printf("# clock switch -> subscriber has the new list: mean %.2f ms, best %.2f, worst %.2f (goal 10 ms): %s\n",
	       1000 * sum / rounds, 1000 * best, 1000 * worst, worst <= 0.010 ? "met" : "MISSED (worst)");
}

static void
presence_latency(void)
{
	double sum = 0, worst = 0;
	int rounds = 10;

	for (int i = 0; i < rounds; i++) {
		struct udk_audio_presence *p = NULL;
		uint64_t id;
		pid_t child;
		int pipefd[2];
		char c;
		double t0;
		if (pipe(pipefd) < 0)
			FAIL("pipe");
		child = fork();
		if (child == 0) {
			struct udk_client *cc = NULL;
			close(pipefd[0]);
			if (udk_client_new(f.runtime, &cc) < 0 || udk_audio_presence_hold(cc, "virtual", &p, NULL) < 0)
				_exit(1);
			(void)!write(pipefd[1], "x", 1);
			pause();
			_exit(0);
		}
		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) != 1)
			FAIL("the holder did not hold");
		close(pipefd[0]);
		while (udk_audio_find_device(f.client, "virtual", &id) < 0)
			usleep(1000);
		t0 = now_s();
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		while (udk_audio_find_device(f.client, "virtual", &id) >= 0 && now_s() - t0 < 5)
			usleep(500);
		t0 = now_s() - t0;
		sum += t0;
		worst = t0 > worst ? t0 : worst;
	}
	printf("# app killed -> its device out of the registry: mean %.2f ms, worst %.2f ms (goal 100 ms): %s\n",
	       1000 * sum / rounds, 1000 * worst, worst <= 0.100 ? "met" : "MISSED");
}

TEST_FULL(bench_audio, 1700)
{
	const char *sec = getenv("UDK_BENCH_AUDIO_SECONDS");
	unsigned seconds = sec && atoi(sec) > 0 ? (unsigned)atoi(sec) : 60;
	char conf[600];
	const char *prio = sh("chrt -f 10 true 2>/dev/null") == 0 ? "chrt -f 10" : "";
	size_t xruns = 0, xruns_plain = 0;
	bool ok, ok_plain;
	static const unsigned periods[] = { 64, 256, 1024 };

	snprintf(conf, sizeof(conf), "%s/families/audio/alsa/udk-build.conf", test_build_root());
	if (access(conf, R_OK) < 0 || access("/usr/bin/aplay", X_OK) < 0)
		test_skip("the ALSA plugin or alsa-utils are missing");
	snprintf(tmp, sizeof(tmp), "/tmp/udk-bench-audio-%d", getpid());
	mkdir(tmp, 0755);
	fixture_init(&f);
	fixture_set_machine_devices(&f, "", DEV("loop0", "audio-loopback") DEV("sine0", "audio-sine")
						    DEV("vloop0", "audio-loopback"));
	fixture_add_bundle_exe(&f, "SimAudio.dext", ID, "drivers/sim-audio-driver", PERSONALITIES);
	fixture_bundle_file(&f, "SimAudio.dext", "Entitlements.plist", ENTITLEMENTS);
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "IOUserAudioDevice", 10000);
	usleep(500000);
	snprintf(alsa, sizeof(alsa), "env ALSA_CONFIG_PATH=/usr/share/alsa/alsa.conf:%s UDK_RUNTIME_DIR=%s", conf,
		 f.runtime);
	setenv("ALSA_CONFIG_PATH", strchr(alsa, '=') + 1, 1);
	*strchr(getenv("ALSA_CONFIG_PATH"), ' ') = 0;
	setenv("UDK_RUNTIME_DIR", f.runtime, 1);

	ok = roundtrip(seconds, prio, 1024, &xruns);
	ok_plain = roundtrip(seconds < 10 ? seconds : 10, "", 1024, &xruns_plain);
	printf("# goal: %us bit-exact with 0 xruns at 64-frame periods (%s): %s\n", seconds,
	       *prio ? "SCHED_FIFO" : "ordinary priority", ok && !xruns ? "met" : "MISSED");
	printf("# (ordinary priority on this machine, 10 s: %s, %zu xruns)\n", ok_plain ? "bit-exact" : "NOT exact",
	       xruns_plain);
	cpu_cost();
	for (unsigned i = 0; i < 3; i++) {
		double l = latency(periods[i]), pt = periods[i] / 48000.0;
		if (l < 0)
			printf("# latency at %u-frame periods: the click did not come back\n", periods[i]);
		else
			printf("# latency write -> capture at %u-frame periods (2 queued): %.2f ms = %.2f periods (%.2f ms "
			       "each)\n",
			       periods[i], l * 1000, l / pt, pt * 1000);
	}
	notification_latency();
	presence_latency();
	fixture_stop(&f);
	sh("rm -rf %s", tmp);
}
