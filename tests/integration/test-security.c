/* SPDX-License-Identifier: MIT */
/*
 * Signing, trust, entitlements and access grants, end to end: every
 * refusal with its code and its sentence, and other drivers unaffected.
 *
 * udkd runs in production mode here (developer mode off) unless a test
 * turns it on; bundles are signed with keys made by udk-sign.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define ID_GOOD "org.udk.test.good"
#define ID_BAD "org.udk.test.bad"

static const char *
sign_tool(void)
{
	return build_path("tools/udk-sign");
}

/* Make key @name in the fixture directory. */
static void
keygen(struct fixture *f, const char *name)
{
	int st;
	char *out = test_sh(&st, "%s keygen --comment 'test key %s' %s/%s 2>&1", sign_tool(), name, f->dir, name);
	if (st != 0)
		FAIL("keygen: %s", out);
	free(out);
}

static void
sign(struct fixture *f, const char *key, const char *bundle)
{
	int st;
	char *out = test_sh(&st, "%s sign --key %s/%s.secret %s/%s 2>&1", sign_tool(), f->dir, key, f->bundles, bundle);
	if (st != 0)
		FAIL("sign %s: %s", bundle, out);
	free(out);
}

static void
trust(struct fixture *f, const char *key)
{
	char args[600];
	int st;
	char *out;

	snprintf(args, sizeof(args), "trust add %s/%s.public", f->dir, key);
	out = fixture_udkctl(f, &st, args);
	if (st != 0)
		FAIL("trust add: %s", out);
	free(out);
}

/* Two drivers on IOUserResources in their own categories. */
static void
two_bundles(struct fixture *f)
{
	fixture_init(f);
	fixture_developer_mode(f, false);
	fixture_add_bundle(f, "Good.dext", ID_GOOD,
			   TEST_PERSONALITY("G", ID_GOOD, "IOUserResources", "<key>IOMatchCategory</key><string>G</string>"));
	fixture_add_bundle(f, "Bad.dext", ID_BAD,
			   TEST_PERSONALITY("B", ID_BAD, "IOUserResources", "<key>IOMatchCategory</key><string>B</string>"));
	fixture_bundle_file(f, "Bad.dext", "firmware.bin", "firmware version 1\n");
}

static bool
running(struct fixture *f, const char *id)
{
	char args[300];
	snprintf(args, sizeof(args), "drivers %s", id);
	return fixture_wait_output(f, args, "running, pid", 10000);
}

static void
expect_output(struct fixture *f, const char *args, const char *needle)
{
	int st;
	char *out;

	if (fixture_wait_output(f, args, needle, 10000))
		return;
	out = fixture_udkctl(f, &st, args);
	FAIL("`udkctl %s` does not say \"%s\":\n%s", args, needle, out);
}

TEST(a_changed_file_is_refused_by_name_and_other_drivers_keep_running)
{
	struct fixture f;
	char path[600], *log;

	two_bundles(&f);
	keygen(&f, "vendor");
	sign(&f, "vendor", "Good.dext");
	sign(&f, "vendor", "Bad.dext");
	/* one changed byte after signing */
	snprintf(path, sizeof(path), "%s/Bad.dext/firmware.bin", f.bundles);
	write_text(path, "firmware version 2\n");
	fixture_start(&f, NULL);
	trust(&f, "vendor");

	ASSERT_TRUE(running(&f, ID_GOOD));
	expect_output(&f, "drivers " ID_BAD, "refused (UDK_E_BAD_SIGNATURE)");
	expect_output(&f, "drivers " ID_BAD, "firmware.bin");
	expect_output(&f, "drivers " ID_BAD, "changed");
	/* explain reproduces it */
	expect_output(&f, "explain " ID_BAD " /IOUserResources", "UDK_E_BAD_SIGNATURE");
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "refused");
	ASSERT_CONTAINS(log, "firmware.bin");
	free(log);

	/* tampering with a running driver's bundle: the rescan refuses it and stops it */
	snprintf(path, sizeof(path), "%s/Good.dext/Info.plist", f.bundles);
	{
		FILE *fp = fopen(path, "a");
		ASSERT_NOT_NULL(fp);
		fputs("<!-- changed -->\n", fp);
		fclose(fp);
	}
	free(fixture_udkctl(&f, NULL, "rescan"));
	expect_output(&f, "drivers " ID_GOOD, "refused (UDK_E_BAD_SIGNATURE)");
	expect_output(&f, "drivers " ID_GOOD, "Info.plist");
	ASSERT_FALSE(fixture_wait_output(&f, "drivers " ID_GOOD, "running, pid", 300));
	fixture_stop(&f);
}

TEST(added_and_removed_files_and_a_truncated_signature_are_refused)
{
	struct fixture f;
	char path[600];

	two_bundles(&f);
	fixture_add_bundle(&f, "Trunc.dext", "org.udk.test.trunc",
			   TEST_PERSONALITY("T", "org.udk.test.trunc", "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"));
	keygen(&f, "vendor");
	sign(&f, "vendor", "Good.dext");
	sign(&f, "vendor", "Bad.dext");
	sign(&f, "vendor", "Trunc.dext");
	snprintf(path, sizeof(path), "%s/Bad.dext/firmware.bin", f.bundles);
	ASSERT_OK(unlink(path));
	snprintf(path, sizeof(path), "%s/Bad.dext/extra.bin", f.bundles);
	write_text(path, "added later\n");
	snprintf(path, sizeof(path), "%s/Trunc.dext/_UDKSignature/CodeSignature", f.bundles);
	ASSERT_OK(truncate(path, 20));
	fixture_start(&f, NULL);
	trust(&f, "vendor");

	ASSERT_TRUE(running(&f, ID_GOOD));
	expect_output(&f, "drivers " ID_BAD, "UDK_E_BAD_SIGNATURE");
	expect_output(&f, "drivers " ID_BAD, "extra.bin");
	expect_output(&f, "drivers org.udk.test.trunc", "UDK_E_BAD_SIGNATURE");
	expect_output(&f, "drivers org.udk.test.trunc", "an ed25519 signature has 64");
	fixture_stop(&f);
}

TEST(a_key_udkd_does_not_trust_is_refused_until_trusted_and_removal_stops_it)
{
	struct fixture f;
	char *out, args[300];
	int st;

	two_bundles(&f);
	keygen(&f, "vendor");
	keygen(&f, "stranger");
	sign(&f, "vendor", "Good.dext");
	sign(&f, "stranger", "Bad.dext");
	fixture_start(&f, NULL);
	trust(&f, "vendor");

	ASSERT_TRUE(running(&f, ID_GOOD));
	expect_output(&f, "drivers " ID_BAD, "refused (UDK_E_UNTRUSTED_KEY)");
	expect_output(&f, "drivers " ID_BAD, "which udkd does not trust");
	expect_output(&f, "drivers " ID_BAD, "udkctl trust add");

	/* the user decides to trust the stranger's project: no one else involved */
	trust(&f, "stranger");
	ASSERT_TRUE(running(&f, ID_BAD));
	out = fixture_udkctl(&f, &st, "trust list");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "test key stranger");
	ASSERT_CONTAINS(out, "signs " ID_BAD);
	free(out);

	/* and changes their mind: the running driver stops */
	out = test_sh(&st, "%s key-id %s/stranger.public | cut -d' ' -f1", sign_tool(), f.dir);
	out[strcspn(out, "\n")] = 0;
	snprintf(args, sizeof(args), "trust remove %s", out);
	free(out);
	out = fixture_udkctl(&f, &st, args);
	ASSERT_EQ(st, 0);
	free(out);
	expect_output(&f, "drivers " ID_BAD, "refused (UDK_E_UNTRUSTED_KEY)");
	ASSERT_FALSE(fixture_wait_output(&f, "drivers " ID_BAD, "running, pid", 300));
	ASSERT_TRUE(running(&f, ID_GOOD));
	fixture_stop(&f);
}

TEST(unsigned_bundles_run_only_in_developer_mode)
{
	struct fixture f;
	char *out;
	int st;

	two_bundles(&f);
	fixture_start(&f, NULL);
	expect_output(&f, "drivers " ID_BAD, "refused (UDK_E_UNSIGNED)");
	expect_output(&f, "drivers " ID_BAD, "udk-sign sign --key");
	expect_output(&f, "explain " ID_BAD " /IOUserResources", "UDK_E_UNSIGNED");

	out = fixture_udkctl(&f, &st, "developer on");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "developer mode ON");
	free(out);
	ASSERT_TRUE(running(&f, ID_BAD));
	ASSERT_TRUE(running(&f, ID_GOOD));

	out = fixture_udkctl(&f, &st, "developer off");
	ASSERT_EQ(st, 0);
	free(out);
	expect_output(&f, "drivers " ID_BAD, "refused (UDK_E_UNSIGNED)");
	ASSERT_FALSE(fixture_wait_output(&f, "drivers " ID_BAD, "running, pid", 300));
	fixture_stop(&f);
}

TEST(entitlements_with_wrong_types_or_without_driverkit_are_refused_precisely)
{
	struct fixture f;

	two_bundles(&f);
	fixture_developer_mode(&f, true);
	fixture_bundle_file(&f, "Bad.dext", "Entitlements.plist",
			    "<plist version=\"1.0\"><dict>"
			    "<key>com.apple.developer.driverkit</key><string>yes</string>"
			    "<key>com.apple.developer.driverkit.transport.pci</key><dict/>"
			    "</dict></plist>\n");
	fixture_add_bundle(&f, "NoKit.dext", "org.udk.test.nokit",
			   TEST_PERSONALITY("N", "org.udk.test.nokit", "IOUserResources",
					    "<key>IOMatchCategory</key><string>N</string>"));
	fixture_bundle_file(&f, "NoKit.dext", "Entitlements.plist",
			    "<plist version=\"1.0\"><dict>"
			    "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>"
			    "</dict></plist>\n");
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_GOOD));
	expect_output(&f, "drivers " ID_BAD,
		      "Entitlements.plist com.apple.developer.driverkit: must be <true/> or <false/>, not string");
	expect_output(&f, "drivers " ID_BAD, "com.apple.developer.driverkit.transport.pci");
	expect_output(&f, "drivers " ID_BAD, ": invalid");
	expect_output(&f, "drivers org.udk.test.nokit", "refused (UDK_E_ENTITLEMENT)");
	expect_output(&f, "drivers org.udk.test.nokit", "lacks the entitlement com.apple.developer.driverkit");
	fixture_stop(&f);
}

TEST(a_symlink_out_of_the_bundle_is_refused_by_signer_and_daemon)
{
	struct fixture f;
	char path[600], *out;
	int st;

	two_bundles(&f);
	keygen(&f, "vendor");
	sign(&f, "vendor", "Good.dext");
	snprintf(path, sizeof(path), "%s/Bad.dext/secrets", f.bundles);
	ASSERT_OK(symlink("/etc/shadow", path));
	/* the signer will not sign it */
	out = test_sh(&st, "%s sign --key %s/vendor.secret %s/Bad.dext 2>&1", sign_tool(), f.dir, f.bundles);
	ASSERT_NE(st, 0);
	ASSERT_CONTAINS(out, "secrets");
	ASSERT_CONTAINS(out, "pointing out of the bundle");
	free(out);
	/* signed before the link appeared: udkd names it */
	ASSERT_OK(unlink(path));
	sign(&f, "vendor", "Bad.dext");
	ASSERT_OK(symlink("/etc/shadow", path));
	fixture_start(&f, NULL);
	trust(&f, "vendor");
	ASSERT_TRUE(running(&f, ID_GOOD));
	expect_output(&f, "drivers " ID_BAD, "UDK_E_BAD_SIGNATURE");
	expect_output(&f, "drivers " ID_BAD, "secrets");
	fixture_stop(&f);
}

/* testpci on the pci-test model (vendor 0x1234, device 0x5544) */
static void
pci_env(struct fixture *f, const char *entitlement_match)
{
	char ent[1024];

	fixture_init(f);
	fixture_set_machine_devices(f, "", TEST_DEVICE("pcitest0", "pci-test",
						       "<key>Location</key><string>00:05.0</string>"));
	fixture_add_bundle_exe(f, "Pci.dext", "org.udk.test.pci", "tests/testpci",
			       TESTPCI_PERSONALITY("P", "org.udk.test.pci", ""));
	snprintf(ent, sizeof(ent),
		 "<plist version=\"1.0\"><dict>"
		 "<key>com.apple.developer.driverkit</key><true/>"
		 "<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"
		 "<key>IOPCIPrimaryMatch</key><string>%s</string></dict></array>"
		 "</dict></plist>\n",
		 entitlement_match);
	fixture_bundle_file(f, "Pci.dext", "Entitlements.plist", ent);
}

TEST(pci_entitlements_bound_matching_and_wildcards_need_developer_mode)
{
	struct fixture f;
	char *out;
	int st;

	/* the personality claims 0x55441234; the signed entitlement allows 0x22221111 */
	pci_env(&f, "0x22221111");
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "IOPCIDevice", 10000);
	expect_output(&f, "explain org.udk.test.pci /PCI0/pcitest0", "UDK_E_ENTITLEMENT");
	expect_output(&f, "explain org.udk.test.pci /PCI0/pcitest0",
		      "transport.pci in Entitlements.plist does not cover device 0x5544 vendor 0x1234");
	ASSERT_FALSE(fixture_wait_output(&f, "drivers org.udk.test.pci", "running, pid", 300));
	fixture_stop(&f);

	/* a development wildcard: refused in production, honoured in developer mode */
	pci_env(&f, "*");
	fixture_developer_mode(&f, false);
	keygen(&f, "vendor");
	sign(&f, "vendor", "Pci.dext");
	fixture_start(&f, NULL);
	trust(&f, "vendor");
	fixture_wait_class(&f, "IOPCIDevice", 10000);
	expect_output(&f, "explain org.udk.test.pci /PCI0/pcitest0", "development wildcard");
	expect_output(&f, "explain org.udk.test.pci /PCI0/pcitest0", "UDK_E_ENTITLEMENT");
	out = fixture_udkctl(&f, &st, "developer on");
	free(out);
	ASSERT_TRUE(running(&f, "org.udk.test.pci"));
	fixture_stop(&f);
}

static const char *
self_exe(void)
{
	static char buf[512];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		FAIL("readlink /proc/self/exe: %m");
	buf[n] = 0;
	return buf;
}

static int
call_pid(struct udk_connection *c, uint64_t *pid)
{
	uint32_t n = 1;
	return udk_connection_call(c, SEL_GET_PID, NULL, 0, NULL, 0, pid, &n, NULL, NULL);
}

TEST(user_clients_need_a_grant_and_a_revoke_cuts_the_open_connection)
{
	struct fixture f;
	struct udk_connection *conn = NULL, *other = NULL;
	uint64_t id, pid = 0;
	char args[900], *out;
	int st, r;

	two_bundles(&f);
	fixture_developer_mode(&f, true);
	/* Bad.dext: no allow-any-userclient-access */
	fixture_bundle_file(&f, "Bad.dext", "Entitlements.plist",
			    "<plist version=\"1.0\"><dict><key>com.apple.developer.driverkit</key><true/>"
			    "</dict></plist>\n");
	ASSERT_OK(unlink(strcat(strcpy(args, f.bundles), "/Bad.dext/firmware.bin")));
	fixture_start(&f, NULL);
	ASSERT_TRUE(running(&f, ID_BAD));
	ASSERT_TRUE(running(&f, ID_GOOD));

	/* the open driver: anyone */
	{
		struct udk_value *m = udk_value_new_dict();
		udk_dict_set_string(m, "CFBundleIdentifier", ID_GOOD);
		ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &id));
		udk_value_unref(m);
		ASSERT_OK(udk_client_open(f.client, id, 0, &other));
	}
	{
		struct udk_value *m = udk_value_new_dict();
		udk_dict_set_string(m, "CFBundleIdentifier", ID_BAD);
		ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &id));
		udk_value_unref(m);
	}
	r = udk_client_open(f.client, id, 0, &conn);
	ASSERT_EQ(r, -UDK_E_NOT_PERMITTED);
	ASSERT_CONTAINS(udk_error_reason(), "may not open user clients of " ID_BAD);
	ASSERT_CONTAINS(udk_error_reason(), "udkctl access grant " ID_BAD " ");
	ASSERT_CONTAINS(udk_error_reason(), self_exe());
	test_log("refused: %s", udk_error_reason());

	/* the refusal is a request the user can see, and answer */
	expect_output(&f, "access list", "requests (refused):");
	expect_output(&f, "access list " ID_BAD, self_exe());
	snprintf(args, sizeof(args), "access explain %s %s", ID_BAD, self_exe());
	expect_output(&f, args, "refused (UDK_E_NOT_PERMITTED)");
	snprintf(args, sizeof(args), "access grant %s %s", ID_BAD, self_exe());
	out = fixture_udkctl(&f, &st, args);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "granted");
	free(out);
	snprintf(args, sizeof(args), "access explain %s %s", ID_BAD, self_exe());
	expect_output(&f, args, "allowed by grant");

	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	ASSERT_OK(call_pid(conn, &pid));
	ASSERT_NE(pid, 0);
	expect_output(&f, "access list " ID_BAD, "allowed by grant");

	/* cancel the consent: the open connection is cut, with the reason */
	snprintf(args, sizeof(args), "access revoke %s %s", ID_BAD, self_exe());
	out = fixture_udkctl(&f, &st, args);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "1 grant(s) removed, 1 open connection(s) cut");
	free(out);
	for (int i = 0; i < 500; i++) {
		r = call_pid(conn, &pid);
		if (r < 0)
			break;
		usleep(10000);
	}
	ASSERT_EQ(r, -UDK_E_REVOKED);
	ASSERT_CONTAINS(udk_error_reason(), "revoked");
	/* ... and what reopening takes */
	snprintf(args, sizeof(args), "`udkctl access grant %s %s`", ID_BAD, self_exe());
	ASSERT_CONTAINS(udk_error_reason(), args);
	test_log("after revoke: %s: %s", udk_error_name(r), udk_error_reason());
	udk_connection_unref(conn);
	conn = NULL;
	ASSERT_ERR(udk_client_open(f.client, id, 0, &conn), -UDK_E_NOT_PERMITTED);

	/* the other driver's connection and the driver itself are untouched */
	ASSERT_OK(call_pid(other, &pid));
	ASSERT_TRUE(running(&f, ID_BAD));
	udk_connection_unref(other);
	fixture_stop(&f);
}

TEST(a_signed_app_with_userclient_access_is_admitted)
{
	struct fixture f;
	char app[600], args[900], *out;
	int st;

	two_bundles(&f);
	fixture_bundle_file(&f, "Bad.dext", "Entitlements.plist",
			    "<plist version=\"1.0\"><dict><key>com.apple.developer.driverkit</key><true/>"
			    "</dict></plist>\n");
	keygen(&f, "vendor");
	keygen(&f, "appdev");
	sign(&f, "vendor", "Good.dext");
	sign(&f, "vendor", "Bad.dext");
	snprintf(app, sizeof(app), "%s/app", f.dir);
	free(test_sh(&st, "cp %s %s", build_path("tools/udkctl"), app));
	ASSERT_EQ(st, 0);
	snprintf(args, sizeof(args), "%s/app.plist", f.dir);
	write_text(args, "<plist version=\"1.0\"><dict>"
			 "<key>com.apple.developer.driverkit.userclient-access</key>"
			 "<array><string>" ID_BAD "</string></array></dict></plist>\n");
	out = test_sh(&st, "%s sign-app --key %s/appdev.secret --entitlements %s/app.plist %s 2>&1", sign_tool(), f.dir,
		 f.dir, app);
	ASSERT_EQ(st, 0);
	free(out);
	fixture_start(&f, NULL);
	trust(&f, "vendor");
	ASSERT_TRUE(running(&f, ID_BAD));

	/* signed by a key udkd does not trust: no */
	snprintf(args, sizeof(args), "access explain %s %s", ID_BAD, app);
	expect_output(&f, args, "refused (UDK_E_NOT_PERMITTED)");
	/* trusted: its own entitlement admits it, no grant needed */
	trust(&f, "appdev");
	expect_output(&f, args, "allowed by signature");
	/* a rebuilt (changed) app no longer matches its signature */
	{
		FILE *fp = fopen(app, "a");
		ASSERT_NOT_NULL(fp);
		fputs("tail", fp);
		fclose(fp);
	}
	expect_output(&f, args, "refused (UDK_E_NOT_PERMITTED)");
	fixture_stop(&f);
}
