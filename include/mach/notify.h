/* Port notifications (OSF/XNU ids and layouts) and their server. */
#ifndef MACH_NOTIFY_H
#define MACH_NOTIFY_H

#include <mach/mig_errors.h>

#define MACH_NOTIFY_FIRST           0100
#define MACH_NOTIFY_PORT_DELETED    (MACH_NOTIFY_FIRST + 001)
#define MACH_NOTIFY_PORT_DESTROYED  (MACH_NOTIFY_FIRST + 005)
#define MACH_NOTIFY_NO_SENDERS      (MACH_NOTIFY_FIRST + 006)
#define MACH_NOTIFY_SEND_ONCE       (MACH_NOTIFY_FIRST + 007)
#define MACH_NOTIFY_DEAD_NAME       (MACH_NOTIFY_FIRST + 010)
#define MACH_NOTIFY_LAST            (MACH_NOTIFY_FIRST + 015)

#pragma pack(push, 4)
typedef struct {
	mach_msg_header_t  not_header;
	NDR_record_t       NDR;
	mach_port_name_t   not_port;     /* MACH_MSG_TYPE_PORT_NAME */
	mach_msg_format_0_trailer_t trailer;
} mach_port_deleted_notification_t;

typedef struct {
	mach_msg_header_t  not_header;
	mach_msg_body_t    not_body;
	mach_msg_port_descriptor_t not_port; /* MACH_MSG_TYPE_PORT_RECEIVE */
	mach_msg_format_0_trailer_t trailer;
} mach_port_destroyed_notification_t;

typedef struct {
	mach_msg_header_t  not_header;
	NDR_record_t       NDR;
	mach_port_mscount_t not_count;
	mach_msg_format_0_trailer_t trailer;
} mach_no_senders_notification_t;

typedef struct {
	mach_msg_header_t  not_header;
	mach_msg_format_0_trailer_t trailer;
} mach_send_once_notification_t;

typedef struct {
	mach_msg_header_t  not_header;
	NDR_record_t       NDR;
	mach_port_name_t   not_port;     /* MACH_MSG_TYPE_PORT_NAME */
	mach_msg_format_0_trailer_t trailer;
} mach_dead_name_notification_t;
#pragma pack(pop)

/* Demux for notification messages: calls the do_mach_notify_* routine
 * below. The library supplies weak defaults returning KERN_FAILURE. */
boolean_t notify_server(mach_msg_header_t *in, mach_msg_header_t *out);

kern_return_t do_mach_notify_port_deleted(mach_port_t notify, mach_port_name_t name);
kern_return_t do_mach_notify_port_destroyed(mach_port_t notify, mach_port_t rights);
kern_return_t do_mach_notify_no_senders(mach_port_t notify, mach_port_mscount_t mscount);
kern_return_t do_mach_notify_send_once(mach_port_t notify);
kern_return_t do_mach_notify_dead_name(mach_port_t notify, mach_port_name_t name);

#endif
