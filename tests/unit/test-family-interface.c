/* SPDX-License-Identifier: MIT */
/*
 * The family interface's checks at start (daemon/families.c): a family
 * built against another interface, or one that would leave its services
 * open to every bundle, stops udkd with a sentence naming it.
 */
#include <string.h>

#include "family.h"
#include "test.h"
#include "util.h"

/* This test's own registration table (instead of families/families.c). */
static struct udkd_family fam_a, fam_b;
const struct udkd_family *const udkd_families[] = { &fam_a, &fam_b };
const size_t udkd_n_families = 2;
const struct udkd_absent_class udkd_absent_classes[] = { { "IOUserNetworkEthernet", "networking" }, { NULL, NULL } };

static const struct udkd_family_class a_classes[] = {
	{ "IOFooBus", "IOService", "transport.foo", NULL },
	{ "IOFooDevice", "IOFooBus", NULL, NULL },
	{ "IOUserFooDriver", "IOService", "family.foo", "foo driver" },
	{ NULL, NULL, NULL, NULL },
};
static const struct udkd_family_entitlement a_ents[] = {
	{ "transport.foo", NULL, NULL },
	{ "family.foo", NULL, NULL },
	{ NULL, NULL, NULL },
};
static const struct udkd_family_class b_classes[] = {
	{ "IOBarDevice", "IOService", "transport.bar", NULL },
	{ NULL, NULL, NULL, NULL },
};
static const struct udkd_family_entitlement b_ents[] = {
	{ "transport.bar", NULL, NULL },
	{ NULL, NULL, NULL },
};

static void
reset(void)
{
	fam_a = (struct udkd_family){ UDKD_FAMILY_INIT, .name = "foo", .classes = a_classes, .entitlements = a_ents };
	fam_b = (struct udkd_family){ UDKD_FAMILY_INIT, .name = "bar", .classes = b_classes, .entitlements = b_ents };
}

TEST(a_good_table_passes)
{
	reset();
	ASSERT_OK(families_check());
	/* lookups by class walk up to the governing entitlement */
	ASSERT_STREQ(family_class_entitlement(&fam_a, "IOFooDevice"), "transport.foo");
	ASSERT_TRUE(family_of_class("IOBarDevice", NULL) == &fam_b);
	ASSERT_STREQ(family_absent_for_class("IOUserNetworkEthernet"), "networking");
}

TEST(an_old_or_new_interface_is_refused_naming_family_and_versions)
{
	reset();
	fam_b.struct_size = 16;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "bar");
	ASSERT_CONTAINS(udk_error_reason(), "16 bytes");
	reset();
	fam_b.struct_size = sizeof(struct udkd_family) + 8;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "family bar has an interface struct of");
	reset();
	fam_a.abi = UDKD_FAMILY_ABI + 1;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "family foo was written for family interface version");
}

TEST(a_family_without_an_entitlement_rule_is_refused)
{
	static const struct udkd_family_class open_classes[] = {
		{ "IOOpenDevice", "IOService", NULL, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	static const struct udkd_family_entitlement none[] = { { NULL, NULL, NULL } };

	reset();
	fam_b.entitlements = none;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "family bar");
	reset();
	fam_b.classes = open_classes;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "family bar declares class IOOpenDevice but no entitlement rule governs it");
}

TEST(overlaps_between_families_are_refused)
{
	static const struct udkd_family_class dup_classes[] = {
		{ "IOFooBus", "IOService", "transport.bar", NULL },
		{ NULL, NULL, NULL, NULL },
	};

	reset();
	fam_b.classes = dup_classes;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "class IOFooBus is declared by two families");
	reset();
	fam_a.op_base = 2000;
	fam_a.op_count = 100;
	fam_b.op_base = 2050;
	fam_b.op_count = 10;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "overlapping op ranges");
	reset();
	fam_b.op_base = 300;
	fam_b.op_count = 1;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "op ranges start at 1000");
	reset();
	fam_a.model_kind = "x";
	fam_b.model_kind = "x";
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "both claim device models of kind");
}

static int
allow_all(struct udkd *d, const struct bundle *b, const struct udkd_protected_device *dev, bool record)
{
	(void)d;
	(void)b;
	(void)dev;
	(void)record;
	return 0;
}

static int
any_grant(struct udkd *d, const char *what, char **ret_normalized)
{
	(void)d;
	*ret_normalized = strdup(what);
	return 0;
}

TEST(a_protected_kind_needs_a_check_and_one_guardian)
{
	reset();
	/* a family that protects a kind must decide who may have it, with grants */
	fam_a.protects = "keyboard";
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "family foo protects \"keyboard\" devices without a protected_check");
	fam_a.protected_check = allow_all;
	fam_a.grant_check = any_grant;
	ASSERT_OK(families_check());
	/* and one family guards a kind */
	fam_b.protects = "keyboard";
	fam_b.protected_check = allow_all;
	fam_b.grant_check = any_grant;
	ASSERT_ERR(families_check(), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "families foo and bar both protect \"keyboard\" devices");
}
