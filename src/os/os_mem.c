/* Anonymous memory and mapping calls the VM makes outside any cache. */
#include "os/os_mem.h"

#include <errno.h>
#include <sys/mman.h>

int os_mapping_zap(uintptr_t addr, size_t len)
{
	return madvise((void *)addr, len, MADV_DONTNEED) == 0 ? 0 : -errno;
}

int os_pages_lazy_free(void *addr, size_t len)
{
#ifdef MADV_FREE
	if (madvise(addr, len, MADV_FREE) == 0)
		return 0;
#endif
	return madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : -errno;
}

void *os_pages_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void *os_pages_alloc_populated(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void os_pages_free(void *addr, size_t len)
{
	if (addr != NULL && len != 0)
		munmap(addr, len);
}
