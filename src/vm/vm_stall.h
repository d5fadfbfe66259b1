/* The stall watchdog (vm_stall.c, MEMOBJ_STALL_WARN): reports threads
 * that have waited on a manager longer than the limit. */
#ifndef MEMOBJ_VM_STALL_H
#define MEMOBJ_VM_STALL_H

#include <stdint.h>

/* The watchdog's body; arg is the struct vm_kernel. Started (once,
 * unless MEMOBJ_STALL_WARN=0) by vm_kernel_stall_start. */
void *vm_stall_thread(void *arg);

#endif
