/* The file pager's write-back: writes through a mapping reach the file
 * after vm_msync and after the last unmap; random writes over a file four
 * times MEMOBJ_RESIDENT_MAX (pageout at work) lose nothing; a pwrite that
 * fails keeps its data and lands once the file can take it. The file is
 * checked with pread against a reference buffer, byte for byte.
 * CMakeLists.txt runs this with MEMOBJ_RESIDENT_MAX=256k, at 4 and 16 KiB
 * pages. */
#include <mach/mach.h>
#include <memobj/file_pager.h>
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCHDOG_SECONDS 240
#define DETACH_TIMEOUT_MS 30000

static vm_size_t page;

typedef struct fixture {
	uint8_t *ref;            /* what the file must hold */
	size_t size;
	int fd;                  /* our own descriptor, to check the file */
	file_pager_t *pager;
	memory_object_t object;
} fixture_t;

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13; *x ^= *x >> 17; *x ^= *x << 5;
	return *x;
}

/* A new file of `size` pseudo-random bytes and a writable pager on it. */
static fixture_t fixture_open(size_t size, vm_size_t cluster, uint32_t seed)
{
	fixture_t f = { .size = size };
	f.ref = malloc(size ? size : 1);
	REQUIRE(f.ref != NULL);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < size; i++)
		f.ref[i] = (uint8_t)xorshift(&x);
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/test_fp_wb.XXXXXX", dir && *dir ? dir : "/tmp");
	f.fd = mkstemp(path);
	REQUIRE(f.fd >= 0);
	REQUIRE(write(f.fd, f.ref, size) == (ssize_t)size);
	f.pager = file_pager_create_writable(path, cluster, &f.object);
	unlink(path);
	REQUIRE(f.pager != NULL);
	return f;
}

static void fixture_close(fixture_t *f)
{
	CHECK_EQ(file_pager_wait_detached(f->pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
	file_pager_destroy(f->pager);
	close(f->fd);
	free(f->ref);
}

static uint8_t *map_rw(fixture_t *f, vm_size_t size)
{
	vm_address_t address = 0;
	kern_return_t kr = vm_map(mach_task_self(), &address, size, 0, TRUE,
	        f->object, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE);
	CHECK_EQ(kr, KERN_SUCCESS);
	REQUIRE(kr == KERN_SUCCESS);
	return (uint8_t *)(uintptr_t)address;
}

static void unmap(uint8_t *m, vm_size_t size)
{
	CHECK_EQ(vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)m, size),
	         KERN_SUCCESS);
}

static kern_return_t msync_all(uint8_t *m, vm_size_t size, vm_sync_t flags)
{
	return vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, size, flags);
}

/* The file, byte for byte, against the reference; also its size. */
static bool file_matches(fixture_t *f)
{
	struct stat st;
	if (fstat(f->fd, &st) != 0 || (size_t)st.st_size != f->size) {
		fprintf(stderr, "file size %lld, expected %zu\n",
		        (long long)st.st_size, f->size);
		return false;
	}
	uint8_t *got = malloc(f->size ? f->size : 1);
	REQUIRE(got != NULL);
	size_t done = 0;
	while (done < f->size) {
		ssize_t n = pread(f->fd, got + done, f->size - done, (off_t)done);
		REQUIRE(n > 0);
		done += (size_t)n;
	}
	size_t first_bad = f->size;
	for (size_t i = 0; i < f->size && first_bad == f->size; i++)
		if (got[i] != f->ref[i])
			first_bad = i;
	if (first_bad != f->size)
		fprintf(stderr, "file differs first at byte %zu (page %zu)\n",
		        first_bad, first_bad / page);
	free(got);
	return first_bad == f->size;
}

static file_pager_stats_t stats_of(fixture_t *f)
{
	file_pager_stats_t s;
	file_pager_get_stats(f->pager, &s);
	return s;
}

/* Writes through the mapping and into the reference alike. */
static void put(fixture_t *f, uint8_t *m, size_t at, uint8_t value)
{
	m[at] = value;
	if (at < f->size)
		f->ref[at] = value;     /* past the end: not part of the file */
}

/* The last page straddles the end of the file: only the part inside
 * reaches it, and the file keeps its size. */
TEST(writes_reach_the_file_after_msync)
{
	size_t size = 8 * page + 100;
	fixture_t f = fixture_open(size, 0, 1);
	vm_size_t map_size = 9 * page;
	uint8_t *m = map_rw(&f, map_size);
	put(&f, m, 0, 0x11);
	put(&f, m, 3 * page + 17, 0x33);
	CHECK_EQ(m[5 * page + 1], f.ref[5 * page + 1]);   /* read only: clean */
	put(&f, m, 8 * page + 99, 0x99);                  /* last byte of the file */
	put(&f, m, 8 * page + 100, 0xaa);                 /* just past it */
	CHECK(!file_matches(&f));                         /* still in the cache */
	CHECK_EQ(msync_all(m, map_size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK(file_matches(&f));
	file_pager_stats_t s = stats_of(&f);
	CHECK(s.synchronizes >= 1);
	CHECK_EQ(s.data_returns, 3);                      /* pages 0, 3 and 8 */
	CHECK_EQ(s.bytes_written, 2 * page + 100);
	CHECK_EQ(s.bytes_past_eof, page - 100);
	CHECK_EQ(s.write_errors, 0);
	CHECK_EQ(s.held_bytes, 0);
	/* Clean now: a second msync returns nothing. */
	CHECK_EQ(msync_all(m, map_size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK_EQ(stats_of(&f).data_returns, 3);
	/* The mapping still shows what was written, past the end too. */
	CHECK_EQ(m[8 * page + 100], 0xaa);
	unmap(m, map_size);
	fixture_close(&f);
}

static size_t resident_max(void)
{
	const char *v = getenv("MEMOBJ_RESIDENT_MAX");
	if (v == NULL || *v == '\0')
		return 0;
	char *end;
	size_t n = strtoull(v, &end, 0);
	switch (*end) {
	case 'k': case 'K': return n << 10;
	case 'm': case 'M': return n << 20;
	case 'g': case 'G': return n << 30;
	default: return n;
	}
}

/* No msync: the last unmap returns every dirty page before terminate, so
 * once the pager is detached the file is complete. The object takes half
 * of MEMOBJ_RESIDENT_MAX at most (8 pages at 16 KiB; the rest leaves room
 * for other memory the limit counts): with pageout at work, a page
 * installed dirty for a write fault may be evicted before the write lands
 * and go back twice (correct, but the count then depends on timing);
 * pageout is the next test's. */
TEST(unmap_returns_every_dirty_page)
{
	size_t pages = 32, max = resident_max();
	if (max != 0 && max / page / 2 < pages)
		pages = max / page / 2;
	size_t size = pages * page, written = 0;
	fixture_t f = fixture_open(size, 4 * page, 2);
	uint8_t *m = map_rw(&f, size);
	for (size_t i = 0; i < pages; i += 3, written++)
		memset(m + i * page + 7, (int)(0x40 + i), 100);
	for (size_t i = 0; i < pages; i += 3)
		memset(f.ref + i * page + 7, (int)(0x40 + i), 100);
	unmap(m, size);
	CHECK_EQ(file_pager_wait_detached(f.pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
	CHECK(file_matches(&f));
	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.terminates, 1);
	CHECK_EQ(s.bytes_written, written * page);
	fixture_close(&f);
}

/* The "nothing lost": random writes (and reads) over a file four
 * times the resident limit, so pages are evicted, written back and
 * refetched throughout; reads through the mapping see every write;
 * after vm_msync, and again after the unmap, the file equals the
 * reference. */
TEST(random_writes_four_times_the_resident_limit_lose_nothing)
{
	size_t limit = resident_max();
	size_t size = limit ? 4 * limit : (size_t)1 << 20;
	size = (size + page - 1) / page * page;
	fixture_t f = fixture_open(size, 0, 3);
	uint8_t *m = map_rw(&f, size);
	uint32_t x = 12345;
	size_t mismatches = 0;
	for (int i = 0; i < 20000; i++) {
		size_t at = xorshift(&x) % size;
		size_t len = 1 + xorshift(&x) % 64;
		if (at + len > size)
			len = size - at;
		if (xorshift(&x) % 4 == 0) {
			for (size_t j = 0; j < len; j++)    /* read back */
				mismatches += m[at + j] != f.ref[at + j];
		} else {
			uint8_t v = (uint8_t)xorshift(&x);
			for (size_t j = 0; j < len; j++)
				put(&f, m, at + j, (uint8_t)(v + j));
		}
	}
	CHECK_EQ(mismatches, 0);
	CHECK_EQ(msync_all(m, size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK(file_matches(&f));
	file_pager_stats_t s = stats_of(&f);
	if (limit) {
		/* Pageout was at work: pages were written back and fetched again. */
		CHECK(s.pages_in > size / page);
		CHECK(s.data_returns > 0);
	}
	CHECK_EQ(s.write_errors, 0);
	CHECK_EQ(s.held_bytes, 0);
	/* A little more, then no msync: the unmap must carry it. */
	for (int i = 0; i < 500; i++)
		put(&f, m, xorshift(&x) % size, (uint8_t)i);
	unmap(m, size);
	CHECK_EQ(file_pager_wait_detached(f.pager, DETACH_TIMEOUT_MS), KERN_SUCCESS);
	CHECK(file_matches(&f));
	fixture_close(&f);
}

/* A pwrite refused (here: past RLIMIT_FSIZE, EFBIG) keeps its data: a
 * refetch of the page sees it, and the next vm_msync puts it in the file.
 * The limit is process-wide and the kernel's own page cache (a memfd)
 * obeys it too, so it is set only while no page is being supplied: the
 * pages are made dirty first, and the limit is lifted before the refetch. */
TEST(failed_write_is_kept_and_retried)
{
	size_t size = 8 * page;
	fixture_t f = fixture_open(size, 0, 4);
	uint8_t *m = map_rw(&f, size);
	/* Page 1 is written first, alone: data_returns may run in parallel
	 * in the pool, and a return that finds a run held waits behind it,
	 * so returned together with 6 and 7 it might be held too. */
	put(&f, m, 1 * page + 1, 0x51);
	CHECK_EQ(msync_all(m, size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	put(&f, m, 6 * page + 2, 0x56);
	put(&f, m, 7 * page + 3, 0x57);

	struct rlimit old;
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit low = old;
	low.rlim_cur = 4 * page;               /* pages 4.. cannot be written */
	REQUIRE(setrlimit(RLIMIT_FSIZE, &low) == 0);
	/* Returned, flushed (INVALIDATE), synchronized: 6 and 7 are held
	 * and the synchronize fails; page 1 went to the file before. */
	kern_return_t kr = msync_all(m, size, VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, old_handler);
	/* vm_msync says so (memobj_synchronize_failed, beyond OSF). */
	CHECK_EQ(kr, KERN_MEMORY_ERROR);
	file_pager_stats_t s = stats_of(&f);
	CHECK(s.write_errors >= 1);
	CHECK_EQ(s.held_bytes, 2 * page);
	CHECK_EQ(s.bytes_written, page);
	CHECK(!file_matches(&f));

	/* Refetched from the pager: the held data, not the stale file. */
	CHECK_EQ(m[6 * page + 2], 0x56);
	CHECK_EQ(m[7 * page + 3], 0x57);
	CHECK_EQ(m[1 * page + 1], 0x51);
	CHECK_EQ(stats_of(&f).held_bytes, 2 * page);
	/* The limit is gone: the next synchronize writes them. */
	CHECK_EQ(msync_all(m, size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	s = stats_of(&f);
	CHECK_EQ(s.held_bytes, 0);
	CHECK_EQ(s.bytes_written, 3 * page);
	CHECK(file_matches(&f));
	unmap(m, size);
	fixture_close(&f);
}

/* A run the file refuses holds back no other: while pages 6 and 7 are
 * held, page 1's return still reaches the file and its vm_msync succeeds
 * (only a return that overlaps a held run waits behind it). Before, page
 * 1 was held too, or not, by the order the pool's threads ran the two
 * returns in. Pages are dirtied before the limit, as above. */
TEST(held_run_holds_back_no_other_range)
{
	size_t size = 8 * page;
	fixture_t f = fixture_open(size, 0, 5);
	uint8_t *m = map_rw(&f, size);
	put(&f, m, 1 * page + 1, 0x61);
	put(&f, m, 6 * page + 2, 0x66);
	put(&f, m, 7 * page + 3, 0x67);
	struct rlimit old;
	REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit low = old;
	low.rlim_cur = 4 * page;
	REQUIRE(setrlimit(RLIMIT_FSIZE, &low) == 0);
	kern_return_t held = msync_all(m + 6 * page, 2 * page, VM_SYNC_SYNCHRONOUS);
	kern_return_t one = msync_all(m + 1 * page, page, VM_SYNC_SYNCHRONOUS);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, old_handler);
	CHECK_EQ(held, KERN_MEMORY_ERROR);
	CHECK_EQ(one, KERN_SUCCESS);
	file_pager_stats_t s = stats_of(&f);
	CHECK_EQ(s.held_bytes, 2 * page);
	CHECK_EQ(s.bytes_written, page);
	CHECK_EQ(msync_all(m, size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK_EQ(stats_of(&f).held_bytes, 0);
	CHECK(file_matches(&f));
	unmap(m, size);
	fixture_close(&f);
}

/* A read-only pager still refuses to write: its file is untouched. */
TEST(read_only_pager_leaves_the_file_alone)
{
	size_t size = 2 * page;
	fixture_t f = fixture_open(size, 0, 5);
	file_pager_destroy(f.pager);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", f.fd);
	f.pager = file_pager_create(path, 0, &f.object);
	REQUIRE(f.pager != NULL);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, size, 0, TRUE, f.object, 0, FALSE,
	               VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE) == KERN_SUCCESS);
	CHECK_EQ(((volatile uint8_t *)a)[page], f.ref[page]);
	CHECK_EQ(msync_all((uint8_t *)a, size, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	unmap((uint8_t *)a, size);
	CHECK(file_matches(&f));
	CHECK_EQ(stats_of(&f).data_returns, 0);
	fixture_close(&f);
}

int main(void)
{
	alarm(WATCHDOG_SECONDS);
	REQUIRE(host_page_size(mach_host_self(), &page) == KERN_SUCCESS);
	RUN(writes_reach_the_file_after_msync);
	RUN(unmap_returns_every_dirty_page);
	RUN(random_writes_four_times_the_resident_limit_lose_nothing);
	RUN(failed_write_is_kept_and_retried);
	RUN(held_run_holds_back_no_other_range);
	RUN(read_only_pager_leaves_the_file_alone);
	return harness_done();
}
