/* Frames arriving on a link: a MSG is rebuilt as a Mach message in the
 * net space (its references made into rights there: proxies for the
 * peer's ports, our kept rights for our own) and sent to the local
 * destination; REF_RELEASE and PORT_DEATH adjust the tables; a broken
 * link drops everything it held (docs/wire.md 7). */
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

/* Makes the right a reference stands for, in the net space (under
 * net_lock). Returns the name to put in the message (with a MOVE_
 * disposition), MACH_PORT_NULL or MACH_PORT_DEAD. */
static mach_port_name_t decode_ref(struct dec *d, const struct wire_port_ref *ref)
{
	ipc_space_t net = ipc_space_net();
	struct net_link *link = d->link;
	if (ref->right == WIRE_RIGHT_NONE)
		return MACH_PORT_NULL;
	if (ref->right == WIRE_RIGHT_DEAD)
		return MACH_PORT_DEAD;
	bool ours = ref->origin == net_node_id;
	if (!ours && ref->origin != link->peer_id) {
		d->bad = true;   /* names a port on neither end of the link */
		return MACH_PORT_DEAD;
	}
	struct nref *r = net_ref_find(link, ref->origin, ref->port);
	struct nport *np = r ? r->np : NULL;
	bool proxy = r != NULL && np->proxy == r;
	mach_port_name_t name;

	switch (ref->right) {
	case WIRE_RIGHT_SEND:
		if (r == NULL && !ours) {
			np = net_proxy_get(link, ref->origin, ref->port, d->u);
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
		/* Our own port coming back: one more right from the one kept. */
		if (r == NULL || !r->held ||
		    ipc_right_transfer(net, np->name, MACH_MSG_TYPE_COPY_SEND, net, &name)
		        != KERN_SUCCESS)
			return MACH_PORT_DEAD;
		note(d, name, false);
		return name;

	case WIRE_RIGHT_SEND_ONCE:
		if (r == NULL && !ours) {
			np = net_proxy_get(link, ref->origin, ref->port, d->u);
			proxy = np != NULL;
		}
		if (proxy) {
			if (ipc_right_transfer(net, np->name, MACH_MSG_TYPE_MAKE_SEND_ONCE, net,
			        &name) != KERN_SUCCESS)
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

	case WIRE_RIGHT_RECEIVE:
		if (r != NULL && !proxy) {
			d->bad = true;   /* only a port's home can send its receive right */
			return MACH_PORT_DEAD;
		}
		if (r == NULL) {
			/* A new port here; also one of ours coming back after our
			 * forwarding port for it was released (crossing frames). */
			if (ipc_port_allocate(net, MACH_PORT_RIGHT_RECEIVE, &name) != KERN_SUCCESS)
				return MACH_PORT_DEAD;
			np = net_nport_get(name);
			r = np ? net_ref_add(np, link, ref->origin, ref->port) : NULL;
			if (r == NULL) {
				if (np)
					net_nport_maybe_free(np);
				net_undo_destroy(d->u, name);
				return MACH_PORT_DEAD;
			}
		} else {
			/* Our proxy becomes the real port: the names local tasks
			 * have for it stay valid. Its no-senders request goes. */
			name = np->name;
			mach_port_t prev = MACH_PORT_NULL;
			ipc_port_request_notification(net, name, MACH_NOTIFY_NO_SENDERS, 0,
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

static bool recv_msg(struct net_link *link, const struct wire_msg *wm)
{
	ipc_space_t net = ipc_space_net();
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
	unsigned char *buf = calloc(1, (size_t)size + sizeof(mach_msg_max_trailer_t) + 8);
	d.made = calloc(wm->ref_count + 2, sizeof *d.made);
	mach_port_name_t **arrays = calloc(wm->desc_count ? wm->desc_count : 1, sizeof *arrays);
	if (buf == NULL || d.made == NULL || arrays == NULL) {
		free(buf);
		free(d.made);
		free(arrays);
		net_log("out of memory receiving from %s: link closed", link->name);
		return false;
	}

	pthread_mutex_lock(&net_lock);
	/* The destination: our port (a kept right), or our proxy when a
	 * receive right moved away while this message was on its way. */
	mach_port_name_t dest = MACH_PORT_NULL;
	mach_msg_type_name_t dest_disp = 0;
	bool dest_popped = false;
	struct nref *r = wm->dest.origin == net_node_id || wm->dest.origin == link->peer_id
	        ? net_ref_find(link, wm->dest.origin, wm->dest.port) : NULL;
	if (wm->dest.origin != net_node_id && wm->dest.origin != link->peer_id)
		d.bad = true;
	if (r == NULL && wm->dest.origin == link->peer_id && !d.bad) {
		/* A port that moved here from the peer and back while this
		 * message was on its way: the peer has it again, so the
		 * message goes back through a proxy for it. */
		struct nport *np = net_proxy_get(link, wm->dest.origin, wm->dest.port, &u);
		r = np ? np->proxy : NULL;
	}
	if (r != NULL) {
		struct nport *np = r->np;
		if (np->proxy == r) {
			mach_msg_type_name_t make = wm->dest.right == WIRE_RIGHT_SEND_ONCE
			        ? MACH_MSG_TYPE_MAKE_SEND_ONCE : MACH_MSG_TYPE_MAKE_SEND;
			if (ipc_right_transfer(net, np->name, make, net, &dest) == KERN_SUCCESS) {
				dest_disp = wm->dest.right == WIRE_RIGHT_SEND_ONCE
				        ? MACH_MSG_TYPE_MOVE_SEND_ONCE : MACH_MSG_TYPE_MOVE_SEND;
				dest_popped = true;
				if (make == MACH_MSG_TYPE_MAKE_SEND)
					np->made++;
				else
					np->sonce_out++;
			}
		} else if (wm->dest.right == WIRE_RIGHT_SEND_ONCE) {
			if (r->nsonce > 0) {
				dest = r->sonce[--r->nsonce];
				dest_disp = MACH_MSG_TYPE_MOVE_SEND_ONCE;
				dest_popped = true;
			}
		} else if (r->held) {
			dest = np->name;
			dest_disp = MACH_MSG_TYPE_COPY_SEND;
		}
	}

	mach_msg_header_t *h = (mach_msg_header_t *)buf;
	mach_port_name_t reply = decode_ref(&d, &wm->reply);
	mach_msg_type_name_t reply_disp = MACH_PORT_VALID(reply) ? move_of(wm->reply.right)
	        : (reply == MACH_PORT_DEAD ? MACH_MSG_TYPE_MOVE_SEND : 0);
	if (reply == MACH_PORT_NULL)
		reply_disp = 0;

	unsigned char *p = buf + sizeof(mach_msg_header_t);
	bool complex = (wm->flags & WIRE_MSG_COMPLEX) != 0;
	if (complex) {
		mach_msg_body_t body = { wm->desc_count };
		memcpy(p, &body, sizeof body);
		p += sizeof body;
	}
	struct wire_desc_iter it;
	struct wire_desc wd;
	wire_desc_iter_init(&it, wm);
	uint32_t di = 0;
	while (wire_desc_iter_next(&it, &wd)) {
		if (wd.type == WIRE_DESC_PORT) {
			struct wire_port_ref ref;
			wire_desc_ref(&wd, 0, &ref);
			mach_msg_port_descriptor_t pd = {0};
			pd.name = decode_ref(&d, &ref);
			pd.disposition = move_of(wd.right);
			pd.type = MACH_MSG_PORT_DESCRIPTOR;
			memcpy(p, &pd, sizeof pd);
			p += DESC_PORT_SIZE;
		} else if (wd.type == WIRE_DESC_OOL_PORTS) {
			mach_port_name_t *names = calloc(wd.count ? wd.count : 1, sizeof *names);
			arrays[di] = names;
			for (uint32_t k = 0; k < wd.count; k++) {
				struct wire_port_ref ref;
				wire_desc_ref(&wd, k, &ref);
				mach_port_name_t n = decode_ref(&d, &ref);
				if (names)
					names[k] = n;
				else if (MACH_PORT_VALID(n))
					d.bad = true;   /* out of memory: give up the link */
			}
			mach_msg_ool_ports_descriptor_t od = {0};
			od.address = names;
			od.count = names ? wd.count : 0;
			od.deallocate = FALSE;
			od.copy = MACH_MSG_VIRTUAL_COPY;
			od.disposition = move_of(wd.right);
			od.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
			memcpy(p, &od, sizeof od);
			p += DESC_OOL_SIZE;
		} else {
			/* The data stays in the frame buffer: a kobject receiver
			 * borrows it, a queue copies it (deallocate FALSE). */
			mach_msg_ool_descriptor_t od = {0};
			od.address = wd.count ? (void *)wd.ool : NULL;
			od.size = wd.count;
			od.deallocate = FALSE;
			od.copy = MACH_MSG_VIRTUAL_COPY;
			od.type = MACH_MSG_OOL_DESCRIPTOR;
			memcpy(p, &od, sizeof od);
			p += DESC_OOL_SIZE;
		}
		di++;
	}
	memcpy(p, wm->body, wm->body_size);
	p += wm->body_size;
	pthread_mutex_unlock(&net_lock);

	h->msgh_bits = MACH_MSGH_BITS(dest_disp, reply_disp) | (complex ? MACH_MSGH_BITS_COMPLEX : 0);
	h->msgh_size = (mach_msg_size_t)(p - buf);
	h->msgh_remote_port = dest;
	h->msgh_local_port = reply;
	h->msgh_voucher_port = MACH_PORT_NULL;
	h->msgh_id = wm->id;

	bool sent = false;
	if (!d.bad && MACH_PORT_VALID(dest)) {
		/* A kobject receiver (the name server) runs in this thread
		 * and may ask which node the message came from. */
		net_msg_from_node = link->peer_id;
		mach_msg_return_t mr = ipc_mach_msg(net, h, MACH_SEND_MSG | MACH_SEND_ALWAYS,
		        h->msgh_size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
		net_msg_from_node = 0;
		sent = mr == MACH_MSG_SUCCESS;
	}
	if (!sent) {
		/* Its port died (expected when a message crosses a death), or
		 * the frame was bad: every right it carried is given back. */
		pthread_mutex_lock(&net_lock);
		undo_made(&d);
		if (dest_popped)
			net_undo_dealloc(&u, dest);
		pthread_mutex_unlock(&net_lock);
	}
	for (uint32_t i = 0; i < wm->desc_count; i++)
		free(arrays[i]);
	free(arrays);
	free(d.made);
	free(buf);
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
