/* The memory data_return hands a manager comes from the page pool
 * (src/os/os_page_pool.c) and goes back to it on vm_deallocate: pages the
 * manager still holds are never handed out again, pages it freed come
 * back holding exactly the next return's bytes, whether freed one return
 * at a time, in merged neighbouring ranges or in parts. And the clean's
 * one write protection per chunk (src/vm/vm_lock.c) still catches every
 * write that races a vm_msync: the manager's copy ends equal to memory. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <mach/mach.h>

#include "harness.h"

#define QUIT_ID 0x706f6f6c

enum keep_mode {
	FREE_EACH,          /* vm_deallocate every return at once */
	KEEP_ALL,           /* keep every return until the test frees it */
	FREE_MERGED,        /* neighbours gathered, freed at synchronize */
	FREE_IN_PARTS,      /* the last page of a run first, then the rest */
};

struct held {
	vm_address_t data;
	vm_size_t size;
	uint8_t *copy;      /* its bytes when it arrived */
};

struct mgr {
	mach_port_t object;
	pthread_t thread;
	bool quit;
	enum keep_mode mode;
	pthread_mutex_t lock;
	uint8_t *store;     /* what the returns wrote */
	vm_size_t size;
	unsigned long returns;
	struct held *held;
	size_t nheld, cap;
	vm_address_t merge_lo, merge_hi;
	bool overlap;       /* a return reused memory still held */
};

static vm_size_t ps;
static _Thread_local struct mgr *served;

static kern_return_t m_init(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_size_t page)
{
	(void)o; (void)s; (void)page;
	memory_object_perf_info_data_t perf = { .cluster_size = (memory_object_cluster_size_t)ps,
	                                        .may_cache = FALSE };
	memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT,
	        MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t m_request(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)o; (void)s; (void)access;
	memory_object_data_unavailable(control, offset, length);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t m_terminate(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control)
{
	(void)o; (void)s;
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

static void merge_flush(struct mgr *m)
{
	if (m->merge_hi > m->merge_lo)
		vm_deallocate(mach_task_self(), m->merge_lo, m->merge_hi - m->merge_lo);
	m->merge_lo = m->merge_hi = 0;
}

static kern_return_t m_return(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_offset_t offset, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)o; (void)s; (void)dirty; (void)kernel_copy;
	struct mgr *m = served;
	pthread_mutex_lock(&m->lock);
	m->returns++;
	if (offset + count <= m->size)
		memcpy(m->store + offset, (const void *)data, count);
	for (size_t i = 0; i < m->nheld; i++)
		if (data < m->held[i].data + m->held[i].size &&
		    m->held[i].data < data + count)
			m->overlap = true;
	switch (m->mode) {
	case FREE_EACH:
		vm_deallocate(mach_task_self(), data, count);
		break;
	case KEEP_ALL:
		if (m->nheld == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 64;
			m->held = realloc(m->held, m->cap * sizeof *m->held);
		}
		m->held[m->nheld].data = data;
		m->held[m->nheld].size = count;
		m->held[m->nheld].copy = malloc(count);
		memcpy(m->held[m->nheld].copy, (const void *)data, count);
		m->nheld++;
		break;
	case FREE_MERGED:
		if (m->merge_hi > m->merge_lo && data == m->merge_hi) {
			m->merge_hi += count;
		} else if (m->merge_hi > m->merge_lo && data + count == m->merge_lo) {
			m->merge_lo = data;
		} else {
			merge_flush(m);
			m->merge_lo = data;
			m->merge_hi = data + count;
		}
		break;
	case FREE_IN_PARTS:
		vm_deallocate(mach_task_self(), data + count - ps, ps);
		if (count > ps)
			vm_deallocate(mach_task_self(), data, count - ps);
		break;
	}
	pthread_mutex_unlock(&m->lock);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t m_sync(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_sync_t flags)
{
	(void)o; (void)s; (void)flags;
	struct mgr *m = served;
	pthread_mutex_lock(&m->lock);
	merge_flush(m);
	pthread_mutex_unlock(&m->lock);
	memory_object_synchronize_completed(control, offset, length);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static const memory_object_routines_t routines = {
	.init = m_init, .data_request = m_request, .terminate = m_terminate,
	.data_return = m_return, .synchronize = m_sync,
};

static boolean_t demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	if (in->msgh_id == QUIT_ID) {
		served->quit = true;
		mig_reply_error_t *reply = (mig_reply_error_t *)out;
		*reply = (mig_reply_error_t){ .Head = { .msgh_size = sizeof *reply,
		        .msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET },
		        .NDR = NDR_record, .RetCode = MIG_NO_REPLY };
		return TRUE;
	}
	return memory_object_server_routines(&routines, in, out);
}

static void *mgr_main(void *arg)
{
	served = arg;
	while (!served->quit)
		mach_msg_server_once(demux, MEMORY_OBJECT_MSG_SIZE_MAX, served->object,
		                     MACH_MSG_OPTION_NONE);
	return NULL;
}

static struct mgr *mgr_start(vm_size_t size, enum keep_mode mode)
{
	struct mgr *m = calloc(1, sizeof *m);
	REQUIRE(m != NULL);
	m->mode = mode;
	m->size = size;
	m->store = calloc(1, size);
	REQUIRE(m->store != NULL);
	pthread_mutex_init(&m->lock, NULL);
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                           &m->object) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), m->object, m->object,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	REQUIRE(pthread_create(&m->thread, NULL, mgr_main, m) == 0);
	return m;
}

/* Frees what the manager still holds: every kept return must still hold
 * the bytes it arrived with. */
static void mgr_free_held(struct mgr *m)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nheld; i++) {
		CHECK(memcmp((const void *)m->held[i].data, m->held[i].copy,
		             m->held[i].size) == 0);
		vm_deallocate(mach_task_self(), m->held[i].data, m->held[i].size);
		free(m->held[i].copy);
	}
	m->nheld = 0;
	pthread_mutex_unlock(&m->lock);
}

static void mgr_stop(struct mgr *m)
{
	mach_msg_header_t quit = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof quit, .msgh_remote_port = m->object,
		.msgh_id = QUIT_ID,
	};
	mach_msg(&quit, MACH_SEND_MSG, sizeof quit, 0, MACH_PORT_NULL,
	         MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	pthread_join(m->thread, NULL);
	mgr_free_held(m);
	mach_port_destroy(mach_task_self(), m->object);
	free(m->held);
	free(m->store);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static _Thread_local uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return rng;
}

/* Rounds of scattered writes (runs of one to three pages, over more than
 * one clean chunk of 512 pages), each followed by a synchronous msync; the
 * manager's store must equal memory after each. */
static void rounds(enum keep_mode mode, size_t pages, int nrounds)
{
	vm_size_t size = pages * ps;
	struct mgr *m = mgr_start(size, mode);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, size, 0, TRUE, m->object, 0, FALSE,
	               VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) == KERN_SUCCESS);
	uint8_t *p = (uint8_t *)a;
	for (int r = 0; r < nrounds; r++) {
		for (size_t n = 0; n < pages / 4; n++) {
			size_t pg = (size_t)(next_random() % pages);
			size_t run = 1 + (size_t)(next_random() % 3);
			for (size_t j = pg; j < pg + run && j < pages; j++)
				memset(p + j * ps, (int)(r * 37 + j), ps);
		}
		CHECK_EQ(vm_msync(mach_task_self(), a, size, VM_SYNC_SYNCHRONOUS),
		         KERN_SUCCESS);
		pthread_mutex_lock(&m->lock);
		CHECK(memcmp(m->store, p, size) == 0);
		CHECK(!m->overlap);
		pthread_mutex_unlock(&m->lock);
		if (mode == KEEP_ALL && r == nrounds / 2)
			mgr_free_held(m);     /* the rest reuses these */
	}
	CHECK(m->returns > 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	mgr_stop(m);
}

TEST(freed_returns_come_back_with_the_next_bytes)
{
	rounds(FREE_EACH, 1500, 6);
}

TEST(held_returns_are_never_handed_out_again)
{
	/* More than the pool holds: past it, fresh memory serves. */
	rounds(KEEP_ALL, 3000, 6);
}

TEST(merged_neighbours_free_as_one)
{
	rounds(FREE_MERGED, 1500, 6);
}

TEST(returns_freed_in_parts)
{
	rounds(FREE_IN_PARTS, 1500, 6);
}

/* Memory beside the pool's slabs (inside their hull: mmap places new
 * regions next to the last) is still unmapped by vm_deallocate. */
TEST(other_memory_beside_the_pool_is_unmapped)
{
	rounds(FREE_EACH, 600, 1);               /* the pool has slabs now */
	enum { N = 64 };
	vm_address_t a[N];
	for (int i = 0; i < N; i++) {
		a[i] = 0;
		REQUIRE(vm_allocate(mach_task_self(), &a[i], 3 * ps, TRUE) == KERN_SUCCESS);
		memset((void *)a[i], 1, 3 * ps);
	}
	for (int i = 0; i < N; i++) {
		CHECK_EQ(vm_deallocate(mach_task_self(), a[i], 3 * ps), KERN_SUCCESS);
		errno = 0;
		CHECK(msync((void *)a[i], 3 * ps, MS_ASYNC) == -1 && errno == ENOMEM);
	}
	rounds(FREE_EACH, 600, 2);
}

static void *rounds_thread(void *arg)
{
	enum keep_mode mode = (enum keep_mode)(uintptr_t)arg;
	rng ^= (uint64_t)(mode + 1) * 0x2545f4914f6cdd1dull;
	rounds(mode, 700, 4);
	return NULL;
}

/* Four managers' write-backs at once, each freeing its own way: the
 * pool's pages are taken and given back from every thread. */
TEST(concurrent_write_backs)
{
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		REQUIRE(pthread_create(&t[i], NULL, rounds_thread, (void *)i) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

struct racer {
	uint8_t *p;
	size_t pages;
	atomic_bool stop;
};

static void *race_writes(void *arg)
{
	struct racer *r = arg;
	uint64_t x = 0x2545f4914f6cdd1dull;
	uint8_t v = 1;
	while (!atomic_load(&r->stop)) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		size_t pg = (size_t)(x % r->pages);
		/* First and last byte: a torn copy shows in either. */
		r->p[pg * ps] = v;
		r->p[pg * ps + ps - 1] = v;
		v++;
	}
	return NULL;
}

TEST(writes_racing_msync_are_dirty_again)
{
	size_t pages = 1200;
	vm_size_t size = pages * ps;
	struct mgr *m = mgr_start(size, FREE_EACH);
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, size, 0, TRUE, m->object, 0, FALSE,
	               VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) == KERN_SUCCESS);
	uint8_t *p = (uint8_t *)a;
	for (size_t i = 0; i < pages; i += 2)
		p[i * ps] = 0xee;
	struct racer r = { .p = p, .pages = pages };
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, race_writes, &r) == 0);
	for (int i = 0; i < 20; i++)
		CHECK_EQ(vm_msync(mach_task_self(), a, size, VM_SYNC_SYNCHRONOUS),
		         KERN_SUCCESS);
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	/* Every write after a copy made its page dirty again: this last
	 * write-back brings the manager's copy level with memory. */
	CHECK_EQ(vm_msync(mach_task_self(), a, size, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	pthread_mutex_lock(&m->lock);
	CHECK(memcmp(m->store, p, size) == 0);
	pthread_mutex_unlock(&m->lock);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	mgr_stop(m);
}

int main(void)
{
	host_page_size(mach_host_self(), &ps);
	RUN(freed_returns_come_back_with_the_next_bytes);
	RUN(held_returns_are_never_handed_out_again);
	RUN(merged_neighbours_free_as_one);
	RUN(returns_freed_in_parts);
	RUN(other_memory_beside_the_pool_is_unmapped);
	RUN(writes_racing_msync_are_dirty_again);
	RUN(concurrent_write_backs);
	return harness_done();
}
