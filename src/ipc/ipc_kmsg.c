/* Messages in transit: from the sender's buffer into kernel form (rights
 * as port pointers, OOL data in fresh regions), and out into a receiver's
 * space.
 *
 * Sending is split so that a failed send changes nothing: ipc_kmsg_get
 * copies and checks the message and copies its OOL memory (no lock);
 * ipc_kmsg_copyin_check verifies every right, counting what earlier rights
 * of the same message use (no change to the space); only then does
 * ipc_kmsg_copyin_commit take the rights, which cannot fail. */
#include <stdlib.h>
#include <string.h>
#include "ipc_internal.h"

#define DESC_PORT_SIZE ((mach_msg_size_t)sizeof(mach_msg_port_descriptor_t))
#define DESC_OOL_SIZE  ((mach_msg_size_t)sizeof(mach_msg_ool_descriptor_t))

/* Whose memory an OOL descriptor in kernel form points at (in pad1). */
enum { OOL_COPY = 0, OOL_HANDED_OVER = 1, OOL_LENT = 2 };

ipc_kmsg_t ipc_kmsg_alloc(mach_msg_size_t size)
{
	size_t capacity = ((size_t)size + MAX_TRAILER_SIZE + 7) & ~(size_t)7;
	ipc_kmsg_t kmsg = malloc(sizeof *kmsg + capacity);
	if (kmsg == NULL)
		return NULL;
	memset(kmsg, 0, sizeof *kmsg);
	kmsg->size = size;
	kmsg->capacity = (mach_msg_size_t)capacity;
	return kmsg;
}

void ipc_kmsg_free(ipc_kmsg_t kmsg)
{
	free(kmsg);
}

static unsigned char *kmsg_bytes(ipc_kmsg_t kmsg)
{
	return (unsigned char *)ipc_kmsg_hdr(kmsg);
}

/* Descriptor fields, read and written by copy: descriptors are packed. */
static mach_msg_descriptor_type_t desc_type(const unsigned char *d)
{
	mach_msg_type_descriptor_t t;
	memcpy(&t, d, sizeof t);
	return t.type;
}

static mach_msg_size_t desc_size(mach_msg_descriptor_type_t type)
{
	return type == MACH_MSG_PORT_DESCRIPTOR ? DESC_PORT_SIZE : DESC_OOL_SIZE;
}

static ipc_port_t desc_port(const unsigned char *d)
{
	ipc_port_t port;
	memcpy(&port, d, sizeof port);
	return port;
}

static mach_msg_return_t add_right(struct ipc_copyin *ci, mach_port_name_t name,
        mach_msg_type_name_t msgt, void *slot)
{
	if (ci->nrights == ci->rights_cap) {
		uint32_t cap = ci->rights_cap * 2;
		struct ipc_copyin_right *r;
		if (ci->rights == ci->inline_rights) {
			r = malloc(cap * sizeof *r);
			if (r != NULL)
				memcpy(r, ci->rights, ci->nrights * sizeof *r);
		} else {
			r = realloc(ci->rights, cap * sizeof *r);
		}
		if (r == NULL)
			return MACH_SEND_NO_BUFFER;
		ci->rights = r;
		ci->rights_cap = cap;
	}
	ci->rights[ci->nrights++] = (struct ipc_copyin_right){ name, msgt, slot, NULL };
	return MACH_MSG_SUCCESS;
}

static mach_msg_return_t add_dealloc(struct ipc_copyin *ci, struct ipc_dealloc_range r)
{
	if (r.len == 0)
		return MACH_MSG_SUCCESS;
	struct ipc_dealloc_range *d = realloc(ci->deallocs, (ci->ndeallocs + 1) * sizeof *d);
	if (d == NULL)
		return MACH_SEND_NO_BUFFER;
	d[ci->ndeallocs++] = r;
	ci->deallocs = d;
	return MACH_MSG_SUCCESS;
}

/* Validates the descriptors: count, types, dispositions. Records the
 * port descriptors' rights. Returns the first error, or success. */
static mach_msg_return_t parse_body(ipc_kmsg_t kmsg, struct ipc_copyin *ci,
        mach_msg_size_t *ndesc)
{
	unsigned char *base = kmsg_bytes(kmsg);
	mach_msg_size_t size = kmsg->size;
	mach_msg_body_t body;
	memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
	mach_msg_size_t count = body.msgh_descriptor_count;
	mach_msg_size_t off = sizeof(mach_msg_base_t);
	*ndesc = 0;
	if (count > (size - off) / DESC_PORT_SIZE)
		return MACH_SEND_MSG_TOO_SMALL;
	for (mach_msg_size_t i = 0; i < count; i++) {
		if (size - off < DESC_PORT_SIZE)
			return MACH_SEND_MSG_TOO_SMALL;
		unsigned char *d = base + off;
		mach_msg_descriptor_type_t type = desc_type(d);
		if (type > MACH_MSG_OOL_VOLATILE_DESCRIPTOR)
			return MACH_SEND_INVALID_TYPE;
		if (size - off < desc_size(type))
			return MACH_SEND_MSG_TOO_SMALL;
		if (type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t pd;
			memcpy(&pd, d, sizeof pd);
			if (!ipc_msgt_valid(pd.disposition))
				return MACH_SEND_INVALID_TYPE;
			mach_msg_return_t mr = add_right(ci, pd.name, pd.disposition, d);
			if (mr != MACH_MSG_SUCCESS)
				return mr;
		} else if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t od;
			memcpy(&od, d, sizeof od);
			if (!ipc_msgt_valid(od.disposition))
				return MACH_SEND_INVALID_TYPE;
			if (od.copy != MACH_MSG_PHYSICAL_COPY && od.copy != MACH_MSG_VIRTUAL_COPY)
				return MACH_SEND_INVALID_TYPE;
		} else {
			mach_msg_ool_descriptor_t od;
			memcpy(&od, d, sizeof od);
			if (od.copy != MACH_MSG_PHYSICAL_COPY && od.copy != MACH_MSG_VIRTUAL_COPY)
				return MACH_SEND_INVALID_TYPE;
		}
		off += desc_size(type);
		(*ndesc)++;
	}
	return MACH_MSG_SUCCESS;
}

/* Copies OOL data and OOL port names; records the ports' rights. Stops at
 * the first failure, leaving *done descriptors in kernel form. */
static mach_msg_return_t copyin_ool(ipc_kmsg_t kmsg, struct ipc_copyin *ci,
        mach_msg_size_t ndesc, mach_msg_size_t *done)
{
	bool lend = kmsg->lent;
	unsigned char *d = kmsg_bytes(kmsg) + sizeof(mach_msg_base_t);
	for (*done = 0; *done < ndesc; (*done)++, d += desc_size(desc_type(d))) {
		mach_msg_descriptor_type_t type = desc_type(d);
		if (type == MACH_MSG_PORT_DESCRIPTOR)
			continue;
		if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t od;
			memcpy(&od, d, sizeof od);
			if (od.count > MACH_MSG_SIZE_MAX / sizeof(mach_port_name_t))
				return MACH_SEND_TOO_LARGE;
			size_t bytes = (size_t)od.count * sizeof(mach_port_name_t);
			if (!ipc_ool_mapped(od.address, bytes))
				return MACH_SEND_INVALID_MEMORY;
			struct ipc_ool_ports *block =
			    malloc(sizeof *block + (size_t)od.count * sizeof(ipc_port_t));
			if (block == NULL)
				return MACH_SEND_NO_BUFFER;
			block->count = od.count;
			block->names = NULL;
			if (od.count > 0 && (block->names = ipc_ool_alloc(bytes)) == NULL) {
				free(block);
				return MACH_SEND_NO_BUFFER;
			}
			mach_msg_return_t mr = MACH_MSG_SUCCESS;
			if (od.count > 0)
				mr = ipc_ool_read(block->names, od.address, bytes);
			if (mr == MACH_MSG_SUCCESS && od.deallocate && od.count > 0) {
				uintptr_t start = (uintptr_t)od.address & ~(uintptr_t)(ipc_page_size - 1);
				uintptr_t end = ((uintptr_t)od.address + bytes + ipc_page_size - 1) &
				                ~(uintptr_t)(ipc_page_size - 1);
				mr = add_dealloc(ci, (struct ipc_dealloc_range){ (void *)start, end - start });
			}
			const mach_port_name_t *names = block->names;
			for (mach_msg_size_t i = 0; mr == MACH_MSG_SUCCESS && i < od.count; i++) {
				block->ports[i] = IP_NULL;
				mr = add_right(ci, names[i], od.disposition, &block->ports[i]);
			}
			if (mr != MACH_MSG_SUCCESS) {
				ipc_ool_free(block->names, bytes);
				free(block);
				return mr;
			}
			od.address = block;
			memcpy(d, &od, sizeof od);
			continue;
		}
		mach_msg_ool_descriptor_t od;
		memcpy(&od, d, sizeof od);
		if (lend) {
			/* Lent to a kobject handler: checked, never copied; the
			 * sender's pages go (with deallocate) once it returns.
			 * A handler that reads it safely checks it itself, at no
			 * cost (its copy fails with EFAULT): no msync here; nor
			 * for a kernel space's own memory (a data_return's
			 * pages on their way to a remote manager). */
			if (!kmsg->lent_unchecked && !ci->kernel_sender &&
			    !ipc_ool_mapped(od.address, od.size))
				return MACH_SEND_INVALID_MEMORY;
			if (od.deallocate && od.size != 0) {
				uintptr_t start = (uintptr_t)od.address & ~(uintptr_t)(ipc_page_size - 1);
				uintptr_t end = ((uintptr_t)od.address + od.size + ipc_page_size - 1) &
				                ~(uintptr_t)(ipc_page_size - 1);
				mach_msg_return_t mr = add_dealloc(ci,
				        (struct ipc_dealloc_range){ (void *)start, end - start });
				if (mr != MACH_MSG_SUCCESS)
					return mr;
			}
			od.pad1 = OOL_LENT;
			memcpy(d, &od, sizeof od);
			continue;
		}
		void *copy;
		struct ipc_dealloc_range range;
		mach_msg_return_t mr = ipc_ool_copyin(od.address, od.size, od.deallocate,
		        ci->kernel_sender, &copy, &range);
		if (mr == MACH_MSG_SUCCESS)
			mr = add_dealloc(ci, range);
		if (mr != MACH_MSG_SUCCESS) {
			if (copy != NULL && !ipc_ool_handed_over(od.address, od.size, od.deallocate))
				ipc_ool_free(copy, od.size);
			return mr;
		}
		/* pad1 marks the sender's own pages (kernel form only). */
		od.pad1 = ipc_ool_handed_over(od.address, od.size, od.deallocate)
		        ? OOL_HANDED_OVER : OOL_COPY;
		od.address = copy;
		memcpy(d, &od, sizeof od);
	}
	return MACH_MSG_SUCCESS;
}

/* The header bits and sizes, as XNU's ipc_kmsg_copyin_header checks them. */
static mach_msg_return_t check_header(const mach_msg_header_t *hdr,
        mach_msg_size_t send_size)
{
	mach_msg_bits_t bits = hdr->msgh_bits;
	mach_msg_type_name_t remote = MACH_MSGH_BITS_REMOTE(bits);
	mach_msg_type_name_t local = MACH_MSGH_BITS_LOCAL(bits);
	mach_msg_type_name_t voucher = (bits & MACH_MSGH_BITS_VOUCHER_MASK) >> 16;
	if (bits & ~MACH_MSGH_BITS_USER)
		return MACH_SEND_INVALID_HEADER;
	if (!ipc_msgt_valid_send(remote))
		return MACH_SEND_INVALID_HEADER;
	if (local == 0 ? hdr->msgh_local_port != MACH_PORT_NULL : !ipc_msgt_valid_send(local))
		return MACH_SEND_INVALID_HEADER;
	/* No vouchers here: only a null one is accepted. */
	if (voucher != 0 && voucher != MACH_MSG_TYPE_MOVE_SEND &&
	    voucher != MACH_MSG_TYPE_COPY_SEND)
		return MACH_SEND_INVALID_HEADER;
	if (voucher != 0 && MACH_PORT_VALID(hdr->msgh_voucher_port))
		return MACH_SEND_INVALID_VOUCHER;
	if ((bits & MACH_MSGH_BITS_COMPLEX) && send_size < sizeof(mach_msg_base_t))
		return MACH_SEND_MSG_TOO_SMALL;
	return MACH_MSG_SUCCESS;
}

mach_msg_return_t ipc_kmsg_get(const mach_msg_header_t *msg,
        mach_msg_size_t send_size, int lend, ipc_kmsg_t *kmsgp,
        struct ipc_copyin *ci)
{
	bool kernel_sender = ci->kernel_sender;
	memset(ci, 0, sizeof *ci);
	ci->kernel_sender = kernel_sender;
	ci->rights = ci->inline_rights;
	ci->rights_cap = sizeof ci->inline_rights / sizeof ci->inline_rights[0];
	*kmsgp = NULL;

	if (send_size < sizeof(mach_msg_header_t) || (send_size & 3))
		return MACH_SEND_MSG_TOO_SMALL;
	if (send_size > MACH_MSG_SIZE_MAX)
		return MACH_SEND_TOO_LARGE;
	/* Checks run on our copy: the sender's buffer may change under us. */
	ipc_kmsg_t kmsg = ipc_kmsg_alloc(send_size);
	if (kmsg == NULL)
		return MACH_SEND_NO_BUFFER;
	mach_msg_header_t *hdr = ipc_kmsg_hdr(kmsg);
	memcpy(hdr, msg, send_size);
	mach_msg_return_t mr = check_header(hdr, send_size);
	if (mr != MACH_MSG_SUCCESS) {
		ipc_kmsg_free(kmsg);
		return mr;
	}
	mach_msg_bits_t bits = hdr->msgh_bits;
	mach_msg_type_name_t remote = MACH_MSGH_BITS_REMOTE(bits);
	mach_msg_type_name_t local = MACH_MSGH_BITS_LOCAL(bits);
	hdr->msgh_bits = (bits & ~MACH_MSGH_BITS_PORTS_MASK) |
	                 MACH_MSGH_BITS(ipc_copyin_type(remote), ipc_copyin_type(local));
	hdr->msgh_size = send_size;
	hdr->msgh_voucher_port = MACH_PORT_NULL;
	kmsg->uid = ipc_sender_uid;
	kmsg->gid = ipc_sender_gid;
	kmsg->lent = lend != IPC_LEND_NONE && (bits & MACH_MSGH_BITS_COMPLEX);
	kmsg->lent_unchecked = kmsg->lent && lend == IPC_LEND_UNCHECKED;

	/* Header rights first: rights[0] is the destination, [1] the reply. */
	add_right(ci, hdr->msgh_remote_port, remote, &kmsg->remote);
	add_right(ci, hdr->msgh_local_port, local ? local : MACH_MSG_TYPE_COPY_SEND,
	          &kmsg->local);
	*kmsgp = kmsg;

	if (bits & MACH_MSGH_BITS_COMPLEX) {
		mach_msg_size_t ndesc = 0, done = 0;
		ci->body_error = parse_body(kmsg, ci, &ndesc);
		if (ci->body_error == MACH_MSG_SUCCESS)
			ci->body_error = copyin_ool(kmsg, ci, ndesc, &done);
		ci->ool_done = done;
	}
	return MACH_MSG_SUCCESS;
}

static void unreserve_all(struct ipc_copyin *ci)
{
	for (uint32_t i = 0; i < ci->nrights; i++) {
		ipc_right_copyin_unreserve(ci->rights[i].entry);
		ci->rights[i].entry = NULL;
	}
}

mach_msg_return_t ipc_kmsg_copyin_check(ipc_space_t space, struct ipc_copyin *ci)
{
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	struct ipc_copyin_right *dest = &ci->rights[0], *reply = &ci->rights[1];
	ipc_entry_t scratch;

	/* Header, in XNU's order: the destination name must exist; then the
	 * reply right alone must be valid; then both are taken together (so
	 * dest and reply may name the same right: MOVE_SEND + COPY_SEND with
	 * one reference works, two MOVE_SENDs need two). */
	if (!MACH_PORT_VALID(dest->name) || ipc_entry_lookup(space, dest->name) == NULL) {
		mr = MACH_SEND_INVALID_DEST;
		goto out;
	}
	if (MACH_PORT_VALID(reply->name)) {
		kern_return_t kr = ipc_right_copyin_check(space, reply->name, reply->msgt,
		        true, &scratch);
		ipc_right_copyin_unreserve(scratch);
		if (kr != KERN_SUCCESS) {
			mr = MACH_SEND_INVALID_REPLY;
			goto out;
		}
	}
	if (ipc_right_copyin_check(space, dest->name, dest->msgt, false, &dest->entry) != KERN_SUCCESS ||
	    ipc_right_copyin_check(space, reply->name, reply->msgt, true, &reply->entry) != KERN_SUCCESS) {
		mr = MACH_SEND_INVALID_DEST;
		goto out;
	}
	ci->dest = dest->entry->object;
	if (ci->body_error != MACH_MSG_SUCCESS) {
		mr = ci->body_error;
		goto out;
	}
	bool moves_receive = false;
	for (uint32_t i = 2; i < ci->nrights; i++) {
		struct ipc_copyin_right *r = &ci->rights[i];
		if (ipc_right_copyin_check(space, r->name, r->msgt, true, &r->entry) != KERN_SUCCESS) {
			mr = MACH_SEND_INVALID_RIGHT;
			goto out;
		}
		if (r->msgt == MACH_MSG_TYPE_MOVE_RECEIVE && r->entry != NULL)
			moves_receive = true;
	}
	/* A receive right may not end up inside its own queue: walk from the
	 * destination through receive rights in transit. */
	if (moves_receive) {
		for (ipc_port_t p = ci->dest; p != IP_NULL; p = p->destination) {
			if (p->moving) {
				mr = MACH_SEND_INVALID_RIGHT;
				break;
			}
			if (!p->active || p->receiver != NULL)
				break;
		}
	}
out:
	unreserve_all(ci);
	return mr;
}

static bool consumes(mach_msg_type_name_t msgt)
{
	return msgt == MACH_MSG_TYPE_MOVE_SEND || msgt == MACH_MSG_TYPE_MOVE_SEND_ONCE ||
	       msgt == MACH_MSG_TYPE_MOVE_RECEIVE;
}

void ipc_kmsg_copyin_commit(ipc_space_t space, ipc_kmsg_t kmsg,
        struct ipc_copyin *ci)
{
	ipc_port_t dest = ci->dest;
	/* Copies and makes first: they leave the entries as they are, so a
	 * move of the same name in the message cannot pull the entry from
	 * under them. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < ci->nrights; i++) {
			struct ipc_copyin_right *r = &ci->rights[i];
			if (consumes(r->msgt) != (pass == 1))
				continue;
			ipc_port_t port = ipc_right_copyin(space, r->name, r->msgt);
			memcpy(r->slot, &port, sizeof port);
			if (r->msgt == MACH_MSG_TYPE_MOVE_RECEIVE && IP_VALID(port)) {
				ipc_port_reference(dest);
				port->destination = dest;
			}
		}
	}
	/* Port descriptors now hold the received disposition. */
	if (ipc_kmsg_hdr(kmsg)->msgh_bits & MACH_MSGH_BITS_COMPLEX) {
		unsigned char *base = kmsg_bytes(kmsg);
		mach_msg_body_t body;
		memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
		unsigned char *d = base + sizeof(mach_msg_base_t);
		for (mach_msg_size_t i = 0; i < body.msgh_descriptor_count; i++) {
			mach_msg_descriptor_type_t type = desc_type(d);
			if (type == MACH_MSG_PORT_DESCRIPTOR) {
				mach_msg_port_descriptor_t pd;
				memcpy(&pd, d, sizeof pd);
				pd.disposition = ipc_copyin_type(pd.disposition);
				memcpy(d + 8, (unsigned char *)&pd + 8, 4);
			} else if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
				mach_msg_ool_ports_descriptor_t od;
				memcpy(&od, d, sizeof od);
				od.disposition = ipc_copyin_type(od.disposition);
				memcpy(d, &od, sizeof od);
			}
			d += desc_size(type);
		}
	}
}

void ipc_copyin_done(struct ipc_copyin *ci)
{
	/* A kernel-class sender's memory is its own (e.g. pages the VM
	 * returns to a manager), never the task's map: freeing it through
	 * vm_deallocate would re-enter the VM, which may be sending under its
	 * own locks (a data_return at the last unmap, to a proxy). */
	for (uint32_t i = 0; i < ci->ndeallocs; i++)
		if (ci->kernel_sender)
			ipc_ool_free(ci->deallocs[i].addr, ci->deallocs[i].len);
		else
			ipc_ool_release(ci->deallocs[i].addr, ci->deallocs[i].len);
	free(ci->deallocs);
	ci->deallocs = NULL;
	ci->ndeallocs = 0;
	if (ci->rights != ci->inline_rights)
		free(ci->rights);
	ci->rights = ci->inline_rights;
}

void ipc_kmsg_abort(ipc_kmsg_t kmsg, struct ipc_copyin *ci)
{
	if (kmsg != NULL && (ipc_kmsg_hdr(kmsg)->msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
		unsigned char *d = kmsg_bytes(kmsg) + sizeof(mach_msg_base_t);
		for (mach_msg_size_t i = 0; i < ci->ool_done; i++, d += desc_size(desc_type(d))) {
			mach_msg_descriptor_type_t type = desc_type(d);
			if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
				mach_msg_ool_ports_descriptor_t od;
				memcpy(&od, d, sizeof od);
				struct ipc_ool_ports *block = od.address;
				ipc_ool_free(block->names, (size_t)block->count * sizeof(mach_port_name_t));
				free(block);
			} else if (type != MACH_MSG_PORT_DESCRIPTOR) {
				mach_msg_ool_descriptor_t od;
				memcpy(&od, d, sizeof od);
				/* Pages handed over or lent are still the sender's. */
				if (od.pad1 == OOL_COPY)
					ipc_ool_free(od.address, od.size);
			}
		}
	}
	ci->ndeallocs = 0;   /* the send failed: the sender keeps its memory */
	ipc_copyin_done(ci);
	ipc_kmsg_free(kmsg);
}

void ipc_kmsg_destroy(ipc_kmsg_t kmsg)
{
	mach_msg_header_t *hdr = ipc_kmsg_hdr(kmsg);
	mach_msg_bits_t bits = hdr->msgh_bits;
	if (IP_VALID(kmsg->remote)) {
		if (MACH_MSGH_BITS_REMOTE(bits) == MACH_MSG_TYPE_PORT_SEND)
			ipc_port_release_send(kmsg->remote);
		else
			ipc_port_release_sonce(kmsg->remote);
	}
	ipc_right_destroy_port(kmsg->local, MACH_MSGH_BITS_LOCAL(bits));
	kmsg->remote = kmsg->local = IP_NULL;
	if (!(bits & MACH_MSGH_BITS_COMPLEX))
		return;
	unsigned char *base = kmsg_bytes(kmsg);
	mach_msg_body_t body;
	memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
	unsigned char *d = base + sizeof(mach_msg_base_t);
	for (mach_msg_size_t i = 0; i < body.msgh_descriptor_count; i++) {
		mach_msg_descriptor_type_t type = desc_type(d);
		if (type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t pd;
			memcpy(&pd, d, sizeof pd);
			ipc_right_destroy_port(desc_port(d), pd.disposition);
		} else if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t od;
			memcpy(&od, d, sizeof od);
			struct ipc_ool_ports *block = od.address;
			for (mach_msg_size_t j = 0; j < block->count; j++)
				ipc_right_destroy_port(block->ports[j], od.disposition);
			ipc_ool_free(block->names, (size_t)block->count * sizeof(mach_port_name_t));
			free(block);
		} else {
			mach_msg_ool_descriptor_t od;
			memcpy(&od, d, sizeof od);
			/* Our copy: unmap. The sender's pages handed over: they
			 * may be in the VM's map, so vm_deallocate (after the
			 * unlock). Lent pages stay the sender's. */
			if (od.pad1 == OOL_HANDED_OVER)
				ipc_defer_release(od.address, od.size);
			else if (od.pad1 == OOL_COPY)
				ipc_ool_free(od.address, od.size);
		}
		d += desc_size(type);
	}
}

void ipc_kmsg_copyout(ipc_space_t space, ipc_kmsg_t kmsg)
{
	mach_msg_header_t *hdr = ipc_kmsg_hdr(kmsg);
	mach_msg_bits_t bits = hdr->msgh_bits;
	mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(bits);
	mach_msg_type_name_t reply_type = MACH_MSGH_BITS_LOCAL(bits);
	ipc_port_t dest = kmsg->remote;

	/* Receiving uses up the destination right; the receiver sees the
	 * name of its receive right, and the reply right as remote. */
	mach_port_name_t dest_name =
	    dest->receiver == space ? dest->receiver_name : MACH_PORT_NULL;
	if (dest_type == MACH_MSG_TYPE_PORT_SEND)
		ipc_port_release_send(dest);
	else
		ipc_port_release_sonce(dest);
	mach_port_name_t reply_name = ipc_right_copyout(space, kmsg->local, reply_type);
	kmsg->remote = kmsg->local = IP_NULL;

	hdr->msgh_bits = MACH_MSGH_BITS_OTHER(bits) & ~MACH_MSGH_BITS_VOUCHER_MASK;
	hdr->msgh_bits |= MACH_MSGH_BITS(reply_type, dest_type);
	hdr->msgh_remote_port = reply_name;
	hdr->msgh_local_port = dest_name;
	hdr->msgh_voucher_port = MACH_PORT_NULL;
	hdr->msgh_size = kmsg->size;
	if (!(bits & MACH_MSGH_BITS_COMPLEX))
		return;

	unsigned char *base = kmsg_bytes(kmsg);
	mach_msg_body_t body;
	memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
	unsigned char *d = base + sizeof(mach_msg_base_t);
	for (mach_msg_size_t i = 0; i < body.msgh_descriptor_count; i++) {
		mach_msg_descriptor_type_t type = desc_type(d);
		if (type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t pd;
			memcpy(&pd, d, sizeof pd);
			pd.name = ipc_right_copyout(space, desc_port(d), pd.disposition);
			pd.pad1 = 0;
			memcpy(d, &pd, sizeof pd);
		} else if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t od;
			memcpy(&od, d, sizeof od);
			struct ipc_ool_ports *block = od.address;
			mach_port_name_t *names = block->names;
			for (mach_msg_size_t j = 0; j < block->count; j++)
				names[j] = ipc_right_copyout(space, block->ports[j], od.disposition);
			od.address = names;
			od.deallocate = FALSE;
			memcpy(d, &od, sizeof od);
			free(block);
		} else {
			mach_msg_ool_descriptor_t od;
			memcpy(&od, d, sizeof od);
			od.deallocate = FALSE;
			od.pad1 = 0;
			if (od.size == 0)
				od.address = NULL;
			memcpy(d, &od, sizeof od);
		}
		d += desc_size(type);
	}
}

void ipc_kmsg_write_trailer(ipc_kmsg_t kmsg, mach_msg_size_t trailer_size)
{
	mach_msg_max_trailer_t trailer = {
		.msgh_trailer_type = MACH_MSG_TRAILER_FORMAT_0,
		.msgh_trailer_size = trailer_size,
		.msgh_seqno = kmsg->seqno,
		.msgh_sender = { { kmsg->uid, kmsg->gid } },
	};
	memcpy(kmsg_bytes(kmsg) + round_msg(kmsg->size), &trailer, trailer_size);
}

/* The destination stopped being a kobject between the sender's look and
 * the send (its receive right left the kernel space): the message will be
 * queued, so it gets its own copies of the lent data, as a copy send would
 * have made. A region that can no longer be read arrives empty. */
static void unlend(ipc_kmsg_t kmsg)
{
	unsigned char *base = kmsg_bytes(kmsg);
	mach_msg_body_t body;
	memcpy(&body, base + sizeof(mach_msg_header_t), sizeof body);
	unsigned char *d = base + sizeof(mach_msg_base_t);
	for (mach_msg_size_t i = 0; i < body.msgh_descriptor_count; i++) {
		mach_msg_descriptor_type_t type = desc_type(d);
		if (type != MACH_MSG_PORT_DESCRIPTOR && type != MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_descriptor_t od;
			memcpy(&od, d, sizeof od);
			void *copy = od.size ? ipc_ool_alloc(od.size) : NULL;
			if (copy != NULL && ipc_ool_read(copy, od.address, od.size) != MACH_MSG_SUCCESS) {
				ipc_ool_free(copy, od.size);
				copy = NULL;
			}
			od.address = copy;
			if (copy == NULL)
				od.size = 0;
			od.pad1 = OOL_COPY;
			memcpy(d, &od, sizeof od);
		}
		d += desc_size(type);
	}
	kmsg->lent = false;
}

void ipc_kmsg_deliver(ipc_kmsg_t kmsg)
{
	ipc_port_t dest = kmsg->remote;
	if (!dest->active) {
		ipc_defer_reap(kmsg);
		return;
	}
	if (dest->handler != NULL && dest->receiver != NULL && dest->receiver->is_kernel) {
		kmsg->seqno = dest->seqno++;
		kmsg->handler = dest->handler;
		kmsg->context = dest->context;
		kmsg->kspace = dest->receiver;
		ipc_kmsg_copyout(dest->receiver, kmsg);
		ipc_kmsg_write_trailer(kmsg, MAX_TRAILER_SIZE);
		ipc_defer_delivery(kmsg);
		return;
	}
	if (kmsg->lent)
		unlend(kmsg);
	ipc_mqueue_enqueue(dest, kmsg);
}
