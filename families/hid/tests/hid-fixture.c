/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <udk/families/hid-usage.h>

#include "hid-fixture.h"
#include "test.h"

char *
hid_sim_device(struct fixture *f, const char *name, const char *functions, const char *transport, bool built_in)
{
	char *s = NULL;

	if (asprintf(&s,
		     "<dict><key>Name</key><string>%s</string><key>Model</key><string>hid-test</string>"
		     "<key>Kind</key><string>hid</string><key>Properties</key><dict>"
		     "<key>Functions</key><array>%s</array>"
		     "<key>Transport</key><string>%s</string><key>Built-In</key><%s/>"
		     "<key>ControlSocket</key><string>%s/%s.sock</string></dict></dict>",
		     name, functions, transport, built_in ? "true" : "false", f->dir, name) < 0)
		FAIL("oom");
	return s;
}

static char *
read_source(const char *rel)
{
	char path[600], *text = NULL;
	size_t len = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", test_source_root(), rel);
	fp = fopen(path, "r");
	if (!fp)
		FAIL("cannot read %s: %m", path);
	if (getdelim(&text, &len, '\0', fp) < 0)
		FAIL("cannot read %s", path);
	fclose(fp);
	return text;
}

static char *
insert_before(char *text, const char *marker, const char *what)
{
	char *at = strstr(text, marker), *out = NULL;

	if (!what || !*what)
		return text;
	if (!at)
		FAIL("no \"%s\" to insert before", marker);
	if (asprintf(&out, "%.*s%s%s", (int)(at - text), text, what, at) < 0)
		FAIL("oom");
	free(text);
	return out;
}

void
hid_install_bundle(struct fixture *f, const char *dir, const char *name, const char *exe, const char *patch_info,
		   const char *extra_ent)
{
	char src[300], path[700], cmd[1500], dirname[200];
	char *info, *ent;

	snprintf(src, sizeof(src), "drivers/%s/Info.plist", dir);
	info = insert_before(read_source(src), "<key>UserClientProperties</key>", patch_info);
	snprintf(src, sizeof(src), "drivers/%s/Entitlements.plist", dir);
	ent = insert_before(read_source(src), "</dict>\n</plist>", extra_ent);
	snprintf(dirname, sizeof(dirname), "%s.dext", name);
	snprintf(path, sizeof(path), "%s/%s", f->bundles, dirname);
	mkdir(path, 0755);
	fixture_bundle_file(f, dirname, "Info.plist", info);
	fixture_bundle_file(f, dirname, "Entitlements.plist", ent);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/%s' && chmod 755 '%s/%s'", build_path(exe), path,
		 strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe, path, strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	if (system(cmd) != 0)
		FAIL("%s failed", cmd);
	free(info);
	free(ent);
}

const char *
hid_sim(struct fixture *f, const char *name, const char *fmt, ...)
{
	static char reply[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmd[4096];
	va_list ap;
	ssize_t n;
	int fd;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	{
		char path[512];
		int pl = snprintf(path, sizeof(path), "%s/%s.sock", f->dir, name);
		if (pl < 0 || (size_t)pl >= sizeof(sa.sun_path))
			FAIL("socket path %s is too long", path);
		memcpy(sa.sun_path, path, (size_t)pl + 1);
	}
	for (int i = 0;; i++) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (fd >= 0)
			close(fd);
		if (i > 500)
			FAIL("the simulated device %s does not listen on %s", name, sa.sun_path);
		usleep(10000);
	}
	if (send(fd, cmd, strlen(cmd), 0) < 0)
		FAIL("send to %s: %m", name);
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	close(fd);
	reply[n > 0 ? n : 0] = 0;
	return reply;
}

uint64_t
hid_wait_path(struct fixture *f, const char *path, int timeout_ms)
{
	uint64_t id = 0;

	for (int waited = 0;; waited += 20) {
		if (udk_client_lookup_path(f->client, path, &id) >= 0)
			return id;
		if (waited >= timeout_ms) {
			char *log = fixture_log(f);
			FAIL("no service at %s after %d ms; udkd log:\n%s", path, timeout_ms, log);
		}
		usleep(20000);
	}
}

struct udk_hid_client *
hid_events_open(struct fixture *f, const char *path, uint32_t mask)
{
	struct udk_hid_client *h = NULL;
	uint64_t dev = hid_wait_path(f, path, 10000), svc = 0;
	int r = udk_hid_client_find_event_service(f->client, dev, 10000, &svc);

	if (r < 0) {
		char *log = fixture_log(f);
		FAIL("no event service for %s: %s; udkd log:\n%s", path, udk_error_reason(), log);
	}
	ASSERT_OK(udk_hid_client_open(f->client, svc, mask, &h));
	return h;
}

const char *
hid_read_keys(struct udk_hid_client *h, int n, int timeout_ms)
{
	static char out[8192];
	size_t at = 0;

	out[0] = 0;
	for (int i = 0; i < n; i++) {
		struct udk_hid_event ev;
		const char *name;
		if (udk_hid_client_next_event(h, &ev, timeout_ms) < 0)
			break;
		if (ev.type != UDK_HID_EVENT_KEYBOARD && ev.type != UDK_HID_EVENT_CONSUMER) {
			i--;
			continue;
		}
		name = udk_hid_usage_name(UDK_HID_USAGE(ev.key.usage_page, ev.key.usage));
		at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s %s", at ? " " : "", name ? name : "?",
				       ev.key.value ? "down" : "up");
		if (at >= sizeof(out))
			break;
	}
	return out;
}

char *
hid_udkctl(struct fixture *f, int want, const char *fmt, ...)
{
	char args[2048];
	va_list ap;
	int st = -1;
	char *out;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	out = fixture_udkctl(f, &st, args);
	if (st != want)
		FAIL("udkctl %s exited %d, not %d:\n%s", args, st, want, out);
	return out;
}
