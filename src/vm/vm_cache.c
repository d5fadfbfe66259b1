/* Page cache extents: slots of shared memfds, or a memfd of its own
 * (see vm_cache.h). */
#include "vm/vm_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "os/os_log.h"
#include "vm/vm_lock_order.h"

#define SLOT_SHIFT 47u
#define SLOT_SIZE (UINT64_C(1) << SLOT_SHIFT)
/* The largest count whose total stays below the 2^63 - 1 bytes a memfd
 * can be. */
#define SLOTS_PER_FILE 65535u

struct vm_cache_file {
	int fd;
	uint32_t used;                  /* slots taken */
	uint32_t fresh;                 /* slots from here on never taken */
	uint32_t *free;                 /* slots given back */
	uint32_t nfree, free_cap;
	struct vm_cache_file *next;
};

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm_cache_file *files;

static bool fsize_unlimited(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY;
}

static int open_dedicated(struct vm_cache *c, uint64_t need)
{
	int fd = os_memfd_create("memobj-object");
	if (fd < 0)
		return fd;
	int err = need > 0 ? os_memfd_grow(fd, need) : 0;
	if (err != 0) {
		close(fd);
		return err;
	}
	*c = (struct vm_cache){ .fd = fd, .base = 0, .limit = INT64_MAX,
	                        .file = NULL, .slot = 0 };
	return 0;
}

/* A shared file with a slot free, made if needed (files_lock held). */
static struct vm_cache_file *file_with_room(int *err)
{
	for (struct vm_cache_file *f = files; f; f = f->next)
		if (f->nfree > 0 || f->fresh < SLOTS_PER_FILE)
			return f;
	struct vm_cache_file *f = calloc(1, sizeof *f);
	if (f == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	f->fd = os_memfd_create("memobj-cache");
	if (f->fd < 0) {
		*err = f->fd;
		free(f);
		return NULL;
	}
	/* Sparse: only the pages objects hold take memory. */
	*err = os_memfd_grow(f->fd, (uint64_t)SLOTS_PER_FILE * SLOT_SIZE);
	if (*err != 0) {
		close(f->fd);
		free(f);
		return NULL;
	}
	f->next = files;
	files = f;
	return f;
}

int vm_cache_open(struct vm_cache *c, uint64_t need)
{
	c->fd = -1;
	if (need > SLOT_SIZE || !fsize_unlimited())
		return open_dedicated(c, need);
	int err = 0;
	pthread_mutex_lock(&files_lock);
	struct vm_cache_file *f = file_with_room(&err);
	if (f != NULL) {
		uint32_t slot = f->nfree > 0 ? f->free[--f->nfree] : f->fresh++;
		f->used++;
		*c = (struct vm_cache){ .fd = f->fd,
		                        .base = (uint64_t)slot << SLOT_SHIFT,
		                        .limit = SLOT_SIZE, .file = f, .slot = slot };
	}
	pthread_mutex_unlock(&files_lock);
	return f != NULL ? 0 : err;
}

void vm_cache_close(struct vm_cache *c, uint64_t used)
{
	if (c->fd < 0)
		return;
	struct vm_cache_file *f = c->file;
	if (f == NULL) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	/* The pages must not outlive the object in a file others share. */
	if (used > 0)
		vm_cache_punch(c, 0, used);
	pthread_mutex_lock(&files_lock);
	bool keep = true;
	if (--f->used == 0) {
		/* Empty: the descriptor goes too. */
		for (struct vm_cache_file **pp = &files; *pp; pp = &(*pp)->next)
			if (*pp == f) {
				*pp = f->next;
				break;
			}
		keep = false;
	} else if (f->nfree == f->free_cap) {
		uint32_t cap = f->free_cap ? f->free_cap * 2 : 64;
		uint32_t *fr = realloc(f->free, cap * sizeof *fr);
		if (fr != NULL) {
			f->free = fr;
			f->free_cap = cap;
		}
	}
	if (keep && f->nfree < f->free_cap)
		f->free[f->nfree++] = c->slot;
	/* (Out of memory for the free list: the slot is lost, not reused.) */
	pthread_mutex_unlock(&files_lock);
	if (!keep) {
		close(f->fd);
		free(f->free);
		free(f);
	}
	c->fd = -1;
}

int vm_cache_grow(struct vm_cache *c, uint64_t size, bool fresh)
{
	if (size > c->limit && c->file != NULL && fresh) {
		struct vm_cache own;
		int err = open_dedicated(&own, size);
		if (err != 0)
			return err;
		vm_cache_close(c, 0);
		*c = own;
		return 0;
	}
	if (size > c->limit)
		return -EFBIG;
	if (c->file != NULL)
		return 0;                /* a shared file is sized once */
	/* Refused here rather than by ftruncate, which would also raise
	 * SIGXFSZ. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    size > rl.rlim_cur)
		return -EFBIG;
	return os_memfd_grow(c->fd, size);
}

bool vm_map_count_exhausted(unsigned long *max)
{
	unsigned long limit = 0, count = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f == NULL)
		return false;
	int got = fscanf(f, "%lu", &limit);
	fclose(f);
	if (got != 1 || (f = fopen("/proc/self/maps", "re")) == NULL)
		return false;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		for (size_t i = 0; i < n; i++)
			count += buf[i] == '\n';
	fclose(f);
	if (max != NULL)
		*max = limit;
	/* A mapping being made may need a few more (splits). */
	return count + 8 >= limit;
}

void vm_cache_report_limit(const char *what, int err)
{
	static atomic_uint said;
	unsigned bit;
	char limit[64] = "";
	struct rlimit rl;
	const char *text;
	switch (err < 0 ? -err : err) {
	case EMFILE:
		bit = 1;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
			snprintf(limit, sizeof limit, " %llu",
			         (unsigned long long)rl.rlim_cur);
		text = "no file descriptor left for a page cache: RLIMIT_NOFILE";
		break;
	case ENFILE:
		bit = 2;
		text = "the system's file table is full: fs.file-max";
		break;
	case EFBIG:
		bit = 4;
		if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			snprintf(limit, sizeof limit, " %llu",
			         (unsigned long long)rl.rlim_cur);
			text = "the page cache cannot grow so far: RLIMIT_FSIZE";
		} else {
			text = "the page cache cannot grow so far: an object made "
			       "below 128 TiB stays below it";
		}
		break;
	case ENOMEM: {
		unsigned long max = 0;
		bit = 8;
		if (vm_map_count_exhausted(&max)) {
			snprintf(limit, sizeof limit, " %lu", max);
			text = "no memory mapping left: vm.max_map_count";
		} else {
			text = "out of memory or address space (RLIMIT_AS)";
		}
		break;
	}
	default:
		return;
	}
	if (atomic_fetch_or(&said, bit) & bit)
		return;
	os_log(OS_LOG_WARN, "%s: %s%s (%s)", what, text, limit,
	        strerror(err < 0 ? -err : err));
}
