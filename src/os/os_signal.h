/* Signals the VM raises in user threads. */
#ifndef MEMOBJ_OS_SIGNAL_H
#define MEMOBJ_OS_SIGNAL_H

#include <stdint.h>
#include <sys/types.h>

/* Queues SIGBUS on thread `tid` of this process with si_addr = addr and
 * si_value.sival_int = reason. Linux lets a process forge a kernel si_code
 * (BUS_ADRERR) only for a signal to the calling thread itself, so the
 * signal carries si_code SI_QUEUE; it interrupts the thread's userfault
 * wait. 0 or -errno (-ESRCH when the thread is gone). */
int os_signal_sigbus(pid_t tid, uintptr_t addr, int reason);
/* Blocks every blockable signal in the calling (internal) thread. */
void os_signal_block_all(void);

#endif
