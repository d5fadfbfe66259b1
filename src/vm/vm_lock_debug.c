/* The lock-checking build (MEMOBJ_DEBUG_LOCKS, vm_lock_order.h): each
 * thread records the VM locks it holds, so that a function can assert
 * what its comment says. Compiled to nothing otherwise. */
#include "vm/vm_lock_order.h"

#ifdef MEMOBJ_DEBUG_LOCKS

#include <stdio.h>
#include <stdlib.h>

/* The real calls: the wrappers' own names are macros in this file too. */
#undef pthread_mutex_lock
#undef pthread_mutex_trylock
#undef pthread_mutex_unlock

/* More than the deepest nesting the lock order allows (six levels and a
 * leaf), with room for the wrappers of other files. */
enum { HELD_MAX = 32 };
static _Thread_local const void *held[HELD_MAX];
static _Thread_local unsigned nheld;

void vm_debug_lock_failed(const char *what, const char *file, int line)
{
	fprintf(stderr, "memobj: lock check failed at %s:%d: %s\n", file, line,
	        what);
	abort();
}

void vm_debug_lock_acquired(const void *lock)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i] == lock)
			vm_debug_lock_failed("taken twice by one thread", __FILE__,
			                     __LINE__);
	if (nheld == HELD_MAX)
		vm_debug_lock_failed("too many locks held", __FILE__, __LINE__);
	held[nheld++] = lock;
}

void vm_debug_lock_released(const void *lock)
{
	for (unsigned i = nheld; i-- > 0;)
		if (held[i] == lock) {
			held[i] = held[--nheld];
			return;
		}
	vm_debug_lock_failed("released, not held", __FILE__, __LINE__);
}

bool vm_debug_lock_held(const void *lock)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i] == lock)
			return true;
	return false;
}

unsigned vm_debug_locks_held(void)
{
	return nheld;
}

int vm_debug_mutex_lock(pthread_mutex_t *m)
{
	if (vm_debug_lock_held(m))
		vm_debug_lock_failed("self-deadlock: lock taken again", __FILE__,
		                     __LINE__);
	int err = pthread_mutex_lock(m);
	if (err == 0)
		vm_debug_lock_acquired(m);
	return err;
}

int vm_debug_mutex_trylock(pthread_mutex_t *m)
{
	int err = pthread_mutex_trylock(m);
	if (err == 0)
		vm_debug_lock_acquired(m);
	return err;
}

int vm_debug_mutex_unlock(pthread_mutex_t *m)
{
	vm_debug_lock_released(m);
	return pthread_mutex_unlock(m);
}

#else

/* ISO C wants a translation unit to declare something. */
typedef int vm_lock_debug_unused;

#endif
