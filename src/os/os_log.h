/* The library's own messages (warnings about the environment, refused
 * links, a fault waiting too long), filtered by MEMOBJ_LOG:
 *   none | error | warn (default) | info | debug, or 0-4.
 * Lines go to stderr as "memobj: TEXT". */
#ifndef MEMOBJ_OS_LOG_H
#define MEMOBJ_OS_LOG_H

#include <stdarg.h>

enum os_log_level {
	OS_LOG_NONE = 0,
	OS_LOG_ERROR = 1,
	OS_LOG_WARN = 2,
	OS_LOG_INFO = 3,
	OS_LOG_DEBUG = 4,
};

/* The level MEMOBJ_LOG asks for (read once). */
int os_log_level(void);
/* True when a message of `level` would be printed: test it before
 * building an expensive message. */
#define os_log_enabled(level) ((level) <= os_log_level())
void os_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void os_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
