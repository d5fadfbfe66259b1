/* Soak (issue 15.5): worker threads do random writes, reads, vm_msyncs
 * and lock_requests (return, flush, write and read locks, unlocked by the
 * manager on data_unlock) on several objects through a small resident
 * limit (pageout all the time), while objects are unmapped and mapped
 * again and their managers restarted (a new object port over the same
 * store). Every thread owns some pages of each object and keeps what it
 * wrote; every read checks the whole page, and at the end every byte of
 * every object is checked, mapped and in the manager's store.
 *
 *   test_emmi_soak [SECONDS]    (or MEMOBJ_SOAK_SECONDS; default 5)
 *   MEMOBJ_SOAK_SEED=N          repeat a run's random choices
 *
 * A run that stops making progress for 60 s fails (a hang).
 *
 * A mismatch is reported in full for the first few: every differing byte
 * with what the model and the manager's store hold there, and which of
 * this thread's recent writes to the page the wrong bytes undo (a lost
 * write shows as the bytes that write replaced). Each thread's choices
 * depend only on the seed, so "thread T iteration N" names the same
 * operation in a rerun or an offline replay. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

#define NOBJ 3
#define NPAGES 64
#define NTHREADS 4

static vm_size_t ps;
static volatile int stop;
static long long deadline_ms;
static unsigned long long seed;

enum { OP_WRITE, OP_READ, OP_MSYNC, OP_LOCK, OP_REMAP, OP_RESTART, NOPS };
static const char *op_names[NOPS] = { "writes", "page checks", "msyncs",
        "lock_requests", "unmap+map", "manager restarts" };
static atomic_ullong op_count[NOPS];
static atomic_ullong progress;
static atomic_int mismatches;

/* The last writes to each page, kept by the thread that owns the page. */
#define HIST 16
struct write_op {
	unsigned long long iter;        /* the owner's iteration number */
	long long ms;
	int n;
	uint32_t off[8];
	uint8_t old[8], val[8];
};
struct page_hist {
	struct write_op w[HIST];
	unsigned next;                  /* ring position */
	unsigned long long checked_iter; /* last check that passed */
	long long checked_ms;
};

struct slot {
	pthread_rwlock_t rw;            /* read: use the mapping; write: remap */
	struct cm *m;
	vm_address_t base;
	uint8_t *model;                 /* what each page must hold */
	int inits;                      /* inits seen so far (for the wait) */
	struct page_hist hist[NPAGES];
	atomic_llong remapped_ms;       /* last unmap+map or restart */
};
static struct slot slots[NOBJ];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* xorshift64*, high half: the low bits of plain xorshift64 outputs are
 * linked from one call to the next, so a written byte's low bits followed
 * from its offset and a stale byte often differed from the right one in
 * a single bit. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (*s * 0x2545f4914f6cdd1dull) >> 32;
}


/* The manager grants every unlock (after a lock_request locked). */
static void grant_unlock(struct cm *m, const struct cm_event *e)
{
	pthread_mutex_lock(&m->lock);
	mach_port_t c = m->control;
	pthread_mutex_unlock(&m->lock);
	memory_object_lock_request(c, e->offset, e->length,
	        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL);
}

static struct cm *manager_start(const uint8_t *store)
{
	struct cm *m = cm_start(NPAGES * ps);
	REQUIRE(m != NULL);
	if (store)
		memcpy(m->store, store, NPAGES * ps);
	m->on_unlock = grant_unlock;
	return m;
}

/* Maps slot s and waits for its init (slot write-locked). */
static void slot_map(struct slot *s)
{
	s->base = cm_map(s->m, FALSE);
	REQUIRE(s->base != 0);
	s->inits++;
	REQUIRE(cm_wait(s->m, CM_INIT, s->inits, NULL) >= 0);
}

/* Unmaps slot s and waits for the terminate: every dirty page is in the
 * store then (slot write-locked). The event log starts afresh. */
static void slot_unmap(struct slot *s)
{
	int before = cm_count(s->m, CM_TERMINATE);
	REQUIRE(vm_deallocate(mach_task_self(), s->base, NPAGES * ps) == KERN_SUCCESS);
	REQUIRE(cm_wait(s->m, CM_TERMINATE, before + 1, NULL) >= 0);
	s->base = 0;
	pthread_mutex_lock(&s->m->lock);
	s->m->nev = 0;
	pthread_mutex_unlock(&s->m->lock);
	s->inits = 0;
}

/* Compares n bytes; on a difference prints how many differ and the first
 * few (got, wanted, their XOR). */
static int check_bytes(const uint8_t *got, const uint8_t *want, vm_size_t n,
        const char *where, int obj, vm_offset_t off)
{
	if (memcmp(got, want, n) == 0)
		return 0;
	vm_size_t count = 0;
	for (vm_size_t i = 0; i < n; i++)
		count += got[i] != want[i];
	fprintf(stderr, "soak: %s: object %d: %zu bytes differ (seed %llu)\n",
	        where, obj, (size_t)count, seed);
	int shown = 0;
	for (vm_size_t i = 0; i < n && shown < 8; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "soak:   offset 0x%lx holds 0x%02x, wrote 0x%02x "
			        "(xor 0x%02x)\n", (unsigned long)(off + i), got[i], want[i],
			        got[i] ^ want[i]);
			shown++;
		}
	atomic_fetch_add(&mismatches, 1);
	return 1;
}

enum { DETAILED_REPORTS = 5 };
static atomic_int reports;

/* A page check failed (slot read-locked): says where the wrong bytes are,
 * what the store holds there, and which recent write of this thread they
 * undo. Later failures get one line each, up to a bound. */
static void report_page(struct slot *s, int oi, int t, vm_offset_t pg,
        const uint8_t *got, unsigned long long iter)
{
	const uint8_t *want = s->model + pg * ps;
	struct page_hist *h = &s->hist[pg];
	int nth = atomic_fetch_add(&reports, 1);
	atomic_fetch_add(&mismatches, 1);
	vm_size_t first = 0, count = 0;
	for (vm_size_t i = ps; i-- > 0;)
		if (got[i] != want[i]) {
			first = i;
			count++;
		}
	long long now = now_ms();
	if (nth >= DETAILED_REPORTS) {
		if (nth < 200)
			fprintf(stderr, "soak: mapped page: object %d offset 0x%lx holds "
			        "0x%02x, wrote 0x%02x (%zu bytes differ; thread %d "
			        "iteration %llu)\n", oi, (unsigned long)(pg * ps + first),
			        got[first], want[first], (size_t)count, t, iter);
		return;
	}
	fprintf(stderr, "soak: mapped page: object %d page %lu: %zu bytes differ "
	        "(seed %llu, thread %d iteration %llu; last good check %lld ms ago "
	        "at iteration %llu; last unmap+map of the object %lld ms ago)\n",
	        oi, (unsigned long)pg, (size_t)count, seed, t, iter,
	        now - h->checked_ms, h->checked_iter,
	        now - atomic_load(&s->remapped_ms));
	/* A second look (before the store's lock: reading the page may
	 * fault, and the manager needs that lock to answer). */
	enum { SHOWN = 16 };
	vm_size_t at[SHOWN];
	uint8_t again[SHOWN], stored[SHOWN];
	int shown = 0;
	for (vm_size_t i = 0; i < ps && shown < SHOWN; i++)
		if (got[i] != want[i]) {
			at[shown] = i;
			again[shown++] = ((volatile uint8_t *)(s->base + pg * ps))[i];
		}
	pthread_mutex_lock(&s->m->lock);
	for (int k = 0; k < shown; k++)
		stored[k] = s->m->store[pg * ps + at[k]];
	pthread_mutex_unlock(&s->m->lock);
	for (int k = 0; k < shown; k++) {
		vm_size_t i = at[k];
		/* The newest write that put want[i] there, and what it replaced. */
		const char *undone = "no recent write";
		char why[96] = "";
		for (unsigned b = 0; b < HIST; b++) {
			const struct write_op *w = &h->w[(h->next + HIST - 1 - b) % HIST];
			int hit = -1;
			for (int j = w->n - 1; j >= 0 && hit < 0; j--)
				if (w->off[j] == i)
					hit = j;
			if (hit < 0)
				continue;
			snprintf(why, sizeof why, " write at iteration %llu, %lld ms ago, "
			         "replaced 0x%02x", w->iter, now - w->ms, w->old[hit]);
			undone = got[i] == w->old[hit] ? "undoes the" : "not undoing the";
			break;
		}
		fprintf(stderr, "soak:   offset 0x%lx holds 0x%02x (again: 0x%02x), "
		        "wrote 0x%02x, xor 0x%02x, store 0x%02x; %s%s\n",
		        (unsigned long)(pg * ps + i), got[i], again[k], want[i],
		        got[i] ^ want[i], stored[k], undone, why);
	}
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t r = seed * 2654435761u + (uint64_t)t * 0x9e3779b97f4a7c15ull + 1;
	uint8_t *buf = malloc(ps);
	for (unsigned long long iter = 0; !stop; iter++) {
		int oi = (int)(rnd(&r) % NOBJ);
		struct slot *s = &slots[oi];
		/* A page this thread owns. */
		vm_offset_t pg = (rnd(&r) % (NPAGES / NTHREADS)) * NTHREADS + (vm_offset_t)t;
		unsigned pick = (unsigned)(rnd(&r) % 1000);
		int op = pick < 450 ? OP_WRITE : pick < 800 ? OP_READ :
		         pick < 880 ? OP_MSYNC : pick < 985 ? OP_LOCK :
		         pick < 998 ? OP_REMAP : OP_RESTART;
		if (op == OP_REMAP || op == OP_RESTART) {
			pthread_rwlock_wrlock(&s->rw);
			slot_unmap(s);
			if (op == OP_RESTART) {
				/* The old manager goes; a new one serves the store. */
				uint8_t *store = malloc(NPAGES * ps);
				pthread_mutex_lock(&s->m->lock);
				memcpy(store, s->m->store, NPAGES * ps);
				pthread_mutex_unlock(&s->m->lock);
				cm_stop(s->m);
				s->m = manager_start(store);
				free(store);
			}
			slot_map(s);
			atomic_store(&s->remapped_ms, now_ms());
			pthread_rwlock_unlock(&s->rw);
		} else {
			pthread_rwlock_rdlock(&s->rw);
			volatile uint8_t *page = (volatile uint8_t *)(s->base + pg * ps);
			uint8_t *model = s->model + pg * ps;
			switch (op) {
			case OP_WRITE: {
				int n = 1 + (int)(rnd(&r) % 8);
				struct page_hist *h = &s->hist[pg];
				struct write_op *w = &h->w[h->next++ % HIST];
				w->iter = iter;
				w->ms = now_ms();
				w->n = n;
				for (int i = 0; i < n; i++) {
					vm_offset_t o = rnd(&r) % ps;
					uint8_t v = (uint8_t)rnd(&r);
					w->off[i] = (uint32_t)o;
					w->old[i] = model[o];
					w->val[i] = v;
					page[o] = v;
					model[o] = v;
				}
				break;
			}
			case OP_READ:
				for (vm_size_t i = 0; i < ps; i++)
					buf[i] = page[i];
				if (memcmp(buf, model, ps) != 0) {
					report_page(s, oi, t, pg, buf, iter);
				} else {
					s->hist[pg].checked_iter = iter;
					s->hist[pg].checked_ms = now_ms();
				}
				break;
			case OP_MSYNC: {
				vm_offset_t first = rnd(&r) % NPAGES;
				vm_size_t n = 1 + rnd(&r) % (NPAGES - first);
				kern_return_t kr = vm_msync(mach_task_self(),
				        s->base + first * ps, n * ps,
				        (rnd(&r) & 1) ? VM_SYNC_SYNCHRONOUS
				                      : VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE);
				if (kr != KERN_SUCCESS) {
					fprintf(stderr, "soak: vm_msync: 0x%x\n", kr);
					atomic_fetch_add(&mismatches, 1);
				}
				break;
			}
			case OP_LOCK: {
				static const vm_prot_t locks[] = { VM_PROT_NO_CHANGE,
				        VM_PROT_NONE, VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE };
				static const memory_object_return_t rets[] = {
				        MEMORY_OBJECT_RETURN_NONE, MEMORY_OBJECT_RETURN_DIRTY,
				        MEMORY_OBJECT_RETURN_ALL };
				vm_offset_t first = rnd(&r) % NPAGES;
				vm_size_t n = 1 + rnd(&r) % (NPAGES - first);
				pthread_mutex_lock(&s->m->lock);
				mach_port_t c = s->m->control;
				pthread_mutex_unlock(&s->m->lock);
				boolean_t flush = (rnd(&r) % 4) == 0;
				memory_object_return_t ret = rets[rnd(&r) % 3];
				/* A flush must not drop what is dirty. */
				if (flush && ret == MEMORY_OBJECT_RETURN_NONE)
					ret = MEMORY_OBJECT_RETURN_DIRTY;
				kern_return_t kr = memory_object_lock_request(c, first * ps,
				        n * ps, ret, flush, locks[rnd(&r) % 4], MACH_PORT_NULL);
				if (kr != KERN_SUCCESS) {
					fprintf(stderr, "soak: lock_request: 0x%x\n", kr);
					atomic_fetch_add(&mismatches, 1);
				}
				break;
			}
			}
			pthread_rwlock_unlock(&s->rw);
		}
		atomic_fetch_add(&op_count[op], 1);
		atomic_fetch_add(&progress, 1);
		if (now_ms() > deadline_ms)
			stop = 1;
	}
	free(buf);
	return NULL;
}

TEST(soak)
{
	for (int i = 0; i < NOBJ; i++) {
		pthread_rwlock_init(&slots[i].rw, NULL);
		slots[i].m = manager_start(NULL);
		slots[i].model = malloc(NPAGES * ps);
		memcpy(slots[i].model, slots[i].m->store, NPAGES * ps);
		slot_map(&slots[i]);
	}
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++)
		REQUIRE(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) == 0);
	/* Watch for a hang: progress must move within a minute. */
	unsigned long long last = 0;
	long long last_ms = now_ms();
	while (!stop) {
		struct timespec ts = { 0, 200 * 1000000L };
		nanosleep(&ts, NULL);   /* a watchdog's pace, not synchronisation */
		unsigned long long p = atomic_load(&progress);
		if (p != last) {
			last = p;
			last_ms = now_ms();
		} else if (now_ms() - last_ms > 60000) {
			fprintf(stderr, "soak: no progress for 60 s: hung (seed %llu)\n", seed);
			_exit(1);
		}
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	/* Every byte: mapped, then in the store after terminate. */
	uint8_t *buf = malloc(NPAGES * ps);
	for (int i = 0; i < NOBJ; i++) {
		struct slot *s = &slots[i];
		for (vm_size_t b = 0; b < NPAGES * ps; b++)
			buf[b] = ((volatile uint8_t *)s->base)[b];
		check_bytes(buf, s->model, NPAGES * ps, "final mapping", i, 0);
		slot_unmap(s);
		pthread_mutex_lock(&s->m->lock);
		check_bytes(s->m->store, s->model, NPAGES * ps, "manager's store", i, 0);
		pthread_mutex_unlock(&s->m->lock);
		cm_stop(s->m);
		free(s->model);
	}
	free(buf);
	CHECK_EQ(atomic_load(&mismatches), 0);
}

int main(int argc, char **argv)
{
	/* Pageout all the time: 64 KiB-page objects through a small cache. */
	setenv("MEMOBJ_RESIDENT_MAX", "256k", 0);
	double secs = 5;
	const char *env = getenv("MEMOBJ_SOAK_SECONDS");
	if (argc >= 2)
		secs = atof(argv[1]);
	else if (env)
		secs = atof(env);
	if (!(secs > 0))
		secs = 5;
	const char *s = getenv("MEMOBJ_SOAK_SEED");
	seed = s ? strtoull(s, NULL, 10) : (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
	alarm((unsigned)secs + 240);
	ps = cm_kernel_page_size();
	printf("soak: %.0f s, %d threads, %d objects of %d pages, seed %llu\n",
	       secs, NTHREADS, NOBJ, NPAGES, seed);
	long long t0 = now_ms();
	deadline_ms = t0 + (long long)(secs * 1000);
	RUN(soak);
	vm_statistics_data_t st;
	mach_msg_type_number_t n = HOST_VM_INFO_COUNT;
	memset(&st, 0, sizeof st);
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&st, &n);
	unsigned long long total = 0;
	for (int i = 0; i < NOPS; i++)
		total += op_count[i];
	printf("soak: %.1f s, %llu operations:", (now_ms() - t0) / 1000.0, total);
	for (int i = 0; i < NOPS; i++)
		printf(" %llu %s%s", (unsigned long long)op_count[i], op_names[i],
		       i + 1 < NOPS ? "," : "\n");
	printf("soak: kernel: %u faults, %u pageins, %u pageouts (pages returned), "
	       "%u reactivations; %d mismatches\n", st.faults, st.pageins,
	       st.pageouts, st.reactivations, atomic_load(&mismatches));
	return harness_done();
}
