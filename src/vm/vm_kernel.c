/* Starting the kernel: page size, userfaultfd, fault thread. */
#include "vm/vm_kernel.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/ipc_kernel.h"
#include "os/os_log.h"
#include "os/os_uffd.h"
#include "vm/vm_fault.h"
#include "vm/vm_internal.h"
#include "vm/vm_stall.h"

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
	/* Read twice (libmach's vm_page_size at load, the kernel at start):
	 * one warning. */
	static atomic_flag warned = ATOMIC_FLAG_INIT;
	if (!valid && !atomic_flag_test_and_set(&warned))
		os_log(OS_LOG_WARN, "MEMOBJ_PAGE_SIZE=%s is not a power of two "
		        "from the system page size (%llu) to 2 MiB; using %llu",
		        env, (unsigned long long)system_page_size,
		        (unsigned long long)system_page_size);
	return valid ? (vm_size_t)v : system_page_size;
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
			os_log(OS_LOG_WARN, "MEMOBJ_RESIDENT_MAX=%s is not a size "
			        "of at least one page (e.g. 512m); using %llu",
			        env, dflt);
		else
			bytes = v << shift;
	}
	vm_size_t pages = (vm_size_t)(bytes / page_size);
	return pages ? pages : 1;
}

uint32_t vm_kernel_stall_warn_from_env(void)
{
	const char *env = getenv("MEMOBJ_STALL_WARN");
	if (env == NULL || *env == '\0')
		return 10000;
	char *end;
	errno = 0;
	double v = strtod(env, &end);
	if (errno != 0 || *end != '\0' || end == env || !(v >= 0) ||
	    v > 1e6) {
		os_log(OS_LOG_WARN, "MEMOBJ_STALL_WARN=%s is not a number of "
		        "seconds (0 turns the warning off); using 10", env);
		return 10000;
	}
	uint32_t ms = (uint32_t)(v * 1000.0 + 0.5);
	return ms == 0 && v > 0 ? 1 : ms;
}

static void kernel_start(void)
{
	struct vm_kernel *k = &the_kernel;
	k->system_page_size = (vm_size_t)sysconf(_SC_PAGESIZE);
	k->page_size = vm_kernel_page_size_from_env(k->system_page_size);
	k->page_mask = k->page_size - 1;
	k->page_shift = (unsigned)__builtin_ctzll(k->page_size);
	k->resident_max = vm_kernel_resident_max_from_env(k->page_size);
	k->stall_warn_ms = vm_kernel_stall_warn_from_env();
	k->uffd = os_uffd_open(&k->uffd_features);
	k->wp = k->uffd >= 0 && (k->uffd_features & OS_UFFD_HAVE_WP);
	if (k->uffd < 0) {
		os_log(OS_LOG_ERROR, "userfaultfd unavailable (%s): vm_map of "
		        "memory objects will fail", strerror(-k->uffd));
		return;
	}
	vm_fault_readers_start(k);
	pthread_t thread;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&thread, &attr, vm_fault_thread, k);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		os_log(OS_LOG_ERROR, "cannot start the fault thread (%s)",
		        strerror(err));
		ipc_set_idle_hook(NULL);   /* no receive reads faults either */
		close(k->uffd);
		k->uffd = -err;
		return;
	}
	/* MEMOBJ_DEFAULT_PAGER: register that node's default pager. */
	vm_internal_kernel_start();
}

static pthread_once_t stall_once = PTHREAD_ONCE_INIT;

static void stall_start(void)
{
	struct vm_kernel *k = &the_kernel;
	if (k->stall_warn_ms == 0 || k->uffd < 0)
		return;
	pthread_t thread;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&thread, &attr, vm_stall_thread, k);
	pthread_attr_destroy(&attr);
	if (err != 0)
		os_log(OS_LOG_WARN, "cannot start the stall watchdog (%s); "
		        "MEMOBJ_STALL_WARN is off", strerror(err));
}

void vm_kernel_stall_start(void)
{
	(void)vm_kernel();          /* starts the kernel; never fails */
	pthread_once(&stall_once, stall_start);
}

struct vm_kernel *vm_kernel(void)
{
	pthread_once(&kernel_once, kernel_start);
	return &the_kernel;
}
