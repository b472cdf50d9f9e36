/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h - confining a driver process before it executes (internal).
 * Runs in the forked child, between fork() and execve().
 */
#ifndef UDKD_SANDBOX_H
#define UDKD_SANDBOX_H

/* Apply limits and restrictions; on failure set a reason and return < 0. */
int sandbox_apply_pre_exec(const char *bundle_path, const char *executable);

#endif
