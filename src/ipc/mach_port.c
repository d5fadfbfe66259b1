/* Port and right management: the ipc_port_* calls on a space (kernel side,
 * see ipc_kernel.h) and the public mach_port_* calls, which turn the task
 * argument into the task space. Return codes follow XNU's mach_port.c;
 * where XNU's answer comes from MIG (a bad right in the request message),
 * the kern_return_t of the same meaning is returned instead. */
#include <string.h>
#include "ipc_internal.h"

/* Gives the new entry e (named name) a fresh right of kind `right`. */
static kern_return_t entry_make_right(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t e, mach_port_right_t right)
{
	switch (right) {
	case MACH_PORT_RIGHT_RECEIVE: {
		ipc_port_t port = ipc_port_alloc();
		if (port == NULL)
			return KERN_RESOURCE_SHORTAGE;
		e->type = MACH_PORT_TYPE_RECEIVE;
		e->object = port;
		ipc_hash_insert(space, port, name);
		ipc_port_set_receiver(port, space, name);
		return KERN_SUCCESS;
	}
	case MACH_PORT_RIGHT_PORT_SET:
		e->object = ipc_pset_alloc(space, name);
		if (e->object == NULL)
			return KERN_RESOURCE_SHORTAGE;
		e->type = MACH_PORT_TYPE_PORT_SET;
		return KERN_SUCCESS;
	default:
		e->type = MACH_PORT_TYPE_DEAD_NAME;
		e->urefs = 1;
		return KERN_SUCCESS;
	}
}

static bool allocatable(mach_port_right_t right)
{
	return right == MACH_PORT_RIGHT_RECEIVE || right == MACH_PORT_RIGHT_PORT_SET ||
	       right == MACH_PORT_RIGHT_DEAD_NAME;
}

kern_return_t ipc_port_allocate(ipc_space_t space, mach_port_right_t right,
        mach_port_name_t *namep)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (!allocatable(right))
		return KERN_INVALID_VALUE;
	if (namep == NULL)
		return KERN_INVALID_ARGUMENT;
	mach_port_name_t name;
	ipc_entry_t e;
	ipc_lock();
	kern_return_t kr = ipc_entry_alloc(space, &name, &e);
	if (kr == KERN_SUCCESS && (kr = entry_make_right(space, name, e, right)) != KERN_SUCCESS)
		ipc_entry_free(space, name);
	ipc_unlock();
	if (kr == KERN_SUCCESS)
		*namep = name;
	return kr;
}

static kern_return_t port_allocate_name(ipc_space_t space, mach_port_right_t right,
        mach_port_name_t name)
{
	if (!MACH_PORT_VALID(name) || !allocatable(right))
		return KERN_INVALID_VALUE;
	ipc_entry_t e;
	ipc_lock();
	kern_return_t kr = ipc_entry_alloc_name(space, name, &e);
	if (kr == KERN_SUCCESS && (kr = entry_make_right(space, name, e, right)) != KERN_SUCCESS)
		ipc_entry_free(space, name);
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_deallocate(ipc_space_t space, mach_port_name_t name)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (!MACH_PORT_VALID(name))
		return KERN_SUCCESS;
	ipc_lock();
	kern_return_t kr = ipc_right_dealloc(space, name);
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_destroy(ipc_space_t space, mach_port_name_t name)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (!MACH_PORT_VALID(name))
		return KERN_SUCCESS;
	ipc_lock();
	kern_return_t kr = ipc_right_destroy(space, name);
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_mod_refs(ipc_space_t space, mach_port_name_t name,
        mach_port_right_t right, mach_port_delta_t delta)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (right >= MACH_PORT_RIGHT_NUMBER)
		return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name)) {
		if (right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_SEND_ONCE)
			return KERN_SUCCESS;
		return KERN_INVALID_NAME;
	}
	ipc_lock();
	kern_return_t kr = ipc_right_delta(space, name, right, delta);
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_get_refs(ipc_space_t space, mach_port_name_t name,
        mach_port_right_t right, mach_port_urefs_t *refs)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (right >= MACH_PORT_RIGHT_NUMBER)
		return KERN_INVALID_VALUE;
	if (refs == NULL)
		return KERN_INVALID_ARGUMENT;
	if (!MACH_PORT_VALID(name)) {
		if (right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_SEND_ONCE) {
			*refs = 1;
			return KERN_SUCCESS;
		}
		return KERN_INVALID_NAME;
	}
	mach_port_type_t type;
	mach_port_urefs_t urefs;
	ipc_lock();
	kern_return_t kr = ipc_right_info(space, name, &type, &urefs);
	ipc_unlock();
	if (kr != KERN_SUCCESS)
		return kr;
	if (!(type & MACH_PORT_TYPE(right)))
		*refs = 0;
	else if (right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_DEAD_NAME)
		*refs = urefs;
	else
		*refs = 1;
	return KERN_SUCCESS;
}

kern_return_t ipc_port_type(ipc_space_t space, mach_port_name_t name,
        mach_port_type_t *ptype)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (ptype == NULL)
		return KERN_INVALID_ARGUMENT;
	if (name == MACH_PORT_NULL)
		return KERN_INVALID_NAME;
	if (name == MACH_PORT_DEAD) {
		*ptype = MACH_PORT_TYPE_DEAD_NAME;
		return KERN_SUCCESS;
	}
	mach_port_urefs_t urefs;
	ipc_lock();
	kern_return_t kr = ipc_right_info(space, name, ptype, &urefs);
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_insert_right(ipc_space_t space, mach_port_name_t name,
        mach_port_t poly, mach_msg_type_name_t poly_poly)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (!MACH_PORT_VALID(name) || !ipc_msgt_valid(poly_poly))
		return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(poly))
		return KERN_INVALID_CAPABILITY;
	ipc_lock();
	ipc_entry_t src;
	kern_return_t kr = ipc_right_copyin_check(space, poly, poly_poly, false, &src);
	ipc_right_copyin_unreserve(src);
	if (kr != KERN_SUCCESS) {
		ipc_unlock();
		return kr;
	}
	ipc_port_t port = src->object;
	mach_msg_type_name_t type = ipc_copyin_type(poly_poly);
	/* What the source entry looks like once the right is taken out. */
	bool src_gone =
	    (poly_poly == MACH_MSG_TYPE_MOVE_SEND_ONCE) ||
	    (poly_poly == MACH_MSG_TYPE_MOVE_RECEIVE && !(src->type & MACH_PORT_TYPE_SEND)) ||
	    (poly_poly == MACH_MSG_TYPE_MOVE_SEND && src->urefs == 1 &&
	     !(src->type & MACH_PORT_TYPE_RECEIVE));
	mach_port_urefs_t src_urefs = src->urefs -
	    (poly_poly == MACH_MSG_TYPE_MOVE_SEND ? 1 : 0);
	bool src_has_send = (src->type & MACH_PORT_TYPE_SEND) && src_urefs > 0;
	/* For send and receive rights, the entry already naming the port. */
	bool named_elsewhere = type != MACH_MSG_TYPE_PORT_SEND_ONCE && !src_gone &&
	    (src->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE));

	if (named_elsewhere) {
		if (poly != name)
			kr = KERN_RIGHT_EXISTS;
		else if (type == MACH_MSG_TYPE_PORT_SEND && src_has_send &&
		         src_urefs >= MACH_PORT_UREFS_MAX)
			kr = KERN_UREFS_OVERFLOW;
	} else if (!(src_gone && poly == name)) {
		ipc_entry_t existing = ipc_entry_lookup(space, name);
		if (existing != NULL)
			kr = KERN_NAME_EXISTS;
	}
	if (kr == KERN_SUCCESS) {
		port = ipc_right_copyin(space, poly, poly_poly);
		ipc_right_copyout_name(space, port, type, name);
	}
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_request_notification(ipc_space_t space,
        mach_port_name_t name, mach_msg_id_t msgid, mach_port_mscount_t sync,
        mach_port_t notify, mach_msg_type_name_t notify_poly,
        mach_port_t *previous)
{
	if (space == NULL)
		return KERN_INVALID_TASK;
	if (previous == NULL)
		return KERN_INVALID_ARGUMENT;
	if (msgid != MACH_NOTIFY_PORT_DESTROYED && msgid != MACH_NOTIFY_NO_SENDERS &&
	    msgid != MACH_NOTIFY_DEAD_NAME)
		return KERN_INVALID_VALUE;
	if (notify == MACH_PORT_DEAD)
		return KERN_INVALID_CAPABILITY;
	if (MACH_PORT_VALID(notify) && notify_poly != MACH_MSG_TYPE_MAKE_SEND_ONCE &&
	    notify_poly != MACH_MSG_TYPE_MOVE_SEND_ONCE)
		return KERN_INVALID_VALUE;
	if (msgid == MACH_NOTIFY_PORT_DESTROYED && sync != 0)
		return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name))
		return msgid == MACH_NOTIFY_DEAD_NAME ? KERN_INVALID_ARGUMENT : KERN_INVALID_RIGHT;

	kern_return_t kr = KERN_SUCCESS;
	ipc_port_t port = IP_NULL;
	ipc_lock();
	/* Check everything before taking the notify right. */
	if (msgid == MACH_NOTIFY_DEAD_NAME) {
		ipc_entry_t e = ipc_entry_lookup(space, name);
		if (e == NULL)
			kr = KERN_INVALID_NAME;
		else if (!(e->type & MACH_PORT_TYPE_PORT_RIGHTS) &&
		         !(notify == MACH_PORT_NULL && e->request == NULL)) {
			if (!(e->type & MACH_PORT_TYPE_DEAD_NAME))
				kr = KERN_INVALID_RIGHT;
			else if (sync == 0 || notify == MACH_PORT_NULL)
				kr = KERN_INVALID_ARGUMENT;
			else if (e->urefs >= MACH_PORT_UREFS_MAX)
				kr = KERN_UREFS_OVERFLOW;
		}
	} else {
		port = ipc_port_lookup_receive(space, name, &kr);
	}
	if (kr == KERN_SUCCESS && MACH_PORT_VALID(notify)) {
		ipc_entry_t ne;
		kr = ipc_right_copyin_check(space, notify, notify_poly, false, &ne);
		ipc_right_copyin_unreserve(ne);
		if (kr != KERN_SUCCESS)
			kr = KERN_INVALID_CAPABILITY;
	}
	if (kr != KERN_SUCCESS) {
		ipc_unlock();
		return kr;
	}

	ipc_port_t nport = MACH_PORT_VALID(notify)
	    ? ipc_right_copyin(space, notify, notify_poly) : IP_NULL;
	ipc_port_t prev = IP_NULL;
	switch (msgid) {
	case MACH_NOTIFY_PORT_DESTROYED:
		prev = port->pdrequest;
		port->pdrequest = nport;
		break;
	case MACH_NOTIFY_NO_SENDERS:
		prev = port->nsrequest;
		port->nsrequest = IP_NULL;
		if (nport != IP_NULL && port->srights == 0 && port->mscount >= sync) {
			ipc_notify_no_senders(nport, port->mscount);
		} else {
			port->nsrequest = nport;
			port->nssync = sync;
		}
		break;
	case MACH_NOTIFY_DEAD_NAME:
		kr = ipc_right_dnrequest(space, name, sync != 0, nport, &prev);
		if (kr != KERN_SUCCESS)
			ipc_right_destroy_port(nport, MACH_MSG_TYPE_PORT_SEND_ONCE);
		break;
	}
	*previous = ipc_right_copyout(space, prev, MACH_MSG_TYPE_PORT_SEND_ONCE);
	ipc_unlock();
	return kr;
}

kern_return_t ipc_right_transfer(ipc_space_t from, mach_port_name_t name,
        mach_msg_type_name_t msgt, ipc_space_t to, mach_port_name_t *to_name)
{
	if (from == NULL || to == NULL || to_name == NULL)
		return KERN_INVALID_ARGUMENT;
	if (!ipc_msgt_valid(msgt))
		return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name))
		return KERN_INVALID_NAME;
	ipc_lock();
	ipc_entry_t e;
	kern_return_t kr = ipc_right_copyin_check(from, name, msgt, false, &e);
	ipc_right_copyin_unreserve(e);
	if (kr == KERN_SUCCESS) {
		ipc_port_t port = ipc_right_copyin(from, name, msgt);
		*to_name = ipc_right_copyout(to, port, ipc_copyin_type(msgt));
	}
	ipc_unlock();
	return kr;
}

boolean_t ipc_port_same(ipc_space_t space_a, mach_port_name_t a,
        ipc_space_t space_b, mach_port_name_t b)
{
	if (space_a == NULL || space_b == NULL || !MACH_PORT_VALID(a) || !MACH_PORT_VALID(b))
		return FALSE;
	ipc_lock();
	ipc_entry_t ea = ipc_entry_lookup(space_a, a);
	ipc_entry_t eb = ipc_entry_lookup(space_b, b);
	boolean_t same = ea != NULL && eb != NULL &&
	    (ea->type & MACH_PORT_TYPE_PORT_RIGHTS) && (eb->type & MACH_PORT_TYPE_PORT_RIGHTS) &&
	    ea->object == eb->object && ((ipc_port_t)ea->object)->active;
	ipc_unlock();
	return same;
}

kern_return_t ipc_port_set_kobject(ipc_space_t space, mach_port_name_t name,
        ipc_kobject_handler_t handler, void *context)
{
	if (space == NULL)
		return KERN_INVALID_ARGUMENT;
	kern_return_t kr;
	ipc_lock();
	ipc_port_t port = ipc_port_lookup_receive(space, name, &kr);
	if (port != IP_NULL && !space->is_kernel)
		kr = KERN_INVALID_RIGHT;
	if (kr == KERN_SUCCESS) {
		port->handler = handler;
		port->context = handler != NULL ? context : NULL;
		port->reads_ool_safely = false;
	}
	ipc_unlock();
	return kr;
}

kern_return_t ipc_port_set_kobject_reads_ool_safely(ipc_space_t space,
        mach_port_name_t name)
{
	if (space == NULL)
		return KERN_INVALID_ARGUMENT;
	kern_return_t kr;
	ipc_lock();
	ipc_port_t port = ipc_port_lookup_receive(space, name, &kr);
	if (kr == KERN_SUCCESS && (port->handler == NULL || !space->is_kernel))
		kr = KERN_INVALID_RIGHT;
	if (kr == KERN_SUCCESS)
		port->reads_ool_safely = true;
	ipc_unlock();
	return kr;
}

/* ---- calls with no kernel-side twin ---- */

struct names_fill {
	mach_port_name_t *names;
	mach_port_type_t *types;
	mach_msg_type_number_t count, cap;
};

static void count_entry(void *arg, mach_port_name_t name, ipc_entry_t e)
{
	(void)name;
	(void)e;
	((struct names_fill *)arg)->count++;
}

static void fill_entry(void *arg, mach_port_name_t name, ipc_entry_t e)
{
	struct names_fill *f = arg;
	if (f->count == f->cap)
		return;
	f->names[f->count] = name;
	f->types[f->count] = e->type | (e->request ? MACH_PORT_TYPE_DNREQUEST : 0);
	f->count++;
}

static kern_return_t port_names(ipc_space_t space, mach_port_name_t **names,
        mach_msg_type_number_t *names_count, mach_port_type_t **types,
        mach_msg_type_number_t *types_count)
{
	if (names == NULL || names_count == NULL || types == NULL || types_count == NULL)
		return KERN_INVALID_ARGUMENT;
	struct names_fill f = { 0 };
	ipc_lock();
	ipc_space_foreach(space, count_entry, &f);
	f.cap = f.count;
	f.count = 0;
	if (f.cap > 0) {
		f.names = ipc_ool_alloc(f.cap * sizeof *f.names);
		f.types = ipc_ool_alloc(f.cap * sizeof *f.types);
		if (f.names == NULL || f.types == NULL) {
			ipc_unlock();
			ipc_ool_free(f.names, f.cap * sizeof *f.names);
			ipc_ool_free(f.types, f.cap * sizeof *f.types);
			return KERN_RESOURCE_SHORTAGE;
		}
		ipc_space_foreach(space, fill_entry, &f);
	}
	ipc_unlock();
	*names = f.names;
	*types = f.types;
	*names_count = *types_count = f.count;
	return KERN_SUCCESS;
}

static kern_return_t port_extract_right(ipc_space_t space, mach_port_name_t name,
        mach_msg_type_name_t msgt, mach_port_t *poly, mach_msg_type_name_t *poly_poly)
{
	if (!ipc_msgt_valid(msgt))
		return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name))
		return KERN_INVALID_RIGHT;
	if (poly == NULL || poly_poly == NULL)
		return KERN_INVALID_ARGUMENT;
	kern_return_t kr = ipc_right_transfer(space, name, msgt, space, poly);
	if (kr == KERN_SUCCESS)
		*poly_poly = ipc_copyin_type(msgt);
	return kr;
}

static kern_return_t port_set_seqno_or_mscount(ipc_space_t space,
        mach_port_name_t name, natural_t value, bool seqno)
{
	if (!MACH_PORT_VALID(name))
		return KERN_INVALID_RIGHT;
	kern_return_t kr;
	ipc_lock();
	ipc_port_t port = ipc_port_lookup_receive(space, name, &kr);
	if (port != IP_NULL) {
		if (seqno)
			port->seqno = value;
		else
			port->mscount = value;
	}
	ipc_unlock();
	return kr;
}

static kern_return_t port_get_attributes(ipc_space_t space, mach_port_name_t name,
        mach_port_flavor_t flavor, mach_port_info_t info,
        mach_msg_type_number_t *count)
{
	if (info == NULL || count == NULL)
		return KERN_INVALID_ARGUMENT;
	natural_t needed;
	switch (flavor) {
	case MACH_PORT_LIMITS_INFO: needed = MACH_PORT_LIMITS_INFO_COUNT; break;
	case MACH_PORT_RECEIVE_STATUS: needed = MACH_PORT_RECEIVE_STATUS_COUNT; break;
	case MACH_PORT_DNREQUESTS_SIZE: needed = MACH_PORT_DNREQUESTS_SIZE_COUNT; break;
	default: return KERN_INVALID_ARGUMENT;
	}
	if (*count < needed)
		return KERN_FAILURE;
	if (!MACH_PORT_VALID(name)) {
		if (flavor == MACH_PORT_LIMITS_INFO) {
			*count = 0;  /* as XNU */
			return KERN_SUCCESS;
		}
		return KERN_INVALID_RIGHT;
	}
	kern_return_t kr;
	ipc_lock();
	ipc_port_t port = ipc_port_lookup_receive(space, name, &kr);
	if (port != IP_NULL) {
		if (flavor == MACH_PORT_LIMITS_INFO) {
			mach_port_limits_t l = { port->qlimit };
			memcpy(info, &l, sizeof l);
		} else if (flavor == MACH_PORT_RECEIVE_STATUS) {
			mach_port_status_t s = {
				.mps_pset = port->pset != NULL ? port->pset->name : MACH_PORT_NULL,
				.mps_seqno = port->seqno,
				.mps_mscount = port->mscount,
				.mps_qlimit = port->qlimit,
				.mps_msgcount = port->msgcount,
				.mps_sorights = port->sorights,
				.mps_srights = port->srights > 0,
				.mps_pdrequest = port->pdrequest != IP_NULL,
				.mps_nsrequest = port->nsrequest != IP_NULL,
				.mps_flags = 0,
			};
			memcpy(info, &s, sizeof s);
		} else {
			natural_t n = 0;
			for (struct ipc_dnrequest *r = port->dnrequests; r != NULL; r = r->next)
				n++;
			memcpy(info, &n, sizeof n);
		}
		*count = needed;
	}
	ipc_unlock();
	return kr;
}

static kern_return_t port_set_attributes(ipc_space_t space, mach_port_name_t name,
        mach_port_flavor_t flavor, mach_port_info_t info,
        mach_msg_type_number_t count)
{
	if (flavor != MACH_PORT_LIMITS_INFO && flavor != MACH_PORT_DNREQUESTS_SIZE)
		return KERN_INVALID_ARGUMENT;
	if (info == NULL)
		return KERN_INVALID_ARGUMENT;
	mach_port_limits_t l = { 0 };
	if (flavor == MACH_PORT_LIMITS_INFO) {
		if (count < MACH_PORT_LIMITS_INFO_COUNT)
			return KERN_FAILURE;
		memcpy(&l, info, sizeof l);
		if (l.mpl_qlimit > MACH_PORT_QLIMIT_MAX)
			return KERN_INVALID_VALUE;
	} else if (count < MACH_PORT_DNREQUESTS_SIZE_COUNT) {
		return KERN_FAILURE;
	}
	if (!MACH_PORT_VALID(name))
		return KERN_INVALID_RIGHT;
	kern_return_t kr;
	ipc_lock();
	ipc_port_t port = ipc_port_lookup_receive(space, name, &kr);
	if (port != IP_NULL && flavor == MACH_PORT_LIMITS_INFO) {
		port->qlimit = l.mpl_qlimit;
		ipc_port_wake_senders(port, true);
	}
	ipc_unlock();
	return kr;
}

/* Looks up a receive right and a port set; KERN_INVALID_NAME/RIGHT. */
static kern_return_t lookup_member_and_set(ipc_space_t space, mach_port_name_t name,
        mach_port_name_t psname, ipc_port_t *port, ipc_pset_t *pset)
{
	kern_return_t kr;
	*port = ipc_port_lookup_receive(space, name, &kr);
	if (kr != KERN_SUCCESS)
		return kr;
	ipc_entry_t e = ipc_entry_lookup(space, psname);
	if (e == NULL)
		return KERN_INVALID_NAME;
	if (!(e->type & MACH_PORT_TYPE_PORT_SET))
		return KERN_INVALID_RIGHT;
	*pset = e->object;
	return KERN_SUCCESS;
}

static kern_return_t port_insert_member(ipc_space_t space, mach_port_name_t name,
        mach_port_name_t psname)
{
	if (!MACH_PORT_VALID(name) || !MACH_PORT_VALID(psname))
		return KERN_INVALID_RIGHT;
	ipc_port_t port;
	ipc_pset_t pset;
	ipc_lock();
	kern_return_t kr = lookup_member_and_set(space, name, psname, &port, &pset);
	if (kr == KERN_SUCCESS) {
		if (port->pset != NULL)
			kr = KERN_ALREADY_IN_SET;  /* one set per port (OSF) */
		else
			ipc_pset_add(pset, port);
	}
	ipc_unlock();
	return kr;
}

static kern_return_t port_extract_member(ipc_space_t space, mach_port_name_t name,
        mach_port_name_t psname)
{
	if (!MACH_PORT_VALID(name) || !MACH_PORT_VALID(psname))
		return KERN_INVALID_RIGHT;
	ipc_port_t port;
	ipc_pset_t pset;
	ipc_lock();
	kern_return_t kr = lookup_member_and_set(space, name, psname, &port, &pset);
	if (kr == KERN_SUCCESS) {
		if (port->pset != pset)
			kr = KERN_NOT_IN_SET;
		else
			ipc_pset_remove(port);
	}
	ipc_unlock();
	return kr;
}

static kern_return_t port_move_member(ipc_space_t space, mach_port_name_t member,
        mach_port_name_t after)
{
	if (!MACH_PORT_VALID(member) || after == MACH_PORT_DEAD)
		return KERN_INVALID_RIGHT;
	ipc_port_t port;
	ipc_pset_t pset = NULL;
	kern_return_t kr;
	ipc_lock();
	if (after == MACH_PORT_NULL)
		port = ipc_port_lookup_receive(space, member, &kr);
	else
		kr = lookup_member_and_set(space, member, after, &port, &pset);
	if (kr == KERN_SUCCESS) {
		if (pset == NULL && port->pset == NULL) {
			kr = KERN_NOT_IN_SET;
		} else if (port->pset != pset) {
			if (port->pset != NULL)
				ipc_pset_remove(port);
			if (pset != NULL)
				ipc_pset_add(pset, port);
		}
	}
	ipc_unlock();
	return kr;
}

static kern_return_t port_get_set_status(ipc_space_t space, mach_port_name_t name,
        mach_port_name_t **members, mach_msg_type_number_t *count)
{
	if (members == NULL || count == NULL)
		return KERN_INVALID_ARGUMENT;
	if (!MACH_PORT_VALID(name))
		return KERN_INVALID_RIGHT;
	kern_return_t kr = KERN_SUCCESS;
	ipc_lock();
	ipc_entry_t e = ipc_entry_lookup(space, name);
	if (e == NULL)
		kr = KERN_INVALID_NAME;
	else if (!(e->type & MACH_PORT_TYPE_PORT_SET))
		kr = KERN_INVALID_RIGHT;
	if (kr == KERN_SUCCESS) {
		ipc_pset_t pset = e->object;
		mach_msg_type_number_t n = 0;
		for (ipc_port_t p = pset->members; p != IP_NULL; p = p->pset_next)
			n++;
		mach_port_name_t *names = NULL;
		if (n > 0 && (names = ipc_ool_alloc(n * sizeof *names)) == NULL) {
			kr = KERN_RESOURCE_SHORTAGE;
		} else {
			mach_msg_type_number_t i = 0;
			for (ipc_port_t p = pset->members; p != IP_NULL; p = p->pset_next)
				names[i++] = p->receiver_name;
			*members = names;
			*count = n;
		}
	}
	ipc_unlock();
	return kr;
}

/* ---- public calls on the task's space ---- */

#define TASK_SPACE(task, space) \
	ipc_space_t space = ipc_space_from_task(task); \
	if (space == NULL) \
		return KERN_INVALID_TASK

kern_return_t mach_port_allocate(task_t task, mach_port_right_t right,
        mach_port_name_t *name)
{
	TASK_SPACE(task, space);
	return ipc_port_allocate(space, right, name);
}

kern_return_t mach_port_allocate_name(task_t task, mach_port_right_t right,
        mach_port_name_t name)
{
	TASK_SPACE(task, space);
	return port_allocate_name(space, right, name);
}

kern_return_t mach_port_deallocate(task_t task, mach_port_name_t name)
{
	TASK_SPACE(task, space);
	return ipc_port_deallocate(space, name);
}

kern_return_t mach_port_destroy(task_t task, mach_port_name_t name)
{
	TASK_SPACE(task, space);
	return ipc_port_destroy(space, name);
}

kern_return_t mach_port_mod_refs(task_t task, mach_port_name_t name,
        mach_port_right_t right, mach_port_delta_t delta)
{
	TASK_SPACE(task, space);
	return ipc_port_mod_refs(space, name, right, delta);
}

kern_return_t mach_port_get_refs(task_t task, mach_port_name_t name,
        mach_port_right_t right, mach_port_urefs_t *refs)
{
	TASK_SPACE(task, space);
	return ipc_port_get_refs(space, name, right, refs);
}

kern_return_t mach_port_type(task_t task, mach_port_name_t name,
        mach_port_type_t *ptype)
{
	TASK_SPACE(task, space);
	return ipc_port_type(space, name, ptype);
}

kern_return_t mach_port_names(task_t task, mach_port_name_t **names,
        mach_msg_type_number_t *names_count, mach_port_type_t **types,
        mach_msg_type_number_t *types_count)
{
	TASK_SPACE(task, space);
	return port_names(space, names, names_count, types, types_count);
}

kern_return_t mach_port_insert_right(task_t task, mach_port_name_t name,
        mach_port_t poly, mach_msg_type_name_t poly_poly)
{
	TASK_SPACE(task, space);
	return ipc_port_insert_right(space, name, poly, poly_poly);
}

kern_return_t mach_port_extract_right(task_t task, mach_port_name_t name,
        mach_msg_type_name_t msgt_name, mach_port_t *poly,
        mach_msg_type_name_t *poly_poly)
{
	TASK_SPACE(task, space);
	return port_extract_right(space, name, msgt_name, poly, poly_poly);
}

kern_return_t mach_port_set_seqno(task_t task, mach_port_name_t name,
        mach_port_seqno_t seqno)
{
	TASK_SPACE(task, space);
	return port_set_seqno_or_mscount(space, name, seqno, true);
}

kern_return_t mach_port_set_mscount(task_t task, mach_port_name_t name,
        mach_port_mscount_t mscount)
{
	TASK_SPACE(task, space);
	return port_set_seqno_or_mscount(space, name, mscount, false);
}

kern_return_t mach_port_get_attributes(task_t task, mach_port_name_t name,
        mach_port_flavor_t flavor, mach_port_info_t port_info,
        mach_msg_type_number_t *port_info_count)
{
	TASK_SPACE(task, space);
	return port_get_attributes(space, name, flavor, port_info, port_info_count);
}

kern_return_t mach_port_set_attributes(task_t task, mach_port_name_t name,
        mach_port_flavor_t flavor, mach_port_info_t port_info,
        mach_msg_type_number_t port_info_count)
{
	TASK_SPACE(task, space);
	return port_set_attributes(space, name, flavor, port_info, port_info_count);
}

kern_return_t mach_port_get_set_status(task_t task, mach_port_name_t name,
        mach_port_name_t **members, mach_msg_type_number_t *members_count)
{
	TASK_SPACE(task, space);
	return port_get_set_status(space, name, members, members_count);
}

kern_return_t mach_port_insert_member(task_t task, mach_port_name_t name,
        mach_port_name_t pset)
{
	TASK_SPACE(task, space);
	return port_insert_member(space, name, pset);
}

kern_return_t mach_port_extract_member(task_t task, mach_port_name_t name,
        mach_port_name_t pset)
{
	TASK_SPACE(task, space);
	return port_extract_member(space, name, pset);
}

kern_return_t mach_port_move_member(task_t task, mach_port_name_t member,
        mach_port_name_t after)
{
	TASK_SPACE(task, space);
	return port_move_member(space, member, after);
}

kern_return_t mach_port_request_notification(task_t task, mach_port_name_t name,
        mach_msg_id_t msgid, mach_port_mscount_t sync, mach_port_t notify,
        mach_msg_type_name_t notify_poly, mach_port_t *previous)
{
	TASK_SPACE(task, space);
	return ipc_port_request_notification(space, name, msgid, sync, notify,
	        notify_poly, previous);
}
