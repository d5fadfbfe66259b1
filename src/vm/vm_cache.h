/* A memory object's page cache: an extent of a memfd.
 *
 * Objects share descriptors: most caches are slots of 2^47 bytes (the
 * whole user address space, so any mapping fits) in a shared memfd of
 * 65535 slots, sized once and sparse, so that tens of thousands of objects
 * cost a handful of file descriptors rather than one each. An object whose
 * first mapping reaches past a slot, or one made while RLIMIT_FSIZE is
 * finite (a shared file's high offsets would break it), gets a memfd of its
 * own, grown as needed. Every cache access goes through these calls, which
 * add the slot's base offset. */
#ifndef MEMOBJ_VM_CACHE_H
#define MEMOBJ_VM_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "os/os_memfd.h"

struct vm_cache_file;

struct vm_cache {
	int fd;                         /* -1 when closed */
	uint64_t base;                  /* file offset of object offset 0 */
	uint64_t limit;                 /* object offsets below it can be backed */
	struct vm_cache_file *file;     /* shared file, NULL when dedicated */
	uint32_t slot;
};

/* Opens a cache able to hold object offsets [0, need). 0 or -errno
 * (-EMFILE, -ENFILE, -EFBIG, -ENOMEM). Prints nothing. */
int vm_cache_open(struct vm_cache *c, uint64_t need);
/* Drops every page below `used` and gives the slot (or the memfd) back. */
void vm_cache_close(struct vm_cache *c, uint64_t used);
/* Makes object offsets [0, size) backed. 0, -EFBIG past the limit, or
 * -errno. When `fresh` (nothing cached yet), a shared slot too small is
 * traded for a memfd of its own. */
int vm_cache_grow(struct vm_cache *c, uint64_t size, bool fresh);

/* Prints, once per process and kind, one line on stderr naming the system
 * limit an error from the cache or mmap means (EMFILE: RLIMIT_NOFILE,
 * ENFILE: fs.file-max, EFBIG: RLIMIT_FSIZE or the cache's size, ENOMEM:
 * vm.max_map_count or memory). `what` names the call. */
void vm_cache_report_limit(const char *what, int err);

/* True when the process is at (or within a few of) vm.max_map_count;
 * *max gets the limit. Reads /proc: for error paths only. */
bool vm_map_count_exhausted(unsigned long *max);

static inline int vm_cache_write(const struct vm_cache *c, uint64_t off,
        const void *buf, size_t len)
{
	return os_memfd_write(c->fd, c->base + off, buf, len);
}
static inline int vm_cache_read(const struct vm_cache *c, uint64_t off,
        void *buf, size_t len)
{
	return os_memfd_read(c->fd, c->base + off, buf, len);
}
static inline int vm_cache_zero(const struct vm_cache *c, uint64_t off,
        uint64_t len)
{
	return os_memfd_zero(c->fd, c->base + off, len);
}
static inline int vm_cache_punch(const struct vm_cache *c, uint64_t off,
        uint64_t len)
{
	return os_memfd_punch(c->fd, c->base + off, len);
}
static inline int vm_cache_map_fixed(const struct vm_cache *c, uintptr_t addr,
        size_t len, uint64_t off, int prot, int private_copy)
{
	return os_memfd_map_fixed(c->fd, addr, len, c->base + off, prot,
	                          private_copy);
}

#endif
