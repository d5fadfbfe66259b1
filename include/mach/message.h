/* Mach messages: header, descriptors, trailers, options and return codes,
 * laid out as on 64-bit XNU (descriptors packed to 4 bytes). */
#ifndef MACH_MESSAGE_H
#define MACH_MESSAGE_H

#include <mach/port.h>

typedef natural_t mach_msg_timeout_t;
#define MACH_MSG_TIMEOUT_NONE ((mach_msg_timeout_t)0)

typedef unsigned int mach_msg_bits_t;
typedef natural_t    mach_msg_size_t;
typedef integer_t    mach_msg_id_t;
typedef natural_t    mach_msg_type_name_t;
typedef natural_t    mach_msg_type_number_t;
typedef natural_t    mach_msg_copy_options_t;
typedef natural_t    mach_msg_descriptor_type_t;
typedef integer_t    mach_msg_option_t;
typedef kern_return_t mach_msg_return_t;
typedef unsigned int mach_msg_trailer_type_t;
typedef unsigned int mach_msg_trailer_size_t;

#define MACH_MSGH_BITS_ZERO          0x00000000u
#define MACH_MSGH_BITS_REMOTE_MASK   0x0000001fu
#define MACH_MSGH_BITS_LOCAL_MASK    0x00001f00u
#define MACH_MSGH_BITS_VOUCHER_MASK  0x001f0000u
#define MACH_MSGH_BITS_PORTS_MASK \
	(MACH_MSGH_BITS_REMOTE_MASK | MACH_MSGH_BITS_LOCAL_MASK | MACH_MSGH_BITS_VOUCHER_MASK)
#define MACH_MSGH_BITS_COMPLEX       0x80000000u
#define MACH_MSGH_BITS_USER          0x801f1f1fu

#define MACH_MSGH_BITS(remote, local) ((remote) | ((local) << 8))
#define MACH_MSGH_BITS_REMOTE(bits)   ((bits) & MACH_MSGH_BITS_REMOTE_MASK)
#define MACH_MSGH_BITS_LOCAL(bits)    (((bits) & MACH_MSGH_BITS_LOCAL_MASK) >> 8)
#define MACH_MSGH_BITS_PORTS(bits)    ((bits) & MACH_MSGH_BITS_PORTS_MASK)
#define MACH_MSGH_BITS_OTHER(bits)    ((bits) & ~MACH_MSGH_BITS_PORTS_MASK)

typedef struct {
	mach_msg_bits_t  msgh_bits;
	mach_msg_size_t  msgh_size;        /* bytes, header included, trailer excluded */
	mach_port_t      msgh_remote_port;
	mach_port_t      msgh_local_port;
	mach_port_name_t msgh_voucher_port;
	mach_msg_id_t    msgh_id;
} mach_msg_header_t;
#define msgh_reserved msgh_voucher_port
#define MACH_MSG_NULL ((mach_msg_header_t *)0)

/* Port dispositions (what to do with a right when it is sent) ... */
#define MACH_MSG_TYPE_MOVE_RECEIVE    16
#define MACH_MSG_TYPE_MOVE_SEND       17
#define MACH_MSG_TYPE_MOVE_SEND_ONCE  18
#define MACH_MSG_TYPE_COPY_SEND       19
#define MACH_MSG_TYPE_MAKE_SEND       20
#define MACH_MSG_TYPE_MAKE_SEND_ONCE  21
#define MACH_MSG_TYPE_COPY_RECEIVE    22
#define MACH_MSG_TYPE_DISPOSE_RECEIVE 24
#define MACH_MSG_TYPE_DISPOSE_SEND    25
#define MACH_MSG_TYPE_DISPOSE_SEND_ONCE 26
/* ... and what the receiver finds. */
#define MACH_MSG_TYPE_PORT_NAME       15
#define MACH_MSG_TYPE_PORT_RECEIVE    MACH_MSG_TYPE_MOVE_RECEIVE
#define MACH_MSG_TYPE_PORT_SEND       MACH_MSG_TYPE_MOVE_SEND
#define MACH_MSG_TYPE_PORT_SEND_ONCE  MACH_MSG_TYPE_MOVE_SEND_ONCE
#define MACH_MSG_TYPE_LAST            22
#define MACH_MSG_TYPE_POLYMORPHIC     ((mach_msg_type_name_t)-1)
#define MACH_MSG_TYPE_PORT_ANY(x) \
	(((x) >= MACH_MSG_TYPE_MOVE_RECEIVE) && ((x) <= MACH_MSG_TYPE_MAKE_SEND_ONCE))
#define MACH_MSG_TYPE_PORT_ANY_SEND(x) \
	(((x) >= MACH_MSG_TYPE_MOVE_SEND) && ((x) <= MACH_MSG_TYPE_MAKE_SEND_ONCE))
#define MACH_MSG_TYPE_PORT_ANY_RIGHT(x) \
	(((x) >= MACH_MSG_TYPE_MOVE_RECEIVE) && ((x) <= MACH_MSG_TYPE_MOVE_SEND_ONCE))

/* Descriptors */
#define MACH_MSG_PORT_DESCRIPTOR          0
#define MACH_MSG_OOL_DESCRIPTOR           1
#define MACH_MSG_OOL_PORTS_DESCRIPTOR     2
#define MACH_MSG_OOL_VOLATILE_DESCRIPTOR  3

#define MACH_MSG_PHYSICAL_COPY  0
#define MACH_MSG_VIRTUAL_COPY   1
#define MACH_MSG_ALLOCATE       2
#define MACH_MSG_OVERWRITE      3

#pragma pack(push, 4)

typedef struct {
	natural_t       pad1;
	mach_msg_size_t pad2;
	unsigned int    pad3 : 24;
	mach_msg_descriptor_type_t type : 8;
} mach_msg_type_descriptor_t;

typedef struct {
	mach_port_t     name;
	mach_msg_size_t pad1;
	unsigned int    pad2 : 16;
	mach_msg_type_name_t disposition : 8;
	mach_msg_descriptor_type_t type : 8;
} mach_msg_port_descriptor_t;

typedef struct {
	void           *address;
	boolean_t       deallocate : 8;
	mach_msg_copy_options_t copy : 8;
	unsigned int    pad1 : 8;
	mach_msg_descriptor_type_t type : 8;
	mach_msg_size_t size;
} mach_msg_ool_descriptor_t;

typedef struct {
	void           *address;
	boolean_t       deallocate : 8;
	mach_msg_copy_options_t copy : 8;
	mach_msg_type_name_t disposition : 8;
	mach_msg_descriptor_type_t type : 8;
	mach_msg_size_t count;
} mach_msg_ool_ports_descriptor_t;

typedef union {
	mach_msg_port_descriptor_t      port;
	mach_msg_ool_descriptor_t       out_of_line;
	mach_msg_ool_ports_descriptor_t ool_ports;
	mach_msg_type_descriptor_t      type;
} mach_msg_descriptor_t;

typedef struct {
	mach_msg_size_t msgh_descriptor_count;
} mach_msg_body_t;

typedef struct {
	mach_msg_header_t header;
	mach_msg_body_t   body;
} mach_msg_base_t;

/* Trailers: every received message carries at least the seqno trailer. */
#define MACH_MSG_TRAILER_FORMAT_0   0
typedef struct {
	mach_msg_trailer_type_t msgh_trailer_type;
	mach_msg_trailer_size_t msgh_trailer_size;
} mach_msg_trailer_t;

typedef struct {
	mach_msg_trailer_type_t msgh_trailer_type;
	mach_msg_trailer_size_t msgh_trailer_size;
	mach_port_seqno_t       msgh_seqno;
} mach_msg_seqno_trailer_t;

typedef struct {
	unsigned int val[2];     /* sender's uid, gid */
} security_token_t;

typedef struct {
	mach_msg_trailer_type_t msgh_trailer_type;
	mach_msg_trailer_size_t msgh_trailer_size;
	mach_port_seqno_t       msgh_seqno;
	security_token_t        msgh_sender;
} mach_msg_security_trailer_t;
typedef mach_msg_security_trailer_t mach_msg_format_0_trailer_t;
typedef mach_msg_security_trailer_t mach_msg_max_trailer_t;

#pragma pack(pop)

#define MACH_MSG_TRAILER_MINIMUM_SIZE  sizeof(mach_msg_trailer_t)
#define MAX_TRAILER_SIZE ((mach_msg_size_t)sizeof(mach_msg_max_trailer_t))

/* Receive-side trailer request (the seqno trailer is always delivered). */
#define MACH_RCV_TRAILER_NULL   0
#define MACH_RCV_TRAILER_SEQNO  1
#define MACH_RCV_TRAILER_SENDER 2
#define MACH_RCV_TRAILER_TYPE(x)     (((x) & 0xf) << 28)
#define MACH_RCV_TRAILER_ELEMENTS(x) (((x) & 0xf) << 24)
#define MACH_RCV_TRAILER_MASK        ((0xf << 24))
#define GET_RCV_ELEMENTS(y)          (((y) >> 24) & 0xf)
/* Bytes of trailer that follow a message received with `option`. */
#define REQUESTED_TRAILER_SIZE(option) \
	((GET_RCV_ELEMENTS(option) >= MACH_RCV_TRAILER_SENDER) \
	 ? (mach_msg_size_t)sizeof(mach_msg_security_trailer_t) \
	 : (mach_msg_size_t)sizeof(mach_msg_seqno_trailer_t))

/* Round a size up to the alignment that trailers and descriptors keep. */
#define round_msg(x) (((mach_msg_size_t)(x) + sizeof(natural_t) - 1) & \
                      ~(mach_msg_size_t)(sizeof(natural_t) - 1))

/* Options */
#define MACH_MSG_OPTION_NONE 0x00000000
#define MACH_SEND_MSG        0x00000001
#define MACH_RCV_MSG         0x00000002
#define MACH_RCV_LARGE       0x00000004
#define MACH_SEND_TIMEOUT    0x00000010
#define MACH_SEND_INTERRUPT  0x00000040
#define MACH_SEND_NOTIFY     0x00000080
#define MACH_SEND_ALWAYS     0x00010000
#define MACH_RCV_TIMEOUT     0x00000100
#define MACH_RCV_NOTIFY      0x00000200
#define MACH_RCV_INTERRUPT   0x00000400
#define MACH_RCV_OVERWRITE   0x00001000

/* Return codes */
#define MACH_MSG_SUCCESS             0x00000000
#define MACH_MSG_MASK                0x00003e00
#define MACH_MSG_IPC_SPACE           0x00002000
#define MACH_MSG_VM_SPACE            0x00001000
#define MACH_MSG_IPC_KERNEL          0x00000800
#define MACH_MSG_VM_KERNEL           0x00000400

#define MACH_SEND_IN_PROGRESS        0x10000001
#define MACH_SEND_INVALID_DATA       0x10000002
#define MACH_SEND_INVALID_DEST       0x10000003
#define MACH_SEND_TIMED_OUT          0x10000004
#define MACH_SEND_INVALID_VOUCHER    0x10000005
#define MACH_SEND_INTERRUPTED        0x10000007
#define MACH_SEND_MSG_TOO_SMALL      0x10000008
#define MACH_SEND_INVALID_REPLY      0x10000009
#define MACH_SEND_INVALID_RIGHT      0x1000000a
#define MACH_SEND_INVALID_NOTIFY     0x1000000b
#define MACH_SEND_INVALID_MEMORY     0x1000000c
#define MACH_SEND_NO_BUFFER          0x1000000d
#define MACH_SEND_TOO_LARGE          0x1000000e
#define MACH_SEND_INVALID_TYPE       0x1000000f
#define MACH_SEND_INVALID_HEADER     0x10000010
#define MACH_SEND_INVALID_TRAILER    0x10000011

#define MACH_RCV_IN_PROGRESS         0x10004001
#define MACH_RCV_INVALID_NAME        0x10004002
#define MACH_RCV_TIMED_OUT           0x10004003
#define MACH_RCV_TOO_LARGE           0x10004004
#define MACH_RCV_INTERRUPTED         0x10004005
#define MACH_RCV_PORT_CHANGED        0x10004006
#define MACH_RCV_INVALID_NOTIFY      0x10004007
#define MACH_RCV_INVALID_DATA        0x10004008
#define MACH_RCV_PORT_DIED           0x10004009
#define MACH_RCV_IN_SET              0x1000400a
#define MACH_RCV_HEADER_ERROR        0x1000400b
#define MACH_RCV_BODY_ERROR          0x1000400c
#define MACH_RCV_INVALID_TYPE        0x1000400d
#define MACH_RCV_SCATTER_SMALL       0x1000400e
#define MACH_RCV_INVALID_TRAILER     0x1000400f

/* Largest message mach_msg accepts (inline bytes, header included). */
#define MACH_MSG_SIZE_MAX  (64u * 1024u * 1024u)

mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
        mach_msg_size_t send_size, mach_msg_size_t rcv_size,
        mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
        mach_port_name_t notify);

/* Destroys every right and out-of-line region a received (or unsent)
 * message carries, as if it had been received and thrown away. */
void mach_msg_destroy(mach_msg_header_t *msg);

/* Receive requests on rcv_name forever, dispatching each to demux and
 * sending the reply it builds (MIG semantics; see mach_msg_server(3)). */
mach_msg_return_t mach_msg_server(
        boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *),
        mach_msg_size_t max_size, mach_port_t rcv_name,
        mach_msg_option_t options);
/* One request only: receive, dispatch, reply; for loops the caller runs. */
mach_msg_return_t mach_msg_server_once(
        boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *),
        mach_msg_size_t max_size, mach_port_t rcv_name,
        mach_msg_option_t options);
typedef mach_msg_option_t mach_msg_options_t;

#endif
