/* SPDX-License-Identifier: MIT */
/*
 * bench-storage - the storage families against baselines measured in the
 * same run (the goals in brackets):
 *
 *   nbd:   fio's nbd engine through nbdkit's udk plugin on a RAM-backed
 *          simulated disk (sim-hba, SimHBA, SCSIDisk), against nbdkit's
 *          memory plugin under the same fio jobs: 4 KiB random read at QD1
 *          and QD32, 1 MiB sequential read [>= 0.9x];
 *   iscsi: 4 KiB random reads at QD32 through udk's iSCSI controller and
 *          the block family (an app on the block device), against libiscsi's
 *          iscsi-perf on the same tgtd LUN [>= 0.9x];
 *   raid5: eight RAM disks, full-stripe sequential writes through the array,
 *          against one thread doing the XOR and the copies of the same bytes
 *          [>= 0.8x]; degraded sequential read and rebuild rates.
 *
 * Every figure is printed with its ratio, met or not, and a BENCH line.
 * UDK_BENCH_SECONDS (default 4) sets each fio or iscsi-perf run.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/families/block-client.h>

#include "fixture.h"
#include "test.h"

#define ENT                                                                                                    \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"                                 \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict></array>\n"                            \
	"<key>com.apple.developer.driverkit.family.scsicontroller</key><dict><key>iSCSIPortals</key><array>"  \
	"<string>*</string></array></dict>\n"                                                                  \
	"<key>com.apple.developer.driverkit.transport.scsi</key><true/>\n"                                    \
	"<key>com.apple.developer.driverkit.family.block-storage-device</key><true/>\n"                       \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define HBA                                                                                                    \
	"<key>SimHBA</key><dict><key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"     \
	"<key>IOUserClass</key><string>SimHBA</string><key>IOUserServerName</key><string>b.simhba</string>"   \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                              \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict>"

#define DISK                                                                                                   \
	"<key>SCSIDisk</key><dict><key>IOClass</key><string>IOUserSCSIPeripheralDeviceType00</string>"         \
	"<key>IOUserClass</key><string>SCSIDisk</string><key>IOUserServerName</key><string>b.disk</string>"   \
	"<key>IOProviderClass</key><string>IOSCSIPeripheralDeviceNub</string>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer></dict>"

static int seconds = 4;

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
sh(const char *fmt, ...)
{
	char *cmd = NULL, *out = NULL;
	size_t len = 0;
	va_list ap;
	FILE *p, *mem;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	p = popen(cmd, "re");
	if (!p)
		FAIL("popen: %m");
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	pclose(p);
	free(cmd);
	return out;
}

static bool
have(const char *prog)
{
	char *out = sh("command -v %s", prog);
	bool yes = out[0] != 0;

	free(out);
	return yes;
}

static void
add_storage_bundles(struct fixture *f)
{
	fixture_add_bundle_exe(f, "SimHBA.dext", "b.simhba", "drivers/simhba-driver", HBA);
	fixture_bundle_file(f, "SimHBA.dext", "Entitlements.plist", ENT);
	fixture_add_bundle_exe(f, "SCSIDisk.dext", "b.disk", "drivers/scsidisk-driver", DISK);
	fixture_bundle_file(f, "SCSIDisk.dext", "Entitlements.plist", ENT);
}

static const char *
verdict(double ratio, double goal)
{
	return ratio >= goal ? "met" : "missed";
}

/* ---- nbd ---- */

static pid_t
spawn(char *const argv[], const char *wait_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 500 && wait_path; i++) {
		struct stat st;
		if (stat(wait_path, &st) == 0)
			return pid;
		usleep(10000);
	}
	if (wait_path)
		FAIL("%s did not come up", argv[0]);
	return pid;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static double
fio(const char *sock, const char *rw, const char *bs, int qd, const char *what)
{
	char *out = sh("fio --name=b --ioengine=nbd --uri='nbd+unix:///?socket=%s' --rw=%s --bs=%s --iodepth=%d "
		       "--size=64m --runtime=%d --time_based --output-format=json 2>/dev/null",
		       sock, rw, bs, qd, seconds);
	const char *key = strcmp(what, "bw") == 0 ? "\"bw_bytes\" :" : "\"iops\" :";
	const char *at = strstr(out, "\"read\" :");
	double v;

	if (strcmp(rw, "write") == 0)
		at = strstr(out, "\"write\" :");
	at = at ? strstr(at, key) : NULL;
	if (!at)
		FAIL("fio printed no %s: %s", key, out);
	v = strtod(at + strlen(key), NULL);
	free(out);
	return v;
}

TEST_FULL(nbd, 1800)
{
	char sock_udk[300], sock_mem[300], plugin[300], svc[200], rd[400];
	double r[3][2];
	struct fixture f;
	pid_t udk, mem;

	if (!have("nbdkit") || !have("fio"))
		test_skip("nbdkit or fio is not installed");
	fixture_init(&f);
	fixture_set_machine_devices(&f, "", TEST_DEVICE("disk0", "sim-hba",
						"<key>Properties</key><dict><key>Blocks</key><integer>131072</integer></dict>"));
	add_storage_bundles(&f);
	fixture_start(&f, "--log-level", "notice", NULL);
	fixture_wait_class(&f, "IOBlockStorageDevice", 20000);
	snprintf(sock_udk, sizeof(sock_udk), "%s/udk.sock", test_tmpdir());
	snprintf(sock_mem, sizeof(sock_mem), "%s/mem.sock", test_tmpdir());
	snprintf(plugin, sizeof(plugin), "%s", build_path("families/block/nbdkit-udk-plugin.so"));
	snprintf(svc, sizeof(svc), "service=/PCI0/disk0/SimHBA/Target0-LUN0/SCSIDisk/BlockStorageDevice");
	snprintf(rd, sizeof(rd), "runtime-dir=%s", f.runtime);
	{
		char *a1[] = { "nbdkit", "-f", "-U", sock_udk, "--threads", "32", plugin, svc, rd, NULL };
		char *a2[] = { "nbdkit", "-f", "-U", sock_mem, "--threads", "32", "memory", "64M", NULL };
		udk = spawn(a1, sock_udk);
		mem = spawn(a2, sock_mem);
	}
	/* the same bytes on both: fill them first */
	fio(sock_udk, "write", "1m", 4, "bw");
	fio(sock_mem, "write", "1m", 4, "bw");
	r[0][0] = fio(sock_udk, "randread", "4k", 1, "iops");
	r[0][1] = fio(sock_mem, "randread", "4k", 1, "iops");
	r[1][0] = fio(sock_udk, "randread", "4k", 32, "iops");
	r[1][1] = fio(sock_mem, "randread", "4k", 32, "iops");
	r[2][0] = fio(sock_udk, "read", "1m", 8, "bw") / 1e6;
	r[2][1] = fio(sock_mem, "read", "1m", 8, "bw") / 1e6;
	reap(udk);
	reap(mem);
	test_log("nbd: 4 KiB random read QD1: udk %.0f IOPS, nbdkit memory %.0f IOPS: %.2fx (goal 0.9x: %s)", r[0][0],
		 r[0][1], r[0][0] / r[0][1], verdict(r[0][0] / r[0][1], 0.9));
	test_log("nbd: 4 KiB random read QD32: udk %.0f IOPS, nbdkit memory %.0f IOPS: %.2fx (goal 0.9x: %s)", r[1][0],
		 r[1][1], r[1][0] / r[1][1], verdict(r[1][0] / r[1][1], 0.9));
	test_log("nbd: 1 MiB sequential read: udk %.0f MB/s, nbdkit memory %.0f MB/s: %.2fx (goal 0.9x: %s)", r[2][0],
		 r[2][1], r[2][0] / r[2][1], verdict(r[2][0] / r[2][1], 0.9));
	printf("BENCH {\"bench\":\"nbd\",\"qd1_iops\":%.0f,\"qd1_base\":%.0f,\"qd32_iops\":%.0f,\"qd32_base\":%.0f,"
	       "\"seq_mbs\":%.0f,\"seq_base\":%.0f}\n",
	       r[0][0], r[0][1], r[1][0], r[1][1], r[2][0], r[2][1]);
	fixture_stop(&f);
}

/* ---- iscsi ---- */

struct qd_run {
	struct udk_block_client *bc;
	uint32_t buf;
	uint64_t blocks;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t done, inflight;
	bool stop;
	uint64_t seed;
};

static void
qd_done(struct udk_block_client *bc, int status, const char *reason, void *ctx)
{
	struct qd_run *q = ctx;

	(void)bc;
	if (status < 0)
		fprintf(stderr, "read failed: %s\n", reason ? reason : "?");
	pthread_mutex_lock(&q->lock);
	q->done++;
	q->inflight--;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* 4 KiB random reads at depth @qd for @secs: IOPS. */
static double
random_reads(struct udk_block_client *bc, uint32_t bs, uint64_t blocks, int qd, int secs)
{
	struct qd_run q = { bc, 0, blocks, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false, 1 };
	struct udk_buffer *b = NULL;
	double t0, t1;
	unsigned slot = 0;

	ASSERT_OK(udk_buffer_create((uint64_t)qd * 4096, 0, &b));
	ASSERT_OK(udk_block_client_register_buffer(bc, udk_buffer_get_address(b), (uint64_t)qd * 4096, &q.buf));
	t0 = now_s();
	t1 = t0 + secs;
	pthread_mutex_lock(&q.lock);
	while (now_s() < t1) {
		while (q.inflight < (uint64_t)qd) {
			uint64_t lba;
			q.seed = q.seed * 6364136223846793005ull + 1442695040888963407ull;
			lba = (q.seed >> 20) % (blocks / (4096 / bs)) * (4096 / bs);
			q.inflight++;
			pthread_mutex_unlock(&q.lock);
			ASSERT_OK(udk_block_client_submit(bc, UDK_BLOCK_READ, lba, 4096 / bs, q.buf,
							  (uint64_t)(slot++ % (unsigned)qd) * 4096, qd_done, &q));
			pthread_mutex_lock(&q.lock);
		}
		pthread_cond_wait(&q.cond, &q.lock);
	}
	while (q.inflight)
		pthread_cond_wait(&q.cond, &q.lock);
	pthread_mutex_unlock(&q.lock);
	t1 = now_s();
	udk_buffer_unref(b);
	return (double)q.done / (t1 - t0);
}

TEST_FULL(iscsi, 1800)
{
	int port = 21000 + getpid() % 20000, ctl = 200 + getpid() % 30000;
	char portal[64], arg[96], ctls[16], lun[300], pers[2048];
	struct udk_block_client *bc = NULL;
	struct udk_block_info info;
	struct fixture f;
	double udk, base;
	char *out;
	pid_t tgtd;
	uint64_t id = 0;

	if (geteuid() != 0 || !have("tgtd") || !have("iscsi-perf"))
		test_skip("tgtd (as root) or iscsi-perf is missing");
	snprintf(portal, sizeof(portal), "127.0.0.1:%d", port);
	snprintf(arg, sizeof(arg), "portal=%s", portal);
	snprintf(ctls, sizeof(ctls), "%d", ctl);
	snprintf(lun, sizeof(lun), "/dev/shm/udk-bench-lun-%d", getpid());
	free(sh("truncate -s 256M %s", lun));
	{
		char *a[] = { "tgtd", "-f", "-C", ctls, "--iscsi", arg, NULL };
		tgtd = spawn(a, NULL);
	}
	for (int i = 0; i < 100; i++) {
		out = sh("tgtadm -C %d --lld iscsi --op new --mode target --tid 1 -T iqn.2024-01.org.udk:bench 2>&1 && echo OK", ctl);
		bool ok = strstr(out, "OK") != NULL;
		free(out);
		if (ok)
			break;
		usleep(50000);
	}
	free(sh("tgtadm -C %d --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b %s && "
		"tgtadm -C %d --lld iscsi --op bind --mode target --tid 1 -I ALL",
		ctl, lun, ctl));
	fixture_init(&f);
	fixture_set_machine(&f, "");
	snprintf(pers, sizeof(pers),
		 "<key>T</key><dict><key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"
		 "<key>IOUserClass</key><string>ISCSIController</string><key>IOUserServerName</key><string>b.iscsi</string>"
		 "<key>IOProviderClass</key><string>IOUserResources</string><key>IOResourceMatch</key><string>IOKit</string>"
		 "<key>IOMatchCategory</key><string>ISCSIController</string><key>iSCSIPortal</key><string>%s</string><key>iSCSITargetName</key>"
		 "<string>iqn.2024-01.org.udk:bench</string></dict>",
		 portal);
	fixture_add_bundle_exe(&f, "iSCSI.dext", "b.iscsi", "drivers/iscsi-driver", pers);
	fixture_bundle_file(&f, "iSCSI.dext", "Entitlements.plist", ENT);
	fixture_add_bundle_exe(&f, "SCSIDisk.dext", "b.disk", "drivers/scsidisk-driver", DISK);
	fixture_bundle_file(&f, "SCSIDisk.dext", "Entitlements.plist", ENT);
	fixture_start(&f, "--log-level", "notice", NULL);
	id = fixture_wait_class(&f, "IOBlockStorageDevice", 20000);
	ASSERT_OK(udk_block_client_open(f.client, id, &bc));
	ASSERT_OK(udk_block_client_get_info(bc, &info));
	udk = random_reads(bc, info.block_size, info.block_count, 32, seconds);
	udk_block_client_close(bc);
	out = sh("iscsi-perf -m 32 -b %u -t %d -r iscsi://%s/iqn.2024-01.org.udk:bench/1 2>&1", 4096 / info.block_size,
		 seconds, portal);
	{
		const char *at = strstr(out, "iops average"), *last = NULL;
		while (at) {
			last = at;
			at = strstr(at + 1, "iops average");
		}
		if (!last)
			FAIL("iscsi-perf printed no average: %s", out);
		base = strtod(last + strlen("iops average"), NULL);
	}
	free(out);
	test_log("iscsi: 4 KiB random read QD32 on tgtd: udk (iSCSI controller, block family) %.0f IOPS, iscsi-perf %.0f "
		 "IOPS: %.2fx (goal 0.9x: %s)",
		 udk, base, udk / base, verdict(udk / base, 0.9));
	printf("BENCH {\"bench\":\"iscsi\",\"udk_iops\":%.0f,\"iscsi_perf_iops\":%.0f}\n", udk, base);
	fixture_stop(&f);
	kill(tgtd, SIGKILL);
	waitpid(tgtd, NULL, 0);
	unlink(lun);
}

/* ---- raid5 ---- */

#define N 8
#define CHUNK (64 * 1024)

static double
xor_memcpy_baseline(uint64_t bytes)
{
	uint8_t *src = malloc(7 * CHUNK), *par = malloc(CHUNK), *dst = malloc(8 * CHUNK);
	double t0, t;
	uint64_t done = 0;

	memset(src, 0x5a, 7 * CHUNK);
	t0 = now_s();
	while (done < bytes) {
		uint64_t *p = (uint64_t *)par;
		memcpy(par, src, CHUNK);
		for (int d = 1; d < 7; d++) {
			const uint64_t *s = (const uint64_t *)(src + d * CHUNK);
			for (size_t i = 0; i < CHUNK / 8; i++)
				p[i] ^= s[i];
		}
		for (int d = 0; d < 7; d++)
			memcpy(dst + d * CHUNK, src + d * CHUNK, CHUNK);
		memcpy(dst + 7 * CHUNK, par, CHUNK);
		done += 7 * CHUNK;
		src[done % (7 * CHUNK)]++;
	}
	t = now_s() - t0;
	free(src);
	free(par);
	free(dst);
	return (double)bytes / t / 1e6;
}

/* Sequential requests of @req bytes at depth @qd over the whole device: MB/s. */
static double
sequential(struct udk_block_client *bc, enum udk_block_op op, uint64_t req, int qd, uint64_t total)
{
	struct qd_run q = { bc, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false, 0 };
	struct udk_block_info info;
	struct udk_buffer *b = NULL;
	uint64_t at = 0;
	unsigned slot = 0;
	double t0;

	udk_block_client_get_info(bc, &info);
	ASSERT_OK(udk_buffer_create((uint64_t)qd * req, 0, &b));
	memset(udk_buffer_get_address(b), 0xa5, (uint64_t)qd * req);
	ASSERT_OK(udk_block_client_register_buffer(bc, udk_buffer_get_address(b), (uint64_t)qd * req, &q.buf));
	t0 = now_s();
	pthread_mutex_lock(&q.lock);
	while (at + req <= total) {
		while (q.inflight < (uint64_t)qd && at + req <= total) {
			q.inflight++;
			pthread_mutex_unlock(&q.lock);
			ASSERT_OK(udk_block_client_submit(bc, op, at / info.block_size, (uint32_t)(req / info.block_size), q.buf,
							  (uint64_t)(slot++ % (unsigned)qd) * req, qd_done, &q));
			at += req;
			pthread_mutex_lock(&q.lock);
		}
		if (at + req <= total)
			pthread_cond_wait(&q.cond, &q.lock);
	}
	while (q.inflight)
		pthread_cond_wait(&q.cond, &q.lock);
	pthread_mutex_unlock(&q.lock);
	{
		double t = now_s() - t0;
		udk_buffer_unref(b);
		return (double)at / t / 1e6;
	}
}

TEST_FULL(raid5, 1800)
{
	char devices[8192], pers[4096];
	struct udk_block_client *bc = NULL;
	struct udk_block_info info;
	struct fixture f;
	double write_mbs, base, degraded_mbs, rebuild_mbs, t0;
	size_t at = 0;
	uint64_t id = 0, size;
	int st;

	for (int i = 0; i < N; i++)
		at += (size_t)snprintf(devices + at, sizeof(devices) - at,
				       "<dict><key>Name</key><string>disk%d</string><key>Model</key><string>sim-hba</string>"
				       "<key>Properties</key><dict><key>Serial</key><string>B-%d</string>"
				       "<key>Blocks</key><integer>131072</integer></dict></dict>",
				       i, i);
	snprintf(devices + at, sizeof(devices) - at,
		 "<dict><key>Name</key><string>spare</string><key>Model</key><string>sim-hba</string>"
		 "<key>Plugged</key><false/><key>Properties</key><dict><key>Serial</key><string>B-S</string>"
		 "<key>Blocks</key><integer>131072</integer></dict></dict>");
	snprintf(pers, sizeof(pers),
		 "<key>A</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RAID5</string>"
		 "<key>IOUserServerName</key><string>b.raid</string><key>IOProviderClass</key><string>IOUserResources</string>"
		 "<key>IOResourceMatch</key><string>IOKit</string><key>IOMatchCategory</key><string>RAID5</string><key>RAIDName</key><string>bench</string>"
		 "<key>RAIDAssumeClean</key><integer>1</integer><key>UDKBlockMembers</key><array>"
		 "<string>B-0</string><string>B-1</string><string>B-2</string><string>B-3</string><string>B-4</string>"
		 "<string>B-5</string><string>B-6</string><string>B-7</string></array>"
		 "<key>UDKBlockSpares</key><array><string>B-S</string></array></dict>");
	fixture_init(&f);
	fixture_set_machine_devices(&f, "", devices);
	add_storage_bundles(&f);
	fixture_add_bundle_exe(&f, "RAID5.dext", "b.raid", "drivers/raid5-driver", pers);
	fixture_bundle_file(&f, "RAID5.dext", "Entitlements.plist", ENT);
	fixture_start(&f, "--log-level", "notice", NULL);
	{
		struct udk_value *m = udk_matching_class("IOBlockStorageDevice");
		udk_dict_set_string(m, "UDKBlockIdentifier", "raid5:bench");
		ASSERT_OK(udk_client_wait_for_service(f.client, m, 60000, &id));
		udk_value_unref(m);
	}
	ASSERT_OK(udk_block_client_open(f.client, id, &bc));
	ASSERT_OK(udk_block_client_get_info(bc, &info));
	size = info.block_count * info.block_size;
	/* full stripes: 7 x 64 KiB of data each, 4 stripes per request, 8 requests in flight */
	write_mbs = sequential(bc, UDK_BLOCK_WRITE, 4 * 7 * CHUNK, 8, size - size % (4 * 7 * CHUNK));
	base = xor_memcpy_baseline(size);
	free(fixture_udkctl(&f, &st, "sim unplug disk3"));
	ASSERT_TRUE(fixture_wait_output(&f, "props /IOUserResources/RAID5", "degraded", 20000));
	degraded_mbs = sequential(bc, UDK_BLOCK_READ, 1 << 20, 8, size - size % (1 << 20));
	t0 = now_s();
	free(fixture_udkctl(&f, &st, "sim plug spare"));
	ASSERT_TRUE(fixture_wait_output(&f, "props /IOUserResources/RAID5", "\"UDKRAIDState\" = \"optimal\"", 300000));
	rebuild_mbs = (double)(size / (N - 1)) / (now_s() - t0) / 1e6;
	udk_block_client_close(bc);
	test_log("raid5: 8 members, full-stripe sequential write: %.0f MB/s; one thread's XOR and copies of the same "
		 "bytes: %.0f MB/s: %.2fx (goal 0.8x: %s)",
		 write_mbs, base, write_mbs / base, verdict(write_mbs / base, 0.8));
	test_log("raid5: degraded sequential read (member 3 unplugged): %.0f MB/s", degraded_mbs);
	test_log("raid5: rebuild onto the spare: %.0f MB/s of member data (from the plug to optimal)", rebuild_mbs);
	printf("BENCH {\"bench\":\"raid5\",\"write_mbs\":%.0f,\"xor_memcpy_mbs\":%.0f,\"degraded_read_mbs\":%.0f,"
	       "\"rebuild_mbs\":%.0f}\n",
	       write_mbs, base, degraded_mbs, rebuild_mbs);
	fixture_stop(&f);
}

static void __attribute__((constructor))
read_seconds(void)
{
	const char *s = getenv("UDK_BENCH_SECONDS");

	if (s && atoi(s) > 0)
		seconds = atoi(s);
}
