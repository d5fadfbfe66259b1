/* Message ids and layouts of the EMMI, as MIG would lay them out (4-byte
 * packing, port and out-of-line descriptors first, then NDR and scalars).
 * Both faces use them: the kernel's senders and control handler, and the
 * manager's server dispatch and control stubs. */
#ifndef MEMOBJ_EMMI_MSGS_H
#define MEMOBJ_EMMI_MSGS_H

#include <mach/mach.h>

/* memory_object subsystem: kernel -> manager */
#define EMMI_INIT                 2200
#define EMMI_TERMINATE            2201
#define EMMI_DATA_REQUEST         2203
#define EMMI_DATA_UNLOCK          2204
#define EMMI_LOCK_COMPLETED       2206
#define EMMI_SUPPLY_COMPLETED     2207
#define EMMI_DATA_RETURN          2208
#define EMMI_CHANGE_COMPLETED     2209
#define EMMI_SYNCHRONIZE          2210
/* memory_object_default subsystem: kernel -> default pager */
#define EMMI_CREATE               2250
#define EMMI_DATA_INITIALIZE      2251
/* memory_object_control subsystem: manager -> kernel */
#define EMMI_DATA_SUPPLY          2100
#define EMMI_DATA_UNAVAILABLE     2101
#define EMMI_DATA_ERROR           2102
#define EMMI_LOCK_REQUEST         2103
#define EMMI_CHANGE_ATTRIBUTES    2104
#define EMMI_GET_ATTRIBUTES       2105   /* a routine: reply id 2205 */
#define EMMI_SYNCHRONIZE_COMPLETED 2106
#define EMMI_DESTROY              2107
#define EMMI_SYNCHRONIZE_FAILED   2108   /* memobj extension, not OSF */

/* Largest attribute array a change/get_attributes message carries. */
#define EMMI_ATTRIBUTES_MAX 16

#pragma pack(push, 4)

/* --- kernel -> manager (request port: the memory object, or a reply port) */

typedef struct {                 /* init, terminate */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t control;
	NDR_record_t NDR;
	vm_size_t page_size;         /* init only; 0 in terminate */
} emmi_init_msg_t;

typedef struct {                 /* data_request, data_unlock, synchronize */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t control;
	NDR_record_t NDR;
	vm_offset_t offset;
	vm_size_t length;
	integer_t access;            /* desired_access, or vm_sync_t flags */
} emmi_range_msg_t;

typedef struct {                 /* lock_completed */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t control;
	NDR_record_t NDR;
	vm_offset_t offset;
	vm_size_t length;
} emmi_lock_completed_msg_t;

typedef struct {                 /* supply_completed */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t control;
	NDR_record_t NDR;
	vm_offset_t offset;
	vm_size_t length;
	kern_return_t result;
	vm_offset_t error_offset;
} emmi_supply_completed_msg_t;

typedef struct {                 /* change_completed */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t control;
	NDR_record_t NDR;
	memory_object_flavor_t flavor;
} emmi_change_completed_msg_t;

typedef struct {                 /* data_return, data_initialize */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t control;
	mach_msg_ool_descriptor_t data;
	NDR_record_t NDR;
	vm_offset_t offset;
	mach_msg_type_number_t data_count;
	boolean_t dirty;             /* data_return only */
	boolean_t kernel_copy;       /* data_return only */
} emmi_data_return_msg_t;

typedef struct {                 /* create (to the default pager) */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t new_object;   /* receive right */
	mach_msg_port_descriptor_t new_control;  /* send right */
	NDR_record_t NDR;
	vm_size_t new_object_size;
	vm_size_t new_page_size;
} emmi_create_msg_t;

/* --- manager -> kernel (request port: the control port; the header's
 * local port carries the optional reply port) */

typedef struct {                 /* data_supply */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_ool_descriptor_t data;
	NDR_record_t NDR;
	vm_offset_t offset;
	mach_msg_type_number_t data_count;
	vm_prot_t lock_value;
	boolean_t precious;
} emmi_data_supply_msg_t;

typedef struct {                 /* data_unavailable, data_error,
                                  * synchronize_completed, destroy,
                                  * synchronize_failed */
	mach_msg_header_t Head;
	NDR_record_t NDR;
	vm_offset_t offset;
	vm_size_t size;
	kern_return_t reason;
} emmi_control_range_msg_t;

typedef struct {                 /* lock_request */
	mach_msg_header_t Head;
	NDR_record_t NDR;
	vm_offset_t offset;
	vm_size_t size;
	memory_object_return_t should_return;
	boolean_t should_flush;
	vm_prot_t lock_value;
} emmi_lock_request_msg_t;

typedef struct {                 /* change_attributes, get_attributes */
	mach_msg_header_t Head;
	NDR_record_t NDR;
	memory_object_flavor_t flavor;
	mach_msg_type_number_t count;   /* get: the caller's capacity */
	integer_t info[EMMI_ATTRIBUTES_MAX];   /* change: `count` used */
} emmi_attributes_msg_t;

typedef struct {                 /* get_attributes reply (id 2205) */
	mach_msg_header_t Head;
	NDR_record_t NDR;
	kern_return_t RetCode;
	mach_msg_type_number_t count;
	integer_t info[EMMI_ATTRIBUTES_MAX];
} emmi_attributes_reply_t;

#pragma pack(pop)

/* Size of an attributes message carrying `count` integers. */
#define EMMI_ATTRIBUTES_MSG_SIZE(count) \
	((mach_msg_size_t)(offsetof(emmi_attributes_msg_t, info) + \
	                   (count) * sizeof(integer_t)))
#define EMMI_ATTRIBUTES_REPLY_SIZE(count) \
	((mach_msg_size_t)(offsetof(emmi_attributes_reply_t, info) + \
	                   (count) * sizeof(integer_t)))

/* The seqno trailer of a received message. */
static inline mach_port_seqno_t emmi_msg_seqno(const mach_msg_header_t *msg)
{
	const mach_msg_seqno_trailer_t *t = (const mach_msg_seqno_trailer_t *)
		((const char *)msg + round_msg(msg->msgh_size));
	return t->msgh_seqno;
}

#endif
