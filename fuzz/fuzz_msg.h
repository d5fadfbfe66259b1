/* Shared by the message fuzz targets: turns fuzz bytes into a Mach message
 * a task could send, and puts the task's name space back afterwards.
 *
 * The bytes choose everything (header bits, dispositions, sizes, ids,
 * descriptor types and counts, body words), but names and addresses are
 * drawn from what the harness owns, so that a message exercises the
 * kernel's checks instead of the caller's memory: port names come from a
 * small table of live rights (plus NULL, DEAD, stale and random names);
 * out-of-line addresses point into a scratch region (or, sometimes, at a
 * page that is not mapped); nothing asks the kernel to deallocate the
 * harness's memory. mach_msg trusts the header pointer (docs/departures.md),
 * so the send size never exceeds the buffer.
 *
 * After every input, every name the input made is destroyed and the names
 * the harness keeps must have their types and references back: a right
 * lost or left behind is a finding (abort). */
#ifndef MEMOBJ_FUZZ_MSG_H
#define MEMOBJ_FUZZ_MSG_H

#include <mach/mach.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define FUZZ_MSG_MAX   8192u       /* the message buffer */
#define FUZZ_SCRATCH   (64u * 1024) /* OOL data points in here */
#define FUZZ_NAMES     12

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint32_t fuzz_take(struct fuzz_in *in, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (in->left) {
			v |= *in->p++;
			in->left--;
		}
	}
	return v;
}

/* ---- the inputs that led here ----
 *
 * A finding that needs several inputs (state one input leaves behind for
 * a later one) is not reproduced by libFuzzer's crash file, which holds
 * the last input only. With FUZZ_HISTORY=N in the environment the harness
 * keeps the last N inputs and, on a failed check, writes them to
 * FUZZ_HISTORY_DIR (default ".") as history-000000, history-000001, ...
 * oldest first: FUZZ_REPLAY (below) replays them in order in one
 * process, and fuzz/replay-history trims them to the inputs it needs. */
struct fuzz_history_entry {
	uint8_t *data;
	size_t size;
};
static struct fuzz_history_entry *fuzz_history;
static size_t fuzz_history_cap, fuzz_history_next, fuzz_history_seen;

static inline void fuzz_history_note(const uint8_t *data, size_t size)
{
	if (fuzz_history_cap == 0) {
		const char *n = getenv("FUZZ_HISTORY");
		if (n == NULL || atol(n) <= 0)
			return;
		fuzz_history_cap = (size_t)atol(n);
		fuzz_history = calloc(fuzz_history_cap, sizeof *fuzz_history);
		if (fuzz_history == NULL) {
			fuzz_history_cap = 0;
			return;
		}
	}
	struct fuzz_history_entry *e = &fuzz_history[fuzz_history_next];
	free(e->data);
	e->data = malloc(size ? size : 1);
	e->size = e->data != NULL ? size : 0;
	if (e->data != NULL && size)
		memcpy(e->data, data, size);
	fuzz_history_next = (fuzz_history_next + 1) % fuzz_history_cap;
	fuzz_history_seen++;
}

static inline void fuzz_history_dump(void)
{
	if (fuzz_history_cap == 0)
		return;
	const char *dir = getenv("FUZZ_HISTORY_DIR");
	if (dir == NULL)
		dir = ".";
	size_t n = fuzz_history_seen < fuzz_history_cap ? fuzz_history_seen : fuzz_history_cap;
	size_t first = fuzz_history_seen < fuzz_history_cap ? 0 : fuzz_history_next;
	for (size_t i = 0; i < n; i++) {
		const struct fuzz_history_entry *e = &fuzz_history[(first + i) % fuzz_history_cap];
		char path[4096];
		snprintf(path, sizeof path, "%s/history-%06zu", dir, i);
		FILE *f = fopen(path, "wb");
		if (f == NULL)
			break;
		if (e->size)
			(void)fwrite(e->data, 1, e->size, f);
		fclose(f);
	}
	fprintf(stderr, "fuzz: the last %zu inputs are in %s/history-*\n", n, dir);
}

/* FUZZ_REPLAY=LIST (a file naming one input per line): the target runs
 * those inputs in that order through one(), in this process, and exits;
 * a failed check aborts as in fuzzing. For sequences too long for a
 * command line (fuzz/replay-history uses it). Call at the end of
 * LLVMFuzzerInitialize. */
static inline void fuzz_replay(int (*one)(const uint8_t *, size_t))
{
	const char *list = getenv("FUZZ_REPLAY");
	if (list == NULL || *list == '\0')
		return;
	FILE *l = fopen(list, "r");
	if (l == NULL) {
		perror(list);
		exit(2);
	}
	static uint8_t buf[1 << 20];
	char path[4096];
	size_t n = 0;
	while (fgets(path, sizeof path, l) != NULL) {
		path[strcspn(path, "\n")] = '\0';
		FILE *f = fopen(path, "rb");
		if (f == NULL) {
			perror(path);
			exit(2);
		}
		size_t size = fread(buf, 1, sizeof buf, f);
		fclose(f);
		one(buf, size);
		n++;
	}
	fclose(l);
	fprintf(stderr, "fuzz: replayed %zu inputs from %s, no finding\n", n, list);
	exit(0);
}

/* A broken invariant is a finding: say which, then abort. */
#define fuzz_check(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
		fuzz_history_dump(); \
		abort(); \
	} \
} while (0)

/* Rights the harness makes for one input (any of them may be consumed by
 * the message): a receive right (any disposition may name it), a send
 * right to it under the same name, a send-once right, a dead name. */
struct fuzz_rights {
	mach_port_t victim;       /* receive + send */
	mach_port_t sonce_port;   /* receive; its send-once right is `sonce` */
	mach_port_t sonce;
	mach_port_t dead;
	mach_port_t table[FUZZ_NAMES];
	unsigned count;
	/* names the harness keeps, which a message may only copy or make
	 * rights from (never move: the harness needs them next time) */
	mach_port_t keep[4];
	unsigned nkeep;
};

static uint8_t *fuzz_scratch;       /* FUZZ_SCRATCH bytes, then a hole */
/* The names of an OOL ports array: the last 8 slots of the scratch, so a
 * count past them runs into the hole (never into the harness's own
 * variables, where the kernel would find names to move). */
#define fuzz_names_array ((mach_port_t *)(void *)(fuzz_scratch + FUZZ_SCRATCH) - 8)

static inline void fuzz_scratch_init(void)
{
	if (fuzz_scratch != NULL)
		return;
	/* scratch, then one page left unmapped for addresses that must fail */
	uint8_t *p = mmap(NULL, FUZZ_SCRATCH + 65536, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fuzz_check(p != MAP_FAILED);
	fuzz_check(munmap(p + FUZZ_SCRATCH, 65536) == 0);
	for (size_t i = 0; i < FUZZ_SCRATCH; i++)
		p[i] = (uint8_t)(i * 131u + 7u);
	fuzz_scratch = p;
}

static inline void fuzz_rights_make(struct fuzz_rights *r)
{
	mach_port_t task = mach_task_self();
	memset(r->table, 0, sizeof r->table);
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &r->victim) == KERN_SUCCESS);
	fuzz_check(mach_port_insert_right(task, r->victim, r->victim,
	        MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &r->sonce_port) == KERN_SUCCESS);
	mach_msg_type_name_t got;
	fuzz_check(mach_port_extract_right(task, r->sonce_port, MACH_MSG_TYPE_MAKE_SEND_ONCE,
	        &r->sonce, &got) == KERN_SUCCESS);
	fuzz_check(mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &r->dead) == KERN_SUCCESS);
	unsigned n = 0;
	r->table[n++] = MACH_PORT_NULL;
	r->table[n++] = MACH_PORT_DEAD;
	r->table[n++] = r->victim;
	r->table[n++] = r->sonce;
	r->table[n++] = r->dead;
	r->table[n++] = r->sonce_port;
	r->table[n++] = 0x12345u;           /* a name nobody holds */
	for (unsigned k = 0; k < r->nkeep && n < FUZZ_NAMES; k++)
		r->table[n++] = r->keep[k];
	r->count = n;
}

static inline int fuzz_is_kept(const struct fuzz_rights *r, mach_port_t name)
{
	for (unsigned k = 0; k < r->nkeep; k++)
		if (r->keep[k] == name)
			return 1;
	return 0;
}

static inline int fuzz_disp_moves(mach_msg_type_name_t disp)
{
	return disp == MACH_MSG_TYPE_MOVE_RECEIVE || disp == MACH_MSG_TYPE_MOVE_SEND ||
	       disp == MACH_MSG_TYPE_MOVE_SEND_ONCE;
}

/* A name for selector byte b, and a disposition that leaves kept names
 * alone (their moves go to the victim instead). */
static inline mach_port_t fuzz_name(struct fuzz_rights *r, uint32_t b,
        mach_msg_type_name_t *disp)
{
	mach_port_t name = (b & 0x80) && (b & 0x40) ? (mach_port_t)(b * 0x01010101u)
	                                            : r->table[b % r->count];
	if (disp != NULL && fuzz_is_kept(r, name) && fuzz_disp_moves(*disp))
		name = r->victim;
	return name;
}

/* Every OOL ports descriptor points at the one names array, so the guard
 * fuzz_name gave each slot (for the disposition of the descriptor that
 * wrote it) does not hold for another descriptor that reads the same slot
 * with a move, nor for slots a descriptor's count reaches but it did not
 * write. Once the message is complete, walk its descriptors as the kernel
 * will and give every slot a moving descriptor reads the same guard. */
static inline void fuzz_guard_ool_ports(struct fuzz_rights *r, const uint8_t *buf,
        mach_msg_size_t cap)
{
	const mach_msg_header_t *h = (const mach_msg_header_t *)(const void *)buf;
	if (!(h->msgh_bits & MACH_MSGH_BITS_COMPLEX) || cap < sizeof(mach_msg_base_t))
		return;
	uint32_t ndesc;
	memcpy(&ndesc, buf + sizeof *h, 4);
	size_t off = sizeof(mach_msg_base_t);
	for (uint32_t i = 0; i < ndesc && off + 12 <= cap; i++) {
		uint32_t type = buf[off + 11];
		if (type == MACH_MSG_PORT_DESCRIPTOR) {
			off += 12;
			continue;
		}
		if (type > MACH_MSG_OOL_VOLATILE_DESCRIPTOR || off + 16 > cap)
			break;            /* the kernel stops here too */
		if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t d;
			memcpy(&d, buf + off, sizeof d);
			if (d.address == (void *)fuzz_names_array && fuzz_disp_moves(d.disposition))
				for (uint32_t k = 0; k < d.count && k < 8; k++)
					if (fuzz_is_kept(r, fuzz_names_array[k]))
						fuzz_names_array[k] = r->victim;
		}
		off += 16;
	}
}

/* Builds a message in buf from the input; returns the send size. */
static inline mach_msg_size_t fuzz_build(struct fuzz_in *in, struct fuzz_rights *r,
        uint8_t *buf, mach_msg_size_t cap, mach_port_t dest,
        mach_msg_type_name_t dest_disp, mach_msg_id_t id_base, unsigned id_span)
{
	memset(buf, 0, cap);
	/* names an earlier input left here must not reach this one: each
	 * input is the whole story (its crash file reproduces alone) */
	memset(fuzz_names_array, 0, 8 * sizeof(mach_port_t));
	mach_msg_header_t *h = (mach_msg_header_t *)(void *)buf;
	uint32_t flags = fuzz_take(in, 1);
	mach_msg_type_name_t reply_disp = fuzz_take(in, 1) % 32;
	mach_port_t reply = fuzz_name(r, fuzz_take(in, 1), &reply_disp);
	uint32_t idsel = fuzz_take(in, 2);
	h->msgh_id = (flags & 1) ? (mach_msg_id_t)(idsel | fuzz_take(in, 2) << 16)
	                         : id_base + (mach_msg_id_t)(idsel % id_span);
	h->msgh_remote_port = dest;
	h->msgh_local_port = reply;
	h->msgh_bits = MACH_MSGH_BITS(dest_disp, reply_disp);
	if (flags & 2)
		h->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
	if (flags & 4)   /* stray bits in the header */
		h->msgh_bits |= fuzz_take(in, 4) & ~MACH_MSGH_BITS_PORTS_MASK & ~MACH_MSGH_BITS_COMPLEX;

	size_t off = sizeof *h;
	uint32_t ndesc = 0, built = 0;
	size_t desc_end = 0;
	if (h->msgh_bits & MACH_MSGH_BITS_COMPLEX) {
		ndesc = fuzz_take(in, 1);
		if (!(flags & 8))
			ndesc %= 5;           /* mostly a plausible count */
		memcpy(buf + off, &ndesc, 4);
		off += 4;
		for (uint32_t i = 0; i < ndesc && i < 8 && off + 16 <= cap; i++, built++) {
			uint32_t type = fuzz_take(in, 1) % 5;
			uint32_t disp = fuzz_take(in, 1) % 32;
			uint32_t sel = fuzz_take(in, 1);
			if (type == MACH_MSG_PORT_DESCRIPTOR) {
				mach_msg_port_descriptor_t d;
				memset(&d, 0, sizeof d);
				d.name = fuzz_name(r, sel, &disp);
				d.disposition = disp;
				d.type = type;
				memcpy(buf + off, &d, sizeof d);
				off += sizeof d;
			} else if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
				mach_msg_ool_ports_descriptor_t d;
				memset(&d, 0, sizeof d);
				uint32_t count = fuzz_take(in, 1) % 9;
				for (uint32_t k = 0; k < count; k++)
					fuzz_names_array[k] = fuzz_name(r, fuzz_take(in, 1), &disp);
				d.address = (sel & 1) ? (void *)(fuzz_scratch + FUZZ_SCRATCH)
				                      : (void *)fuzz_names_array;
				d.count = (sel & 2) ? count + fuzz_take(in, 2) : count;
				d.deallocate = 0;
				d.copy = fuzz_take(in, 1) % 4;
				d.disposition = disp;
				d.type = type;
				memcpy(buf + off, &d, sizeof d);
				off += sizeof d;
			} else {
				/* OOL (and the volatile kind, and unknown types) */
				mach_msg_ool_descriptor_t d;
				memset(&d, 0, sizeof d);
				uint32_t start = fuzz_take(in, 2) % FUZZ_SCRATCH;
				uint32_t size = fuzz_take(in, 3);
				if (!(sel & 1))
					size %= FUZZ_SCRATCH - start + 1;
				if (sel & 2)
					start &= ~4095u;
				d.address = (sel & 4) ? (void *)(fuzz_scratch + FUZZ_SCRATCH)
				                      : (sel & 8) ? NULL : (void *)(fuzz_scratch + start);
				d.size = size;
				d.deallocate = 0;
				d.copy = fuzz_take(in, 1) % 4;
				/* type 4: a type no descriptor has (the kernel stops
				 * there); a real type must have its own layout, or
				 * the kernel would read names out of these bytes */
				d.type = type == 4 ? 4 + fuzz_take(in, 1) % 252 : type;
				memcpy(buf + off, &d, sizeof d);
				off += sizeof d;
			}
		}
	}
	desc_end = off;
	/* the rest of the input is the body */
	size_t body = in->left;
	if (body > cap - off)
		body = cap - off;
	memcpy(buf + off, in->p, body);
	in->p += body;
	in->left -= body;
	off += body;
	/* Descriptors past the ones built come from the body bytes: give
	 * them the same treatment (names from the table, addresses in the
	 * scratch, no deallocation), walking as the kernel will. */
	for (uint32_t i = built; i < ndesc && desc_end + 12 <= cap; i++) {
		uint8_t *d = buf + desc_end;
		uint32_t type = d[11];
		if (type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_type_name_t disp = d[10];
			mach_port_t name = fuzz_name(r, d[0], &disp);
			memcpy(d, &name, 4);
			desc_end += 12;
		} else if (type <= MACH_MSG_OOL_VOLATILE_DESCRIPTOR && desc_end + 16 <= cap) {
			uintptr_t addr;
			memcpy(&addr, d, 8);
			if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
				mach_msg_type_name_t disp = d[10];
				for (uint32_t k = 0; k < 8; k++)
					fuzz_names_array[k] = fuzz_name(r, (uint32_t)(addr >> (k * 8)), &disp);
				addr = (uintptr_t)fuzz_names_array;
			} else {
				addr = (uintptr_t)fuzz_scratch + addr % FUZZ_SCRATCH;
			}
			memcpy(d, &addr, 8);
			d[8] = 0;     /* never deallocate the harness's memory */
			desc_end += 16;
		} else {
			break;        /* the kernel stops here too */
		}
	}
	fuzz_guard_ool_ports(r, buf, cap);
	mach_msg_size_t size = (mach_msg_size_t)off;
	if (flags & 16)
		size = (size + 3u) & ~3u;
	h->msgh_size = size;
	if (flags & 32) {
		/* a size that disagrees with the buffer */
		h->msgh_size = (mach_msg_size_t)(fuzz_take(in, 2));
	}
	return size <= cap ? size : cap;
}

/* ---- the name space, before and after ---- */

struct fuzz_name_state {
	mach_port_t name;
	mach_port_type_t type;
	mach_port_urefs_t srefs;
};

static inline void fuzz_names_take(struct fuzz_name_state *s, unsigned *n, unsigned cap,
        mach_port_name_t **names_out, mach_msg_type_number_t *count_out)
{
	mach_port_name_t *names = NULL;
	mach_port_type_t *types = NULL;
	mach_msg_type_number_t nn = 0, nt = 0;
	fuzz_check(mach_port_names(mach_task_self(), &names, &nn, &types, &nt) == KERN_SUCCESS);
	*n = 0;
	for (mach_msg_type_number_t i = 0; i < nn && s != NULL && *n < cap; i++) {
		s[*n].name = names[i];
		s[*n].type = types[i];
		s[*n].srefs = 0;
		if (types[i] & MACH_PORT_TYPE_SEND)
			(void)mach_port_get_refs(mach_task_self(), names[i], MACH_PORT_RIGHT_SEND,
			        &s[*n].srefs);
		(*n)++;
	}
	if (names_out != NULL) {
		*names_out = names;
		*count_out = nn;
	} else if (nn) {
		vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)names, nn * sizeof *names);
	}
	if (nn)
		vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)types, nt * sizeof *types);
}

/* Destroys every name not in base (what the input made or received);
 * then the names in base must be as they were. */
static inline void fuzz_names_restore(const struct fuzz_name_state *base, unsigned nbase,
        int check)
{
	mach_port_name_t *names;
	mach_msg_type_number_t nn;
	unsigned dummy;
	fuzz_names_take(NULL, &dummy, 0, &names, &nn);
	for (mach_msg_type_number_t i = 0; i < nn; i++) {
		int known = 0;
		for (unsigned k = 0; k < nbase && !known; k++)
			known = base[k].name == names[i];
		if (!known)
			(void)mach_port_destroy(mach_task_self(), names[i]);
	}
	if (nn)
		vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)names, nn * sizeof *names);
	for (unsigned k = 0; k < nbase && check; k++) {
		mach_port_type_t t = 0;
		kern_return_t kr = mach_port_type(mach_task_self(), base[k].name, &t);
		if (kr != KERN_SUCCESS || t != base[k].type)
			fprintf(stderr, "name 0x%x: type 0x%x, was 0x%x (kr %d)\n", base[k].name,
			        t, base[k].type, kr);
		fuzz_check(kr == KERN_SUCCESS);
		fuzz_check(t == base[k].type);
		if (t & MACH_PORT_TYPE_SEND) {
			mach_port_urefs_t r = 0;
			fuzz_check(mach_port_get_refs(mach_task_self(), base[k].name,
			        MACH_PORT_RIGHT_SEND, &r) == KERN_SUCCESS);
			if (r != base[k].srefs)
				fprintf(stderr, "name 0x%x: %u send refs, was %u\n", base[k].name, r,
				        base[k].srefs);
			fuzz_check(r == base[k].srefs);
		}
	}
}

/* Receives and destroys whatever is queued on port. */
static inline void fuzz_drain(mach_port_t port)
{
	static union { mach_msg_header_t h; uint8_t b[FUZZ_MSG_MAX * 2]; } rb;
	for (int i = 0; i < 64; i++) {
		mach_msg_return_t mr = mach_msg(&rb.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_LARGE,
		        0, sizeof rb, port, 0, MACH_PORT_NULL);
		if (mr == MACH_RCV_TOO_LARGE) {
			/* too large for the buffer: take it without the body */
			mr = mach_msg(&rb.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof rb.h, port,
			        0, MACH_PORT_NULL);
			continue;
		}
		if (mr != MACH_MSG_SUCCESS)
			return;
		mach_msg_destroy(&rb.h);
	}
}

#endif
