/* memobj_connect to this node's own address (issue 8, point 5): a program
 * whose list of nodes includes itself gets a send right to its own name
 * server, over unix: and tcp:, with or without a key; nothing is printed
 * and no link is made. */
#include <mach/mach.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"

static char dir[256];

static mach_port_type_t type_of(mach_port_t name)
{
	mach_port_type_t t = 0;
	if (mach_port_type(mach_task_self(), name, &t) != KERN_SUCCESS)
		return MACH_PORT_TYPE_NONE;
	return t;
}

static mach_port_urefs_t send_refs(mach_port_t name)
{
	mach_port_urefs_t r = 0;
	if (mach_port_get_refs(mach_task_self(), name, MACH_PORT_RIGHT_SEND, &r) != KERN_SUCCESS)
		return 0;
	return r;
}

/* The right memobj_connect gave is this node's name server: a name
 * checked in through it is found through name_server_port, and the
 * reverse. */
static void check_is_own_name_server(mach_port_t ns, const char *tag)
{
	CHECK(MACH_PORT_VALID(ns));
	CHECK(type_of(ns) & MACH_PORT_TYPE_SEND);
	/* one right per port in a space: the same name as name_server_port */
	CHECK_EQ(ns, name_server_port);
	char name[96];
	snprintf(name, sizeof name, "self-%s-%d", tag, (int)getpid());
	mach_port_t port;
	CHECK_EQ(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port),
	         KERN_SUCCESS);
	CHECK_EQ(netname_check_in(ns, name, MACH_PORT_NULL, port), KERN_SUCCESS);
	mach_port_t found = MACH_PORT_NULL;
	CHECK_EQ(netname_look_up(name_server_port, "", name, &found), KERN_SUCCESS);
	CHECK_EQ(found, port);
	CHECK_EQ(netname_check_out(name_server_port, name, MACH_PORT_NULL), KERN_SUCCESS);
	found = MACH_PORT_NULL;
	CHECK(netname_look_up(ns, "", name, &found) != KERN_SUCCESS);
	mach_port_urefs_t r = send_refs(port);
	if (r > 0)
		CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND,
		         -(mach_port_delta_t)r), KERN_SUCCESS);
	CHECK_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1),
	         KERN_SUCCESS);
}

/* Connects to address twice: each call is one more reference, which the
 * caller gives back; name_server_port keeps its own. */
static void connect_self(const char *address, const char *tag)
{
	mach_port_urefs_t before = send_refs(name_server_port);
	mach_port_t ns = MACH_PORT_NULL, ns2 = MACH_PORT_NULL;
	CHECK_EQ(memobj_connect(address, &ns), KERN_SUCCESS);
	check_is_own_name_server(ns, tag);
	CHECK_EQ(memobj_connect(address, &ns2), KERN_SUCCESS);
	CHECK_EQ(ns2, ns);
	CHECK_EQ(send_refs(name_server_port), before + 2);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), ns), KERN_SUCCESS);
	CHECK_EQ(mach_port_deallocate(mach_task_self(), ns2), KERN_SUCCESS);
	CHECK_EQ(send_refs(name_server_port), before);
	CHECK(type_of(name_server_port) & MACH_PORT_TYPE_SEND);
}

/* stderr to a file while fn runs; returns what was written. */
static char captured[4096];
static void capture_stderr(void (*fn)(const char *, const char *), const char *a,
        const char *b)
{
	char path[] = "/tmp/memobj-self-err-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	REQUIRE(saved >= 0);
	REQUIRE(dup2(fd, 2) == 2);
	fn(a, b);
	fflush(stderr);
	REQUIRE(dup2(saved, 2) == 2);
	close(saved);
	memset(captured, 0, sizeof captured);
	ssize_t n = pread(fd, captured, sizeof captured - 1, 0);
	close(fd);
	REQUIRE(n >= 0);
}

TEST(connect_self_unix)
{
	char address[400];
	snprintf(address, sizeof address, "unix:%s/self.sock", dir);
	CHECK_EQ(memobj_listen(address), KERN_SUCCESS);
	capture_stderr(connect_self, address, "unix");
	/* a node reaching itself is no error: nothing on stderr */
	CHECK_EQ(captured[0], '\0');
	if (captured[0])
		fprintf(stderr, "stderr: %s", captured);
}

TEST(connect_self_tcp)
{
	/* a pid-based port, moved on while it is taken by someone else */
	char address[64];
	kern_return_t kr = KERN_FAILURE;
	for (int i = 0; i < 50 && kr != KERN_SUCCESS; i++) {
		snprintf(address, sizeof address, "tcp:127.0.0.1:%d",
		         20000 + (int)((getpid() * 7 + i * 131) % 40000));
		kr = memobj_listen(address);
	}
	REQUIRE(kr == KERN_SUCCESS);
	capture_stderr(connect_self, address, "tcp");
	CHECK_EQ(captured[0], '\0');
	if (captured[0])
		fprintf(stderr, "stderr: %s", captured);
}

TEST(connect_elsewhere_still_fails)
{
	/* an address nobody listens on is still a node that is down */
	char address[400];
	snprintf(address, sizeof address, "unix:%s/nobody.sock", dir);
	mach_port_t ns = 7;
	CHECK_EQ(memobj_connect(address, &ns), KERN_NODE_DOWN);
	CHECK_EQ(ns, MACH_PORT_NULL);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/memobj-test-self-%d", (int)getpid());
	REQUIRE(mkdir(dir, 0700) == 0);
	RUN(connect_self_unix);
	RUN(connect_self_tcp);
	RUN(connect_elsewhere_still_fails);
	char path[400];
	snprintf(path, sizeof path, "%s/self.sock", dir);
	unlink(path);
	rmdir(dir);
	return harness_done();
}
