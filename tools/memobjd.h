/* memobjd's parts: the daemon (memobjd.c) and one small file per kind of
 * pager that exists in the tree (memobjd_dsm.c, memobjd_redis.c,
 * memobjd_default.c), compiled in only when that pager is built; CMake
 * defines MEMOBJD_HAVE_DSM / _REDIS / _DEFAULT_PAGER for them. */
#ifndef MEMOBJD_H
#define MEMOBJD_H

#include <mach/mach.h>
#include <stdbool.h>
#include <stdint.h>

enum { MEMOBJD_ERROR = 1, MEMOBJD_WARN, MEMOBJD_INFO, MEMOBJD_DEBUG };

void memobjd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One object the daemon serves under `name`. `stop` (may be NULL) writes
 * back what it can and frees the pager at shutdown; `fill` reports it to
 * memobj stat (may be NULL). */
struct memobjd_object {
	char name[80];
	const char *kind;
	memory_object_t object;
	uint64_t size;
	void *pager;
	void (*stop)(struct memobjd_object *);
	memobj_object_statistics_fn fill;
};

/* Publishes a new object (netname_check_in under its name): 0, or -1
 * after saying why. */
int memobjd_publish(const struct memobjd_object *object);

/* "NAME=REST": copies NAME into name (at most 79 bytes) and returns REST,
 * or NULL after saying what is wrong with `spec` for `option`. */
const char *memobjd_split_name(const char *option, const char *spec, char name[80]);

/* Parses a size ("64m"); false after saying what is wrong. */
bool memobjd_size(const char *option, const char *text, uint64_t *size);

/* Each returns 0, or -1 after logging why. */
int memobjd_add_dsm(const char *spec);            /* NAME=SIZE */
int memobjd_add_redis(const char *spec);          /* NAME=URL:SIZE */
int memobjd_add_default_pager(const char *spec);  /* FILE:SIZE */

#endif
