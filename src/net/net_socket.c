/* Addresses, listeners and connections for links between nodes. */
#include "net_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- addresses ----------------------------------------------------------- */

static int parse_unix(const char *path, struct net_addr *addr)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&addr->sa;
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof sun->sun_path)
		return -ENAMETOOLONG;
	memset(&addr->sa, 0, sizeof addr->sa);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	addr->kind = NET_ADDR_UNIX;
	addr->sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/* Decimal 0..65535, digits only. */
static int parse_port(const char *text, uint16_t *port)
{
	unsigned long value = 0;
	size_t n = strlen(text);

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		value = value * 10 + (unsigned long)(text[i] - '0');
	}
	if (value > 65535)
		return -EINVAL;
	*port = (uint16_t)value;
	return 0;
}

static int resolve_host(const char *host, bool ipv6_literal, uint16_t port,
                        struct net_addr *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *found = NULL;

	hints.ai_family = ipv6_literal ? AF_INET6 : AF_UNSPEC;
	hints.ai_flags = ipv6_literal ? AI_NUMERICHOST : 0;
	int rc = getaddrinfo(host, NULL, &hints, &found);
	if (rc != 0 || found == NULL) {
		if (found != NULL)
			freeaddrinfo(found);
		/* A bracketed host that is not an IPv6 literal is malformed. */
		return ipv6_literal ? -EINVAL : -EADDRNOTAVAIL;
	}
	if (found->ai_addrlen > sizeof addr->sa) {
		freeaddrinfo(found);
		return -EADDRNOTAVAIL;
	}
	memset(&addr->sa, 0, sizeof addr->sa);
	memcpy(&addr->sa, found->ai_addr, found->ai_addrlen);
	addr->sa_len = found->ai_addrlen;
	freeaddrinfo(found);

	if (addr->sa.ss_family == AF_INET)
		((struct sockaddr_in *)&addr->sa)->sin_port = htons(port);
	else if (addr->sa.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&addr->sa)->sin6_port = htons(port);
	else
		return -EADDRNOTAVAIL;
	addr->kind = NET_ADDR_TCP;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT"; a bare host may not contain ':'. */
static int parse_tcp(const char *text, struct net_addr *addr)
{
	char host[NET_ADDR_TEXT_MAX];
	const char *port_text;
	bool ipv6_literal = false;
	size_t host_len;
	uint16_t port;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		host_len = (size_t)(close - text - 1);
		memcpy(host, text + 1, host_len);
		port_text = close + 2;
		ipv6_literal = true;
	} else {
		const char *colon = strchr(text, ':');
		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			return -EINVAL;
		host_len = (size_t)(colon - text);
		memcpy(host, text, host_len);
		port_text = colon + 1;
	}
	host[host_len] = '\0';
	if (host_len == 0 || parse_port(port_text, &port) != 0)
		return -EINVAL;
	return resolve_host(host, ipv6_literal, port, addr);
}

int net_addr_parse(const char *text, struct net_addr *addr)
{
	if (text == NULL || strnlen(text, NET_ADDR_TEXT_MAX) >= NET_ADDR_TEXT_MAX)
		return -EINVAL;
	if (strncmp(text, "unix:", 5) == 0)
		return parse_unix(text + 5, addr);
	if (strncmp(text, "tcp:", 4) == 0)
		return parse_tcp(text + 4, addr);
	return -EINVAL;
}

void net_sockaddr_name(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(buf, cap, "tcp:%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(buf, cap, "tcp:[%s]:%u", ip, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t n = len - offsetof(struct sockaddr_un, sun_path);
		snprintf(buf, cap, "unix:%.*s", (int)strnlen(sun->sun_path, n), sun->sun_path);
	} else {
		snprintf(buf, cap, "unknown");
	}
}

void net_peer_name(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;

	if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0) {
		snprintf(buf, cap, "unknown");
		return;
	}
	if (sa.ss_family == AF_UNIX) {
		struct ucred cred;
		socklen_t cred_len = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0)
			snprintf(buf, cap, "unix:pid=%ld,uid=%lu", (long)cred.pid,
			         (unsigned long)cred.uid);
		else
			snprintf(buf, cap, "unix:unknown");
		return;
	}
	net_sockaddr_name((struct sockaddr *)&sa, len, buf, cap);
}

/* ---- listening ------------------------------------------------------------- */

static void set_tcp_options(int fd)
{
	int one = 1;
	/* Small control messages (lock_request, data_request) must not wait
	 * for Nagle; keepalive notices a peer host that vanished. Failures
	 * only cost latency, so they are ignored. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

/* The path holds a socket file; is anyone listening on it? A nonblocking
 * connect answers at once: refused means the file is stale. */
static int unix_path_is_stale(const struct net_addr *addr)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr->sa;
	struct stat st;

	if (lstat(sun->sun_path, &st) != 0)
		return errno == ENOENT ? 1 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return 0;
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	int rc = connect(probe, (const struct sockaddr *)&addr->sa, addr->sa_len);
	int err = errno;
	close(probe);
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
		return 0;
	return err == ECONNREFUSED ? 1 : -err;
}

static int bind_unix(int fd, const struct net_addr *addr, struct net_listener *listener)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr->sa;
	struct stat st;

	/* Linux gives the socket file the socket inode's mode (less umask):
	 * setting it first leaves no moment when others could connect, and
	 * needs no process-wide umask change. */
	if (fchmod(fd, 0600) != 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) != 0) {
		if (errno != EADDRINUSE)
			return -errno;
		int stale = unix_path_is_stale(addr);
		if (stale < 0)
			return stale;
		if (stale == 0)
			return -EADDRINUSE;
		if (unlink(sun->sun_path) != 0 && errno != ENOENT)
			return -errno;
		if (bind(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) != 0)
			return -errno;
	}
	if (lstat(sun->sun_path, &st) != 0)
		return -errno;
	listener->dev = st.st_dev;
	listener->ino = st.st_ino;
	/* Belt and braces for kernels that ignore the fchmod above. */
	if ((st.st_mode & 07777) != 0600 && chmod(sun->sun_path, 0600) != 0) {
		int err = -errno;
		unlink(sun->sun_path);
		return err;
	}
	return 0;
}

int net_listen(const struct net_addr *addr, struct net_listener *listener)
{
	int family = addr->sa.ss_family;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err;

	if (fd < 0)
		return -errno;
	memset(listener, 0, sizeof *listener);
	listener->fd = -1;
	listener->addr = *addr;

	if (addr->kind == NET_ADDR_UNIX) {
		err = bind_unix(fd, addr, listener);
	} else {
		int one = 1;
		err = 0;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
		    bind(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) != 0)
			err = -errno;
		listener->addr.sa_len = sizeof listener->addr.sa;
		if (err == 0 && getsockname(fd, (struct sockaddr *)&listener->addr.sa,
		                            &listener->addr.sa_len) != 0)
			err = -errno;
	}
	if (err == 0 && listen(fd, SOMAXCONN) != 0) {
		err = -errno;
		if (addr->kind == NET_ADDR_UNIX)
			unlink(((const struct sockaddr_un *)&addr->sa)->sun_path);
	}
	if (err != 0) {
		close(fd);
		return err;
	}
	listener->fd = fd;
	return 0;
}

void net_listener_close(struct net_listener *listener)
{
	if (listener->fd < 0)
		return;
	if (listener->addr.kind == NET_ADDR_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&listener->addr.sa;
		struct stat st;
		/* Someone may have replaced the file since; leave theirs alone. */
		if (lstat(sun->sun_path, &st) == 0 && st.st_dev == listener->dev &&
		    st.st_ino == listener->ino)
			unlink(sun->sun_path);
	}
	close(listener->fd);
	listener->fd = -1;
}

int net_accept(const struct net_listener *listener, int *fd)
{
	for (;;) {
		int c = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c >= 0) {
			if (listener->addr.kind == NET_ADDR_TCP)
				set_tcp_options(c);
			*fd = c;
			return 0;
		}
		if (errno == EINTR)
			continue;
		/* A connection that died before we took it is not our error. */
		if (errno == ECONNABORTED)
			return -EAGAIN;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

/* ---- connecting and bounded I/O ----------------------------------------- */

int64_t net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_for(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - net_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;  /* ready, or an error the next call reports */
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

int net_connect(const struct net_addr *addr, int timeout_ms, int *fd)
{
	int64_t deadline = net_now_ms() + timeout_ms;
	int s = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0;

	if (s < 0)
		return -errno;
	if (addr->kind == NET_ADDR_TCP) {
		uint16_t port = addr->sa.ss_family == AF_INET
			? ((const struct sockaddr_in *)&addr->sa)->sin_port
			: ((const struct sockaddr_in6 *)&addr->sa)->sin6_port;
		if (port == 0) {
			close(s);
			return -EINVAL;
		}
		set_tcp_options(s);
	}
	if (connect(s, (const struct sockaddr *)&addr->sa, addr->sa_len) != 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			err = -errno;
		} else if ((err = wait_for(s, POLLOUT, deadline)) == 0) {
			int so_error = 0;
			socklen_t len = sizeof so_error;
			if (getsockopt(s, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
				err = -errno;
			else
				err = -so_error;
		}
	}
	if (err != 0) {
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}

int net_read_full(int fd, void *buf, size_t n, int64_t deadline_ms)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t got = recv(fd, p, n, 0);
		if (got > 0) {
			p += got;
			n -= (size_t)got;
		} else if (got == 0) {
			return -ECONNRESET;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int err = wait_for(fd, POLLIN, deadline_ms);
			if (err != 0)
				return err;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

int net_write_full(int fd, const void *buf, size_t n, int64_t deadline_ms)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
		if (put >= 0) {
			p += put;
			n -= (size_t)put;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int err = wait_for(fd, POLLOUT, deadline_ms);
			if (err != 0)
				return err;
		} else if (errno == EPIPE) {
			return -ECONNRESET;   /* the peer closed, as a read would say */
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static struct timeval timeval_of(int ms)
{
	return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

int net_socket_set_blocking(int fd, int recv_ms, int send_ms)
{
	struct timeval rcv = timeval_of(recv_ms > 0 ? recv_ms : 1);
	struct timeval snd = timeval_of(send_ms > 0 ? send_ms : 1);
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd) != 0 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
		return -errno;
	return 0;
}
