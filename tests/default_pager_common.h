/* Helpers for the default pager tests: a known pattern written by several
 * threads, bounded waits on the pager's counters. */
#ifndef MEMOBJ_TEST_DEFAULT_PAGER_COMMON_H
#define MEMOBJ_TEST_DEFAULT_PAGER_COMMON_H

#include <mach/mach.h>
#include <memobj/default_pager.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static inline uint64_t dp_pattern(uint64_t word, uint64_t seed)
{
	return (word + 1) * 0x9E3779B97F4A7C15ull ^ seed;
}

struct dp_fill {
	uint64_t *base;
	size_t first, count;             /* words */
	uint64_t seed;
};

static void *dp_fill_thread(void *arg)
{
	struct dp_fill *f = arg;
	for (size_t i = f->first; i < f->first + f->count; i++)
		f->base[i] = dp_pattern(i, f->seed);
	return NULL;
}

/* Writes the pattern over [base, base+size) in `threads` threads. */
static inline void dp_fill(void *base, size_t size, uint64_t seed, int threads)
{
	pthread_t t[16];
	struct dp_fill f[16];
	size_t words = size / 8, per = words / (size_t)threads;
	for (int i = 0; i < threads; i++) {
		f[i] = (struct dp_fill){ base, per * (size_t)i,
		                         i == threads - 1 ? words - per * (size_t)i : per,
		                         seed };
		pthread_create(&t[i], NULL, dp_fill_thread, &f[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
}

/* Number of words that differ from the pattern. */
static inline size_t dp_check(const void *base, size_t size, uint64_t seed)
{
	const uint64_t *w = base;
	size_t bad = 0;
	for (size_t i = 0; i < size / 8; i++)
		bad += w[i] != dp_pattern(i, seed);
	return bad;
}

static inline void dp_nap(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

/* The kernel's resident limit in bytes (MEMOBJ_RESIDENT_MAX, as the
 * tests set it). */
static inline size_t dp_resident_max(void)
{
	const char *e = getenv("MEMOBJ_RESIDENT_MAX");
	size_t v = e ? strtoull(e, NULL, 0) : 1 << 20;
	if (e && (e[strlen(e) - 1] == 'm' || e[strlen(e) - 1] == 'M'))
		v <<= 20;
	else if (e && (e[strlen(e) - 1] == 'k' || e[strlen(e) - 1] == 'K'))
		v <<= 10;
	return v;
}

/* Bytes the pager holds now (0 on error). */
static inline vm_size_t dp_used(mach_port_t pager)
{
	default_pager_info_t info;
	if (default_pager_info(pager, &info) != KERN_SUCCESS)
		return 0;
	return info.total_space - info.free_space;
}

/* Waits (at most 30 s) until the pager holds at least `bytes`. */
static inline int dp_wait_used(mach_port_t pager, vm_size_t bytes)
{
	for (int i = 0; i < 3000; i++) {
		if (dp_used(pager) >= bytes)
			return 1;
		dp_nap();
	}
	return 0;
}

/* Bytes of [base, base+size) not in memory (mincore): what this process
 * paged out, whatever other kernels sharing the pager do. */
static inline size_t dp_not_resident(void *base, size_t size)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = (size + ps - 1) / ps;
	unsigned char *vec = malloc(n);
	size_t out = 0;
	if (vec == NULL || mincore(base, size, vec) != 0) {
		free(vec);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		out += (vec[i] & 1) ? 0 : ps;
	free(vec);
	return out;
}

/* Waits (at most 30 s) until at least `bytes` of the range are out. */
static inline int dp_wait_paged_out(void *base, size_t size, size_t bytes)
{
	for (int i = 0; i < 3000; i++) {
		if (dp_not_resident(base, size) >= bytes)
			return 1;
		dp_nap();
	}
	return 0;
}

/* A new backing store of the highest priority on `pager`, with one 16 MiB
 * segment in the file `seg` (made here): the next pages go to it. */
static inline backing_store_t dp_add_top_store(mach_port_t pager, const char *seg)
{
	backing_store_t bs;
	REQUIRE(default_pager_backing_store_create(pager, BS_MAXPRI, 1, &bs) == KERN_SUCCESS);
	int fd = open(seg, O_RDWR | O_CREAT, 0600);
	REQUIRE(fd >= 0 && ftruncate(fd, 16 << 20) == 0);
	close(fd);
	REQUIRE(default_pager_add_segment(bs, seg, 0, 0, 0) == KERN_SUCCESS);
	return bs;
}

#endif
