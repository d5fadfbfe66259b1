/* Port and right management calls on a task's name space. */
#ifndef MACH_MACH_PORT_H
#define MACH_MACH_PORT_H

#include <mach/message.h>

mach_port_t mach_task_self(void);
mach_port_t mach_host_self(void);
mach_port_t mach_reply_port(void);

kern_return_t mach_port_allocate(task_t task, mach_port_right_t right,
        mach_port_name_t *name);
kern_return_t mach_port_allocate_name(task_t task, mach_port_right_t right,
        mach_port_name_t name);
kern_return_t mach_port_deallocate(task_t task, mach_port_name_t name);
kern_return_t mach_port_destroy(task_t task, mach_port_name_t name);
kern_return_t mach_port_mod_refs(task_t task, mach_port_name_t name,
        mach_port_right_t right, mach_port_delta_t delta);
kern_return_t mach_port_get_refs(task_t task, mach_port_name_t name,
        mach_port_right_t right, mach_port_urefs_t *refs);
kern_return_t mach_port_type(task_t task, mach_port_name_t name,
        mach_port_type_t *ptype);
/* names and types arrive like out-of-line data; the caller frees each with
 * vm_deallocate(mach_task_self(), (vm_address_t)names, count * sizeof *names). */
kern_return_t mach_port_names(task_t task, mach_port_name_t **names,
        mach_msg_type_number_t *names_count, mach_port_type_t **types,
        mach_msg_type_number_t *types_count);
kern_return_t mach_port_insert_right(task_t task, mach_port_name_t name,
        mach_port_t poly, mach_msg_type_name_t poly_poly);
kern_return_t mach_port_extract_right(task_t task, mach_port_name_t name,
        mach_msg_type_name_t msgt_name, mach_port_t *poly,
        mach_msg_type_name_t *poly_poly);
kern_return_t mach_port_set_seqno(task_t task, mach_port_name_t name,
        mach_port_seqno_t seqno);
kern_return_t mach_port_set_mscount(task_t task, mach_port_name_t name,
        mach_port_mscount_t mscount);
kern_return_t mach_port_get_attributes(task_t task, mach_port_name_t name,
        mach_port_flavor_t flavor, mach_port_info_t port_info,
        mach_msg_type_number_t *port_info_count);
kern_return_t mach_port_set_attributes(task_t task, mach_port_name_t name,
        mach_port_flavor_t flavor, mach_port_info_t port_info,
        mach_msg_type_number_t port_info_count);
kern_return_t mach_port_get_set_status(task_t task, mach_port_name_t name,
        mach_port_name_t **members, mach_msg_type_number_t *members_count);
kern_return_t mach_port_insert_member(task_t task, mach_port_name_t name,
        mach_port_name_t pset);
kern_return_t mach_port_extract_member(task_t task, mach_port_name_t name,
        mach_port_name_t pset);
kern_return_t mach_port_move_member(task_t task, mach_port_name_t member,
        mach_port_name_t after);
kern_return_t mach_port_request_notification(task_t task, mach_port_name_t name,
        mach_msg_id_t msgid, mach_port_mscount_t sync, mach_port_t notify,
        mach_msg_type_name_t notify_poly, mach_port_t *previous);

#endif
