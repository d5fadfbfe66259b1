/* Proxies, and messages leaving this node.
 *
 * A proxy is a receive right in the net space whose kobject handler
 * (net_proxy_handler) turns each message sent to it into a MSG frame on
 * its link: the message's rights become wire references (a local port
 * is exported: we keep one send right per (port, link) and count the
 * references sent), OOL data travels inline. A receive right that leaves
 * makes the port a forwarding port: a proxy with the same handler, which
 * first sends on, in order, whatever was queued on it (docs/wire.md 7). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"
#include "net/net_port.h"

#define DESC_PORT_SIZE ((mach_msg_size_t)sizeof(mach_msg_port_descriptor_t))
#define DESC_OOL_SIZE  ((mach_msg_size_t)sizeof(mach_msg_ool_descriptor_t))

static mach_port_name_t new_kobject_port(ipc_kobject_handler_t handler)
{
	mach_port_name_t name;
	if (ipc_port_allocate(ipc_space_net(), MACH_PORT_RIGHT_RECEIVE, &name) != KERN_SUCCESS)
		return MACH_PORT_NULL;
	if (ipc_port_set_kobject(ipc_space_net(), name, handler, NULL) != KERN_SUCCESS) {
		/* Nothing refers to it yet: destroying it delivers nothing. */
		ipc_port_mod_refs(ipc_space_net(), name, MACH_PORT_RIGHT_RECEIVE, -1);
		return MACH_PORT_NULL;
	}
	return name;
}

struct nport *net_proxy_get(struct net_link *link, uint64_t origin, uint64_t id,
        struct net_undo *u)
{
	struct nref *r = net_ref_find(link, origin, id);
	if (r != NULL)
		return r->np;
	mach_port_name_t name = new_kobject_port(net_proxy_handler);
	if (name == MACH_PORT_NULL)
		return NULL;
	mach_port_name_t ns = new_kobject_port(net_notify_handler);
	struct nport *np = ns != MACH_PORT_NULL ? net_nport_get(name) : NULL;
	r = np != NULL ? net_ref_add(np, link, origin, id) : NULL;
	if (r == NULL) {
		if (np != NULL)
			net_nport_maybe_free(np);
		net_undo_destroy(u, name);
		net_undo_destroy(u, ns);
		return NULL;
	}
	np->proxy = r;
	net_nport_set_companion(np, ns);
	/* Fires once at least one send right was made and all are gone. */
	net_undo_arm_ns(u, np, 1);
	return np;
}

/* Drops a home-role record: its send right and kept send-once rights. */
static void home_ref_drop(struct nref *r, struct net_undo *u)
{
	if (r->held)
		net_undo_dealloc(u, r->np->name);
	for (uint32_t i = 0; i < r->nsonce; i++)
		net_undo_dealloc(u, r->sonce[i]);
	net_ref_remove(r);
}

/* The proxy gives up its receive right and companion; no frame. */
static void proxy_destroy(struct nport *np, struct net_undo *u)
{
	net_undo_destroy(u, np->name);
	net_undo_destroy(u, np->ns_port);
	net_nport_set_companion(np, MACH_PORT_NULL);
	if (np->proxy != NULL)
		net_ref_remove(np->proxy);
}

void net_proxy_kill(struct nport *np, struct net_undo *u)
{
	proxy_destroy(np, u);
	/* Where it was passed on, it dies too. */
	while (np->refs != NULL) {
		struct nref *r = np->refs;
		net_undo_frame(u, r->link, r->origin, r->id, 0, 0, true);
		home_ref_drop(r, u);
	}
	net_nport_maybe_free(np);
}

void net_home_died(struct nport *np, struct net_undo *u)
{
	struct nref *r = np->refs;
	while (r != NULL) {
		struct nref *next = r->nnext;
		if (r != np->proxy) {
			net_undo_frame(u, r->link, r->origin, r->id, 0, 0, true);
			home_ref_drop(r, u);
		}
		r = next;
	}
	np->dn_armed = false;
	net_nport_maybe_free(np);
}

/* Under net_lock: a proxy that no local right refers to any more gives
 * back what it was sent and goes. */
void net_proxy_check_done(struct nport *np, struct net_undo *u)
{
	struct nref *p = np->proxy;
	if (p == NULL || np->hold || np->sonce_out != 0 || np->made != np->ns_seen)
		return;
	if (np->recv_send != 0)
		net_undo_frame(u, p->link, p->origin, p->id, WIRE_RIGHT_SEND, np->recv_send, false);
	np->recv_send = 0;
	proxy_destroy(np, u);
	net_nport_maybe_free(np);
}

/* ---- encoding a message for a link ---- */

struct enc {
	struct net_link *link;
	struct wire_desc_out *descs;
	struct wire_port_ref *refs;
	uint32_t ndesc, nref;
	mach_port_name_t *convert;     /* receive rights becoming forwarding ports */
	uint32_t nconvert;
	struct net_undo *u;
};

/* The home-role record of np on link (not its proxy record), made if
 * absent, with our own id for it. */
static struct nref *home_ref(struct nport *np, struct net_link *link)
{
	for (struct nref *r = np->refs; r; r = r->nnext)
		if (r->link == link && r != np->proxy)
			return r;
	if (np->my_id == 0)
		np->my_id = net_new_port_id();
	return net_ref_add(np, link, net_node_id, np->my_id);
}

static bool push_sonce(struct nref *r, mach_port_name_t name)
{
	if (r->nsonce == r->capsonce) {
		uint32_t cap = r->capsonce ? r->capsonce * 2 : 4;
		mach_port_name_t *s = realloc(r->sonce, cap * sizeof *s);
		if (s == NULL)
			return false;
		r->sonce = s;
		r->capsonce = cap;
	}
	r->sonce[r->nsonce++] = name;
	return true;
}

/* One right of the message (named in the net space, of received type
 * `type`) becomes a wire reference on e->link. Under net_lock. The right
 * is consumed: kept in a record or given back through e->u. */
static void encode_right(struct enc *e, mach_port_name_t name, mach_msg_type_name_t type,
        struct wire_port_ref *ref)
{
	memset(ref, 0, sizeof *ref);
	if (name == MACH_PORT_NULL) {
		ref->right = WIRE_RIGHT_NONE;
		return;
	}
	if (name == MACH_PORT_DEAD) {
		ref->right = WIRE_RIGHT_DEAD;
		return;
	}
	struct nport *np = net_nport_find(name);
	if (type == MACH_MSG_TYPE_PORT_SEND && np && np->proxy && np->proxy->link == e->link) {
		/* A right to the peer's own port goes back as its name. */
		*ref = (struct wire_port_ref){ np->proxy->origin, np->proxy->id, WIRE_RIGHT_SEND };
		net_undo_dealloc(e->u, name);
		return;
	}
	if (np == NULL)
		np = net_nport_get(name);
	if (np == NULL)
		goto lost;
	if (type == MACH_MSG_TYPE_PORT_RECEIVE) {
		if (np->proxy != NULL)
			goto lost;   /* a proxy's receive right never leaves us */
		uint64_t origin = net_node_id, id;
		struct nref *old = NULL;
		for (struct nref *r = np->refs; r; r = r->nnext)
			if (r->link == e->link)
				old = r;
		if (old != NULL) {
			/* The peer knows it by this identity: keep it, so its
			 * proxy becomes the real port (docs/wire.md 7). */
			origin = old->origin;
			id = old->id;
			home_ref_drop(old, e->u);
		} else {
			if (np->my_id == 0)
				np->my_id = net_new_port_id();
			id = np->my_id;
		}
		mach_port_name_t ns = new_kobject_port(net_notify_handler);
		struct nref *p = ns != MACH_PORT_NULL ? net_ref_add(np, e->link, origin, id) : NULL;
		if (p == NULL) {
			net_undo_destroy(e->u, ns);
			goto lost;
		}
		np->proxy = p;
		net_nport_set_companion(np, ns);
		/* The forwarding port stands for one send right at the new
		 * home: released once nobody here can send to it. */
		np->recv_send = 1;
		np->made = np->ns_seen = 0;
		np->sonce_out = 0;
		np->hold = true;
		np->forwarding = true;
		np->release_ping = 0;
		e->convert[e->nconvert++] = name;
		net_undo_arm_ns(e->u, np, 0);
		*ref = (struct wire_port_ref){ origin, id, WIRE_RIGHT_RECEIVE };
		return;
	}
	struct nref *r = home_ref(np, e->link);
	if (r == NULL)
		goto lost;
	if (np->proxy == NULL && !np->dn_armed && !np->is_name_server) {
		/* Tells us when the port dies, to pass PORT_DEATH on. */
		np->dn_armed = true;
		net_undo_arm_dn(e->u, name);
	}
	if (type == MACH_MSG_TYPE_PORT_SEND_ONCE) {
		if (!push_sonce(r, name)) {
			net_nport_maybe_free(np);
			goto lost;
		}
		*ref = (struct wire_port_ref){ r->origin, r->id, WIRE_RIGHT_SEND_ONCE };
		return;
	}
	r->sent++;
	if (r->held)
		net_undo_dealloc(e->u, name);
	r->held = true;
	*ref = (struct wire_port_ref){ r->origin, r->id, WIRE_RIGHT_SEND };
	return;
lost:
	/* Out of memory: the right is dropped and arrives as a dead name. */
	if (type == MACH_MSG_TYPE_PORT_RECEIVE)
		net_undo_destroy(e->u, name);
	else
		net_undo_dealloc(e->u, name);
	ref->right = WIRE_RIGHT_DEAD;
}

static uint8_t wire_right_of(mach_msg_type_name_t type)
{
	switch (type) {
	case MACH_MSG_TYPE_PORT_RECEIVE: return WIRE_RIGHT_RECEIVE;
	case MACH_MSG_TYPE_PORT_SEND_ONCE: return WIRE_RIGHT_SEND_ONCE;
	default: return WIRE_RIGHT_SEND;
	}
}

/* The descriptors of a received message (well formed: the IPC made it)
 * are checked against msgh_size anyway; false if they do not fit. */
static bool walk_descs(mach_msg_header_t *msg, uint32_t *ndesc, uint32_t *nref,
        mach_msg_size_t *body_off)
{
	*ndesc = *nref = 0;
	*body_off = sizeof(mach_msg_header_t);
	if (!(msg->msgh_bits & MACH_MSGH_BITS_COMPLEX))
		return true;
	mach_msg_size_t size = msg->msgh_size;
	if (size < sizeof(mach_msg_base_t))
		return false;
	unsigned char *base = (unsigned char *)msg;
	mach_msg_body_t body;
	memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
	if (body.msgh_descriptor_count > WIRE_MSG_DESC_MAX)
		return false;
	mach_msg_size_t off = sizeof(mach_msg_base_t);
	uint64_t refs = 0;
	for (uint32_t i = 0; i < body.msgh_descriptor_count; i++) {
		mach_msg_type_descriptor_t td;
		if (size - off < sizeof td)
			return false;
		memcpy(&td, base + off, sizeof td);
		if (td.type == MACH_MSG_PORT_DESCRIPTOR) {
			if (size - off < DESC_PORT_SIZE)
				return false;
			refs++;
			off += DESC_PORT_SIZE;
		} else if (td.type <= MACH_MSG_OOL_VOLATILE_DESCRIPTOR) {
			if (size - off < DESC_OOL_SIZE)
				return false;
			if (td.type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
				mach_msg_ool_ports_descriptor_t od;
				memcpy(&od, base + off, sizeof od);
				refs += od.count;
			}
			off += DESC_OOL_SIZE;
		} else {
			return false;
		}
	}
	if (refs > WIRE_MSG_REF_MAX)
		return false;
	*ndesc = body.msgh_descriptor_count;
	*nref = (uint32_t)refs;
	*body_off = off;
	return true;
}

/* Writes iov fully; chunks of at most IOV_MAX. */
static int write_all(struct net_link *link, struct iovec *iov, uint32_t n)
{
	while (n > 0) {
		uint32_t chunk = n > IOV_MAX ? IOV_MAX : n;
		int err = net_link_write_locked(link, iov, (int)chunk);
		if (err != 0)
			return err;
		iov += chunk;
		n -= chunk;
	}
	return 0;
}

/* A receive right leaving on a link becomes a forwarding port: its handler
 * forwards from now on, and what was queued on it is taken out at once,
 * to be written right behind the message that carries the right. Taking
 * the queue *before* that message is written matters: once the peer has
 * the right it may send it straight back, and a queue still being drained
 * here would be split between two paths and arrive out of order. Appends
 * the queued messages (malloc'd) to *queued. Called with the link's wlock. */
static void stop_queue(mach_port_name_t name, mach_msg_header_t ***queued,
        size_t *nqueued, size_t *cap_queued)
{
	ipc_space_t net = ipc_space_net();
	if (ipc_port_set_kobject(net, name, net_proxy_handler, NULL) != KERN_SUCCESS)
		return;
	mach_msg_size_t cap = 4096;
	mach_msg_header_t *buf = malloc(cap);
	while (buf != NULL) {
		mach_msg_return_t mr = ipc_mach_msg(net, buf,
		        MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_LARGE, 0, cap, name, 0,
		        MACH_PORT_NULL);
		if (mr == MACH_RCV_TOO_LARGE) {
			mach_msg_size_t need = buf->msgh_size + (mach_msg_size_t)sizeof(mach_msg_max_trailer_t);
			free(buf);
			cap = need;
			buf = malloc(cap);
			continue;
		}
		if (mr != MACH_MSG_SUCCESS)
			break;
		if (*nqueued == *cap_queued) {
			size_t ncap = *cap_queued ? *cap_queued * 2 : 8;
			mach_msg_header_t **q = realloc(*queued, ncap * sizeof *q);
			if (q == NULL) {
				net_log("out of memory forwarding a queue: message destroyed");
				ipc_mach_msg_destroy(net, buf);
				continue;
			}
			*queued = q;
			*cap_queued = ncap;
		}
		(*queued)[(*nqueued)++] = buf;
		cap = 4096;
		buf = malloc(cap);
	}
	free(buf);
}

/* Where a message taken from a port's queue goes: fixed when the queue
 * was taken (see stop_queue), whatever has become of the port since. */
struct fwd_via {
	struct net_link *link;
	uint64_t origin, id;
};

#define FWD_INLINE      4
#define FWD_HEAD_INLINE 256

/* One message on its way out: its wire form and the pieces to write. */
struct fwd {
	mach_msg_header_t *msg;
	struct net_link *link;         /* a reference held */
	struct wire_msg_out m;
	struct enc e;
	mach_msg_size_t body_off;
	struct iovec *iov;             /* [0] head, [1] body, then OOL regions */
	uint32_t niov;
	struct iovec *ool_iov;
	uint32_t nool;
	uint64_t ool_total;
	uint8_t *head;
	/* A fault's messages (data_request, data_supply) carry a few
	 * descriptors and references: their arrays and head live here, so
	 * forwarding one allocates nothing. */
	struct wire_desc_out descs_in[FWD_INLINE];
	struct wire_port_ref refs_in[FWD_INLINE];
	mach_port_name_t convert_in[FWD_INLINE];
	struct iovec iov_in[FWD_INLINE + 2];
	uint8_t head_in[FWD_HEAD_INLINE];
};

static void forward(mach_msg_header_t *msg, bool wlocked, const struct fwd_via *via,
        struct net_undo *u);

/* Under net_lock: the link and wire destination of the message (the
 * proxy it was sent to, or `via`). False when there is none any more. */
static bool fwd_route(struct fwd *f, const struct fwd_via *via)
{
	mach_msg_bits_t bits = f->msg->msgh_bits;
	struct nport *np = net_nport_find(f->msg->msgh_local_port);
	struct nref *p = np ? np->proxy : NULL;
	struct net_link *link = via ? via->link : p ? p->link : NULL;
	if (link == NULL || link->dead)
		return false;
	net_link_ref(link);
	f->link = link;
	uint8_t dest_right = MACH_MSGH_BITS_LOCAL(bits) == MACH_MSG_TYPE_PORT_SEND_ONCE
	        ? WIRE_RIGHT_SEND_ONCE : WIRE_RIGHT_SEND;
	f->m.flags = (bits & MACH_MSGH_BITS_COMPLEX) ? WIRE_MSG_COMPLEX : 0;
	f->m.id = f->msg->msgh_id;
	f->m.dest = (struct wire_port_ref){ via ? via->origin : p->origin, via ? via->id : p->id,
	                                    dest_right };
	if (dest_right == WIRE_RIGHT_SEND_ONCE && np != NULL && np->sonce_out > 0)
		np->sonce_out--;
	return true;
}

static bool fwd_alloc(struct fwd *f, uint32_t ndesc, uint32_t nref)
{
	if (ndesc <= FWD_INLINE && nref <= FWD_INLINE) {
		memset(f->descs_in, 0, sizeof f->descs_in);
		f->e.descs = f->descs_in;
		f->e.refs = f->refs_in;
		f->e.convert = f->convert_in;
		f->iov = f->iov_in;
	} else {
		f->e.descs = calloc(ndesc ? ndesc : 1, sizeof *f->e.descs);
		f->e.refs = calloc(nref ? nref : 1, sizeof *f->e.refs);
		f->e.convert = calloc(nref ? nref : 1, sizeof *f->e.convert);
		f->iov = calloc(ndesc + 2, sizeof *f->iov);
	}
	f->ool_iov = f->iov ? f->iov + 2 : NULL;
	return f->e.descs && f->e.refs && f->e.convert && f->iov;
}

static void fwd_free(struct fwd *f)
{
	if (f->head != f->head_in)
		free(f->head);
	if (f->e.descs != f->descs_in) {
		free(f->e.descs);
		free(f->e.refs);
		free(f->e.convert);
		free(f->iov);
	}
	if (f->link != NULL)
		net_link_unref(f->link);
}

static void encode_port_desc(struct fwd *f, struct wire_desc_out *d, unsigned char *at)
{
	mach_msg_port_descriptor_t pd;
	memcpy(&pd, at, sizeof pd);
	d->type = WIRE_DESC_PORT;
	d->right = wire_right_of(pd.disposition);
	d->count = 1;
	d->refs = &f->e.refs[f->e.nref];
	encode_right(&f->e, pd.name, pd.disposition, &f->e.refs[f->e.nref++]);
	pd.name = MACH_PORT_NULL;
	memcpy(at, &pd, sizeof pd);
}

static void encode_ool_ports_desc(struct fwd *f, struct wire_desc_out *d, unsigned char *at)
{
	mach_msg_ool_ports_descriptor_t od;
	memcpy(&od, at, sizeof od);
	mach_port_name_t *names = od.address;
	d->type = WIRE_DESC_OOL_PORTS;
	d->right = wire_right_of(od.disposition);
	d->count = od.count;
	d->refs = &f->e.refs[f->e.nref];
	for (uint32_t k = 0; k < od.count; k++) {
		encode_right(&f->e, names ? names[k] : MACH_PORT_NULL, od.disposition,
		             &f->e.refs[f->e.nref++]);
		if (names)
			names[k] = MACH_PORT_NULL;
	}
}

/* OOL data is written from where it is, after the body. */
static void encode_ool_desc(struct fwd *f, struct wire_desc_out *d, unsigned char *at)
{
	mach_msg_ool_descriptor_t od;
	memcpy(&od, at, sizeof od);
	d->type = WIRE_DESC_OOL;
	d->right = 0;
	d->count = od.address ? od.size : 0;
	d->ool = od.address;
	f->ool_total += d->count;
	if (d->count) {
		f->ool_iov[f->nool].iov_base = od.address;
		f->ool_iov[f->nool].iov_len = d->count;
		f->nool++;
	}
}

/* Under net_lock: the reply right and every descriptor become wire
 * descriptors and references (rights consumed, names cleared). */
static void fwd_encode_rights(struct fwd *f, uint32_t ndesc)
{
	mach_msg_header_t *msg = f->msg;
	encode_right(&f->e, msg->msgh_remote_port, MACH_MSGH_BITS_REMOTE(msg->msgh_bits),
	             &f->m.reply);
	msg->msgh_remote_port = MACH_PORT_NULL;
	unsigned char *base = (unsigned char *)msg;
	mach_msg_size_t off = sizeof(mach_msg_base_t);
	for (uint32_t i = 0; i < ndesc; i++) {
		mach_msg_type_descriptor_t td;
		memcpy(&td, base + off, sizeof td);
		if (td.type == MACH_MSG_PORT_DESCRIPTOR) {
			encode_port_desc(f, &f->e.descs[i], base + off);
			off += DESC_PORT_SIZE;
		} else if (td.type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			encode_ool_ports_desc(f, &f->e.descs[i], base + off);
			off += DESC_OOL_SIZE;
		} else {
			encode_ool_desc(f, &f->e.descs[i], base + off);
			off += DESC_OOL_SIZE;
		}
	}
}

/* Encodes the head and lays out head, body and OOL regions in f->iov.
 * WIRE_OK, or why the message cannot be sent. */
static int fwd_encode_head(struct fwd *f, uint32_t ndesc)
{
	f->m.desc_count = ndesc;
	f->m.descs = f->e.descs;
	f->m.body = (unsigned char *)f->msg + f->body_off;
	f->m.body_size = f->msg->msgh_size - f->body_off;
	size_t head_len, frame_len;
	int werr = wire_msg_measure(&f->m, &head_len, &frame_len);
	if (werr != WIRE_OK)
		return werr;
	if (f->ool_total > WIRE_MSG_OOL_MAX)
		return WIRE_ERR_LIMIT;
	f->head = head_len <= sizeof f->head_in ? f->head_in : malloc(head_len);
	if (f->head == NULL || wire_encode_msg_head(f->head, head_len, &f->m, &head_len) != WIRE_OK)
		return WIRE_ERR_SPACE;
	f->iov[0] = (struct iovec){ f->head, head_len };
	f->niov = 1;
	if (f->m.body_size) {
		f->iov[f->niov++] = (struct iovec){ (void *)f->m.body, f->m.body_size };
	}
	/* OOL regions follow the body; move them up if there was none. */
	if (f->niov == 1 && f->nool)
		memmove(f->iov + 1, f->ool_iov, f->nool * sizeof *f->iov);
	f->niov += f->nool;
	return WIRE_OK;
}

/* The queues of the receive rights this message moves, taken before it
 * is written (see stop_queue): the messages, and for each the new home
 * it is forwarded to. */
struct moved_queues {
	mach_msg_header_t **msgs;
	size_t n, cap;
	struct fwd_via *vias;          /* one per moving right */
	size_t *ends;                  /* msgs of right i end before ends[i] */
};

static void take_moved_queues(struct fwd *f, struct moved_queues *q)
{
	uint32_t n = f->e.nconvert;
	q->vias = calloc(n ? n : 1, sizeof *q->vias);
	q->ends = calloc(n ? n : 1, sizeof *q->ends);
	for (uint32_t i = 0; q->vias && q->ends && i < n; i++) {
		/* The new home, as the moving right names it on this link. */
		pthread_mutex_lock(&net_lock);
		struct nport *cp = net_nport_find(f->e.convert[i]);
		struct nref *cr = cp ? cp->proxy : NULL;
		q->vias[i] = (struct fwd_via){ f->link, cr ? cr->origin : 0, cr ? cr->id : 0 };
		pthread_mutex_unlock(&net_lock);
		stop_queue(f->e.convert[i], &q->msgs, &q->n, &q->cap);
		q->ends[i] = q->n;
	}
}

/* Writes the queued messages right behind the one that moved their
 * rights (still under the link's wlock), each to its new home. */
static void forward_moved_queues(struct fwd *f, struct moved_queues *q, struct net_undo *u)
{
	for (size_t i = 0, c = 0; i < q->n; i++) {
		while (q->ends && c < f->e.nconvert && i >= q->ends[c])
			c++;
		forward(q->msgs[i], true, q->vias ? &q->vias[c] : NULL, u);
		free(q->msgs[i]);
	}
	free(q->msgs);
	free(q->vias);
	free(q->ends);
}

/* Writes the frame, and the queues of any receive rights it moves. */
static void fwd_write(struct fwd *f, bool wlocked, struct net_undo *u)
{
	if (!wlocked)
		pthread_mutex_lock(&f->link->wlock);
	struct moved_queues q = {0};
	take_moved_queues(f, &q);
	write_all(f->link, f->iov, f->niov);
	forward_moved_queues(f, &q, u);
	if (!wlocked)
		pthread_mutex_unlock(&f->link->wlock);
}

/* Turns msg (received in the net space, dest a proxy) into a frame and
 * writes it. The message's rights are consumed; its OOL memory freed. */
static void forward(mach_msg_header_t *msg, bool wlocked, const struct fwd_via *via,
        struct net_undo *u)
{
	ipc_space_t net = ipc_space_net();
	struct fwd f = { .msg = msg, .e = { .u = u } };
	uint32_t ndesc, nref;
	bool ok = walk_descs(msg, &ndesc, &nref, &f.body_off);

	pthread_mutex_lock(&net_lock);
	if (!ok || !fwd_route(&f, via)) {
		pthread_mutex_unlock(&net_lock);
		if (!ok)
			net_log("message to a proxy too large or malformed: destroyed");
		ipc_mach_msg_destroy(net, msg);
		return;
	}
	f.e.link = f.link;
	if (!fwd_alloc(&f, ndesc, nref)) {
		pthread_mutex_unlock(&net_lock);
		net_log("out of memory forwarding a message: destroyed");
		ipc_mach_msg_destroy(net, msg);
		fwd_free(&f);
		return;
	}
	fwd_encode_rights(&f, ndesc);
	pthread_mutex_unlock(&net_lock);

	int werr = fwd_encode_head(&f, ndesc);
	if (werr != WIRE_OK) {
		/* Its rights are already accounted as sent; the link would be
		 * out of step if we went on, so it is closed (docs/wire.md 5). */
		net_log("message %d to %s cannot be sent (%s): link closed", f.m.id,
		        f.link->name, wire_strerror(werr));
		net_link_shutdown(f.link);
	} else {
		fwd_write(&f, wlocked, u);
	}
	/* Names are cleared: this frees the OOL memory (if it was ours). */
	ipc_mach_msg_destroy(net, msg);
	fwd_free(&f);
}

void net_proxy_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	(void)context;
	(void)size;
	struct net_undo u = {0};
	forward(msg, false, NULL, &u);
	pthread_mutex_lock(&net_lock);
	struct nport *np = net_nport_find(msg->msgh_local_port);
	if (np != NULL)
		net_proxy_check_done(np, &u);
	pthread_mutex_unlock(&net_lock);
	net_undo_run(&u);
}

bool net_port_is_proxy(ipc_space_t space, mach_port_name_t name)
{
	return ipc_port_kobject_handler(space, name) == net_proxy_handler;
}
