/* A link: one socket to one peer node, one reader thread, and writes
 * serialised by a mutex (any thread that forwards a message writes its
 * frame itself, so a remote call costs no thread hand-off). The reader
 * validates each frame before acting on it; any protocol error, EOF or
 * I/O error, or a peer silent for three ping intervals, breaks the link:
 * it is shut down and everything it held is dropped (net_link_teardown). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_internal.h"

#define LINK_WRITE_TIMEOUT_MS 30000   /* a peer that reads nothing this long is gone */
#define LINK_RXBUF 65536

void net_link_ref(struct net_link *link)
{
	atomic_fetch_add(&link->refs, 1);
}

void net_link_unref(struct net_link *link)
{
	if (atomic_fetch_sub(&link->refs, 1) != 1)
		return;
	close(link->fd);
	pthread_mutex_destroy(&link->wlock);
	free(link->hash);
	free(link);
}

void net_link_shutdown(struct net_link *link)
{
	shutdown(link->fd, SHUT_RDWR);
}

int net_link_write_locked(struct net_link *link, struct iovec *iov, int iovcnt)
{
	int64_t deadline = net_now_ms() + LINK_WRITE_TIMEOUT_MS;
	while (iovcnt > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
		ssize_t n = sendmsg(link->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int64_t left = deadline - net_now_ms();
				struct pollfd p = { .fd = link->fd, .events = POLLOUT };
				if (left <= 0 || poll(&p, 1, (int)left) == 0) {
					net_log("write to %s timed out: link closed", link->name);
					net_link_shutdown(link);
					return -ETIMEDOUT;
				}
				continue;
			}
			int err = errno;
			net_link_shutdown(link);
			return -err;
		}
		/* Skip what was written, possibly part of one iovec. */
		size_t done = (size_t)n;
		while (iovcnt > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

int net_link_write(struct net_link *link, struct iovec *iov, int iovcnt)
{
	pthread_mutex_lock(&link->wlock);
	int err = net_link_write_locked(link, iov, iovcnt);
	pthread_mutex_unlock(&link->wlock);
	return err;
}

int net_link_send_release(struct net_link *link, uint64_t origin, uint64_t id,
        uint8_t right, uint64_t count)
{
	struct wire_ref_release rel = { { origin, id, right }, count };
	uint8_t buf[WIRE_REF_RELEASE_SIZE];
	size_t len;
	if (wire_encode_ref_release(buf, sizeof buf, &rel, &len) != WIRE_OK)
		return -EINVAL;
	struct iovec iov = { buf, len };
	return net_link_write(link, &iov, 1);
}

int net_link_send_death(struct net_link *link, uint64_t origin, uint64_t id)
{
	struct wire_port_death d = { origin, id };
	uint8_t buf[WIRE_PORT_DEATH_SIZE];
	size_t len;
	if (wire_encode_port_death(buf, sizeof buf, &d, &len) != WIRE_OK)
		return -EINVAL;
	struct iovec iov = { buf, len };
	return net_link_write(link, &iov, 1);
}

int net_link_send_ping(struct net_link *link, uint64_t cookie)
{
	struct wire_ping ping = { cookie };
	uint8_t buf[WIRE_PING_SIZE];
	size_t len;
	if (wire_encode_ping(buf, sizeof buf, &ping, &len) != WIRE_OK)
		return -EINVAL;
	struct iovec iov = { buf, len };
	return net_link_write(link, &iov, 1);
}

/* Liveness pings carry the time (top bit clear). */
static void send_ping(struct net_link *link)
{
	net_link_send_ping(link, (uint64_t)net_now_ms() & ~NET_RELEASE_PING);
}

/* Reads and handles frames until the link breaks. */
static void link_run(struct net_link *link)
{
	size_t cap = LINK_RXBUF, have = 0;
	uint8_t *buf = malloc(cap);
	int64_t last_rx = net_now_ms();
	while (buf != NULL) {
		struct pollfd p = { .fd = link->fd, .events = POLLIN };
		int n = poll(&p, 1, net_ping_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0) {
			if (net_now_ms() - last_rx >= 3 * (int64_t)net_ping_ms) {
				net_log("%s silent for %d ms: link closed", link->name, 3 * net_ping_ms);
				break;
			}
			send_ping(link);
			continue;
		}
		if (n < 0)
			continue;
		ssize_t got = recv(link->fd, buf + have, cap - have, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0)
			break;   /* EOF or error: the peer is gone */
		have += (size_t)got;
		last_rx = net_now_ms();

		/* Every whole frame in the buffer, in order. */
		size_t off = 0;
		bool broken = false;
		while (have - off >= WIRE_HEADER_SIZE) {
			struct wire_header hdr;
			int err = wire_header_decode(buf + off, have - off, &hdr);
			if (err != WIRE_OK) {
				net_log("bad frame from %s (%s): link closed", link->name,
				        wire_strerror(err));
				broken = true;
				break;
			}
			if (hdr.length > have - off)
				break;
			struct wire_frame f;
			err = wire_frame_decode(buf + off, hdr.length, &f);
			if (err != WIRE_OK) {
				net_log("bad frame from %s (%s): link closed", link->name,
				        wire_strerror(err));
				broken = true;
				break;
			}
			if (f.header.type == WIRE_HELLO || f.header.type == WIRE_AUTH ||
			    !net_recv_frame(link, &f)) {
				broken = true;
				break;
			}
			off += hdr.length;
		}
		if (broken)
			break;
		memmove(buf, buf + off, have - off);
		have -= off;
		/* Room for the frame being read (its length was validated
		 * against WIRE_FRAME_MAX); back to the usual size after a big one. */
		size_t need = LINK_RXBUF;
		if (have >= WIRE_HEADER_SIZE) {
			struct wire_header hdr;
			if (wire_header_decode(buf, have, &hdr) == WIRE_OK && hdr.length > need)
				need = hdr.length;
		}
		if (need != cap && (need > cap || have <= need)) {
			uint8_t *nb = realloc(buf, need);
			if (nb == NULL) {
				net_log("out of memory reading from %s: link closed", link->name);
				break;
			}
			buf = nb;
			cap = need;
		}
	}
	free(buf);
	net_link_shutdown(link);
	net_link_teardown(link);
}

/* Everything a new link starts with: one send right each way to the
 * name servers (docs/wire.md 7). */
static struct net_link *link_new(int fd, uint64_t peer_id)
{
	struct net_link *link = calloc(1, sizeof *link);
	if (link == NULL)
		return NULL;
	atomic_init(&link->refs, 1);
	link->fd = fd;
	link->peer_id = peer_id;
	pthread_mutex_init(&link->wlock, NULL);
	net_peer_name(fd, link->name, sizeof link->name);

	struct net_undo u = {0};
	bool ok = false;
	pthread_mutex_lock(&net_lock);
	struct nport *proxy = net_proxy_get(link, peer_id, WIRE_PORT_ID_NAME_SERVER, &u);
	struct nref *home = net_ref_add(net_name_server, link, net_node_id,
	        WIRE_PORT_ID_NAME_SERVER);
	mach_port_name_t s;
	if (proxy != NULL && home != NULL &&
	    ipc_right_transfer(ipc_space_net(), net_name_server->name, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_net(), &s) == KERN_SUCCESS) {
		proxy->recv_send = 1;
		proxy->hold = true;
		home->sent = 1;
		home->held = true;
		ok = true;
	}
	if (!ok)
		link->dead = true;
	pthread_mutex_unlock(&net_lock);
	net_undo_run(&u);
	if (!ok) {
		net_link_teardown(link);
		link->fd = -1;   /* the caller closes it */
		net_link_unref(link);
		return NULL;
	}
	return link;
}

static void *link_thread(void *arg)
{
	struct net_link *link = arg;
	link_run(link);
	net_link_unref(link);
	return NULL;
}

struct net_link *net_link_create(int fd, uint64_t peer_id)
{
	struct net_link *link = link_new(fd, peer_id);
	if (link == NULL) {
		close(fd);
		return NULL;
	}
	net_link_ref(link);   /* the reader's */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&link->thread, &attr, link_thread, link);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		net_link_unref(link);
		net_link_shutdown(link);
		net_link_teardown(link);
		net_link_unref(link);
		return NULL;
	}
	return link;
}

void *net_link_accept_thread(void *arg)
{
	struct accepted *a = arg;
	int fd = a->fd;
	struct net_auth_peer peer;
	int err = net_auth_handshake(fd, WIRE_ROLE_LISTENER, net_node_id, &a->key,
	        NET_AUTH_TIMEOUT_MS, &peer);
	net_auth_key_clear(&a->key);
	free(a);
	net_handshake_done();
	if (err != 0) {
		close(fd);
		return NULL;
	}
	struct net_link *link = link_new(fd, peer.node_id);
	if (link == NULL) {
		close(fd);
		return NULL;
	}
	link_run(link);
	net_link_unref(link);
	return NULL;
}
