/* Sockets for links between nodes: the addresses memobj_listen and
 * memobj_connect take ("unix:PATH", "tcp:HOST:PORT", "tcp:[IPV6]:PORT"),
 * listening, accepting and connecting, and reads and writes bounded by a
 * deadline. Every descriptor is close-on-exec and nonblocking. Functions
 * return 0 or a negative errno value. */
#ifndef MEMOBJ_NET_SOCKET_H
#define MEMOBJ_NET_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum net_addr_kind { NET_ADDR_UNIX = 1, NET_ADDR_TCP = 2 };

#define NET_ADDR_TEXT_MAX 1024   /* longest address string accepted */
#define NET_ADDR_NAME_MAX 128    /* room for net_sockaddr_name's output */

struct net_addr {
	enum net_addr_kind kind;
	struct sockaddr_storage sa;
	socklen_t sa_len;
};

/* Parses (and for a TCP host name, resolves) an address. Errors: -EINVAL
 * (malformed), -ENAMETOOLONG (Unix path too long), -EADDRNOTAVAIL (host
 * not found). */
int net_addr_parse(const char *text, struct net_addr *addr);

/* Writes "unix:PATH" / "tcp:A.B.C.D:PORT" / "tcp:[V6]:PORT" for logs. */
void net_sockaddr_name(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap);
/* The peer of a connected socket, named as above; for a Unix socket
 * "unix:pid=P,uid=U" (the peer's credentials, since it has no path). */
void net_peer_name(int fd, char *buf, size_t cap);

struct net_listener {
	int fd;
	struct net_addr addr;      /* with the real port when TCP port 0 was asked */
	dev_t dev;                 /* the socket file we created (Unix) ... */
	ino_t ino;                 /* ... so close removes it only if still ours */
};

/* Listens on addr. A Unix socket file is created mode 0600; an existing
 * file at the path is removed only when it is a socket nobody listens on
 * (-EADDRINUSE otherwise). */
int net_listen(const struct net_addr *addr, struct net_listener *listener);
/* Closes the listener and removes its socket file if it is still ours. */
void net_listener_close(struct net_listener *listener);

/* One pending connection, or -EAGAIN when none is waiting. */
int net_accept(const struct net_listener *listener, int *fd);

/* Connects within timeout_ms. Errors: -ETIMEDOUT, -ECONNREFUSED, ... */
int net_connect(const struct net_addr *addr, int timeout_ms, int *fd);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t net_now_ms(void);

/* Read or write exactly n bytes, waiting (poll) no later than deadline_ms.
 * Errors: -ETIMEDOUT, -ECONNRESET (the peer closed), other -errno. */
int net_read_full(int fd, void *buf, size_t n, int64_t deadline_ms);
int net_write_full(int fd, const void *buf, size_t n, int64_t deadline_ms);

/* Makes fd blocking, a recv that gets nothing for recv_ms failing with
 * EAGAIN and a send that cannot progress for send_ms too (both > 0):
 * a link's reader then waits in recv itself, with no poll first.
 * 0 or -errno. */
int net_socket_set_blocking(int fd, int recv_ms, int send_ms);

#endif
