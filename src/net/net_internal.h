/* The net layer's shared state: links, the ports it proxies or exports,
 * and the tables between them (docs/wire.md section 7 and docs/network.md).
 *
 * Every right the net layer holds lives in its own kernel-class IPC space,
 * ipc_space_net(): proxies are receive rights there with a kobject handler
 * that forwards over a link; an exported port is a send right there.
 *
 * Locking: net_lock guards every table, link list and count below. It is
 * never held across an IPC call that can deliver a message (send,
 * deallocate, destroy, notification request), because delivery runs
 * kobject handlers (ours included) in the calling thread. Calls that only
 * make a right (MAKE_SEND, MAKE_SEND_ONCE, allocate, set_kobject) are fine
 * under it. A link's writes are serialised by its own wlock, taken after
 * net_lock is released (or never with it held). A link's rxlock is held
 * by whoever reads and handles its frames (its thread or a borrowing
 * receiver) with no other lock, and kobject handlers run under it: it
 * comes before every other lock, and nothing takes it with one held. */
#ifndef MEMOBJ_NET_INTERNAL_H
#define MEMOBJ_NET_INTERNAL_H

#include <mach/mach.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ipc/ipc_kernel.h"
#include "net/net_auth.h"
#include "net/net_record.h"
#include "net/net_socket.h"
#include "net/wire_frame.h"

struct net_link;
struct nport;
struct link_rx;

/* One port's record on one link: its identity there and, when this end is
 * its home on that link, the rights the peer holds. */
struct nref {
	struct nport *np;
	struct net_link *link;
	uint64_t origin, id;           /* wire identity on this link */
	uint64_t sent;                 /* home: SEND refs sent, not yet released */
	bool held;                     /* home: we hold one net-space uref for them */
	mach_port_name_t *sonce;       /* home: send-once rights kept for the peer */
	uint32_t nsonce, capsonce;
	struct nref *hnext;            /* link's hash chain */
	struct nref *nnext;            /* nport's list */
};

/* A port the net layer tracks, by its name in the net space. */
struct nport {
	mach_port_name_t name;
	uint64_t my_id;                /* our id for it (origin = us), 0 until needed */
	struct nref *refs;             /* one per link it is named on */
	/* Proxy (also a forwarding port after its receive right moved away):
	 * we hold the receive right; messages go over proxy->link. */
	struct nref *proxy;
	mach_port_name_t ns_port;      /* companion: its no-senders notifications */
	uint64_t recv_send;            /* SEND refs received, not yet released */
	uint32_t sonce_out;            /* send-once rights made, not yet used */
	mach_port_mscount_t made;      /* send rights made from the receive right */
	mach_port_mscount_t ns_seen;   /* make-send count when senders last went */
	bool hold;                     /* proxy: keep until a no-senders says so */
	bool forwarding;               /* proxy left behind by a receive right */
	uint64_t release_ping;         /* forwarding: release when this PONG comes */
	bool dn_armed;                 /* dead-name request armed on name */
	bool is_name_server;
	struct nport *hnext;           /* name hash chain */
	struct nport *cnext;           /* companion hash chain */
};

struct net_link {
	_Atomic uint32_t refs;
	int fd;
	uint64_t peer_id;
	char name[NET_ADDR_NAME_MAX];
	bool dead;                     /* under net_lock: broken, tables dropped */
	pthread_mutex_t wlock;         /* one writer at a time */
	struct nref **hash;            /* (origin, id) -> nref */
	uint32_t hash_size, hash_count;
	struct net_link *next;         /* node's list */
	pthread_t thread;
	_Atomic int64_t last_rx_ms;    /* a byte last arrived (whoever read it) */
	struct net_record_key tx;      /* under wlock */
	struct net_record_key rx;      /* under rxlock */
	uint8_t *txbuf;                /* one record being sealed (under wlock) */
	bool counted;                  /* holds one of net_limits.links_max */
	/* Reading: whoever holds rxlock reads the socket and handles what
	 * came, in order: the link's thread, or a receiver borrowing the
	 * link (net_link.c, "Borrowed reads"). */
	pthread_mutex_t rxlock;
	struct link_rx *rxs;           /* under rxlock */
	_Atomic bool rx_done;          /* EOF, error or violation: the thread tears down */
	_Atomic bool rx_defer;         /* a borrower left a big frame to the thread */
	int epfd;                      /* the link thread's wait: fd (exclusive) and kick_fd */
	int kick_fd;                   /* eventfd: a borrower saw the link break */
};

/* ---- node (net_node.c) ---- */
extern pthread_mutex_t net_lock;
extern uint64_t net_node_id;
extern mach_port_name_t net_notify_port;    /* dead-name notifications */
extern struct nport *net_name_server;       /* port id 1 */
extern int net_ping_ms;

/* Caps against hostile or runaway peers, read once from the environment
 * when the node starts (docs/network.md, "Limits"). */
struct net_limits {
	int links_max;                 /* MEMOBJ_LINKS_MAX: links, each one reader thread */
	int handshakes_max;            /* MEMOBJ_HANDSHAKES_MAX: handshake threads in all */
	int handshakes_per_peer;       /* MEMOBJ_HANDSHAKES_PER_PEER: per address / uid */
	int first_byte_ms;             /* MEMOBJ_FIRST_BYTE_MS: a peer silent this long goes */
	int handshake_ms;              /* MEMOBJ_HANDSHAKE_MS: whole handshake, accepted side */
	uint64_t link_buffer_max;      /* MEMOBJ_LINK_BUFFER_MAX: largest frame a link buffers */
	uint64_t buffer_total_max;     /* MEMOBJ_NET_BUFFER_MAX: frame bytes buffered, all links */
};
extern struct net_limits net_limits;
/* The node the message being delivered in this thread came from: a
 * link's peer while its reader delivers a MSG, else 0 (this node). */
extern _Thread_local uint64_t net_msg_from_node;
/* Starts the node once: node id, notify port, name server. 0 or -errno. */
int net_node_start(void);
/* An accepted connection's handshake is over (admitted or not): gives
 * back its handshake slot. */
struct net_slot_key {
	uint8_t bytes[17];             /* family, then address or uid */
};
void net_handshake_done(const struct net_slot_key *slot);
void net_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, at most one line a second (refusals a flood would repeat);
 * the next line says how many were left out. */
void net_log_limited(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- links (net_link.c) ---- */
/* An accepted socket and the listener's key, for its handshake thread. */
struct accepted {
	int fd;
	struct net_auth_key key;
	struct net_slot_key slot;
};
/* Takes a connected, admitted socket and its session keys; starts its
 * reader. NULL (fd closed) on resource shortage or at MEMOBJ_LINKS_MAX. */
struct net_link *net_link_create(int fd, const struct net_auth_peer *peer);
/* Links open now (counted against net_limits.links_max). */
int net_link_count(void);
/* Runs the handshake on fd and then the link (thread body for accepted
 * connections); closes fd on refusal. */
void *net_link_accept_thread(void *arg);
void net_link_ref(struct net_link *link);
void net_link_unref(struct net_link *link);
/* Writes one frame made of iov (header first). Serialised per link; a
 * write error breaks the link. Returns 0 or -errno. Call with wlock
 * held (the _locked form) or not. */
int net_link_write_locked(struct net_link *link, struct iovec *iov, int iovcnt);
int net_link_write(struct net_link *link, struct iovec *iov, int iovcnt);
int net_link_send_release(struct net_link *link, uint64_t origin, uint64_t id,
        uint8_t right, uint64_t count);
int net_link_send_death(struct net_link *link, uint64_t origin, uint64_t id);
int net_link_send_ping(struct net_link *link, uint64_t cookie);
/* Makes the link unusable: the reader sees EOF and cleans up. */
void net_link_shutdown(struct net_link *link);
/* Installs the net idle hook (receivers read their links), unless
 * MEMOBJ_NET_BORROW=0. Called once when the node starts. */
void net_link_borrow_start(void);

/* ---- tables (net_table.c); all under net_lock ---- */
struct nport *net_nport_find(mach_port_name_t name);
struct nport *net_nport_get(mach_port_name_t name);      /* find or make */
struct nport *net_nport_by_companion(mach_port_name_t ns_port);
void net_nport_set_companion(struct nport *np, mach_port_name_t ns_port);
/* Frees np if nothing refers to it any more (no refs, not a proxy). */
void net_nport_maybe_free(struct nport *np);
struct nref *net_ref_find(struct net_link *link, uint64_t origin, uint64_t id);
struct nref *net_ref_of(struct nport *np, struct net_link *link);
struct nref *net_ref_add(struct nport *np, struct net_link *link,
        uint64_t origin, uint64_t id);
void net_ref_remove(struct nref *ref);
uint64_t net_new_port_id(void);
/* Every nref of a link, for teardown (removes them from the link hash). */
struct nref *net_link_take_refs(struct net_link *link);

/* Deferred IPC work collected under net_lock and done after it. */
struct net_undo {
	mach_port_name_t *dealloc;     /* one uref each (send, send-once, dead) */
	uint32_t ndealloc, capdealloc;
	mach_port_name_t *destroy_rcv; /* receive rights to destroy */
	uint32_t ndestroy, capdestroy;
	struct { struct net_link *link; uint64_t origin, id; uint8_t right; uint64_t count;
	         bool death; } *frames; /* REF_RELEASE / PORT_DEATH to send */
	uint32_t nframes, capframes;
	struct { mach_port_name_t name, ns; mach_port_mscount_t sync; }
	        *arm_ns;               /* proxies' no-senders requests to arm */
	uint32_t narm, caparm;
	mach_port_name_t *arm_dn;      /* names to arm a dead-name request on */
	uint32_t narmdn, caparmdn;
};
void net_undo_dealloc(struct net_undo *u, mach_port_name_t name);
void net_undo_destroy(struct net_undo *u, mach_port_name_t name);
void net_undo_frame(struct net_undo *u, struct net_link *link, uint64_t origin,
        uint64_t id, uint8_t right, uint64_t count, bool death);
void net_undo_arm_ns(struct net_undo *u, struct nport *np, mach_port_mscount_t sync);
void net_undo_arm_dn(struct net_undo *u, mach_port_name_t name);
/* A PING whose PONG releases forwarding ports (net_recv.c). */
#define NET_RELEASE_PING (1ull << 63)
uint64_t net_new_release_ping(void);
void net_undo_ping(struct net_undo *u, struct net_link *link, uint64_t cookie);
/* Runs it all (net_lock NOT held) and frees it. */
void net_undo_run(struct net_undo *u);

/* ---- proxies (net_proxy.c) ---- */
/* A proxy for (origin, id) homed across link; made if absent (under
 * net_lock). NULL on resource shortage. */
struct nport *net_proxy_get(struct net_link *link, uint64_t origin, uint64_t id,
        struct net_undo *u);
/* Destroys a proxy (its home died or its link broke): local send rights
 * become dead names; links it was passed on to get PORT_DEATH. */
void net_proxy_kill(struct nport *np, struct net_undo *u);
/* A port's receive right was destroyed at home: PORT_DEATH on every link
 * it is named on, counts dropped. */
void net_home_died(struct nport *np, struct net_undo *u);
/* Under net_lock: a proxy no local right refers to any more gives back
 * what it was sent (REF_RELEASE) and goes. */
void net_proxy_check_done(struct nport *np, struct net_undo *u);
/* The kobject handler of proxies and forwarding ports. */
void net_proxy_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size);
/* The handler of companion ports and of net_notify_port. */
void net_notify_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size);

/* ---- frames in (net_recv.c), called by the link's reader ---- */
/* Handles one decoded frame; false on a protocol violation (closes link). */
bool net_recv_frame(struct net_link *link, const struct wire_frame *f);
/* The link broke: drop everything it held. */
void net_link_teardown(struct net_link *link);

/* ---- name server (net_nameserver.c) ---- */
void net_name_server_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size);
/* A new send right (one more user reference) to this node's own name
 * server, in the task space (net_node.c): name_server_port, and what
 * memobj_connect answers for this node's own address. */
kern_return_t net_name_server_right(mach_port_t *name);

/* The names checked in with this node's name server (statistics). */
uint32_t net_nameserver_names(uint32_t start, char (*names)[80], uint32_t max,
        uint32_t *total);

#endif
