#!/usr/bin/env bash
# One entry point for people and CI: installs what the build needs (Debian),
# builds memobj, and runs the demo, the tests or the benchmarks.
#
#   bash build.sh demo [FILE]   build, then run the embedded demo
#   bash build.sh test          build, then run every test (ctest)
#   bash build.sh sanitize      the same tests under AddressSanitizer + UBSan
#   bash build.sh locks         the same tests with the VM's lock checks on
#   bash build.sh clang         build with clang (warnings are errors)
#   bash build.sh fuzz [SECS]   every fuzz target for SECS each (libFuzzer)
#   bash build.sh bench [NAME]  Release build, then the benchmarks
#   bash build.sh soak [SECS]   the VM/EMMI soak for SECS seconds (default 120)
set -euo pipefail
cd "$(dirname "$0")"

jobs=$(nproc 2>/dev/null || echo 2)

# Debian packages the build needs; installed only when something is missing.
ensure_tools() {
	local missing=()
	command -v cmake >/dev/null || missing+=(cmake)
	command -v make >/dev/null || missing+=(make)
	command -v gcc >/dev/null || missing+=(gcc)
	[ -e /usr/include/linux/userfaultfd.h ] || missing+=(linux-libc-dev)
	[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
	command -v pkg-config >/dev/null || missing+=(pkg-config)
	dpkg -s libsodium-dev >/dev/null 2>&1 || missing+=(libsodium-dev)
	for tool in "$@"; do
		case "$tool" in
		*-dev) dpkg -s "$tool" >/dev/null 2>&1 || missing+=("$tool") ;;
		redis-tools) command -v redis-cli >/dev/null || missing+=("$tool") ;;
		nm) command -v nm >/dev/null || missing+=(binutils) ;;
		groff) command -v groff >/dev/null || missing+=(groff-base) ;;
		man) command -v man >/dev/null || missing+=(man-db) ;;
		ip) command -v ip >/dev/null || missing+=(iproute2) ;;
		*) command -v "$tool" >/dev/null || missing+=("$tool") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "build.sh: installing ${missing[*]}" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# build DIR [cmake args...]
build() {
	local dir=$1; shift
	cmake -S . -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
}

# The Redis pager builds against hiredis; its tests start redis-server.
# The export and man-page checks read the library with nm and the pages
# with groff and man; the TCP tests make network namespaces with ip.
redis_deps="pkg-config libhiredis-dev redis-server redis-tools nm groff man ip"

what=${1:-demo}
[ $# -gt 0 ] && shift
case "$what" in
demo)
	ensure_tools
	cmake -S . -B build >/dev/null
	# only what the demos need: the file-pager demo, then the seed's case
	cmake --build build -j"$jobs" --target memobj-demo memobj-dsm-demo
	./build/tools/memobj-demo "$@"
	exec ./build/tools/memobj-dsm-demo
	;;
test)
	ensure_tools $redis_deps
	build build
	ctest --test-dir build --output-on-failure -j"$jobs" "$@"
	;;
sanitize)
	ensure_tools $redis_deps
	build build-sanitize -DMEMOBJ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-sanitize --output-on-failure -j"$jobs" "$@"
	;;
locks)
	# -DMEMOBJ_DEBUG_LOCKS: every "(obj locked)" a function states is
	# checked (src/vm/vm_lock_order.h); a failed check aborts the test.
	ensure_tools $redis_deps
	build build-locks -DMEMOBJ_DEBUG_LOCKS=ON -DCMAKE_BUILD_TYPE=Debug
	ctest --test-dir build-locks --output-on-failure -j"$jobs" "$@"
	;;
clang)
	ensure_tools clang pkg-config libhiredis-dev
	CC=clang build build-clang
	;;
fuzz)
	ensure_tools clang libclang-rt-14-dev
	exec bash fuzz/run "${1:-60}"
	;;
bench)
	ensure_tools $redis_deps strace
	exec bash bench/run "$@"
	;;
soak)
	ensure_tools
	build build
	exec ./build/tests/test_emmi_soak "${1:-120}"
	;;
*)
	sed -n '2,12p' "$0" >&2
	exit 2
	;;
esac
