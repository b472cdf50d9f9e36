/* SPDX-License-Identifier: MIT */
/*
 * test-mistakes - the mistakes driver and app developers really make
 * (issue 20).  Each case makes one, then reads the surface the user looks
 * at through `udkctl --json` (or udkd's own stderr where udkd cannot start)
 * and asserts that one record there carries all three:
 *   - the named code ("code": "UDK_E_..." or an errno name);
 *   - the cause, naming the specific key, file, call, number or pid;
 *   - what to do ("fix", or the sentence's own instruction).
 * The record is the JSON object that holds the code, so a cause or a fix
 * somewhere else in the output does not count.
 */
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/buffer.h>

#include "fixture.h"
#include "test.h"

#define ID_A "org.udk.test.mistake"

/*
 * The JSON object around the first "code": "@code" in @json whose text also
 * contains @cause (malloc'ed), or NULL.  udkctl's JSON is udk_value_to_json's:
 * braces inside strings are escaped only as themselves, so count them
 * outside strings.
 */
static char *
record_with(const char *json, const char *code, const char *cause)
{
	char key[128];
	const char *at = json;

	snprintf(key, sizeof(key), "\"code\": \"%s\"", code);
	while ((at = strstr(at, key))) {
		const char *s = at, *e = at;
		int depth = 0;
		bool in_str = false;
		/* back to the opening brace of this object */
		for (s = at; s > json; s--) {
			if (*s == '}' )
				depth++;
			else if (*s == '{' && depth-- == 0)
				break;
		}
		depth = 0;
		for (e = s; *e; e++) {
			if (*e == '"' && e[-1] != '\\')
				in_str = !in_str;
			if (in_str)
				continue;
			if (*e == '{')
				depth++;
			else if (*e == '}' && --depth == 0)
				break;
		}
		char *obj = strndup(s, (size_t)(e - s + 1));
		if (obj && strstr(obj, cause))
			return obj;
		free(obj);
		at += strlen(key);
	}
	return NULL;
}

/* Assert @json has a record with @code, @cause and a non-empty "fix". */
static void
assert_record(const char *json, const char *code, const char *cause)
{
	char *rec = record_with(json, code, cause);

	if (!rec)
		FAIL("no record with code %s and cause \"%s\" in:\n%s", code, cause, json);
	if (!strstr(rec, "\"fix\": \"") || strstr(rec, "\"fix\": \"\""))
		FAIL("the %s record has no fix:\n%s", code, rec);
	free(rec);
}

/* udkctl --json drivers ID_A once @needle appears (polled), returned. */
static char *
drivers_json(struct fixture *f, const char *needle)
{
	if (needle && !fixture_wait_output(f, "--json drivers " ID_A, needle, 20000)) {
		char *out = fixture_udkctl(f, NULL, "--json drivers " ID_A);
		FAIL("udkctl --json drivers never showed \"%s\":\n%s", needle, out);
	}
	return fixture_udkctl(f, NULL, "--json drivers " ID_A);
}

/* A personality mistake: the bundle's diagnostic holds code, key and fix. */
static void
personality_mistake(const char *extra, const char *cause)
{
	struct fixture f;
	char *personality = NULL, *out;

	if (asprintf(&personality, TEST_PERSONALITY("A", ID_A, "IOUserResources", "%s"), extra) < 0)
		FAIL("oom");
	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A, personality);
	fixture_start(&f, NULL);
	out = drivers_json(&f, NULL);
	assert_record(out, "UDK_E_BAD_MANIFEST", cause);
	free(out);
	free(personality);
	fixture_stop(&f);
}

#define PERSONALITY_MISTAKE(name, extra, cause) \
	TEST(name)                               \
	{                                        \
		personality_mistake(extra, cause); \
	}

PERSONALITY_MISTAKE(probe_score_as_string, "<key>IOProbeScore</key><string>high</string>",
		    "\"key\": \"IOKitPersonalities.A.IOProbeScore\"")
PERSONALITY_MISTAKE(probe_score_over_32_bits, "<key>IOProbeScore</key><integer>99999999999</integer>",
		    "99999999999 does not fit in 32 bits")
PERSONALITY_MISTAKE(match_category_not_string, "<key>IOMatchCategory</key><integer>1</integer>",
		    "IOKitPersonalities.A.IOMatchCategory")
PERSONALITY_MISTAKE(property_match_as_string, "<key>IOPropertyMatch</key><string>x</string>",
		    "must be a <dict> of properties")
PERSONALITY_MISTAKE(name_match_as_integer, "<key>IONameMatch</key><integer>3</integer>",
		    "must be a <string> or an <array> of strings")
PERSONALITY_MISTAKE(resource_match_as_integer, "<key>IOResourceMatch</key><integer>3</integer>",
		    "IOKitPersonalities.A.IOResourceMatch")
PERSONALITY_MISTAKE(deadlines_as_string, "<key>UDKDeadlines</key><string>500</string>",
		    "must be a <dict> of milliseconds")
PERSONALITY_MISTAKE(deadline_entry_misspelt, "<key>UDKDeadlines</key><dict><key>Strat</key><integer>5</integer></dict>",
		    "Strat")
PERSONALITY_MISTAKE(idle_timeout_negative, "<key>UDKIdleTimeoutMs</key><integer>-5</integer>",
		    "IOKitPersonalities.A.UDKIdleTimeoutMs")
PERSONALITY_MISTAKE(one_process_as_string, "<key>IOUserServerOneProcess</key><string>yes</string>",
		    "must be <true/> or <false/>")
PERSONALITY_MISTAKE(merge_properties_as_string, "<key>IOProviderMergeProperties</key><string>x</string>",
		    "IOKitPersonalities.A.IOProviderMergeProperties")
PERSONALITY_MISTAKE(dext_entitlements_as_string, "<key>IOServiceDEXTEntitlements</key><string>x</string>",
		    "IOKitPersonalities.A.IOServiceDEXTEntitlements")

/* ---- the executable ---- */

static void
exe_path(struct fixture *f, char *buf, size_t len)
{
	snprintf(buf, len, "%s/A.dext/testdrv", f->bundles);
}

/* Patch @len bytes at @off of the bundle's copy of testdrv. */
static void
patch_exe(struct fixture *f, off_t off, const void *bytes, size_t len)
{
	char path[512];
	int fd;

	exe_path(f, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(pwrite(fd, bytes, len, off), (ssize_t)len);
	close(fd);
}

static void
exe_mistake(void (*make)(struct fixture *f), const char *code, const char *cause)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A, TEST_PERSONALITY("A", ID_A, "IOUserResources", ""));
	make(&f);
	fixture_start(&f, NULL);
	out = drivers_json(&f, NULL);
	/* the file is named, and it never ran */
	assert_record(out, code, "\"file\": \"testdrv\"");
	assert_record(out, code, cause);
	ASSERT_CONTAINS(out, "\"state\": \"invalid\"");
	ASSERT_CONTAINS(out, "\"crashes\": 0,");
	ASSERT_CONTAINS(out, "\"starts\": 0,");
	free(out);
	fixture_stop(&f);
}

static void
make_mode_0644(struct fixture *f)
{
	char path[512];

	exe_path(f, path, sizeof(path));
	ASSERT_OK(chmod(path, 0644));
}

static void
make_script_without_shebang(struct fixture *f)
{
	char path[512];

	exe_path(f, path, sizeof(path));
	write_text(path, "echo hello from a driver\n");
	ASSERT_OK(chmod(path, 0755));
}

static void
make_relative_interpreter(struct fixture *f)
{
	char path[512];

	exe_path(f, path, sizeof(path));
	write_text(path, "#!python3\nprint('x')\n");
	ASSERT_OK(chmod(path, 0755));
}

static void
make_foreign_machine(struct fixture *f)
{
	uint16_t m = EM_X86_64;

#if defined(__x86_64__)
	m = EM_AARCH64;
#endif
	patch_exe(f, offsetof(Elf64_Ehdr, e_machine), &m, sizeof(m));
}

static void
make_32_bit(struct fixture *f)
{
	uint8_t c = ELFCLASS32;

	patch_exe(f, EI_CLASS, &c, 1);
}

static void
make_object_file(struct fixture *f)
{
	uint16_t t = ET_REL;

	patch_exe(f, offsetof(Elf64_Ehdr, e_type), &t, sizeof(t));
}

static void
make_missing(struct fixture *f)
{
	char path[512];

	exe_path(f, path, sizeof(path));
	ASSERT_OK(unlink(path));
}

TEST(executable_mode_0644)
{
	exe_mistake(make_mode_0644, "UDK_E_BAD_MANIFEST", "is not executable: chmod +x");
}

TEST(executable_is_a_script_without_shebang)
{
	exe_mistake(make_script_without_shebang, "UDK_E_EXEC_FORMAT", "is a text file without a #! line");
}

TEST(executable_script_names_a_relative_interpreter)
{
	exe_mistake(make_relative_interpreter, "UDK_E_EXEC_FORMAT", "not an absolute path");
}

TEST(executable_for_another_machine)
{
#if !defined(__x86_64__) && !defined(__aarch64__)
	test_skip("the test patches an x86-64 or AArch64 build");
#endif
	exe_mistake(make_foreign_machine, "UDK_E_EXEC_FORMAT", "is an ELF program for");
}

TEST(executable_of_another_elf_class)
{
	exe_mistake(make_32_bit, "UDK_E_EXEC_FORMAT", "is a 32-bit little-endian ELF program");
}

TEST(executable_is_an_object_file)
{
	exe_mistake(make_object_file, "UDK_E_EXEC_FORMAT", "object file (.o), not a program");
}

TEST(executable_missing)
{
	exe_mistake(make_missing, "UDK_E_BAD_MANIFEST", "does not exist in A.dext");
}

/* ---- start, stop and running ---- */

static char *
behaviour_run(struct fixture *f, const char *behavior, const char *extra, const char *needle)
{
	char *personality = NULL;

	if (asprintf(&personality,
		     TEST_PERSONALITY("A", ID_A, "IOUserResources",
				      "<key>IOMatchCategory</key><string>T</string>"
				      "<key>TestBehavior</key><string>%s</string>%s"),
		     behavior, extra) < 0)
		FAIL("oom");
	fixture_init(f);
	fixture_add_bundle(f, "A.dext", ID_A, personality);
	free(personality);
	return NULL;
	(void)needle;
}

TEST(start_returns_an_error)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "fail-start", "", NULL);
	fixture_start(&f, NULL);
	out = drivers_json(&f, "last_failure");
	/* shown by udkctl drivers even though no instance is left */
	assert_record(out, "ENODEV", "Start() of TestDriver on IOUserResources returned ENODEV: the test device is "
				     "not there (fail-start)");
	assert_record(out, "ENODEV", "udkctl restart " ID_A);
	free(out);
	out = fixture_udkctl(&f, NULL, "drivers " ID_A);
	ASSERT_CONTAINS(out, "last failure (ENODEV) during start: Start() of TestDriver");
	ASSERT_CONTAINS(out, "what to do:");
	free(out);
	fixture_stop(&f);
}

TEST(user_class_the_executable_does_not_register)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   "<key>A</key><dict><key>IOClass</key><string>IOUserService</string>"
			   "<key>IOUserClass</key><string>TestDrivr</string>"
			   "<key>IOUserServerName</key><string>" ID_A "</string>"
			   "<key>IOProviderClass</key><string>IOUserResources</string>"
			   "<key>IOMatchCategory</key><string>T</string></dict>");
	fixture_start(&f, NULL);
	out = drivers_json(&f, "UDK_E_NO_SUCH_CLASS");
	/* the class, what the executable has, the nearest, the fix; udkd said so before any Start() */
	assert_record(out, "UDK_E_NO_SUCH_CLASS", "IOUserClass \\\"TestDrivr\\\" of personality A is not a class");
	assert_record(out, "UDK_E_NO_SUCH_CLASS", "TestUserClient");
	assert_record(out, "UDK_E_NO_SUCH_CLASS", "did you mean \\\"TestDriver\\\"?");
	assert_record(out, "UDK_E_NO_SUCH_CLASS", "Fix IOUserClass in Info.plist");
	assert_record(out, "UDK_E_NO_SUCH_CLASS", "`udkctl restart " ID_A "`");
	/* no crash, so no restart loop */
	ASSERT_CONTAINS(out, "\"crashes\": 0,");
	ASSERT_CONTAINS(out, "\"starts\": 0,");
	free(out);
	out = fixture_udkctl(&f, NULL, "drivers " ID_A);
	ASSERT_CONTAINS(out, "last failure (UDK_E_NO_SUCH_CLASS) during start");
	free(out);
	/* and why the personality does not run there */
	out = fixture_udkctl(&f, NULL, "explain " ID_A " /IOUserResources");
	ASSERT_CONTAINS(out, "UDK_E_NO_SUCH_CLASS: IOUserClass \"TestDrivr\"");
	/* never started, so not "its Start() failed" */
	ASSERT_CONTAINS(out, "but udkd did not start it on this service: UDK_E_NO_SUCH_CLASS: IOUserClass");
	ASSERT_FALSE(strstr(out, "Start() failed"));
	free(out);
	fixture_stop(&f);
}

TEST(start_past_its_deadline)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "hang-start", "<key>UDKDeadlines</key><dict><key>Start</key><integer>300</integer></dict>",
		      NULL);
	fixture_start(&f, "--crash-limit", "100", "--restart-base-ms", "1000", NULL);
	out = drivers_json(&f, "UDK_E_DEADLINE");
	assert_record(out, "UDK_E_DEADLINE", "Start() of TestDriver on IOUserResources did not return within 300 ms");
	free(out);
	/* and the text never calls it a bare SIGKILL */
	out = fixture_udkctl(&f, NULL, "drivers " ID_A);
	ASSERT_CONTAINS(out, "UDK_E_DEADLINE during start: killed by udkd: deadline: Start() of TestDriver");
	ASSERT_NOT_CONTAINS(out, "SIGKILL");
	free(out);
	fixture_stop(&f);
}

TEST(start_crashes)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "crash-start", "", NULL);
	fixture_start(&f, "--crash-limit", "100", "--restart-base-ms", "1000", NULL);
	out = drivers_json(&f, "\"phase\": \"start\"");
	assert_record(out, "UDK_E_DRIVER_DIED", "the driver crashed: SIGABRT");
	assert_record(out, "UDK_E_DRIVER_DIED", "udkctl debug " ID_A);
	/* the signal and what the driver said last, in the history entry itself */
	assert_record(out, "UDK_E_DRIVER_DIED", "\"signal\": \"ABRT\"");
	/* (under ASan the last lines are the sanitizer's report of the abort, not testdrv's own) */
	assert_record(out, "UDK_E_DRIVER_DIED", "during start; its last output: \\\"");
/* the drivers are built with the sanitizers too: their aborts end with ASan's report */
#if !UNDER_ASAN
	assert_record(out, "UDK_E_DRIVER_DIED", "its last output: \\\"testdrv starting on IOUserResources as crash-start");
#endif
	assert_record(out, "UDK_E_DRIVER_DIED", "\"last_lines\": [");
	free(out);
	fixture_stop(&f);
}

TEST(start_exits)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "exit-start", "", NULL);
	fixture_start(&f, "--crash-limit", "100", "--restart-base-ms", "1000", NULL);
	out = drivers_json(&f, "\"phase\": \"start\"");
	assert_record(out, "UDK_E_DRIVER_DIED", "the driver exited with status 3 during start");
	free(out);
	fixture_stop(&f);
}

TEST(default_queue_blocks_and_the_watchdog_kills)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "hang-later", "", NULL);
	fixture_start(&f, "--watchdog-ms", "200", "--crash-limit", "100", "--restart-base-ms", "1000", NULL);
	out = drivers_json(&f, "watchdog:");
	assert_record(out, "UDK_E_DEADLINE", "default queue did not answer udkd's ping within 200 ms");
	free(out);
	fixture_stop(&f);
}

TEST(driver_writes_garbage_to_udkd)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "garbage", "", NULL);
	fixture_start(&f, "--crash-limit", "100", "--restart-base-ms", "1000", NULL);
	out = drivers_json(&f, "UDK_E_PROTOCOL");
	assert_record(out, "UDK_E_PROTOCOL", "sent a malformed message");
	free(out);
	fixture_stop(&f);
}

TEST(crash_loop_disables_with_the_code_of_the_last_kill)
{
	struct fixture f;
	char *out;

	behaviour_run(&f, "hang-start", "<key>UDKDeadlines</key><dict><key>Start</key><integer>200</integer></dict>",
		      NULL);
	fixture_start(&f, "--crash-limit", "2", "--restart-base-ms", "20", NULL);
	out = drivers_json(&f, "\"state\": \"disabled\"");
	ASSERT_CONTAINS(out, "last: UDK_E_DEADLINE, killed by udkd: deadline: Start() of TestDriver");
	ASSERT_CONTAINS(out, "udkctl restart " ID_A);
	free(out);
	fixture_stop(&f);
}

/* ---- daemon setup ---- */

TEST(second_udkd_on_the_same_runtime_directory)
{
	struct fixture f;
	char cmd[2048], *out = NULL, pid[32];
	size_t len = 0;
	FILE *p, *mem;
	int st;

	fixture_init(&f);
	fixture_start(&f, NULL);
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --bundles %s --machine %s --state-dir %s 2>&1",
		 build_path("daemon/udkd"), f.runtime, f.bundles, f.machine, f.state);
	p = popen(cmd, "re");
	ASSERT_NOT_NULL(p);
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	st = pclose(p);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	snprintf(pid, sizeof(pid), "(pid %d)", (int)f.udkd);
	ASSERT_CONTAINS(out, "UDK_E_ALREADY_RUNNING");
	ASSERT_CONTAINS(out, pid);
	ASSERT_CONTAINS(out, "--runtime-dir DIR");
	free(out);
	fixture_stop(&f);
}

TEST(udkctl_pointed_at_a_runtime_directory_without_udkd)
{
	struct fixture f;
	char args[600], *out;
	int st;

	fixture_init(&f);
	snprintf(args, sizeof(args), "--json --runtime-dir %s/nowhere status", f.dir);
	/* fixture_udkctl adds the fixture's own --runtime-dir first; the later one wins */
	out = fixture_udkctl(&f, &st, args);
	ASSERT_EQ(st, 1);
	ASSERT_CONTAINS(out, "\"error\": \"UDK_E_DAEMON_UNREACHABLE\"");
	ASSERT_CONTAINS(out, "/nowhere");
	ASSERT_CONTAINS(out, "\"fix\": \"Start udkd, or point UDK_RUNTIME_DIR");
	free(out);
}

TEST(udkctl_errors_explains_a_code)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	out = fixture_udkctl(&f, &st, "--json errors DEADLINE");
	ASSERT_EQ(st, 0);
	assert_record(out, "UDK_E_DEADLINE", "\"when\": \"A driver did not return from a call");
	free(out);
	out = fixture_udkctl(&f, &st, "errors NO_SUCH_CODE");
	ASSERT_EQ(st, 1);
	ASSERT_CONTAINS(out, "is not a udk error code");
	free(out);
}

/* ---- matching and load-time checks ---- */

static void
provider_typo(void)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResoruces", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_start(&f, NULL);
	out = drivers_json(&f, NULL);
	assert_record(out, "UDK_E_BAD_MANIFEST", "\\\"IOUserResoruces\\\" is not a class udk or its families "
						 "register (did you mean \\\"IOUserResources\\\"?)");
	assert_record(out, "UDK_E_BAD_MANIFEST", "\"key\": \"IOKitPersonalities.A.IOProviderClass\"");
	free(out);
	fixture_stop(&f);
}

TEST(provider_class_one_letter_off_gets_a_did_you_mean)
{
	provider_typo();
}

TEST(executable_needs_a_library_the_sandbox_hides)
{
	struct fixture f;
	char *out, *log;

	fixture_init(&f);
	fixture_add_bundle_exe(&f, "A.dext", ID_A, "tests/testdyn",
			       "<key>A</key><dict><key>IOClass</key><string>IOUserService</string>"
			       "<key>IOUserClass</key><string>DynDriver</string>"
			       "<key>IOUserServerName</key><string>" ID_A "</string>"
			       "<key>IOProviderClass</key><string>IOUserResources</string>"
			       "<key>IOMatchCategory</key><string>D</string></dict>");
	fixture_start(&f, NULL);
	log = fixture_log(&f);
	if (strstr(log, "this kernel has no landlock")) {
		free(log);
		fixture_stop(&f);
		test_skip("no landlock: the sandbox hides no library, so there is nothing to catch");
	}
	free(log);
	out = drivers_json(&f, NULL);
	/* caught at load, with the library, where it was found and the fix; never launched */
	assert_record(out, "UDK_E_LIBRARY", "needs the shared library libudk-driver.so.0, which its RUNPATH finds in");
	assert_record(out, "UDK_E_LIBRARY", "\"file\": \"testdyn\"");
	assert_record(out, "UDK_E_LIBRARY", "Link it statically");
	ASSERT_CONTAINS(out, "\"state\": \"invalid\"");
	ASSERT_CONTAINS(out, "\"starts\": 0,");
	free(out);
	fixture_stop(&f);
}

/* ---- signing (developer mode off) ---- */

/* Key @name in the fixture's directory; its id (malloc'ed). */
static char *
keygen(struct fixture *f, const char *name)
{
	int st;
	char *out = test_sh(&st, "%s keygen --comment 'key %s' %s/%s 2>&1", build_path("tools/udk-sign"), name, f->dir, name);

	if (st != 0)
		FAIL("keygen: %s", out);
	free(out);
	out = test_sh(&st, "%s key-id %s/%s.public", build_path("tools/udk-sign"), f->dir, name);
	if (st != 0)
		FAIL("key-id: %s", out);
	out[strcspn(out, " \n")] = 0;
	return out;
}

static void
sign_bundle(struct fixture *f, const char *key)
{
	int st;
	char *out = test_sh(&st, "%s sign --key %s/%s.secret %s/A.dext 2>&1", build_path("tools/udk-sign"), f->dir, key,
		       f->bundles);

	if (st != 0)
		FAIL("sign: %s", out);
	free(out);
}

static char *
udkctl_ok(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
udkctl_ok(struct fixture *f, const char *fmt, ...)
{
	char args[800];
	va_list ap;
	int st;
	char *out;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	out = fixture_udkctl(f, &st, args);
	if (st != 0)
		FAIL("udkctl %s: %s", args, out);
	return out;
}

static void
signed_bundle(struct fixture *f)
{
	fixture_init(f);
	fixture_developer_mode(f, false);
	fixture_add_bundle(f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_bundle_file(f, "A.dext", "firmware.bin", "firmware version 1\n");
}

TEST(signed_by_a_key_udkd_does_not_trust)
{
	struct fixture f;
	char *id, *out;

	signed_bundle(&f);
	id = keygen(&f, "stranger");
	sign_bundle(&f, "stranger");
	fixture_start(&f, NULL);
	out = drivers_json(&f, "UDK_E_UNTRUSTED_KEY");
	assert_record(out, "UDK_E_UNTRUSTED_KEY", id);
	assert_record(out, "UDK_E_UNTRUSTED_KEY", "udkctl trust add KEY.public");
	free(out);
	free(id);
	fixture_stop(&f);
}

TEST(a_file_changed_after_signing)
{
	struct fixture f;
	char path[600], *id, *out;

	signed_bundle(&f);
	id = keygen(&f, "vendor");
	sign_bundle(&f, "vendor");
	fixture_start(&f, NULL);
	free(udkctl_ok(&f, "trust add %s/vendor.public", f.dir));
	ASSERT_NE(fixture_wait_class(&f, "TestDriver", 10000), 0);
	/* an edit inside the running bundle: noticed without `udkctl rescan` (issue 18 point 3) */
	snprintf(path, sizeof(path), "%s/A.dext/firmware.bin", f.bundles);
	write_text(path, "firmware version 2, not the one signed\n");
	out = drivers_json(&f, "UDK_E_BAD_SIGNATURE");
	assert_record(out, "UDK_E_BAD_SIGNATURE", "\"file\": \"firmware.bin\"");
	free(out);
	free(id);
	fixture_stop(&f);
}

TEST(trust_in_the_signing_key_removed)
{
	struct fixture f;
	char *id, *out;

	signed_bundle(&f);
	id = keygen(&f, "vendor");
	sign_bundle(&f, "vendor");
	fixture_start(&f, NULL);
	free(udkctl_ok(&f, "trust add %s/vendor.public", f.dir));
	ASSERT_NE(fixture_wait_class(&f, "TestDriver", 10000), 0);
	free(udkctl_ok(&f, "trust remove %s", id));
	out = drivers_json(&f, "UDK_E_UNTRUSTED_KEY");
	assert_record(out, "UDK_E_UNTRUSTED_KEY", id);
	free(out);
	free(id);
	fixture_stop(&f);
}

/* ---- user-client calls and memory: the app's error is its surface ---- */

/*
 * The app's error: the code, a reason naming @cause, and the fix for the
 * code in the one table (what `udkctl --json errors CODE` shows).
 */
static void
assert_app_error(struct fixture *f, int r, int code, const char *cause)
{
	char args[128], *out;

	ASSERT_ERR(r, code);
	ASSERT_NOT_NULL(udk_error_reason());
	ASSERT_CONTAINS(udk_error_reason(), cause);
	snprintf(args, sizeof(args), "--json errors %s", udk_error_name(code));
	out = udkctl_ok(f, "%s", args);
	assert_record(out, udk_error_name(code), "\"when\": \"");
	free(out);
}

static struct udk_connection *
open_testdrv(struct fixture *f)
{
	struct udk_connection *c = NULL;
	uint64_t id;

	fixture_init(f);
	fixture_add_bundle(f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources", "<key>IOMatchCategory</key><string>T</string>"));
	fixture_start(f, NULL);
	id = fixture_wait_class(f, "TestDriver", 10000);
	ASSERT_OK(udk_client_open(f->client, id, 0, &c));
	return c;
}

TEST(call_of_a_selector_the_driver_does_not_have)
{
	struct fixture f;
	struct udk_connection *c = open_testdrv(&f);

	/* did-you-mean for selectors: the reason lists the ones there are */
	assert_app_error(&f, udk_connection_call(c, 99, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL),
			 -UDK_E_UNKNOWN_SELECTOR,
			 "selector 99 is not implemented by TestUserClient; its selectors are 0 (Echo), 1 (Add), 2 (Sleep)");
	udk_connection_unref(c);
	fixture_stop(&f);
}

TEST(call_with_a_structure_of_the_wrong_size)
{
	struct fixture f;
	struct udk_connection *c = open_testdrv(&f);
	uint8_t three[3] = { 1, 2, 3 };

	assert_app_error(&f, udk_connection_call(c, SEL_EDID, NULL, 0, three, sizeof(three), NULL, NULL, NULL, NULL),
			 -UDK_E_STRUCT_SIZE, "selector 5 (GetEdid): structure input is 3 bytes, the driver expects 16");
	udk_connection_unref(c);
	fixture_stop(&f);
}

TEST(memory_descriptor_out_of_bounds)
{
	struct fixture f;
	struct udk_connection *c = open_testdrv(&f);
	struct {
		uint64_t size, uaddr;
	} edid = { 64, 0x10 };
	struct udk_memory_range rg = { (const void *)(uintptr_t)edid.uaddr, edid.size, UDK_MEMORY_DIRECTION_INOUT };
	struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = &edid, .struct_input_size = sizeof(edid),
				   .ranges = &rg, .n_ranges = 1 };

	assert_app_error(&f, udk_connection_call_args(c, SEL_EDID, &a), -UDK_E_BAD_ADDRESS,
			 "is not readable memory of the app");
	udk_connection_unref(c);
	fixture_stop(&f);
}

/* ---- power ---- */

TEST(set_power_state_never_acknowledged)
{
	struct fixture f;
	struct udk_connection *c;
	uint64_t mode = 1, id;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "A.dext", ID_A,
			   TEST_PERSONALITY("A", ID_A, "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"
					    "<key>UDKDeadlines</key><dict><key>SetPowerState</key><integer>200</integer></dict>"));
	fixture_start(&f, "--crash-limit", "100", NULL);
	id = fixture_wait_class(&f, "TestDriver", 10000);
	ASSERT_OK(udk_client_open(f.client, id, 0, &c));
	ASSERT_OK(udk_connection_call(c, SEL_POWER_MODE, &mode, 1, NULL, 0, NULL, NULL, NULL, NULL));
	free(udkctl_ok(&f, "system sleep"));
	out = udkctl_ok(&f, "--json power");
	/* the missed deadline: which driver, which service, which change, how long udkd waited */
	assert_record(out, "UDK_E_POWER_TIMEOUT", "\"driver\": \"" ID_A "\",\n      \"path\": \"/IOUserResources/TestDriver\"");
	assert_record(out, "UDK_E_POWER_TIMEOUT", "\"from\": \"on\",\n      \"to\": \"off\",\n      \"kind\": \"sleep\"");
	free(out);
	udk_connection_unref(c);
	fixture_stop(&f);
}

/* ---- simulation ---- */

/* An error reply of `udkctl --json`: the code, a message naming @cause, a fix. */
static void
assert_error_json(const char *json, const char *code, const char *cause)
{
	char key[128];

	snprintf(key, sizeof(key), "\"error\": \"%s\"", code);
	ASSERT_CONTAINS(json, key);
	ASSERT_CONTAINS(json, cause);
	ASSERT_CONTAINS(json, "\"fix\": \"");
}

TEST(machine_file_names_a_model_that_does_not_exist)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", TEST_DEVICE("pcitest0", "pci-tst", ""));
	fixture_start(&f, NULL);
	out = udkctl_ok(&f, "--json sim list");
	/* the directories searched and the nearest model's name */
	assert_record(out, "UDK_E_NO_SUCH_DEVICE", "no executable device model \\\"pci-tst\\\" in the model "
						   "directories searched (");
	assert_record(out, "UDK_E_NO_SUCH_DEVICE", "did you mean \\\"pci-test\\\"?");
	assert_record(out, "UDK_E_NO_SUCH_DEVICE", "/models");
	free(out);
	fixture_stop(&f);
}

TEST(sim_plug_of_a_device_that_is_plugged)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", TEST_DEVICE("pcitest0", "pci-test", ""));
	fixture_start(&f, NULL);
	ASSERT_NE(fixture_wait_class(&f, "IOPCIDevice", 10000), 0);
	out = fixture_udkctl(&f, &st, "--json sim plug pcitest0");
	ASSERT_EQ(st, 1);
	assert_error_json(out, "UDK_E_ALREADY_PLUGGED", "device pcitest0 is already plugged in: its model pci-test runs as pid");
	free(out);
	fixture_stop(&f);
}

TEST(sim_plug_of_a_device_name_misspelt)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", TEST_DEVICE("pcitest0", "pci-test", ""));
	fixture_start(&f, NULL);
	out = fixture_udkctl(&f, &st, "--json sim plug pcitset0");
	ASSERT_EQ(st, 1);
	assert_error_json(out, "UDK_E_NO_SUCH_DEVICE", "no device \\\"pcitset0\\\" in the machine description (did you "
						       "mean \\\"pcitest0\\\"?); its devices are: pcitest0");
	free(out);
	fixture_stop(&f);
}

/* ---- daemon setup ---- */

TEST(udk_runtime_dir_names_a_directory_that_does_not_exist)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	/* the app's (and udkctl's) own default: UDK_RUNTIME_DIR, no --runtime-dir */
	out = test_sh(&st, "UDK_RUNTIME_DIR=%s/not-there %s --json status 2>/dev/null", f.dir,
		 build_path("tools/udkctl"));
	ASSERT_EQ(st, 1);
	assert_error_json(out, "UDK_E_DAEMON_UNREACHABLE", "/not-there (from UDK_RUNTIME_DIR) does not exist");
	ASSERT_CONTAINS(out, "set UDK_RUNTIME_DIR to the directory udkd uses");
	free(out);
}
