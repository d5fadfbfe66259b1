/* MEMOBJ_LOG: see os_log.h. */
#include "os/os_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int level = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void read_level(void)
{
	static const char *const names[] = { "none", "error", "warn", "info", "debug" };
	int l = OS_LOG_WARN;
	const char *env = getenv("MEMOBJ_LOG");
	if (env != NULL && *env != '\0') {
		int found = -1;
		for (int i = 0; i < 5; i++)
			if (strcasecmp(env, names[i]) == 0 || (env[0] == '0' + i && env[1] == '\0'))
				found = i;
		if (strcasecmp(env, "warning") == 0)
			found = OS_LOG_WARN;
		if (found < 0)
			fprintf(stderr, "memobj: MEMOBJ_LOG=%s is not none, error, warn, info, "
			        "debug or 0-4; using warn\n", env);
		else
			l = found;
	}
	__atomic_store_n(&level, l, __ATOMIC_RELEASE);
}

int os_log_level(void)
{
	int l = __atomic_load_n(&level, __ATOMIC_ACQUIRE);
	if (__builtin_expect(l < 0, 0)) {
		pthread_once(&once, read_level);
		l = __atomic_load_n(&level, __ATOMIC_ACQUIRE);
	}
	return l;
}

void os_log(int lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	os_vlog(lvl, fmt, ap);
	va_end(ap);
}

void os_vlog(int lvl, const char *fmt, va_list ap)
{
	if (lvl > os_log_level())
		return;
	char line[1024];
	vsnprintf(line, sizeof line, fmt, ap);
	/* One write per line, so lines of several threads do not mix. */
	fprintf(stderr, "memobj: %s\n", line);
}
