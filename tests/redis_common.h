/* What the Redis pager's tests share: the byte pattern, mapping, threads
 * that write, SIGBUS catching, and a child process (a fresh kernel) that
 * maps an object by name and checks every byte. */
#ifndef MEMOBJ_REDIS_COMMON_H
#define MEMOBJ_REDIS_COMMON_H

#include <mach/mach.h>
#include <memobj/redis_pager.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RC_DETACH_MS 30000

static inline uint8_t rc_pattern(uint32_t seed, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ seed * 40503u;
	x ^= x >> 15;
	return (uint8_t)(x ^ (i >> 12));
}

static inline uint8_t * rc_map(memory_object_t object, vm_size_t size, vm_prot_t prot)
{
	vm_address_t address = 0;
	kern_return_t kr = vm_map(mach_task_self(), &address, size, 0, TRUE,
	        object, 0, FALSE, prot, VM_PROT_ALL, VM_INHERIT_NONE);
	CHECK_EQ(kr, KERN_SUCCESS);
	REQUIRE(kr == KERN_SUCCESS);
	return (uint8_t *)(uintptr_t)address;
}

static inline void rc_unmap(uint8_t *m, vm_size_t size)
{
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)m, size),
	         KERN_SUCCESS);
}

typedef struct rc_writer {
	uint8_t *base;
	size_t size;
	unsigned index, count;
	uint32_t seed;
} rc_writer_t;

/* Thread `index` of `count` writes every count'th 4 KiB page. */
static inline void * rc_writer_main(void *arg)
{
	rc_writer_t *w = arg;
	for (size_t pg = w->index; pg * 4096 < w->size; pg += w->count)
		for (size_t i = pg * 4096; i < (pg + 1) * 4096 && i < w->size; i++)
			w->base[i] = rc_pattern(w->seed, i);
	return NULL;
}

static inline void rc_write_pattern(uint8_t *base, size_t size, uint32_t seed, unsigned threads)
{
	pthread_t th[8];
	rc_writer_t w[8];
	for (unsigned t = 0; t < threads; t++) {
		w[t] = (rc_writer_t){ base, size, t, threads, seed };
		REQUIRE(pthread_create(&th[t], NULL, rc_writer_main, &w[t]) == 0);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
}

static inline size_t rc_mismatches(const uint8_t *base, size_t size, uint32_t seed)
{
	size_t bad = 0;
	for (size_t i = 0; i < size; i++)
		if (base[i] != rc_pattern(seed, i))
			bad++;
	return bad;
}

/* ---- SIGBUS ---------------------------------------------------------------- */

static __thread sigjmp_buf *rc_jmp;
static void (*rc_fatal_hook)(void);   /* an unexpected SIGBUS: clean up first */
static __thread void *volatile rc_sigbus_addr;

static inline void rc_on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	if (rc_jmp == NULL) {
		if (rc_fatal_hook)
			rc_fatal_hook();
		signal(SIGBUS, SIG_DFL);
		raise(SIGBUS);
		return;
	}
	rc_sigbus_addr = si->si_addr;
	siglongjmp(*rc_jmp, 1);
}

static inline void rc_catch_sigbus(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = rc_on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
}

/* Reads *addr: 0 when it read (the byte in *value), 1 on SIGBUS at addr. */
static inline int rc_touch(volatile uint8_t *addr, uint8_t *value)
{
	sigjmp_buf jb;
	rc_jmp = &jb;
	rc_sigbus_addr = NULL;
	int r = 0;
	if (sigsetjmp(jb, 1) == 0)
		*value = *addr;
	else
		r = rc_sigbus_addr == (void *)addr ? 1 : 2;
	rc_jmp = NULL;
	return r;
}

static inline double rc_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a fresh process checks the bytes --------------------------------------- */

/* Child side: argv = --verify URL NAME SIZE SEED. Exit 0 if every byte is
 * the pattern. */
static inline int rc_verify_main(char **argv)
{
	const char *url = argv[2], *name = argv[3];
	size_t size = strtoull(argv[4], NULL, 10);
	uint32_t seed = (uint32_t)strtoul(argv[5], NULL, 10);
	memory_object_t object;
	if (redis_pager_create(url, name, size, 0, &object) != KERN_SUCCESS)
		return 3;
	vm_address_t address = 0;
	if (vm_map(mach_task_self(), &address, size, 0, TRUE, object, 0, FALSE,
	           VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 4;
	size_t bad = rc_mismatches((const uint8_t *)(uintptr_t)address, size, seed);
	if (bad)
		fprintf(stderr, "verify: %zu of %zu bytes differ\n", bad, size);
	vm_deallocate(mach_task_self(), address, size);
	redis_pager_wait_detached(object, RC_DETACH_MS);
	redis_pager_destroy(object);
	return bad ? 1 : 0;
}

/* Runs this program again as a new process (a new kernel), with
 * MEMOBJ_PAGE_SIZE=page_size when not 0; returns its exit status. */
static inline int rc_verify_in_child(const char *url, const char *name, size_t size,
        uint32_t seed, const char *page_size)
{
	char sizestr[32], seedstr[32];
	snprintf(sizestr, sizeof sizestr, "%zu", size);
	snprintf(seedstr, sizeof seedstr, "%u", seed);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		if (page_size)
			setenv("MEMOBJ_PAGE_SIZE", page_size, 1);
		execl("/proc/self/exe", "verify", "--verify", url, name, sizestr,
		      seedstr, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
