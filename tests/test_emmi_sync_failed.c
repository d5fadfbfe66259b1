/* memobj_synchronize_failed (memobj's extension beyond OSF): a manager
 * that could not make a range durable answers the synchronize with a
 * reason, and the vm_msync waiting on it returns that reason, also when
 * the kernel is in another process (the control port a net proxy). Bad
 * ports and a "failure" of KERN_SUCCESS are refused. The message is
 * counted under its own name in the statistics. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"
#include "net_peer.h"

static vm_size_t ps;
static char dir[64];

/* The manager's answer to every synchronize: a failure with the reason
 * it keeps in m->flag. */
static void fail_sync(struct cm *m, const struct cm_event *e)
{
	memobj_synchronize_failed(m->control, e->offset, e->length,
	                          (kern_return_t)m->flag);
}

static uint64_t sync_failed_count(void)
{
	memobj_statistics_t s;
	if (memobj_statistics(mach_host_self(), &s) != KERN_SUCCESS)
		return 0;
	return s.messages[MEMOBJ_MSG_SYNCHRONIZE_FAILED];
}

TEST(msync_returns_the_managers_reason)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	m->auto_sync = 0;
	m->on_sync = fail_sync;
	m->flag = KERN_MEMORY_ERROR;
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	uint64_t before = sync_failed_count();
	((volatile uint8_t *)a)[ps] = 0x42;
	CHECK_EQ(vm_msync(mach_task_self(), a, 4 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_MEMORY_ERROR);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);     /* the page did go back */
	m->flag = KERN_OPERATION_TIMED_OUT;
	((volatile uint8_t *)a)[2 * ps] = 0x43;
	CHECK_EQ(vm_msync(mach_task_self(), a + ps, 2 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_OPERATION_TIMED_OUT);
	CHECK(sync_failed_count() >= before + 2);
	/* The next synchronize that succeeds reports success again. */
	m->on_sync = NULL;
	m->auto_sync = 1;
	CHECK_EQ(vm_msync(mach_task_self(), a, 4 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	vm_deallocate(mach_task_self(), a, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

TEST(bad_ports_and_reasons)
{
	CHECK_EQ(memobj_synchronize_failed(MACH_PORT_NULL, 0, ps, KERN_MEMORY_ERROR),
	         MACH_SEND_INVALID_DEST);
	CHECK_EQ(memobj_synchronize_failed((mach_port_t)0x7777, 0, ps, KERN_MEMORY_ERROR),
	         MACH_SEND_INVALID_DEST);
	/* A live port that is no control port. */
	mach_port_t plain;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &plain)
	        == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), plain, plain,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	CHECK_EQ(memobj_synchronize_failed(plain, 0, ps, KERN_MEMORY_ERROR),
	         KERN_INVALID_ARGUMENT);
	mach_port_destroy(mach_task_self(), plain);

	/* A real control port: KERN_SUCCESS is no failure, offsets are pages. */
	struct cm *m = cm_start(2 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	(void)((volatile uint8_t *)a)[0];
	mach_port_t control = cm_control(m);
	CHECK_EQ(memobj_synchronize_failed(control, 0, ps, KERN_SUCCESS),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_synchronize_failed(control, 1, ps, KERN_MEMORY_ERROR),
	         KERN_INVALID_ARGUMENT);
	/* No vm_msync waits for this range: nothing happens. */
	CHECK_EQ(memobj_synchronize_failed(control, 0, ps, KERN_MEMORY_ERROR),
	         KERN_SUCCESS);
	CHECK_EQ(vm_msync(mach_task_self(), a, 2 * ps, VM_SYNC_SYNCHRONOUS),
	         KERN_SUCCESS);
	vm_deallocate(mach_task_self(), a, m->size);
	CHECK(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

/* The peer: a kernel in another process that maps the object, dirties a
 * page and reports what vm_msync returned. */
static int peer_syncer(const char *address)
{
	mach_port_t ns, obj;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", "obj", &obj) != KERN_SUCCESS)
		return 2;
	vm_size_t size = 4 * vm_page_size;
	vm_address_t base = 0;
	if (vm_map(mach_task_self(), &base, size, 0, TRUE, obj, 0, FALSE,
	           VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 3;
	((volatile uint8_t *)base)[vm_page_size] = 0x77;
	kern_return_t kr = vm_msync(mach_task_self(), base, size, VM_SYNC_SYNCHRONOUS);
	peer_say("msync %d", (int)kr);
	vm_deallocate(mach_task_self(), base, size);
	for (;;)
		pause();
}

TEST(failure_crosses_the_link)
{
	char address[128];
	snprintf(address, sizeof address, "unix:%s/mgr", dir);
	CHECK_EQ(memobj_listen(address), KERN_SUCCESS);
	struct cm *m = cm_start(16 * ps);
	REQUIRE(m != NULL);
	m->auto_sync = 0;
	m->on_sync = fail_sync;
	m->flag = KERN_OPERATION_TIMED_OUT;
	CHECK_EQ(netname_check_in(MACH_PORT_NULL, "obj", MACH_PORT_NULL, m->object),
	         KERN_SUCCESS);
	struct peer k;
	const char *args[] = { "syncer", address, NULL };
	REQUIRE(peer_start(&k, NULL, NULL, args) == 0);
	const char *line = peer_expect(&k, "msync", PEER_TIMEOUT_MS);
	CHECK(line != NULL);
	if (line)
		CHECK_EQ(atoi(line + 6), KERN_OPERATION_TIMED_OUT);
	CHECK(cm_count(m, CM_SYNCHRONIZE) >= 1);
	CHECK(cm_count(m, CM_DATA_RETURN) >= 1);
	netname_check_out(MACH_PORT_NULL, "obj", MACH_PORT_NULL);
	peer_stop(&k);
	cm_stop(m);
}

TEST(statistics_name_it)
{
	CHECK(memobj_msg_kind_name(MEMOBJ_MSG_SYNCHRONIZE_FAILED) != NULL);
	CHECK(strcmp(memobj_msg_kind_name(MEMOBJ_MSG_SYNCHRONIZE_FAILED),
	             "synchronize_failed") == 0);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--peer") == 0)
		return strcmp(argv[2], "syncer") == 0 ? peer_syncer(argv[3]) : 1;
	alarm(280);
	host_page_size(mach_host_self(), &ps);
	snprintf(dir, sizeof dir, "/tmp/memobj-sf-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	RUN(msync_returns_the_managers_reason);
	RUN(bad_ports_and_reasons);
	RUN(statistics_name_it);
	RUN(failure_crosses_the_link);
	char path[128];
	snprintf(path, sizeof path, "%s/mgr", dir);
	unlink(path);
	rmdir(dir);
	return harness_done();
}
