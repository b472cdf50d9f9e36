// SPDX-License-Identifier: MIT
// The headers udk-iig generates compile as C++ (built, not run).
#include "iigt-client.h"
#include "iigt-driver.h"

static_assert(sizeof(struct iigt_big) == 6008, "the same layout in C++");

int
main()
{
	iigt_later_done_fn done = nullptr;
	using handler = decltype(&iigt_handle_point);
	handler h = nullptr;

	(void)done;
	(void)h;
	return IIGT_SELECTOR_COUNT == 14 ? 0 : 1;
}
