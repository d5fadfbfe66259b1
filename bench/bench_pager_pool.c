/* bench_pager_pool: do several application threads faulting on ONE object
 * of the shipped file pager go faster than one (issue 13, item 4)?
 *
 * Each run maps one file-pager object (4 KiB clusters: one page per fault)
 * over a file in the page cache and reads one byte of every page, in a
 * shuffled order (fixed seed; the random order keeps read-ahead out of the
 * way), split between 1, 2 and 4 application threads (each its own pages).
 * The pager serves the object on its pool of threads (pagers/pager_pool.c);
 * MEMOBJ_PAGER_THREADS sets its size, and the table runs it twice: with
 * the pool at its default size and with one thread (what the pager did
 * before the pool), so the effect of the pool shows in one process run.
 *
 * Every configuration runs MEMOBJ_BENCH_RUNS times (default 7), the thread
 * counts interleaved; the table gives medians of: µs per fault (wall time /
 * faults the kernel counted), CPU µs per fault (process user+system time:
 * on a noisy machine the wall time moves, the CPU time less), context
 * switches per fault (getrusage), and the ratio of µs per fault to the
 * one-thread run of the same repetition; and the share of data_requests
 * the pager began while it was serving another (file_pager_stats_t
 * requests_overlapped: a measure of the pool at work that the machine's
 * noise does not move much). Last, the aim with met / not met.
 *
 *   bench_pager_pool [POOL_THREADS...]   (MEMOBJ_BENCH_MB, default 16 MiB)
 *
 * With POOL_THREADS arguments: one table per size given, and no aim.
 */
#include <mach/mach.h>

#include <memobj/file_pager.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define MAX_THREADS 4
static const int thread_counts[] = { 1, 2, 4 };
#define N_COUNTS (sizeof thread_counts / sizeof thread_counts[0])
#define AIM_RATIO_4 0.6          /* 4 threads: time per fault vs 1 thread */

static size_t page_size, page_count, object_size;
static uint32_t *order;
static uint8_t *expected;        /* the first byte of each page */
static char file_path[4096];

static void remove_file(void)
{
	if (file_path[0])
		unlink(file_path);
}

static void prepare(size_t megabytes)
{
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	object_size = megabytes << 20;
	page_count = object_size / page_size;
	order = malloc(page_count * sizeof *order);
	expected = malloc(page_count);
	uint8_t *page = malloc(page_size);
	if (order == NULL || expected == NULL || page == NULL)
		die("malloc");
	const char *dir = getenv("TMPDIR");
	snprintf(file_path, sizeof file_path, "%s/bench_pager_pool.%d.XXXXXX",
	         dir ? dir : "/var/tmp", (int)getpid());
	int fd = mkstemp(file_path);
	if (fd < 0)
		die("mkstemp");
	atexit(remove_file);
	uint64_t seed = 42;
	for (size_t p = 0; p < page_count; p++) {
		for (size_t i = 0; i < page_size; i++)
			page[i] = (uint8_t)splitmix64(&seed);
		expected[p] = page[0];
		if (write(fd, page, page_size) != (ssize_t)page_size)
			die("write bench file");
		order[p] = (uint32_t)p;
	}
	close(fd);
	free(page);
	uint64_t shuffle = 7;
	for (size_t i = page_count - 1; i > 0; i--) {
		size_t j = splitmix64(&shuffle) % (i + 1);
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

typedef struct job {
	const volatile uint8_t *base;
	const uint32_t *order;
	size_t count;
	size_t bad;
	pthread_barrier_t *start;
	pthread_t thread;
} job_t;

static void *touch_main(void *arg)
{
	job_t *j = arg;
	pthread_barrier_wait(j->start);
	for (size_t i = 0; i < j->count; i++) {
		size_t p = j->order[i];
		if (j->base[p * page_size] != expected[p])
			j->bad++;
	}
	return NULL;
}

typedef struct sample {
	double us_per_fault, cpu_us_per_fault, csw_per_fault;
	double overlapped;           /* share of requests begun beside another */
} sample_t;

static uint64_t kernel_faults(void)
{
	vm_statistics_data_t st;
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	if (host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&st,
	                    &count) != KERN_SUCCESS)
		return 0;
	return st.faults;
}

static double cpu_seconds(struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1e-6;
}

static sample_t run_once(int nthreads)
{
	memory_object_t object;
	file_pager_t *pager = file_pager_create(file_path, 4096, &object);
	if (pager == NULL)
		die("file_pager_create");
	vm_address_t address = 0;
	kern_return_t kr = vm_map(mach_task_self(), &address, object_size, 0, TRUE,
	        object, 0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "vm_map: %d\n", kr);
		exit(2);
	}
	job_t jobs[MAX_THREADS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
	size_t share = page_count / (size_t)nthreads;
	for (int t = 0; t < nthreads; t++) {
		jobs[t] = (job_t){
			.base = (const uint8_t *)(uintptr_t)address,
			.order = order + (size_t)t * share,
			.count = t == nthreads - 1 ? page_count - (size_t)t * share : share,
			.start = &start,
		};
		if (pthread_create(&jobs[t].thread, NULL, touch_main, &jobs[t]) != 0)
			die("pthread_create");
	}
	struct rusage ru0, ru1;
	uint64_t faults0 = kernel_faults();
	getrusage(RUSAGE_SELF, &ru0);
	double t0 = now_seconds();
	pthread_barrier_wait(&start);
	size_t bad = 0;
	for (int t = 0; t < nthreads; t++) {
		pthread_join(jobs[t].thread, NULL);
		bad += jobs[t].bad;
	}
	double wall = now_seconds() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	uint64_t faults = (uint64_t)(natural_t)(kernel_faults() - faults0);
	pthread_barrier_destroy(&start);
	if (bad != 0) {
		fprintf(stderr, "bench_pager_pool: %zu pages read wrong bytes\n", bad);
		exit(1);
	}
	file_pager_stats_t st;
	file_pager_get_stats(pager, &st);
	vm_deallocate(mach_task_self(), address, object_size);
	if (file_pager_wait_detached(pager, 30000) != KERN_SUCCESS)
		fprintf(stderr, "file pager: not detached 30 s after unmap\n");
	file_pager_destroy(pager);
	if (faults == 0)
		faults = 1;
	long csw = (ru1.ru_nvcsw + ru1.ru_nivcsw) - (ru0.ru_nvcsw + ru0.ru_nivcsw);
	return (sample_t){
		.us_per_fault = wall * 1e6 / (double)faults,
		.cpu_us_per_fault = (cpu_seconds(&ru1) - cpu_seconds(&ru0)) * 1e6 /
		                    (double)faults,
		.csw_per_fault = (double)csw / (double)faults,
		.overlapped = st.data_requests ? (double)st.requests_overlapped /
		              (double)st.data_requests : 0,
	};
}

/* Runs every thread count `runs` times with the pool at `pool_threads`
 * (NULL: the pager's default) and prints one table; returns the median
 * 4-thread ratio. */
static double table(const char *pool_threads, int runs)
{
	if (pool_threads)
		setenv("MEMOBJ_PAGER_THREADS", pool_threads, 1);
	else
		unsetenv("MEMOBJ_PAGER_THREADS");
	double us[N_COUNTS][runs], cpu[N_COUNTS][runs], csw[N_COUNTS][runs],
	       ratio[N_COUNTS][runs], over[N_COUNTS][runs];
	for (int r = 0; r < runs; r++)
		for (size_t c = 0; c < N_COUNTS; c++) {
			sample_t s = run_once(thread_counts[c]);
			us[c][r] = s.us_per_fault;
			cpu[c][r] = s.cpu_us_per_fault;
			csw[c][r] = s.csw_per_fault;
			over[c][r] = s.overlapped;
		}
	for (int r = 0; r < runs; r++)
		for (size_t c = 0; c < N_COUNTS; c++)
			ratio[c][r] = us[c][r] / us[0][r];
	printf("\npager pool threads: %s\n", pool_threads ? pool_threads
	       : "default (MEMOBJ_PAGER_THREADS unset)");
	printf("%-8s %12s %12s %10s %11s %14s\n", "app thr", "us/fault",
	       "cpu us/fault", "csw/fault", "overlapped", "ratio vs 1 thr");
	double r4 = 0;
	for (size_t c = 0; c < N_COUNTS; c++) {
		double rt = median(ratio[c], runs);
		printf("%-8d %12.2f %12.2f %10.2f %10.0f%% %14.2f\n", thread_counts[c],
		       median(us[c], runs), median(cpu[c], runs),
		       median(csw[c], runs), 100 * median(over[c], runs), rt);
		if (thread_counts[c] == 4)
			r4 = rt;
	}
	return r4;
}

int main(int argc, char **argv)
{
	const char *mb = getenv("MEMOBJ_BENCH_MB");
	const char *rn = getenv("MEMOBJ_BENCH_RUNS");
	int runs = rn ? atoi(rn) : 7;
	if (runs < 1)
		runs = 1;
	prepare(mb ? strtoul(mb, NULL, 10) : 16);
	printf("bench_pager_pool: %zu MiB file-pager object, 4 KiB clusters, "
	       "random order, %d runs, medians\n", object_size >> 20, runs);
	/* Arguments: only these pool sizes (MEMOBJ_PAGER_THREADS), no aim. */
	for (int i = 1; i < argc; i++)
		table(argv[i], runs);
	if (argc > 1)
		return 0;
	double pooled = table(NULL, runs);
	double serial = table("1", runs);
	printf("\naim: 4 application threads on one object, time per fault "
	       "<= %.1fx of 1 thread: %.2fx  %s   (one pager thread: %.2fx)\n",
	       AIM_RATIO_4, pooled, pooled <= AIM_RATIO_4 ? "met" : "not met",
	       serial);
	return 0;
}
