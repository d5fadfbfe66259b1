/* Frames on a link between two memobj nodes (docs/wire.md is the
 * reference). The encoders write a frame into a caller's buffer; the
 * decoder takes untrusted bytes and either returns a fully validated frame
 * or an error code: it never reads outside the buffer and never trusts a
 * length or count before checking it against the limits and the bytes
 * actually present. Decoded frames point into the input buffer (no copies,
 * no allocation), so the buffer must outlive them. */
#ifndef MEMOBJ_NET_WIRE_FRAME_H
#define MEMOBJ_NET_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION      2   /* 2: every frame after the handshake in an AEAD record */
#define WIRE_HEADER_SIZE  12          /* magic[4] version type flags[2] length[4] */
extern const uint8_t wire_magic[4];  /* "MOBJ" */

/* Frame types. */
enum wire_type {
	WIRE_HELLO       = 1,  /* first frame each way: node id, role, nonce */
	WIRE_AUTH        = 2,  /* second frame each way when keyed: the proof */
	WIRE_MSG         = 3,  /* one Mach message */
	WIRE_REF_RELEASE = 4,  /* a proxy gives back the rights it was sent */
	WIRE_PORT_DEATH  = 5,  /* the home destroyed a port */
	WIRE_PING        = 6,
	WIRE_PONG        = 7,
};

/* Limits (a decoder rejects anything beyond them). */
#define WIRE_MSG_DESC_MAX  1024u                 /* descriptors per message */
#define WIRE_MSG_REF_MAX   4096u                 /* port references per message */
#define WIRE_MSG_BODY_MAX  (64u << 20)           /* inline body bytes */
#define WIRE_MSG_OOL_MAX   (64u << 20)           /* out-of-line bytes, all regions */
#define WIRE_FRAME_MAX     ((128u << 20) + (1u << 20))

/* Payload sizes of the fixed-size frames, and the MSG frame's fixed part. */
#define WIRE_NONCE_SIZE        32
#define WIRE_MAC_SIZE          32
#define WIRE_PORT_REF_SIZE     20
#define WIRE_DESC_SIZE         8
#define WIRE_HELLO_SIZE        (WIRE_HEADER_SIZE + 44)
#define WIRE_AUTH_SIZE         (WIRE_HEADER_SIZE + WIRE_MAC_SIZE)
#define WIRE_REF_RELEASE_SIZE  (WIRE_HEADER_SIZE + WIRE_PORT_REF_SIZE + 8)
#define WIRE_PORT_DEATH_SIZE   (WIRE_HEADER_SIZE + 16)
#define WIRE_PING_SIZE         (WIRE_HEADER_SIZE + 8)
#define WIRE_MSG_FIXED_SIZE    (WIRE_HEADER_SIZE + 64)
/* Largest frame a peer may send before it is authenticated. */
#define WIRE_HANDSHAKE_FRAME_MAX WIRE_HELLO_SIZE

/* Well-known port ids on every node (0 is never a port). */
#define WIRE_PORT_ID_NAME_SERVER 1

enum wire_error {
	WIRE_OK = 0,
	WIRE_ERR_TRUNCATED,   /* fewer bytes than the frame needs (read more) */
	WIRE_ERR_MAGIC,       /* not a memobj frame */
	WIRE_ERR_VERSION,     /* frame version this node does not speak */
	WIRE_ERR_TYPE,        /* unknown frame type */
	WIRE_ERR_FLAGS,       /* unknown header flag bits */
	WIRE_ERR_LENGTH,      /* length field wrong for the type, or over the maximum */
	WIRE_ERR_LIMIT,       /* a count or size over its limit */
	WIRE_ERR_INCONSISTENT,/* counts and sizes do not add up to the length */
	WIRE_ERR_FIELD,       /* a field has a value the format forbids */
	WIRE_ERR_SPACE,       /* encoder: the output buffer is too small */
};
const char *wire_strerror(int error);

/* Rights as they travel (see docs/wire.md, "Rights across nodes"). */
enum wire_right {
	WIRE_RIGHT_NONE      = 0,  /* MACH_PORT_NULL */
	WIRE_RIGHT_DEAD      = 1,  /* MACH_PORT_DEAD */
	WIRE_RIGHT_SEND      = 2,
	WIRE_RIGHT_SEND_ONCE = 3,
	WIRE_RIGHT_RECEIVE   = 4,
};

/* A port named across a link: its identity (the node that made it and
 * that node's id for it) and the right carried. NONE and DEAD carry no
 * identity: origin and port are 0. */
struct wire_port_ref {
	uint64_t origin;
	uint64_t port;
	uint8_t  right;
};

struct wire_header {
	uint8_t  version;
	uint8_t  type;
	uint16_t flags;
	uint32_t length;    /* whole frame, header included */
};

enum wire_role { WIRE_ROLE_CONNECTOR = 0, WIRE_ROLE_LISTENER = 1 };
#define WIRE_HELLO_KEYED 0x01u   /* the sender will prove a shared key */
#define WIRE_HELLO_AES256GCM 0x02u  /* the sender can seal records with AES-256-GCM */
#define WIRE_HELLO_CLEAR 0x04u      /* unkeyed Unix link: the sender can send records in clear */
#define WIRE_HELLO_FLAGS (WIRE_HELLO_KEYED | WIRE_HELLO_AES256GCM | WIRE_HELLO_CLEAR)

struct wire_hello {
	uint64_t node_id;            /* nonzero, random per process */
	uint8_t  role;               /* enum wire_role */
	uint8_t  flags;              /* WIRE_HELLO_* */
	uint8_t  max_version;        /* highest frame version the sender speaks */
	uint8_t  nonce[WIRE_NONCE_SIZE];
};

struct wire_auth {
	uint8_t mac[WIRE_MAC_SIZE];
};

struct wire_ref_release {
	struct wire_port_ref ref;    /* right: SEND or SEND_ONCE */
	uint64_t count;              /* rights of that kind received, >= 1 */
};

struct wire_port_death {
	uint64_t origin;
	uint64_t port;
};

struct wire_ping {
	uint64_t cookie;             /* echoed in the PONG */
};

/* Descriptor types keep Mach's numbers; OOL_VOLATILE travels as OOL. */
enum wire_desc_type {
	WIRE_DESC_PORT      = 0,     /* count 1: one reference */
	WIRE_DESC_OOL       = 1,     /* count: bytes, in the OOL area */
	WIRE_DESC_OOL_PORTS = 2,     /* count: references */
};

#define WIRE_MSG_COMPLEX 0x1u    /* MACH_MSGH_BITS_COMPLEX */

/* A decoded MSG frame: validated views into the frame bytes. */
struct wire_msg {
	uint32_t flags;              /* WIRE_MSG_* */
	int32_t  id;                 /* msgh_id */
	struct wire_port_ref dest;   /* right: SEND or SEND_ONCE */
	struct wire_port_ref reply;  /* right: NONE, DEAD, SEND or SEND_ONCE */
	uint32_t desc_count, ref_count, body_size, ool_size;
	const uint8_t *descs, *refs, *body, *ool;
};

/* One descriptor of a decoded message, with its references or its bytes. */
struct wire_desc {
	uint8_t  type;               /* enum wire_desc_type */
	uint8_t  right;              /* PORT/OOL_PORTS: SEND, SEND_ONCE or RECEIVE */
	uint32_t count;              /* references, or OOL bytes */
	const uint8_t *refs;         /* count references (read with wire_desc_ref) */
	const uint8_t *ool;          /* count bytes (OOL only) */
};

struct wire_desc_iter {
	const struct wire_msg *msg;
	uint32_t index;
	const uint8_t *next_ref, *next_ool;
};
void wire_desc_iter_init(struct wire_desc_iter *it, const struct wire_msg *msg);
bool wire_desc_iter_next(struct wire_desc_iter *it, struct wire_desc *desc);
/* The i-th reference of a PORT or OOL_PORTS descriptor, i < desc->count. */
void wire_desc_ref(const struct wire_desc *desc, uint32_t i, struct wire_port_ref *ref);

struct wire_frame {
	struct wire_header header;
	union {
		struct wire_hello hello;
		struct wire_auth auth;
		struct wire_msg msg;
		struct wire_ref_release release;
		struct wire_port_death death;
		struct wire_ping ping;       /* PING and PONG */
	} u;
};

/* Validates the first WIRE_HEADER_SIZE bytes: magic, version, type, flags,
 * and a length that fits the type and the maximum. A reader calls it to
 * learn how many bytes the frame needs before reading them. */
int wire_header_decode(const void *buf, size_t len, struct wire_header *header);

/* Decodes the frame at the start of buf (len may hold more after it; the
 * frame's size is header.length). */
int wire_frame_decode(const void *buf, size_t len, struct wire_frame *frame);

/* Encoders: each writes one frame into buf and its size into *len, or
 * returns WIRE_ERR_SPACE / a validation error (nothing a decoder would
 * reject is ever written). */
int wire_encode_hello(void *buf, size_t cap, const struct wire_hello *hello, size_t *len);
int wire_encode_auth(void *buf, size_t cap, const struct wire_auth *auth, size_t *len);
int wire_encode_ref_release(void *buf, size_t cap, const struct wire_ref_release *release,
                            size_t *len);
int wire_encode_port_death(void *buf, size_t cap, const struct wire_port_death *death,
                           size_t *len);
int wire_encode_ping(void *buf, size_t cap, const struct wire_ping *ping, size_t *len);
int wire_encode_pong(void *buf, size_t cap, const struct wire_ping *ping, size_t *len);

/* A message to encode. */
struct wire_desc_out {
	uint8_t  type;               /* enum wire_desc_type */
	uint8_t  right;
	uint32_t count;
	const struct wire_port_ref *refs;   /* PORT: 1, OOL_PORTS: count */
	const void *ool;                    /* OOL: count bytes */
};

struct wire_msg_out {
	uint32_t flags;
	int32_t  id;
	struct wire_port_ref dest, reply;
	uint32_t desc_count;
	const struct wire_desc_out *descs;
	const void *body;
	uint32_t body_size;
};

/* Validates m and computes the size of its head (header, fixed part,
 * descriptors and references) and of the whole frame. */
int wire_msg_measure(const struct wire_msg_out *m, size_t *head_len, size_t *frame_len);
/* Writes only the head, so a sender can writev() it followed by the body
 * and each OOL region in descriptor order, without copying them. */
int wire_encode_msg_head(void *buf, size_t cap, const struct wire_msg_out *m, size_t *head_len);
/* Writes the whole frame. */
int wire_encode_msg(void *buf, size_t cap, const struct wire_msg_out *m, size_t *len);

#endif
