/* Pageout (SPEC 3.7) and "nothing lost": with MEMOBJ_RESIDENT_MAX small
 * (tests/CMakeLists.txt sets it for this test), random writes over an
 * object four times larger, then vm_msync and unmap: the manager's store
 * equals a reference byte for byte. Clean pages are dropped unreturned. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

static vm_size_t ps;
static vm_size_t resident_max;     /* bytes */

static vm_statistics_data_t stats(void)
{
	vm_statistics_data_t s;
	memset(&s, 0, sizeof s);
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s, &count);
	return s;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

TEST(nothing_lost_under_pageout)
{
	vm_size_t size = 4 * resident_max;
	struct cm *m = cm_start(size);
	REQUIRE(m != NULL);
	uint8_t *ref = malloc(size);
	REQUIRE(ref != NULL);
	memcpy(ref, m->store, size);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	unsigned max_pages = (unsigned)(resident_max / ps);
	unsigned peak = 0;
	for (int i = 0; i < 4000; i++) {
		vm_size_t off = next_rand() % size;
		uint8_t v = (uint8_t)next_rand();
		if (next_rand() % 4 == 0) {
			CHECK_EQ(p[off], ref[off]);     /* reads see the writes */
		} else {
			p[off] = v;
			ref[off] = v;
		}
		unsigned active = stats().active_count;
		if (active > peak)
			peak = active;
	}
	/* Pageout ran (and is bounded by what one supply can add). */
	CHECK(cm_count(m, CM_DATA_RETURN) > 0);
	CHECK(peak <= max_pages + 64);
	CHECK_EQ(vm_msync(mach_task_self(), a, size, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	pthread_mutex_lock(&m->lock);
	CHECK(memcmp(m->store, ref, size) == 0);
	/* Evictions hand the page over (kernel_copy FALSE). */
	int evicted = 0;
	for (int i = 0; i < m->nev; i++)
		evicted += m->ev[i].kind == CM_DATA_RETURN && !m->ev[i].kernel_copy;
	pthread_mutex_unlock(&m->lock);
	CHECK(evicted > 0);
	free(ref);
	cm_stop(m);
}

TEST(clean_pages_dropped_and_asked_again)
{
	vm_size_t size = 2 * resident_max;
	struct cm *m = cm_start(size);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	volatile uint8_t *p = (volatile uint8_t *)a;
	for (vm_size_t off = 0; off < size; off += ps)
		CHECK_EQ(p[off + 1], cm_pattern(off + 1));
	int requests = cm_count(m, CM_DATA_REQUEST);
	CHECK_EQ(requests, (int)(size / ps));
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);     /* clean: dropped */
	CHECK(stats().active_count <= resident_max / ps);
	/* The first page was evicted first: touching it asks again. */
	CHECK_EQ(p[2], cm_pattern(2));
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), requests + 1);
	vm_deallocate(mach_task_self(), a, size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);
	cm_stop(m);
}

int main(void)
{
	alarm(240);
	ps = cm_kernel_page_size();
	const char *env = getenv("MEMOBJ_RESIDENT_MAX");
	resident_max = env ? (vm_size_t)strtoull(env, NULL, 0) : 0;
	if (env && (strchr(env, 'k') || strchr(env, 'K')))
		resident_max <<= 10;
	if (resident_max < 16 * ps) {
		printf("skipped: set MEMOBJ_RESIDENT_MAX (bytes, >= 16 pages)\n");
		return 0;
	}
	RUN(nothing_lost_under_pageout);
	RUN(clean_pages_dropped_and_asked_again);
	return harness_done();
}
