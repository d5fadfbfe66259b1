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

/* Turns msg (received in the net space, dest a proxy) into a frame and
 * writes it. The message's rights are consumed; its OOL memory freed. */
/* Where a message taken from a port's queue goes: fixed when the queue
 * was taken (see stop_queue), whatever has become of the port since. */
struct fwd_via {
	struct net_link *link;
	uint64_t origin, id;
};

static void forward(mach_msg_header_t *msg, bool wlocked,
        const struct fwd_via *via, struct net_undo *u)
{
	ipc_space_t net = ipc_space_net();
	mach_msg_bits_t bits = msg->msgh_bits;
	uint32_t ndesc, nref;
	mach_msg_size_t body_off;
	bool ok = walk_descs(msg, &ndesc, &nref, &body_off);

	pthread_mutex_lock(&net_lock);
	struct nport *np = net_nport_find(msg->msgh_local_port);
	struct nref *p = np ? np->proxy : NULL;
	struct net_link *link = via ? via->link : p ? p->link : NULL;
	if (!ok || link == NULL || link->dead) {
		pthread_mutex_unlock(&net_lock);
		if (!ok)
			net_log("message to a proxy too large or malformed: destroyed");
		ipc_mach_msg_destroy(net, msg);
		return;
	}
	net_link_ref(link);
	uint8_t dest_right = MACH_MSGH_BITS_LOCAL(bits) == MACH_MSG_TYPE_PORT_SEND_ONCE
	        ? WIRE_RIGHT_SEND_ONCE : WIRE_RIGHT_SEND;
	struct wire_msg_out m = {
		.flags = (bits & MACH_MSGH_BITS_COMPLEX) ? WIRE_MSG_COMPLEX : 0,
		.id = msg->msgh_id,
		.dest = { via ? via->origin : p->origin, via ? via->id : p->id, dest_right },
	};
	if (dest_right == WIRE_RIGHT_SEND_ONCE && np != NULL && np->sonce_out > 0)
		np->sonce_out--;

	struct enc e = { .link = link, .u = u };
	e.descs = calloc(ndesc ? ndesc : 1, sizeof *e.descs);
	e.refs = calloc(nref ? nref : 1, sizeof *e.refs);
	e.convert = calloc(nref ? nref : 1, sizeof *e.convert);
	struct iovec *iov = calloc(ndesc + 2, sizeof *iov);
	if (e.descs == NULL || e.refs == NULL || e.convert == NULL || iov == NULL) {
		pthread_mutex_unlock(&net_lock);
		net_log("out of memory forwarding a message: destroyed");
		ipc_mach_msg_destroy(net, msg);
		goto out;
	}
	encode_right(&e, msg->msgh_remote_port, MACH_MSGH_BITS_REMOTE(bits), &m.reply);
	msg->msgh_remote_port = MACH_PORT_NULL;

	unsigned char *base = (unsigned char *)msg;
	mach_msg_size_t off = sizeof(mach_msg_base_t);
	uint64_t ool_total = 0;
	uint32_t niov = 1;            /* iov[0]: the head */
	struct iovec *ool_iov = iov + 2;
	uint32_t nool = 0;
	for (uint32_t i = 0; i < ndesc; i++) {
		mach_msg_type_descriptor_t td;
		memcpy(&td, base + off, sizeof td);
		struct wire_desc_out *d = &e.descs[i];
		if (td.type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t pd;
			memcpy(&pd, base + off, sizeof pd);
			d->type = WIRE_DESC_PORT;
			d->right = wire_right_of(pd.disposition);
			d->count = 1;
			d->refs = &e.refs[e.nref];
			encode_right(&e, pd.name, pd.disposition, &e.refs[e.nref++]);
			pd.name = MACH_PORT_NULL;
			memcpy(base + off, &pd, sizeof pd);
			off += DESC_PORT_SIZE;
			continue;
		}
		if (td.type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t od;
			memcpy(&od, base + off, sizeof od);
			mach_port_name_t *names = od.address;
			d->type = WIRE_DESC_OOL_PORTS;
			d->right = wire_right_of(od.disposition);
			d->count = od.count;
			d->refs = &e.refs[e.nref];
			for (uint32_t k = 0; k < od.count; k++) {
				encode_right(&e, names ? names[k] : MACH_PORT_NULL, od.disposition,
				             &e.refs[e.nref++]);
				if (names)
					names[k] = MACH_PORT_NULL;
			}
			off += DESC_OOL_SIZE;
			continue;
		}
		mach_msg_ool_descriptor_t od;
		memcpy(&od, base + off, sizeof od);
		d->type = WIRE_DESC_OOL;
		d->right = 0;
		d->count = od.address ? od.size : 0;
		d->ool = od.address;
		ool_total += d->count;
		if (d->count) {
			ool_iov[nool].iov_base = od.address;
			ool_iov[nool].iov_len = d->count;
			nool++;
		}
		off += DESC_OOL_SIZE;
	}
	pthread_mutex_unlock(&net_lock);

	m.desc_count = ndesc;
	m.descs = e.descs;
	m.body = base + body_off;
	m.body_size = msg->msgh_size - body_off;
	size_t head_len, frame_len;
	uint8_t *head = NULL;
	int werr = wire_msg_measure(&m, &head_len, &frame_len);
	if (werr == WIRE_OK && ool_total <= WIRE_MSG_OOL_MAX) {
		head = malloc(head_len);
		if (head == NULL || wire_encode_msg_head(head, head_len, &m, &head_len) != WIRE_OK)
			werr = WIRE_ERR_SPACE;
	} else if (werr == WIRE_OK) {
		werr = WIRE_ERR_LIMIT;
	}
	if (werr != WIRE_OK) {
		/* Its rights are already accounted as sent; the link would be
		 * out of step if we went on, so it is closed (docs/wire.md 5). */
		net_log("message %d to %s cannot be sent (%s): link closed", m.id,
		        link->name, wire_strerror(werr));
		net_link_shutdown(link);
	} else {
		iov[0].iov_base = head;
		iov[0].iov_len = head_len;
		if (m.body_size) {
			iov[niov].iov_base = (void *)m.body;
			iov[niov].iov_len = m.body_size;
			niov++;
		}
		/* OOL regions follow the body; move them up if there was none. */
		if (niov == 1 && nool)
			memmove(iov + 1, ool_iov, nool * sizeof *iov);
		niov += nool;
		if (!wlocked)
			pthread_mutex_lock(&link->wlock);
		mach_msg_header_t **queued = NULL;
		size_t nqueued = 0, cap_queued = 0;
		struct fwd_via *vias = calloc(e.nconvert ? e.nconvert : 1, sizeof *vias);
		size_t *ends = calloc(e.nconvert ? e.nconvert : 1, sizeof *ends);
		for (uint32_t i = 0; vias && ends && i < e.nconvert; i++) {
			/* The new home, as the moving right names it on this link. */
			pthread_mutex_lock(&net_lock);
			struct nport *cp = net_nport_find(e.convert[i]);
			struct nref *cr = cp ? cp->proxy : NULL;
			vias[i] = (struct fwd_via){ link, cr ? cr->origin : 0, cr ? cr->id : 0 };
			pthread_mutex_unlock(&net_lock);
			stop_queue(e.convert[i], &queued, &nqueued, &cap_queued);
			ends[i] = nqueued;
		}
		write_all(link, iov, niov);
		for (size_t i = 0, c = 0; i < nqueued; i++) {
			while (ends && c < e.nconvert && i >= ends[c])
				c++;
			forward(queued[i], true, vias ? &vias[c] : NULL, u);
			free(queued[i]);
		}
		free(queued);
		free(vias);
		free(ends);
		if (!wlocked)
			pthread_mutex_unlock(&link->wlock);
	}
	free(head);
	/* Names are cleared: this frees the OOL memory (if it was ours). */
	ipc_mach_msg_destroy(net, msg);
out:
	free(e.descs);
	free(e.refs);
	free(e.convert);
	free(iov);
	net_link_unref(link);
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
