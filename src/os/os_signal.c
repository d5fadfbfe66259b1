/* SIGBUS delivery to a faulting thread and signal masks of our threads. */
#include "os/os_signal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/syscall.h>

int os_signal_sigbus(pid_t tid, uintptr_t addr, int reason)
{
	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_signo = SIGBUS;
	info.si_code = SI_QUEUE;
	info.si_addr = (void *)addr;
	info.si_value.sival_int = reason;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGBUS, &info) != 0)
		return -errno;
	return 0;
}

void os_signal_block_all(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}
