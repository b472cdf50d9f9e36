/* SPDX-License-Identifier: MIT */
/*
 * The journal's native protocol as udkd writes it (daemon/systemd.c):
 * KEY=value lines, the length-prefixed form for values with a newline,
 * keys journald would refuse left out, the priority bounded.
 */
#include <endian.h>

#include "systemd.h"
#include "test.h"

static char *
entry(int priority, const char *message, const char *const *fields, size_t n, size_t *len)
{
	char *e = NULL;

	ASSERT_OK(journal_format(priority, message, fields, n, &e, len));
	return e;
}

TEST(plain_fields)
{
	const char *fields[] = { "UDK_DRIVER=org.example.thermo", "UDK_DRIVER_PID=42" };
	size_t len;
	char *e = entry(6, "org.example.thermo[42]: ready", fields, 2, &len);
	const char *want = "PRIORITY=6\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=udkd\n"
			   "MESSAGE=org.example.thermo[42]: ready\n"
			   "UDK_DRIVER=org.example.thermo\nUDK_DRIVER_PID=42\n";

	ASSERT_EQ(len, strlen(want));
	ASSERT_TRUE(memcmp(e, want, len) == 0);
	free(e);
}

TEST(newline_uses_the_length_prefixed_form)
{
	const char *fields[] = { "UDK_NOTE=two\nlines" };
	size_t len;
	char *e = entry(3, "one", fields, 1, &len);
	const char *head = "PRIORITY=3\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=udkd\nMESSAGE=one\nUDK_NOTE\n";
	uint64_t n;

	ASSERT_TRUE(len == strlen(head) + 8 + 9 + 1);
	ASSERT_TRUE(memcmp(e, head, strlen(head)) == 0);
	memcpy(&n, e + strlen(head), 8);
	ASSERT_EQ(le64toh(n), 9u);
	ASSERT_TRUE(memcmp(e + strlen(head) + 8, "two\nlines\n", 10) == 0);
	free(e);
}

TEST(bad_keys_are_left_out)
{
	const char *fields[] = { "_PID=1", "lower=x", "9LIVES=x", "NO_EQUALS", "A-B=x", "GOOD=yes" };
	size_t len;
	char *e = entry(42, "m", fields, 6, &len);
	const char *want = "PRIORITY=7\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=udkd\nMESSAGE=m\nGOOD=yes\n";

	ASSERT_EQ(len, strlen(want));
	ASSERT_TRUE(memcmp(e, want, len) == 0);
	free(e);
}
