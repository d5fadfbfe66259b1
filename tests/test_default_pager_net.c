/* One default pager for several processes (SPEC 2.3, 7): a pager process
 * listens on a Unix socket and checks its pager in as
 * DEFAULT_PAGER_NETNAME; kernels started with MEMOBJ_DEFAULT_PAGER=unix:PATH
 * page their vm_allocate memory to it; default_pager_object_create objects
 * are mapped in two kernels; a killed pager gives SIGBUS, not a hang.
 * The parent never uses memobj itself: each child is a fresh kernel. Run
 * with MEMOBJ_RESIDENT_MAX=1m (CMake sets it). */
#include <mach/mach.h>
#include <memobj/default_pager.h>

#include <setjmp.h>
#include <stdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "default_pager_common.h"

static char address[128], store[128];

static void pager_process(int ready_fd)
{
	mach_port_t pager, obj;
	if (memobj_listen(address) != KERN_SUCCESS ||
	    default_pager_start(store, 64 << 20, &pager) != KERN_SUCCESS ||
	    default_pager_object_create(pager, &obj, 1 << 20) != KERN_SUCCESS ||
	    netname_check_in(MACH_PORT_NULL, "dp-shm", MACH_PORT_NULL, obj) != KERN_SUCCESS)
		_exit(2);
	char c = 1;
	if (write(ready_fd, &c, 1) != 1)
		_exit(2);
	for (;;)
		pause();
}

/* This kernel's default pager, as MEMOBJ_DEFAULT_PAGER registered it. */
static mach_port_t wait_registered(void)
{
	for (int i = 0; i < 3000; i++) {
		memory_object_default_t dm = MACH_PORT_NULL;
		vm_address_t a = 0;
		/* Any call starts the kernel (and its pageout thread). */
		vm_allocate(mach_task_self(), &a, 4096, TRUE);
		vm_deallocate(mach_task_self(), a, 4096);
		if (host_default_memory_manager(mach_host_self(), &dm, 0) == KERN_SUCCESS &&
		    MACH_PORT_VALID(dm))
			return dm;
		dp_nap();
	}
	return MACH_PORT_NULL;
}

/* vm_allocate 4x the limit, fill, wait until pages went out. 0 or exit code. */
static int page_out(uint64_t seed, vm_address_t *a, size_t *size, mach_port_t *dm)
{
	*dm = wait_registered();
	if (*dm == MACH_PORT_NULL)
		return 10;
	size_t limit = dp_resident_max();
	*size = 4 * limit;
	if (vm_allocate(mach_task_self(), a, *size, TRUE) != KERN_SUCCESS)
		return 11;
	dp_fill((void *)*a, *size, seed, 3);
	/* What this kernel paged out, not what the shared pager holds: the
	 * other client's pages leave the pager when it exits, so a count
	 * taken before could never be reached (a 30 s stall, then a fail). */
	if (!dp_wait_paged_out((void *)*a, *size, (*size - limit) / 2)) {
		fprintf(stderr, "paged out %zu of %zu bytes\n", dp_not_resident((void *)*a, *size), *size);
		return 12;
	}
	return 0;
}

static int client_process(uint64_t seed)
{
	vm_address_t a;
	size_t size;
	mach_port_t dm;
	int r = page_out(seed, &a, &size, &dm);
	if (r != 0)
		return r;
	if (dp_check((void *)a, size, seed) != 0)
		return 13;
	return 0;
}

static volatile char sink;
static void sink_read(volatile char *p) { sink = *p; }

static sigjmp_buf *jmp;
static void on_sigbus(int sig)
{
	(void)sig;
	if (jmp == NULL)
		_exit(20);
	siglongjmp(*jmp, 1);
}

static int victim_process(int ready_fd, int go_fd)
{
	vm_address_t a;
	size_t size;
	mach_port_t dm;
	int r = page_out(77, &a, &size, &dm);
	char c = (char)r;
	if (write(ready_fd, &c, 1) != 1 || r != 0)
		return r ? r : 2;
	if (read(go_fd, &c, 1) != 1)
		return 3;
	signal(SIGBUS, on_sigbus);
	alarm(30);                            /* a hang fails the test */
	int sigbus = 0;
	vm_size_t ps;
	host_page_size(mach_host_self(), &ps);
	for (size_t off = 0; off < size; off += ps) {
		sigjmp_buf jb;
		jmp = &jb;
		if (sigsetjmp(jb, 1) == 0)
			sink_read((volatile char *)a + off);
		else
			sigbus++;
		jmp = NULL;
	}
	return sigbus > 0 ? 0 : 4;
}

static int shm_writer(void)
{
	mach_port_t ns, obj;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", "dp-shm", &obj) != KERN_SUCCESS)
		return 30;
	vm_address_t a = 0;
	if (vm_map(mach_task_self(), &a, 1 << 20, 0, TRUE, obj, 0, FALSE,
	           VM_PROT_ALL, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 31;
	dp_fill((void *)a, 1 << 20, 11, 2);
	if (vm_msync(mach_task_self(), a, 1 << 20, VM_SYNC_SYNCHRONOUS) != KERN_SUCCESS)
		return 32;
	vm_deallocate(mach_task_self(), a, 1 << 20);
	return 0;
}

static int shm_reader(void)
{
	mach_port_t ns, obj;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", "dp-shm", &obj) != KERN_SUCCESS)
		return 40;
	vm_address_t a = 0;
	if (vm_map(mach_task_self(), &a, 1 << 20, 0, TRUE, obj, 0, FALSE,
	           VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return 41;
	return dp_check((void *)a, 1 << 20, 11) == 0 ? 0 : 42;
}

static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static int status_of(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static int run_client(void *arg) { return client_process((uint64_t)(uintptr_t)arg); }
static int run_writer(void *arg) { (void)arg; return shm_writer(); }
static int run_reader(void *arg) { (void)arg; return shm_reader(); }

/* The clients died without terminate: their blocks came back. */
static int run_freed(void *arg)
{
	(void)arg;
	mach_port_t ns, pager;
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", DEFAULT_PAGER_NETNAME, &pager) != KERN_SUCCESS)
		return 50;
	for (int i = 0; i < 3000; i++) {
		if (dp_used(pager) == 0)
			return 0;
		dp_nap();
	}
	return 51;
}

static pid_t pager_pid;

TEST(two_processes_share_one_default_pager)
{
	setenv("MEMOBJ_DEFAULT_PAGER", address, 1);
	pid_t a = spawn(run_client, (void *)1), b = spawn(run_client, (void *)2);
	CHECK_EQ(status_of(a), 0);
	CHECK_EQ(status_of(b), 0);
	unsetenv("MEMOBJ_DEFAULT_PAGER");
	CHECK_EQ(status_of(spawn(run_freed, NULL)), 0);
}

TEST(object_create_mapped_in_two_kernels)
{
	CHECK_EQ(status_of(spawn(run_writer, NULL)), 0);
	CHECK_EQ(status_of(spawn(run_reader, NULL)), 0);
}

TEST(killed_pager_gives_sigbus)
{
	int ready[2], go[2];
	REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
	setenv("MEMOBJ_DEFAULT_PAGER", address, 1);
	pid_t v = fork();
	if (v == 0)
		_exit(victim_process(ready[1], go[0]));
	unsetenv("MEMOBJ_DEFAULT_PAGER");
	char c = 0;
	CHECK_EQ(read(ready[0], &c, 1), 1);
	CHECK_EQ(c, 0);
	kill(pager_pid, SIGKILL);
	waitpid(pager_pid, NULL, 0);
	pager_pid = 0;
	c = 1;
	CHECK_EQ(write(go[1], &c, 1), 1);
	CHECK_EQ(status_of(v), 0);
	close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
}

int main(void)
{
	snprintf(address, sizeof address, "unix:/tmp/memobj-dpnet-%d.sock", (int)getpid());
	snprintf(store, sizeof store, "/tmp/memobj-dpnet-%d.store", (int)getpid());
	int ready[2];
	REQUIRE(pipe(ready) == 0);
	pager_pid = fork();
	REQUIRE(pager_pid >= 0);
	if (pager_pid == 0)
		pager_process(ready[1]);
	char c;
	REQUIRE(read(ready[0], &c, 1) == 1);
	RUN(two_processes_share_one_default_pager);
	RUN(object_create_mapped_in_two_kernels);
	RUN(killed_pager_gives_sigbus);
	if (pager_pid > 0) {
		kill(pager_pid, SIGKILL);
		waitpid(pager_pid, NULL, 0);
	}
	unlink(address + 5);
	unlink(store);
	return harness_done();
}
