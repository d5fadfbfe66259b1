/* What libmach sets up before main (OSF/XNU mach_init.h): the kernel's
 * page size, the calling thread's port, the node's name server. */
#ifndef MACH_MACH_INIT_H
#define MACH_MACH_INIT_H

#include <mach/mach_types.h>

/* This kernel's page size (MEMOBJ_PAGE_SIZE if set, else the system's),
 * its mask (size - 1) and log2; set before main runs, equal to what
 * host_page_size answers. */
extern vm_size_t vm_page_size;
extern vm_size_t vm_page_mask;
extern int vm_page_shift;

#ifndef trunc_page
#define trunc_page(x) ((x) & ~vm_page_mask)
#endif
#ifndef round_page
#define round_page(x) trunc_page((x) + vm_page_mask)
#endif

/* A send right to the calling thread's port: each call adds a user
 * reference, which the caller releases with mach_port_deallocate. The
 * port dies when the thread exits (the name becomes a dead name). */
mach_port_t mach_thread_self(void);

/* A send right to this node's name server, for netname_check_in /
 * netname_look_up / netname_check_out; set before main runs. */
extern mach_port_t name_server_port;

#endif
