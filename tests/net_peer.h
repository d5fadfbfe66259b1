/* Running a second node for the net tests: the test program re-executes
 * itself (/proc/self/exe --peer ROLE ARGS...) right after fork, so the child
 * starts with no library threads. The child reports on its stdout, one
 * line per event; the parent reads those lines with a deadline. Every
 * child is killed and reaped by peer_stop. */
#ifndef MEMOBJ_TEST_NET_PEER_H
#define MEMOBJ_TEST_NET_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PEER_TIMEOUT_MS 20000

struct peer {
	pid_t pid;
	int out;              /* read end of the child's stdout */
	char buf[4096];
	size_t have;
};

static inline long long peer_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Starts `prefix... /proc/self/exe --peer args...` (prefix: e.g. "ip",
 * "netns", "exec", NS, or nothing), with extra environment `env`
 * ("NAME=VALUE", NULL-terminated list, may be NULL). */
static inline int peer_start(struct peer *p, const char *const *prefix,
        const char *const *env, const char *const *args)
{
	int fds[2];
	memset(p, 0, sizeof *p);
	p->pid = -1;
	p->out = -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	self[n] = '\0';
	const char *argv[64];
	int argc = 0;
	for (int i = 0; prefix && prefix[i]; i++)
		argv[argc++] = prefix[i];
	argv[argc++] = self;
	argv[argc++] = "--peer";
	for (int i = 0; args[i] && argc < 62; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	p->pid = pid;
	p->out = fds[0];
	return 0;
}

/* The next line from the peer (without the newline), or NULL after
 * timeout_ms or EOF. */
static inline const char *peer_line(struct peer *p, int timeout_ms)
{
	static char line[4096];
	long long deadline = peer_now_ms() + timeout_ms;
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->have);
		if (nl != NULL) {
			size_t len = (size_t)(nl - p->buf);
			memcpy(line, p->buf, len);
			line[len] = '\0';
			memmove(p->buf, nl + 1, p->have - len - 1);
			p->have -= len + 1;
			return line;
		}
		long long left = deadline - peer_now_ms();
		if (left <= 0 || p->have == sizeof p->buf)
			return NULL;
		struct pollfd pf = { .fd = p->out, .events = POLLIN };
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		ssize_t got = read(p->out, p->buf + p->have, sizeof p->buf - p->have);
		if (got <= 0)
			return NULL;
		p->have += (size_t)got;
	}
}

/* Waits for a line starting with `want`; returns it (or NULL). */
static inline const char *peer_expect(struct peer *p, const char *want, int timeout_ms)
{
	long long deadline = peer_now_ms() + timeout_ms;
	for (;;) {
		long long left = deadline - peer_now_ms();
		const char *l = left > 0 ? peer_line(p, (int)left) : NULL;
		if (l == NULL) {
			fprintf(stderr, "peer %d: no line \"%s\" in time\n", (int)p->pid, want);
			return NULL;
		}
		if (strncmp(l, want, strlen(want)) == 0)
			return l;
	}
}

/* Waits (bounded) for the peer to exit; returns its wait status or -1. */
static inline int peer_wait(struct peer *p, int timeout_ms)
{
	long long deadline = peer_now_ms() + timeout_ms;
	int status;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid) {
			p->pid = -1;
			return status;
		}
		if (r < 0 || peer_now_ms() > deadline)
			return -1;
		/* Polls the child's stdout for EOF: bounded, no fixed sleep. */
		struct pollfd pf = { .fd = p->out, .events = POLLIN };
		if (poll(&pf, 1, 10) > 0) {
			char junk[256];
			if (read(p->out, junk, sizeof junk) <= 0)
				pf.fd = -1;
		}
	}
}

static inline void peer_kill(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
}

static inline void peer_stop(struct peer *p)
{
	peer_kill(p);
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
}

/* The child's side: one line to the parent. */
static inline void peer_say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

#endif
