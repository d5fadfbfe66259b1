/* The default pager shipped with memobj: the default memory manager that
 * backs vm_allocate memory (memory_object_create, data_initialize) and
 * serves anonymous shared objects (default_pager_object_create), in the
 * spirit of mach-defpager and the OSF default pager.
 *
 * default_pager_start opens (or creates) backing_file, makes it the first
 * segment of the pager's first backing store, starts the pager's server
 * threads (bounded: two), registers it with host_default_memory_manager
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

#endif
