/* memobjd --redis NAME=URL:SIZE: pages in Redis (pagers/redis_pager.c),
 * compiled in only where the Redis pager is built (hiredis). URL is
 * redis://HOST:PORT, unix:PATH or redis-cluster://HOST:PORT[,...]; SIZE
 * follows the last ':'. The pages are kept in Redis under NAME. */
#include "memobjd.h"

#include <memobj/redis_pager.h>
#include <stdio.h>
#include <string.h>

static void redis_stop(struct memobjd_object *o)
{
	/* Writes what is still in the write-behind table, then stops. */
	redis_pager_destroy(o->object);
}

static void redis_fill(void *arg, memobj_object_statistics_t *s)
{
	const struct memobjd_object *o = arg;
	s->size = o->size;
}

int memobjd_add_redis(const char *spec)
{
	struct memobjd_object o = { .kind = "redis", .stop = redis_stop, .fill = redis_fill };
	const char *rest = memobjd_split_name("redis", spec, o.name);
	if (rest == NULL)
		return -1;
	const char *colon = strrchr(rest, ':');
	char url[4096];
	if (colon == NULL || colon == rest || (size_t)(colon - rest) >= sizeof url) {
		memobjd_log(MEMOBJD_ERROR, "--redis %s: want NAME=URL:SIZE", spec);
		return -1;
	}
	memcpy(url, rest, (size_t)(colon - rest));
	url[colon - rest] = '\0';
	if (!memobjd_size("redis", colon + 1, &o.size))
		return -1;
	kern_return_t kr = redis_pager_create(url, o.name, (vm_size_t)o.size, 0, &o.object);
	if (kr != KERN_SUCCESS) {
		memobjd_log(MEMOBJD_ERROR, "--redis %s: redis_pager_create: %#x", spec, kr);
		return -1;
	}
	if (memobjd_publish(&o) != 0) {
		redis_pager_destroy(o.object);
		return -1;
	}
	return 0;
}
