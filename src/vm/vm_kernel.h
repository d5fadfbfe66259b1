/* The memobj kernel of this process: one page size, one userfaultfd, one
 * fault thread, the statistics. Started on first use. */
#ifndef MEMOBJ_VM_KERNEL_H
#define MEMOBJ_VM_KERNEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <mach/mach.h>

struct vm_kernel {
	vm_size_t page_size;      /* the kernel page size (MEMOBJ_PAGE_SIZE) */
	vm_size_t page_mask;      /* page_size - 1 */
	unsigned  page_shift;
	vm_size_t system_page_size;
	int       uffd;           /* -errno when userfaultfd is unavailable */
	unsigned  uffd_features;  /* OS_UFFD_HAVE_* */
	bool      wp;             /* dirty tracking by userfault write protect */
	vm_size_t resident_max;   /* pages (MEMOBJ_RESIDENT_MAX) */
	uint32_t  stall_warn_ms;  /* MEMOBJ_STALL_WARN; 0: no warnings */
	/* host_statistics(HOST_VM_INFO) */
	atomic_uint faults, pageins, zero_fills, active;
	atomic_uint pageouts, reactivations;
};

/* The kernel, started on first call (pthread_once). Never NULL. */
struct vm_kernel *vm_kernel(void);

static inline vm_size_t vm_trunc_page(struct vm_kernel *k, vm_size_t x)
{
	return x & ~k->page_mask;
}
/* Rounds up; callers check for overflow first (vm_round_overflows). */
static inline vm_size_t vm_round_page(struct vm_kernel *k, vm_size_t x)
{
	return (x + k->page_mask) & ~k->page_mask;
}
static inline int vm_round_overflows(struct vm_kernel *k, vm_size_t x)
{
	return x > (vm_size_t)-1 - k->page_mask;
}

/* Parses MEMOBJ_PAGE_SIZE; returns the system page size when unset, and
 * when invalid after a warning on stderr. */
vm_size_t vm_kernel_page_size_from_env(vm_size_t system_page_size);

/* Parses MEMOBJ_RESIDENT_MAX (bytes, k/m/g suffixes) into pages; the
 * default is half of physical memory. */
vm_size_t vm_kernel_resident_max_from_env(vm_size_t page_size);

/* Parses MEMOBJ_STALL_WARN (seconds up to 10^6, decimals allowed, 0 turns the
 * warning off; default 10) into milliseconds. */
uint32_t vm_kernel_stall_warn_from_env(void);

/* Starts the stall watchdog (vm_stall.h) once, unless
 * MEMOBJ_STALL_WARN=0: the first vm_map of a memory object calls it. */
void vm_kernel_stall_start(void);

#endif
