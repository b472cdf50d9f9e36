/* SPDX-License-Identifier: MIT */
/*
 * The SCSI family against a real target: tgtd, started here on 127.0.0.1
 * with a LUN made by tgtadm, reached through the iSCSI controller driver
 * (libiscsi).  The seed's INQUIRY case on tgtd; `udkctl scsi` compared
 * with libiscsi's iscsi-inq and iscsi-readcapacity16 on the same LUN; data
 * that reaches tgtd's backing file; tgtd killed (named errors) and
 * restarted (the controller logs in again and I/O resumes); a portal the
 * entitlement does not list.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>
#include <udk/families/scsi.h>

#include "fixture.h"
#include "test.h"
#include "testscsi.h"

#define IQN "iqn.2024-01.org.udk:test"

struct tgt {
	pid_t pid;
	int port;
	int ctl;
	char portal[64];
	char lun_file[300];
};

static char *
sh(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
sh(int *status, const char *fmt, ...)
{
	char *cmd = NULL, *out = NULL;
	size_t len = 0;
	va_list ap;
	FILE *p, *mem;
	int st;

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
	st = pclose(p);
	free(cmd);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
	return out;
}

static void
need_tgt(void)
{
	int st = 0;
	char *out;

	if (geteuid() != 0)
		test_skip("tgtd needs root");
	out = sh(&st, "command -v tgtd && command -v tgtadm && command -v iscsi-inq");
	free(out);
	if (st)
		test_skip("tgtd, tgtadm or iscsi-inq is not installed (scripts/deps.sh installs tgt and libiscsi-bin)");
}

static void
tgt_start(struct tgt *t, bool fresh)
{
	char arg[80], ctl[16];
	int st = 1;

	if (fresh) {
		t->port = 20000 + getpid() % 20000;
		t->ctl = 100 + getpid() % 30000;
		snprintf(t->portal, sizeof(t->portal), "127.0.0.1:%d", t->port);
		snprintf(t->lun_file, sizeof(t->lun_file), "%s/lun.img", test_tmpdir());
		int fd = open(t->lun_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		ASSERT_TRUE(fd >= 0 && ftruncate(fd, 64 << 20) == 0);
		close(fd);
	}
	snprintf(arg, sizeof(arg), "portal=%s", t->portal);
	snprintf(ctl, sizeof(ctl), "%d", t->ctl);
	t->pid = fork();
	if (t->pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execlp("tgtd", "tgtd", "-f", "-C", ctl, "--iscsi", arg, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && st; i++) {
		char *out = sh(&st, "tgtadm -C %d --lld iscsi --op show --mode target 2>&1", t->ctl);
		free(out);
		if (st)
			usleep(25000);
	}
	ASSERT_EQ(st, 0);
	free(sh(&st, "tgtadm -C %d --lld iscsi --op new --mode target --tid 1 -T %s 2>&1 && "
		     "tgtadm -C %d --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b %s 2>&1 && "
		     "tgtadm -C %d --lld iscsi --op bind --mode target --tid 1 -I ALL 2>&1",
		t->ctl, IQN, t->ctl, t->lun_file, t->ctl));
	ASSERT_EQ(st, 0);
}

static void
tgt_kill(struct tgt *t)
{
	if (t->pid <= 0)
		return;
	kill(t->pid, SIGKILL);
	waitpid(t->pid, NULL, 0);
	t->pid = 0;
}

#define ISCSI_PERSONALITY(portal)                                                                              \
	"<key>Target</key><dict>"                                                                              \
	"<key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"                             \
	"<key>IOUserClass</key><string>ISCSIController</string>"                                               \
	"<key>IOUserServerName</key><string>org.udk.test.iscsi</string>"                                      \
	"<key>IOProviderClass</key><string>IOUserResources</string>"                                          \
	"<key>IOResourceMatch</key><string>IOKit</string>"                                                    \
	"<key>IOMatchCategory</key><string>ISCSIController</string>"                                          \
	"<key>iSCSIPortal</key><string>" portal "</string>"                                                \
	"<key>iSCSITargetName</key><string>" IQN "</string></dict>"

#define PERIPH_PERSONALITY                                                                                     \
	"<key>Disk</key><dict>"                                                                                \
	"<key>IOClass</key><string>IOUserSCSIPeripheralDeviceType00</string>"                                  \
	"<key>IOUserClass</key><string>TestSCSIPeripheral</string>"                                            \
	"<key>IOUserServerName</key><string>org.udk.test.scsiperiph</string>"                                 \
	"<key>IOProviderClass</key><string>IOSCSIPeripheralDeviceNub</string>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer>"                                               \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>TestSCSIUserClient</string></dict>" \
	"</dict>"

struct env {
	struct tgt t;
	struct fixture f;
	uint64_t periph;
	struct udk_connection *conn;
};

static void
write_entitlements(struct env *e, const char *dir, const char *portal)
{
	char ent[1024];

	snprintf(ent, sizeof(ent),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
		 "<key>com.apple.developer.driverkit</key><true/>\n"
		 "<key>com.apple.developer.driverkit.family.scsicontroller</key><dict><key>iSCSIPortals</key>"
		 "<array><string>%s</string></array></dict>\n"
		 "<key>com.apple.developer.driverkit.transport.scsi</key><true/>\n"
		 "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"
		 "</dict></plist>\n",
		 portal);
	fixture_bundle_file(&e->f, dir, "Entitlements.plist", ent);
}

static void
env_up(struct env *e, bool periph)
{
	char pers[2048];

	memset(e, 0, sizeof(*e));
	need_tgt();
	tgt_start(&e->t, true);
	fixture_init(&e->f);
	fixture_set_machine(&e->f, "");
	snprintf(pers, sizeof(pers), ISCSI_PERSONALITY("%s"), e->t.portal);
	fixture_add_bundle_exe(&e->f, "iSCSI.dext", "org.udk.test.iscsi", "drivers/iscsi-driver", pers);
	write_entitlements(e, "iSCSI.dext", e->t.portal);
	if (periph) {
		fixture_add_bundle_exe(&e->f, "Periph.dext", "org.udk.test.scsiperiph", "tests/testscsi", PERIPH_PERSONALITY);
		write_entitlements(e, "Periph.dext", e->t.portal);
	}
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	if (periph) {
		e->periph = fixture_wait_class(&e->f, "TestSCSIPeripheral", 20000);
		ASSERT_OK(udk_client_open(e->f.client, e->periph, 0, &e->conn));
	} else {
		ASSERT_TRUE(fixture_wait_output(&e->f, "tree", "Target0-LUN1", 20000));
	}
}

static void
env_down(struct env *e)
{
	udk_connection_unref(e->conn);
	fixture_stop(&e->f);
	tgt_kill(&e->t);
}

static int
send(struct env *e, const uint8_t *cdb, uint32_t cdb_len, uint32_t dir, uint64_t requested, uint64_t bufsize,
     const uint8_t *data, struct testscsi_result *res)
{
	static struct testscsi_cdb in;
	size_t n = sizeof(*res);

	memset(&in, 0, sizeof(in));
	memcpy(in.cdb, cdb, cdb_len);
	in.cdb_length = cdb_len;
	in.direction = dir;
	in.requested = requested;
	in.buffer_size = bufsize;
	in.timeout_ms = 5000;
	if (data)
		memcpy(in.data, data, bufsize);
	return udk_connection_call(e->conn, TESTSCSI_SEND, NULL, 0, &in, sizeof(in), NULL, NULL, res, &n);
}

TEST_FULL(seed_inquiry_on_tgtd, 120)
{
	static const uint8_t inquiry[6] = { 0x12, 0x00, 0x00, 0x00, 0x24, 0x00 };
	static const uint8_t vendor_op[10] = { 0xc9, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct testscsi_result res;
	struct env e;
	char *out;

	env_up(&e, true);
	out = fixture_udkctl(&e.f, NULL, "tree");
	ASSERT_CONTAINS(out, "ISCSIController  <ISCSIController:IOUserSCSIParallelInterfaceController");
	ASSERT_CONTAINS(out, "Target0-LUN1  <IOSCSIPeripheralDeviceNub");
	free(out);
	ASSERT_OK(send(&e, inquiry, 6, UDK_SCSI_DATA_FROM_TARGET, 512, 512, NULL, &res));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.service_response, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(res.realized, 36);
	ASSERT_TRUE(memcmp(res.data + 8, "IET     ", 8) == 0);
	ASSERT_TRUE(memcmp(res.data + 16, "VIRTUAL-DISK    ", 16) == 0);
	/* an opcode tgtd does not implement */
	ASSERT_OK(send(&e, vendor_op, 10, UDK_SCSI_DATA_NONE, 0, 0, NULL, &res));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.status, UDK_SCSI_STATUS_CHECK_CONDITION);
	ASSERT_EQ(res.sense[2] & 0xf, 5);
	ASSERT_EQ(res.sense[12], 0x20);
	ASSERT_CONTAINS(res.sense_words, "sense key ILLEGAL REQUEST (0x5), ASC 0x20 ASCQ 0x00: INVALID COMMAND OPERATION CODE");
	ASSERT_CONTAINS(res.explanation, "does not implement opcode 0xc9");
	env_down(&e);
}

TEST_FULL(writes_reach_tgtds_backing_file, 120)
{
	static const uint8_t write10[10] = { 0x2a, 0, 0, 0, 0, 100, 0, 0, 4, 0 };
	static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 100, 0, 0, 4, 0 };
	uint8_t data[2048], file[2048];
	struct testscsi_result res;
	struct env e;
	int fd;

	env_up(&e, true);
	for (int i = 0; i < 2048; i++)
		data[i] = (uint8_t)(i * 13 + 5);
	ASSERT_OK(send(&e, write10, 10, UDK_SCSI_DATA_TO_TARGET, 2048, 2048, data, &res));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.status, 0);
	ASSERT_OK(send(&e, read10, 10, UDK_SCSI_DATA_FROM_TARGET, 2048, 2048, NULL, &res));
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(res.realized, 2048);
	ASSERT_TRUE(memcmp(res.data, data, 1024) == 0);
	fd = open(e.t.lun_file, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(pread(fd, file, sizeof(file), 100 * 512), 2048);
	close(fd);
	ASSERT_TRUE(memcmp(file, data, 2048) == 0);
	env_down(&e);
}

/* "Key:value" from iscsi-inq / iscsi-readcapacity16, trimmed. */
static char *
field(const char *text, const char *key)
{
	const char *at = strstr(text, key);
	char buf[128];
	size_t n = 0;

	if (!at)
		FAIL("no \"%s\" in:\n%s", key, text);
	at += strlen(key);
	while (*at && *at != '\n' && n < sizeof(buf) - 1)
		buf[n++] = *at++;
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = 0;
	return strdup(buf);
}

TEST_FULL(udkctl_scsi_agrees_with_libiscsi_tools, 120)
{
	char *ours, *theirs, *a, *b;
	struct env e;
	int st;

	env_up(&e, false);
	ours = fixture_udkctl(&e.f, &st, "scsi /IOUserResources/ISCSIController/Target0-LUN1 --decode -r 96 12 00 00 00 60 00");
	ASSERT_EQ(st, 0);
	theirs = sh(&st, "iscsi-inq iscsi://%s/%s/1", e.t.portal, IQN);
	ASSERT_EQ(st, 0);
	a = field(ours, "Vendor identification: ");
	b = field(theirs, "Vendor:");
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	a = field(ours, "Product identification: ");
	b = field(theirs, "Product:");
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	a = field(ours, "Product revision level: ");
	b = field(theirs, "Revision:");
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	ASSERT_CONTAINS(ours, "Peripheral device type: 0x00 (direct access block device)");
	ASSERT_CONTAINS(theirs, "Peripheral Device Type:DIRECT_ACCESS");
	free(ours);
	free(theirs);
	ours = fixture_udkctl(&e.f, &st, "scsi /IOUserResources/ISCSIController/Target0-LUN1 --decode -r 32 9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00");
	ASSERT_EQ(st, 0);
	theirs = sh(&st, "iscsi-readcapacity16 iscsi://%s/%s/1", e.t.portal, IQN);
	ASSERT_EQ(st, 0);
	a = field(ours, "Last LBA: ");
	b = field(theirs, "RETURNED LOGICAL BLOCK ADDRESS:");
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	a = field(ours, "Block size: ");
	b = field(theirs, "LOGICAL BLOCK LENGTH IN BYTES:");
	ASSERT_STREQ(a, b);
	free(a);
	free(b);
	a = field(ours, "Capacity: ");
	b = field(theirs, "Total size:");
	ASSERT_TRUE(strncmp(a, b, strlen(b)) == 0);
	free(a);
	free(b);
	free(ours);
	free(theirs);
	env_down(&e);
}

TEST_FULL(tgtd_killed_then_restarted, 180)
{
	static const uint8_t tur[6] = { 0 };
	static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	struct testscsi_result res;
	struct env e;
	bool back = false;

	env_up(&e, true);
	ASSERT_OK(send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, NULL, &res));
	ASSERT_EQ(res.status, 0);
	tgt_kill(&e.t);
	/* the target is gone: a named error, the portal and the reason */
	ASSERT_OK(send(&e, read10, 10, UDK_SCSI_DATA_FROM_TARGET, 512, 512, NULL, &res));
	ASSERT_EQ(res.result, -UDK_E_HARDWARE_GONE);
	ASSERT_CONTAINS(res.reason, e.t.portal);
	test_log("while tgtd is gone: %s", res.reason);
	/* tgtd comes back with the same target: the controller logs in again, I/O resumes */
	tgt_start(&e.t, false);
	for (int i = 0; i < 100 && !back; i++) {
		ASSERT_OK(send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, NULL, &res));
		if (res.result == 0 && (res.status == 0 || res.status == UDK_SCSI_STATUS_CHECK_CONDITION))
			back = true;
		else
			usleep(100000);
	}
	ASSERT_TRUE(back);
	ASSERT_OK(send(&e, read10, 10, UDK_SCSI_DATA_FROM_TARGET, 512, 512, NULL, &res));
	ASSERT_OK(res.result);
	ASSERT_TRUE(fixture_wait_log(&e.f, "went away", 5000));
	ASSERT_TRUE(fixture_wait_log(&e.f, "logged in to " IQN, 5000));
	ASSERT_TRUE(fixture_wait_log(&e.f, "again", 5000));
	env_down(&e);
}

TEST_FULL(a_portal_the_entitlement_does_not_list, 120)
{
	char pers[2048];
	struct env e;

	memset(&e, 0, sizeof(e));
	need_tgt();
	tgt_start(&e.t, true);
	fixture_init(&e.f);
	fixture_set_machine(&e.f, "");
	snprintf(pers, sizeof(pers), ISCSI_PERSONALITY("%s"), e.t.portal);
	fixture_add_bundle_exe(&e.f, "iSCSI.dext", "org.udk.test.iscsi", "drivers/iscsi-driver", pers);
	write_entitlements(&e, "iSCSI.dext", "127.0.0.1:1");
	fixture_start(&e.f, NULL);
	ASSERT_TRUE(fixture_wait_log(&e.f, "is not in the driver's family.scsicontroller entitlement (iSCSIPortals)", 5000));
	env_down(&e);
}
