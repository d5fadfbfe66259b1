/* Frames arriving on a link: a MSG is rebuilt as a Mach message in the
 * net space (its references made into rights there: proxies for the
 * peer's ports, our kept rights for our own) and sent to the local
 * destination; REF_RELEASE and PORT_DEATH adjust the tables; a broken
 * link drops everything it held (docs/wire.md 7). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

#define DESC_PORT_SIZE ((mach_msg_size_t)sizeof(mach_msg_port_descriptor_t))
#define DESC_OOL_SIZE  ((mach_msg_size_t)sizeof(mach_msg_ool_descriptor_t))

/* A right made for the message, undone if it cannot be sent. */
struct made_right {
	mach_port_name_t name;
	bool receive;
};

struct dec {
	struct net_link *link;
	struct net_undo *u;
	struct made_right *made;
	uint32_t nmade;
	bool bad;                      /* protocol violation */
};

static void note(struct dec *d, mach_port_name_t name, bool receive)
{
	d->made[d->nmade++] = (struct made_right){ name, receive };
}

/* A SEND reference: a proxy's new send right, or (our own port coming
 * back) one more from the right we keep for the peer. */
static mach_port_name_t decode_send(struct dec *d, const struct wire_port_ref *ref,
        struct nref *r, bool ours)
{
	ipc_space_t net = ipc_space_net();
	struct nport *np = r ? r->np : NULL;
	bool proxy = r != NULL && np->proxy == r;
	mach_port_name_t name;
	if (r == NULL && !ours) {
		np = net_proxy_get(d->link, ref->origin, ref->port, d->u);
		proxy = np != NULL;
	}
	if (proxy) {
		if (ipc_right_transfer(net, np->name, MACH_MSG_TYPE_MAKE_SEND, net, &name)
		        != KERN_SUCCESS)
			return MACH_PORT_DEAD;
		np->made++;
		np->recv_send++;
		note(d, name, false);
		return name;
	}
	if (r == NULL || !r->held ||
	    ipc_right_transfer(net, np->name, MACH_MSG_TYPE_COPY_SEND, net, &name) != KERN_SUCCESS)
		return MACH_PORT_DEAD;
	note(d, name, false);
	return name;
}

/* A SEND_ONCE reference: a new send-once right to a proxy, or one of the
 * send-once rights we keep for the peer. */
static mach_port_name_t decode_send_once(struct dec *d, const struct wire_port_ref *ref,
        struct nref *r, bool ours)
{
	struct nport *np = r ? r->np : NULL;
	bool proxy = r != NULL && np->proxy == r;
	mach_port_name_t name;
	if (r == NULL && !ours) {
		np = net_proxy_get(d->link, ref->origin, ref->port, d->u);
		proxy = np != NULL;
	}
	if (proxy) {
		if (ipc_right_transfer(ipc_space_net(), np->name, MACH_MSG_TYPE_MAKE_SEND_ONCE,
		        ipc_space_net(), &name) != KERN_SUCCESS)
			return MACH_PORT_DEAD;
		np->sonce_out++;
		note(d, name, false);
		return name;
	}
	if (r == NULL || r->nsonce == 0)
		return MACH_PORT_DEAD;   /* its port died meanwhile */
	name = r->sonce[--r->nsonce];
	note(d, name, false);
	return name;
}

/* A receive right arriving for a port we had no record of: a new port
 * here (also one of ours coming back after our forwarding port for it
 * was released, crossing frames). NULL record on shortage. */
static struct nref *receive_new_port(struct dec *d, const struct wire_port_ref *ref,
        mach_port_name_t *name)
{
	if (ipc_port_allocate(ipc_space_net(), MACH_PORT_RIGHT_RECEIVE, name) != KERN_SUCCESS)
		return NULL;
	struct nport *np = net_nport_get(*name);
	struct nref *r = np ? net_ref_add(np, d->link, ref->origin, ref->port) : NULL;
	if (r == NULL) {
		if (np)
			net_nport_maybe_free(np);
		net_undo_destroy(d->u, *name);
	}
	return r;
}

/* A receive right arriving for our proxy: the proxy becomes the real
 * port, so the names local tasks have for it stay valid. Its no-senders
 * request and companion go. */
static void proxy_becomes_home(struct dec *d, struct nport *np)
{
	mach_port_t prev = MACH_PORT_NULL;
	ipc_port_request_notification(ipc_space_net(), np->name, MACH_NOTIFY_NO_SENDERS, 0,
	        MACH_PORT_NULL, 0, &prev);
	net_undo_dealloc(d->u, prev);
	net_undo_destroy(d->u, np->ns_port);
	net_nport_set_companion(np, MACH_PORT_NULL);
	np->proxy = NULL;
	np->recv_send = 0;
	np->sonce_out = 0;
	np->hold = false;
	np->forwarding = false;
	np->release_ping = 0;
}

/* A RECEIVE reference: we become the port's home on this link. */
static mach_port_name_t decode_receive(struct dec *d, const struct wire_port_ref *ref,
        struct nref *r)
{
	ipc_space_t net = ipc_space_net();
	mach_port_name_t name;
	if (r != NULL && r->np->proxy != r) {
		d->bad = true;   /* only a port's home can send its receive right */
		return MACH_PORT_DEAD;
	}
	if (r == NULL) {
		r = receive_new_port(d, ref, &name);
		if (r == NULL)
			return MACH_PORT_DEAD;
	} else {
		name = r->np->name;
		proxy_becomes_home(d, r->np);
	}
	struct nport *np = r->np;
	/* The peer's forwarding port counts as one send right we sent. */
	mach_port_name_t s;
	if (ipc_right_transfer(net, name, MACH_MSG_TYPE_MAKE_SEND, net, &s) == KERN_SUCCESS) {
		r->sent = 1;
		r->held = true;
	}
	if (!np->dn_armed) {
		np->dn_armed = true;
		net_undo_arm_dn(d->u, name);
	}
	note(d, name, true);
	return name;
}

/* Makes the right a reference stands for, in the net space (under
 * net_lock). Returns the name to put in the message (with a MOVE_
 * disposition), MACH_PORT_NULL or MACH_PORT_DEAD. */
static mach_port_name_t decode_ref(struct dec *d, const struct wire_port_ref *ref)
{
	if (ref->right == WIRE_RIGHT_NONE)
		return MACH_PORT_NULL;
	if (ref->right == WIRE_RIGHT_DEAD)
		return MACH_PORT_DEAD;
	bool ours = ref->origin == net_node_id;
	if (!ours && ref->origin != d->link->peer_id) {
		d->bad = true;   /* names a port on neither end of the link */
		return MACH_PORT_DEAD;
	}
	struct nref *r = net_ref_find(d->link, ref->origin, ref->port);
	switch (ref->right) {
	case WIRE_RIGHT_SEND:
		return decode_send(d, ref, r, ours);
	case WIRE_RIGHT_SEND_ONCE:
		return decode_send_once(d, ref, r, ours);
	case WIRE_RIGHT_RECEIVE:
		return decode_receive(d, ref, r);
	}
	d->bad = true;
	return MACH_PORT_DEAD;
}

static mach_msg_type_name_t move_of(uint8_t right)
{
	switch (right) {
	case WIRE_RIGHT_RECEIVE: return MACH_MSG_TYPE_MOVE_RECEIVE;
	case WIRE_RIGHT_SEND_ONCE: return MACH_MSG_TYPE_MOVE_SEND_ONCE;
	default: return MACH_MSG_TYPE_MOVE_SEND;
	}
}

static void undo_made(struct dec *d)
{
	for (uint32_t i = 0; i < d->nmade; i++) {
		if (d->made[i].receive)
			net_undo_destroy(d->u, d->made[i].name);
		else
			net_undo_dealloc(d->u, d->made[i].name);
	}
	d->nmade = 0;
}

/* Where a MSG goes, and with which right. */
struct recv_dest {
	mach_port_name_t name;
	mach_msg_type_name_t disp;
	bool popped;                   /* a right made or taken for it (undo: dealloc) */
};

/* The destination (under net_lock): our port (a kept right), or our
 * proxy when a receive right moved away while this message was on its
 * way. Nothing valid when the port died meanwhile. */
static void recv_find_dest(struct dec *d, const struct wire_msg *wm, struct recv_dest *dest)
{
	ipc_space_t net = ipc_space_net();
	struct net_link *link = d->link;
	bool known_origin = wm->dest.origin == net_node_id || wm->dest.origin == link->peer_id;
	struct nref *r = known_origin ? net_ref_find(link, wm->dest.origin, wm->dest.port) : NULL;
	if (!known_origin)
		d->bad = true;
	if (r == NULL && wm->dest.origin == link->peer_id && !d->bad) {
		/* A port that moved here from the peer and back while this
		 * message was on its way: the peer has it again, so the
		 * message goes back through a proxy for it. */
		struct nport *np = net_proxy_get(link, wm->dest.origin, wm->dest.port, d->u);
		r = np ? np->proxy : NULL;
	}
	if (r == NULL)
		return;
	struct nport *np = r->np;
	bool once = wm->dest.right == WIRE_RIGHT_SEND_ONCE;
	if (np->proxy == r) {
		mach_msg_type_name_t make = once ? MACH_MSG_TYPE_MAKE_SEND_ONCE
		                                 : MACH_MSG_TYPE_MAKE_SEND;
		if (ipc_right_transfer(net, np->name, make, net, &dest->name) == KERN_SUCCESS) {
			dest->disp = once ? MACH_MSG_TYPE_MOVE_SEND_ONCE : MACH_MSG_TYPE_MOVE_SEND;
			dest->popped = true;
			if (once)
				np->sonce_out++;
			else
				np->made++;
		}
	} else if (once) {
		if (r->nsonce > 0) {
			dest->name = r->sonce[--r->nsonce];
			dest->disp = MACH_MSG_TYPE_MOVE_SEND_ONCE;
			dest->popped = true;
		}
	} else if (r->held) {
		dest->name = np->name;
		dest->disp = MACH_MSG_TYPE_COPY_SEND;
	}
}

static unsigned char *rebuild_port_desc(struct dec *d, const struct wire_desc *wd,
        unsigned char *p)
{
	struct wire_port_ref ref;
	wire_desc_ref(wd, 0, &ref);
	mach_msg_port_descriptor_t pd = {0};
	pd.name = decode_ref(d, &ref);
	pd.disposition = move_of(wd->right);
	pd.type = MACH_MSG_PORT_DESCRIPTOR;
	memcpy(p, &pd, sizeof pd);
	return p + DESC_PORT_SIZE;
}

/* The names go in a fresh array, kept in *array for freeing. */
static unsigned char *rebuild_ool_ports_desc(struct dec *d, const struct wire_desc *wd,
        mach_port_name_t **array, unsigned char *p)
{
	mach_port_name_t *names = calloc(wd->count ? wd->count : 1, sizeof *names);
	*array = names;
	for (uint32_t k = 0; k < wd->count; k++) {
		struct wire_port_ref ref;
		wire_desc_ref(wd, k, &ref);
		mach_port_name_t n = decode_ref(d, &ref);
		if (names)
			names[k] = n;
		else if (MACH_PORT_VALID(n))
			d->bad = true;   /* out of memory: give up the link */
	}
	mach_msg_ool_ports_descriptor_t od = {0};
	od.address = names;
	od.count = names ? wd->count : 0;
	od.deallocate = FALSE;
	od.copy = MACH_MSG_VIRTUAL_COPY;
	od.disposition = move_of(wd->right);
	od.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
	memcpy(p, &od, sizeof od);
	return p + DESC_OOL_SIZE;
}

/* The data stays in the frame buffer: a kobject receiver borrows it, a
 * queue copies it (deallocate FALSE). */
static unsigned char *rebuild_ool_desc(const struct wire_desc *wd, unsigned char *p)
{
	mach_msg_ool_descriptor_t od = {0};
	od.address = wd->count ? (void *)wd->ool : NULL;
	od.size = wd->count;
	od.deallocate = FALSE;
	od.copy = MACH_MSG_VIRTUAL_COPY;
	od.type = MACH_MSG_OOL_DESCRIPTOR;
	memcpy(p, &od, sizeof od);
	return p + DESC_OOL_SIZE;
}

/* Writes the body count, the descriptors in the local layout (their
 * references made into rights) and the inline body after the header
 * (under net_lock). Returns the end of the message. */
static unsigned char *rebuild_body(struct dec *d, const struct wire_msg *wm,
        mach_port_name_t **arrays, unsigned char *p)
{
	if (wm->flags & WIRE_MSG_COMPLEX) {
		mach_msg_body_t body = { wm->desc_count };
		memcpy(p, &body, sizeof body);
		p += sizeof body;
	}
	struct wire_desc_iter it;
	struct wire_desc wd;
	wire_desc_iter_init(&it, wm);
	for (uint32_t di = 0; wire_desc_iter_next(&it, &wd); di++) {
		if (wd.type == WIRE_DESC_PORT)
			p = rebuild_port_desc(d, &wd, p);
		else if (wd.type == WIRE_DESC_OOL_PORTS)
			p = rebuild_ool_ports_desc(d, &wd, &arrays[di], p);
		else
			p = rebuild_ool_desc(&wd, p);
	}
	memcpy(p, wm->body, wm->body_size);
	return p + wm->body_size;
}

/* Sends the rebuilt message to its local destination; if it cannot go
 * (its port died, expected when a message crosses a death, or the frame
 * was bad), every right it carried is given back. */
static void recv_deliver(struct dec *d, mach_msg_header_t *h, const struct recv_dest *dest)
{
	bool sent = false;
	if (!d->bad && MACH_PORT_VALID(dest->name)) {
		/* A kobject receiver (the name server) runs in this thread
		 * and may ask which node the message came from. */
		net_msg_from_node = d->link->peer_id;
		mach_msg_return_t mr = ipc_mach_msg(ipc_space_net(), h,
		        MACH_SEND_MSG | MACH_SEND_ALWAYS, h->msgh_size, 0, MACH_PORT_NULL, 0,
		        MACH_PORT_NULL);
		net_msg_from_node = 0;
		sent = mr == MACH_MSG_SUCCESS;
	}
	if (!sent) {
		pthread_mutex_lock(&net_lock);
		undo_made(d);
		if (dest->popped)
			net_undo_dealloc(d->u, dest->name);
		pthread_mutex_unlock(&net_lock);
	}
}

#define RECV_INLINE_MSG   1024
#define RECV_INLINE_REFS  8
#define RECV_INLINE_DESCS 4

/* Frees what recv_msg allocated (not its stack buffers). */
static void recv_free(unsigned char *buf, unsigned char *buf_in, struct made_right *made,
        struct made_right *made_in, mach_port_name_t **arrays, mach_port_name_t **arrays_in)
{
	if (buf != buf_in)
		free(buf);
	if (made != made_in)
		free(made);
	if (arrays != arrays_in)
		free(arrays);
}

/* A MSG frame becomes a Mach message in the net space, sent on to its
 * destination here. False on a protocol violation. */
static bool recv_msg(struct net_link *link, const struct wire_msg *wm)
{
	struct net_undo u = {0};
	struct dec d = { .link = link, .u = &u };
	/* Room for the whole Mach message: header, body count, descriptors
	 * in the local layout, inline body (sizes already bounded by the
	 * decoder), and the trailer the IPC may write. */
	uint64_t size = sizeof(mach_msg_header_t) +
	        (wm->desc_count || (wm->flags & WIRE_MSG_COMPLEX) ? sizeof(mach_msg_body_t) : 0) +
	        (uint64_t)wm->desc_count * DESC_OOL_SIZE + wm->body_size;
	if (size > MACH_MSG_SIZE_MAX) {
		net_log("message from %s too large for a Mach message: link closed", link->name);
		return false;
	}
	/* A fault's messages are small: they are rebuilt on the stack. */
	union {
		max_align_t align;
		unsigned char bytes[RECV_INLINE_MSG];
	} small;
	struct made_right made_in[RECV_INLINE_REFS];
	mach_port_name_t *arrays_in[RECV_INLINE_DESCS];
	size_t room = (size_t)size + sizeof(mach_msg_max_trailer_t) + 8;
	unsigned char *buf = room <= sizeof small ? small.bytes : calloc(1, room);
	if (buf == small.bytes)
		memset(buf, 0, room);
	d.made = wm->ref_count + 2 <= RECV_INLINE_REFS ? made_in
	        : calloc(wm->ref_count + 2, sizeof *d.made);
	mach_port_name_t **arrays = wm->desc_count <= RECV_INLINE_DESCS ? arrays_in
	        : calloc(wm->desc_count ? wm->desc_count : 1, sizeof *arrays);
	if (arrays == arrays_in)
		memset(arrays_in, 0, sizeof arrays_in);
	if (buf == NULL || d.made == NULL || arrays == NULL) {
		recv_free(buf, small.bytes, d.made, made_in, arrays, arrays_in);
		net_log("out of memory receiving from %s: link closed", link->name);
		return false;
	}

	mach_msg_header_t *h = (mach_msg_header_t *)buf;
	struct recv_dest dest = {0};
	pthread_mutex_lock(&net_lock);
	recv_find_dest(&d, wm, &dest);
	mach_port_name_t reply = decode_ref(&d, &wm->reply);
	unsigned char *end = rebuild_body(&d, wm, arrays, buf + sizeof(mach_msg_header_t));
	pthread_mutex_unlock(&net_lock);

	mach_msg_type_name_t reply_disp = MACH_PORT_VALID(reply) ? move_of(wm->reply.right)
	        : (reply == MACH_PORT_DEAD ? MACH_MSG_TYPE_MOVE_SEND : 0);
	h->msgh_bits = MACH_MSGH_BITS(dest.disp, reply_disp) |
	        ((wm->flags & WIRE_MSG_COMPLEX) ? MACH_MSGH_BITS_COMPLEX : 0);
	h->msgh_size = (mach_msg_size_t)(end - buf);
	h->msgh_remote_port = dest.name;
	h->msgh_local_port = reply;
	h->msgh_voucher_port = MACH_PORT_NULL;
	h->msgh_id = wm->id;
	recv_deliver(&d, h, &dest);

	for (uint32_t i = 0; i < wm->desc_count; i++)
		free(arrays[i]);
	recv_free(buf, small.bytes, d.made, made_in, arrays, arrays_in);
	net_undo_run(&u);
	if (d.bad)
		net_log("bad port reference from %s: link closed", link->name);
	return !d.bad;
}

static bool recv_release(struct net_link *link, const struct wire_ref_release *rel)
{
	struct net_undo u = {0};
	bool ok = true;
	pthread_mutex_lock(&net_lock);
	struct nref *r = net_ref_find(link, rel->ref.origin, rel->ref.port);
	/* Unknown, or our proxy (a release that crossed a receive right's
	 * move): nothing to give back any more. */
	if (r != NULL && r->np->proxy != r) {
		if (rel->ref.right == WIRE_RIGHT_SEND) {
			if (rel->count > r->sent) {
				ok = false;
			} else {
				r->sent -= rel->count;
				if (r->sent == 0 && r->held) {
					r->held = false;
					net_undo_dealloc(&u, r->np->name);
				}
			}
		} else {
			uint64_t n = rel->count;
			while (n-- > 0 && r->nsonce > 0)
				net_undo_dealloc(&u, r->sonce[--r->nsonce]);
		}
		if (ok && r->sent == 0 && !r->held && r->nsonce == 0) {
			struct nport *np = r->np;
			net_ref_remove(r);
			net_nport_maybe_free(np);
		}
	}
	pthread_mutex_unlock(&net_lock);
	net_undo_run(&u);
	if (!ok)
		net_log("%s released more rights than it was sent: link closed", link->name);
	return ok;
}

static void recv_death(struct net_link *link, const struct wire_port_death *death)
{
	struct net_undo u = {0};
	pthread_mutex_lock(&net_lock);
	struct nref *r = net_ref_find(link, death->origin, death->port);
	if (r != NULL && r->np->proxy == r)
		net_proxy_kill(r->np, &u);
	pthread_mutex_unlock(&net_lock);
	net_undo_run(&u);
}

/* The PONG to a release PING: every frame the peer sent before it saw
 * our earlier frames has arrived, so no message addressed to these
 * forwarding ports can still be on its way; they can go. */
static void release_forwarding(struct net_link *link, uint64_t cookie)
{
	struct net_undo u = {0};
	pthread_mutex_lock(&net_lock);
	struct nport **todo = NULL;
	uint32_t n = 0, cap = 0;
	for (uint32_t i = 0; i < link->hash_size; i++)
		for (struct nref *r = link->hash[i]; r; r = r->hnext) {
			struct nport *np = r->np;
			if (np->proxy != r || np->release_ping == 0 || np->release_ping > cookie)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				struct nport **t = realloc(todo, cap * sizeof *t);
				if (t == NULL)
					break;
				todo = t;
			}
			todo[n++] = np;
		}
	for (uint32_t i = 0; i < n; i++) {
		struct nport *np = todo[i];
		np->release_ping = 0;
		if (np->made != np->ns_seen)
			continue;   /* used again since: its next no-senders decides */
		np->forwarding = false;
		np->hold = false;
		net_proxy_check_done(np, &u);
	}
	free(todo);
	pthread_mutex_unlock(&net_lock);
	net_undo_run(&u);
}

bool net_recv_frame(struct net_link *link, const struct wire_frame *f)
{
	switch (f->header.type) {
	case WIRE_MSG:
		return recv_msg(link, &f->u.msg);
	case WIRE_REF_RELEASE:
		return recv_release(link, &f->u.release);
	case WIRE_PORT_DEATH:
		recv_death(link, &f->u.death);
		return true;
	case WIRE_PING: {
		uint8_t buf[WIRE_PING_SIZE];
		size_t len;
		if (wire_encode_pong(buf, sizeof buf, &f->u.ping, &len) == WIRE_OK) {
			struct iovec iov = { buf, len };
			net_link_write(link, &iov, 1);
		}
		return true;
	}
	case WIRE_PONG:
		if (f->u.ping.cookie & NET_RELEASE_PING)
			release_forwarding(link, f->u.ping.cookie);
		return true;
	default:
		net_log("unexpected frame type %u from %s: link closed", f->header.type, link->name);
		return false;
	}
}

void net_link_teardown(struct net_link *link)
{
	struct net_undo u = {0};
	pthread_mutex_lock(&net_lock);
	link->dead = true;
	struct nref *list = net_link_take_refs(link), *proxies = NULL;
	/* Counts the peer held on our ports go (no-senders where they were
	 * the last); then every proxy homed across the link dies. */
	while (list != NULL) {
		struct nref *r = list;
		list = r->hnext;
		if (r->np->proxy == r) {
			r->hnext = proxies;
			proxies = r;
			continue;
		}
		struct nport *np = r->np;
		if (r->held)
			net_undo_dealloc(&u, np->name);
		for (uint32_t i = 0; i < r->nsonce; i++)
			net_undo_dealloc(&u, r->sonce[i]);
		net_ref_remove(r);
		net_nport_maybe_free(np);
	}
	while (proxies != NULL) {
		struct nref *r = proxies;
		proxies = r->hnext;
		net_proxy_kill(r->np, &u);
	}
	pthread_mutex_unlock(&net_lock);
	net_undo_run(&u);
}
