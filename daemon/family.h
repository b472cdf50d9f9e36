/* SPDX-License-Identifier: MIT */
/*
 * family.h - how a family plugs into udkd (internal to udkd).
 *
 * A family lives in families/<name>/ and gives udkd
 * one `struct udkd_family`, listed in the registration table
 * (families/families.c).  Nothing else in udkd names a family: the class
 * chain, the matching keys, the entitlement rule, the broker that opens a
 * provider for a driver, host enumeration, device models and what udkctl
 * shows all go through this interface.  docs/families.md walks through it
 * with the first family in the table as the example.
 *
 * Rules for a family's callbacks: they run on udkd's loop thread, must not
 * block, and must bound what they do with peer input.  Every callback is
 * optional unless its comment says otherwise.  Fields are only appended;
 * udkd reads struct_size and refuses, at start, a family whose struct is
 * smaller than the fields it requires or whose abi is newer than its own.
 */
#ifndef UDKD_FAMILY_H
#define UDKD_FAMILY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udk/value.h>

#include "family-match.h"
#include "udkd.h"
#include "wire.h"

/* The interface version this udkd implements. */
#define UDKD_FAMILY_ABI 1

/*
 * A class the family adds to the registry's class chains.
 *
 * @entitlement governs the class: a bundle must hold it to match a service
 * of this class, to publish one, or to run as one (IOClass).  It is the
 * short name, e.g. "transport.NAME" or "family.NAME"; udkd accepts both
 * spellings in Entitlements.plist (com.apple.developer.driverkit.NAME and
 * org.udk.NAME).  NULL: governed by the nearest ancestor in the family that
 * names one.  A class the family declares that no entitlement governs is a
 * bug udkd refuses at start (families fail closed).
 *
 * @role: for classes a personality's IOClass may name, what a driver of that
 * class is (e.g. "serial port"); NULL for provider nubs.
 */
struct udkd_family_class {
	const char *name;
	const char *super;
	const char *entitlement;
	const char *role;
};

/*
 * An entitlement the family owns.  @check validates its value in a
 * bundle's Entitlements.plist (NULL: it must be <true/>), reporting
 * problems through @diag; returns true if the value is usable.
 */
struct udkd_family_entitlement {
	const char *name;			/* short name: "transport.NAME" */
	bool (*check)(const struct udk_value *value, family_diag_fn diag, void *ctx);
	/*
	 * The finer rule, after the bundle holds the entitlement: does @value
	 * (the bundle's) cover service @s?  NULL: holding it is enough.
	 * *ret_detail: a sentence either way (malloc'ed), naming the device
	 * and, on refusal, what to do.  "*" wildcards are honoured only when
	 * @developer is true; say so in the sentence.
	 */
	bool (*covers)(const struct udk_value *value, const struct service *s, bool developer, char **ret_detail);
};

/* A command-line option of udkd that belongs to a family ("NAME-sysfs"). */
struct udkd_family_option {
	const char *name;
	int has_arg;				/* getopt's no_argument, required_argument, optional_argument */
	const char *arg_name;			/* "DIR", for --help */
	const char *help;
};

/* What a family can hear about (udkd_listen). */
enum udkd_event {
	UDKD_EV_PROC_DIED,		/* a driver process ended: data = struct driver_proc * */
	UDKD_EV_SERVICE_TERMINATED,	/* data = struct service * (still valid during the call) */
	UDKD_EV_POWER_CHANGED,		/* data = struct service * (an instance; its pm->state is new) */
	UDKD_EV_MODEL_DIED,		/* a device model ended: data = struct device_model * */
	UDKD_EV__COUNT,
};

typedef void (*udkd_listener_fn)(struct udkd *d, enum udkd_event ev, void *data, void *ctx);

/* A protected device one family hands a driver and another family guards (udkd_protected_check). */
struct udkd_protected_device {
	const char *kind;			/* "keyboard" */
	const char *key;			/* its identity for a per-device grant: stable, e.g. bus, ids, serial */
	const char *product;			/* what the user calls it */
	const char *transport;			/* the bus it is on, as the user calls it */
	bool built_in;
	struct service *service;		/* the nub the driver opens */
};

struct udkd_family {
	uint32_t struct_size;			/* sizeof(struct udkd_family) as the family was built */
	uint32_t abi;				/* UDKD_FAMILY_ABI it was written for */
	const char *name;			/* lower case, [a-z0-9-] */
	const char *title;			/* one line: what the family is for */
	const char *docs;			/* "docs/families/NAME.md" */

	/* ---- registry ---- */
	const struct udkd_family_class *classes;	/* {NULL}-terminated */

	/* ---- matching ---- */
	/* The personality keys it owns, their check and match (family-match.h). */
	const struct family_matcher *matcher;

	/* ---- entitlements ---- */
	const struct udkd_family_entitlement *entitlements;	/* {NULL}-terminated */

	/* ---- lifecycle ---- */
	/* After the registry exists, before bundles are read.  Subscribe to
	 * events here (udkd_listen).  A failure stops udkd with the reason. */
	int (*init)(struct udkd *d);
	/* After the machine description: enumerate the host's devices, start
	 * hotplug sources. */
	int (*start)(struct udkd *d);
	void (*fini)(struct udkd *d);
	const struct udkd_family_option *options;		/* {NULL}-terminated */
	/* One of its options was given (@value NULL when it has none). */
	int (*set_option)(struct udkd *d, const char *name, const char *value);

	/* ---- the broker ---- */
	/*
	 * Driver @p asks to open its provider @s, a service of this family
	 * (OP_DRV_OPEN_PROVIDER; udkd checked that @s is @p's provider).
	 * Answer @m exactly once with proc_reply(), now or later: the
	 * backend's description and the descriptors the driver needs.
	 */
	void (*open_provider)(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s);

	/* ---- messages in the family's own op range ---- */
	uint16_t op_base;			/* first op of its range; 0: none */
	uint16_t op_count;
	/* A request from a driver or a device model in the range. */
	void (*message)(struct udkd *d, struct driver_proc *p, struct wire_msg *m);

	/* ---- device models (simulated hardware) ---- */
	/* The kind a device model names for its functions (usually the family's
	 * name); NULL: none. */
	const char *model_kind;
	/*
	 * A device model's hello describes function @index as @desc (its
	 * family-specific dictionary).  Publish the nub(s) under the family's
	 * bus with service_new() (not registered yet: udkd registers them after
	 * it answered the model) and return the nub in *ret.  A malformed
	 * @desc: return -EINVAL with udk_set_reason(); the model is stopped.
	 */
	int (*model_function)(struct udkd *d, struct device_model *m, size_t index, const struct udk_value *desc,
			      struct service **ret);
	/* A machine-description device entry of this kind was read: check
	 * and keep its family keys (e.g. Location), or refuse with a reason. */
	int (*model_configure)(struct udkd *d, struct device_model *m, const struct udk_value *entry);

	/* ---- udkctl ---- */
	/* Family-specific lines of `udkctl sim list` for @m (a dict merged into
	 * the device's entry), and of `udkctl families`. */
	void (*describe_model)(struct udkd *d, const struct device_model *m, struct udk_value *entry);
	struct udk_value *(*describe)(struct udkd *d);

	/* ---- appended in interface version 1 ---- */
	/* Personality keys the family gives meaning to without matching on them
	 * (e.g. the names a device gets): known to the manifest check, copied
	 * into the driver's properties.  NULL-terminated. */
	const char *const *property_keys;

	/* ---- explain ---- */
	/*
	 * `udkctl explain`: add notes ({key, "note", detail} with
	 * match_report_add) about personality @p on service @s, e.g. why the
	 * service the personality wants does not exist yet.  Called for the
	 * family governing @s and for the family of the personality's
	 * IOProviderClass.
	 */
	void (*explain)(struct udkd *d, const struct personality *p, const struct service *s, struct udk_value *report);

	/* ---- protected devices ---- */
	/*
	 * Devices the user must grant a driver before it may use them (e.g.
	 * keyboards): `udkctl access grant --NAME WHAT DRIVER`, NAME being the
	 * family's name.  access.c keeps the grants with udkd's other access
	 * grants, lists them and the refused requests (access_device_*() in
	 * udkd.h); the family decides what WHAT means and when it is needed.
	 * @grant_help: what WHAT may be, one line.  @grant_check: normalize
	 * WHAT, or refuse it (-EINVAL with udk_set_reason()).
	 * @grant_changed: a grant was given or taken back; on a revoke, close
	 * at once what the driver may no longer hold.
	 */
	const char *grant_help;
	int (*grant_check)(struct udkd *d, const char *what, char **ret_normalized);
	void (*grant_changed)(struct udkd *d, const char *driver, const char *what, bool granted);

	/* ---- protected devices reached through another family ---- */
	/*
	 * The kind of protected device this family guards (e.g. "keyboard"),
	 * so that one reached through another family's transport (a boot
	 * keyboard a driver opens raw through its bus family) follows the
	 * same rule: that family calls udkd_protected_check() before it
	 * hands the device over, and udkd asks @protected_check of the family
	 * that @protects the kind.  It returns 0, or -UDK_E_NOT_PERMITTED with udk_set_reason()
	 * saying how to grant it (@record: remember the refusal as a request
	 * `udkctl access list` shows).  udkd remembers what it allowed; when a
	 * grant of this family is revoked it asks again, and kills a driver
	 * that may no longer hold the device (the descriptor it was given
	 * cannot be taken back otherwise).
	 */
	const char *protects;
	int (*protected_check)(struct udkd *d, const struct bundle *b, const struct udkd_protected_device *dev,
			       bool record);
};

/* Whether family @f (built against an older family.h) has callback @field. */
#define FAMILY_HAS(f, field)                                                                                   \
	((f)->struct_size >= offsetof(struct udkd_family, field) + sizeof((f)->field) && (f)->field)

#define UDKD_FAMILY_INIT .struct_size = sizeof(struct udkd_family), .abi = UDKD_FAMILY_ABI

/* ---- the registration table (families/families.c) ---- */

extern const struct udkd_family *const udkd_families[];
extern const size_t udkd_n_families;

/*
 * DriverKit classes whose family udk does not have (loaded or at all), for
 * explain: {class, family}, {NULL}-terminated.
 */
struct udkd_absent_class {
	const char *class_name;
	const char *family;
};
extern const struct udkd_absent_class udkd_absent_classes[];

/* ---- what udkd offers families (families.c in daemon/) ---- */

/* Check the table at start: sizes, versions, classes, entitlements, op
 * ranges.  -EINVAL with a reason naming the family. */
int families_check(void);
/* Call every family's init / start / fini. */
int families_init(struct udkd *d);
int families_start(struct udkd *d);
void families_fini(struct udkd *d);

/* A family's private state, one pointer per family, kept by udkd. */
void *udkd_family_state(struct udkd *d, const struct udkd_family *f);
void udkd_family_set_state(struct udkd *d, const struct udkd_family *f, void *state);

/* A family's data on device model @m (malloc'ed by the family; udkd frees it
 * with free() when the device goes away). */
void *model_family_data(const struct device_model *m, const struct udkd_family *f);
int model_set_family_data(struct device_model *m, const struct udkd_family *f, void *data);

/*
 * The hardware behind nub @s went away (unplugged, removed, its node gone):
 * the apps with user clients under @s are told UDK_E_HARDWARE_GONE with @why
 * first, so their calls do not end with the driver's death that follows,
 * then @s is terminated with @why.  Families call this, not
 * service_terminate(), when a device disappears; a simulated device's model
 * does the same (daemon/models.c).
 */
void udkd_service_hardware_gone(struct udkd *d, struct service *s, const char *why);

/*
 * Driver @p is about to be handed @dev, a device of a protected kind: 0 when
 * no family guards the kind or the guarding family allows it (udkd then
 * remembers the hold until @p ends), else that family's refusal
 * (-UDK_E_NOT_PERMITTED with the reason set), which the caller answers the
 * driver with.
 */
int udkd_protected_check(struct udkd *d, struct driver_proc *p, const struct udkd_protected_device *dev);
/* families_init / families_fini (protected.c). */
int protected_init(struct udkd *d);
void protected_fini(struct udkd *d);
/* access.c: a grant of family @f for @driver was given or revoked. */
void udkd_protected_grant_changed(struct udkd *d, const struct udkd_family *f, const char *driver, bool granted);

/*
 * The kernel's device events (uevent.c): @fn gets each message the kernel
 * sends ("ACTION@DEVPATH" then "KEY=VALUE" strings, NUL-separated and
 * NUL-terminated, @len bytes), on the loop; messages from anyone but the
 * kernel are dropped before.  (NULL, 0): events were lost in a burst, read
 * sysfs again.  One socket serves every family that listens.  -errno with a
 * reason when the kernel's uevents cannot be had (udkd runs on without).
 */
typedef void (*udkd_uevent_fn)(struct udkd *d, const char *msg, size_t len, void *ctx);
int udkd_uevents_listen(struct udkd *d, udkd_uevent_fn fn, void *ctx);
/* families_fini (uevent.c). */
void uevents_fini(struct udkd *d);

/* Subscribe to an event; @fn runs on the loop after udkd's own handling. */
int udkd_listen(struct udkd *d, enum udkd_event ev, udkd_listener_fn fn, void *ctx);
void udkd_emit(struct udkd *d, enum udkd_event ev, void *data);

/* The family a class belongs to, and its entry; NULL when no family declares it. */
const struct udkd_family *family_of_class(const char *class_name, const struct udkd_family_class **ret_class);
/* The family governing service @s (the most derived class of its chain
 * that a family declares), or NULL. */
const struct udkd_family *family_of_service(const struct service *s);
/* The family owning personality key @key, or NULL. */
const struct udkd_family *family_of_key(const char *key);
/* The family that owns @op, or NULL. */
const struct udkd_family *family_of_op(uint16_t op);
/* The family whose device models are of @kind, or NULL. */
const struct udkd_family *family_of_model_kind(const char *kind);
/* The entitlement (and its family) with short name @name, or NULL. */
const struct udkd_family_entitlement *family_entitlement(const char *name, const struct udkd_family **ret_family);
/* The entitlement that governs class @c of @f (walking up its supers). */
const char *family_class_entitlement(const struct udkd_family *f, const char *class_name);
/* The family of a DriverKit class udk knows but does not load, or NULL. */
const char *family_absent_for_class(const char *class_name);

#endif
