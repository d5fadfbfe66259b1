#!/usr/bin/env bash
# The installed tree is whole and relocatable: install into a temporary
# prefix, build a client there with pkg-config and with find_package(memobj),
# run both, and run the installed demo from the prefix and from a copy of
# the prefix moved elsewhere, with no LD_LIBRARY_PATH.
#   install_tree.sh BUILD_DIR C_COMPILER
set -euo pipefail
build=$1
cc=$2
src=$(cd "$(dirname "$0")" && pwd)/install_client
tmp=$(mktemp -d "${TMPDIR:-/tmp}/memobj-install.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
sanitize=$(sed -n 's/^MEMOBJ_SANITIZE:BOOL=//p' "$build/CMakeCache.txt")
extra=()
[ "$sanitize" = ON ] && extra=(-fsanitize=address,undefined)
libdir=$(dirname "$(find "$tmp/prefix" -name memobj.pc | head -1)")/..
libdir=$(cd "$libdir" && pwd)

for f in include/mach/mach.h include/memobj/file_pager.h share/man/man7/memobj.7 \
	share/man/man3/memory_object_data_supply.3 share/man/man3/seqnos_memory_object_init.3 \
	share/man/man1/memobjd.1 share/man/man1/memobj.1 share/doc/memobj/README.md \
	share/doc/memobj/departures.md bin/memobj bin/memobjd bin/memobj-demo \
	lib/cmake/memobj/memobjConfig.cmake; do
	[ -e "$tmp/prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
head -c 50000 /dev/urandom >"$tmp/data"

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
"$cc" "${extra[@]}" -o "$tmp/client-pc" "$src/client.c" \
	$(pkg-config --cflags --libs memobj-pagers memobj) -Wl,-rpath,"$libdir"
"$tmp/client-pc" "$tmp/data"

# find_package
CC="$cc" CFLAGS="${extra[*]}" LDFLAGS="${extra[*]}" cmake -S "$src" -B "$tmp/cm" \
	-DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/client" "$tmp/data"

# installed programs run from the prefix, and from the prefix moved
"$tmp/prefix/bin/memobj-demo" --size 1m >/dev/null
mv "$tmp/prefix" "$tmp/moved"
"$tmp/moved/bin/memobj-demo" --size 1m >/dev/null
"$tmp/moved/bin/memobj" --version >/dev/null
"$tmp/moved/bin/memobjd" --version >/dev/null
# man finds the installed pages (a .so link included), where man exists.
if command -v man >/dev/null; then
	MANPATH="$tmp/moved/share/man" man -P cat 3 seqnos_memory_object_init 2>/dev/null |
		grep -q 'memory_object_init' || { echo "man 3 seqnos_memory_object_init: nothing"; exit 1; }
fi
echo "install tree: pkg-config, find_package and relocated programs work"
