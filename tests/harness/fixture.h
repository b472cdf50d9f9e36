/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - a private udkd for one test: its own runtime directory,
 * bundle directory and machine description, started and stopped by pid.
 */
#ifndef UDK_TEST_FIXTURE_H
#define UDK_TEST_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include <udk/client.h>

struct fixture {
	char dir[256];
	char runtime[300];
	char bundles[300];
	char machine[300];
	char log[300];
	char state[300];		/* udkd's --state-dir: trust store, developer mode, grants */
	pid_t udkd;
	struct udk_client *client;
};

/*
 * Entitlements every fixture bundle gets unless a test writes its own:
 * driverkit, any PCI device, any USB device (a development wildcard), any app.  fixture_init() turns developer mode
 * on (a file in the state directory); security tests turn it off.
 */
#define FIXTURE_ENTITLEMENTS                                                                                   \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"                                 \
	"<key>IOPCIPrimaryMatch</key><string>0x00000000&amp;0x00000000</string></dict></array>\n"             \
	"<key>com.apple.developer.driverkit.transport.usb</key><array><dict>"                                 \
	"<key>idVendor</key><string>*</string></dict></array>\n"                                              \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

/* Write @text as @file inside bundle @dirname. */
void fixture_bundle_file(struct fixture *f, const char *dirname, const char *file, const char *text);
/* Developer mode on or off for the next start (the state directory's file). */
void fixture_developer_mode(struct fixture *f, bool on);

/* Paths of built programs. */
const char *build_path(const char *rel);

void fixture_init(struct fixture *f);
/*
 * Write bundle @dirname (e.g. "Test.dext") with identifier @id, the test
 * driver executable, and @personalities: the XML inside the
 * IOKitPersonalities <dict>.
 */
void fixture_add_bundle(struct fixture *f, const char *dirname, const char *id, const char *personalities);
/* Same with another executable of the build (e.g. "tests/testpci"). */
void fixture_add_bundle_exe(struct fixture *f, const char *dirname, const char *id, const char *exe,
			    const char *personalities);
/* Same with a whole Info.plist text and the executable to copy (NULL: none). */
void fixture_add_raw_bundle(struct fixture *f, const char *dirname, const char *info_plist, const char *exe);
/* The Services array content of the machine description. */
void fixture_set_machine(struct fixture *f, const char *services);
/* Services and Devices array contents. */
void fixture_set_machine_devices(struct fixture *f, const char *services, const char *devices);
/* Start udkd with extra arguments (NULL-terminated) and connect. */
void fixture_start(struct fixture *f, ...);
/* SIGTERM udkd and require a clean exit; closes the client. */
void fixture_stop(struct fixture *f);
/* Run udkctl with the fixture's runtime dir; returns malloc'ed stdout+stderr. */
char *fixture_udkctl(struct fixture *f, int *ret_status, const char *args);
/* udkd's log so far (malloc'ed). */
char *fixture_log(struct fixture *f);
/* True when udkd's log contains @needle within @timeout_ms (polled): a driver's log lines reach
 * udkd's log after its replies do, so a test that looks for one waits for it. */
bool fixture_wait_log(struct fixture *f, const char *needle, int timeout_ms);
/* Wait until a registered service of @class exists; returns its id. */
uint64_t fixture_wait_class(struct fixture *f, const char *class_name, int timeout_ms);
/* Poll @cond every 20 ms until true or @timeout_ms passes. */
bool fixture_poll(int timeout_ms, bool (*cond)(void *), void *data);
/* True when udkctl's output for @args contains @needle (polled). */
bool fixture_wait_output(struct fixture *f, const char *args, const char *needle, int timeout_ms);
/* Write @text to @path. */
void write_text(const char *path, const char *text);
/* Run a shell command; its output (malloc'ed) and, in @ret_status, its exit
 * status (128 when it did not exit). */
char *test_sh(int *ret_status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The test driver's selectors (tests/drivers/testdrv.c). */
enum {
	SEL_ECHO,
	SEL_ADD,
	SEL_SLEEP,
	SEL_GET_PID,
	SEL_CRASH,
	SEL_EDID,
	SEL_ASYNC_ADD,
	SEL_READ_CLIENT,
	SEL_FILL_OUT,
	SEL_SUM_IN,
	SEL_WRITE_RO,
	SEL_COPY,
	SEL_STREAM,
	SEL_LATE_WRITE,
	SEL_LATE_MEMORY,
	SEL_LATE_RESULT,
	SEL_POWER_MODE,
	SEL_POWER_STATE,
	SEL_SET_BUSY,
	SEL_REQUEST_POWER,
	SEL_GARBAGE,
	SEL_LEAK_FDS,
	SEL_EAT_MEMORY,
	SEL_EXIT,
};

/* A personality of the test driver, as XML, for fixture_add_bundle(). */
/* A device of the machine description running model @model. */
#define TEST_DEVICE(name, model, extra)                                                                        \
	"<dict><key>Name</key><string>" name "</string><key>Model</key><string>" model "</string>" extra "</dict>"

/* A personality of testpci on the pci-test model (vendor 0x1234, device 0x5544). */
#define TESTPCI_PERSONALITY(name, id, extra)                                                                   \
	"<key>" name "</key><dict>"                                                                            \
	"<key>IOUserClass</key><string>TestPciDriver</string>"                                                 \
	"<key>IOUserServerName</key><string>" id "</string>"                                                   \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                               \
	"<key>IOPCIPrimaryMatch</key><string>0x55441234</string>"                                              \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>TestPciUserClient</string></dict>" \
	extra "</dict>"

#define TEST_PERSONALITY(name, id, provider, extra)                                                            \
	"<key>" name "</key><dict>"                                                                            \
	"<key>CFBundleIdentifier</key><string>" id "</string>"                                                 \
	"<key>IOClass</key><string>IOUserService</string>"                                                     \
	"<key>IOUserClass</key><string>TestDriver</string>"                                                    \
	"<key>IOUserServerName</key><string>" id "</string>"                                                   \
	"<key>IOProviderClass</key><string>" provider "</string>"                                              \
	"<key>UserClientProperties</key><dict><key>IOClass</key><string>IOUserUserClient</string>"             \
	"<key>IOUserClass</key><string>TestUserClient</string></dict>" extra "</dict>"

#endif
