/* SPDX-License-Identifier: MIT */
/*
 * The block family: a simulated disk (sim-hba, SimHBA, SCSIDisk) as a
 * block device; an app reading and writing it through the family's user
 * client; requests refused with named errors; many in flight; the export
 * to Linux over NBD through the nbdkit plugin, with nbdinfo, nbdcopy,
 * qemu-img and fio's nbd engine as the clients; the driver dying under a
 * client.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/families/block-client.h>

#include "fixture.h"
#include "test.h"

#define STORAGE_ENTITLEMENTS                                                                                   \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"                                 \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict></array>\n"                            \
	"<key>com.apple.developer.driverkit.family.scsicontroller</key><true/>\n"                             \
	"<key>com.apple.developer.driverkit.transport.scsi</key><true/>\n"                                    \
	"<key>com.apple.developer.driverkit.family.block-storage-device</key><true/>\n"                       \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define HBA_PERSONALITY                                                                                        \
	"<key>SimHBA</key><dict>"                                                                              \
	"<key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"                             \
	"<key>IOUserClass</key><string>SimHBA</string>"                                                        \
	"<key>IOUserServerName</key><string>org.udk.test.simhba</string>"                                     \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                              \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict>"

#define DISK_PERSONALITY                                                                                       \
	"<key>SCSIDisk</key><dict>"                                                                            \
	"<key>IOClass</key><string>IOUserSCSIPeripheralDeviceType00</string>"                                  \
	"<key>IOUserClass</key><string>SCSIDisk</string>"                                                      \
	"<key>IOUserServerName</key><string>org.udk.test.scsidisk</string>"                                   \
	"<key>IOProviderClass</key><string>IOSCSIPeripheralDeviceNub</string>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer></dict>"

struct env {
	struct fixture f;
	uint64_t dev;
	struct udk_block_client *bc;
};

static void
env_up(struct env *e, const char *props)
{
	char dev[1024];

	memset(e, 0, sizeof(*e));
	snprintf(dev, sizeof(dev),
		 TEST_DEVICE("disk0", "sim-hba", "<key>Properties</key><dict><key>Serial</key><string>BLK0001</string>%s</dict>"),
		 props ? props : "");
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", dev);
	fixture_add_bundle_exe(&e->f, "SimHBA.dext", "org.udk.test.simhba", "drivers/simhba-driver", HBA_PERSONALITY);
	fixture_bundle_file(&e->f, "SimHBA.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_add_bundle_exe(&e->f, "SCSIDisk.dext", "org.udk.test.scsidisk", "drivers/scsidisk-driver",
			       DISK_PERSONALITY);
	fixture_bundle_file(&e->f, "SCSIDisk.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	e->dev = fixture_wait_class(&e->f, "IOBlockStorageDevice", 15000);
	ASSERT_OK(udk_block_client_open(e->f.client, e->dev, &e->bc));
}

static void
env_down(struct env *e)
{
	udk_block_client_close(e->bc);
	fixture_stop(&e->f);
}

static void
pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

TEST_FULL(a_scsi_disk_becomes_a_block_device, 120)
{
	struct udk_block_info info;
	struct env e;
	char *out;

	env_up(&e, NULL);
	ASSERT_OK(udk_block_client_get_info(e.bc, &info));
	ASSERT_EQ(info.block_size, 512);
	ASSERT_EQ(info.block_count, 131072);
	ASSERT_STREQ(info.identifier, "BLK0001");
	ASSERT_TRUE(info.flags & UDK_BLOCK_CAN_UNMAP);
	ASSERT_TRUE(info.flags & UDK_BLOCK_CAN_FLUSH);
	out = fixture_udkctl(&e.f, NULL, "tree");
	ASSERT_CONTAINS(out, "+-o SCSIDisk  <SCSIDisk:IOUserSCSIPeripheralDeviceType00");
	ASSERT_CONTAINS(out, "+-o BlockStorageDevice  <IOUserBlockStorageDevice:IOBlockStorageDevice:IOService");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "props /PCI0/disk0/SimHBA/Target0-LUN0/SCSIDisk/BlockStorageDevice");
	ASSERT_CONTAINS(out, "\"UDKBlockIdentifier\" = \"BLK0001\"");
	ASSERT_CONTAINS(out, "\"Size\" = 67108864");
	free(out);
	env_down(&e);
}

TEST_FULL(bytes_written_read_back_flush_and_unmap, 120)
{
	size_t n = 3 << 20;
	uint8_t *w = malloc(n), *r = malloc(n);
	struct env e;

	env_up(&e, NULL);
	pattern(w, n, 1);
	/* larger than one request (4 MiB max) and than a pool buffer (1 MiB): split */
	ASSERT_OK(udk_block_client_pwrite(e.bc, w, n, 512 * 1000));
	ASSERT_OK(udk_block_client_flush(e.bc));
	ASSERT_OK(udk_block_client_pread(e.bc, r, n, 512 * 1000));
	ASSERT_TRUE(memcmp(w, r, n) == 0);
	ASSERT_OK(udk_block_client_unmap(e.bc, 512 * 1000, 65536));
	ASSERT_OK(udk_block_client_pread(e.bc, r, 65536 + 512, 512 * 1000));
	for (size_t i = 0; i < 65536; i++)
		if (r[i])
			FAIL("byte %zu of an unmapped range reads 0x%02x", i, r[i]);
	ASSERT_TRUE(memcmp(r + 65536, w + 65536, 512) == 0);
	free(w);
	free(r);
	env_down(&e);
}

TEST_FULL(requests_are_checked_before_the_driver_sees_them, 120)
{
	uint8_t buf[4096];
	uint32_t id = 0;
	struct udk_buffer *b = NULL;
	struct env e;

	env_up(&e, NULL);
	ASSERT_ERR(udk_block_client_pread(e.bc, buf, 4096, 512ull * 131072 - 1024), -ERANGE);
	ASSERT_CONTAINS(udk_error_reason(), "8 blocks at block 131070: the device has 131072 blocks");
	ASSERT_ERR(udk_block_client_pread(e.bc, buf, 100, 0), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "are not whole blocks of 512 bytes");
	/* a buffer the device never saw, and one that is too small for the request */
	ASSERT_ERR(udk_block_client_io(e.bc, UDK_BLOCK_READ, 0, 8, 40, 0), -UDK_E_BAD_ADDRESS);
	ASSERT_CONTAINS(udk_error_reason(), "buffer 40 was never registered");
	ASSERT_OK(udk_buffer_create(8192, 0, &b));
	ASSERT_OK(udk_block_client_register_buffer(e.bc, udk_buffer_get_address(b), 2048, &id));
	ASSERT_ERR(udk_block_client_io(e.bc, UDK_BLOCK_READ, 0, 8, id, 0), -UDK_E_BAD_ADDRESS);
	ASSERT_CONTAINS(udk_error_reason(), "4096 bytes at offset 0 do not fit buffer");
	ASSERT_OK(udk_block_client_io(e.bc, UDK_BLOCK_READ, 0, 4, id, 0));
	udk_buffer_unref(b);
	env_down(&e);
}

struct counter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done, failed;
};

static void
counted(struct udk_block_client *bc, int status, const char *reason, void *ctx)
{
	struct counter *c = ctx;

	(void)bc;
	(void)reason;
	pthread_mutex_lock(&c->lock);
	c->done++;
	c->failed += status < 0;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

TEST_FULL(many_requests_in_flight_on_registered_memory, 120)
{
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct udk_buffer *b = NULL;
	uint8_t *p, *check = malloc(64 * 4096);
	uint32_t id = 0;
	struct env e;

	env_up(&e, NULL);
	ASSERT_OK(udk_buffer_create(64 * 4096, 0, &b));
	p = udk_buffer_get_address(b);
	pattern(p, 64 * 4096, 7);
	memcpy(check, p, 64 * 4096);
	ASSERT_OK(udk_block_client_register_buffer(e.bc, p, 64 * 4096, &id));
	/* 64 writes submitted at once (none waits for another), then 64 reads */
	for (unsigned i = 0; i < 64; i++)
		ASSERT_OK(udk_block_client_submit(e.bc, UDK_BLOCK_WRITE, 8 * (i * 37 % 64), 8, id, 4096 * i, counted, &c));
	pthread_mutex_lock(&c.lock);
	while (c.done < 64)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	ASSERT_EQ(c.failed, 0);
	memset(p, 0, 64 * 4096);
	for (unsigned i = 0; i < 64; i++)
		ASSERT_OK(udk_block_client_submit(e.bc, UDK_BLOCK_READ, 8 * (i * 37 % 64), 8, id, 4096 * i, counted, &c));
	pthread_mutex_lock(&c.lock);
	while (c.done < 128)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	ASSERT_EQ(c.failed, 0);
	ASSERT_TRUE(memcmp(p, check, 64 * 4096) == 0);
	udk_buffer_unref(b);
	free(check);
	env_down(&e);
}

static pid_t
driver_pid(struct fixture *f, const char *name)
{
	char *out = fixture_udkctl(f, NULL, "drivers"), *at;
	pid_t pid = 0;

	at = strstr(out, name);
	at = at ? strstr(at, "pid ") : NULL;
	if (at)
		pid = (pid_t)atoi(at + 4);
	free(out);
	return pid;
}

TEST_FULL(the_disk_driver_dies_under_a_client, 120)
{
	uint8_t buf[4096];
	struct env e;
	pid_t pid;

	env_up(&e, NULL);
	ASSERT_OK(udk_block_client_pread(e.bc, buf, sizeof(buf), 0));
	pid = driver_pid(&e.f, "org.udk.test.scsidisk");
	ASSERT_TRUE(pid > 0);
	kill(pid, SIGKILL);
	for (int i = 0; i < 200 && !udk_block_client_is_dead(e.bc, NULL); i++)
		usleep(20000);
	ASSERT_ERR(udk_block_client_pread(e.bc, buf, sizeof(buf), 0), -UDK_E_HARDWARE_GONE);
	ASSERT_CONTAINS(udk_error_reason(), "the block device went away");
	udk_block_client_close(e.bc);
	/* udkd restarts the driver; a new client works */
	e.dev = fixture_wait_class(&e.f, "IOBlockStorageDevice", 15000);
	for (int i = 0; i < 100 && udk_block_client_open(e.f.client, e.dev, &e.bc) < 0; i++) {
		usleep(50000);
		e.dev = fixture_wait_class(&e.f, "IOBlockStorageDevice", 15000);
	}
	ASSERT_OK(udk_block_client_pread(e.bc, buf, sizeof(buf), 0));
	env_down(&e);
}

/* ---- NBD through nbdkit ---- */

static char *
run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
run(const char *fmt, ...)
{
	char *cmd = NULL, *out = NULL;
	size_t len = 0;
	va_list ap;
	FILE *p, *mem;
	int status;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		FAIL("oom");
	va_end(ap);
	p = popen(cmd, "re");
	if (!p)
		FAIL("popen: %m");
	mem = open_memstream(&out, &len);
	for (int ch; (ch = fgetc(p)) != EOF;)
		fputc(ch, mem);
	fclose(mem);
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("`%s` failed (status 0x%x):\n%s", cmd, status, out);
	free(cmd);
	return out;
}

static bool
have(const char *prog)
{
	char *cmd = NULL;
	int r;

	if (asprintf(&cmd, "command -v %s >/dev/null 2>&1", prog) < 0)
		return false;
	r = system(cmd);
	free(cmd);
	return r == 0;
}

static pid_t
start_nbdkit(struct env *e, const char *sock)
{
	char plugin[512], service[256], rd[400];
	pid_t pid;

	snprintf(plugin, sizeof(plugin), "%s", build_path("families/block/nbdkit-udk-plugin.so"));
	snprintf(service, sizeof(service), "service=/PCI0/disk0/SimHBA/Target0-LUN0/SCSIDisk/BlockStorageDevice");
	snprintf(rd, sizeof(rd), "runtime-dir=%s", e->f.runtime);
	pid = fork();
	if (pid == 0) {
		const char *preload = getenv("UDK_NBDKIT_PRELOAD");
		if (preload && *preload) {
			/* a sanitized plugin in nbdkit: the sanitizers' runtime first; nbdkit's own leaks are not ours */
			setenv("LD_PRELOAD", preload, 1);
			setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
		}
		execlp("nbdkit", "nbdkit", "-f", "-U", sock, "--threads", "32", plugin, service, rd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(sock, &st) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			FAIL("nbdkit exited at start");
		usleep(10000);
	}
	kill(pid, SIGTERM);
	FAIL("nbdkit did not create %s", sock);
}

static void
stop_nbdkit(pid_t pid)
{
	int status = 0;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}

TEST_FULL(exported_over_nbd_to_the_tools_people_use, 300)
{
	char sock[300], in[300], out_file[300], qcow[300];
	char *out;
	struct env e;
	pid_t nbd;
	int fd;
	uint8_t *data = malloc(8 << 20);

	if (!have("nbdkit") || !have("nbdinfo") || !have("nbdcopy"))
		test_skip("nbdkit, nbdinfo or nbdcopy is not installed (scripts/deps.sh installs them)");
	env_up(&e, NULL);
	snprintf(sock, sizeof(sock), "%s/nbd.sock", test_tmpdir());
	snprintf(in, sizeof(in), "%s/in.img", test_tmpdir());
	snprintf(out_file, sizeof(out_file), "%s/out.img", test_tmpdir());
	snprintf(qcow, sizeof(qcow), "%s/disk.qcow2", test_tmpdir());
	nbd = start_nbdkit(&e, sock);
	/* nbdinfo sees the size and what the export can do */
	out = run("nbdinfo --json 'nbd+unix:///?socket=%s'", sock);
	ASSERT_CONTAINS(out, "\"export-size\": 67108864");
	ASSERT_CONTAINS(out, "\"can_trim\": true");
	ASSERT_CONTAINS(out, "\"can_flush\": true");
	free(out);
	/* nbdcopy 8 MiB in and back out: the same bytes */
	pattern(data, 8 << 20, 42);
	fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_TRUE(fd >= 0 && write(fd, data, 8 << 20) == 8 << 20);
	close(fd);
	free(run("nbdcopy --flush %s 'nbd+unix:///?socket=%s'", in, sock));
	free(run("nbdcopy 'nbd+unix:///?socket=%s' - | head -c %d > %s", sock, 8 << 20, out_file));
	out = run("cmp %s %s && echo same", in, out_file);
	ASSERT_CONTAINS(out, "same");
	free(out);
	/* the app client sees what nbdcopy wrote */
	{
		uint8_t *back = malloc(1 << 20);
		ASSERT_OK(udk_block_client_pread(e.bc, back, 1 << 20, 3 << 20));
		ASSERT_TRUE(memcmp(back, data + (3 << 20), 1 << 20) == 0);
		free(back);
	}
	/* qemu-img reads it as a raw image and converts it */
	if (have("qemu-img")) {
		out = run("qemu-img info --output=json 'nbd+unix:///?socket=%s'", sock);
		ASSERT_CONTAINS(out, "\"virtual-size\": 67108864");
		free(out);
		free(run("qemu-img convert -f raw -O qcow2 'nbd+unix:///?socket=%s' %s", sock, qcow));
		out = run("qemu-img compare -f raw -F qcow2 'nbd+unix:///?socket=%s' %s && echo identical", sock, qcow);
		ASSERT_CONTAINS(out, "identical");
		free(out);
	} else {
		test_log("qemu-img is not installed: its part is skipped");
	}
	/* fio's nbd engine: random writes with verification, 8 jobs deep */
	if (have("fio")) {
		out = run("fio --name=verify --ioengine=nbd --uri='nbd+unix:///?socket=%s' --rw=randwrite --bs=4k "
			  "--iodepth=8 --size=4m --offset=16m --verify=crc32c --do_verify=1 --output-format=normal 2>&1",
			  sock);
		ASSERT_CONTAINS(out, "err= 0");
		ASSERT_TRUE(!strstr(out, "verify: bad"));
		free(out);
	} else {
		test_log("fio is not installed: its part is skipped");
	}
	stop_nbdkit(nbd);
	free(data);
	env_down(&e);
}
