#!/bin/sh
# build-bench.sh - sourced by bench.sh and faults.sh: dependencies, an
# optimised build in build-bench/, and the environment its programs need.
./scripts/deps.sh
[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null
export UDK_BUILD_ROOT="$PWD/build-bench" UDK_SOURCE_ROOT="$PWD"
