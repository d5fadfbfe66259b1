/* Shared by the programs in tools/ (memobj, memobjd): the daemon's default
 * address and small parsers. Header-only; each program includes it once. */
#ifndef MEMOBJ_TOOLS_COMMON_H
#define MEMOBJ_TOOLS_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MEMOBJ_VERSION
#define MEMOBJ_VERSION "0.1.0"
#endif

/* Where memobjd listens when not told, and where `memobj stat` looks:
 * $MEMOBJ_DAEMON, else unix:/run/memobjd.sock for root, else
 * unix:$XDG_RUNTIME_DIR/memobjd.sock, else unix:/tmp/memobjd-UID.sock. */
static inline const char *tools_daemon_address(void)
{
	static char buf[4200];
	const char *env = getenv("MEMOBJ_DAEMON");
	if (env != NULL && *env != '\0')
		return env;
	if (geteuid() == 0)
		return "unix:/run/memobjd.sock";
	const char *run = getenv("XDG_RUNTIME_DIR");
	if (run != NULL && *run == '/' && access(run, W_OK) == 0)
		snprintf(buf, sizeof buf, "unix:%s/memobjd.sock", run);
	else
		snprintf(buf, sizeof buf, "unix:/tmp/memobjd-%u.sock", (unsigned)geteuid());
	return buf;
}

/* "64m" -> 67108864 (k, m, g, t; optional i and B); false when malformed,
 * negative or zero. */
static inline bool tools_parse_size(const char *text, uint64_t *out)
{
	if (text == NULL || *text == '\0' || *text == '-' || *text == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || end == text)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift != 0 && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || v == 0 || v > (~0ull >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

#endif
