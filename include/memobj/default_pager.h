/* The default pager shipped with memobj: the default memory manager that
 * backs vm_allocate memory (memory_object_create, data_initialize) and
 * serves anonymous shared objects (default_pager_object_create), in the
 * spirit of mach-defpager and the OSF default pager.
 *
 * default_pager_start opens (or creates) backing_file, makes it the first
 * segment of the pager's first backing store, starts the pager's server
 * threads (a bounded pool: MEMOBJ_PAGER_THREADS, else 2 to 4 by the
 * CPUs), registers it with host_default_memory_manager
 * and checks it in with netname_check_in on this node's name server as
 * DEFAULT_PAGER_NETNAME (so a kernel started with
 * MEMOBJ_DEFAULT_PAGER=unix:PATH or tcp:HOST:PORT, after memobj_listen on
 * that address, pages to it). size: bytes of backing_file to use; the
 * file is grown to it; 0 uses the file's current size. *default_pager
 * gets a send right to the pager port, on which the calls of
 * <mach/default_pager.h> work (default_pager_info, ...).
 *
 * Returns KERN_SUCCESS; KERN_INVALID_ARGUMENT (NULL arguments, a size
 * below one 4 KiB page, an empty file with size 0); KERN_FAILURE (the
 * file cannot be opened or sized); KERN_RESOURCE_SHORTAGE.
 * See docs/default_pager.md and default_pager_start(3). */
#ifndef MEMOBJ_DEFAULT_PAGER_H
#define MEMOBJ_DEFAULT_PAGER_H

#include <mach/mach.h>

/* The netname under which default_pager_start publishes the pager. */
#define DEFAULT_PAGER_NETNAME "memobj-default-pager"
/* The pager's page (and block) size: every segment is cut into these. */
#define DEFAULT_PAGER_BLOCK_SIZE 4096

kern_return_t default_pager_start(const char *backing_file, vm_size_t size,
        mach_port_t *default_pager);

/* Counters of every default pager of this process, for tests and
 * benchmarks: lock acquisitions, and those that found the lock taken (a
 * failed trylock first: noise-free), by lock; data_requests served, those
 * begun while another was being served, and the most served at once. */
typedef struct default_pager_stats {
	unsigned long long lock_acquisitions;
	unsigned long long lock_contended;     /* the sum of the five below */
	unsigned long long list_contended;     /* objects and stores lists */
	unsigned long long object_contended;   /* one object's page map */
	unsigned long long segment_contended;  /* segment table */
	unsigned long long buffer_contended;   /* shared emergency buffer */
	unsigned long long alloc_contended;    /* free-block maps */
	unsigned long long data_requests;
	unsigned long long requests_overlapped;
	unsigned max_parallel_requests;
} default_pager_stats_t;
void default_pager_get_stats(default_pager_stats_t *stats);

#endif
