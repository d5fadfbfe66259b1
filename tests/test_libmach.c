/* The libmach surface a Mach program expects (issue 8, point 4):
 * boolean_t is int; vm_page_size / vm_page_mask / vm_page_shift are the
 * kernel's page size before any call; mach_thread_self; mach_error_string
 * and mach_error with the Mach texts; name_server_port. Built against the
 * shared and the static library, and run at 4 KiB and 16 KiB pages. */
#include <mach/mach.h>
#include <mach/mach_error.h>
#include <mach/mach_init.h>
#include <mach/boolean.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

_Static_assert(_Generic((boolean_t)0, int: 1, default: 0), "boolean_t is int");
_Static_assert(sizeof(mach_error_t) == sizeof(kern_return_t), "mach_error_t");

/* Read before main's first call into the library. */
static vm_size_t first_page_size, first_page_mask;
static int first_page_shift;
static mach_port_t first_name_server;

/* The page size the environment asks for (the test sets it, or not). */
static vm_size_t expected_page_size(void)
{
	const char *env = getenv("MEMOBJ_PAGE_SIZE");
	if (env != NULL && *env)
		return (vm_size_t)strtoull(env, NULL, 0);
	return (vm_size_t)sysconf(_SC_PAGESIZE);
}

TEST(page_size_globals)
{
	CHECK_EQ(first_page_size, expected_page_size());
	CHECK_EQ(first_page_mask, first_page_size - 1);
	CHECK_EQ((vm_size_t)1 << first_page_shift, first_page_size);
	vm_size_t hps = 0;
	CHECK_EQ(host_page_size(mach_host_self(), &hps), KERN_SUCCESS);
	CHECK_EQ(vm_page_size, hps);
	CHECK_EQ(vm_page_mask, hps - 1);
	CHECK_EQ((vm_size_t)1 << vm_page_shift, hps);
	CHECK_EQ(trunc_page(vm_page_size + 1), vm_page_size);
	CHECK_EQ(round_page(vm_page_size + 1), 2 * vm_page_size);
	/* vm_allocate hands out whole kernel pages */
	vm_address_t a = 0;
	CHECK_EQ(vm_allocate(mach_task_self(), &a, 1, TRUE), KERN_SUCCESS);
	CHECK_EQ(a & vm_page_mask, 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), a, vm_page_size), KERN_SUCCESS);
}

static mach_port_urefs_t send_refs(mach_port_t name)
{
	mach_port_urefs_t r = 0;
	if (mach_port_get_refs(mach_task_self(), name, MACH_PORT_RIGHT_SEND, &r) != KERN_SUCCESS)
		return (mach_port_urefs_t)-1;
	return r;
}

static mach_port_type_t type_of(mach_port_t name)
{
	mach_port_type_t t = 0;
	if (mach_port_type(mach_task_self(), name, &t) != KERN_SUCCESS)
		return MACH_PORT_TYPE_NONE;
	return t;
}

static void *other_thread(void *arg)
{
	mach_port_t *out = arg;
	*out = mach_thread_self();
	return NULL;
}

TEST(thread_self)
{
	mach_port_t t1 = mach_thread_self();
	CHECK(MACH_PORT_VALID(t1));
	CHECK(t1 != mach_task_self());
	CHECK(t1 != mach_host_self());
	CHECK_EQ(type_of(t1), MACH_PORT_TYPE_SEND);
	mach_port_urefs_t refs = send_refs(t1);
	/* each call is one more reference to the same right */
	mach_port_t t2 = mach_thread_self();
	CHECK_EQ(t2, t1);
	CHECK_EQ(send_refs(t1), refs + 1);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), t2), KERN_SUCCESS);
	CHECK_EQ(send_refs(t1), refs);

	/* another thread has its own port, which dies with the thread */
	mach_port_t other = MACH_PORT_NULL;
	pthread_t th;
	REQUIRE(pthread_create(&th, NULL, other_thread, &other) == 0);
	REQUIRE(pthread_join(th, NULL) == 0);
	CHECK(MACH_PORT_VALID(other));
	CHECK(other != t1);
	CHECK_EQ(type_of(other), MACH_PORT_TYPE_DEAD_NAME);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), other), KERN_SUCCESS);
	CHECK_EQ(type_of(other), MACH_PORT_TYPE_NONE);

	/* nothing is served on it: a request gets MIG_BAD_ID */
	mach_port_t reply;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply),
	         KERN_SUCCESS);
	union { mach_msg_header_t h; mig_reply_error_t r; char b[256]; } m;
	memset(&m, 0, sizeof m);
	m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	m.h.msgh_size = sizeof m.h;
	m.h.msgh_remote_port = t1;
	m.h.msgh_local_port = reply;
	m.h.msgh_id = 3600;
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof m.h,
	         sizeof m, reply, 10000, MACH_PORT_NULL), MACH_MSG_SUCCESS);
	CHECK_EQ(m.r.RetCode, MIG_BAD_ID);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1),
	         KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), t1), KERN_SUCCESS);
}

/* Every code memobj returns, with the text OSF/XNU libmach gives it. */
static const struct { kern_return_t code; const char *text; } texts[] = {
	{ KERN_SUCCESS, "(os/kern) successful" },
	{ KERN_INVALID_ADDRESS, "(os/kern) invalid address" },
	{ KERN_PROTECTION_FAILURE, "(os/kern) protection failure" },
	{ KERN_NO_SPACE, "(os/kern) no space available" },
	{ KERN_INVALID_ARGUMENT, "(os/kern) invalid argument" },
	{ KERN_FAILURE, "(os/kern) failure" },
	{ KERN_RESOURCE_SHORTAGE, "(os/kern) resource shortage" },
	{ KERN_NOT_RECEIVER, "(os/kern) not receiver" },
	{ KERN_NO_ACCESS, "(os/kern) no access" },
	{ KERN_MEMORY_FAILURE, "(os/kern) memory failure" },
	{ KERN_MEMORY_ERROR, "(os/kern) memory error" },
	{ KERN_ALREADY_IN_SET, "(os/kern) already in set" },
	{ KERN_NOT_IN_SET, "(os/kern) not in set" },
	{ KERN_NAME_EXISTS, "(os/kern) name exists" },
	{ KERN_ABORTED, "(os/kern) aborted" },
	{ KERN_INVALID_NAME, "(os/kern) invalid name" },
	{ KERN_INVALID_TASK, "(os/kern) invalid task" },
	{ KERN_INVALID_RIGHT, "(os/kern) invalid right" },
	{ KERN_INVALID_VALUE, "(os/kern) invalid value" },
	{ KERN_UREFS_OVERFLOW, "(os/kern) urefs overflow" },
	{ KERN_INVALID_CAPABILITY, "(os/kern) invalid capability" },
	{ KERN_RIGHT_EXISTS, "(os/kern) right exists" },
	{ KERN_INVALID_HOST, "(os/kern) invalid host" },
	{ KERN_MEMORY_PRESENT, "(os/kern) memory present" },
	{ KERN_MEMORY_DATA_MOVED, "(os/kern) memory data moved" },
	{ KERN_MEMORY_RESTART_COPY, "(os/kern) memory restart copy" },
	{ KERN_INVALID_PROCESSOR_SET, "(os/kern) invalid processor set" },
	{ KERN_POLICY_LIMIT, "(os/kern) policy limit" },
	{ KERN_INVALID_POLICY, "(os/kern) invalid policy" },
	{ KERN_INVALID_OBJECT, "(os/kern) invalid object" },
	{ KERN_ALREADY_WAITING, "(os/kern) already waiting" },
	{ KERN_DEFAULT_SET, "(os/kern) default set" },
	{ KERN_EXCEPTION_PROTECTED, "(os/kern) exception protected" },
	{ KERN_INVALID_LEDGER, "(os/kern) invalid ledger" },
	{ KERN_INVALID_MEMORY_CONTROL, "(os/kern) invalid memory control" },
	{ KERN_INVALID_SECURITY, "(os/kern) invalid security" },
	{ KERN_NOT_DEPRESSED, "(os/kern) not depressed" },
	{ KERN_TERMINATED, "(os/kern) object terminated" },
	{ KERN_LOCK_SET_DESTROYED, "(os/kern) lock set destroyed" },
	{ KERN_LOCK_UNSTABLE, "(os/kern) lock unstable" },
	{ KERN_LOCK_OWNED, "(os/kern) lock owned by another" },
	{ KERN_LOCK_OWNED_SELF, "(os/kern) lock owned by self" },
	{ KERN_SEMAPHORE_DESTROYED, "(os/kern) semaphore destroyed" },
	{ KERN_RPC_SERVER_TERMINATED, "(os/kern) RPC terminated" },
	{ KERN_RPC_TERMINATE_ORPHAN, "(os/kern) terminate orphan" },
	{ KERN_RPC_CONTINUE_ORPHAN, "(os/kern) let orphan continue" },
	{ KERN_NOT_SUPPORTED, "(os/kern) service not supported" },
	{ KERN_NODE_DOWN, "(os/kern) remote node down" },
	{ KERN_NOT_WAITING, "(os/kern) thread not waiting" },
	{ KERN_OPERATION_TIMED_OUT, "(os/kern) operation timed out" },

	{ MACH_SEND_IN_PROGRESS, "(ipc/send) send in progress" },
	{ MACH_SEND_INVALID_DATA, "(ipc/send) invalid data" },
	{ MACH_SEND_INVALID_DEST, "(ipc/send) invalid destination port" },
	{ MACH_SEND_TIMED_OUT, "(ipc/send) timed out" },
	{ MACH_SEND_INTERRUPTED, "(ipc/send) interrupted" },
	{ MACH_SEND_MSG_TOO_SMALL, "(ipc/send) msg too small" },
	{ MACH_SEND_INVALID_REPLY, "(ipc/send) invalid reply port" },
	{ MACH_SEND_INVALID_RIGHT, "(ipc/send) invalid port right" },
	{ MACH_SEND_INVALID_NOTIFY, "(ipc/send) invalid notify port" },
	{ MACH_SEND_INVALID_MEMORY, "(ipc/send) invalid memory" },
	{ MACH_SEND_NO_BUFFER, "(ipc/send) no msg buffer" },
	{ MACH_SEND_INVALID_VOUCHER, "(ipc/send) invalid voucher" },
	{ MACH_SEND_TOO_LARGE, "(ipc/send) msg too large" },
	{ MACH_SEND_INVALID_TYPE, "(ipc/send) invalid msg-type" },
	{ MACH_SEND_INVALID_HEADER, "(ipc/send) invalid msg-header" },
	{ MACH_SEND_INVALID_TRAILER, "(ipc/send) invalid msg-trailer" },

	{ MACH_RCV_IN_PROGRESS, "(ipc/rcv) receive in progress" },
	{ MACH_RCV_INVALID_NAME, "(ipc/rcv) invalid name" },
	{ MACH_RCV_TIMED_OUT, "(ipc/rcv) timed out" },
	{ MACH_RCV_TOO_LARGE, "(ipc/rcv) msg too large" },
	{ MACH_RCV_INTERRUPTED, "(ipc/rcv) interrupted" },
	{ MACH_RCV_PORT_CHANGED, "(ipc/rcv) port changed" },
	{ MACH_RCV_INVALID_NOTIFY, "(ipc/rcv) invalid notify port" },
	{ MACH_RCV_INVALID_DATA, "(ipc/rcv) invalid data" },
	{ MACH_RCV_PORT_DIED, "(ipc/rcv) port died" },
	{ MACH_RCV_IN_SET, "(ipc/rcv) port in set" },
	{ MACH_RCV_HEADER_ERROR, "(ipc/rcv) header error" },
	{ MACH_RCV_BODY_ERROR, "(ipc/rcv) body error" },
	{ MACH_RCV_INVALID_TYPE, "(ipc/rcv) invalid scatter list entry" },
	{ MACH_RCV_SCATTER_SMALL, "(ipc/rcv) overwrite region too small" },
	{ MACH_RCV_INVALID_TRAILER, "(ipc/rcv) invalid msg-trailer" },

	{ MIG_TYPE_ERROR, "(ipc/mig) client type check failure" },
	{ MIG_REPLY_MISMATCH, "(ipc/mig) wrong reply message ID" },
	{ MIG_REMOTE_ERROR, "(ipc/mig) server detected error" },
	{ MIG_BAD_ID, "(ipc/mig) bad request message ID" },
	{ MIG_BAD_ARGUMENTS, "(ipc/mig) server type check failure" },
	{ MIG_NO_REPLY, "(ipc/mig) no reply should be sent" },
	{ MIG_EXCEPTION, "(ipc/mig) server raised exception" },
	{ MIG_ARRAY_TOO_LARGE, "(ipc/mig) array not large enough" },
	{ MIG_SERVER_DIED, "(ipc/mig) server died" },
	{ MIG_TRAILER_ERROR, "(ipc/mig) unknown trailer format" },
};

TEST(error_strings)
{
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		const char *got = mach_error_string(texts[i].code);
		if (got == NULL || strcmp(got, texts[i].text) != 0) {
			fprintf(stderr, "mach_error_string(0x%x) = \"%s\", expected \"%s\"\n",
			        (unsigned)texts[i].code, got ? got : "(null)", texts[i].text);
			CHECK(0);
		}
	}
	CHECK(strcmp(mach_error_string(MACH_MSG_SUCCESS), "(os/kern) successful") == 0);
	/* codes no table knows */
	CHECK(strcmp(mach_error_string(KERN_OPERATION_TIMED_OUT + 40), "unknown error code") == 0);
	CHECK(strcmp(mach_error_string(MACH_SEND_IN_PROGRESS + 0x300), "unknown error code") == 0);
	CHECK(strcmp(mach_error_string(err_system(0x21)), "(?/?) unknown error system") == 0);
	CHECK(strcmp(mach_error_string(err_kern | err_sub(5)),
	             "(operating system/?) unknown subsystem error") == 0);
	CHECK(strcmp(mach_error_string(err_mach_ipc | err_sub(9)),
	             "(ipc/?) unknown subsystem error") == 0);
	CHECK(strcmp(mach_error_string(-1), "(?/?) unknown error system") == 0);
	/* the subsystem names */
	CHECK(strcmp(mach_error_type(KERN_FAILURE), "(os/kern)") == 0);
	CHECK(strcmp(mach_error_type(MACH_SEND_INVALID_DEST), "(ipc/send)") == 0);
	CHECK(strcmp(mach_error_type(MACH_RCV_TIMED_OUT), "(ipc/rcv)") == 0);
	CHECK(strcmp(mach_error_type(MIG_SERVER_DIED), "(ipc/mig)") == 0);
	CHECK(strcmp(mach_error_type(err_system(0x21)), "(?/?)") == 0);
	CHECK_EQ(err_get_system(MACH_RCV_TIMED_OUT), 4);
	CHECK_EQ(err_get_sub(MACH_RCV_TIMED_OUT), 1);
	CHECK_EQ(err_get_code(MACH_RCV_TIMED_OUT), 3);
}

/* What mach_error writes on stderr for code. */
static char *mach_error_output(const char *str, kern_return_t code)
{
	char path[] = "/tmp/memobj-mach-error-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	REQUIRE(saved >= 0);
	REQUIRE(dup2(fd, 2) == 2);
	mach_error(str, code);
	fflush(stderr);
	REQUIRE(dup2(saved, 2) == 2);
	close(saved);
	static char out[512];
	memset(out, 0, sizeof out);
	ssize_t n = pread(fd, out, sizeof out - 1, 0);
	close(fd);
	REQUIRE(n >= 0);
	return out;
}

TEST(error_prints)
{
	const char *out = mach_error_output("vm_map:", KERN_INVALID_ARGUMENT);
	CHECK(strcmp(out, "vm_map: (os/kern) invalid argument\n") == 0);
	out = mach_error_output("mach_msg", MACH_SEND_INVALID_DEST);
	CHECK(strcmp(out, "mach_msg (ipc/send) invalid destination port\n") == 0);
	out = mach_error_output("stub", MIG_SERVER_DIED);
	CHECK(strcmp(out, "stub (ipc/mig) server died\n") == 0);
	/* an unknown code carries its type and value */
	out = mach_error_output("odd", 4711);
	CHECK(strcmp(out, "odd (os/kern) unknown error code (1267)\n") == 0);
	if (strcmp(out, "odd (os/kern) unknown error code (1267)\n") != 0)
		fprintf(stderr, "mach_error printed \"%s\"\n", out);
	out = mach_error_output(NULL, KERN_FAILURE);
	CHECK(strcmp(out, " (os/kern) failure\n") == 0);
}

TEST(name_server)
{
	CHECK(MACH_PORT_VALID(first_name_server));
	CHECK_EQ(name_server_port, first_name_server);
	CHECK(type_of(name_server_port) & MACH_PORT_TYPE_SEND);
	/* netname through it reaches this node's own name server */
	char name[64];
	snprintf(name, sizeof name, "libmach-test-%d", (int)getpid());
	mach_port_t port;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port),
	         KERN_SUCCESS);
	CHECK_EQ(netname_check_in(name_server_port, name, MACH_PORT_NULL, port), KERN_SUCCESS);
	mach_port_t found = MACH_PORT_NULL;
	CHECK_EQ(netname_look_up(name_server_port, "", name, &found), KERN_SUCCESS);
	CHECK_EQ(found, port);
	/* the same server MACH_PORT_NULL names */
	found = MACH_PORT_NULL;
	CHECK_EQ(netname_look_up(MACH_PORT_NULL, "", name, &found), KERN_SUCCESS);
	CHECK_EQ(found, port);
	CHECK_EQ(netname_check_out(name_server_port, name, MACH_PORT_NULL), KERN_SUCCESS);
	CHECK(netname_look_up(name_server_port, "", name, &found) != KERN_SUCCESS);
	/* look-ups gave send rights under the receive right's name */
	mach_port_urefs_t r = send_refs(port);
	if (r != (mach_port_urefs_t)-1 && r > 0)
		CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND,
		         -(mach_port_delta_t)r), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1),
	         KERN_SUCCESS);
}

int main(void)
{
	/* Before anything else touches the library. */
	first_page_size = vm_page_size;
	first_page_mask = vm_page_mask;
	first_page_shift = vm_page_shift;
	first_name_server = name_server_port;
	RUN(page_size_globals);
	RUN(thread_self);
	RUN(error_strings);
	RUN(error_prints);
	RUN(name_server);
	return harness_done();
}
