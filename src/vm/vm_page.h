/* The page states of one object's cache, in kernel pages. A page that is
 * not in the table is absent. */
#ifndef MEMOBJ_VM_PAGE_H
#define MEMOBJ_VM_PAGE_H

#include <stdint.h>
#include <sys/types.h>
#include <mach/mach.h>

enum vm_page_state {
	VM_PAGE_REQUESTED = 1,   /* asked of the manager (or queued until ready) */
	VM_PAGE_RESIDENT  = 2,   /* in the memfd */
};

/* A thread blocked on a page: woken on install, signalled on error. */
typedef struct vm_waiter {
	pid_t     tid;
	uintptr_t address;       /* its exact faulting address */
	uint64_t  since;         /* when it began to wait (vm_stat_now) */
} vm_waiter_t;

typedef struct vm_page {
	uint64_t  index;         /* offset / page size */
	uint8_t   state;         /* enum vm_page_state */
	uint8_t   lock_value;    /* vm_prot_t withheld (resident pages) */
	uint8_t   precious;
	uint8_t   dirty;
	uint8_t   want_write;    /* requested for a write fault */
	uint8_t   unlock_asked;  /* access bits data_unlock already asked for */
	uint8_t   referenced;    /* faulted on since installed (second chance) */
	uint8_t   stall_warned;  /* this wait was reported (vm_stall.c) */
	uint32_t  stamp;         /* install stamp: pageout queue entries match it */
	uint32_t  nwaiters;
	vm_waiter_t first;       /* waiters[0]; the rest in `more` */
	vm_waiter_t *more;
	uint32_t  more_cap;      /* (the page's wait began at first.since) */
} vm_page_t;

/* Open-addressing hash table (linear probing, backward-shift delete). */
typedef struct vm_page_table {
	vm_page_t *slots;
	uint8_t   *used;
	size_t     capacity;     /* power of two */
	size_t     count;
} vm_page_table_t;

void vm_page_table_init(vm_page_table_t *t);
void vm_page_table_free(vm_page_table_t *t);
vm_page_t *vm_page_lookup(vm_page_table_t *t, uint64_t index);
/* Inserts an absent page in `state`; NULL when out of memory. The pointer
 * is valid until the next insert or remove. */
vm_page_t *vm_page_insert(vm_page_table_t *t, uint64_t index, uint8_t state);
/* Makes the page absent again (its waiters must have been taken). */
void vm_page_remove(vm_page_table_t *t, uint64_t index);

/* Adds a waiter unless that thread is already waiting. 0 or -ENOMEM.
 * The first waiter's `since` is the page's wait clock: the fault-wait
 * histogram and the stall watchdog read the same one. */
int vm_page_add_waiter(vm_page_t *p, pid_t tid, uintptr_t address);
/* Moves the page's waiters to the end of *out (grown as needed); 0/-ENOMEM
 * (on failure the waiters stay on the page). */
typedef struct vm_waiter_list {
	vm_waiter_t *items;
	size_t count, cap;
} vm_waiter_list_t;
int vm_page_take_waiters(vm_page_t *p, vm_waiter_list_t *out);
void vm_waiter_list_free(vm_waiter_list_t *l);

/* Calls fn for every page (no insert/remove inside). */
void vm_page_foreach(vm_page_table_t *t, void (*fn)(vm_page_t *, void *),
        void *arg);

#endif
