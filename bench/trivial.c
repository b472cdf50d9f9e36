/* SPDX-License-Identifier: MIT */
/* The baseline process: exec, exit. */
int
main(void)
{
	return 0;
}
