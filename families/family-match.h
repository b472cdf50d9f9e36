/* SPDX-License-Identifier: MIT */
/*
 * family-match.h - the matching keys a family adds to a personality
 * (internal to udkd; see daemon/family.h).  A family checks the syntax of
 * its keys when a bundle is loaded, and matches them against a service's
 * properties.  Each family's keys are listed in its docs page
 * (docs/families/<name>.md).
 */
#ifndef UDK_FAMILY_MATCH_H
#define UDK_FAMILY_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <udk/value.h>

/* Called once per problem found in a personality. */
typedef void (*family_diag_fn)(void *ctx, bool error, const char *key, const char *message);

struct family_matcher {
	const char *family;
	/* NULL-terminated list of the personality keys this family owns */
	const char *const *keys;
	/* Check the syntax of the family's keys in @personality. */
	void (*validate)(const struct udk_value *personality, family_diag_fn diag, void *ctx);
	/*
	 * Match the family's keys against a service's @props.  Only called when
	 * the personality holds at least one of the family's keys.  Adds to
	 * *score, and appends {key, result, detail} dictionaries to @report when
	 * it is not NULL.  Returns true if every key present matched.
	 */
	bool (*match)(const struct udk_value *personality, const struct udk_value *props, int64_t *score,
		      struct udk_value *report);
};

/* Append one {key, result: "matched"|"failed"|"note", detail} to @report. */
void match_report_add(struct udk_value *report, const char *key, const char *result, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
