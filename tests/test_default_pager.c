/* The default pager, in one process: vm_allocate memory pages out to the
 * shipped default pager and to a test-written one (SPEC 2.3, 3.10), the
 * backing store calls, a full store and a failing segment. Run with
 * MEMOBJ_RESIDENT_MAX=1m (CMake sets it). */
#include <mach/mach.h>
#include <memobj/default_pager.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include "default_pager_common.h"

static char path[256];

static const char *tmp_path(const char *what)
{
	snprintf(path, sizeof path, "/tmp/memobj-dp-%s-%d", what, (int)getpid());
	unlink(path);
	return path;
}

static mach_port_t shipped;          /* the shipped pager, started once */

TEST(no_default_manager_no_paging)
{
	/* Nothing registered: vm_allocate memory stays, whatever the limit. */
	memory_object_default_t dm = MACH_PORT_NULL;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	CHECK_EQ(dm, MACH_PORT_NULL);
	size_t size = 2 * dp_resident_max();
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 1, 2);
	CHECK_EQ(dp_check((void *)a, size, 1), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
}

TEST(bad_input)
{
	mach_port_t p;
	CHECK_EQ(default_pager_start(NULL, 1 << 20, &p), KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_start("/tmp/x", 1 << 20, NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_start("/tmp/x", 100, &p), KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_start("/nonexistent-dir/x", 1 << 20, &p), KERN_FAILURE);
	default_pager_info_t info;
	CHECK(default_pager_info(MACH_PORT_NULL, &info) != KERN_SUCCESS);
	CHECK_EQ(default_pager_info(mach_task_self(), NULL), KERN_INVALID_ARGUMENT);
	backing_store_t bs;
	CHECK(default_pager_backing_store_create(MACH_PORT_NULL, 0, 1, &bs) != KERN_SUCCESS);
	CHECK(default_pager_object_create(MACH_PORT_NULL, &bs, 4096) != KERN_SUCCESS);
	CHECK_EQ(default_pager_object_create(MACH_PORT_NULL, NULL, 4096), KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_add_segment(MACH_PORT_NULL, NULL, 0, 1, 4096), KERN_INVALID_ARGUMENT);
}

TEST(shipped_pager_pages_vm_allocate)
{
	REQUIRE(default_pager_start(tmp_path("main"), 64 << 20, &shipped) == KERN_SUCCESS);
	default_pager_info_t info;
	REQUIRE(default_pager_info(shipped, &info) == KERN_SUCCESS);
	CHECK_EQ(info.total_space, 64 << 20);
	CHECK_EQ(info.free_space, 64 << 20);
	CHECK_EQ(info.page_size, DEFAULT_PAGER_BLOCK_SIZE);
	memory_object_default_t dm = MACH_PORT_NULL;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	CHECK_EQ(dm, shipped);
	mach_port_deallocate(mach_task_self(), dm);

	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 42, 4);
	/* At least half of what is over the limit went to the pager. */
	CHECK(dp_wait_used(shipped, (size - limit) / 2));
	CHECK_EQ(dp_check((void *)a, size, 42), 0);
	/* Rewrite (data_return this time) and read back again. */
	dp_fill((void *)a, size, 43, 3);
	CHECK_EQ(dp_check((void *)a, size, 43), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	/* terminate: the object's blocks go back. */
	int freed = 0;
	for (int i = 0; i < 3000 && !freed; i++) {
		freed = default_pager_info(shipped, &info) == KERN_SUCCESS &&
		        info.free_space == info.total_space;
		if (!freed)
			dp_nap();
	}
	CHECK(freed);
}

/* ---- a default manager written from the SPEC calls only ---- */

struct spec_mgr {
	pthread_mutex_t lock;
	mach_port_t port, set;
	int creates;
	vm_size_t create_page_size, create_size;
	mach_port_t object, control;
	int initializes, returns, requests, terminates, bad;
	char *store;                     /* create_size bytes */
	uint8_t *have;                   /* per page: 1 initialized */
} mgr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static kern_return_t m_create(memory_object_t pager, mach_port_seqno_t s,
        memory_object_t object, vm_size_t size, memory_object_control_t control,
        vm_size_t page_size)
{
	(void)s;
	pthread_mutex_lock(&mgr.lock);
	if (pager != mgr.port)
		mgr.bad++;
	mgr.creates++;
	mgr.create_page_size = page_size;
	mgr.create_size = size;
	mgr.object = object;
	mgr.control = control;
	mgr.store = calloc(1, size);
	mgr.have = calloc(size / page_size + 1, 1);
	mach_port_move_member(mach_task_self(), object, mgr.set);
	pthread_mutex_unlock(&mgr.lock);
	return KERN_SUCCESS;
}

static kern_return_t m_initialize(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count)
{
	(void)s; (void)c;
	pthread_mutex_lock(&mgr.lock);
	mgr.initializes++;
	vm_size_t ps = mgr.create_page_size;
	if (o != mgr.object || off % ps || count != ps || off + count > mgr.create_size ||
	    mgr.have[off / ps])
		mgr.bad++;                   /* initialize only on a first trip */
	else {
		memcpy(mgr.store + off, (void *)data, count);
		mgr.have[off / ps] = 1;
	}
	pthread_mutex_unlock(&mgr.lock);
	vm_deallocate(mach_task_self(), data, count);
	return KERN_SUCCESS;
}

static kern_return_t m_return(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kcopy)
{
	(void)s; (void)c; (void)kcopy;
	pthread_mutex_lock(&mgr.lock);
	mgr.returns++;
	vm_size_t ps = mgr.create_page_size;
	if (o != mgr.object || off % ps || off + count > mgr.create_size ||
	    !mgr.have[off / ps])
		mgr.bad++;                   /* data_return only after initialize */
	else if (dirty)
		memcpy(mgr.store + off, (void *)data, count);
	pthread_mutex_unlock(&mgr.lock);
	vm_deallocate(mach_task_self(), data, count);
	return KERN_SUCCESS;
}

static kern_return_t m_request(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{
	(void)s; (void)a; (void)o;
	pthread_mutex_lock(&mgr.lock);
	mgr.requests++;
	vm_size_t ps = mgr.create_page_size;
	for (vm_offset_t p = off; p < off + len; p += ps) {
		if (mgr.have[p / ps])
			memory_object_data_supply(c, p, (pointer_t)(mgr.store + p), ps,
			                          FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
		else
			memory_object_data_unavailable(c, p, ps);
	}
	pthread_mutex_unlock(&mgr.lock);
	return KERN_SUCCESS;
}

static kern_return_t m_terminate(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c)
{
	(void)s;
	pthread_mutex_lock(&mgr.lock);
	mgr.terminates++;
	pthread_mutex_unlock(&mgr.lock);
	mach_port_destroy(mach_task_self(), c);
	mach_port_destroy(mach_task_self(), o);
	return KERN_SUCCESS;
}

static const memory_object_routines_t m_routines = {
	.create = m_create, .data_initialize = m_initialize,
	.data_return = m_return, .data_request = m_request,
	.terminate = m_terminate,
};

static boolean_t m_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	return memory_object_server_routines(&m_routines, in, out);
}

static void *m_thread(void *arg)
{
	(void)arg;
	mach_msg_server(m_demux, MEMORY_OBJECT_MSG_SIZE_MAX, mgr.set,
	        MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
	        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO));
	return NULL;
}

TEST(spec_default_manager)
{
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &mgr.set) == KERN_SUCCESS);
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &mgr.port) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), mgr.port, mgr.port, MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	REQUIRE(mach_port_move_member(mach_task_self(), mgr.port, mgr.set) == KERN_SUCCESS);
	pthread_t t;
	pthread_create(&t, NULL, m_thread, NULL);
	pthread_detach(t);
	memory_object_default_t dm = mgr.port;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	if (MACH_PORT_VALID(dm))
		mach_port_deallocate(mach_task_self(), dm);   /* the shipped one */

	vm_size_t page;
	host_page_size(mach_host_self(), &page);
	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 7, 4);
	int out = 0;
	for (int i = 0; i < 3000 && !out; i++) {
		pthread_mutex_lock(&mgr.lock);
		out = mgr.initializes >= (int)((size - limit) / page / 2);
		pthread_mutex_unlock(&mgr.lock);
		if (!out)
			dp_nap();
	}
	CHECK(out);
	CHECK_EQ(dp_check((void *)a, size, 7), 0);
	dp_fill((void *)a, size, 8, 2);
	CHECK_EQ(dp_check((void *)a, size, 8), 0);
	pthread_mutex_lock(&mgr.lock);
	CHECK_EQ(mgr.creates, 1);                 /* once per object */
	CHECK_EQ(mgr.create_page_size, page);     /* the kernel's page size */
	CHECK_EQ(mgr.create_size, size);
	CHECK(mgr.requests > 0);
	CHECK_EQ(mgr.bad, 0);
	pthread_mutex_unlock(&mgr.lock);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	int terminated = 0;
	for (int i = 0; i < 3000 && !terminated; i++) {
		pthread_mutex_lock(&mgr.lock);
		terminated = mgr.terminates == 1;
		pthread_mutex_unlock(&mgr.lock);
		if (!terminated)
			dp_nap();
	}
	CHECK(terminated);
	/* Back to the shipped pager for the rest. */
	dm = shipped;
	CHECK_EQ(host_default_memory_manager(mach_host_self(), &dm, 0), KERN_SUCCESS);
	if (MACH_PORT_VALID(dm))
		mach_port_deallocate(mach_task_self(), dm);
}

TEST(backing_stores)
{
	default_pager_info_t before, info;
	REQUIRE(default_pager_info(shipped, &before) == KERN_SUCCESS);
	backing_store_t bs;
	CHECK_EQ(default_pager_backing_store_create(shipped, BS_MAXPRI + 1, 1, &bs), KERN_INVALID_ARGUMENT);
	REQUIRE(default_pager_backing_store_create(shipped, 2, 4, &bs) == KERN_SUCCESS);
	const char *seg = tmp_path("seg");
	int fd = open(seg, O_RDWR | O_CREAT, 0600);
	REQUIRE(fd >= 0 && ftruncate(fd, 2 << 20) == 0);
	close(fd);
	CHECK_EQ(default_pager_add_segment(bs, "/nonexistent/seg", 0, 256, 4096), KERN_FAILURE);
	CHECK_EQ(default_pager_add_segment(bs, seg, 0, 256, 3000), KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_add_segment(shipped, seg, 0, 256, 4096), KERN_INVALID_ARGUMENT);
	/* 1 MiB in 512-byte records, from record 2048 (1 MiB into the file). */
	CHECK_EQ(default_pager_add_segment(bs, seg, 2048, 2048, 512), KERN_SUCCESS);
	REQUIRE(default_pager_info(shipped, &info) == KERN_SUCCESS);
	CHECK_EQ(info.total_space, before.total_space + (1 << 20));
	CHECK_EQ(info.free_space, before.free_space + (1 << 20));

	backing_store_basic_info_data_t b;
	mach_msg_type_number_t count = BACKING_STORE_BASIC_INFO_COUNT;
	CHECK_EQ(default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
	        (backing_store_info_t)&b, &count), KERN_SUCCESS);
	CHECK_EQ(count, BACKING_STORE_BASIC_INFO_COUNT);
	CHECK_EQ(b.bs_pages_total, 256);
	CHECK_EQ(b.bs_pages_free, 256);
	CHECK_EQ(b.bs_priority, 2);
	CHECK_EQ(b.bs_clsize, 4);
	count = 2;
	CHECK_EQ(default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
	        (backing_store_info_t)&b, &count), KERN_INVALID_ARGUMENT);
	count = BACKING_STORE_BASIC_INFO_COUNT;
	CHECK_EQ(default_pager_backing_store_info(bs, 99, (backing_store_info_t)&b, &count),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_backing_store_info(shipped, BACKING_STORE_BASIC_INFO,
	        (backing_store_info_t)&b, &count), KERN_INVALID_ARGUMENT);
	CHECK_EQ(default_pager_backing_store_delete(shipped), KERN_INVALID_ARGUMENT);

	CHECK_EQ(default_pager_backing_store_delete(bs), KERN_SUCCESS);
	REQUIRE(default_pager_info(shipped, &info) == KERN_SUCCESS);
	CHECK_EQ(info.total_space, before.total_space);
	count = BACKING_STORE_BASIC_INFO_COUNT;
	CHECK(default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
	        (backing_store_info_t)&b, &count) != KERN_SUCCESS);
	unlink(seg);
}

TEST(store_delete_moves_pages)
{
	/* Pages go to the newest store of the highest priority; deleting it
	 * moves them to the pager's first store. Memory from vm_map of
	 * MEMORY_OBJECT_NULL is internal memory too. */
	const char *seg = tmp_path("seg2");
	backing_store_t bs = dp_add_top_store(shipped, seg);
	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_map(mach_task_self(), &a, size, 0, TRUE, MEMORY_OBJECT_NULL, 0,
	               FALSE, VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_COPY) == KERN_SUCCESS);
	dp_fill((void *)a, size, 1234, 4);
	backing_store_basic_info_data_t b;
	int moved_in = 0;
	for (int i = 0; i < 3000 && !moved_in; i++) {
		mach_msg_type_number_t count = BACKING_STORE_BASIC_INFO_COUNT;
		moved_in = default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
		        (backing_store_info_t)&b, &count) == KERN_SUCCESS &&
		        b.bs_pages_total - b.bs_pages_free >= (size - limit) / 2 / 4096;
		if (!moved_in)
			dp_nap();
	}
	CHECK(moved_in);
	CHECK(b.pages_init > 0);                 /* first write-outs */
	CHECK_EQ(b.bs_pages_total, (16 << 20) / 4096);
	CHECK_EQ(default_pager_backing_store_delete(bs), KERN_SUCCESS);
	CHECK_EQ(dp_check((void *)a, size, 1234), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
	unlink(seg);
}

TEST(full_store_keeps_pages)
{
	/* A pager with 64 KiB of store: most pages cannot go out. */
	mach_port_t small;
	REQUIRE(default_pager_start(tmp_path("small"), 64 << 10, &small) == KERN_SUCCESS);
	size_t limit = dp_resident_max(), size = 4 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 99, 2);
	default_pager_info_t info;
	int full = 0;
	for (int i = 0; i < 3000 && !full; i++) {
		full = default_pager_info(small, &info) == KERN_SUCCESS &&
		       info.free_space == 0;
		if (!full)
			dp_nap();
	}
	CHECK(full);
	CHECK_EQ(info.total_space, 64 << 10);
	/* Nothing was lost. */
	CHECK_EQ(dp_check((void *)a, size, 99), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
}

TEST(failing_segment_keeps_pages)
{
	/* A store whose only room is /dev/full: every write fails. */
	mach_port_t p;
	REQUIRE(default_pager_start(tmp_path("one"), 4096, &p) == KERN_SUCCESS);
	backing_store_t bs;
	REQUIRE(default_pager_backing_store_create(p, BS_MAXPRI, 1, &bs) == KERN_SUCCESS);
	REQUIRE(default_pager_add_segment(bs, "/dev/full", 0, 4096, 4096) == KERN_SUCCESS);
	size_t limit = dp_resident_max(), size = 2 * limit;
	vm_address_t a = 0;
	REQUIRE(vm_allocate(mach_task_self(), &a, size, TRUE) == KERN_SUCCESS);
	dp_fill((void *)a, size, 5, 2);
	backing_store_basic_info_data_t b;
	int failed = 0;
	for (int i = 0; i < 3000 && !failed; i++) {
		mach_msg_type_number_t count = BACKING_STORE_BASIC_INFO_COUNT;
		failed = default_pager_backing_store_info(bs, BACKING_STORE_BASIC_INFO,
		        (backing_store_info_t)&b, &count) == KERN_SUCCESS &&
		        b.bs_pages_out_fail > 0;
		if (!failed)
			dp_nap();
	}
	CHECK(failed);
	CHECK_EQ(b.bs_pages_free, 0);        /* a failed segment takes no more */
	CHECK_EQ(dp_check((void *)a, size, 5), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, size), KERN_SUCCESS);
}

int main(void)
{
	RUN(no_default_manager_no_paging);
	RUN(bad_input);
	RUN(shipped_pager_pages_vm_allocate);
	RUN(spec_default_manager);
	RUN(backing_stores);
	RUN(store_delete_moves_pages);
	RUN(full_store_keeps_pages);
	RUN(failing_segment_keeps_pages);
	unlink(tmp_path("main"));
	unlink(tmp_path("small"));
	unlink(tmp_path("one"));
	return harness_done();
}
