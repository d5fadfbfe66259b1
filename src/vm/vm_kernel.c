/* Starting the kernel: page size, userfaultfd, fault thread. */
#include "vm/vm_kernel.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os/os_uffd.h"
#include "vm/vm_internal.h"

static struct vm_kernel the_kernel;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

vm_size_t vm_kernel_page_size_from_env(vm_size_t system_page_size)
{
	const char *env = getenv("MEMOBJ_PAGE_SIZE");
	if (env == NULL || *env == '\0')
		return system_page_size;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(env, &end, 0);
	int valid = errno == 0 && *end == '\0' && v >= 4096 &&
	            v <= 2u * 1024 * 1024 && (v & (v - 1)) == 0 &&
	            v >= system_page_size;
	if (!valid) {
		fprintf(stderr, "memobj: MEMOBJ_PAGE_SIZE=%s is not a power of two "
		        "from the system page size (%llu) to 2 MiB; using %llu\n",
		        env, (unsigned long long)system_page_size,
		        (unsigned long long)system_page_size);
		return system_page_size;
	}
	return (vm_size_t)v;
}

vm_size_t vm_kernel_resident_max_from_env(vm_size_t page_size)
{
	/* Default: half of physical memory, as the cache is shmem that only
	 * swap could otherwise relieve. */
	long phys = sysconf(_SC_PHYS_PAGES), sys = sysconf(_SC_PAGESIZE);
	unsigned long long dflt = phys > 0 && sys > 0
		? (unsigned long long)phys * (unsigned long long)sys / 2
		: 1ull << 30;
	unsigned long long bytes = dflt;
	const char *env = getenv("MEMOBJ_RESIDENT_MAX");
	if (env != NULL && *env != '\0') {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(env, &end, 0);
		unsigned shift = 0;
		switch (*end) {
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		default: break;
		}
		if (errno != 0 || *end != '\0' || end == env ||
		    v > (~0ull >> shift) || (v << shift) < page_size)
			fprintf(stderr, "memobj: MEMOBJ_RESIDENT_MAX=%s is not a size "
			        "of at least one page (e.g. 512m); using %llu\n",
			        env, dflt);
		else
			bytes = v << shift;
	}
	vm_size_t pages = (vm_size_t)(bytes / page_size);
	return pages ? pages : 1;
}

static void kernel_start(void)
{
	struct vm_kernel *k = &the_kernel;
	k->system_page_size = (vm_size_t)sysconf(_SC_PAGESIZE);
	k->page_size = vm_kernel_page_size_from_env(k->system_page_size);
	k->page_mask = k->page_size - 1;
	k->page_shift = (unsigned)__builtin_ctzll(k->page_size);
	k->resident_max = vm_kernel_resident_max_from_env(k->page_size);
	k->uffd = os_uffd_open(&k->uffd_features);
	k->wp = k->uffd >= 0 && (k->uffd_features & OS_UFFD_HAVE_WP);
	if (k->uffd < 0) {
		fprintf(stderr, "memobj: userfaultfd unavailable (%s): vm_map of "
		        "memory objects will fail\n", strerror(-k->uffd));
		return;
	}
	pthread_t thread;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&thread, &attr, vm_fault_thread, k);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		fprintf(stderr, "memobj: cannot start the fault thread (%s)\n",
		        strerror(err));
		close(k->uffd);
		k->uffd = -err;
		return;
	}
	/* MEMOBJ_DEFAULT_PAGER: register that node's default pager. */
	vm_internal_kernel_start();
}

struct vm_kernel *vm_kernel(void)
{
	pthread_once(&kernel_once, kernel_start);
	return &the_kernel;
}
