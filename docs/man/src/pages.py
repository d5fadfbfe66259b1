SEQ='''Each routine has a
.B seqnos_
twin that takes the request's sequence number
.RB ( mach_port_seqno_t ,
counted per receive right from 0) right after the first argument, called by
.BR seqnos_memory_object_server ;
a manager with several threads uses it to restore the kernel's order.'''
REF='''Every message that carries the control port adds one user reference to
the manager's send right for it (references saturate at
.BR MACH_PORT_UREFS_MAX );
a manager keeps the one from
.B memory_object_init
and releases the others with
.BR mach_port_deallocate .'''
SRV_RET='''The manager returns
.B KERN_SUCCESS
to keep every right the request carried;
.B MIG_NO_REPLY
likewise; any other value makes
.B mach_msg_server
destroy the request's rights (for
.B memory_object_init
that releases the manager's send right to the control port). The weak
default the library supplies for a routine the manager does not define
returns
.BR KERN_FAILURE .'''

page('memory_object_init', ['memory_object_init','seqnos_memory_object_init'],
 'a kernel starts to use a memory object',
 '''Sent by a kernel the first time it maps
.I memory_object
(with
.BR vm_map (3)).
.I memory_control
is a new control port, one per object and kernel; the manager gets a send
right to it and uses it for the control calls
.RB ( memory_object_data_supply (3),
.BR memory_object_lock_request (3),
\\&...). With several kernels, the control port tells the manager which
kernel speaks.
.I memory_object_page_size
is that kernel's page size: every offset and length it sends is a multiple
of it.
.PP
The kernel does not wait for the manager, but faults on the object wait
until the manager calls
.BR memory_object_change_attributes (3)
on this control port (the object becomes
.IR ready ).
A new
.B memory_object_init
follows a
.BR memory_object_terminate (3)
when the object is mapped again, with a new control port.
.PP
'''+SEQ, SRV_RET,
 '''Each process is one kernel with its own page size
.RB ( MEMOBJ_PAGE_SIZE ,
see
.BR memobj (7)).
The manager's routine is called by its exact name (classic Mach link-time
binding) or through a table
.RB ( memory_object_server_routines ,
see
.BR memory_object_server (3)).''',
 ['memory_object_change_attributes.3','memory_object_terminate.3','memory_object_server.3','vm_map.3','memobj.7'])

page('memory_object_terminate', ['memory_object_terminate','seqnos_memory_object_terminate'],
 'a kernel is done with a memory object',
 '''Sent when the last mapping of the object in a kernel is gone (and the
object may not be cached), or after
.BR memory_object_destroy (3).
Before it, the kernel has returned every dirty (and precious) page with
.BR memory_object_data_return (3),
except for temporary objects and after destroy. The message moves the
kernel's send right for
.I memory_object
and the receive right of
.I memory_control
(with any messages still queued on it) to the manager, which destroys it
with
.BR mach_port_destroy (3)
when it is done.
.PP
'''+SEQ, SRV_RET, None,
 ['memory_object_init.3','memory_object_destroy.3','memory_object_data_return.3','mach_port_destroy.3'])

page('memory_object_data_request', ['memory_object_data_request','seqnos_memory_object_data_request'],
 'a kernel asks for data',
 '''A thread touched a page the kernel does not hold.
.I offset
(page aligned) and
.I length
(whole pages, at most the object's
.IR cluster_size )
give the range;
.I desired_access
is
.B VM_PROT_READ
or, for a write,
.BR "VM_PROT_READ | VM_PROT_WRITE" .
Concurrent faults on a page already requested wait for the same answer;
no duplicate request is sent. The manager answers with
.BR memory_object_data_supply (3),
.BR memory_object_data_unavailable (3)
(zero-filled pages) or
.BR memory_object_data_error (3)
(the waiting threads get
.BR SIGBUS ).
.PP
'''+REF+'''
.PP
'''+SEQ, SRV_RET,
 '''The request waits until the object is ready (see
.BR memory_object_init (3)).
A thread that waits longer than
.B MEMOBJ_STALL_WARN
seconds prints one line saying what it waits for. A system call that
touches a non-resident page fails with
.B EFAULT
instead of waiting (unprivileged userfaultfd serves user-mode faults only).''',
 ['memory_object_data_supply.3','memory_object_data_unavailable.3','memobj.7'])

page('memory_object_data_unlock', ['memory_object_data_unlock','seqnos_memory_object_data_unlock'],
 'a kernel asks for access the manager withheld',
 '''A thread needs access that the page's lock (the
.I lock_value
of
.BR memory_object_data_supply (3)
or
.BR memory_object_lock_request (3))
withholds.
.I desired_access
is the access the thread needs together with what is already asked for
the range (a write asks
.BR "VM_PROT_READ | VM_PROT_WRITE" ).
The thread waits until a
.BR memory_object_lock_request (3)
lifts the lock, or the page is flushed and supplied again; a lock request
that grants nothing still wakes it, and it asks again if it must.
.PP
'''+REF+'''
.PP
'''+SEQ, SRV_RET,
 '''No userfaultfd primitive withholds read before Linux 7.2: a read lock
zaps the mappings and catches the next fault.
.B VM_PROT_EXECUTE
in a lock is withheld together with read.''',
 ['memory_object_lock_request.3','memory_object_data_supply.3'])

page('memory_object_data_return', ['memory_object_data_return','seqnos_memory_object_data_return'],
 'a kernel gives pages back',
 '''Dirty (and precious) pages come back at pageout, for a
.BR memory_object_lock_request (3)
that asks for them, for
.BR vm_msync (3),
and before
.BR memory_object_terminate (3).
.I data
is memory the kernel moved into the manager's address space,
.I data_count
bytes at
.IR offset ;
the manager frees it with
.BR "vm_deallocate(mach_task_self(), data, data_count)" ,
whole or in parts, at once or later, never with
.BR munmap (2):
the kernel reuses the pages for later returns.
.I dirty
says the pages were modified;
.I kernel_copy
that the kernel kept a copy (the pages were not flushed).
.PP
A refault can follow at once: a manager must not read its backing store
for a page whose write-back is still in flight.
.PP
'''+REF+'''
.PP
'''+SEQ, SRV_RET,
 '''Pageout begins when a kernel holds more object pages than
.B MEMOBJ_RESIDENT_MAX
allows, first in first out with a second chance (userfaultfd reports no
accesses to mapped pages).''',
 ['memory_object_lock_request.3','vm_msync.3','vm_deallocate.3','memobj.7'])

page('memory_object_synchronize', ['memory_object_synchronize','seqnos_memory_object_synchronize'],
 'a kernel asks the manager to make a range durable',
 '''Sent by
.BR vm_msync (3)
after the range's dirty pages were returned.
.I sync_flags
are the caller's
.RB ( VM_SYNC_SYNCHRONOUS ,
.BR VM_SYNC_ASYNCHRONOUS ,
.BR VM_SYNC_INVALIDATE ).
The manager answers with
.BR memory_object_synchronize_completed (3)
for the same range once the data is safe; a synchronous
.B vm_msync
returns then.
.PP
'''+REF+'''
.PP
'''+SEQ, SRV_RET, None,
 ['memory_object_synchronize_completed.3','vm_msync.3'])

page('memory_object_lock_completed', ['memory_object_lock_completed','seqnos_memory_object_lock_completed',
  'memory_object_supply_completed','seqnos_memory_object_supply_completed',
  'memory_object_change_completed','seqnos_memory_object_change_completed'],
 'a kernel reports that a control call is done',
 '''Sent to the
.I reply_port
a control call named:
.B memory_object_lock_completed
after a
.BR memory_object_lock_request (3)
has acted on
.I offset
and
.I length
(after every
.BR memory_object_data_return (3)
it caused);
.B memory_object_supply_completed
after a
.BR memory_object_data_supply (3),
with
.I result
.B KERN_SUCCESS
or, at the first page refused,
.B KERN_MEMORY_PRESENT
(the page was resident) or
.B KERN_INVALID_ARGUMENT
(past the mapped object) and that page's offset in
.IR error_offset ;
.B memory_object_change_completed
after
.BR memory_object_change_attributes (3)
for
.IR flavor .
.PP
A manager must not wait for a completion on the same thread that serves
the port it arrives on: give the reply port another thread, or answer
asynchronously.
.PP
'''+SEQ, SRV_RET, None,
 ['memory_object_lock_request.3','memory_object_data_supply.3','memory_object_change_attributes.3'])

page('memory_object_create', ['memory_object_create','seqnos_memory_object_create',
  'memory_object_data_initialize','seqnos_memory_object_data_initialize'],
 'the kernel hands memory to the default pager',
 '''Sent to the default memory manager only (see
.BR host_default_memory_manager (3)).
.B memory_object_create
gives it a new object for memory from
.BR vm_allocate (3)
that the kernel must page out:
.I new_memory_object
(the receive right),
.I new_object_size
bytes,
.I new_control
(a send right to its control port; the object is ready at once) and the
kernel's page size.
.B memory_object_data_initialize
carries the first copy of each page (moved memory, as in
.BR memory_object_data_return (3)).
.PP
'''+SEQ, SRV_RET, None,
 ['host_default_memory_manager.3','memory_object_default_server.3','default_pager_object_create.3'])

page('memory_object_data_supply', ['memory_object_data_supply'],
 'a manager provides data',
 '''Installs the pages at
.I data
.RI ( data_count
bytes, whole pages) at
.I offset
of the object in the kernel behind
.IR memory_control .
Every page of the range that is absent is installed, requested or not (an
unrequested one is a prefetch); at the first page already resident the
call stops and that page and the rest are refused.
.I lock_value
is the access withheld from the pages
.RB ( VM_PROT_NONE :
none);
.I precious
pages go back to the manager even when clean;
.I deallocate
moves the memory out of the manager. Threads waiting on the pages run.
With a
.IR reply_port ,
.BR memory_object_supply_completed (3)
reports the outcome.''',
 '''.B KERN_SUCCESS
when the message was accepted;
.B MACH_SEND_INVALID_DEST
when
.I memory_control
is not a send right (or is dead);
.B KERN_INVALID_ARGUMENT
for a port that is not a control port or an offset that is not a multiple
of the kernel's page size;
.B MACH_SEND_INVALID_MEMORY
when
.I data
is not mapped;
.B MACH_SEND_INVALID_REPLY
when
.I reply_port
is not a right the caller holds. Pages refused later are reported to the
reply port.''',
 '''The control port is a kernel object: the call is handled in the
calling thread, no message is queued.
.I deallocate
still costs one copy (the kernel's cache is a memfd). Partial pages are
discarded.''',
 ['memory_object_data_request.3','memory_object_lock_completed.3','memory_object_data_unavailable.3'])

page('memory_object_data_unavailable', ['memory_object_data_unavailable','memory_object_data_error'],
 'a manager has no data, or cannot provide it',
 '''.B memory_object_data_unavailable
makes the absent pages of
.RI [ offset ,
.IR offset + size )
zero-filled pages.
.B memory_object_data_error
makes the threads waiting on them take a memory exception: each gets
.B SIGBUS
with
.I si_addr
the address it touched and
.I si_value.sival_int
the
.IR reason ;
the pages stay absent, so a retried access asks the manager again.''',
 '''.B KERN_SUCCESS
when accepted;
.B MACH_SEND_INVALID_DEST
or
.B KERN_INVALID_ARGUMENT
as for
.BR memory_object_data_supply (3).''',
 '''The
.B SIGBUS
carries
.I si_code
.B SI_QUEUE
rather than
.B BUS_ADRERR
(Linux lets a process queue a kernel code only to itself).''',
 ['memory_object_data_request.3','memory_object_data_supply.3'])

page('memory_object_lock_request', ['memory_object_lock_request'],
 'a manager controls the pages a kernel holds',
 '''Acts on the resident pages of
.RI [ offset ,
.IR offset + size )
in the kernel behind
.I memory_control
(pages still being paged in are skipped): returns them with
.BR memory_object_data_return (3)
as
.I should_return
asks
.RB ( MEMORY_OBJECT_RETURN_NONE ,
.BR _DIRTY ,
.BR _ALL ,
.BR _ANYTHING ),
flushes them when
.I should_flush
is true, applies
.I lock_value
(the access withheld;
.B VM_PROT_NO_CHANGE
keeps it), then sends
.BR memory_object_lock_completed (3)
to
.I reply_port
after every data_return it caused. Threads waiting for access are woken
even when nothing is granted. With several kernels this keeps them
coherent (single writer, many readers).''',
 '''.B KERN_SUCCESS
when accepted;
.B MACH_SEND_INVALID_DEST
or
.B KERN_INVALID_ARGUMENT
as for
.BR memory_object_data_supply (3).''',
 '''Do not wait for the completion on the thread that serves the object's
port: the data_return messages it causes arrive there first.''',
 ['memory_object_data_return.3','memory_object_lock_completed.3','memory_object_data_unlock.3'])

page('memory_object_change_attributes', ['memory_object_change_attributes','memory_object_get_attributes'],
 'set or read a memory object\'s attributes in a kernel',
 '''.I flavor
is
.B MEMORY_OBJECT_PERFORMANCE_INFO
.RB ( memory_object_perf_info :
.IR cluster_size ,
.IR may_cache_object ),
.B MEMORY_OBJECT_ATTRIBUTE_INFO
.RB ( memory_object_attr_info :
.IR copy_strategy ,
.IR cluster_size ,
.IR may_cache ,
.IR temporary )
,
.B MEMORY_OBJECT_BEHAVIOR_INFO
.RB ( memory_object_behave_info :
.IR copy_strategy ,
.IR temporary ,
.IR invalidate )
or, a memobj extension,
.B MEMORY_OBJECT_READAHEAD_INFO
.RB ( memory_object_readahead_info :
.IR max_window ;
.I requests
and
.I pages
read back only): a nonzero
.I max_window
opts in to read-ahead, data_requests for the clusters after a
sequential fault (1, 2, 4... clusters, each at most
.IR cluster_size ,
up to
.I max_window
bytes ahead; a fault elsewhere stops it); 0, the default, sends only
the requests faults make;
.I attributes_count
is the matching
.B *_COUNT
constant. The first
.B memory_object_change_attributes
on a control port makes the object ready: faults that waited are sent as
data_request. With a
.IR reply_port ,
.BR memory_object_change_completed (3)
follows.
.B memory_object_get_attributes
reads them back
.RI ( *attributes_count
in: room, out: used).''',
 '''.B KERN_SUCCESS;
.B KERN_INVALID_ARGUMENT
for a bad flavor, a short count or a port that is not a control port;
.B MACH_SEND_INVALID_DEST
for a name that is not a send right.''',
 '''.I may_cache
defaults to FALSE, as in the OSF kernel.
.I cluster_size
is rounded down to whole kernel pages; 0 means one page.
.I copy_strategy
is stored and reported, not acted on (see
.BR vm_map (3)).''',
 ['memory_object_init.3','memory_object_lock_completed.3'])

page('memory_object_synchronize_completed', ['memory_object_synchronize_completed'],
 'a manager says a range is durable',
 '''Answers a
.BR memory_object_synchronize (3)
for the same
.I offset
and
.IR length :
the
.BR vm_msync (3)
waiting on it returns.''',
 '''.B KERN_SUCCESS;
.B MACH_SEND_INVALID_DEST
or
.B KERN_INVALID_ARGUMENT
as for
.BR memory_object_data_supply (3).''', None,
 ['memory_object_synchronize.3','vm_msync.3'])

page('memobj_synchronize_failed', ['memobj_synchronize_failed'],
 'a manager says a range could not be made durable',
 '''Answers a
.BR memory_object_synchronize (3)
for the same
.I offset
and
.I length
with a failure: the
.BR vm_msync (3)
waiting on it returns
.I reason
instead of
.BR KERN_SUCCESS .
The kernel's pages are not affected (they went back with
.BR memory_object_data_return (3)
before the synchronize): keeping the data and writing it again is the
manager's business. Works through a net link's control proxy like every
control call.''',
 '''.B KERN_SUCCESS;
.B KERN_INVALID_ARGUMENT
when
.I reason
is
.BR KERN_SUCCESS ,
.I offset
is not page-aligned, or the port is live but not a control port;
.B MACH_SEND_INVALID_DEST
for a name that is not a send right.''',
 '''A memobj extension beyond OSF (message id 2108, counted as
.B synchronize_failed
by
.BR memobj_statistics (3)).
OSF has only
.BR memory_object_synchronize_completed (3),
so its
.B vm_msync
cannot report a write-back that failed.''',
 ['memory_object_synchronize_completed.3','vm_msync.3'])

page('memory_object_destroy', ['memory_object_destroy'],
 'a manager ends a kernel\'s use of an object',
 '''The kernel behind
.I memory_control
drops its pages of the object without returning them and sends
.BR memory_object_terminate (3).
Threads that touch the object afterwards take
.BR SIGBUS .''',
 '''.B KERN_SUCCESS;
.B MACH_SEND_INVALID_DEST
or
.B KERN_INVALID_ARGUMENT
as for
.BR memory_object_data_supply (3).''',
 '''.I reason
is not passed on (one kernel per process).''',
 ['memory_object_terminate.3'])

page('memory_object_server', ['memory_object_server','seqnos_memory_object_server',
  'memory_object_default_server','seqnos_memory_object_default_server','memory_object_server_routines'],
 'dispatch the kernel\'s messages to a manager\'s routines',
 '''The demux functions a manager gives
.BR mach_msg_server (3).
.B memory_object_server
calls the manager's routines by their Mach names
.RB ( memory_object_init ,
.BR memory_object_data_request ,
\\&...);
.B seqnos_memory_object_server
calls the
.B seqnos_
twins with the request's sequence number; the
.B _default_
variants also dispatch
.BR memory_object_create (3)
and
.BR memory_object_data_initialize .
The library supplies weak defaults that return
.BR KERN_FAILURE ,
so a manager defines only what it uses.
.B memory_object_server_routines
dispatches through a table of functions instead
.RB ( memory_object_routines_t ,
each taking the seqno), for several kinds of object in one process; a
NULL entry answers as the weak default would. Each returns TRUE when it
knew the message (the reply in
.I out
says what to do), FALSE for an unknown id.''',
 '''TRUE or FALSE, as above. A routine's return value is placed in the
reply's
.IR RetCode :
see
.BR mach_msg_server (3)
for what becomes of the request's rights.''',
 '''Message ids and layouts are memobj's own (subsystem numbers as in GNU
Mach); code generated by MIG from the OSF
.I .defs
is not binary compatible. Every received message carries a seqno trailer.''',
 ['mach_msg_server.3','memory_object_init.3','memory_object_create.3'])

page('mach_msg_server', ['mach_msg_server','mach_msg_server_once'],
 'receive requests and dispatch them',
 '''Receives a message on
.I rcv_name
(a receive right or a port set), passes it to
.I demux
with a reply buffer of
.I max_size
bytes, and sends the reply where the request had a reply port;
.B mach_msg_server
loops,
.B mach_msg_server_once
handles one message. A routine's
.B KERN_SUCCESS
keeps every right the request carried;
.B MIG_NO_REPLY
likewise and sends nothing; any other value destroys the request's rights.
An unknown id (demux returns FALSE) is answered
.B MIG_BAD_ID
where a reply port exists, otherwise the message is destroyed.
.I options
are added to the receive
.RB ( MACH_RCV_TIMEOUT ,
trailer requests).''',
 '''.B mach_msg_server
returns only on an error of the receive
.RB ( MACH_RCV_INVALID_NAME
or
.B MACH_RCV_PORT_DIED
when the port is destroyed,
.B MACH_RCV_TIMED_OUT
with a timeout);
.B mach_msg_server_once
returns
.B MACH_MSG_SUCCESS
after one message, or that error.''', None,
 ['memory_object_server.3','mach_msg.3'])

page('mach_msg', ['mach_msg','mach_msg_destroy'],
 'send and receive messages',
 '''.B mach_msg
sends
.I msg
.RB ( MACH_SEND_MSG ,
.I send_size
bytes) and/or receives into it
.RB ( MACH_RCV_MSG ,
at most
.I rcv_size
bytes, on
.IR rcv_name ).
Timeouts
.RB ( MACH_SEND_TIMEOUT ,
.BR MACH_RCV_TIMEOUT ,
.I timeout
in milliseconds),
.BR MACH_RCV_LARGE ,
complex messages with port and out-of-line descriptors, and the seqno
trailer work as in Mach. Rights and memory move between processes and
hosts as within one (see
.BR memobj_connect (3)).
.B mach_msg_destroy
releases the rights and out-of-line memory a received message holds.''',
 '''.B MACH_MSG_SUCCESS
or a
.B MACH_SEND_*
/
.B MACH_RCV_*
code as in Mach. A failed send changes nothing: the sender keeps every
right and its memory.''',
 '''.BR MACH_SEND_NOTIFY ,
.BR MACH_RCV_NOTIFY ,
the interrupt options and
.B MACH_RCV_OVERWRITE
are accepted and ignored; only a null voucher is accepted. A receive right
sent into a loop is refused with
.BR MACH_SEND_INVALID_RIGHT .
A non-NULL header pointer to unmapped memory crashes the caller.
.B mach_msg_destroy
leaves
.I msgh_local_port
alone. No
.BR fork (2)
after first use.''',
 ['mach_msg_server.3','mach_port_allocate.3'])

page('mach_port_allocate', ['mach_port_allocate','mach_port_allocate_name','mach_port_deallocate',
  'mach_port_destroy','mach_port_mod_refs','mach_port_get_refs'],
 'make ports and manage rights and their references',
 '''.B mach_port_allocate
makes a right of kind
.I right
.RB ( MACH_PORT_RIGHT_RECEIVE ,
.BR _PORT_SET ,
.BR _DEAD_NAME )
and returns its name;
.B mach_port_allocate_name
uses the given unused
.IR name .
.B mach_port_deallocate
releases one user reference of a send, send-once or dead-name right;
.B mach_port_destroy
releases every right the name denotes (a receive right's port dies, its
queued messages are destroyed).
.B mach_port_mod_refs
adds
.I delta
user references to
.I right
(a negative delta removes them);
.B mach_port_get_refs
reads them.
.I task
is
.BR mach_task_self() .''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_TASK
(not this task),
.B KERN_INVALID_NAME
(no such name),
.B KERN_INVALID_RIGHT
(the name does not hold that right),
.B KERN_INVALID_VALUE
(references would go below zero),
.B KERN_UREFS_OVERFLOW
(above
.BR MACH_PORT_UREFS_MAX ),
.B KERN_NAME_EXISTS
(allocate_name: in use),
.B KERN_RESOURCE_SHORTAGE
(no memory).''', None,
 ['mach_port_insert_right.3','mach_port_request_notification.3','mach_msg.3'])

page('mach_port_insert_right', ['mach_port_insert_right','mach_port_extract_right','mach_port_type','mach_port_names'],
 'move rights into and out of a name space, and look at it',
 '''.B mach_port_insert_right
gives
.I name
the right
.I poly
with disposition
.I poly_poly
.RB ( MACH_MSG_TYPE_MAKE_SEND ,
.BR _COPY_SEND ,
.BR _MOVE_SEND ,
\\&...), as a message would; the usual call makes a send right from a
receive right of the same name.
.B mach_port_extract_right
takes a right out, as a message would carry it.
.B mach_port_type
tells which rights a name holds
.RB ( MACH_PORT_TYPE_* ).
.B mach_port_names
lists every name and its type; the arrays arrive like out-of-line data:
free each with
.BR vm_deallocate (3).''',
 '''.BR KERN_SUCCESS ,
.BR KERN_INVALID_TASK ,
.BR KERN_INVALID_NAME ,
.BR KERN_INVALID_RIGHT ,
.B KERN_INVALID_VALUE
(a disposition that does not apply),
.B KERN_NAME_EXISTS
(insert: the name holds another port),
.BR KERN_UREFS_OVERFLOW ,
.BR KERN_RESOURCE_SHORTAGE .''', None,
 ['mach_port_allocate.3','mach_msg.3'])

page('mach_port_insert_member', ['mach_port_insert_member','mach_port_extract_member','mach_port_move_member','mach_port_get_set_status'],
 'port sets',
 '''A receive on a port set takes a message from any of its members.
.B mach_port_insert_member
adds the receive right
.I name
to the set
.IR pset ;
.B mach_port_extract_member
removes it;
.B mach_port_move_member
moves
.I member
into the set
.I after
(or out of any set with
.BR MACH_PORT_NULL ).
.B mach_port_get_set_status
lists the members (free the array with
.BR vm_deallocate (3)).''',
 '''.BR KERN_SUCCESS ,
.BR KERN_INVALID_NAME ,
.BR KERN_INVALID_RIGHT ,
.B KERN_ALREADY_IN_SET
(insert: the port is in a set already),
.B KERN_NOT_IN_SET
(extract).''',
 '''A port is in at most one set; receiving directly on a member answers
.BR MACH_RCV_IN_SET ,
as in Mach 3 and OSF.''',
 ['mach_msg.3','mach_port_allocate.3'])

page('mach_port_request_notification', ['mach_port_request_notification','notify_server',
  'do_mach_notify_dead_name','do_mach_notify_no_senders','do_mach_notify_port_deleted',
  'do_mach_notify_port_destroyed','do_mach_notify_send_once'],
 'ask for and handle port notifications',
 '''.B mach_port_request_notification
asks that a message
.I msgid
.RB ( MACH_NOTIFY_DEAD_NAME ,
.BR MACH_NOTIFY_NO_SENDERS
(with
.I sync
the make-send count),
.BR MACH_NOTIFY_PORT_DESTROYED )
go to
.I notify
(a send-once right made with
.IR notify_poly )
when the event happens to
.IR name ;
the previous request's right is returned in
.IR *previous .
.B notify_server
is the demux for the notifications; it calls the
.B do_mach_notify_*
routines, which the library defines weak (returning
.BR KERN_FAILURE )
for a program to override.''',
 '''.BR KERN_SUCCESS ,
.BR KERN_INVALID_NAME ,
.BR KERN_INVALID_RIGHT ,
.B KERN_INVALID_VALUE
(unknown msgid),
.B KERN_INVALID_CAPABILITY
(dead-name request on a name that is already dead: the notification is
sent at once in Mach; see below).
.B notify_server
returns TRUE for a notification it dispatched.''',
 '''A manager learns that a kernel died from a dead-name notification on
the kernel's control port; the data that kernel returned is kept.''',
 ['mach_port_allocate.3','memory_object_init.3'])

page('mach_port_set_seqno', ['mach_port_set_seqno','mach_port_set_mscount','mach_port_get_attributes','mach_port_set_attributes'],
 'a receive right\'s counters and attributes',
 '''.B mach_port_set_seqno
sets the sequence number the next received message gets;
.B mach_port_set_mscount
the make-send count.
.B mach_port_get_attributes
and
.B mach_port_set_attributes
read and change a flavor of attributes
.RB ( MACH_PORT_LIMITS_INFO :
the queue limit;
.BR MACH_PORT_RECEIVE_STATUS :
seqno, make-send count, queue length, send-once rights, whether senders
exist).''',
 '''.BR KERN_SUCCESS ,
.BR KERN_INVALID_NAME ,
.B KERN_INVALID_RIGHT
(not a receive right),
.B KERN_INVALID_VALUE
(unknown flavor or bad value),
.B KERN_FAILURE
(count too small).''', None,
 ['mach_port_allocate.3','memory_object_server.3'])

page('mach_task_self', ['mach_task_self','mach_host_self','mach_reply_port'],
 'the task, host and a reply port',
 '''.B mach_task_self
names this task (process); every call that takes a
.I task
takes it.
.B mach_host_self
names this host (for
.BR host_page_size (3),
.BR host_statistics (3),
.BR memobj_statistics (3)).
.B mach_reply_port
makes a new receive right for replies.''',
 '''The names (never
.BR MACH_PORT_NULL ,
except
.B mach_reply_port
out of resources).''',
 '''Each process is one task and one kernel: the memobj runtime starts by
itself on first use.''',
 ['mach_port_allocate.3','host_page_size.3'])

page('mig_get_reply_port', ['mig_get_reply_port','mig_put_reply_port','mig_dealloc_reply_port','NDR_record'],
 'the per-thread reply port of RPC stubs',
 '''.B mig_get_reply_port
returns the calling thread's reply port (made on first use), as MIG
generated stubs use it;
.B mig_put_reply_port
gives it back after a call;
.B mig_dealloc_reply_port
destroys it (after an error that may leave a late reply on it), so the
next call makes a new one.
.B NDR_record
is the data representation record every MIG message carries.''',
 '''.B mig_get_reply_port
returns a receive right name, or
.B MACH_PORT_NULL
when none can be made.''', None,
 ['mach_msg.3','mach_reply_port.3'])

page('vm_map', ['vm_map'],
 'map a memory object',
 '''Maps
.I size
bytes of
.I memory_object
from
.I offset
into
.I target_task
.RB ( mach_task_self() )
at
.I *address
(or anywhere, with
.IR anywhere ,
aligned to
.IR mask +1),
with current and maximum protections and inheritance. The first map of an
object in the kernel sends
.BR memory_object_init (3);
.B vm_map
returns once it is queued, without waiting for the manager. Every mapping
of one object in a kernel shares its cache. A thread touching a page takes
a real page fault (userfaultfd), which becomes
.BR memory_object_data_request (3).
With
.I copy
TRUE the mapping is a private copy.
.I memory_object
.B MACH_PORT_NULL
maps zero-filled memory.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(size 0, unaligned offset, bad protection, a fixed address not aligned),
.B KERN_NO_SPACE
(no room, or the fixed range is in use),
.B KERN_INVALID_OBJECT
(not a send right to a live port),
.B KERN_PROTECTION_FAILURE
(current protection beyond maximum),
.B KERN_RESOURCE_SHORTAGE
(userfaultfd unavailable, no memory),
.BR KERN_INVALID_TASK .''',
 '''A copy mapping is copy-on-write of the live cache, not a snapshot
taken at map time: unwritten pages show the object as it is now. A system
call that touches a non-resident page fails with
.BR EFAULT .
.B RLIMIT_FSIZE
applies to the kernel's page cache (a memfd).''',
 ['memory_object_init.3','vm_deallocate.3','vm_protect.3','memobj.7'])

page('vm_allocate', ['vm_allocate','vm_deallocate'],
 'allocate and free memory',
 '''.B vm_allocate
makes
.I size
bytes (rounded up to pages) of zero-filled memory at
.I *address
(or anywhere);
.B vm_deallocate
removes every mapping in the range, including mappings of memory objects
(the last one of an object starts its termination) and memory received
out-of-line. With a default pager registered, memory from
.B vm_allocate
can be paged out to it.''',
 '''.BR KERN_SUCCESS ,
.BR KERN_INVALID_ARGUMENT ,
.BR KERN_NO_SPACE ,
.BR KERN_RESOURCE_SHORTAGE ,
.BR KERN_INVALID_TASK .
.B vm_deallocate
of a size of 0 succeeds and does nothing.''', None,
 ['vm_map.3','host_default_memory_manager.3','memory_object_data_return.3'])

page('vm_protect', ['vm_protect'],
 'change the protection of a range',
 '''Sets the current (or, with
.IR set_maximum ,
the maximum) protection of
.RI [ address ,
.IR address + size )
to
.IR new_protection .
Lowering the maximum lowers the current protection with it.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ADDRESS
(part of the range is not mapped),
.B KERN_PROTECTION_FAILURE
(beyond the maximum),
.BR KERN_INVALID_ARGUMENT .''',
 '''Adding write to a shared mapping of an object starts dirty tracking for
it (write protection, one fault per first write to a clean page).''',
 ['vm_map.3','memory_object_data_unlock.3'])

page('vm_msync', ['vm_msync'],
 'write a range back to its managers',
 '''Returns the dirty pages of the objects mapped in the range with
.BR memory_object_data_return (3),
then sends
.BR memory_object_synchronize (3);
unless
.BR VM_SYNC_ASYNCHRONOUS ,
waits for
.BR memory_object_synchronize_completed (3)
for the same range, or for the manager's
.BR memobj_synchronize_failed (3).
.B VM_SYNC_INVALIDATE
also flushes the pages.
Since a completion names only an offset and a length, at most one
synchronize is outstanding for any byte of an object: a
.B vm_msync
(also an asynchronous one) whose range overlaps one still unanswered
waits for that answer before it sends its own, as OSF's did, so each
.B vm_msync
gets the answer to its own request.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ADDRESS
(not mapped),
.B KERN_INVALID_ARGUMENT
(bad flags),
.B KERN_MEMORY_ERROR
(the manager died), or the reason a manager gave
.BR memobj_synchronize_failed (3)
(e.g.
.B KERN_MEMORY_ERROR
from the file pager when a write failed,
.B KERN_OPERATION_TIMED_OUT
from the Redis pager when Redis did not acknowledge in time).''',
 '''Reporting a failed write-back is memobj's extension: OSF's
.B vm_msync
always succeeds once the manager answers.''',
 ['memory_object_synchronize.3','memobj_synchronize_failed.3','vm_map.3'])

page('vm_region', ['vm_region'],
 'describe a mapped region',
 '''Finds the first region at or after
.I *address
and describes it
.RB ( VM_REGION_BASIC_INFO :
protections, inheritance, shared, offset).''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ADDRESS
(nothing at or after
.IR *address ),
.B KERN_INVALID_ARGUMENT
(bad flavor or count).''',
 '''It reports the regions memobj made
.RB ( vm_map ,
.BR vm_allocate ),
one per entry, with
.I object_name
.BR MACH_PORT_NULL .''',
 ['vm_map.3'])

page('host_page_size', ['host_page_size','host_statistics'],
 'the kernel\'s page size and VM statistics',
 '''.B host_page_size
gives this kernel's page size.
.B host_statistics
with
.B HOST_VM_INFO
fills a
.BR "struct vm_statistics" :
.I faults
(page faults on object memory),
.I pageins
(pages installed from managers),
.IR pageouts ,
.I zero_fill_count
(data_unavailable pages),
.I active_count
(object pages resident),
.I lookups
(messages the kernel sent to managers) and
.I hits
(messages it received);
.I *host_info_count
is at least
.BR HOST_VM_INFO_COUNT .''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_HOST
(not
.BR mach_host_self() ),
.B KERN_INVALID_ARGUMENT
(NULL, other flavor),
.B KERN_FAILURE
(count too small, as XNU).''',
 '''The page size is
.B MEMOBJ_PAGE_SIZE
(a power of two from the system page size to 2 MiB). More:
.BR memobj_statistics (3).''',
 ['memobj_statistics.3','memobj.7'])

page('host_default_memory_manager', ['host_default_memory_manager','vm_set_default_memory_manager'],
 'register or read the default memory manager',
 '''With a port in
.IR *default_manager ,
makes it the kernel's default pager (to which memory from
.BR vm_allocate (3)
is paged out, with
.BR memory_object_create (3));
with
.BR MACH_PORT_NULL ,
returns the current one.
.I cluster_size
is the cluster the kernel asks for.
.B vm_set_default_memory_manager
is the older name.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_HOST
(not this host),
.BR KERN_INVALID_ARGUMENT .''',
 '''.B MEMOBJ_DEFAULT_PAGER
(unix:PATH or tcp:HOST:PORT) registers that node's default pager at start
(see
.BR memobjd (1),
.BR default_pager_start (3)).''',
 ['memory_object_create.3','default_pager_object_create.3','memobj.7'])

page('default_pager_object_create', ['default_pager_object_create','default_pager_info',
  'default_pager_backing_store_create','default_pager_backing_store_delete',
  'default_pager_backing_store_info','default_pager_add_segment'],
 'calls a default pager serves',
 '''RPCs to a default pager's port
.RI ( pager ,
or a backing store's).
.B default_pager_object_create
makes an anonymous object of
.I object_size
bytes, backed by the pager, that any task may map.
.B default_pager_info
reports
.IR total_space ,
.I free_space
and
.IR page_size .
.B default_pager_backing_store_create
makes a backing store (priority, cluster size),
.B default_pager_add_segment
adds a segment to it (on Linux the "device" is a file or block device the
pager opens),
.B default_pager_backing_store_info
.RB ( BACKING_STORE_BASIC_INFO )
describes it and
.B default_pager_backing_store_delete
removes it.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(bad sizes or flavor),
.B KERN_RESOURCE_SHORTAGE
(no space),
.B MACH_SEND_INVALID_DEST
(not a pager),
or the pager's answer.''', None,
 ['host_default_memory_manager.3','default_pager_start.3'])

page('memobj_listen', ['memobj_listen','memobj_connect'],
 'links between kernels in several processes and hosts',
 '''.B memobj_listen
makes this kernel accept links on
.I address
.RB ( unix:PATH ,
created mode 0600, or
.BR tcp:HOST:PORT ).
.B memobj_connect
links to the kernel listening at
.I address
and returns a send right to its name server, for
.BR netname_look_up (3).
Rights and out-of-line memory travel over links as within one process; a
kernel anywhere maps an object another node checked in with
.BR netname_look_up (3)
and
.BR vm_map (3).''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(malformed address),
.B KERN_FAILURE
(cannot listen or connect: address in use, refused),
.B KERN_NODE_DOWN
(the peer went away during the handshake).''',
 '''A TCP listener admits only peers that prove the node's shared key
.RB ( MEMOBJ_KEY ;
without one, loopback only).
.B MEMOBJ_PING_MS
sets how often idle links are checked. Every frame is encrypted and
authenticated: with AES-256-GCM when both nodes offer it (their CPUs have
AES-NI), else XChaCha20-Poly1305;
.B MEMOBJ_NET_AEAD=xchacha20poly1305
makes a node offer only the latter. A Unix socket link without a key
(its peer runs as our uid) carries its frames in clear, since its keys
would come from public nonces alone and only the kernel sees its bytes;
.B MEMOBJ_NET_SEAL_UNIX=1
seals those too.''',
 ['netname_check_in.3','memobjd.1','memobj.7'])

page('netname_check_in', ['netname_check_in','netname_look_up','netname_check_out'],
 'the Mach name service',
 '''.B netname_check_in
publishes
.I port_id
under
.I port_name
(1 to 79 bytes) with the name server
.I server_port
.RB ( MACH_PORT_NULL :
this node's);
.I signature
protects the entry (check-out and replacement need it).
.B netname_look_up
returns a send right to the port checked in under
.I port_name
.RI ( host_name
is ignored: the server decides).
.B netname_check_out
removes the entry.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(name empty or too long, NULL),
.B NETNAME_NOT_CHECKED_IN
(2501: no such name),
.B NETNAME_NOT_YOUR_ENTRY
(2500: wrong signature),
.B NETNAME_INVALID_PORT
(2504),
.B KERN_NODE_DOWN
(the server's node is gone),
.B KERN_OPERATION_TIMED_OUT
(no answer in 30 s).''', None,
 ['memobj_listen.3','memobjd.1'])

page('memobj_statistics', ['memobj_statistics','memobj_object_statistics','memobj_netname_list',
  'memobj_statistics_port','memobj_statistics_publish','memobj_statistics_register',
  'memobj_statistics_unregister','memobj_msg_kind_name'],
 'what a kernel has done and holds, here or on another node',
 '''.B memobj_statistics
fills a
.B memobj_statistics_t
for
.I host
.RB ( mach_host_self()
for this kernel, or a statistics port of another node): the kernel's
page size, its
.B host_statistics
numbers
.RI ( vm ),
EMMI messages by kind
.RI ( messages [ MEMOBJ_MSG_* ],
named by
.BR memobj_msg_kind_name ),
and
.IR fault_wait :
bucket
.I i
counts faults whose thread waited for a manager between 2^i and 2^(i+1)
microseconds.
.B memobj_object_statistics
lists, from index
.IR start ,
the objects this kernel caches (resident and dirty pages, mappings, page
size) and then those served here (registered by their pagers with
.BR memobj_statistics_register :
kernels mapping them, pages in and out);
.B memobj_netname_list
the names checked in with the node's name server. Both fill at most
.I *count
entries and set
.I *total .
.PP
.B memobj_statistics_port
returns a send right to this kernel's statistics port;
.B memobj_statistics_publish
checks it in with
.I name_server
under
.B MEMOBJ_STATISTICS_NAME
("memobj.statistics"), where
.BR memobj (1)
finds it:
.RS
.nf
memobj_connect("unix:/run/memobjd.sock", &ns);
netname_look_up(ns, "", MEMOBJ_STATISTICS_NAME, &port);
memobj_statistics(port, &stats);
.fi
.RE''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(NULL, bad name),
.B KERN_INVALID_HOST
(neither this host nor a statistics port),
.B KERN_NODE_DOWN
or
.B KERN_OPERATION_TIMED_OUT
(the node did not answer in 10 s),
.B KERN_NAME_EXISTS
(register: name taken),
.B KERN_INVALID_NAME
(unregister: unknown).
.B memobj_msg_kind_name
returns NULL for an unknown kind.''',
 '''These calls are memobj's own; nothing like them is in the OSF
interface. The layout crosses links as bytes: nodes of one build.''',
 ['memobj.1','host_statistics.3','memobjd.1'])

page('file_pager_create', ['file_pager_create','file_pager_create_writable','file_pager_destroy',
  'file_pager_wait_detached','file_pager_flush','file_pager_get_stats','file_pager_file_size'],
 'a memory manager that serves a regular file',
 '''.B file_pager_create
opens
.I path
read-only and serves it as a memory object: it stores the object's port
in
.I *object_out
(a send right the pager keeps: use it with
.BR vm_map (3)
or
.BR netname_check_in (3);
do not deallocate it) and answers every kernel from a small pool of
threads
.RB ( MEMOBJ_PAGER_THREADS ,
default the online CPUs, 2 to 4): data_requests side by side, and in the
order the protocol needs (a request after a data_return of its pages
reads the file after the write; init, terminate, synchronize and
lock_completed after everything before them).
.I cluster_size
(0: 64 KiB) is what each data_request may ask.
.B file_pager_create_writable
opens it read-write and writes returned pages back;
.BR vm_msync (3)
makes a range durable.
.B file_pager_flush
asks every kernel mapping the object for its dirty pages and returns once
they are in the file, within
.I timeout_ms
(memobjd calls it at shutdown).
.B file_pager_wait_detached
waits until every kernel has sent terminate;
.B file_pager_destroy
handles what is already queued, then stops the pager and joins its
threads (unmap first).
.B file_pager_get_stats
copies the counters (messages each way, pages in, bytes written, held
bytes after write errors, kernels attached);
.B file_pager_file_size
is the object's size, the file's at create.''',
 '''.B file_pager_create*
return the pager, or NULL with
.I errno
set
.RB ( EINVAL ,
.B EISDIR
or the error of
.BR open (2)).
.B file_pager_wait_detached
and
.B file_pager_flush
return
.B KERN_SUCCESS
or
.BR KERN_OPERATION_TIMED_OUT ;
.B file_pager_flush
also
.B KERN_INVALID_ARGUMENT
(NULL) and
.BR KERN_FAILURE .''',
 '''The pager never changes the file's size: a mapping past the end reads
zeros, writes there are dropped. A failed write is kept and retried; a
synchronize of a range with pages held makes
.BR vm_msync (3)
return
.B KERN_MEMORY_ERROR
(through
.BR memobj_synchronize_failed (3);
check
.IR held_bytes ).
A read-only pager drops writes made through a writable mapping.
Include
.BR <memobj/file_pager.h> .''',
 ['vm_map.3','memobjd.1','memory_object_server.3'], include='memobj/file_pager.h')

page('default_pager_start', ['default_pager_start'],
 'start the default memory manager',
 '''Starts the default pager (pagers/default_pager.c) in this process on
.I backing_file
(opened, or created, and used up to
.I size
bytes), registers it as this kernel's default memory manager
.RB ( host_default_memory_manager (3))
and publishes it with this node's name server, so that kernels started
with
.B MEMOBJ_DEFAULT_PAGER
pointing at this node page out to it. Its port is returned in
.IR *default_pager .
It serves
.BR memory_object_create (3),
.B memory_object_data_initialize
and the
.BR default_pager_object_create (3)
calls. The default pager never faults on its own paging path.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(NULL, size 0),
.B KERN_FAILURE
(the backing file cannot be opened or sized),
.BR KERN_RESOURCE_SHORTAGE .''',
 '''Part of libmemobj\\-pagers, where the default pager is built.
.BR memobjd (1)
starts it with
.BR \\-\\-default\\-pager .''',
 ['host_default_memory_manager.3','default_pager_object_create.3','memobjd.1'],
 extra_syn='.B #include <memobj/default_pager.h>\n\n.B "kern_return_t default_pager_start(const char *backing_file, vm_size_t size,"\n.B "        mach_port_t *default_pager);"')

page('dsm_pager_create', ['dsm_pager_create','dsm_pager_destroy','dsm_pager_kernels','dsm_pager_wait_kernels','dsm_msg_kind_name'],
 'coherent distributed shared memory for any number of kernels',
 '''.B dsm_pager_create
makes a memory object of
.I size
bytes (a multiple of 4096, at most 1 TiB), zero-filled, whose manager
keeps every kernel that maps it coherent: single writer or many readers
per page, with
.BR memory_object_lock_request (3),
across kernels with different page sizes. The object's send right is
stored in
.I *object
(the pager keeps it); publish it with
.BR netname_check_in (3)
for kernels in other processes and hosts.
.B dsm_pager_destroy
stops serving it (kernels still mapping it get
.BR SIGBUS ).
.B dsm_pager_kernels
copies up to
.I *count
records of the kernels that sent init (control port, page size, state:
attached, terminated or dead; faults; messages by kind, named by
.BR dsm_msg_kind_name ;
pages lost when a writer died) and sets
.I *count
to how many there are.
.B dsm_pager_wait_kernels
waits until at least
.I count
kernels have sent init, at most
.I timeout_ms
milliseconds.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(size 0 or not a multiple of 4096, too large, NULL, not an object
.B dsm_pager_create
made),
.B KERN_RESOURCE_SHORTAGE
(no memory, ports or threads),
.B KERN_OPERATION_TIMED_OUT
(wait_kernels).
.B dsm_msg_kind_name
returns "?" for an unknown kind.''',
 '''Part of libmemobj\\-pagers, where the DSM pager is built; its data lives
in the process that made it.
.BR memobjd (1)
serves it with
.BR \\-\\-dsm .''',
 ['vm_map.3','memory_object_lock_request.3','memobjd.1'],
 extra_syn='''.B #include <memobj/dsm_pager.h>

.B "kern_return_t dsm_pager_create(vm_size_t size, memory_object_t *object);"
.B "kern_return_t dsm_pager_destroy(memory_object_t object);"
.B "kern_return_t dsm_pager_kernels(memory_object_t object,"
.B "        dsm_kernel_info_t *kernels, unsigned *count);"
.B "kern_return_t dsm_pager_wait_kernels(memory_object_t object, unsigned count,"
.B "        unsigned timeout_ms);"
.B "const char *dsm_msg_kind_name(dsm_msg_kind_t kind);"''')

page('redis_pager_create', ['redis_pager_create','redis_pager_destroy','redis_pager_set_wait','redis_pager_set_timeout','redis_pager_wait_detached','redis_pager_get_stats'],
 'a memory object whose pages live in Redis',
 '''.B redis_pager_create
makes a memory object of
.I size
bytes (rounded up to 4096) whose pages are kept in Redis under
.I name
(1 to 200 printable characters, no space or braces), at
.I url
.RB ( redis://HOST:PORT ,
.BR unix:PATH ,
or
.BR redis\\-cluster://HOST:PORT[,...] );
.I cluster
is the bytes each data_request asks for (0: the pager's default). The
object's send right is stored in
.I *object
(the pager keeps it). Redis need not be reachable yet: faults wait for it
up to the timeout.
.B redis_pager_set_wait
makes each write batch wait for
.I replicas
replicas;
.B redis_pager_set_timeout
sets how long faults, writes and synchronizes wait for Redis;
.B redis_pager_wait_detached
waits until every kernel has terminated and its dirty pages are written;
.B redis_pager_get_stats
copies the counters;
.B redis_pager_destroy
stops the pager after one last try at the pages still to be written.''',
 '''.BR KERN_SUCCESS ,
.B KERN_INVALID_ARGUMENT
(bad URL, name or size; one line on stderr),
.B KERN_INVALID_NAME
(not a Redis pager's object),
.B KERN_RESOURCE_SHORTAGE
(memory or threads),
.B KERN_OPERATION_TIMED_OUT
(wait_detached).''',
 '''Its own library, built only where hiredis is found.
.BR memobjd (1)
serves it with
.BR \\-\\-redis .''',
 ['vm_map.3','memobjd.1'],
 extra_syn='''.B #include <memobj/redis_pager.h>

.B "kern_return_t redis_pager_create(const char *url, const char *name,"
.B "        vm_size_t size, vm_size_t cluster, memory_object_t *object);"
.B "kern_return_t redis_pager_destroy(memory_object_t object);"
.B "kern_return_t redis_pager_set_wait(memory_object_t object, unsigned replicas,"
.B "        unsigned timeout_ms);"
.B "kern_return_t redis_pager_set_timeout(memory_object_t object, unsigned timeout_ms);"
.B "kern_return_t redis_pager_wait_detached(memory_object_t object, unsigned timeout_ms);"
.B "kern_return_t redis_pager_get_stats(memory_object_t object, redis_pager_stats_t *stats);"''')

page('mach_error_string', ['mach_error_string','mach_error'],
 'describe a Mach return code',
 '''.B mach_error_string
returns a short text for a
.B KERN_*
/
.B MACH_*
/
.B MIG_*
code;
.B mach_error
prints
.I str
and that text on standard error.''',
 '''.B mach_error_string
returns a static string, never NULL (unknown codes have a text that
says so).''', None,
 ['mach_msg.3'],
 extra_syn='''.B #include <mach/mach.h>

.B "const char *mach_error_string(mach_error_t error_value);"
.B "void mach_error(const char *str, mach_error_t error_value);"''')

page('vm_page_size', ['vm_page_size','vm_page_mask','vm_page_shift','mach_thread_self','name_server_port'],
 'the libmach variables and the thread port',
 '''.BR vm_page_size ,
.B vm_page_mask
and
.B vm_page_shift
describe this kernel's page size (as
.BR host_page_size (3)
returns it;
.BR MEMOBJ_PAGE_SIZE ).
.B mach_thread_self
names the calling thread.
.B name_server_port
is a send right to this node's name server, for
.BR netname_check_in (3)
and friends (or pass
.BR MACH_PORT_NULL ).''',
 '''.B mach_thread_self
returns the thread's name.''', None,
 ['host_page_size.3','netname_check_in.3','memobj.7'],
 extra_syn='''.B #include <mach/mach.h>

.B "extern vm_size_t vm_page_size;"
.B "extern vm_size_t vm_page_mask;"
.B "extern int vm_page_shift;"
.B "extern mach_port_t name_server_port;"
.B "mach_port_t mach_thread_self(void);"''')
