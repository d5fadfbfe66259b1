/* The net layer's tables (all under net_lock): tracked ports by their
 * net-space name and by their companion port, each link's records by wire
 * identity; and the deferred IPC work collected while the lock is held. */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

#define NPORT_HASH 1024u
static struct nport *by_name[NPORT_HASH];
static struct nport *by_companion[NPORT_HASH];
static uint64_t next_port_id = WIRE_PORT_ID_NAME_SERVER + 1;

static uint32_t name_slot(mach_port_name_t name)
{
	return (name * 2654435761u) >> 22;   /* top 10 bits: NPORT_HASH */
}

uint64_t net_new_port_id(void)
{
	return next_port_id++;
}

struct nport *net_nport_find(mach_port_name_t name)
{
	for (struct nport *np = by_name[name_slot(name)]; np; np = np->hnext)
		if (np->name == name)
			return np;
	return NULL;
}

struct nport *net_nport_get(mach_port_name_t name)
{
	struct nport *np = net_nport_find(name);
	if (np != NULL)
		return np;
	np = calloc(1, sizeof *np);
	if (np == NULL)
		return NULL;
	np->name = name;
	uint32_t s = name_slot(name);
	np->hnext = by_name[s];
	by_name[s] = np;
	return np;
}

struct nport *net_nport_by_companion(mach_port_name_t ns_port)
{
	for (struct nport *np = by_companion[name_slot(ns_port)]; np; np = np->cnext)
		if (np->ns_port == ns_port)
			return np;
	return NULL;
}

static void companion_unlink(struct nport *np)
{
	if (np->ns_port == MACH_PORT_NULL)
		return;
	struct nport **pp = &by_companion[name_slot(np->ns_port)];
	while (*pp && *pp != np)
		pp = &(*pp)->cnext;
	if (*pp)
		*pp = np->cnext;
	np->cnext = NULL;
}

void net_nport_set_companion(struct nport *np, mach_port_name_t ns_port)
{
	companion_unlink(np);
	np->ns_port = ns_port;
	if (ns_port == MACH_PORT_NULL)
		return;
	uint32_t s = name_slot(ns_port);
	np->cnext = by_companion[s];
	by_companion[s] = np;
}

void net_nport_maybe_free(struct nport *np)
{
	if (np->refs != NULL || np->proxy != NULL || np->is_name_server)
		return;
	companion_unlink(np);
	struct nport **pp = &by_name[name_slot(np->name)];
	while (*pp && *pp != np)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = np->hnext;
	free(np);
}

static uint32_t ref_slot(const struct net_link *link, uint64_t origin, uint64_t id)
{
	uint64_t h = (origin ^ (id * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
	return (uint32_t)(h >> 32) & (link->hash_size - 1);
}

struct nref *net_ref_find(struct net_link *link, uint64_t origin, uint64_t id)
{
	if (link->hash == NULL)
		return NULL;
	for (struct nref *r = link->hash[ref_slot(link, origin, id)]; r; r = r->hnext)
		if (r->origin == origin && r->id == id)
			return r;
	return NULL;
}

struct nref *net_ref_of(struct nport *np, struct net_link *link)
{
	for (struct nref *r = np->refs; r; r = r->nnext)
		if (r->link == link)
			return r;
	return NULL;
}

static bool grow(struct net_link *link)
{
	uint32_t size = link->hash_size ? link->hash_size * 2 : 64;
	struct nref **h = calloc(size, sizeof *h);
	if (h == NULL)
		return false;
	struct nref **old = link->hash;
	uint32_t old_size = link->hash_size;
	link->hash = h;
	link->hash_size = size;
	for (uint32_t i = 0; i < old_size; i++) {
		struct nref *r = old[i];
		while (r) {
			struct nref *next = r->hnext;
			uint32_t s = ref_slot(link, r->origin, r->id);
			r->hnext = h[s];
			h[s] = r;
			r = next;
		}
	}
	free(old);
	return true;
}

struct nref *net_ref_add(struct nport *np, struct net_link *link,
        uint64_t origin, uint64_t id)
{
	if (link->hash_count * 2 >= link->hash_size && !grow(link))
		return NULL;
	struct nref *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->np = np;
	r->link = link;
	r->origin = origin;
	r->id = id;
	uint32_t s = ref_slot(link, origin, id);
	r->hnext = link->hash[s];
	link->hash[s] = r;
	link->hash_count++;
	r->nnext = np->refs;
	np->refs = r;
	return r;
}

void net_ref_remove(struct nref *r)
{
	struct net_link *link = r->link;
	if (link->hash != NULL) {
		struct nref **pp = &link->hash[ref_slot(link, r->origin, r->id)];
		while (*pp && *pp != r)
			pp = &(*pp)->hnext;
		if (*pp) {
			*pp = r->hnext;
			link->hash_count--;
		}
	}
	struct nref **pp = &r->np->refs;
	while (*pp && *pp != r)
		pp = &(*pp)->nnext;
	if (*pp)
		*pp = r->nnext;
	if (r->np->proxy == r)
		r->np->proxy = NULL;
	free(r->sonce);
	free(r);
}

struct nref *net_link_take_refs(struct net_link *link)
{
	struct nref *list = NULL;
	for (uint32_t i = 0; i < link->hash_size; i++) {
		struct nref *r = link->hash[i];
		while (r) {
			struct nref *next = r->hnext;
			r->hnext = list;
			list = r;
			r = next;
		}
		link->hash[i] = NULL;
	}
	link->hash_count = 0;
	return list;
}

/* ---- deferred work ---- */

#define PUSH(arr, n, cap, val) do { \
	if ((n) == (cap)) { \
		uint32_t c_ = (cap) ? (cap) * 2 : 8; \
		void *p_ = realloc((arr), c_ * sizeof *(arr)); \
		if (p_ == NULL) \
			break;  /* out of memory: the right leaks, nothing breaks */ \
		(arr) = p_; \
		(cap) = c_; \
	} \
	(arr)[(n)++] = (val); \
} while (0)

void net_undo_dealloc(struct net_undo *u, mach_port_name_t name)
{
	if (MACH_PORT_VALID(name))
		PUSH(u->dealloc, u->ndealloc, u->capdealloc, name);
}

void net_undo_destroy(struct net_undo *u, mach_port_name_t name)
{
	if (MACH_PORT_VALID(name))
		PUSH(u->destroy_rcv, u->ndestroy, u->capdestroy, name);
}

void net_undo_frame(struct net_undo *u, struct net_link *link, uint64_t origin,
        uint64_t id, uint8_t right, uint64_t count, bool death)
{
	if (link->dead)
		return;
	net_link_ref(link);
	__typeof__(*u->frames) f = { link, origin, id, right, count, death };
	uint32_t before = u->nframes;
	PUSH(u->frames, u->nframes, u->capframes, f);
	if (u->nframes == before)
		net_link_unref(link);
}

uint64_t net_new_release_ping(void)
{
	static uint64_t next;
	return NET_RELEASE_PING | ++next;
}

void net_undo_ping(struct net_undo *u, struct net_link *link, uint64_t cookie)
{
	/* Carried as a frame entry with right 0xff. */
	net_undo_frame(u, link, 0, 0, 0xff, cookie, false);
}

void net_undo_arm_ns(struct net_undo *u, struct nport *np, mach_port_mscount_t sync)
{
	/* Captured now: np itself may be gone by the time this runs. */
	__typeof__(*u->arm_ns) a = { np->name, np->ns_port, sync };
	if (MACH_PORT_VALID(a.ns))
		PUSH(u->arm_ns, u->narm, u->caparm, a);
}

void net_undo_arm_dn(struct net_undo *u, mach_port_name_t name)
{
	PUSH(u->arm_dn, u->narmdn, u->caparmdn, name);
}

void net_undo_run(struct net_undo *u)
{
	ipc_space_t net = ipc_space_net();
	/* A proxy's no-senders request goes to its companion port: it fires
	 * once every send right made up to `sync` is gone. */
	for (uint32_t i = 0; i < u->narm; i++) {
		mach_port_t previous = MACH_PORT_NULL;
		if (ipc_port_request_notification(net, u->arm_ns[i].name, MACH_NOTIFY_NO_SENDERS,
		        u->arm_ns[i].sync, u->arm_ns[i].ns, MACH_MSG_TYPE_MAKE_SEND_ONCE,
		        &previous) == KERN_SUCCESS && MACH_PORT_VALID(previous))
			ipc_port_deallocate(net, previous);
	}
	for (uint32_t i = 0; i < u->narmdn; i++) {
		mach_port_t previous = MACH_PORT_NULL;
		if (ipc_port_request_notification(net, u->arm_dn[i], MACH_NOTIFY_DEAD_NAME, 1,
		        net_notify_port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous) == KERN_SUCCESS &&
		    MACH_PORT_VALID(previous))
			ipc_port_deallocate(net, previous);
	}
	for (uint32_t i = 0; i < u->nframes; i++) {
		if (u->frames[i].death)
			net_link_send_death(u->frames[i].link, u->frames[i].origin, u->frames[i].id);
		else if (u->frames[i].right == 0xff)
			net_link_send_ping(u->frames[i].link, u->frames[i].count);
		else
			net_link_send_release(u->frames[i].link, u->frames[i].origin,
			        u->frames[i].id, u->frames[i].right, u->frames[i].count);
		net_link_unref(u->frames[i].link);
	}
	for (uint32_t i = 0; i < u->ndestroy; i++)
		ipc_port_mod_refs(net, u->destroy_rcv[i], MACH_PORT_RIGHT_RECEIVE, -1);
	for (uint32_t i = 0; i < u->ndealloc; i++)
		ipc_port_deallocate(net, u->dealloc[i]);
	free(u->dealloc);
	free(u->destroy_rcv);
	free(u->frames);
	free(u->arm_ns);
	free(u->arm_dn);
	memset(u, 0, sizeof *u);
}
