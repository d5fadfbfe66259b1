/* A thread that touches one address and may take SIGBUS (a memory error
 * from the kernel): tests start it, make its wait end (or not), and join
 * it within a bound. Install toucher_sigbus as the SIGBUS handler first
 * (toucher_install). */
#ifndef MEMOBJ_TEST_TOUCHER_H
#define MEMOBJ_TEST_TOUCHER_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <mach/mach.h>

#define TOUCH_WAIT_MS 10000

static __thread sigjmp_buf touch_jmp;
static __thread volatile sig_atomic_t touch_armed;

static void toucher_sigbus(int sig)
{
	if (!touch_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	siglongjmp(touch_jmp, 1);
}

static __attribute__((unused)) void toucher_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = toucher_sigbus;
	sigaction(SIGBUS, &sa, NULL);
}

struct toucher {
	volatile uint8_t *addr;
	int write;
	int result;                 /* 0 ran through, 1 SIGBUS */
	pthread_t thread;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;
	touch_armed = 1;
	if (sigsetjmp(touch_jmp, 1) == 0) {
		if (t->write)
			*t->addr = 0x5a;
		else
			(void)*t->addr;
		t->result = 0;
	} else {
		t->result = 1;
	}
	touch_armed = 0;
	return NULL;
}

static __attribute__((unused)) int touch_start(struct toucher *t,
        vm_address_t addr, int write)
{
	t->addr = (volatile uint8_t *)addr;
	t->write = write;
	t->result = -1;
	return pthread_create(&t->thread, NULL, touch_main, t);
}

/* Joins the toucher within TOUCH_WAIT_MS; its result, or -1 if it still
 * waits (it is left behind: the test has failed). */
static __attribute__((unused)) int touch_join(struct toucher *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += TOUCH_WAIT_MS / 1000;
	if (pthread_timedjoin_np(t->thread, NULL, &ts) != 0)
		return -1;
	return t->result;
}

/* The kernel's fault count (host_statistics). */
static __attribute__((unused)) unsigned toucher_faults(void)
{
	vm_statistics_data_t s;
	mach_msg_type_number_t n = HOST_VM_INFO_COUNT;
	memset(&s, 0, sizeof s);
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s, &n);
	return s.faults;
}

/* Bounded wait until the kernel has taken a fault since `before`. */
static __attribute__((unused)) int toucher_wait_fault(unsigned before)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (toucher_faults() <= before) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000 > TOUCH_WAIT_MS)
			return 0;
		sched_yield();
	}
	return 1;
}

#endif
