/* A memory object's page cache is a memfd: these wrap its file calls. */
#ifndef MEMOBJ_OS_MEMFD_H
#define MEMOBJ_OS_MEMFD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A new empty memfd (close-on-exec). fd or -errno. */
int os_memfd_create(const char *name);
/* Grows the file to at least `size` bytes. 0 or -errno. */
int os_memfd_grow(int fd, uint64_t size);
/* Writes all of buf at `offset`. 0 or -errno. */
int os_memfd_write(int fd, uint64_t offset, const void *buf, size_t len);
/* Reads len bytes at `offset` into buf. 0 or -errno. */
int os_memfd_read(int fd, uint64_t offset, void *buf, size_t len);
/* Allocates zero-filled pages (present in the cache, so no fault event). */
int os_memfd_zero(int fd, uint64_t offset, uint64_t len);
/* Drops pages from the cache (a later access faults again). */
int os_memfd_punch(int fd, uint64_t offset, uint64_t len);
/* Maps [offset, offset+len) of fd MAP_SHARED (MAP_PRIVATE when private)
 * exactly at addr, replacing what is there. 0 or -errno. */
int os_memfd_map_fixed(int fd, uintptr_t addr, size_t len, uint64_t offset,
        int prot, int private_copy);

#endif
