/* SPDX-License-Identifier: MIT */
/*
 * The audio family end to end: the simulated loopback, sine generator and
 * 8-channel interface (models/audio), their driver (drivers/sim-audio),
 * the ALSA plugin, and real ALSA programs as the clients: aplay, arecord,
 * speaker-test.  Both seed cases are here: a device visible only while its
 * app runs (seed_presence_*), and a clock-source switch whose new format
 * list reaches a subscribed client and the plugin (seed_clock_switch_*).
 *
 * Real-time audio on a shared, loaded machine may underrun: tests that
 * compare samples use large buffers, and when aplay or arecord report an
 * xrun they check it was counted and try again (at most 3 times), saying
 * so.  The 64-frame, 60-second figures are bench/bench-audio's.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udk/families/audio-client.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.simaudio"
#define APLAY "/usr/bin/aplay"
#define ARECORD "/usr/bin/arecord"

#define AUDIO_ENTITLEMENTS                                                                                     \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.family.audio</key><true/>\n"                                      \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define AUDIO_ENTITLEMENTS_NO_APPS                                                                             \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.family.audio</key><true/>\n"                                      \
	"</dict></plist>\n"

/* Every simulated audio device; vloop0 is the seed's virtual device,
 * visible only while an app holds it. */
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

#define AUDIO_DEVICE(name, model) TEST_DEVICE(name, model, "<key>Kind</key><string>audio</string>")
#define ALL_DEVICES                                                                                            \
	AUDIO_DEVICE("loop0", "audio-loopback")                                                                \
	AUDIO_DEVICE("sine0", "audio-sine")                                                                    \
	AUDIO_DEVICE("iface0", "audio-interface") AUDIO_DEVICE("vloop0", "audio-loopback")

struct env {
	struct fixture f;
	char alsa[2048];		/* the environment ALSA programs run with */
};

static void
need(const char *program)
{
	if (access(program, X_OK) < 0)
		test_skip("%s is not installed (scripts/deps.sh installs alsa-utils)", program);
}

/*
 * ALSA programs load the plugin from the build tree; under ASan the
 * plugin needs the sanitizer's runtime, which aplay does not carry: preload
 * it (UDK_ASAN_RUNTIME, from meson) and keep leak checks to our programs.
 */
static void
alsa_env(struct env *e)
{
	const char *rt = getenv("UDK_ASAN_RUNTIME");
	char conf[600];

	snprintf(conf, sizeof(conf), "%s/families/audio/alsa/udk-build.conf", test_build_root());
	if (access(conf, R_OK) < 0)
		test_skip("the ALSA plugin was not built (libasound2-dev is missing)");
	snprintf(e->alsa, sizeof(e->alsa),
		 "env ALSA_CONFIG_PATH=/usr/share/alsa/alsa.conf:%s UDK_RUNTIME_DIR=%s %s%s%s", conf, e->f.runtime,
		 rt && *rt ? "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 LD_PRELOAD=" : "", rt && *rt ? rt : "",
		 rt && *rt ? " " : "");
}

static void
env_up_with(struct env *e, const char *devices, const char *entitlements)
{
	need(APLAY);
	need(ARECORD);
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", devices);
	fixture_add_bundle_exe(&e->f, "SimAudio.dext", ID, "drivers/sim-audio-driver", PERSONALITIES);
	fixture_bundle_file(&e->f, "SimAudio.dext", "Entitlements.plist", entitlements);
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	alsa_env(e);
}

static void
env_up(struct env *e, const char *devices)
{
	env_up_with(e, devices, AUDIO_ENTITLEMENTS);
}

static bool
registered(struct env *e, const char *name)
{
	uint64_t id;
	return udk_audio_find_device(e->f.client, name, &id) >= 0;
}

/*
 * Wait until every device of ALL_DEVICES that is always visible is
 * registered: the class appearing says only that the first one is.
 */
static void
wait_all_devices(struct env *e)
{
	static const char *const names[] = { "loopback", "sine", "interface" };

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		for (int i = 0; i < 1000 && !registered(e, names[n]); i++)
			usleep(10000);
		if (!registered(e, names[n]))
			FAIL("the audio device %s was not registered within 10 s", names[n]);
	}
}

static void
env_down(struct env *e)
{
	fixture_stop(&e->f);
}

/* Run a shell command; its output (malloc'ed) and exit status. */
static char *
run(int *ret_status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
run(int *ret_status, const char *fmt, ...)
{
	char *cmd = NULL, *out = NULL, *full = NULL;
	size_t len = 0;
	FILE *p, *mem;
	va_list ap;
	int status;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	if (asprintf(&full, "%s 2>&1", cmd) < 0)
		FAIL("oom");
	p = popen(full, "re");
	if (!p)
		FAIL("popen: %m");
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	status = pclose(p);
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	test_log("$ %s  (exit %d)\n%s", cmd, *ret_status, out);
	free(cmd);
	free(full);
	return out;
}

/* Start a shell command in the background; its pid. */
static pid_t
spawn(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static pid_t
spawn(const char *log, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	test_log("$ %s &", cmd);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	return pid;
}

/* Wait for @pid up to @ms; its exit status, or -1 if it still runs. */
static int
reap(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	return -1;
}

static void
stop_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	reap(pid, 5000);
}

static char *
slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re"), *m = open_memstream(&buf, &len);

	for (int c; f && (c = fgetc(f)) != EOF;)
		fputc(c, m);
	if (f)
		fclose(f);
	fclose(m);
	return buf;
}

/* A known signal: @frames of pseudo-random frames of @bytes each, never a zero first frame. */
static void
make_signal(const char *path, size_t frames, unsigned bytes)
{
	FILE *f = fopen(path, "we");
	uint32_t x = 2463534242u;

	ASSERT_NOT_NULL(f);
	for (size_t i = 0; i < frames * bytes; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		fputc(i < bytes ? (int)(x | 1) & 0xff : (int)(x & 0xff), f);
	}
	fclose(f);
}

/* Whether capture @out holds input @in whole, sample for sample, somewhere. */
static bool
contains_exactly(const char *in, const char *out, size_t *ret_offset)
{
	int fi = open(in, O_RDONLY | O_CLOEXEC), fo = open(out, O_RDONLY | O_CLOEXEC);
	struct stat si, so;
	uint8_t *a, *b;
	bool found = false;

	ASSERT_TRUE(fi >= 0 && fo >= 0);
	fstat(fi, &si);
	fstat(fo, &so);
	a = malloc((size_t)si.st_size);
	b = malloc((size_t)so.st_size + 1);
	ASSERT_EQ(read(fi, a, (size_t)si.st_size), si.st_size);
	ASSERT_EQ(read(fo, b, (size_t)so.st_size), so.st_size);
	close(fi);
	close(fo);
	for (size_t off = 0; !found && so.st_size >= si.st_size && off + (size_t)si.st_size <= (size_t)so.st_size; off++)
		if (b[off] == a[0] && !memcmp(b + off, a, 256) && !memcmp(b + off, a, (size_t)si.st_size)) {
			found = true;
			*ret_offset = off;
		}
	free(a);
	free(b);
	return found;
}

/*
 * Play @seconds of a known signal with aplay through @device while arecord
 * captures from it; true when the capture holds the signal bit for bit.
 * Reports xruns instead of a verdict (returns false with *ret_xrun) when
 * aplay or arecord saw one.
 */
static bool
roundtrip(struct env *e, const char *device, const char *fmt, unsigned rate, unsigned channels, unsigned bytes,
	  unsigned seconds, const char *sizes, bool *ret_xrun)
{
	char in[600], out[600], plog[600], rlog[600];
	char *pl, *rl;
	pid_t rec;
	int st, rs;
	size_t off = 0;
	bool ok;

	snprintf(in, sizeof(in), "%s/in.raw", test_tmpdir());
	snprintf(out, sizeof(out), "%s/out.raw", test_tmpdir());
	snprintf(plog, sizeof(plog), "%s/aplay.log", test_tmpdir());
	snprintf(rlog, sizeof(rlog), "%s/arecord.log", test_tmpdir());
	make_signal(in, (size_t)rate * seconds, bytes);
	rec = spawn(rlog, "%s " ARECORD " -D udk:%s -t raw -f %s -r %u -c %u %s -s %u %s", e->alsa, device, fmt, rate,
		    channels, sizes, rate * (seconds + 3), out);
	/* arecord is running once its stream is in use */
	for (int i = 0; i < 500; i++) {
		char *o = fixture_udkctl(&e->f, &st, "families audio");
		bool busy = strstr(o, "in_use_by") != NULL;
		free(o);
		if (busy)
			break;
		usleep(10000);
	}
	free(run(&st, "%s " APLAY " -D udk:%s -t raw -f %s -r %u -c %u %s %s > %s 2>&1", e->alsa, device, fmt, rate,
		 channels, sizes, in, plog));
	rs = reap(rec, (int)(seconds + 30) * 1000);
	pl = slurp(plog);
	rl = slurp(rlog);
	test_log("aplay: %s\narecord: %s", pl, rl);
	ASSERT_EQ(st, 0);
	ASSERT_EQ(rs, 0);
	*ret_xrun = strstr(pl, "underrun") || strstr(rl, "overrun");
	ok = contains_exactly(in, out, &off);
	test_log("capture %s the signal%s (at byte %zu)", ok ? "holds" : "does NOT hold", ok ? " exactly" : "", off);
	free(pl);
	free(rl);
	return ok;
}

/* Whether some stream in `udkctl families audio` counted an xrun. */
static bool
any_xruns(const char *out)
{
	for (const char *at = out; (at = strstr(at, "\"xruns\":")); at += 8)
		if (atoll(at + 8) > 0)
			return true;
	return false;
}

static void
expect_roundtrip(struct env *e, const char *device, const char *fmt, unsigned rate, unsigned channels, unsigned bytes,
		 unsigned seconds, const char *sizes)
{
	for (int attempt = 1;; attempt++) {
		bool xrun = false;
		if (roundtrip(e, device, fmt, rate, channels, bytes, seconds, sizes, &xrun))
			return;
		if (!xrun)
			FAIL("the capture differs from what was played, without an xrun");
		/* an xrun on a loaded machine: it must have been counted */
		ASSERT_TRUE(fixture_wait_output(&e->f, "families audio", "\"xruns\"", 5000));
		char *o = fixture_udkctl(&e->f, NULL, "families audio");
		ASSERT_TRUE(any_xruns(o));
		free(o);
		if (attempt == 3)
			FAIL("xruns in 3 attempts in a row (a machine too loaded for real-time audio?)");
		test_log("# an xrun under load (counted); trying again");
	}
}

/* ---- the I/O path ---- */

TEST_FULL(aplay_arecord_loopback_bit_exact, 120)
{
	struct env e;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	/* 64-frame periods, a generous buffer for a shared machine */
	expect_roundtrip(&e, "loopback", "S16_LE", 48000, 2, 4, 5, "--period-size=64 --buffer-size=8192");
	env_down(&e);
}

TEST_FULL(loopback_s32_96k_and_interface_8ch, 120)
{
	struct env e;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	expect_roundtrip(&e, "loopback", "S32_LE", 96000, 2, 8, 2, "--period-size=256 --buffer-size=16384");
	expect_roundtrip(&e, "interface", "S32_LE", 48000, 8, 32, 2, "--period-size=256 --buffer-size=8192");
	env_down(&e);
}

TEST(aplay_L_lists_devices_and_speaker_test_plays)
{
	struct env e;
	char *out;
	int st;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "udk:interface", 10000));
	out = run(&st, "%s " APLAY " -L", e.alsa);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "udk:loopback");
	ASSERT_CONTAINS(out, "udk:interface");
	ASSERT_CONTAINS(out, "udk simulated loopback");
	/* the sine generator only records: arecord lists it, aplay does not */
	ASSERT_TRUE(strstr(out, "udk:sine") == NULL);
	/* hidden until its app runs */
	ASSERT_TRUE(strstr(out, "udk:virtual") == NULL);
	free(out);
	out = run(&st, "%s " ARECORD " -L", e.alsa);
	ASSERT_CONTAINS(out, "udk:sine");
	free(out);
	if (access("/usr/bin/speaker-test", X_OK) == 0) {
		out = run(&st, "%s timeout 60 speaker-test -D udk:loopback -c 2 -r 48000 -t sine -l 1", e.alsa);
		ASSERT_EQ(st, 0);
		ASSERT_CONTAINS(out, "Front Left");
		free(out);
	}
	env_down(&e);
}

TEST(hw_params_refuses_unsupported_with_the_list)
{
	struct env e;
	char *out;
	int st;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "udk:interface", 10000));
	/* each value is offered, the combination is not: the driver refuses
	 * it in hw_params and says what it offers */
	out = run(&st, "%s " APLAY " -D udk:interface -t raw -f S16_LE -r 96000 -c 8 -d 1 /dev/zero", e.alsa);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "S16_LE 8ch 96000 Hz is not offered by stream 0");
	ASSERT_CONTAINS(out, "it offers: S32_LE 8ch 44100 Hz");
	ASSERT_CONTAINS(out, "S16_LE 8ch 48000 Hz");
	free(out);
	/* a channel count no format has: refused by the constraints */
	out = run(&st, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 6 -d 1 /dev/zero", e.alsa);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "Channels count non available");
	free(out);
	/* the stream is not left taken */
	out = run(&st, "%s " APLAY " -D udk:interface -t raw -f S32_LE -r 96000 -c 8 -d 1 /dev/zero", e.alsa);
	ASSERT_EQ(st, 0);
	free(out);
	env_down(&e);
}

TEST(one_app_per_stream)
{
	struct env e;
	char log[600], *out;
	pid_t p;
	int st;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	snprintf(log, sizeof(log), "%s/first.log", test_tmpdir());
	p = spawn(log, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 -d 30 /dev/zero", e.alsa);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "in_use_by", 20000));
	out = run(&st, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 -d 1 /dev/zero", e.alsa);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "is in use by pid");
	free(out);
	stop_group(p);
	env_down(&e);
}

/* ---- seed 2: a clock-source switch reaches the clients ---- */

struct seen {
	int notifications;
	bool only_44100, has_48000;
};

static void
on_property(struct udk_client *c, enum udk_notification_type type, uint64_t id, const char *name, void *data)
{
	struct seen *s = data;
	const struct udk_value *p = udk_notification_get_properties();
	const struct udk_value *streams = udk_dict_get(p, "UDKAudioStreams");
	const struct udk_value *formats = udk_dict_get(udk_array_get(streams, 0), "formats");

	(void)c;
	(void)id;
	(void)name;
	if (type != UDK_NOTIFY_PROPERTY || !formats)
		return;
	s->notifications++;
	s->only_44100 = udk_array_size(formats) > 0;
	s->has_48000 = false;
	for (size_t i = 0; i < udk_array_size(formats); i++) {
		int64_t lo = udk_dict_get_int(udk_array_get(formats, i), "rate_min", 0);
		s->only_44100 &= lo == 44100;
		s->has_48000 |= lo == 48000;
	}
}

static void
wait_seen(struct env *e, struct seen *s, bool (*done)(struct seen *))
{
	for (int i = 0; i < 1000 && !done(s); i++)
		udk_client_dispatch(e->f.client, 10);
}

static bool
seen_44100(struct seen *s)
{
	return s->notifications && s->only_44100;
}

static bool
seen_48000(struct seen *s)
{
	return s->notifications && s->has_48000;
}

TEST(seed_clock_switch_reaches_subscribers_and_the_plugin)
{
	struct env e;
	struct seen s = { 0 };
	struct udk_value *m = udk_matching_class("IOUserAudioDevice"), *pm = udk_value_new_dict();
	struct udk_notification *n = NULL;
	char wlog[600], *out, *w;
	pid_t watch;
	int st;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "udk:sine", 10000));
	/* a client subscribed to the device's property notifications ... */
	udk_dict_set_string(pm, "UDKAudioName", "sine");
	udk_dict_set_take(m, "IOPropertyMatch", pm);
	ASSERT_OK(udk_client_add_notification(e.f.client, UDK_NOTIFY_PROPERTY, m, on_property, &s, &n));
	udk_value_unref(m);
	/* ... and udkctl watch */
	snprintf(wlog, sizeof(wlog), "%s/watch.log", test_tmpdir());
	watch = spawn(wlog, "%s/tools/udkctl --runtime-dir %s watch IOUserAudioDevice UDKAudioName=sine --timeout 60",
		      test_build_root(), e.f.runtime);
	for (int i = 0; i < 500; i++) {
		char *t = slurp(wlog);
		bool up = strstr(t, "watching") != NULL;
		free(t);
		if (up)
			break;
		usleep(10000);
	}
	/* before: 48 and 96 kHz */
	out = run(&st, "%s " ARECORD " -D udk:sine --dump-hw-params -t raw -f S16_LE -c 2 -r 48000 -d 1 /dev/null",
		  e.alsa);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "RATE: [48000 96000]");
	free(out);
	/* the switch: the word clock offers 44.1 kHz only */
	ASSERT_OK(udk_audio_set_control(e.f.client, "sine", "Clock Source", 1));
	wait_seen(&e, &s, seen_44100);
	ASSERT_TRUE(s.only_44100);
	/* the plugin's next hw_params offers only the new list */
	out = run(&st, "%s " ARECORD " -D udk:sine --dump-hw-params -t raw -f S16_LE -c 2 -r 44100 -d 1 /dev/null",
		  e.alsa);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "RATE: 44100");
	free(out);
	/* and udkctl watch showed it, with the new list */
	for (int i = 0; i < 500; i++) {
		w = slurp(wlog);
		if (strstr(w, "\"rate_min\":44100"))
			break;
		free(w);
		w = NULL;
		usleep(10000);
	}
	ASSERT_NOT_NULL(w);
	ASSERT_CONTAINS(w, "property sine");
	free(w);
	/* back */
	s = (struct seen){ 0 };
	ASSERT_OK(udk_audio_set_control(e.f.client, "sine", "Clock Source", 0));
	wait_seen(&e, &s, seen_48000);
	ASSERT_TRUE(s.has_48000);
	/* no switch while a stream runs: refused with the reason */
	{
		char log[600];
		pid_t rec;
		snprintf(log, sizeof(log), "%s/rec.log", test_tmpdir());
		rec = spawn(log, "%s " ARECORD " -D udk:sine -t raw -f S16_LE -c 2 -r 48000 -d 30 /dev/null", e.alsa);
		ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "in_use_by", 20000));
		ASSERT_ERR(udk_audio_set_control(e.f.client, "sine", "Clock Source", 1), -UDK_E_BUSY);
		ASSERT_CONTAINS(udk_error_reason(), "close the open streams");
		stop_group(rec);
	}
	udk_notification_remove(n);
	stop_group(watch);
	env_down(&e);
}

/* ---- seed 1: visible while its app runs ---- */

static bool
listed(struct env *e, const char *name)
{
	int st;
	char needle[64], *out = run(&st, "%s " APLAY " -L", e->alsa);
	bool r;

	snprintf(needle, sizeof(needle), "udk:%s\n", name);
	r = strstr(out, needle) != NULL;
	free(out);
	return r;
}

TEST_FULL(seed_presence_visible_while_the_app_runs, 120)
{
	struct env e;
	char hlog[600], plog[600], *out, *o;
	pid_t holder, player;
	int st;
	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "hidden", 10000));
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "virtual", 10000));
	/* no app: not in the registry, not in aplay -L, not openable */
	ASSERT_FALSE(registered(&e, "virtual"));
	ASSERT_FALSE(listed(&e, "virtual"));
	out = run(&st, "%s " APLAY " -D udk:virtual -t raw -f S16_LE -r 48000 -c 2 -d 1 /dev/zero", e.alsa);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "no audio device \"virtual\"");
	free(out);
	o = fixture_udkctl(&e.f, &st, "drivers " ID);
	test_log("%s", o);
	free(o);

	for (int round = 0; round < 2; round++) {
		/* the app starts: the device is there */
		snprintf(hlog, sizeof(hlog), "%s/holder%d.log", test_tmpdir(), round);
		holder = spawn(hlog, "env UDK_RUNTIME_DIR=%s %s/families/audio/tools/udk-audio hold virtual", e.f.runtime,
			       test_build_root());
		for (int i = 0; i < 1000 && !registered(&e, "virtual"); i++)
			usleep(10000);
		ASSERT_TRUE(registered(&e, "virtual"));
		ASSERT_TRUE(listed(&e, "virtual"));
		/* openable: a stream plays */
		snprintf(plog, sizeof(plog), "%s/player%d.log", test_tmpdir(), round);
		player = spawn(plog, "%s " APLAY " -D udk:virtual -t raw -f S16_LE -r 48000 -c 2 -d 60 /dev/zero", e.alsa);
		ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "in_use_by", 20000));
		/* the app crashes: the device goes, the open stream ends with
		 * a clear error, not a hang */
		kill(-holder, SIGKILL);
		reap(holder, 5000);
		for (int i = 0; i < 1000 && registered(&e, "virtual"); i++)
			usleep(10000);
		ASSERT_FALSE(registered(&e, "virtual"));
		st = reap(player, 20000);
		ASSERT_TRUE(st > 0);	/* ended with an error; -1 would be a hang */
		out = slurp(plog);
		ASSERT_CONTAINS(out, "went away: its app");
		ASSERT_CONTAINS(out, "No such device");
		free(out);
		ASSERT_FALSE(listed(&e, "virtual"));
	}
	/* nothing was restarted: the driver started once */
	o = fixture_udkctl(&e.f, &st, "drivers " ID);
	ASSERT_CONTAINS(o, "crashed 0 times");
	free(o);
	env_down(&e);
}

/* ---- bad input ---- */

TEST_FULL(xrun_counted_reported_and_recovered, 90)
{
	struct env e;
	char plog[600], *out;
	pid_t p;
	int st;

	env_up(&e, ALL_DEVICES);
	wait_all_devices(&e);
	snprintf(plog, sizeof(plog), "%s/aplay.log", test_tmpdir());
	p = spawn(plog, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 --buffer-size=4096 -d 4 /dev/zero",
		  e.alsa);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "in_use_by", 20000));
	usleep(500000);
	/* the app stops feeding: the device plays silence and counts */
	kill(-p, SIGSTOP);
	usleep(300000);
	kill(-p, SIGCONT);
	st = reap(p, 30000);
	ASSERT_EQ(st, 0);	/* it recovered and played to the end */
	out = slurp(plog);
	ASSERT_CONTAINS(out, "underrun!!!");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "\"xrun_frames\"", 5000));
	out = fixture_udkctl(&e.f, &st, "families audio");
	test_log("%s", out);
	ASSERT_TRUE(any_xruns(out));
	ASSERT_CONTAINS(out, "Loopback out");
	free(out);
	out = fixture_log(&e.f);
	ASSERT_CONTAINS(out, "underruns so far");
	free(out);
	env_down(&e);
}

static pid_t
driver_pid(struct env *e)
{
	char *o = fixture_udkctl(&e->f, NULL, "--json drivers " ID), *at = strstr(o, "\"pid\":");
	pid_t pid = at ? (pid_t)atoi(at + 6) : 0;
	free(o);
	return pid;
}

TEST_FULL(driver_crash_mid_stream_errors_then_returns, 120)
{
	struct env e;
	char plog[600], *out;
	pid_t p, drv;
	int st;

	env_up(&e, AUDIO_DEVICE("loop0", "audio-loopback"));
	fixture_wait_class(&e.f, "IOUserAudioDevice", 10000);
	snprintf(plog, sizeof(plog), "%s/aplay.log", test_tmpdir());
	p = spawn(plog, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 -d 60 /dev/zero", e.alsa);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families audio", "in_use_by", 20000));
	drv = driver_pid(&e);
	ASSERT_TRUE(drv > 0);
	kill(drv, SIGKILL);
	/* the client gets an error on its next ALSA call: it ends, it does not hang */
	st = reap(p, 20000);
	ASSERT_TRUE(st > 0);
	out = slurp(plog);
	ASSERT_CONTAINS(out, "the audio driver ended");
	free(out);
	/* the device returns after the restart, and plays */
	for (int i = 0; i < 1000; i++) {
		pid_t now = driver_pid(&e);
		uint64_t id;
		if (now > 0 && now != drv && udk_audio_find_device(e.f.client, "loopback", &id) >= 0)
			break;
		usleep(10000);
	}
	out = run(&st, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 -d 1 /dev/zero", e.alsa);
	ASSERT_EQ(st, 0);
	free(out);
	env_down(&e);
}

TEST(access_policy_applies_to_the_plugin)
{
	struct env e;
	char *out, cmd[200];
	int st;

	/* a driver that does not let any app in */
	env_up_with(&e, AUDIO_DEVICE("loop0", "audio-loopback"), AUDIO_ENTITLEMENTS_NO_APPS);
	fixture_wait_class(&e.f, "IOUserAudioDevice", 10000);
	out = run(&st, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 -d 1 /dev/zero", e.alsa);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "udkctl access grant " ID);
	free(out);
	snprintf(cmd, sizeof(cmd), "access grant " ID " " APLAY);
	out = fixture_udkctl(&e.f, &st, cmd);
	ASSERT_EQ(st, 0);
	free(out);
	out = run(&st, "%s " APLAY " -D udk:loopback -t raw -f S16_LE -r 48000 -c 2 -d 1 /dev/zero", e.alsa);
	ASSERT_EQ(st, 0);
	free(out);
	env_down(&e);
}
