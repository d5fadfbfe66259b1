/* Out-of-line memory carried by messages.
 *
 * The receiver gets a fresh page-aligned mmap'd region (freed with
 * vm_deallocate). The sender's memory is read with process_vm_readv on
 * our own pid so that a bad pointer becomes MACH_SEND_INVALID_MEMORY
 * rather than a crash; a kernel space's (the net layer's frame buffer,
 * the VM's pages) is the library's own and is copied as it is. With
 * deallocate set, whole pages are handed over as they are (one address
 * space: nothing to copy), after a check that each is mapped and
 * readable -- except from a kernel space, whose pages are its own fresh
 * allocations. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include "ipc_internal.h"
#include "os/os_page_pool.h"

static uintptr_t page_trunc(uintptr_t a) { return a & ~(uintptr_t)(ipc_page_size - 1); }
static uintptr_t page_round(uintptr_t a) { return page_trunc(a + ipc_page_size - 1); }

void *ipc_ool_alloc(size_t len)
{
	void *p = mmap(NULL, page_round(len), PROT_READ | PROT_WRITE,
	        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void ipc_ool_free(void *addr, size_t len)
{
	if (addr == NULL || len == 0)
		return;
	uintptr_t start = page_trunc((uintptr_t)addr);
	/* Pages a data_return handed over may be the page pool:
	 * they go back to it (a leaf lock), the rest is unmapped. */
	os_page_pool_free((void *)start, page_round((uintptr_t)addr + len) - start);
}

void ipc_ool_release(void *addr, size_t len)
{
	if (addr == NULL || len == 0)
		return;
	(void)vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)addr, len);
}

mach_msg_return_t ipc_ool_read(void *dst, const void *src, size_t len)
{
	pid_t self = getpid();   /* not cached: a forked child is another pid */
	char *d = dst;
	const char *s = src;
	while (len > 0) {
		struct iovec local = { d, len }, remote = { (void *)s, len };
		ssize_t n = process_vm_readv(self, &local, 1, &remote, 1, 0);
		if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
			/* Sandboxed without the call: trust the pointer. */
			memcpy(d, s, len);
			return MACH_MSG_SUCCESS;
		}
		if (n <= 0)
			return MACH_SEND_INVALID_MEMORY;
		d += n;
		s += n;
		len -= (size_t)n;
	}
	return MACH_MSG_SUCCESS;
}

bool ipc_ool_mapped(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	if (len == 0)
		return true;
	if (a + len < a || a + len > UINTPTR_MAX - ipc_page_size)
		return false;
	uintptr_t start = page_trunc(a);
	/* msync checks the range is mapped without touching it. */
	return msync((void *)start, page_round(a + len) - start, MS_ASYNC) == 0;
}

/* True when every page of the page-aligned range can be read: one byte
 * of each page, up to 1024 pages per process_vm_readv. */
static bool pages_readable(const void *addr, size_t len)
{
	enum { BATCH = 1024 };
	struct iovec local[1], remote[BATCH];
	char sink[BATCH];
	pid_t self = getpid();
	size_t pages = len / ipc_page_size;
	for (size_t done = 0; done < pages;) {
		size_t n = pages - done < BATCH ? pages - done : BATCH;
		for (size_t i = 0; i < n; i++) {
			remote[i].iov_base = (char *)addr + (done + i) * ipc_page_size;
			remote[i].iov_len = 1;
		}
		local[0].iov_base = sink;
		local[0].iov_len = n;
		ssize_t got = process_vm_readv(self, local, 1, remote, n, 0);
		if (got < 0 && (errno == ENOSYS || errno == EPERM))
			return ipc_ool_mapped(addr, len);
		if (got != (ssize_t)n)
			return false;
		done += n;
	}
	return true;
}

/* Whole pages with deallocate: the receiver takes these very pages. */
static bool handed_over(const void *addr, mach_msg_size_t size, bool deallocate)
{
	return deallocate && size > 0 && ((uintptr_t)addr & (ipc_page_size - 1)) == 0 &&
	       (size & (ipc_page_size - 1)) == 0;
}

bool ipc_ool_handed_over(const void *addr, mach_msg_size_t size, bool deallocate)
{
	return handed_over(addr, size, deallocate);
}

mach_msg_return_t ipc_ool_copyin(void *addr, mach_msg_size_t size,
        bool deallocate, bool kernel, void **copy,
        struct ipc_dealloc_range *dealloc)
{
	dealloc->addr = NULL;
	dealloc->len = 0;
	*copy = NULL;
	if (size == 0)
		return MACH_MSG_SUCCESS;
	if (handed_over(addr, size, deallocate)) {
		/* The kernel's pages (a data_return's, fresh) need no probe:
		 * three system calls per message on the write-back path. */
		if (!kernel && (!ipc_ool_mapped(addr, size) || !pages_readable(addr, size)))
			return MACH_SEND_INVALID_MEMORY;
		*copy = addr;
		return MACH_MSG_SUCCESS;
	}
	/* Before making the copy: it must not land in a hole of the source
	 * and so make a bad range readable. A kernel space's data is its own
	 * memory (the net layer's frame buffer): copied as it is, without the
	 * probe and the checked read (two system calls per message a link
	 * delivers). */
	if (!kernel && !ipc_ool_mapped(addr, size))
		return MACH_SEND_INVALID_MEMORY;
	void *region = ipc_ool_alloc(size);
	if (region == NULL)
		return MACH_SEND_NO_BUFFER;
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	if (kernel)
		memcpy(region, addr, size);
	else
		mr = ipc_ool_read(region, addr, size);
	if (mr != MACH_MSG_SUCCESS) {
		ipc_ool_free(region, size);
		return mr;
	}
	if (deallocate) {
		uintptr_t start = page_trunc((uintptr_t)addr);
		dealloc->addr = (void *)start;
		dealloc->len = page_round((uintptr_t)addr + size) - start;
	}
	*copy = region;
	return MACH_MSG_SUCCESS;
}
