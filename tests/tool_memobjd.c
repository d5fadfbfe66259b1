/* memobjd end to end: the test starts memobjd on a temporary socket, maps
 * its objects from this process (another kernel) and checks the bytes;
 * SIGTERM with dirty pages in this kernel loses nothing; the config file
 * serves the same; bad arguments are refused.
 *
 *   tool_memobjd PATH-TO-memobjd */
#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

static const char *memobjd_path;
static char dir[128];
static vm_size_t page;

struct daemon {
	pid_t pid;
	int err;            /* its stderr */
	char log[16384];
	size_t loglen;
};

/* Reads the daemon's stderr until `word` shows (or 20 s pass). */
static bool wait_log(struct daemon *d, const char *word)
{
	for (int waited = 0; waited < 20000;) {
		d->log[d->loglen] = '\0';
		if (strstr(d->log, word) != NULL)
			return true;
		struct pollfd p = { d->err, POLLIN, 0 };
		int n = poll(&p, 1, 200);
		waited += 200;
		if (n <= 0)
			continue;
		ssize_t got = read(d->err, d->log + d->loglen, sizeof d->log - 1 - d->loglen);
		if (got <= 0)
			return false;
		d->loglen += (size_t)got;
	}
	return false;
}

static void start(struct daemon *d, char *const args[])
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	REQUIRE(posix_spawn(&d->pid, memobjd_path, &fa, NULL, args, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	d->err = fds[0];
	d->loglen = 0;
}

/* Its exit status after `sig`, waiting at most 60 s (-1: it did not end). */
static int stop(struct daemon *d, int sig)
{
	int pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0);
	REQUIRE(pidfd >= 0);
	kill(d->pid, sig);
	struct pollfd p = { pidfd, POLLIN, 0 };
	int n = poll(&p, 1, 60000);
	close(pidfd);
	int status = 0;
	if (n != 1) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		return -1;
	}
	REQUIRE(waitpid(d->pid, &status, 0) == d->pid);
	wait_log(d, "\n\n");        /* drain what is left, for the failure report */
	close(d->err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs memobjd to completion: its exit status, stdout into out. */
static int run(char *const args[], char *out, size_t outlen)
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	REQUIRE(posix_spawn(&pid, memobjd_path, &fa, NULL, args, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < outlen && (n = read(fds[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static bool file_equals(const char *path, const void *data, size_t len)
{
	char *buf = malloc(len + 1);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || buf == NULL) {
		free(buf);
		return false;
	}
	ssize_t n = read(fd, buf, len + 1);
	close(fd);
	bool same = n == (ssize_t)len && memcmp(buf, data, len) == 0;
	free(buf);
	return same;
}

static mach_port_t look_up(const char *address, const char *name)
{
	mach_port_t ns, obj = MACH_PORT_NULL;
	if (memobj_connect(address, &ns) != KERN_SUCCESS)
		return MACH_PORT_NULL;
	if (netname_look_up(ns, "", name, &obj) != KERN_SUCCESS)
		obj = MACH_PORT_NULL;
	mach_port_deallocate(mach_task_self(), ns);
	return obj;
}

#define RO_SIZE (100 * 1000)       /* not a whole number of pages */
#define RW_PAGES 16

TEST(serves_files_and_writes_back_on_sigterm)
{
	char ro[256], rw[256], sock[256], address[300], file_ro[300], file_rw[300];
	snprintf(ro, sizeof ro, "%s/ro.bin", dir);
	snprintf(rw, sizeof rw, "%s/rw.bin", dir);
	snprintf(sock, sizeof sock, "%s/memobjd.sock", dir);
	snprintf(address, sizeof address, "unix:%s", sock);
	snprintf(file_ro, sizeof file_ro, "ro=%s", ro);
	snprintf(file_rw, sizeof file_rw, "rw=%s:rw", rw);
	static uint8_t ro_data[RO_SIZE];
	for (size_t i = 0; i < sizeof ro_data; i++)
		ro_data[i] = (uint8_t)(i * 7 + (i >> 12));
	write_file(ro, ro_data, sizeof ro_data);
	size_t rw_size = RW_PAGES * page;
	uint8_t *rw_data = calloc(1, rw_size);
	REQUIRE(rw_data != NULL);
	write_file(rw, rw_data, rw_size);

	char *args[] = { "memobjd", "--listen", address, "--file", file_ro, "--file", file_rw,
	                 "--log-level", "debug", NULL };
	struct daemon d;
	start(&d, args);
	REQUIRE(wait_log(&d, "ready"));
	struct stat st;
	CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);

	/* Read-only: every byte through the mapping is the file's. */
	mach_port_t obj = look_up(address, "ro");
	CHECK(obj != MACH_PORT_NULL);
	vm_address_t a = 0;
	vm_size_t ro_map = (RO_SIZE + page - 1) & ~(page - 1);
	CHECK_EQ(vm_map(mach_task_self(), &a, ro_map, 0, TRUE, obj, 0, FALSE, VM_PROT_READ,
	                VM_PROT_READ, VM_INHERIT_NONE), KERN_SUCCESS);
	if (a != 0) {
		CHECK(memcmp((void *)a, ro_data, RO_SIZE) == 0);
		CHECK(((uint8_t *)a)[ro_map - 1] == 0);    /* past the end: zero */
	}
	/* The daemon's statistics see this kernel. */
	mach_port_t stats = look_up(address, MEMOBJ_STATISTICS_NAME);
	CHECK(stats != MACH_PORT_NULL);
	memobj_object_statistics_t objs[8];
	uint32_t n = 8, total = 0;
	CHECK_EQ(memobj_object_statistics(stats, 0, objs, &n, &total), KERN_SUCCESS);
	CHECK_EQ(n, 2);
	bool found = false;
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(objs[i].name, "ro") == 0) {
			found = true;
			CHECK_EQ(objs[i].kernels, 1);
			CHECK_EQ(objs[i].size, RO_SIZE);
			CHECK(objs[i].flags & MEMOBJ_OBJECT_SERVED);
		}
	CHECK(found);

	/* Read-write: dirty every page, do not msync, SIGTERM the daemon. */
	mach_port_t wobj = look_up(address, "rw");
	CHECK(wobj != MACH_PORT_NULL);
	vm_address_t w = 0;
	CHECK_EQ(vm_map(mach_task_self(), &w, rw_size, 0, TRUE, wobj, 0, FALSE,
	                VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE), KERN_SUCCESS);
	for (size_t i = 0; w != 0 && i < rw_size; i += 512) {
		rw_data[i] = (uint8_t)(i / 512 + 1);
		((volatile uint8_t *)w)[i] = rw_data[i];
	}
	CHECK(!file_equals(rw, rw_data, rw_size));   /* still only in this kernel */
	int status = stop(&d, SIGTERM);
	CHECK_EQ(status, 0);
	if (status != 0)
		fprintf(stderr, "memobjd said:\n%s\n", d.log);
	CHECK(file_equals(rw, rw_data, rw_size));    /* nothing lost */
	CHECK(stat(sock, &st) != 0 && errno == ENOENT);   /* socket removed */
	CHECK(strstr(d.log, "SIGTERM: shutting down") != NULL);

	if (a != 0)
		vm_deallocate(mach_task_self(), a, ro_map);
	if (w != 0)
		vm_deallocate(mach_task_self(), w, rw_size);
	free(rw_data);
	unlink(ro);
	unlink(rw);
}

TEST(config_file_and_sigint)
{
	char conf[256], data[256], sock[256], address[300];
	snprintf(conf, sizeof conf, "%s/memobjd.conf", dir);
	snprintf(data, sizeof data, "%s/conf.bin", dir);
	snprintf(sock, sizeof sock, "%s/conf.sock", dir);
	snprintf(address, sizeof address, "unix:%s", sock);
	write_file(data, "configured\n", 11);
	FILE *f = fopen(conf, "w");
	REQUIRE(f != NULL);
	fprintf(f, "# memobjd test\n\nlisten %s\nfile conf=%s\nlog-level info\n", address, data);
#ifdef MEMOBJD_HAVE_DSM
	fprintf(f, "dsm shared=64k\n");
#endif
	fclose(f);
	char *args[] = { "memobjd", "--config", conf, NULL };
	struct daemon d;
	start(&d, args);
	REQUIRE(wait_log(&d, "ready"));
	mach_port_t obj = look_up(address, "conf");
	CHECK(obj != MACH_PORT_NULL);
	vm_address_t a = 0;
	CHECK_EQ(vm_map(mach_task_self(), &a, page, 0, TRUE, obj, 0, FALSE, VM_PROT_READ,
	                VM_PROT_READ, VM_INHERIT_NONE), KERN_SUCCESS);
	if (a != 0)
		CHECK(memcmp((void *)a, "configured\n", 12) == 0);
#ifdef MEMOBJD_HAVE_DSM
	/* DSM: zero at first, and what this kernel writes it reads back. */
	mach_port_t dsm = look_up(address, "shared");
	CHECK(dsm != MACH_PORT_NULL);
	vm_address_t s = 0;
	CHECK_EQ(vm_map(mach_task_self(), &s, 65536, 0, TRUE, dsm, 0, FALSE,
	                VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE), KERN_SUCCESS);
	if (s != 0) {
		CHECK(((volatile char *)s)[100] == 0);
		((volatile char *)s)[100] = 'x';
		CHECK(((volatile char *)s)[100] == 'x');
		vm_deallocate(mach_task_self(), s, 65536);
	}
#endif
	if (a != 0)
		vm_deallocate(mach_task_self(), a, page);
	CHECK_EQ(stop(&d, SIGINT), 0);
	struct stat st;
	CHECK(stat(sock, &st) != 0);
	unlink(conf);
	unlink(data);
}

TEST(bad_arguments)
{
	char out[8192], sock[256], address[300], missing[300], bad_conf[256];
	snprintf(sock, sizeof sock, "%s/bad.sock", dir);
	snprintf(address, sizeof address, "unix:%s", sock);
	snprintf(missing, sizeof missing, "x=%s/no-such-file", dir);
	snprintf(bad_conf, sizeof bad_conf, "%s/bad.conf", dir);
	write_file(bad_conf, "listen\nfrobnicate 1\n", 20);

	char *help[] = { "memobjd", "--help", NULL };
	CHECK_EQ(run(help, out, sizeof out), 0);
	CHECK(strstr(out, "--listen") != NULL && strstr(out, "--file") != NULL);
	char *version[] = { "memobjd", "--version", NULL };
	CHECK_EQ(run(version, out, sizeof out), 0);
	CHECK(strncmp(out, "memobjd ", 8) == 0);

	char *no_name[] = { "memobjd", "--listen", address, "--file", "/etc/hostname", NULL };
	CHECK_EQ(run(no_name, out, sizeof out), 1);
	char *no_file[] = { "memobjd", "--listen", address, "--file", missing, NULL };
	CHECK_EQ(run(no_file, out, sizeof out), 1);
	char *dir_file[] = { "memobjd", "--listen", address, "--file", "d=/tmp", NULL };
	CHECK_EQ(run(dir_file, out, sizeof out), 1);
	char *bad_listen[] = { "memobjd", "--listen", "carrier-pigeon:1", NULL };
	CHECK_EQ(run(bad_listen, out, sizeof out), 2);
	char *bad_option[] = { "memobjd", "--frobnicate", NULL };
	CHECK_EQ(run(bad_option, out, sizeof out), 2);
	char *bad_level[] = { "memobjd", "--log-level", "loud", NULL };
	CHECK_EQ(run(bad_level, out, sizeof out), 2);
	char *extra[] = { "memobjd", "stray", NULL };
	CHECK_EQ(run(extra, out, sizeof out), 2);
	char *config[] = { "memobjd", "--config", bad_conf, NULL };
	CHECK_EQ(run(config, out, sizeof out), 2);
	char *zero_dsm[] = { "memobjd", "--listen", address, "--dsm", "z=0", NULL };
	CHECK_EQ(run(zero_dsm, out, sizeof out), 1);
	char *neg_dsm[] = { "memobjd", "--listen", address, "--dsm", "z=-4096", NULL };
	CHECK_EQ(run(neg_dsm, out, sizeof out), 1);
	/* None of them left a socket behind. */
	struct stat st;
	CHECK(stat(sock, &st) != 0);
	unlink(bad_conf);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	memobjd_path = argv[1];
	host_page_size(mach_host_self(), &page);
	snprintf(dir, sizeof dir, "/tmp/memobj-tool-memobjd-%d", (int)getpid());
	REQUIRE(mkdir(dir, 0700) == 0);
	signal(SIGPIPE, SIG_IGN);
	RUN(serves_files_and_writes_back_on_sigterm);
	RUN(config_file_and_sigint);
	RUN(bad_arguments);
	rmdir(dir);
	return harness_done();
}
