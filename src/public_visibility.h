/* Forced first into every library source (-include, see CMakeLists.txt).
 *
 * The library is compiled with -fvisibility=hidden: everything is internal
 * unless declared by a public header. Reading the whole public API here,
 * under default visibility, marks exactly its declarations for export
 * (including the weak defaults a manager overrides); the include guards
 * keep the later #includes from re-reading them. memobj.map, the version
 * script, is the second fence: it lists the public names by the SPEC's
 * prefixes and hides every other. */
#ifndef MEMOBJ_PUBLIC_VISIBILITY_H
#define MEMOBJ_PUBLIC_VISIBILITY_H
#pragma GCC visibility push(default)
#include <mach/mach.h>
#pragma GCC visibility pop
#endif
