/* SPDX-License-Identifier: MIT */
/*
 * The serial family end to end: the simulated UART (models/uart16550), its
 * driver (drivers/uart16550), the ports udkd makes, and real programs on
 * them: pyserial (serial-check.py), stty, socat and picocom (through
 * expect).  Ports are named in a --dev-dir under the test's temporary
 * directory, except in dev_as_root, which uses /dev when run as root.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.uart"
#define PYTHON "/usr/bin/python3"

/* The seed's port: base name mycustombasename, suffix 123. */
#define SEED_PERSONALITY                                                                                       \
	"<key>Seed</key><dict>"                                                                                \
	"<key>IOClass</key><string>IOUserSerial</string>"                                                      \
	"<key>IOUserClass</key><string>Uart16550Driver</string>"                                               \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                               \
	"<key>IOPCIPrimaryMatch</key><string>0x05501234</string>"                                              \
	"<key>IOTTYBaseName</key><string>mycustombasename</string>"                                            \
	"<key>IOTTYSuffix</key><string>123</string></dict>"                                                    \
	"<key>Board</key><dict>"                                                                               \
	"<key>IOClass</key><string>IOUserSerial</string>"                                                      \
	"<key>IOUserClass</key><string>Uart16550Driver</string>"                                               \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                               \
	"<key>IOPCIPrimaryMatch</key><string>0x05501234</string>"                                              \
	"<key>IOPCISecondaryMatch</key><string>0x00021234</string>"                                            \
	"<key>IOProbeScore</key><integer>100</integer>"                                                        \
	"<key>IOTTYBaseName</key><string>customboard</string>"                                                 \
	"<key>IOTTYSuffix</key><string>0</string></dict>"

#define SERIAL_ENTITLEMENTS                                                                                    \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"                                 \
	"<key>IOPCIPrimaryMatch</key><string>0x05501234</string></dict></array>\n"                            \
	"<key>com.apple.developer.driverkit.family.serial</key><true/>\n"                                     \
	"</dict></plist>\n"

#define UART(name, extra) TEST_DEVICE(name, "uart16550", extra)

struct env {
	struct fixture f;
	char dev[400];			/* the device directory */
	char tty[500], cu[500];		/* the seed's names in it */
};

static void
env_start(struct env *e, const char *devices, bool own_dev_dir)
{
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", devices);
	fixture_add_bundle_exe(&e->f, "U.dext", ID, "drivers/uart16550-driver", SEED_PERSONALITY);
	fixture_bundle_file(&e->f, "U.dext", "Entitlements.plist", SERIAL_ENTITLEMENTS);
	if (own_dev_dir) {
		snprintf(e->dev, sizeof(e->dev), "%s/dev", e->f.dir);
		mkdir(e->dev, 0755);
		fixture_start(&e->f, "--restart-base-ms", "20", "--dev-dir", e->dev, NULL);
	} else {
		snprintf(e->dev, sizeof(e->dev), "/dev");
		fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	}
	snprintf(e->tty, sizeof(e->tty), "%s/tty.mycustombasename-123", e->dev);
	snprintf(e->cu, sizeof(e->cu), "%s/cu.mycustombasename-123", e->dev);
}

static void
env_up(struct env *e, const char *devices)
{
	env_start(e, devices, true);
	fixture_wait_class(&e->f, "IOSerialBSDClient", 10000);
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

static const char *
check_script(void)
{
	static char path[600];
	snprintf(path, sizeof(path), "%s/families/serial/tests/serial-check.py", test_source_root());
	return path;
}

static void
need(const char *program)
{
	if (access(program, X_OK) < 0)
		test_skip("%s is not installed (scripts/deps.sh installs it)", program);
}

static void
need_pyserial(void)
{
	int st;
	char *out;

	need(PYTHON);
	out = run(&st, PYTHON " -c 'import serial'");
	free(out);
	if (st)
		test_skip("python3-serial is not installed (scripts/deps.sh installs it)");
}

/* pyserial check @what on @port; must pass. */
static char *
check(const char *what, const char *port, const char *arg)
{
	int st;
	char *out = run(&st, "timeout 180 " PYTHON " %s %s %s %s", check_script(), what, port, arg ? arg : "");
	if (st)
		FAIL("serial-check %s %s failed:\n%s", what, port, out);
	return out;
}

static bool
is_link_to_pts(const char *path)
{
	char target[256];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = 0;
	return !strncmp(target, "/dev/pts/", 9) && access(target, F_OK) == 0;
}

/* A CUSE port's name: a character device (the CUSE backend, udkd as root with /dev/cuse). */
static bool
is_chr(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISCHR(sb.st_mode);
}

/* ---- the seed: names, registry ---- */

TEST(seed_names)
{
	struct env e;
	char *out;

	env_up(&e, UART("uart0", ""));
	/* exactly the names the forum asked for */
	ASSERT_TRUE(is_link_to_pts(e.tty));
	ASSERT_TRUE(is_link_to_pts(e.cu));
	out = fixture_udkctl(&e.f, NULL, "tree --properties");
	ASSERT_TRUE(strstr(out, "IOSerialBSDClient"));
	ASSERT_TRUE(strstr(out, "\"IOTTYDevice\" = \"mycustombasename-123\""));
	ASSERT_TRUE(strstr(out, "\"IOTTYBaseName\" = \"mycustombasename\""));
	ASSERT_TRUE(strstr(out, "\"IOTTYSuffix\" = \"123\""));
	ASSERT_TRUE(strstr(out, "cu.mycustombasename-123\""));
	ASSERT_TRUE(strstr(out, "tty.mycustombasename-123\""));
	ASSERT_TRUE(strstr(out, "\"IOCalloutDevice\""));
	ASSERT_TRUE(strstr(out, "\"IODialinDevice\""));
	free(out);
	out = fixture_udkctl(&e.f, NULL, "families serial");
	ASSERT_TRUE(strstr(out, "\"name\":\"mycustombasename-123\""));
	ASSERT_TRUE(strstr(out, "\"backend\":\"pty\""));
	free(out);
	env_down(&e);
	/* udkd took its names with it */
	ASSERT_EQ(access(e.tty, F_OK), -1);
	ASSERT_EQ(access(e.cu, F_OK), -1);
}

/* The seed's names in /dev itself, as root (CI runs as root). */
TEST(dev_as_root)
{
	struct env e;

	if (geteuid() != 0)
		test_skip("not root: udkd names ports in /dev only as root (the other tests use --dev-dir)");
	if (access("/dev/tty.mycustombasename-123", F_OK) == 0 || access("/dev/cu.mycustombasename-123", F_OK) == 0)
		test_skip("/dev/tty.mycustombasename-123 exists already (another udkd runs here?)");
	env_start(&e, UART("uart0", ""), false);
	fixture_wait_class(&e.f, "IOSerialBSDClient", 10000);
	/* links to a pty, or, where this kernel has /dev/cuse, CUSE devices
	 * (udkd's default as root; the guest rig's 46-serial-cuse tests them) */
	ASSERT_TRUE(is_link_to_pts("/dev/tty.mycustombasename-123") || is_chr("/dev/tty.mycustombasename-123"));
	ASSERT_TRUE(is_link_to_pts("/dev/cu.mycustombasename-123") || is_chr("/dev/cu.mycustombasename-123"));
	free(check("loopback", "/dev/cu.mycustombasename-123", NULL));
	env_down(&e);
	ASSERT_EQ(access("/dev/tty.mycustombasename-123", F_OK), -1);
	ASSERT_EQ(access("/dev/cu.mycustombasename-123", F_OK), -1);
}

/* --serial-backend cuse where CUSE cannot be had: ptys, and the log says why. */
TEST(cuse_asked_falls_back_to_pty)
{
	struct env e;
	char *out, *log;

	fixture_init(&e.f);
	fixture_set_machine_devices(&e.f, "", UART("uart0", ""));
	fixture_add_bundle_exe(&e.f, "U.dext", ID, "drivers/uart16550-driver", SEED_PERSONALITY);
	fixture_bundle_file(&e.f, "U.dext", "Entitlements.plist", SERIAL_ENTITLEMENTS);
	snprintf(e.dev, sizeof(e.dev), "%s/dev", e.f.dir);
	mkdir(e.dev, 0755);
	/* CUSE devices are named in /dev only: with another --dev-dir there is
	 * no CUSE on any kernel, so this holds on every machine */
	fixture_start(&e.f, "--serial-backend", "cuse", "--dev-dir", e.dev, NULL);
	fixture_wait_class(&e.f, "IOSerialBSDClient", 10000);
	snprintf(e.cu, sizeof(e.cu), "%s/cu.mycustombasename-123", e.dev);
	ASSERT_TRUE(is_link_to_pts(e.cu));
	out = fixture_udkctl(&e.f, NULL, "families serial");
	ASSERT_TRUE(strstr(out, "\"backend\":\"pty\""));
	free(out);
	log = fixture_log(&e.f);
	ASSERT_TRUE(strstr(log, "serial: --serial-backend cuse, but "));
	ASSERT_TRUE(strstr(log, "; ports are ptys"));
	free(log);
	env_down(&e);
}

/* A bad --serial-backend is refused with the choices. */
TEST(serial_backend_option_checked)
{
	int st;
	/* udkd's early exit on a bad option does not free what main() and the
	 * families' set_option made: no leak check for this one run */
	char *out = run(&st, "ASAN_OPTIONS=detect_leaks=0 %s --serial-backend tty --runtime-dir /nonexistent",
			build_path("daemon/udkd"));

	ASSERT_EQ(st, 2);
	ASSERT_TRUE(strstr(out, "--serial-backend takes auto, pty or cuse, not \"tty\""));
	free(out);
}

/* ---- data and settings with real programs ---- */

TEST(pyserial_loopback_and_settings)
{
	struct env e;
	char *log;

	need_pyserial();
	env_up(&e, UART("uart0", ""));
	free(check("loopback", e.cu, NULL));
	free(check("loopback", e.tty, NULL));
	/* pyserial's `baudrate =` reaches the driver */
	free(check("baud", e.cu, "57600"));
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"baud\":57600", 10000));
	log = fixture_log(&e.f);
	ASSERT_TRUE(strstr(log, "line: 57600 baud"));
	free(log);
	env_down(&e);
}

TEST(stty_settings_reach_the_driver)
{
	struct env e;
	char *out;
	int st;

	need("/usr/bin/stty");
	env_up(&e, UART("uart0", ""));
	out = run(&st, "stty -F %s 230400 cstopb crtscts", e.tty);
	ASSERT_EQ(st, 0);
	free(out);
	/* the pty backend cannot carry data bits or parity (the kernel's pty
	 * keeps CS8, no parity): stty says so, as documented */
	out = run(&st, "stty -F %s cs7 parenb", e.tty);
	ASSERT_NE(st, 0);
	free(out);
	out = run(&st, "stty -F %s -a", e.tty);
	ASSERT_TRUE(strstr(out, " cs8 ") && strstr(out, "-parenb"));
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"baud\":230400", 10000));
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"stop_bits\":2", 10000));
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"rts_cts\":true", 10000));
	out = run(&st, "stty -F %s -a", e.cu);
	ASSERT_TRUE(strstr(out, "speed 230400 baud"));
	free(out);
	/* an app that clears EXTPROC is still heard (the family polls then) */
	out = run(&st, "stty -F %s -extproc 19200", e.tty);
	ASSERT_EQ(st, 0);
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"baud\":19200", 10000));
	out = run(&st, "stty -F %s 38400", e.tty);
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"baud\":38400", 10000));
	env_down(&e);
}

/* A rate the UART cannot make: refused, old rate back, reason in log and udkctl. */
TEST(bad_baud_refused)
{
	struct env e;
	char *out, *log;
	int st;

	need("/usr/bin/stty");
	need_pyserial();
	env_up(&e, UART("uart0", ""));
	out = run(&st, "stty -F %s 115200", e.cu);
	ASSERT_EQ(st, 0);
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"baud\":115200", 10000));
	/* pyserial asks for 5 Mbaud (TCSETS2, BOTHER); the UART stops at 4 */
	free(check("baud", e.cu, "5000000"));
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "the driver refused 5000000 baud", 10000));
	out = fixture_udkctl(&e.f, NULL, "families serial");
	ASSERT_TRUE(strstr(out, "5000000 baud is beyond this UART: it does 4000000 baud at most"));
	ASSERT_TRUE(strstr(out, "the port keeps 115200 baud"));
	free(out);
	log = fixture_log(&e.f);
	ASSERT_TRUE(strstr(log, "the driver refused 5000000 baud"));
	free(log);
	/* the tty tells the truth afterwards: the accepted rate is back */
	for (int i = 0; i < 200; i++) {
		out = run(&st, "stty -F %s speed", e.cu);
		bool back = !strncmp(out, "115200", 6);
		free(out);
		if (back)
			break;
		if (i == 199)
			FAIL("the refused rate stayed on the tty");
		usleep(50000);
	}
	env_down(&e);
}

TEST(socat_roundtrip)
{
	struct env e;
	char *out, path[600];
	int st;

	need("/usr/bin/socat");
	env_up(&e, UART("uart0", ""));
	snprintf(path, sizeof(path), "%s/in.txt", e.f.dir);
	write_text(path, "socat through a udk serial port\nsecond line\n");
	/* the reader (on tty.) is up before the writer (on cu.) starts */
	out = run(&st, "(sleep 1; timeout 20 socat -t 2 -u FILE:%s,rdonly 'FILE:%s,raw,echo=0,b115200') & "
		  "timeout 20 socat -T 4 -u 'FILE:%s,raw,echo=0,b115200,nonblock=0' STDOUT; wait",
		  path, e.cu, e.tty);
	ASSERT_TRUE(strstr(out, "socat through a udk serial port\nsecond line\n"));
	free(out);
	env_down(&e);
}

TEST(picocom_through_expect)
{
	struct env e;
	char *out;
	int st;

	need("/usr/bin/picocom");
	need("/usr/bin/expect");
	env_up(&e, UART("uart0", ""));
	/* picocom does no local echo: the text comes back through the loopback */
	out = run(&st,
		  "timeout 60 expect -c 'set timeout 20; spawn picocom -q -b 115200 %s; "
		  "sleep 0.5; send \"picocom-was-here\"; "
		  "expect \"picocom-was-here\" {puts \"\\nECHOED\"} timeout {puts \"\\nNO-ECHO\"; exit 1}; "
		  "send \"\\x01\\x18\"; expect eof'",
		  e.cu);
	ASSERT_EQ(st, 0);
	ASSERT_TRUE(strstr(out, "ECHOED"));
	free(out);
	env_down(&e);
}

/* ---- bad input ---- */

TEST(exclusive_open)
{
	struct env e;
	char *out, script[600];
	int st;

	need_pyserial();
	need("/usr/bin/setpriv");
	env_up(&e, UART("uart0", ""));
	if (geteuid() == 0) {
		/* root passes TIOCEXCL (CAP_SYS_ADMIN): the app is a dialout user */
		snprintf(script, sizeof(script), "%s/serial-check.py", e.f.dir);
		out = run(&st, "cp %s %s && chmod 0755 %s", check_script(), script, script);
		free(out);
		out = run(&st,
			  "timeout 60 setpriv --reuid=nobody --regid=dialout --clear-groups " PYTHON " %s excl %s",
			  script, e.cu);
	} else {
		out = run(&st, "timeout 60 " PYTHON " %s excl %s", check_script(), e.cu);
	}
	ASSERT_EQ(st, 0);
	ASSERT_TRUE(strstr(out, "second open under TIOCEXCL: EBUSY"));
	free(out);
	env_down(&e);
}

/* 10 MB random both ways at the top rate with RTS/CTS: not a byte lost. */
TEST_FULL(integrity_10mb_rtscts, 600)
{
	struct env e;
	char *out;

	need_pyserial();
	env_up(&e, UART("uart0", ""));
	out = check("integrity", e.cu, "10000000");
	ASSERT_TRUE(strstr(out, "integrity ok: 10000000 bytes each way"));
	free(out);
	out = fixture_udkctl(&e.f, NULL, "tree --properties");
	ASSERT_TRUE(strstr(out, "\"overrun\":0"));
	free(out);
	env_down(&e);
}

/* Without flow control a flood overruns the UART: counted and shown. */
TEST(overrun_reported)
{
	struct env e;
	char *out;

	need_pyserial();
	env_up(&e, UART("uart0", ""));
	free(check("flood", e.cu, "2000000"));
	ASSERT_TRUE(fixture_wait_output(&e.f, "tree --properties", "\"UDKSerialErrors\" = {\"framing\":0,\"parity\":0,\"overrun\":", 10000));
	out = fixture_udkctl(&e.f, NULL, "tree --properties");
	ASSERT_FALSE(strstr(out, "\"overrun\":0,"));
	free(out);
	env_down(&e);
}

/* Two UARTs wanting mycustombasename-123: the second gets -124, logged. */
TEST(name_collision_next_suffix)
{
	struct env e;
	char *out, *log, path[600];
	bool both = false;

	env_up(&e, UART("uart0", "") UART("uart1", ""));
	for (int i = 0; i < 200 && !both; i++) {
		snprintf(path, sizeof(path), "%s/tty.mycustombasename-124", e.dev);
		both = is_link_to_pts(e.tty) && is_link_to_pts(path);
		if (!both)
			usleep(50000);
	}
	ASSERT_TRUE(both);
	snprintf(path, sizeof(path), "%s/cu.mycustombasename-124", e.dev);
	ASSERT_TRUE(is_link_to_pts(path));
	log = fixture_log(&e.f);
	ASSERT_TRUE(strstr(log, "mycustombasename-123 is taken"));
	ASSERT_TRUE(strstr(log, "gets mycustombasename-124, the next suffix"));
	free(log);
	out = fixture_udkctl(&e.f, NULL, "families serial");
	ASSERT_TRUE(strstr(out, "\"name_collisions\" = 1"));
	free(out);
	env_down(&e);
}

/* ---- hot unplug ---- */

TEST(unplug_hangs_up_and_names_return)
{
	struct env e;
	char ready[600], *out;
	pid_t pid;
	int status = 0, pipefd[2];

	need_pyserial();
	env_up(&e, UART("uart0", ""));
	snprintf(ready, sizeof(ready), "%s/reader-ready", e.f.dir);
	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execl("/usr/bin/timeout", "timeout", "60", PYTHON, check_script(), "hangup", e.tty, ready, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	for (int i = 0; i < 400 && access(ready, F_OK) < 0; i++)
		usleep(25000);
	ASSERT_EQ(access(ready, F_OK), 0);
	out = fixture_udkctl(&e.f, NULL, "sim unplug uart0");
	free(out);
	/* the reader gets a hang-up (EOF or EIO), then EIO on write: no hang */
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	{
		char buf[1024] = "";
		ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		test_log("reader said:\n%s", buf);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		ASSERT_TRUE(strstr(buf, "read: end of file (hang-up)") || strstr(buf, "read: EIO"));
		ASSERT_TRUE(strstr(buf, "write: EIO"));
	}
	close(pipefd[0]);
	/* the names are gone */
	for (int i = 0; i < 200 && (access(e.tty, F_OK) == 0 || access(e.cu, F_OK) == 0); i++)
		usleep(25000);
	ASSERT_EQ(access(e.tty, F_OK), -1);
	ASSERT_EQ(access(e.cu, F_OK), -1);
	/* and come back with the device */
	out = fixture_udkctl(&e.f, NULL, "sim plug uart0");
	free(out);
	for (int i = 0; i < 400 && !is_link_to_pts(e.cu); i++)
		usleep(25000);
	ASSERT_TRUE(is_link_to_pts(e.tty));
	ASSERT_TRUE(is_link_to_pts(e.cu));
	free(check("loopback", e.cu, NULL));
	env_down(&e);
}

/* A driver crash is an unplug too: hang-up, then the port returns. */
TEST(driver_crash_port_returns)
{
	struct env e;
	char *out;
	int st;

	need_pyserial();
	env_up(&e, UART("uart0", ""));
	/* the driver is udkd's child; its name is cut to 15 characters */
	out = run(&st, "pkill -KILL -x uart16550-drive -P %d", (int)e.f.udkd);
	free(out);
	ASSERT_EQ(st, 0);
	ASSERT_TRUE(fixture_wait_output(&e.f, "families serial", "\"ports_created\" = 2", 10000));
	for (int i = 0; i < 400 && !is_link_to_pts(e.cu); i++)
		usleep(25000);
	free(check("loopback", e.cu, NULL));
	env_down(&e);
}

/* ---- the custom board, from Python ---- */

TEST(custom_board_pyserial)
{
	struct env e;
	char *out, port[500];
	int st;

	need_pyserial();
	env_up(&e, TEST_DEVICE("board0", "custom-board", ""));
	snprintf(port, sizeof(port), "%s/cu.customboard-0", e.dev);
	ASSERT_TRUE(is_link_to_pts(port));
	out = run(&st, "timeout 60 " PYTHON " %s/examples/custom-board/board.py %s", test_source_root(), port);
	ASSERT_EQ(st, 0);
	ASSERT_TRUE(strstr(out, "< PONG"));
	ASSERT_TRUE(strstr(out, "< LEDS 10000101"));
	ASSERT_TRUE(strstr(out, "< SUM 42"));
	ASSERT_TRUE(strstr(out, "board: all answers as expected"));
	free(out);
	env_down(&e);
}

/* ---- who may make ports ---- */

TEST(entitlement_required)
{
	struct env e;
	char *out;

	fixture_init(&e.f);
	fixture_set_machine_devices(&e.f, "", UART("uart0", ""));
	fixture_add_bundle_exe(&e.f, "U.dext", ID, "drivers/uart16550-driver", SEED_PERSONALITY);
	/* the fixture's default entitlements: PCI, no family.serial */
	snprintf(e.dev, sizeof(e.dev), "%s/dev", e.f.dir);
	mkdir(e.dev, 0755);
	fixture_start(&e.f, "--dev-dir", e.dev, NULL);
	fixture_wait_class(&e.f, "IOPCIDevice", 10000);
	out = fixture_udkctl(&e.f, NULL, "explain " ID " /PCI0/uart0");
	test_log("%s", out);
	ASSERT_TRUE(strstr(out, "family.serial"));
	free(out);
	ASSERT_EQ(test_count_dir(e.dev), 0);
	fixture_stop(&e.f);
}

TEST(bad_name_refused_at_load)
{
	struct env e;
	char *out;

	fixture_init(&e.f);
	fixture_add_bundle_exe(&e.f, "U.dext", ID, "drivers/uart16550-driver",
			       "<key>Bad</key><dict>"
			       "<key>IOClass</key><string>IOUserSerial</string>"
			       "<key>IOUserClass</key><string>Uart16550Driver</string>"
			       "<key>IOProviderClass</key><string>IOPCIDevice</string>"
			       "<key>IOPCIPrimaryMatch</key><string>0x05501234</string>"
			       "<key>IOTTYBaseName</key><string>../../etc/passwd</string></dict>");
	fixture_bundle_file(&e.f, "U.dext", "Entitlements.plist", SERIAL_ENTITLEMENTS);
	fixture_start(&e.f, NULL);
	out = fixture_udkctl(&e.f, NULL, "drivers " ID);
	test_log("%s", out);
	ASSERT_TRUE(strstr(out, "IOTTYBaseName"));
	ASSERT_TRUE(strstr(out, "has the character 0x2f") || strstr(out, "starts with '.'"));
	free(out);
	fixture_stop(&e.f);
}
