/* SPDX-License-Identifier: MIT */
/* report.c - one line of a matching report (used by udkd and the families). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "family-match.h"

void
match_report_add(struct udk_value *report, const char *key, const char *result, const char *fmt, ...)
{
	struct udk_value *e;
	va_list ap;
	char *detail = NULL;

	if (!report)
		return;
	va_start(ap, fmt);
	if (vasprintf(&detail, fmt, ap) < 0)
		detail = NULL;
	va_end(ap);
	e = udk_value_new_dict();
	udk_dict_set_string(e, "key", key);
	udk_dict_set_string(e, "result", result);
	udk_dict_set_string(e, "detail", detail ? detail : "");
	free(detail);
	udk_array_append_take(report, e);
}

