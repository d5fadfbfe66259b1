/* The VM's locks, in the order a thread may take them (as OpenBSD writes
 * it at the top of uvm_fault.c). A thread holding a lock of this list
 * takes only locks further down; it may skip any.
 *
 *   1. balance_lock (vm_pageout.c): one evictor at a time. Taken with no
 *      other lock held; eviction then takes everything below it.
 *   2. the map lock (vm_map_lock_read/write, vm_map_entry.c): a
 *      read-write lock over the address map.
 *   3. the object table lock (table_lock, vm_object.c): lookups, and the
 *      order of one object's init and terminate.
 *   4. an object's lock (obj->lock): everything in struct vm_object but
 *      its ports. One object at a time: no thread holds two.
 *   5. that object's send lock (obj->send_lock): keeps the messages to
 *      the object in order (a data_request never overtakes the
 *      data_return of the same page, nor lock_completed its returns).
 *   6. the IPC mutex (ipc_lock, src/ipc), inside every IPC call, never
 *      held across a call back up: kobject handlers run after it is
 *      dropped (ipc_internal.h).
 *
 * Leaves: taken under any of the above, nothing taken under them:
 *   queue_lock (vm_pageout.c, the pageout ring), files_lock (vm_cache.c,
 *   the shared cache files), default_lock (vm_default_manager.c), the
 *   page pool's lock (src/os/os_page_pool.c; the IPC takes it too).
 *
 * The hand-off. A message must often leave in the order the object's
 * state changed, but never with obj->lock held (a send can run a kobject
 * handler, and a manager answering may need the object): the sender
 * takes send_lock before it drops obj->lock (vm_object_send_handoff), so
 * no other sender can come between, then sends under send_lock alone.
 *
 * Exceptions, each on purpose:
 *   - send_lock without obj->lock but under table_lock: the first init
 *     (vm_object_enter_mapping) and terminate, which must stay ordered
 *     with the object's other lifetimes.
 *   - A message to a memory object of another node runs the net layer's
 *     proxy handler in the sending thread, under send_lock: the net
 *     layer's locks come after send_lock (and before the IPC mutex).
 *   - The control port's handler runs in the manager's thread with none
 *     of these held (the manager called mach_msg from outside the
 *     kernel), and takes them from the top like any caller.
 *   - vm_msync waits on a condition variable with obj->lock, the only
 *     wait with a lock held; its waker takes obj->lock alone.
 *
 * With -DMEMOBJ_DEBUG_LOCKS=ON (CMake option) every mutex a VM file
 * takes is recorded per thread, and VM_ASSERT_LOCKED / _UNLOCKED /
 * VM_ASSERT_NO_LOCKS check what a function's comment says: "(obj
 * locked)", "send_lock held", "no lock held". A failed check prints the
 * place and aborts. Without the option they compile to nothing. */
#ifndef MEMOBJ_VM_LOCK_ORDER_H
#define MEMOBJ_VM_LOCK_ORDER_H

#include <pthread.h>
#include <stdbool.h>

#ifdef MEMOBJ_DEBUG_LOCKS

int vm_debug_mutex_lock(pthread_mutex_t *m);
int vm_debug_mutex_trylock(pthread_mutex_t *m);
int vm_debug_mutex_unlock(pthread_mutex_t *m);
/* The map lock's wrappers record it too (vm_map_entry.c). */
void vm_debug_lock_acquired(const void *lock);
void vm_debug_lock_released(const void *lock);
bool vm_debug_lock_held(const void *lock);
/* How many recorded locks the calling thread holds. */
unsigned vm_debug_locks_held(void);
void vm_debug_lock_failed(const char *what, const char *file, int line);

/* Every pthread mutex call in a file that includes this header goes
 * through the recording wrappers (vm_lock_debug.c). */
#define pthread_mutex_lock(m) vm_debug_mutex_lock(m)
#define pthread_mutex_trylock(m) vm_debug_mutex_trylock(m)
#define pthread_mutex_unlock(m) vm_debug_mutex_unlock(m)

#define VM_ASSERT_LOCKED(l) \
	((void)(vm_debug_lock_held(l) || \
	        (vm_debug_lock_failed("not held: " #l, __FILE__, __LINE__), 0)))
#define VM_ASSERT_UNLOCKED(l) \
	((void)(!vm_debug_lock_held(l) || \
	        (vm_debug_lock_failed("held: " #l, __FILE__, __LINE__), 0)))
#define VM_ASSERT_NO_LOCKS() \
	((void)(vm_debug_locks_held() == 0 || \
	        (vm_debug_lock_failed("a VM lock is held", __FILE__, __LINE__), 0)))

#else

#define VM_ASSERT_LOCKED(l) ((void)0)
#define VM_ASSERT_UNLOCKED(l) ((void)0)
#define VM_ASSERT_NO_LOCKS() ((void)0)

#endif

#endif
