/* A kernel in another process that dies: what it had returned stays with
 * the manager (SPEC 4: "data the kernel had returned is kept"), and the
 * manager hears of the death through a dead-name notification on that
 * kernel's control port. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <mach/mach.h>
#include "harness.h"
#include "cache_manager.h"
#include "net_peer.h"

#define OBJ_SIZE (256 * 1024)
static char dir[64];

/* The peer: maps the object read-write, writes a byte at the start of a
 * few pages, vm_msync's them back, says "synced", waits to be killed. */
static int peer_writer(const char *address)
{
	mach_port_t ns, obj;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", "obj", &obj) != KERN_SUCCESS)
		return 2;
	vm_address_t base = 0;
	if (vm_map(mach_task_self(), &base, OBJ_SIZE, 0, TRUE, obj, 0, FALSE,
	           VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 3;
	vm_size_t ps;
	host_page_size(mach_host_self(), &ps);
	for (vm_offset_t off = 0; off < OBJ_SIZE; off += 4 * ps)
		((volatile uint8_t *)base)[off] = (uint8_t)(0x5a ^ (off / ps));
	if (vm_msync(mach_task_self(), base, OBJ_SIZE, VM_SYNC_SYNCHRONOUS) != KERN_SUCCESS)
		return 4;
	peer_say("synced %lu", (unsigned long)ps);
	for (;;)
		pause();
}

TEST(killed_kernel_keeps_returned_data)
{
	char address[128];
	snprintf(address, sizeof address, "unix:%s/mgr", dir);
	CHECK_EQ(memobj_listen(address), KERN_SUCCESS);
	struct cm *m = cm_start(OBJ_SIZE);
	REQUIRE(m != NULL);
	CHECK_EQ(netname_check_in(MACH_PORT_NULL, "obj", MACH_PORT_NULL, m->object),
	         KERN_SUCCESS);
	struct peer k;
	const char *args[] = { "writer", address, NULL };
	REQUIRE(peer_start(&k, NULL, NULL, args) == 0);
	const char *line = peer_expect(&k, "synced", PEER_TIMEOUT_MS);
	CHECK(line != NULL);
	vm_size_t ps = line ? strtoul(line + 7, NULL, 10) : 4096;

	/* The manager watches that kernel's control port, then it dies. */
	mach_port_t notify, prev;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &notify)
	        == KERN_SUCCESS);
	CHECK_EQ(mach_port_request_notification(mach_task_self(), cm_control(m),
	         MACH_NOTIFY_DEAD_NAME, 0, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
	         KERN_SUCCESS);
	peer_kill(&k);
	union { mach_dead_name_notification_t n; uint8_t b[256]; } buf;
	CHECK_EQ(mach_msg(&buf.n.not_header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
	         sizeof buf, notify, PEER_TIMEOUT_MS, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	CHECK_EQ(buf.n.not_header.msgh_id, MACH_NOTIFY_DEAD_NAME);

	/* Every byte it wrote and synced is in the manager's store; the rest
	 * is the manager's own pattern. */
	pthread_mutex_lock(&m->lock);
	for (vm_offset_t off = 0; off < OBJ_SIZE; off += ps) {
		uint8_t want = (off / ps) % 4 == 0 ? (uint8_t)(0x5a ^ (off / ps))
		                                   : cm_pattern(off);
		CHECK_EQ(m->store[off], want);
		CHECK_EQ(m->store[off + 1], cm_pattern(off + 1));
	}
	pthread_mutex_unlock(&m->lock);
	CHECK(cm_count(m, CM_DATA_RETURN) >= 1);

	netname_check_out(MACH_PORT_NULL, "obj", MACH_PORT_NULL);
	mach_port_destroy(mach_task_self(), notify);
	peer_stop(&k);
	cm_stop(m);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--peer") == 0)
		return strcmp(argv[2], "writer") == 0 ? peer_writer(argv[3]) : 1;
	alarm(280);   /* a hang fails the test rather than the whole run */
	snprintf(dir, sizeof dir, "/tmp/memobj-wb-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	RUN(killed_kernel_keeps_returned_data);
	char path[128];
	snprintf(path, sizeof path, "%s/mgr", dir);
	unlink(path);
	rmdir(dir);
	return harness_done();
}
