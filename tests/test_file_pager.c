/* The file pager over real temporary files: what a mapping shows is the
 * file, zero past its end; mappings of one object share pages; unmapping
 * the last mapping brings memory_object_terminate. */
#include <mach/mach.h>
#include <memobj/file_pager.h>
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Every wait in this file is bounded; this bounds the whole run too. */
#define WATCHDOG_SECONDS 120
#define DETACH_TIMEOUT_MS 10000

static vm_size_t page;

/* A temporary file with known bytes, served by a file pager. */
typedef struct fixture {
	uint8_t *bytes;          /* what the file holds */
	size_t size;
	file_pager_t *pager;
	memory_object_t object;
} fixture_t;

static void fill_pseudo_random(uint8_t *bytes, size_t size, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;   /* xorshift32 */
		bytes[i] = (uint8_t)x;
	}
}

/* Writes `size` bytes to a new file and starts a pager on it. The file is
 * unlinked at once: the pager's open descriptor keeps it alive. */
static fixture_t fixture_open(size_t size, vm_size_t cluster, uint32_t seed)
{
	fixture_t f = { .size = size };
	f.bytes = malloc(size ? size : 1);
	REQUIRE(f.bytes != NULL);
	fill_pseudo_random(f.bytes, size, seed);

	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/test_file_pager.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, f.bytes, size) == (ssize_t)size);
	close(fd);
	f.pager = file_pager_create(path, cluster, &f.object);
	unlink(path);
	REQUIRE(f.pager != NULL);
	CHECK_EQ(file_pager_file_size(f.pager), size);
	return f;
}

static void fixture_close(fixture_t *f)
{
	CHECK_EQ(file_pager_wait_detached(f->pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
	file_pager_destroy(f->pager);
	free(f->bytes);
}

static const uint8_t *map_object(fixture_t *f, vm_size_t size)
{
	vm_address_t address = 0;
	kern_return_t kr = vm_map(mach_task_self(), &address, size, 0, TRUE, f->object,
	        0, FALSE, VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
	CHECK_EQ(kr, KERN_SUCCESS);
	REQUIRE(kr == KERN_SUCCESS);
	return (const uint8_t *)(uintptr_t)address;
}

static void unmap(const uint8_t *mapping, vm_size_t size)
{
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)mapping, size),
	         KERN_SUCCESS);
}

static vm_size_t pages_for(size_t bytes)
{
	return (bytes + page - 1) / page;
}

/* Counts the bytes in [from, to) of the mapping that are not zero. */
static size_t nonzero_bytes(const uint8_t *mapping, size_t from, size_t to)
{
	size_t count = 0;
	for (size_t i = from; i < to; i++)
		count += mapping[i] != 0;
	return count;
}

static file_pager_stats_t stats_of(fixture_t *f)
{
	file_pager_stats_t s;
	file_pager_get_stats(f->pager, &s);
	return s;
}

/* Maps the file (rounded up to pages) and checks every byte of it. */
static void check_whole_file(size_t size, vm_size_t cluster)
{
	fixture_t f = fixture_open(size, cluster, (uint32_t)size);
	vm_size_t map_size = pages_for(size) * page;
	const uint8_t *m = map_object(&f, map_size);
	CHECK(memcmp(m, f.bytes, size) == 0);
	CHECK_EQ(nonzero_bytes(m, size, map_size), 0);   /* tail of the last page */

	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.inits, 1);
	CHECK_EQ(s.change_attributes, 1);
	CHECK_EQ(s.pages_in, pages_for(size));   /* each page once, no duplicates */
	CHECK_EQ(s.bytes_read, size);
	CHECK_EQ(s.data_errors, 0);
	CHECK_EQ(s.send_failures, 0);
	unmap(m, map_size);
	fixture_close(&f);
}

TEST(one_byte_file)
{
	check_whole_file(1, 0);
}

TEST(size_not_a_page_multiple)
{
	check_whole_file(3 * page + 100, 0);
}

TEST(exactly_one_page)
{
	check_whole_file(page, 0);
}

TEST(several_clusters_follow_the_cluster_size)
{
	vm_size_t cluster = 4 * page;
	size_t size = 10 * cluster + 1234;
	check_whole_file(size, cluster);

	/* Requests are at most one cluster: at least this many of them. */
	fixture_t f = fixture_open(size, cluster, 99);
	vm_size_t map_size = pages_for(size) * page;
	const uint8_t *m = map_object(&f, map_size);
	CHECK(memcmp(m, f.bytes, size) == 0);
	file_pager_stats_t s = stats_of(&f);
	CHECK(s.data_requests >= (pages_for(size) * page + cluster - 1) / cluster);
	CHECK(s.data_requests <= pages_for(size));
	unmap(m, map_size);
	fixture_close(&f);
}

TEST(pages_past_end_of_file_are_zero)
{
	size_t size = 2 * page + 10;
	fixture_t f = fixture_open(size, page, 5);
	vm_size_t map_size = 5 * page;       /* two whole pages beyond the file */
	const uint8_t *m = map_object(&f, map_size);
	CHECK(memcmp(m, f.bytes, size) == 0);
	CHECK_EQ(nonzero_bytes(m, size, map_size), 0);
	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.pages_in, 3);
	CHECK(s.data_unavailables >= 1);
	unmap(m, map_size);
	fixture_close(&f);
}

TEST(empty_file_maps_as_zero)
{
	fixture_t f = fixture_open(0, 0, 1);
	vm_size_t map_size = 2 * page;
	const uint8_t *m = map_object(&f, map_size);
	CHECK_EQ(nonzero_bytes(m, 0, map_size), 0);
	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.pages_in, 0);
	CHECK_EQ(s.bytes_read, 0);
	CHECK(s.data_unavailables >= 1);
	unmap(m, map_size);
	fixture_close(&f);
}

TEST(two_mappings_of_one_object_share_pages)
{
	size_t size = 8 * page + 7;
	fixture_t f = fixture_open(size, 2 * page, 17);
	vm_size_t map_size = pages_for(size) * page;
	const uint8_t *a = map_object(&f, map_size);
	const uint8_t *b = map_object(&f, map_size);
	CHECK(a != b);
	CHECK(memcmp(a, f.bytes, size) == 0);
	CHECK(memcmp(b, f.bytes, size) == 0);
	CHECK(memcmp(a, b, map_size) == 0);
	/* One kernel, one cache: the second mapping paged nothing in. */
	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.inits, 1);
	CHECK_EQ(s.pages_in, pages_for(size));
	unmap(a, map_size);
	CHECK(memcmp(b, f.bytes, size) == 0);   /* still mapped, still right */
	unmap(b, map_size);
	fixture_close(&f);
}

TEST(terminate_after_last_unmap_then_init_again)
{
	size_t size = 4 * page;
	fixture_t f = fixture_open(size, 0, 23);
	for (unsigned round = 1; round <= 2; round++) {
		const uint8_t *m = map_object(&f, size);
		CHECK(memcmp(m, f.bytes, size) == 0);
		unmap(m, size);
		CHECK_EQ(file_pager_wait_detached(f.pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
		file_pager_stats_t s = stats_of(&f);
		CHECK_EQ(s.inits, round);           /* a fresh init after terminate */
		CHECK_EQ(s.terminates, round);
		CHECK_EQ(s.kernels_attached, 0);
	}
	fixture_close(&f);
}

TEST(two_pagers_in_one_process)
{
	size_t size = 5 * page + 3;
	fixture_t f1 = fixture_open(size, 0, 31);
	fixture_t f2 = fixture_open(size, page, 37);
	CHECK(f1.object != f2.object);
	vm_size_t map_size = pages_for(size) * page;
	const uint8_t *m1 = map_object(&f1, map_size);
	const uint8_t *m2 = map_object(&f2, map_size);
	CHECK(memcmp(m2, f2.bytes, size) == 0);
	CHECK(memcmp(m1, f1.bytes, size) == 0);
	CHECK(memcmp(f1.bytes, f2.bytes, size) != 0);
	unmap(m1, map_size);
	unmap(m2, map_size);
	fixture_close(&f1);
	fixture_close(&f2);
}

/* Several threads fault on the same pages at once: each reads the whole
 * mapping, starting at a different page. */
typedef struct reader {
	const uint8_t *mapping;
	size_t size;
	size_t start_page;
	uint64_t sum;
} reader_t;

static void *read_everything(void *arg)
{
	reader_t *r = arg;
	size_t pages = pages_for(r->size);
	for (size_t i = 0; i < pages; i++) {
		size_t p = (r->start_page + i) % pages;
		size_t end = (p + 1) * page < r->size ? (p + 1) * page : r->size;
		for (size_t b = p * page; b < end; b++)
			r->sum += r->mapping[b];
	}
	return NULL;
}

TEST(concurrent_readers_get_each_page_once)
{
	enum { READERS = 4 };
	size_t size = 64 * page + 5;
	fixture_t f = fixture_open(size, 4 * page, 41);
	vm_size_t map_size = pages_for(size) * page;
	const uint8_t *m = map_object(&f, map_size);
	uint64_t expected = 0;
	for (size_t i = 0; i < size; i++)
		expected += f.bytes[i];

	pthread_t threads[READERS];
	reader_t readers[READERS];
	for (int i = 0; i < READERS; i++) {
		readers[i] = (reader_t){ m, size, (size_t)i * 16, 0 };
		REQUIRE(pthread_create(&threads[i], NULL, read_everything, &readers[i]) == 0);
	}
	for (int i = 0; i < READERS; i++) {
		pthread_join(threads[i], NULL);
		CHECK_EQ(readers[i].sum, expected);
	}
	/* Concurrent faults on a page wait for one answer (SPEC 3.2). */
	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.pages_in, pages_for(size));
	CHECK(memcmp(m, f.bytes, size) == 0);
	unmap(m, map_size);
	fixture_close(&f);
}

/* The read-only pager has nothing to write back: synchronize completes at
 * once, and vm_msync returns. */
TEST(msync_of_a_clean_mapping_completes)
{
	size_t size = 4 * page;
	fixture_t f = fixture_open(size, 0, 43);
	const uint8_t *m = map_object(&f, size);
	CHECK(memcmp(m, f.bytes, size) == 0);
	kern_return_t kr = vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, size,
	                            VM_SYNC_SYNCHRONOUS);
	if (kr == KERN_NOT_SUPPORTED) {
		/* The VM layer does not write object memory back yet. */
		printf("skip msync of object memory: KERN_NOT_SUPPORTED\n");
	} else {
		CHECK_EQ(kr, KERN_SUCCESS);
		file_pager_stats_t s = stats_of(&f);
		CHECK(s.synchronizes >= 1);
		CHECK_EQ(s.data_returns, 0);
	}
	unmap(m, size);
	fixture_close(&f);
}

TEST(create_refuses_what_it_cannot_serve)
{
	memory_object_t object = MACH_PORT_NULL;
	errno = 0;
	CHECK(file_pager_create("/nonexistent/memobj/file", 0, &object) == NULL);
	CHECK_EQ(errno, ENOENT);
	errno = 0;
	CHECK(file_pager_create("/", 0, &object) == NULL);
	CHECK_EQ(errno, EISDIR);
	CHECK(file_pager_create(NULL, 0, &object) == NULL);
	CHECK_EQ(object, MACH_PORT_NULL);
}

int main(void)
{
	alarm(WATCHDOG_SECONDS);   /* a hung fault kills the test, not the CI run */
	REQUIRE(host_page_size(mach_host_self(), &page) == KERN_SUCCESS);
	RUN(create_refuses_what_it_cannot_serve);
	RUN(one_byte_file);
	RUN(exactly_one_page);
	RUN(size_not_a_page_multiple);
	RUN(several_clusters_follow_the_cluster_size);
	RUN(pages_past_end_of_file_are_zero);
	RUN(empty_file_maps_as_zero);
	RUN(two_mappings_of_one_object_share_pages);
	RUN(terminate_after_last_unmap_then_init_again);
	RUN(two_pagers_in_one_process);
	RUN(concurrent_readers_get_each_page_once);
	RUN(msync_of_a_clean_mapping_completes);
	return harness_done();
}
