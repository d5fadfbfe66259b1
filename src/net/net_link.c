/* A link: one socket to one peer node, one reader thread, and writes
 * serialised by a mutex (any thread that forwards a message writes its
 * frame itself, so a remote call costs no thread hand-off). Every frame
 * travels inside records (net_record.h), sealed unless the link is an
 * unkeyed Unix link in clear; the reader opens each record, then
 * validates each frame before acting on it. Any protocol
 * error, a record that does not authenticate, EOF or I/O error, a frame
 * over the buffer caps, or a peer silent for three ping intervals, breaks
 * the link: it is shut down and everything it held is dropped
 * (net_link_teardown). */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_internal.h"

#define LINK_WRITE_TIMEOUT_MS 30000   /* a peer that reads nothing this long is gone */
#define LINK_BUDGET_WAIT_MS   30000   /* longest wait for the node's buffer budget */
#define LINK_FBUF_MIN         NET_RECORD_MAX

static _Atomic int links_open;

int net_link_count(void)
{
	return atomic_load(&links_open);
}

/* ---- the node's buffer budget (MEMOBJ_NET_BUFFER_MAX) ---- */

static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_freed = PTHREAD_COND_INITIALIZER;
static uint64_t budget_used;

/* Takes n bytes of the budget, waiting (bounded) for other links to give
 * some back: a link whose frame does not fit is read no further meanwhile,
 * so its peer is held back by the socket's flow control. */
static bool budget_take(uint64_t n)
{
	int64_t deadline = net_now_ms() + LINK_BUDGET_WAIT_MS;
	bool ok = false;
	if (n > net_limits.buffer_total_max)
		return false;   /* would never fit: no point waiting */
	pthread_mutex_lock(&budget_lock);
	for (;;) {
		if (budget_used + n <= net_limits.buffer_total_max) {
			budget_used += n;
			ok = true;
			break;
		}
		int64_t left = deadline - net_now_ms();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&budget_freed, &budget_lock, &ts);
	}
	pthread_mutex_unlock(&budget_lock);
	return ok;
}

static void budget_give(uint64_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&budget_lock);
	budget_used -= n;
	pthread_cond_broadcast(&budget_freed);
	pthread_mutex_unlock(&budget_lock);
}

void net_link_ref(struct net_link *link)
{
	atomic_fetch_add(&link->refs, 1);
}

void net_link_unref(struct net_link *link)
{
	if (atomic_fetch_sub(&link->refs, 1) != 1)
		return;
	if (link->counted)
		atomic_fetch_sub(&links_open, 1);
	if (link->fd >= 0)
		close(link->fd);
	if (link->epfd >= 0)
		close(link->epfd);
	if (link->kick_fd >= 0)
		close(link->kick_fd);
	pthread_mutex_destroy(&link->wlock);
	pthread_mutex_destroy(&link->rxlock);
	free(link->rxs);
	free(link->hash);
	free(link->txbuf);
	net_record_key_clear(&link->tx);
	net_record_key_clear(&link->rx);
	free(link);
}

void net_link_shutdown(struct net_link *link)
{
	shutdown(link->fd, SHUT_RDWR);
}

/* Writes one sealed record; a write that cannot progress for
 * LINK_WRITE_TIMEOUT_MS, or fails, breaks the link. */
static int write_record(struct net_link *link, uint32_t len)
{
	net_record_seal(&link->tx, link->txbuf, len);
	int err = net_write_full(link->fd, link->txbuf,
	        NET_RECORD_HEAD + len + net_record_tag(&link->tx),
	        net_now_ms() + LINK_WRITE_TIMEOUT_MS);
	if (err != 0) {
		if (err == -ETIMEDOUT)
			net_log("write to %s timed out: link closed", link->name);
		net_link_shutdown(link);
	}
	return err;
}

int net_link_write_locked(struct net_link *link, struct iovec *iov, int iovcnt)
{
	uint8_t *plain = link->txbuf + NET_RECORD_HEAD;
	uint32_t fill = 0;
	/* The frame's pieces are gathered into records of NET_RECORD_MAX. */
	while (iovcnt > 0) {
		size_t n = iov->iov_len;
		if (n > NET_RECORD_MAX - fill)
			n = NET_RECORD_MAX - fill;
		memcpy(plain + fill, iov->iov_base, n);
		fill += (uint32_t)n;
		iov->iov_base = (char *)iov->iov_base + n;
		iov->iov_len -= n;
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
		}
		if (fill == NET_RECORD_MAX || (iovcnt == 0 && fill > 0)) {
			int err = write_record(link, fill);
			if (err != 0)
				return err;
			fill = 0;
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

/* The reader's buffers: sealed bytes from the socket, and the frames
 * opened from them. */
struct link_rx {
	uint8_t *cbuf;                 /* NET_RECORD_FULL: at most one partial record */
	size_t chave;
	uint8_t *fbuf;                 /* opened frames, the last one maybe partial */
	size_t fcap, fhave;
	uint64_t charged;              /* fbuf bytes taken from the node's budget */
};

/* Room for len more opened bytes: the frame buffer grows with the bytes
 * that really arrived (never with what a header merely claims), within
 * the link's cap and the node's budget. */
/* Set while a borrowing receiver reads a link (link_read). */
static _Thread_local bool rx_borrowing;

static bool rx_room(struct net_link *link, struct link_rx *rx, size_t len)
{
	size_t need = rx->fhave + len;
	if (need <= rx->fcap)
		return true;
	if (rx_borrowing) {
		/* A frame beyond the fixed buffer may wait for the node's
		 * budget: the link's thread reads it, not a receiver that
		 * has other messages to take. */
		atomic_store(&link->rx_defer, true);
		return false;
	}
	uint64_t limit = net_limits.link_buffer_max + NET_RECORD_MAX;
	size_t cap = rx->fcap * 2 > need ? rx->fcap * 2 : need;
	if (cap > limit)
		cap = (size_t)limit;
	if (need > cap) {
		net_log("%s sent more than MEMOBJ_LINK_BUFFER_MAX in one frame: link closed",
		        link->name);
		return false;
	}
	if (!budget_take(cap - rx->fcap)) {
		net_log("node buffer budget (MEMOBJ_NET_BUFFER_MAX) exhausted reading from %s: "
		        "link closed", link->name);
		return false;
	}
	uint8_t *nb = realloc(rx->fbuf, cap);
	if (nb == NULL) {
		budget_give(cap - rx->fcap);
		net_log("out of memory reading from %s: link closed", link->name);
		return false;
	}
	rx->charged += cap - rx->fcap;
	rx->fbuf = nb;
	rx->fcap = cap;
	return true;
}

/* Handles every whole frame in the frame buffer, in order, and checks the
 * header of the one still arriving against the link's cap. */
static bool rx_frames(struct net_link *link, struct link_rx *rx)
{
	size_t off = 0;
	bool ok = true;
	while (rx->fhave - off >= WIRE_HEADER_SIZE) {
		struct wire_header hdr;
		int err = wire_header_decode(rx->fbuf + off, rx->fhave - off, &hdr);
		if (err == WIRE_OK && (hdr.length > net_limits.link_buffer_max ||
		                       hdr.length > net_limits.buffer_total_max)) {
			/* It could never be buffered whole: refused before it is. */
			net_log("frame of %u bytes from %s over MEMOBJ_%s_BUFFER_MAX: link closed",
			        hdr.length, link->name,
			        hdr.length > net_limits.link_buffer_max ? "LINK" : "NET");
			ok = false;
			break;
		}
		struct wire_frame f;
		if (err == WIRE_OK && hdr.length > rx->fhave - off)
			break;
		if (err == WIRE_OK)
			err = wire_frame_decode(rx->fbuf + off, hdr.length, &f);
		if (err != WIRE_OK) {
			net_log("bad frame from %s (%s): link closed", link->name, wire_strerror(err));
			ok = false;
			break;
		}
		if (f.header.type == WIRE_HELLO || f.header.type == WIRE_AUTH ||
		    !net_recv_frame(link, &f)) {
			ok = false;
			break;
		}
		off += hdr.length;
	}
	memmove(rx->fbuf, rx->fbuf + off, rx->fhave - off);
	rx->fhave -= off;
	/* Back to the usual size after a big frame. */
	if (ok && rx->fcap > 2 * LINK_FBUF_MIN && rx->fhave <= LINK_FBUF_MIN) {
		uint8_t *nb = realloc(rx->fbuf, LINK_FBUF_MIN);
		if (nb != NULL) {
			budget_give(rx->fcap - LINK_FBUF_MIN);
			rx->charged -= rx->fcap - LINK_FBUF_MIN;
			rx->fbuf = nb;
			rx->fcap = LINK_FBUF_MIN;
		}
	}
	return ok;
}

/* Opens every whole record in the sealed buffer and handles the frames. */
static bool rx_records(struct net_link *link, struct link_rx *rx)
{
	size_t off = 0;
	bool ok = true;
	while (ok && rx->chave - off >= NET_RECORD_HEAD) {
		uint32_t len = net_record_length(rx->cbuf + off);
		if (len == 0) {
			net_log("bad record from %s: link closed", link->name);
			ok = false;
			break;
		}
		uint32_t whole = NET_RECORD_HEAD + len + net_record_tag(&link->rx);
		if (rx->chave - off < whole)
			break;
		if (!rx_room(link, rx, len)) {
			ok = atomic_load(&link->rx_defer);   /* left whole in cbuf */
			break;
		}
		if (net_record_open(&link->rx, rx->cbuf + off, len, rx->fbuf + rx->fhave) != 0) {
			net_log("record from %s does not authenticate (forged, replayed or "
			        "reordered): link closed", link->name);
			ok = false;
			break;
		}
		rx->fhave += len;
		off += whole;
		ok = rx_frames(link, rx);
	}
	memmove(rx->cbuf, rx->cbuf + off, rx->chave - off);
	rx->chave -= off;
	return ok;
}

/* Reads what the socket holds (never waiting) and handles it, under
 * rxlock: whoever got the wake-up, the link's thread or a borrower. Reads
 * until the socket is drained (a read that fills less than its room), so
 * no byte is left for a wake-up that went elsewhere. False once the link
 * is broken (EOF, error, violation; rx_done set for the link's thread). */
static _Thread_local bool in_link_read;

static bool link_read(struct net_link *link, bool borrowing)
{
	pthread_mutex_lock(&link->rxlock);
	struct link_rx *rx = link->rxs;
	bool ok = !atomic_load(&link->rx_done) && rx->cbuf != NULL;
	in_link_read = true;
	rx_borrowing = borrowing;
	if (ok && !borrowing && atomic_load(&link->rx_defer)) {
		/* What a borrower left: the records already read first. */
		atomic_store(&link->rx_defer, false);
		ok = rx_records(link, rx);
	}
	while (ok && !atomic_load(&link->rx_defer)) {
		size_t room = NET_RECORD_FULL - rx->chave;
		ssize_t got = recv(link->fd, rx->cbuf + rx->chave, room, MSG_DONTWAIT);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (got <= 0) {
			ok = false;   /* EOF or error: the peer is gone */
			break;
		}
		rx->chave += (size_t)got;
		atomic_store(&link->last_rx_ms, net_now_ms());
		ok = rx_records(link, rx);
		if ((size_t)got < room)
			break;
	}
	in_link_read = false;
	rx_borrowing = false;
	bool kick = (!ok && !atomic_exchange(&link->rx_done, true)) ||
	            (ok && borrowing && atomic_load(&link->rx_defer));
	if (kick) {
		uint64_t one = 1;
		/* An eventfd's write fails only at its counter's limit, when
		 * the link's thread has a kick pending anyway. */
		(void)!write(link->kick_fd, &one, sizeof one);
	}
	pthread_mutex_unlock(&link->rxlock);
	return ok;
}

/* The link's thread: waits (epoll, one ping interval at a time) for
 * bytes nobody else takes, or a borrower's word that the link broke;
 * the ping and the three-interval silence check run when a wait times
 * out. Its registration of the socket is exclusive (EPOLLEXCLUSIVE) and
 * kept behind every borrower's (link_requeue), so an arrival wakes a
 * receiver waiting on this link first and this thread only when none
 * waits. Waiting in epoll also spares it the Unix socket's write-space
 * wake-ups (a blocked recv gets them each time the peer consumes what
 * this side wrote; epoll's wait is filtered by event). */
static void link_run(struct net_link *link)
{
	atomic_store(&link->last_rx_ms, net_now_ms());
	bool ok = link->rxs->cbuf != NULL && link->rxs->fbuf != NULL;
	if (!ok)
		net_log("out of memory reading from %s: link closed", link->name);
	while (ok && !atomic_load(&link->rx_done)) {
		struct epoll_event ev[2];
		int n = epoll_wait(link->epfd, ev, 2, net_ping_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || atomic_load(&link->rx_done))
			break;
		if (n == 0) {
			int64_t quiet = net_now_ms() - atomic_load(&link->last_rx_ms);
			if (quiet >= 3 * (int64_t)net_ping_ms) {
				net_log("%s silent for %d ms: link closed", link->name, 3 * net_ping_ms);
				break;
			}
			if (quiet >= net_ping_ms)
				send_ping(link);
			continue;
		}
		bool readable = false;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == link) {
				readable = true;
			} else {
				uint64_t v;   /* a kick: broken, or a big frame left to us */
				/* Only resets the counter; rx_done and rx_defer say why. */
				(void)!read(link->kick_fd, &v, sizeof v);
			}
		}
		if (readable || atomic_load(&link->rx_defer))
			ok = link_read(link, false);
	}
	pthread_mutex_lock(&link->rxlock);
	atomic_store(&link->rx_done, true);
	struct link_rx *rx = link->rxs;
	free(rx->cbuf);
	sodium_memzero(rx->fbuf, rx->fbuf ? rx->fcap : 0);
	free(rx->fbuf);
	budget_give(rx->charged);
	*rx = (struct link_rx){0};
	pthread_mutex_unlock(&link->rxlock);
	net_link_shutdown(link);
	net_link_teardown(link);
}

/* Puts the link's thread's registration of the socket behind every
 * other (exclusive wake-ups go to the first registered waiter that is
 * asleep). */
static void link_requeue(struct net_link *link)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = link };
	epoll_ctl(link->epfd, EPOLL_CTL_DEL, link->fd, NULL);
	epoll_ctl(link->epfd, EPOLL_CTL_ADD, link->fd, &ev);
}

/* The link's thread's wait set: the socket (exclusive) and kick_fd. */
static int link_wait_init(struct net_link *link)
{
	link->epfd = epoll_create1(EPOLL_CLOEXEC);
	link->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (link->epfd < 0 || link->kick_fd < 0)
		return -1;
	struct epoll_event sock = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = link };
	struct epoll_event kick = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(link->epfd, EPOLL_CTL_ADD, link->fd, &sock) != 0 ||
	    epoll_ctl(link->epfd, EPOLL_CTL_ADD, link->kick_fd, &kick) != 0)
		return -1;
	return 0;
}

/* ---- Borrowed reads ----
 *
 * A thread about to sleep in mach_msg on a port exported over links (the
 * pager thread of a remote kernel's object) sleeps in this hook instead:
 * in epoll on the sockets of the links the port is named on (exclusive,
 * ahead of each link's thread) and on its own eventfd (local senders and
 * the IPC's other wake-ups write it). When a frame arrives it reads the
 * link itself (link_read, under the link's rxlock, so the link's order
 * holds whoever reads) and the message for its port is queued and
 * claimed for it (ipc_mqueue's claim): it takes it with no hand-off from
 * the link's thread, which sleeps on. Frames for anything else are
 * handled as the link's thread would (in this thread). */

#define BORROW_LINKS_MAX 4

struct borrower {
	int epfd, wake_fd;
	mach_port_name_t armed;        /* net-space name of the port received on */
	const struct ipc_idle_hook *faults;   /* armed: the VM's, to read faults too */
	int fault_fd;                  /* registered (exclusive) userfaultfd, or -1 */
	bool fault_ready;
	struct net_link *links[BORROW_LINKS_MAX];   /* registered, one ref each */
	uint32_t nlinks;
	struct net_link *ready[BORROW_LINKS_MAX + 1];
	uint32_t nready;
	struct borrower *next;         /* free list */
};

static pthread_mutex_t borrowers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct borrower *free_borrowers;
static pthread_key_t borrower_key;
static _Thread_local struct borrower *self_borrower;

/* The tag of the userfaultfd's events in a borrower's epoll set. */
static char fault_tag;

static void borrower_drop_links(struct borrower *b)
{
	if (b->fault_fd >= 0) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->fault_fd, NULL);
		b->fault_fd = -1;
	}
	b->fault_ready = false;
	for (uint32_t i = 0; i < b->nlinks; i++) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->links[i]->fd, NULL);
		net_link_unref(b->links[i]);
	}
	b->nlinks = 0;
}

/* Thread exit: its descriptors are kept for the next thread (a late wake
 * then hits a descriptor still ours), its links given back. */
static void borrower_exit(void *arg)
{
	struct borrower *b = arg;
	borrower_drop_links(b);
	b->nready = 0;
	pthread_mutex_lock(&borrowers_lock);
	b->next = free_borrowers;
	free_borrowers = b;
	pthread_mutex_unlock(&borrowers_lock);
}

/* (ipc_idle_hook) Once per thread, under the IPC lock. */
static int borrow_wake_fd(void)
{
	pthread_mutex_lock(&borrowers_lock);
	struct borrower *b = free_borrowers;
	if (b != NULL)
		free_borrowers = b->next;
	pthread_mutex_unlock(&borrowers_lock);
	if (b == NULL && (b = calloc(1, sizeof *b)) != NULL) {
		b->fault_fd = -1;
		b->epfd = epoll_create1(EPOLL_CLOEXEC);
		b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
		if (b->epfd < 0 || b->wake_fd < 0 ||
		    epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wake_fd, &ev) != 0) {
			if (b->epfd >= 0)
				close(b->epfd);
			if (b->wake_fd >= 0)
				close(b->wake_fd);
			free(b);
			b = NULL;
		}
	}
	if (b == NULL)
		return -1;   /* sleep as before */
	if (pthread_setspecific(borrower_key, b) != 0) {
		borrower_exit(b);
		return -1;
	}
	self_borrower = b;
	return b->wake_fd;
}

/* (ipc_idle_hook) Under the IPC lock: which port the next wait is for,
 * and whether it reads faults too. */
static void borrow_arm(mach_port_name_t net_name, const struct ipc_idle_hook *faults)
{
	self_borrower->armed = net_name;
	self_borrower->faults = faults;
}

/* The userfaultfd in the set while the receive may read faults (as the
 * VM's own hook would have it: exclusive, ahead of the fault thread). */
static void borrower_sync_faults(struct borrower *b)
{
	int want = b->faults != NULL ? b->faults->fault_fd() : -1;
	if (want == b->fault_fd)
		return;
	if (b->fault_fd >= 0)
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->fault_fd, NULL);
	b->fault_fd = -1;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &fault_tag };
	if (want >= 0 && epoll_ctl(b->epfd, EPOLL_CTL_ADD, want, &ev) == 0) {
		b->fault_fd = want;
		b->faults->requeue();
	}
}

static bool link_in(struct net_link *const *set, uint32_t n, const struct net_link *link)
{
	for (uint32_t i = 0; i < n; i++)
		if (set[i] == link)
			return true;
	return false;
}

/* Registers the links the armed port is named on (as its home: the peer
 * sends to it over them) and drops those it is no longer named on or
 * that broke. */
static void borrower_sync(struct borrower *b)
{
	struct net_link *want[BORROW_LINKS_MAX];
	uint32_t nwant = 0;
	pthread_mutex_lock(&net_lock);
	struct nport *np = in_link_read ? NULL : net_nport_find(b->armed);
	for (struct nref *r = np ? np->refs : NULL; r != NULL && nwant < BORROW_LINKS_MAX;
	     r = r->nnext)
		if (np->proxy != r && !r->link->dead && !atomic_load(&r->link->rx_done) &&
		    !atomic_load(&r->link->rx_defer) && !link_in(want, nwant, r->link))
			want[nwant++] = r->link;
	for (uint32_t i = 0; i < nwant; i++)
		if (!link_in(b->links, b->nlinks, want[i]))
			net_link_ref(want[i]);
	pthread_mutex_unlock(&net_lock);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < b->nlinks; i++) {
		struct net_link *l = b->links[i];
		if (link_in(want, nwant, l)) {
			b->links[kept++] = l;
		} else {
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, l->fd, NULL);
			net_link_unref(l);
		}
	}
	b->nlinks = kept;
	for (uint32_t i = 0; i < nwant; i++) {
		struct net_link *l = want[i];
		if (link_in(b->links, b->nlinks, l))
			continue;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l };
		if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
			net_link_unref(l);
			continue;
		}
		link_requeue(l);
		b->links[b->nlinks++] = l;
	}
}

/* Milliseconds to an absolute CLOCK_MONOTONIC deadline, rounded up
 * (never early); -1 for none. */
static int ms_until(const struct timespec *deadline)
{
	if (deadline == NULL)
		return -1;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 +
	             (deadline->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	int64_t ms = (ns + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* (ipc_idle_hook) No IPC lock held: -1 at the deadline, 1 when a link
 * has bytes (serve reads them), 0 when woken. */
static int borrow_wait(const struct timespec *deadline)
{
	struct borrower *b = self_borrower;
	borrower_sync(b);
	borrower_sync_faults(b);
	struct epoll_event ev[BORROW_LINKS_MAX + 2];
	int n;
	for (;;) {
		n = epoll_wait(b->epfd, ev, BORROW_LINKS_MAX + 2, ms_until(deadline));
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0)
		return 0;
	if (n == 0)
		return deadline != NULL && ms_until(deadline) == 0 ? -1 : 0;
	b->nready = 0;
	b->fault_ready = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == &fault_tag)
			b->fault_ready = true;
		else if (ev[i].data.ptr != NULL)
			b->ready[b->nready++] = ev[i].data.ptr;
	}
	return b->nready > 0 || b->fault_ready ? 1 : 0;
}

/* (ipc_idle_hook) No IPC lock held: reads the links that had bytes. */
static void borrow_serve(void)
{
	struct borrower *b = self_borrower;
	if (b->fault_ready && b->faults != NULL)
		b->faults->serve();
	b->fault_ready = false;
	for (uint32_t i = 0; i < b->nready; i++)
		if (!in_link_read)
			/* A broken link is the link's thread's to tear down:
			 * link_read kicked it. */
			(void)link_read(b->ready[i], true);
	b->nready = 0;
}

static void borrow_wake(int wake_fd)
{
	uint64_t one = 1;
	/* At the eventfd's limit the waiter has a wake-up pending anyway. */
	(void)!write(wake_fd, &one, sizeof one);
}

static const struct ipc_idle_hook borrow_hook = {
	.wake_fd = borrow_wake_fd,
	.wait = borrow_wait,
	.serve = borrow_serve,
	.wake = borrow_wake,
	.arm = borrow_arm,
};

void net_link_borrow_start(void)
{
	const char *v = getenv("MEMOBJ_NET_BORROW");
	if (v != NULL && strcmp(v, "0") == 0)
		return;
	if (pthread_key_create(&borrower_key, borrower_exit) == 0)
		ipc_set_net_idle_hook(&borrow_hook);
}

/* Everything a new link starts with: one send right each way to the
 * name servers (docs/wire.md 7). */
static struct net_link *link_new(int fd, const struct net_auth_peer *peer)
{
	uint64_t peer_id = peer->node_id;
	if (atomic_fetch_add(&links_open, 1) >= net_limits.links_max) {
		atomic_fetch_sub(&links_open, 1);
		char name[NET_ADDR_NAME_MAX];
		net_peer_name(fd, name, sizeof name);
		net_log("link with %s refused: MEMOBJ_LINKS_MAX (%d) links open", name,
		        net_limits.links_max);
		return NULL;
	}
	struct net_link *link = calloc(1, sizeof *link);
	uint8_t *txbuf = malloc(NET_RECORD_FULL);
	if (link == NULL || txbuf == NULL) {
		atomic_fetch_sub(&links_open, 1);
		free(link);
		free(txbuf);
		return NULL;
	}
	/* From here the socket blocks: the reader sleeps in recv (woken by
	 * data, by shutdown, or after a ping interval), and a write that
	 * cannot progress for LINK_WRITE_TIMEOUT_MS fails. */
	if (net_socket_set_blocking(fd, net_ping_ms, LINK_WRITE_TIMEOUT_MS) != 0) {
		atomic_fetch_sub(&links_open, 1);
		free(link);
		free(txbuf);
		return NULL;
	}
	atomic_init(&link->refs, 1);
	link->counted = true;
	link->fd = fd;
	link->peer_id = peer_id;
	link->txbuf = txbuf;
	if (net_record_key_init(&link->tx, peer->tx_key, (enum net_aead)peer->aead) != 0 ||
	    net_record_key_init(&link->rx, peer->rx_key, (enum net_aead)peer->aead) != 0) {
		atomic_fetch_sub(&links_open, 1);
		net_record_key_clear(&link->tx);
		free(link);
		free(txbuf);
		return NULL;
	}
	pthread_mutex_init(&link->wlock, NULL);
	pthread_mutex_init(&link->rxlock, NULL);
	link->epfd = link->kick_fd = -1;
	net_peer_name(fd, link->name, sizeof link->name);
	link->rxs = calloc(1, sizeof *link->rxs);
	if (link->rxs != NULL) {
		link->rxs->cbuf = malloc(NET_RECORD_FULL);
		link->rxs->fbuf = malloc(LINK_FBUF_MIN);
		link->rxs->fcap = LINK_FBUF_MIN;
	}
	if (link->rxs == NULL || link_wait_init(link) != 0) {
		if (link->rxs != NULL) {
			free(link->rxs->cbuf);
			free(link->rxs->fbuf);
		}
		link->fd = -1;   /* the caller closes it */
		net_link_unref(link);
		return NULL;
	}

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

struct net_link *net_link_create(int fd, const struct net_auth_peer *peer)
{
	struct net_link *link = link_new(fd, peer);
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

/* A peer must start its handshake promptly: one that connects and sends
 * nothing (or a flood of them) holds a handshake slot for no longer than
 * MEMOBJ_FIRST_BYTE_MS. */
static bool first_byte_arrives(int fd)
{
	int64_t deadline = net_now_ms() + net_limits.first_byte_ms;
	for (;;) {
		int64_t left = deadline - net_now_ms();
		if (left <= 0)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

void *net_link_accept_thread(void *arg)
{
	struct accepted *a = arg;
	int fd = a->fd;
	struct net_slot_key slot = a->slot;
	struct net_auth_peer peer;
	int err = -ETIMEDOUT;
	if (first_byte_arrives(fd))
		err = net_auth_handshake(fd, WIRE_ROLE_LISTENER, net_node_id, &a->key,
		        net_limits.handshake_ms, &peer);
	else
		net_log_limited("a peer sent nothing in %d ms: connection closed",
		        net_limits.first_byte_ms);
	net_auth_key_clear(&a->key);
	free(a);
	net_handshake_done(&slot);
	if (err != 0) {
		close(fd);
		return NULL;
	}
	struct net_link *link = link_new(fd, &peer);
	sodium_memzero(&peer, sizeof peer);
	if (link == NULL) {
		close(fd);
		return NULL;
	}
	link_run(link);
	net_link_unref(link);
	return NULL;
}
