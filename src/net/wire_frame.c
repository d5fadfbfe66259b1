/* Wire frames: little-endian fields, no padding, every field checked.
 *
 * Decoding goes in two steps: the header (magic, version, type, flags,
 * length) and then the payload, whose fields are read through a bounded
 * cursor. Sizes are summed in 64 bits after each term has been checked
 * against its limit, so no sum can wrap. */
#include "wire_frame.h"

#include <string.h>

const uint8_t wire_magic[4] = { 'M', 'O', 'B', 'J' };

const char *wire_strerror(int error)
{
	switch (error) {
	case WIRE_OK:                return "ok";
	case WIRE_ERR_TRUNCATED:     return "truncated frame";
	case WIRE_ERR_MAGIC:         return "bad magic";
	case WIRE_ERR_VERSION:       return "unsupported version";
	case WIRE_ERR_TYPE:          return "unknown frame type";
	case WIRE_ERR_FLAGS:         return "unknown header flags";
	case WIRE_ERR_LENGTH:        return "bad frame length";
	case WIRE_ERR_LIMIT:         return "count or size over limit";
	case WIRE_ERR_INCONSISTENT:  return "counts do not match the frame length";
	case WIRE_ERR_FIELD:         return "invalid field value";
	case WIRE_ERR_SPACE:         return "output buffer too small";
	default:                     return "unknown wire error";
	}
}

/* ---- bounded cursors ---------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t left;
};

static bool read_bytes(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return false;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static bool read_u8(struct reader *r, uint8_t *v)
{
	return read_bytes(r, v, 1);
}

static bool read_u16(struct reader *r, uint16_t *v)
{
	uint8_t b[2];
	if (!read_bytes(r, b, sizeof b))
		return false;
	*v = (uint16_t)(b[0] | b[1] << 8);
	return true;
}

static uint32_t load_u32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static bool read_u32(struct reader *r, uint32_t *v)
{
	uint8_t b[4];
	if (!read_bytes(r, b, sizeof b))
		return false;
	*v = load_u32(b);
	return true;
}

static bool read_u64(struct reader *r, uint64_t *v)
{
	uint8_t b[8];
	if (!read_bytes(r, b, sizeof b))
		return false;
	*v = (uint64_t)load_u32(b) | (uint64_t)load_u32(b + 4) << 32;
	return true;
}

/* Takes n bytes as a view instead of copying them. */
static bool read_view(struct reader *r, const uint8_t **view, size_t n)
{
	if (r->left < n)
		return false;
	*view = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

struct writer {
	uint8_t *p;
	size_t left;
};

/* Callers size the buffer first; the bound check only keeps a sizing
 * bug from becoming an overflow. */
static void write_bytes(struct writer *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	if (w->left < n) {
		w->left = 0;
		return;
	}
	memcpy(w->p, src, n);
	w->p += n;
	w->left -= n;
}

static void write_u8(struct writer *w, uint8_t v)
{
	write_bytes(w, &v, 1);
}

static void write_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	write_bytes(w, b, sizeof b);
}

static void write_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	write_bytes(w, b, sizeof b);
}

static void write_u64(struct writer *w, uint64_t v)
{
	write_u32(w, (uint32_t)v);
	write_u32(w, (uint32_t)(v >> 32));
}

static void write_zeros(struct writer *w, size_t n)
{
	static const uint8_t zeros[8];
	while (n > 0) {
		size_t k = n < sizeof zeros ? n : sizeof zeros;
		write_bytes(w, zeros, k);
		n -= k;
	}
}

/* ---- field rules, shared by encoder and decoder -------------------- */

static bool right_is_port(uint8_t right)
{
	return right == WIRE_RIGHT_SEND || right == WIRE_RIGHT_SEND_ONCE ||
	       right == WIRE_RIGHT_RECEIVE;
}

/* NONE and DEAD name no port; a live right names one. */
static bool port_ref_valid(const struct wire_port_ref *ref)
{
	if (ref->right == WIRE_RIGHT_NONE || ref->right == WIRE_RIGHT_DEAD)
		return ref->origin == 0 && ref->port == 0;
	return right_is_port(ref->right) && ref->origin != 0 && ref->port != 0;
}

static bool dest_ref_valid(const struct wire_port_ref *ref)
{
	return port_ref_valid(ref) &&
	       (ref->right == WIRE_RIGHT_SEND || ref->right == WIRE_RIGHT_SEND_ONCE);
}

static bool reply_ref_valid(const struct wire_port_ref *ref)
{
	return port_ref_valid(ref) && ref->right != WIRE_RIGHT_RECEIVE;
}

/* A descriptor's references carry its right, or are NULL / dead names. */
static bool ref_fits_desc(const struct wire_port_ref *ref, uint8_t desc_right)
{
	return port_ref_valid(ref) &&
	       (ref->right == desc_right || ref->right == WIRE_RIGHT_NONE ||
	        ref->right == WIRE_RIGHT_DEAD);
}

static bool desc_valid(uint8_t type, uint8_t right, uint32_t count)
{
	switch (type) {
	case WIRE_DESC_PORT:
		return right_is_port(right) && count == 1;
	case WIRE_DESC_OOL:
		return right == WIRE_RIGHT_NONE && count <= WIRE_MSG_OOL_MAX;
	case WIRE_DESC_OOL_PORTS:
		return right_is_port(right) && count <= WIRE_MSG_REF_MAX;
	default:
		return false;
	}
}

static bool hello_valid(const struct wire_hello *h)
{
	return h->node_id != 0 &&
	       (h->role == WIRE_ROLE_CONNECTOR || h->role == WIRE_ROLE_LISTENER) &&
	       (h->flags & ~WIRE_HELLO_FLAGS) == 0 &&
	       h->max_version >= 1;
}

static bool release_valid(const struct wire_ref_release *r)
{
	return port_ref_valid(&r->ref) &&
	       (r->ref.right == WIRE_RIGHT_SEND || r->ref.right == WIRE_RIGHT_SEND_ONCE) &&
	       r->count >= 1;
}

static bool death_valid(const struct wire_port_death *d)
{
	return d->origin != 0 && d->port != 0;
}

/* ---- header --------------------------------------------------------- */

/* Fixed payload size of each type, or 0 for MSG (variable). */
static bool type_size(uint8_t type, uint32_t *exact, uint32_t *min)
{
	switch (type) {
	case WIRE_HELLO:       *exact = WIRE_HELLO_SIZE; break;
	case WIRE_AUTH:        *exact = WIRE_AUTH_SIZE; break;
	case WIRE_REF_RELEASE: *exact = WIRE_REF_RELEASE_SIZE; break;
	case WIRE_PORT_DEATH:  *exact = WIRE_PORT_DEATH_SIZE; break;
	case WIRE_PING:
	case WIRE_PONG:        *exact = WIRE_PING_SIZE; break;
	case WIRE_MSG:         *exact = 0; *min = WIRE_MSG_FIXED_SIZE; return true;
	default:               return false;
	}
	*min = *exact;
	return true;
}

int wire_header_decode(const void *buf, size_t len, struct wire_header *header)
{
	struct reader r = { buf, len };
	uint8_t magic[4];
	uint32_t exact, min;

	if (!read_bytes(&r, magic, sizeof magic) || !read_u8(&r, &header->version) ||
	    !read_u8(&r, &header->type) || !read_u16(&r, &header->flags) ||
	    !read_u32(&r, &header->length))
		return WIRE_ERR_TRUNCATED;

	if (memcmp(magic, wire_magic, sizeof magic) != 0)
		return WIRE_ERR_MAGIC;
	if (header->version != WIRE_VERSION)
		return WIRE_ERR_VERSION;
	if (!type_size(header->type, &exact, &min))
		return WIRE_ERR_TYPE;
	if (header->flags != 0)
		return WIRE_ERR_FLAGS;
	if (header->length < min || header->length > WIRE_FRAME_MAX ||
	    (exact != 0 && header->length != exact))
		return WIRE_ERR_LENGTH;
	return WIRE_OK;
}

static void write_header(struct writer *w, uint8_t type, uint32_t length)
{
	write_bytes(w, wire_magic, sizeof wire_magic);
	write_u8(w, WIRE_VERSION);
	write_u8(w, type);
	write_u16(w, 0);
	write_u32(w, length);
}

/* ---- port references -------------------------------------------------- */

static bool read_port_ref(struct reader *r, struct wire_port_ref *ref)
{
	uint8_t reserved[3];
	if (!read_u64(r, &ref->origin) || !read_u64(r, &ref->port) ||
	    !read_u8(r, &ref->right) || !read_bytes(r, reserved, sizeof reserved))
		return false;
	return reserved[0] == 0 && reserved[1] == 0 && reserved[2] == 0;
}

static void write_port_ref(struct writer *w, const struct wire_port_ref *ref)
{
	write_u64(w, ref->origin);
	write_u64(w, ref->port);
	write_u8(w, ref->right);
	write_zeros(w, 3);
}

/* ---- fixed-size frames -------------------------------------------- */

static int decode_hello(struct reader *r, struct wire_hello *h)
{
	uint8_t reserved;
	if (!read_u64(r, &h->node_id) || !read_u8(r, &h->role) || !read_u8(r, &h->flags) ||
	    !read_u8(r, &h->max_version) || !read_u8(r, &reserved) ||
	    !read_bytes(r, h->nonce, sizeof h->nonce))
		return WIRE_ERR_TRUNCATED;
	return reserved == 0 && hello_valid(h) ? WIRE_OK : WIRE_ERR_FIELD;
}

static int decode_release(struct reader *r, struct wire_ref_release *rel)
{
	if (!read_port_ref(r, &rel->ref))
		return WIRE_ERR_FIELD;
	if (!read_u64(r, &rel->count))
		return WIRE_ERR_TRUNCATED;
	return release_valid(rel) ? WIRE_OK : WIRE_ERR_FIELD;
}

static int decode_death(struct reader *r, struct wire_port_death *d)
{
	if (!read_u64(r, &d->origin) || !read_u64(r, &d->port))
		return WIRE_ERR_TRUNCATED;
	return death_valid(d) ? WIRE_OK : WIRE_ERR_FIELD;
}

/* Sets up a writer for a fixed-size frame of `size` bytes. */
static int begin_fixed(struct writer *w, void *buf, size_t cap, uint8_t type, uint32_t size)
{
	if (cap < size)
		return WIRE_ERR_SPACE;
	w->p = buf;
	w->left = cap;
	write_header(w, type, size);
	return WIRE_OK;
}

int wire_encode_hello(void *buf, size_t cap, const struct wire_hello *hello, size_t *len)
{
	struct writer w;
	if (!hello_valid(hello))
		return WIRE_ERR_FIELD;
	if (begin_fixed(&w, buf, cap, WIRE_HELLO, WIRE_HELLO_SIZE) != WIRE_OK)
		return WIRE_ERR_SPACE;
	write_u64(&w, hello->node_id);
	write_u8(&w, hello->role);
	write_u8(&w, hello->flags);
	write_u8(&w, hello->max_version);
	write_u8(&w, 0);
	write_bytes(&w, hello->nonce, sizeof hello->nonce);
	*len = WIRE_HELLO_SIZE;
	return WIRE_OK;
}

int wire_encode_auth(void *buf, size_t cap, const struct wire_auth *auth, size_t *len)
{
	struct writer w;
	if (begin_fixed(&w, buf, cap, WIRE_AUTH, WIRE_AUTH_SIZE) != WIRE_OK)
		return WIRE_ERR_SPACE;
	write_bytes(&w, auth->mac, sizeof auth->mac);
	*len = WIRE_AUTH_SIZE;
	return WIRE_OK;
}

int wire_encode_ref_release(void *buf, size_t cap, const struct wire_ref_release *release,
                            size_t *len)
{
	struct writer w;
	if (!release_valid(release))
		return WIRE_ERR_FIELD;
	if (begin_fixed(&w, buf, cap, WIRE_REF_RELEASE, WIRE_REF_RELEASE_SIZE) != WIRE_OK)
		return WIRE_ERR_SPACE;
	write_port_ref(&w, &release->ref);
	write_u64(&w, release->count);
	*len = WIRE_REF_RELEASE_SIZE;
	return WIRE_OK;
}

int wire_encode_port_death(void *buf, size_t cap, const struct wire_port_death *death,
                           size_t *len)
{
	struct writer w;
	if (!death_valid(death))
		return WIRE_ERR_FIELD;
	if (begin_fixed(&w, buf, cap, WIRE_PORT_DEATH, WIRE_PORT_DEATH_SIZE) != WIRE_OK)
		return WIRE_ERR_SPACE;
	write_u64(&w, death->origin);
	write_u64(&w, death->port);
	*len = WIRE_PORT_DEATH_SIZE;
	return WIRE_OK;
}

static int encode_ping_pong(void *buf, size_t cap, uint8_t type, const struct wire_ping *ping,
                            size_t *len)
{
	struct writer w;
	if (begin_fixed(&w, buf, cap, type, WIRE_PING_SIZE) != WIRE_OK)
		return WIRE_ERR_SPACE;
	write_u64(&w, ping->cookie);
	*len = WIRE_PING_SIZE;
	return WIRE_OK;
}

int wire_encode_ping(void *buf, size_t cap, const struct wire_ping *ping, size_t *len)
{
	return encode_ping_pong(buf, cap, WIRE_PING, ping, len);
}

int wire_encode_pong(void *buf, size_t cap, const struct wire_ping *ping, size_t *len)
{
	return encode_ping_pong(buf, cap, WIRE_PONG, ping, len);
}

/* ---- MSG --------------------------------------------------------------- */

static uint64_t msg_frame_size(uint32_t descs, uint32_t refs, uint32_t body, uint32_t ool)
{
	return (uint64_t)WIRE_MSG_FIXED_SIZE + (uint64_t)descs * WIRE_DESC_SIZE +
	       (uint64_t)refs * WIRE_PORT_REF_SIZE + body + ool;
}

static int decode_msg(struct reader *r, uint32_t frame_length, struct wire_msg *m)
{
	if (!read_u32(r, &m->flags) || !read_u32(r, (uint32_t *)&m->id))
		return WIRE_ERR_TRUNCATED;
	if (!read_port_ref(r, &m->dest) || !read_port_ref(r, &m->reply))
		return WIRE_ERR_FIELD;
	if (!read_u32(r, &m->desc_count) || !read_u32(r, &m->ref_count) ||
	    !read_u32(r, &m->body_size) || !read_u32(r, &m->ool_size))
		return WIRE_ERR_TRUNCATED;

	if ((m->flags & ~WIRE_MSG_COMPLEX) != 0 ||
	    (m->desc_count > 0 && !(m->flags & WIRE_MSG_COMPLEX)) ||
	    !dest_ref_valid(&m->dest) || !reply_ref_valid(&m->reply))
		return WIRE_ERR_FIELD;
	if (m->desc_count > WIRE_MSG_DESC_MAX || m->ref_count > WIRE_MSG_REF_MAX ||
	    m->body_size > WIRE_MSG_BODY_MAX || m->ool_size > WIRE_MSG_OOL_MAX)
		return WIRE_ERR_LIMIT;
	if (msg_frame_size(m->desc_count, m->ref_count, m->body_size, m->ool_size) != frame_length)
		return WIRE_ERR_INCONSISTENT;

	/* The length adds up, so these views are inside the frame. */
	if (!read_view(r, &m->descs, (size_t)m->desc_count * WIRE_DESC_SIZE) ||
	    !read_view(r, &m->refs, (size_t)m->ref_count * WIRE_PORT_REF_SIZE) ||
	    !read_view(r, &m->body, m->body_size) || !read_view(r, &m->ool, m->ool_size))
		return WIRE_ERR_TRUNCATED;

	/* Each descriptor, and the references and OOL bytes it claims. */
	struct reader descs = { m->descs, (size_t)m->desc_count * WIRE_DESC_SIZE };
	struct reader refs = { m->refs, (size_t)m->ref_count * WIRE_PORT_REF_SIZE };
	uint64_t refs_claimed = 0, ool_claimed = 0;
	for (uint32_t i = 0; i < m->desc_count; i++) {
		uint8_t type, right;
		uint16_t reserved;
		uint32_t count;
		if (!read_u8(&descs, &type) || !read_u8(&descs, &right) ||
		    !read_u16(&descs, &reserved) || !read_u32(&descs, &count))
			return WIRE_ERR_TRUNCATED;
		if (reserved != 0 || !desc_valid(type, right, count))
			return WIRE_ERR_FIELD;
		if (type == WIRE_DESC_OOL) {
			ool_claimed += count;
			if (ool_claimed > m->ool_size)
				return WIRE_ERR_INCONSISTENT;
			continue;
		}
		refs_claimed += count;
		if (refs_claimed > m->ref_count)
			return WIRE_ERR_INCONSISTENT;
		for (uint32_t k = 0; k < count; k++) {
			struct wire_port_ref ref;
			if (!read_port_ref(&refs, &ref) || !ref_fits_desc(&ref, right))
				return WIRE_ERR_FIELD;
		}
	}
	if (refs_claimed != m->ref_count || ool_claimed != m->ool_size)
		return WIRE_ERR_INCONSISTENT;
	return WIRE_OK;
}

int wire_msg_measure(const struct wire_msg_out *m, size_t *head_len, size_t *frame_len)
{
	uint64_t refs = 0, ool = 0;

	if ((m->flags & ~WIRE_MSG_COMPLEX) != 0 ||
	    (m->desc_count > 0 && !(m->flags & WIRE_MSG_COMPLEX)) ||
	    !dest_ref_valid(&m->dest) || !reply_ref_valid(&m->reply))
		return WIRE_ERR_FIELD;
	if (m->desc_count > WIRE_MSG_DESC_MAX || m->body_size > WIRE_MSG_BODY_MAX)
		return WIRE_ERR_LIMIT;
	if (m->body_size > 0 && m->body == NULL)
		return WIRE_ERR_FIELD;
	for (uint32_t i = 0; i < m->desc_count; i++) {
		const struct wire_desc_out *d = &m->descs[i];
		if (!desc_valid(d->type, d->right, d->count))
			return WIRE_ERR_FIELD;
		if (d->type == WIRE_DESC_OOL) {
			if (d->count > 0 && d->ool == NULL)
				return WIRE_ERR_FIELD;
			ool += d->count;
			continue;
		}
		if (d->count > 0 && d->refs == NULL)
			return WIRE_ERR_FIELD;
		for (uint32_t k = 0; k < d->count; k++)
			if (!ref_fits_desc(&d->refs[k], d->right))
				return WIRE_ERR_FIELD;
		refs += d->count;
	}
	if (refs > WIRE_MSG_REF_MAX || ool > WIRE_MSG_OOL_MAX)
		return WIRE_ERR_LIMIT;

	*head_len = (size_t)msg_frame_size(m->desc_count, (uint32_t)refs, 0, 0);
	*frame_len = (size_t)msg_frame_size(m->desc_count, (uint32_t)refs, m->body_size,
	                                    (uint32_t)ool);
	return WIRE_OK;
}

static void write_msg_head(struct writer *w, const struct wire_msg_out *m, size_t head_len,
                           size_t frame_len)
{
	uint32_t refs = (uint32_t)((head_len - WIRE_MSG_FIXED_SIZE -
	                            (size_t)m->desc_count * WIRE_DESC_SIZE) / WIRE_PORT_REF_SIZE);
	uint32_t ool = (uint32_t)(frame_len - head_len - m->body_size);

	write_header(w, WIRE_MSG, (uint32_t)frame_len);
	write_u32(w, m->flags);
	write_u32(w, (uint32_t)m->id);
	write_port_ref(w, &m->dest);
	write_port_ref(w, &m->reply);
	write_u32(w, m->desc_count);
	write_u32(w, refs);
	write_u32(w, m->body_size);
	write_u32(w, ool);
	for (uint32_t i = 0; i < m->desc_count; i++) {
		write_u8(w, m->descs[i].type);
		write_u8(w, m->descs[i].right);
		write_u16(w, 0);
		write_u32(w, m->descs[i].count);
	}
	for (uint32_t i = 0; i < m->desc_count; i++) {
		const struct wire_desc_out *d = &m->descs[i];
		if (d->type == WIRE_DESC_OOL)
			continue;
		for (uint32_t k = 0; k < d->count; k++)
			write_port_ref(w, &d->refs[k]);
	}
}

int wire_encode_msg_head(void *buf, size_t cap, const struct wire_msg_out *m, size_t *head_len)
{
	size_t head, frame;
	int err = wire_msg_measure(m, &head, &frame);
	if (err != WIRE_OK)
		return err;
	if (cap < head)
		return WIRE_ERR_SPACE;
	struct writer w = { buf, cap };
	write_msg_head(&w, m, head, frame);
	*head_len = head;
	return WIRE_OK;
}

int wire_encode_msg(void *buf, size_t cap, const struct wire_msg_out *m, size_t *len)
{
	size_t head, frame;
	int err = wire_msg_measure(m, &head, &frame);
	if (err != WIRE_OK)
		return err;
	if (cap < frame)
		return WIRE_ERR_SPACE;
	struct writer w = { buf, cap };
	write_msg_head(&w, m, head, frame);
	write_bytes(&w, m->body, m->body_size);
	for (uint32_t i = 0; i < m->desc_count; i++)
		if (m->descs[i].type == WIRE_DESC_OOL)
			write_bytes(&w, m->descs[i].ool, m->descs[i].count);
	*len = frame;
	return WIRE_OK;
}

void wire_desc_iter_init(struct wire_desc_iter *it, const struct wire_msg *msg)
{
	it->msg = msg;
	it->index = 0;
	it->next_ref = msg->refs;
	it->next_ool = msg->ool;
}

bool wire_desc_iter_next(struct wire_desc_iter *it, struct wire_desc *desc)
{
	if (it->index >= it->msg->desc_count)
		return false;
	const uint8_t *raw = it->msg->descs + (size_t)it->index * WIRE_DESC_SIZE;
	desc->type = raw[0];
	desc->right = raw[1];
	desc->count = load_u32(raw + 4);
	desc->refs = NULL;
	desc->ool = NULL;
	/* The decoder checked that the claims add up, so these stay in bounds. */
	if (desc->type == WIRE_DESC_OOL) {
		desc->ool = it->next_ool;
		it->next_ool += desc->count;
	} else {
		desc->refs = it->next_ref;
		it->next_ref += (size_t)desc->count * WIRE_PORT_REF_SIZE;
	}
	it->index++;
	return true;
}

void wire_desc_ref(const struct wire_desc *desc, uint32_t i, struct wire_port_ref *ref)
{
	struct reader r = { desc->refs + (size_t)i * WIRE_PORT_REF_SIZE, WIRE_PORT_REF_SIZE };
	read_port_ref(&r, ref);
}

/* ---- whole frames ---------------------------------------------------- */

int wire_frame_decode(const void *buf, size_t len, struct wire_frame *frame)
{
	int err = wire_header_decode(buf, len, &frame->header);
	if (err != WIRE_OK)
		return err;
	if (len < frame->header.length)
		return WIRE_ERR_TRUNCATED;

	struct reader r = { (const uint8_t *)buf + WIRE_HEADER_SIZE,
	                    frame->header.length - WIRE_HEADER_SIZE };
	switch (frame->header.type) {
	case WIRE_HELLO:
		err = decode_hello(&r, &frame->u.hello);
		break;
	case WIRE_AUTH:
		err = read_bytes(&r, frame->u.auth.mac, sizeof frame->u.auth.mac)
		      ? WIRE_OK : WIRE_ERR_TRUNCATED;
		break;
	case WIRE_MSG:
		err = decode_msg(&r, frame->header.length, &frame->u.msg);
		break;
	case WIRE_REF_RELEASE:
		err = decode_release(&r, &frame->u.release);
		break;
	case WIRE_PORT_DEATH:
		err = decode_death(&r, &frame->u.death);
		break;
	case WIRE_PING:
	case WIRE_PONG:
		err = read_u64(&r, &frame->u.ping.cookie) ? WIRE_OK : WIRE_ERR_TRUNCATED;
		break;
	default:
		return WIRE_ERR_TYPE;   /* wire_header_decode already refused it */
	}
	/* A fixed-size frame must be used up exactly (the header checked its
	 * length); for MSG the sizes were checked to add up. */
	if (err == WIRE_OK && r.left != 0)
		return WIRE_ERR_LENGTH;
	return err;
}
