/* The file pager on its pool of threads (pagers/pager_pool.c): several
 * application threads faulting on one object all read the file, each page
 * asked once; with pageout at work (CMakeLists.txt runs this with
 * MEMOBJ_RESIDENT_MAX=256k), threads that write and refault their pages
 * always read back their last write (a data_request waits for the
 * data_return before it); destroy leaves no pool thread behind, and a
 * fault after it is a memory error, never a hang. */
#include <mach/mach.h>
#include <memobj/file_pager.h>
#include "harness.h"
#include "thread_count.h"
#include "toucher.h"

#include <dirent.h>
#include <sched.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DETACH_TIMEOUT_MS 30000
#define THREADS 4

static vm_size_t page;

static uint8_t byte_at(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

/* A temporary file of `size` known bytes (unlinked once the pager has
 * it open); fd stays open for checks. */
static file_pager_t *pager_on_file(size_t size, bool writable, vm_size_t cluster,
        memory_object_t *object, int *fd_out)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/test_fp_pool.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	uint8_t *bytes = malloc(size);
	REQUIRE(bytes != NULL);
	for (size_t i = 0; i < size; i++)
		bytes[i] = byte_at(i);
	REQUIRE(write(fd, bytes, size) == (ssize_t)size);
	free(bytes);
	file_pager_t *pager = writable
	        ? file_pager_create_writable(path, cluster, object)
	        : file_pager_create(path, cluster, object);
	unlink(path);
	REQUIRE(pager != NULL);
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return pager;
}

static void *map(memory_object_t object, vm_size_t size, bool writable)
{
	vm_address_t address = 0;
	vm_prot_t prot = writable ? VM_PROT_READ | VM_PROT_WRITE : VM_PROT_READ;
	kern_return_t kr = vm_map(mach_task_self(), &address, size, 0, TRUE, object,
	        0, FALSE, prot, prot, VM_INHERIT_NONE);
	CHECK_EQ(kr, KERN_SUCCESS);
	REQUIRE(kr == KERN_SUCCESS);
	return (void *)(uintptr_t)address;
}

typedef struct reader {
	const volatile uint8_t *base;
	size_t pages, first, step;   /* its pages: first, first + step, ... */
	size_t wrong;
	pthread_t thread;
} reader_t;

/* Reads every byte of its pages, last page first (so neighbours' faults
 * interleave with its own). */
static void *read_pages(void *arg)
{
	reader_t *r = arg;
	size_t count = (r->pages - r->first + r->step - 1) / r->step;
	for (size_t k = count; k-- > 0;) {
		size_t p = r->first + k * r->step;
		for (size_t i = p * page; i < (p + 1) * page; i++)
			r->wrong += r->base[i] != byte_at(i);
	}
	return NULL;
}

TEST(threads_faulting_one_object_read_the_file)
{
	/* Within the resident limit (256k here): no pageout, so each page
	 * is asked once. */
	size_t pages = 192 * 1024 / page;
	memory_object_t object;
	file_pager_t *pager = pager_on_file(pages * page, false, page, &object, NULL);
	const uint8_t *m = map(object, pages * page, false);
	reader_t readers[THREADS];
	for (int t = 0; t < THREADS; t++) {
		readers[t] = (reader_t){ m, pages, (size_t)t, THREADS, 0, 0 };
		REQUIRE(pthread_create(&readers[t].thread, NULL, read_pages, &readers[t]) == 0);
	}
	/* And all of them over every page, beside the others. */
	reader_t all[THREADS];
	for (int t = 0; t < THREADS; t++) {
		all[t] = (reader_t){ m, pages, 0, 1, 0, 0 };
		REQUIRE(pthread_create(&all[t].thread, NULL, read_pages, &all[t]) == 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(readers[t].thread, NULL);
		pthread_join(all[t].thread, NULL);
		CHECK_EQ(readers[t].wrong, 0);
		CHECK_EQ(all[t].wrong, 0);
	}
	file_pager_stats_t s;
	file_pager_get_stats(pager, &s);
	CHECK_EQ(s.pages_in, pages);        /* each page asked and supplied once */
	CHECK(s.requests_overlapped <= s.data_requests);
	CHECK_EQ(s.data_errors, 0);
	CHECK_EQ(s.send_failures, 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)m,
	                       pages * page), KERN_SUCCESS);
	CHECK_EQ(file_pager_wait_detached(pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
	file_pager_destroy(pager);
}

typedef struct writer {
	volatile uint64_t *base;
	size_t pages, first;
	size_t wrong;
	pthread_t thread;
} writer_t;

#define ROUNDS 4

/* Stamps its pages (every THREADS-th) with the round, and reads them back:
 * the object is eight times the resident limit, so most come back from
 * the file, through a data_return and a refault. */
static void *write_pages(void *arg)
{
	writer_t *w = arg;
	size_t words = page / sizeof(uint64_t);
	for (uint64_t round = 1; round <= ROUNDS; round++) {
		for (size_t p = w->first; p < w->pages; p += THREADS)
			w->base[p * words] = round << 32 | p;
		for (size_t p = w->first; p < w->pages; p += THREADS)
			w->wrong += w->base[p * words] != (round << 32 | p);
	}
	return NULL;
}

TEST(refaults_after_pageout_read_what_each_thread_wrote)
{
	size_t size = 8 * 256 * 1024;     /* MEMOBJ_RESIDENT_MAX is 256k here */
	size_t pages = size / page;
	memory_object_t object;
	int fd;
	file_pager_t *pager = pager_on_file(size, true, page, &object, &fd);
	uint64_t *m = map(object, size, true);
	writer_t writers[THREADS];
	for (int t = 0; t < THREADS; t++) {
		writers[t] = (writer_t){ m, pages, (size_t)t, 0, 0 };
		REQUIRE(pthread_create(&writers[t].thread, NULL, write_pages, &writers[t]) == 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(writers[t].thread, NULL);
		CHECK_EQ(writers[t].wrong, 0);
	}
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)m, size),
	         KERN_SUCCESS);
	CHECK_EQ(file_pager_wait_detached(pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
	/* The file holds the last round everywhere, the rest untouched. */
	size_t bad = 0;
	for (size_t p = 0; p < pages; p++) {
		uint64_t word = 0;
		REQUIRE(pread(fd, &word, sizeof word, (off_t)(p * page)) == sizeof word);
		bad += word != ((uint64_t)ROUNDS << 32 | p);
		uint8_t tail = 0;
		REQUIRE(pread(fd, &tail, 1, (off_t)(p * page + 8)) == 1);
		bad += tail != byte_at(p * page + 8);
	}
	CHECK_EQ(bad, 0);
	file_pager_stats_t s;
	file_pager_get_stats(pager, &s);
	CHECK(s.data_returns > 0);          /* pageout did happen */
	CHECK_EQ(s.write_errors, 0);
	file_pager_destroy(pager);
	close(fd);
}

/* Destroy joins the pool: the process has the threads it had before the
 * pager. A kernel still mapping the object finds its manager dead: a new
 * fault is a memory error (SIGBUS), never a hang (SPEC 4). */
TEST(destroy_leaves_no_thread_and_a_dead_manager_faults)
{
	setenv("MEMOBJ_PAGER_THREADS", "3", 1);
	size_t pages = 16;
	memory_object_t object;
	int before = thread_count();
	file_pager_t *pager = pager_on_file(pages * page, false, page, &object, NULL);
	unsetenv("MEMOBJ_PAGER_THREADS");
	CHECK_EQ(thread_count(), before + 3);
	const uint8_t *m = map(object, pages * page, false);
	CHECK_EQ(m[0], byte_at(0));
	int with_kernel = thread_count();   /* the kernel's own threads, if new */
	file_pager_destroy(pager);
	CHECK_EQ(thread_count_settled(with_kernel - 3), with_kernel - 3);
	toucher_install();
	struct toucher t;
	REQUIRE(touch_start(&t, (vm_address_t)(uintptr_t)(m + 5 * page), 0) == 0);
	CHECK_EQ(touch_join(&t), 1);
	CHECK_EQ(m[0], byte_at(0));         /* resident pages stay */
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)m,
	                       pages * page), KERN_SUCCESS);
}

int main(void)
{
	alarm(240);
	page = vm_page_size;
	RUN(threads_faulting_one_object_read_the_file);
	RUN(refaults_after_pageout_read_what_each_thread_wrote);
	RUN(destroy_leaves_no_thread_and_a_dead_manager_faults);
	return harness_done();
}
