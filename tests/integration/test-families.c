/* SPDX-License-Identifier: MIT */
/*
 * Families fail closed (docs/families.md, docs/security.md): for every
 * registered family, as udkd lists them, a bundle without the family's
 * entitlement cannot match a service of any of its classes, cannot run as
 * one (IOClass) and cannot publish one; `udkctl explain` names the
 * entitlement.  With the entitlement the same bundle matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/client.h>
#include <udk/udk.h>

#include "fixture.h"
#include "test.h"

#define ID_PLAIN "org.udk.test.plain"
#define ID_FULL "org.udk.test.full"
#define ID_ROLE "org.udk.test.role"

/* Entitlements of a driver that holds no family's entitlement. */
#define PLAIN_ENTITLEMENTS                                                                                     \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

struct fam_class {
	char name[96];
	char entitlement[128];	/* com.apple.developer.driverkit.NAME */
	char family[32];
	bool role;
};

/* Every class of every family, from `udkctl families` of a running udkd. */
static size_t
list_classes(struct fixture *f, struct fam_class *out, size_t cap, size_t *ret_families)
{
	char *text = fixture_udkctl(f, NULL, "families"), *save = NULL, fam[32] = "";
	size_t n = 0;

	*ret_families = 0;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], ent[128];
		if (line[0] != ' ') {
			/* "NAME: title (docs)" */
			char *colon = strchr(line, ':');
			ASSERT_TRUE(colon != NULL);
			snprintf(fam, sizeof(fam), "%.*s", (int)(colon - line), line);
			(*ret_families)++;
			continue;
		}
		if (sscanf(line, "  class %95s : %*[^,], needs %127[^;]", name, ent) != 2 || n >= cap)
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", name);
		snprintf(out[n].entitlement, sizeof(out[n].entitlement), "%s", ent);
		snprintf(out[n].family, sizeof(out[n].family), "%s", fam);
		out[n].role = strstr(line, "IOClass role:") != NULL;
		ASSERT_TRUE(strncmp(ent, "com.apple.developer.driverkit.", 30) == 0);
		n++;
	}
	free(text);
	return n;
}

/* Every family entitlement, as an Entitlements.plist holding them all. */
static char *
full_entitlements(const struct fam_class *c, size_t n)
{
	size_t cap = 8192, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s + len, cap - len,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
				"<key>com.apple.developer.driverkit</key><true/>\n");
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c[i].entitlement, c[j].entitlement) == 0)
				dup = true;
		if (dup)
			continue;
		/* the two transports with ids take their development wildcards */
		if (strstr(c[i].entitlement, ".transport.pci"))
			len += (size_t)snprintf(s + len, cap - len,
						"<key>%s</key><array><dict><key>IOPCIPrimaryMatch</key>"
						"<string>0x00000000&amp;0x00000000</string></dict></array>\n",
						c[i].entitlement);
		else if (strstr(c[i].entitlement, ".transport.usb"))
			len += (size_t)snprintf(s + len, cap - len,
						"<key>%s</key><array><dict><key>idVendor</key><string>*</string>"
						"</dict></array>\n",
						c[i].entitlement);
		else
			len += (size_t)snprintf(s + len, cap - len, "<key>%s</key><true/>\n", c[i].entitlement);
	}
	snprintf(s + len, cap - len, "</dict></plist>\n");
	return s;
}

TEST(every_family_is_closed_without_its_entitlement)
{
	struct fixture f;
	struct fam_class cls[128];
	size_t n, n_families = 0;
	char machine[16384], pers[32768], *full;
	size_t ml = 0, pl = 0;

	/* first ask udkd which families it loads */
	fixture_init(&f);
	fixture_start(&f, NULL);
	n = list_classes(&f, cls, 128, &n_families);
	fixture_stop(&f);
	ASSERT_GE(n_families, 1);
	ASSERT_GE(n, n_families);

	/* one service of every class, a plain bundle and a fully entitled one on each */
	fixture_init(&f);
	for (size_t i = 0; i < n; i++) {
		ml += (size_t)snprintf(machine + ml, sizeof(machine) - ml,
				       "<dict><key>Name</key><string>svc-%.95s</string><key>Class</key><string>%.95s</string>"
				       "</dict>",
				       cls[i].name, cls[i].name);
	}
	fixture_set_machine(&f, machine);
	for (int which = 0; which < 2; which++) {
		const char *id = which ? ID_FULL : ID_PLAIN;
		pl = 0;
		for (size_t i = 0; i < n; i++)
			pl += (size_t)snprintf(pers + pl, sizeof(pers) - pl,
					       "<key>On-%.95s</key><dict><key>IOClass</key><string>IOUserService</string>"
					       "<key>IOUserClass</key><string>TestDriver</string>"
					       "<key>IOUserServerName</key><string>%s</string>"
					       "<key>IOMatchCategory</key><string>%s</string>"
					       "<key>IOProviderClass</key><string>%.95s</string></dict>",
					       cls[i].name, id, id, cls[i].name);
		fixture_add_bundle(&f, which ? "Full.dext" : "Plain.dext", id, pers);
	}
	fixture_bundle_file(&f, "Plain.dext", "Entitlements.plist", PLAIN_ENTITLEMENTS);
	full = full_entitlements(cls, n);
	fixture_bundle_file(&f, "Full.dext", "Entitlements.plist", full);
	fixture_start(&f, NULL);

	for (size_t i = 0; i < n; i++) {
		char args[256], *out;

		snprintf(args, sizeof(args), "explain " ID_PLAIN " /svc-%.95s", cls[i].name);
		out = fixture_udkctl(&f, NULL, args);
		{
			const char *e = strstr(out, "FAILED  entitlements");
			const char *nl = e ? strchr(e, '\n') : NULL;
			printf("# %s (%s family): %.*s\n", cls[i].name, cls[i].family, e ? (int)(nl ? nl - e : (long)strlen(e)) : 0,
			       e ? e : "");
		}
		ASSERT_CONTAINS(out, "does not match");
		ASSERT_CONTAINS(out, "FAILED  entitlements");
		ASSERT_CONTAINS(out, cls[i].entitlement);
		free(out);

		snprintf(args, sizeof(args), "explain " ID_FULL " /svc-%.95s", cls[i].name);
		out = fixture_udkctl(&f, NULL, args);
		{
			/* its own personality matches there, entitlements included */
			char want[200];
			snprintf(want, sizeof(want), "On-%.95s: matches", cls[i].name);
			ASSERT_CONTAINS(out, want);
			ASSERT_CONTAINS(out, "ok      entitlements: com.apple.developer.driverkit.");
		}
		free(out);
	}
	free(full);
	fixture_stop(&f);
}

TEST(a_family_role_needs_its_entitlement_and_publishing_one_too)
{
	struct fixture f;
	struct fam_class cls[128];
	size_t n, n_families = 0, roles = 0;
	char pers[32768], *out;
	size_t pl = 0;

	fixture_init(&f);
	fixture_start(&f, NULL);
	n = list_classes(&f, cls, 128, &n_families);
	fixture_stop(&f);

	fixture_init(&f);
	for (size_t i = 0; i < n; i++) {
		char one[1024];
		if (!cls[i].role)
			continue;
		roles++;
		/* IOClass names the family's role: the driver would run as one */
		snprintf(one, sizeof(one),
			 "<key>As-%.95s</key><dict><key>IOClass</key><string>%.95s</string>"
			 "<key>IOUserClass</key><string>TestDriver</string>"
			 "<key>IOUserServerName</key><string>" ID_ROLE "</string>"
			 "<key>IOMatchCategory</key><string>%.95s</string>"
			 "<key>IOProviderClass</key><string>IOUserResources</string></dict>",
			 cls[i].name, cls[i].name, cls[i].name);
		pl += (size_t)snprintf(pers + pl, sizeof(pers) - pl, "%s", one);
	}
	ASSERT_GE(roles, 1);
	/* and one that publishes a family's nub while it lacks the entitlement */
	pl += (size_t)snprintf(pers + pl, sizeof(pers) - pl,
			       "<key>Publisher</key><dict><key>IOClass</key><string>IOUserService</string>"
			       "<key>IOUserClass</key><string>TestDriver</string>"
			       "<key>IOUserServerName</key><string>" ID_ROLE "</string>"
			       "<key>IOMatchCategory</key><string>Publisher</string>"
			       "<key>TestBehavior</key><string>publish-nub</string>"
			       "<key>TestNubClass</key><string>%s</string>"
			       "<key>IOProviderClass</key><string>IOUserResources</string></dict>",
			       cls[0].name);
	fixture_add_bundle(&f, "Role.dext", ID_ROLE, pers);
	fixture_bundle_file(&f, "Role.dext", "Entitlements.plist", PLAIN_ENTITLEMENTS);
	fixture_start(&f, NULL);

	out = fixture_udkctl(&f, NULL, "explain " ID_ROLE " /IOUserResources");
	for (size_t i = 0; i < n; i++) {
		char want[300];
		if (!cls[i].role)
			continue;
		snprintf(want, sizeof(want), "class %.95s belongs to the %.31s family, which requires %.127s", cls[i].name,
			 cls[i].family, cls[i].entitlement);
		ASSERT_CONTAINS(out, want);
	}
	ASSERT_CONTAINS(out, "FAILED  IOClass");
	free(out);

	/* the publisher starts, but its nub is refused, and Start() fails saying why */
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID_ROLE " /IOUserResources", "UDK_E_ENTITLEMENT", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID_ROLE " /IOUserResources");
	ASSERT_CONTAINS(out, cls[0].entitlement);
	free(out);
	{
		uint64_t id = 0;
		/* nothing of that class was published (the machine has none either) */
		ASSERT_ERR(udk_client_find_service(f.client, cls[0].name, &id), -UDK_E_NO_SUCH_SERVICE);
	}
	fixture_stop(&f);
}

TEST(udkctl_families_lists_classes_keys_and_entitlements)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_start(&f, NULL);
	out = fixture_udkctl(&f, &st, "families");
	ASSERT_EQ(st, 0);
	/* each family says where its page is and what it needs */
	ASSERT_CONTAINS(out, "docs/families/");
	ASSERT_CONTAINS(out, "needs com.apple.developer.driverkit.");
	ASSERT_CONTAINS(out, "entitlement com.apple.developer.driverkit.");
	free(out);
	fixture_stop(&f);
}


