/* Wire frames: every type round-trips, and every malformed frame we can
 * think of is refused (truncated at each byte, lying lengths and counts,
 * bad magic/version/type/flags, forbidden field values, bit flips). */
#include <stdint.h>

#include "harness.h"
#include "../src/net/wire_frame.h"

static uint8_t frame_buf[1 << 16];

static struct wire_port_ref ref_to(uint64_t origin, uint64_t port, uint8_t right)
{
	return (struct wire_port_ref){ .origin = origin, .port = port, .right = right };
}

static bool ref_equal(const struct wire_port_ref *a, const struct wire_port_ref *b)
{
	return a->origin == b->origin && a->port == b->port && a->right == b->right;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- a message with every kind of descriptor -------------------------- */

static const struct wire_port_ref port_refs[] = {
	{ 0x1111, 42, WIRE_RIGHT_SEND },
};
static const struct wire_port_ref once_refs[] = {
	{ 0x2222, 7, WIRE_RIGHT_SEND_ONCE },
};
static const struct wire_port_ref receive_refs[] = {
	{ 0x1111, 43, WIRE_RIGHT_RECEIVE },
};
static const struct wire_port_ref null_refs[] = {
	{ 0, 0, WIRE_RIGHT_NONE },
};
static const struct wire_port_ref ool_port_refs[] = {
	{ 0x1111, 50, WIRE_RIGHT_SEND },
	{ 0, 0, WIRE_RIGHT_DEAD },
	{ 0, 0, WIRE_RIGHT_NONE },
	{ 0x2222, 51, WIRE_RIGHT_SEND },
};
static const char ool_a[] = "out-of-line region A";
static const char ool_b[] = "B";
static const char body[] = "inline body bytes\0with a nul";

static const struct wire_desc_out all_descs[] = {
	{ WIRE_DESC_PORT, WIRE_RIGHT_SEND, 1, port_refs, NULL },
	{ WIRE_DESC_OOL, WIRE_RIGHT_NONE, sizeof ool_a, NULL, ool_a },
	{ WIRE_DESC_PORT, WIRE_RIGHT_SEND_ONCE, 1, once_refs, NULL },
	{ WIRE_DESC_OOL_PORTS, WIRE_RIGHT_SEND, 4, ool_port_refs, NULL },
	{ WIRE_DESC_OOL, WIRE_RIGHT_NONE, 0, NULL, NULL },
	{ WIRE_DESC_PORT, WIRE_RIGHT_RECEIVE, 1, receive_refs, NULL },
	{ WIRE_DESC_OOL_PORTS, WIRE_RIGHT_RECEIVE, 0, NULL, NULL },
	{ WIRE_DESC_PORT, WIRE_RIGHT_SEND, 1, null_refs, NULL },
	{ WIRE_DESC_OOL, WIRE_RIGHT_NONE, sizeof ool_b, NULL, ool_b },
};

static struct wire_msg_out complex_msg(void)
{
	return (struct wire_msg_out){
		.flags = WIRE_MSG_COMPLEX,
		.id = -2200,
		.dest = ref_to(0xabcdef, 9, WIRE_RIGHT_SEND),
		.reply = ref_to(0x1111, 10, WIRE_RIGHT_SEND_ONCE),
		.desc_count = sizeof all_descs / sizeof all_descs[0],
		.descs = all_descs,
		.body = body,
		.body_size = sizeof body,
	};
}

static size_t encode_complex(uint8_t *buf, size_t cap)
{
	struct wire_msg_out m = complex_msg();
	size_t len = 0;
	REQUIRE(wire_encode_msg(buf, cap, &m, &len) == WIRE_OK);
	return len;
}

/* Checks a decoded message against the one it was encoded from. */
static void check_msg_matches(const struct wire_msg *got, const struct wire_msg_out *want)
{
	struct wire_desc_iter it;
	struct wire_desc d;
	uint32_t n = 0;

	CHECK_EQ(got->flags, want->flags);
	CHECK_EQ(got->id, want->id);
	CHECK(ref_equal(&got->dest, &want->dest));
	CHECK(ref_equal(&got->reply, &want->reply));
	CHECK_EQ(got->desc_count, want->desc_count);
	CHECK_EQ(got->body_size, want->body_size);
	CHECK(want->body_size == 0 || memcmp(got->body, want->body, want->body_size) == 0);

	wire_desc_iter_init(&it, got);
	while (wire_desc_iter_next(&it, &d)) {
		REQUIRE(n < want->desc_count);
		const struct wire_desc_out *w = &want->descs[n++];
		CHECK_EQ(d.type, w->type);
		CHECK_EQ(d.right, w->right);
		CHECK_EQ(d.count, w->count);
		if (d.type == WIRE_DESC_OOL) {
			CHECK(d.count == 0 || memcmp(d.ool, w->ool, d.count) == 0);
			continue;
		}
		for (uint32_t k = 0; k < d.count; k++) {
			struct wire_port_ref r;
			wire_desc_ref(&d, k, &r);
			CHECK(ref_equal(&r, &w->refs[k]));
		}
	}
	CHECK_EQ(n, want->desc_count);
}

/* ---- samples of every frame type ----------------------------------------- */

static size_t encode_sample(int type, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	int err = WIRE_ERR_TYPE;
	switch (type) {
	case WIRE_HELLO: {
		struct wire_hello h = { .node_id = 0x0123456789abcdefull, .role = WIRE_ROLE_LISTENER,
		                        .flags = WIRE_HELLO_KEYED, .max_version = 1 };
		for (int i = 0; i < WIRE_NONCE_SIZE; i++)
			h.nonce[i] = (uint8_t)(i * 7 + 1);
		err = wire_encode_hello(buf, cap, &h, &len);
		break;
	}
	case WIRE_AUTH: {
		struct wire_auth a;
		for (int i = 0; i < WIRE_MAC_SIZE; i++)
			a.mac[i] = (uint8_t)(0xff - i);
		err = wire_encode_auth(buf, cap, &a, &len);
		break;
	}
	case WIRE_MSG:
		return encode_complex(buf, cap);
	case WIRE_REF_RELEASE: {
		struct wire_ref_release r = { ref_to(5, 6, WIRE_RIGHT_SEND), 1ull << 40 };
		err = wire_encode_ref_release(buf, cap, &r, &len);
		break;
	}
	case WIRE_PORT_DEATH: {
		struct wire_port_death d = { 0xfeedull, 77 };
		err = wire_encode_port_death(buf, cap, &d, &len);
		break;
	}
	case WIRE_PING: {
		struct wire_ping p = { 0x1122334455667788ull };
		err = wire_encode_ping(buf, cap, &p, &len);
		break;
	}
	case WIRE_PONG: {
		struct wire_ping p = { 99 };
		err = wire_encode_pong(buf, cap, &p, &len);
		break;
	}
	}
	REQUIRE(err == WIRE_OK);
	return len;
}

static const int all_types[] = { WIRE_HELLO, WIRE_AUTH, WIRE_MSG, WIRE_REF_RELEASE,
                                 WIRE_PORT_DEATH, WIRE_PING, WIRE_PONG };
#define TYPE_COUNT (sizeof all_types / sizeof all_types[0])

/* ---- round trips -------------------------------------------------------- */

TEST(fixed_frames_round_trip)
{
	struct wire_frame f;
	size_t len;

	len = encode_sample(WIRE_HELLO, frame_buf, sizeof frame_buf);
	CHECK_EQ(len, WIRE_HELLO_SIZE);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_HELLO);
	CHECK_EQ(f.header.length, WIRE_HELLO_SIZE);
	CHECK(f.u.hello.node_id == 0x0123456789abcdefull);
	CHECK_EQ(f.u.hello.role, WIRE_ROLE_LISTENER);
	CHECK_EQ(f.u.hello.flags, WIRE_HELLO_KEYED);
	CHECK_EQ(f.u.hello.max_version, 1);
	CHECK_EQ(f.u.hello.nonce[31], 31 * 7 + 1);

	len = encode_sample(WIRE_AUTH, frame_buf, sizeof frame_buf);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_AUTH);
	CHECK_EQ(f.u.auth.mac[0], 0xff);
	CHECK_EQ(f.u.auth.mac[31], 0xff - 31);

	len = encode_sample(WIRE_REF_RELEASE, frame_buf, sizeof frame_buf);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_REF_RELEASE);
	struct wire_port_ref want = ref_to(5, 6, WIRE_RIGHT_SEND);
	CHECK(ref_equal(&f.u.release.ref, &want));
	CHECK(f.u.release.count == 1ull << 40);

	len = encode_sample(WIRE_PORT_DEATH, frame_buf, sizeof frame_buf);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_PORT_DEATH);
	CHECK(f.u.death.origin == 0xfeed && f.u.death.port == 77);

	len = encode_sample(WIRE_PING, frame_buf, sizeof frame_buf);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_PING);
	CHECK(f.u.ping.cookie == 0x1122334455667788ull);

	len = encode_sample(WIRE_PONG, frame_buf, sizeof frame_buf);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_PONG);
	CHECK(f.u.ping.cookie == 99);
}

TEST(simple_msg_round_trip)
{
	struct wire_msg_out m = {
		.id = 2200,
		.dest = ref_to(3, 1, WIRE_RIGHT_SEND_ONCE),
		.reply = ref_to(0, 0, WIRE_RIGHT_NONE),
	};
	struct wire_frame f;
	size_t len;

	CHECK_EQ(wire_encode_msg(frame_buf, sizeof frame_buf, &m, &len), WIRE_OK);
	CHECK_EQ(len, WIRE_MSG_FIXED_SIZE);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.type, WIRE_MSG);
	check_msg_matches(&f.u.msg, &m);

	/* A dead reply port and a complex message with no descriptors. */
	m.reply = ref_to(0, 0, WIRE_RIGHT_DEAD);
	m.flags = WIRE_MSG_COMPLEX;
	m.body = "abcd";
	m.body_size = 4;
	CHECK_EQ(wire_encode_msg(frame_buf, sizeof frame_buf, &m, &len), WIRE_OK);
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	check_msg_matches(&f.u.msg, &m);
}

TEST(complex_msg_round_trip)
{
	struct wire_msg_out m = complex_msg();
	struct wire_frame f;
	size_t len = encode_complex(frame_buf, sizeof frame_buf);

	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.header.length, len);
	CHECK_EQ(f.u.msg.ref_count, 8);
	CHECK_EQ(f.u.msg.ool_size, sizeof ool_a + sizeof ool_b);
	check_msg_matches(&f.u.msg, &m);
}

/* The head plus the body plus each OOL region, as a sender would writev
 * them, is exactly the whole frame. */
TEST(msg_head_plus_data_is_the_frame)
{
	static uint8_t whole[4096], pieces[4096];
	struct wire_msg_out m = complex_msg();
	size_t whole_len = encode_complex(whole, sizeof whole);
	size_t head_len, frame_len, at;

	CHECK_EQ(wire_msg_measure(&m, &head_len, &frame_len), WIRE_OK);
	CHECK_EQ(frame_len, whole_len);
	CHECK_EQ(wire_encode_msg_head(pieces, sizeof pieces, &m, &at), WIRE_OK);
	CHECK_EQ(at, head_len);
	memcpy(pieces + at, m.body, m.body_size);
	at += m.body_size;
	for (uint32_t i = 0; i < m.desc_count; i++)
		if (m.descs[i].type == WIRE_DESC_OOL && m.descs[i].count > 0) {
			memcpy(pieces + at, m.descs[i].ool, m.descs[i].count);
			at += m.descs[i].count;
		}
	CHECK_EQ(at, whole_len);
	CHECK(memcmp(pieces, whole, whole_len) == 0);
	CHECK_EQ(wire_encode_msg_head(pieces, head_len - 1, &m, &at), WIRE_ERR_SPACE);
}

/* A stream buffer holding several frames: each decodes at its offset. */
TEST(frames_back_to_back)
{
	size_t at = 0, lens[TYPE_COUNT];
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		lens[i] = encode_sample(all_types[i], frame_buf + at, sizeof frame_buf - at);
		at += lens[i];
	}
	size_t off = 0;
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		struct wire_frame f;
		CHECK_EQ(wire_frame_decode(frame_buf + off, at - off, &f), WIRE_OK);
		CHECK_EQ(f.header.type, all_types[i]);
		CHECK_EQ(f.header.length, lens[i]);
		off += f.header.length;
	}
	CHECK_EQ(off, at);
}

TEST(limits_at_the_edge_are_accepted)
{
	static struct wire_desc_out descs[WIRE_MSG_DESC_MAX];
	static struct wire_port_ref refs[WIRE_MSG_REF_MAX];
	static uint8_t big[WIRE_MSG_FIXED_SIZE + WIRE_MSG_DESC_MAX * WIRE_DESC_SIZE +
	                   WIRE_MSG_REF_MAX * WIRE_PORT_REF_SIZE];
	struct wire_msg_out m = { .flags = WIRE_MSG_COMPLEX, .dest = ref_to(1, 2, WIRE_RIGHT_SEND),
	                          .reply = ref_to(0, 0, WIRE_RIGHT_NONE),
	                          .desc_count = WIRE_MSG_DESC_MAX, .descs = descs };
	struct wire_frame f;
	size_t len;

	for (uint32_t i = 0; i < WIRE_MSG_REF_MAX; i++)
		refs[i] = ref_to(9, i + 1, WIRE_RIGHT_SEND);
	/* 1024 descriptors of 4 references each: 4096 references. */
	for (uint32_t i = 0; i < WIRE_MSG_DESC_MAX; i++)
		descs[i] = (struct wire_desc_out){ WIRE_DESC_OOL_PORTS, WIRE_RIGHT_SEND, 4,
		                                   refs + 4 * i, NULL };
	CHECK_EQ(wire_encode_msg(big, sizeof big, &m, &len), WIRE_OK);
	CHECK_EQ(len, sizeof big);
	CHECK_EQ(wire_frame_decode(big, len, &f), WIRE_OK);
	CHECK_EQ(f.u.msg.ref_count, WIRE_MSG_REF_MAX);

	/* One reference more is over the limit. */
	descs[0].count = 5;
	CHECK_EQ(wire_encode_msg(big, sizeof big, &m, &len), WIRE_ERR_LIMIT);
	descs[0].count = 4;
	m.desc_count = WIRE_MSG_DESC_MAX + 1;
	CHECK_EQ(wire_encode_msg(big, sizeof big, &m, &len), WIRE_ERR_LIMIT);
}

/* ---- encoder refusals ----------------------------------------------------- */

TEST(encoders_refuse_what_decoders_would)
{
	uint8_t buf[256];
	size_t len;
	struct wire_hello h = { .node_id = 0, .role = 0, .max_version = 1 };
	CHECK_EQ(wire_encode_hello(buf, sizeof buf, &h, &len), WIRE_ERR_FIELD);
	h.node_id = 1;
	h.role = 2;
	CHECK_EQ(wire_encode_hello(buf, sizeof buf, &h, &len), WIRE_ERR_FIELD);
	h.role = 0;
	h.flags = 0x80;
	CHECK_EQ(wire_encode_hello(buf, sizeof buf, &h, &len), WIRE_ERR_FIELD);
	h.flags = 0;
	h.max_version = 0;
	CHECK_EQ(wire_encode_hello(buf, sizeof buf, &h, &len), WIRE_ERR_FIELD);

	struct wire_ref_release r = { ref_to(1, 2, WIRE_RIGHT_RECEIVE), 1 };
	CHECK_EQ(wire_encode_ref_release(buf, sizeof buf, &r, &len), WIRE_ERR_FIELD);
	r.ref.right = WIRE_RIGHT_SEND;
	r.count = 0;
	CHECK_EQ(wire_encode_ref_release(buf, sizeof buf, &r, &len), WIRE_ERR_FIELD);
	r.count = 1;
	r.ref.origin = 0;
	CHECK_EQ(wire_encode_ref_release(buf, sizeof buf, &r, &len), WIRE_ERR_FIELD);

	struct wire_port_death d = { 1, 0 };
	CHECK_EQ(wire_encode_port_death(buf, sizeof buf, &d, &len), WIRE_ERR_FIELD);

	struct wire_msg_out m = { .dest = ref_to(1, 2, WIRE_RIGHT_RECEIVE),
	                          .reply = ref_to(0, 0, WIRE_RIGHT_NONE) };
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	m.dest = ref_to(0, 0, WIRE_RIGHT_NONE);
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	m.dest = ref_to(1, 2, WIRE_RIGHT_SEND);
	m.reply = ref_to(1, 3, WIRE_RIGHT_RECEIVE);
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	m.reply = ref_to(1, 0, WIRE_RIGHT_NONE);   /* NONE names no port */
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	m.reply = ref_to(0, 0, WIRE_RIGHT_NONE);
	m.body_size = WIRE_MSG_BODY_MAX + 1;
	m.body = buf;
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_LIMIT);
	m.body_size = 0;

	/* Descriptors without the complex flag; a ref whose right is not the
	 * descriptor's; a PORT descriptor carrying two references. */
	struct wire_port_ref two[2] = { ref_to(1, 5, WIRE_RIGHT_SEND), ref_to(1, 6, WIRE_RIGHT_SEND) };
	struct wire_desc_out desc = { WIRE_DESC_PORT, WIRE_RIGHT_SEND, 1, two, NULL };
	m.desc_count = 1;
	m.descs = &desc;
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	m.flags = WIRE_MSG_COMPLEX;
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_OK);
	desc.right = WIRE_RIGHT_SEND_ONCE;
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	desc.right = WIRE_RIGHT_SEND;
	desc.count = 2;
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	desc = (struct wire_desc_out){ 3, WIRE_RIGHT_NONE, 0, NULL, NULL };  /* OOL_VOLATILE */
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	desc = (struct wire_desc_out){ WIRE_DESC_OOL, WIRE_RIGHT_SEND, 0, NULL, NULL };
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
	m.flags = 0x2;
	m.desc_count = 0;
	CHECK_EQ(wire_encode_msg(buf, sizeof buf, &m, &len), WIRE_ERR_FIELD);
}

TEST(encoders_never_overrun_a_small_buffer)
{
	static uint8_t small[1024];
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		size_t need = encode_sample(all_types[i], frame_buf, sizeof frame_buf);
		for (size_t cap = 0; cap < need; cap++) {
			size_t len = 0;
			int err;
			memset(small, 0xa5, sizeof small);
			switch (all_types[i]) {
			case WIRE_MSG: {
				struct wire_msg_out m = complex_msg();
				err = wire_encode_msg(small, cap, &m, &len);
				break;
			}
			case WIRE_HELLO: {
				struct wire_hello h = { .node_id = 1, .max_version = 1 };
				err = wire_encode_hello(small, cap, &h, &len);
				break;
			}
			case WIRE_AUTH: {
				struct wire_auth a = {{0}};
				err = wire_encode_auth(small, cap, &a, &len);
				break;
			}
			case WIRE_REF_RELEASE: {
				struct wire_ref_release r = { ref_to(1, 1, WIRE_RIGHT_SEND), 1 };
				err = wire_encode_ref_release(small, cap, &r, &len);
				break;
			}
			case WIRE_PORT_DEATH: {
				struct wire_port_death d = { 1, 1 };
				err = wire_encode_port_death(small, cap, &d, &len);
				break;
			}
			default: {
				struct wire_ping p = { 1 };
				err = all_types[i] == WIRE_PING ? wire_encode_ping(small, cap, &p, &len)
				                                : wire_encode_pong(small, cap, &p, &len);
				break;
			}
			}
			CHECK_EQ(err, WIRE_ERR_SPACE);
			for (size_t k = cap; k < sizeof small; k++)
				if (small[k] != 0xa5) {
					CHECK(!"encoder wrote past its capacity");
					break;
				}
		}
	}
}

/* ---- decoder refusals ------------------------------------------------------ */

TEST(truncated_at_every_byte)
{
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		size_t len = encode_sample(all_types[i], frame_buf, sizeof frame_buf);
		for (size_t cut = 0; cut < len; cut++) {
			/* A copy of exactly `cut` bytes, so ASan sees any overread. */
			uint8_t *copy = malloc(cut ? cut : 1);
			REQUIRE(copy != NULL);
			memcpy(copy, frame_buf, cut);
			struct wire_frame f;
			CHECK_EQ(wire_frame_decode(copy, cut, &f), WIRE_ERR_TRUNCATED);
			free(copy);
		}
	}
}

TEST(bad_magic_version_type_flags)
{
	struct wire_frame f;
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		size_t len = encode_sample(all_types[i], frame_buf, sizeof frame_buf);
		for (int b = 0; b < 4; b++) {
			frame_buf[b] ^= 0x20;
			CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_MAGIC);
			frame_buf[b] ^= 0x20;
		}
		const uint8_t versions[] = { 0, 1, 3, 255 };
		for (size_t v = 0; v < sizeof versions; v++) {
			frame_buf[4] = versions[v];
			CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_VERSION);
		}
		frame_buf[4] = WIRE_VERSION;
		const uint8_t types[] = { 0, 8, 9, 0x7f, 0x80, 255 };
		for (size_t t = 0; t < sizeof types; t++) {
			frame_buf[5] = types[t];
			CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_TYPE);
		}
		frame_buf[5] = (uint8_t)all_types[i];
		for (int bit = 0; bit < 16; bit++) {
			frame_buf[6 + bit / 8] = (uint8_t)(1u << (bit % 8));
			CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_FLAGS);
			frame_buf[6] = frame_buf[7] = 0;
		}
		CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	}
}

TEST(lengths_that_lie)
{
	static uint8_t padded[sizeof frame_buf + 64];
	struct wire_frame f;
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		size_t len = encode_sample(all_types[i], padded, sizeof frame_buf);
		memset(padded + len, 0, sizeof padded - len);
		const uint32_t lies[] = { 0, 1, WIRE_HEADER_SIZE - 1, WIRE_HEADER_SIZE,
		                          (uint32_t)len - 1, (uint32_t)len + 1, (uint32_t)len + 20,
		                          WIRE_FRAME_MAX + 1, 0x80000000u, UINT32_MAX };
		for (size_t k = 0; k < sizeof lies / sizeof lies[0]; k++) {
			put_u32(padded + 8, lies[k]);
			int err = wire_frame_decode(padded, sizeof padded, &f);
			CHECK(err != WIRE_OK);
			if (err == WIRE_OK)
				fprintf(stderr, "type %d accepted length %u\n", all_types[i], lies[k]);
		}
		/* The header alone already refuses a fixed frame's wrong length. */
		if (all_types[i] != WIRE_MSG) {
			struct wire_header h;
			put_u32(padded + 8, (uint32_t)len + 1);
			CHECK_EQ(wire_header_decode(padded, WIRE_HEADER_SIZE, &h), WIRE_ERR_LENGTH);
		}
	}
}

/* Offsets in the complex MSG frame. */
enum {
	MSG_FLAGS = WIRE_HEADER_SIZE, MSG_ID = MSG_FLAGS + 4, MSG_DEST = MSG_ID + 4,
	MSG_REPLY = MSG_DEST + WIRE_PORT_REF_SIZE, MSG_DESC_COUNT = MSG_REPLY + WIRE_PORT_REF_SIZE,
	MSG_REF_COUNT = MSG_DESC_COUNT + 4, MSG_BODY_SIZE = MSG_REF_COUNT + 4,
	MSG_OOL_SIZE = MSG_BODY_SIZE + 4, MSG_DESCS = MSG_OOL_SIZE + 4,
};

/* Decodes a copy of the complex frame with one u32 replaced. */
static int decode_with_u32(size_t offset, uint32_t value)
{
	static uint8_t copy[4096];
	size_t len = encode_complex(copy, sizeof copy);
	struct wire_frame f;
	put_u32(copy + offset, value);
	return wire_frame_decode(copy, len, &f);
}

static int decode_with_u8(size_t offset, uint8_t value)
{
	static uint8_t copy[4096];
	size_t len = encode_complex(copy, sizeof copy);
	struct wire_frame f;
	copy[offset] = value;
	return wire_frame_decode(copy, len, &f);
}

TEST(msg_counts_that_lie)
{
	REQUIRE(MSG_DESCS == WIRE_MSG_FIXED_SIZE);
	/* Huge counts are over the limits whatever the length says. */
	CHECK_EQ(decode_with_u32(MSG_DESC_COUNT, UINT32_MAX), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_DESC_COUNT, WIRE_MSG_DESC_MAX + 1), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_REF_COUNT, UINT32_MAX), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_REF_COUNT, WIRE_MSG_REF_MAX + 1), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_BODY_SIZE, UINT32_MAX), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_BODY_SIZE, WIRE_MSG_BODY_MAX + 1), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_OOL_SIZE, UINT32_MAX), WIRE_ERR_LIMIT);
	CHECK_EQ(decode_with_u32(MSG_OOL_SIZE, WIRE_MSG_OOL_MAX + 1), WIRE_ERR_LIMIT);

	/* Counts within the limits that do not add up to the length. */
	uint8_t tmp[4096];
	encode_complex(tmp, sizeof tmp);
	const size_t counts[] = { MSG_DESC_COUNT, MSG_REF_COUNT, MSG_BODY_SIZE, MSG_OOL_SIZE };
	for (size_t c = 0; c < 4; c++) {
		uint32_t v = get_u32(tmp + counts[c]);
		CHECK_EQ(decode_with_u32(counts[c], v + 1), WIRE_ERR_INCONSISTENT);
		CHECK_EQ(decode_with_u32(counts[c], v - 1), WIRE_ERR_INCONSISTENT);
		CHECK_EQ(decode_with_u32(counts[c], 0), WIRE_ERR_INCONSISTENT);
	}

	/* Moving bytes between two sizes keeps the total, but then the
	 * descriptors' claims no longer match the areas. */
	uint32_t body_size = get_u32(tmp + MSG_BODY_SIZE), ool_size = get_u32(tmp + MSG_OOL_SIZE);
	{
		static uint8_t copy[4096];
		struct wire_frame f;
		size_t len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_BODY_SIZE, body_size + 1);
		put_u32(copy + MSG_OOL_SIZE, ool_size - 1);
		CHECK_EQ(wire_frame_decode(copy, len, &f), WIRE_ERR_INCONSISTENT);
		/* 20 body bytes are one reference's worth. */
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_REF_COUNT, get_u32(copy + MSG_REF_COUNT) + 1);
		put_u32(copy + MSG_BODY_SIZE, body_size - WIRE_PORT_REF_SIZE);
		CHECK(wire_frame_decode(copy, len, &f) != WIRE_OK);
		/* An OOL descriptor claiming more than the OOL area holds. */
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_DESCS + 1 * WIRE_DESC_SIZE + 4, ool_size + 1);
		CHECK_EQ(wire_frame_decode(copy, len, &f), WIRE_ERR_INCONSISTENT);
		/* An OOL_PORTS descriptor claiming more references than there are. */
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_DESCS + 3 * WIRE_DESC_SIZE + 4, 5);
		CHECK(wire_frame_decode(copy, len, &f) != WIRE_OK);   /* shifted refs misfit */
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_DESCS + 3 * WIRE_DESC_SIZE + 4, 8);
		CHECK_EQ(wire_frame_decode(copy, len, &f), WIRE_ERR_INCONSISTENT);
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_DESCS + 3 * WIRE_DESC_SIZE + 4, UINT32_MAX);
		CHECK(wire_frame_decode(copy, len, &f) != WIRE_OK);
		/* Claims that fall short leave references or OOL bytes unclaimed. */
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_DESCS + 3 * WIRE_DESC_SIZE + 4, 3);
		CHECK(wire_frame_decode(copy, len, &f) != WIRE_OK);
		len = encode_complex(copy, sizeof copy);
		put_u32(copy + MSG_DESCS + 8 * WIRE_DESC_SIZE + 4, 0);
		CHECK_EQ(wire_frame_decode(copy, len, &f), WIRE_ERR_INCONSISTENT);
	}
}

TEST(msg_fields_with_forbidden_values)
{
	size_t d0 = MSG_DESCS, d1 = MSG_DESCS + WIRE_DESC_SIZE;
	size_t refs = MSG_DESCS + 9 * WIRE_DESC_SIZE;   /* first reference */

	CHECK_EQ(decode_with_u32(MSG_FLAGS, 0), WIRE_ERR_FIELD);        /* descs, not complex */
	CHECK_EQ(decode_with_u32(MSG_FLAGS, 0x3), WIRE_ERR_FIELD);      /* unknown flag */
	CHECK_EQ(decode_with_u32(MSG_FLAGS, 0x80000001u), WIRE_ERR_FIELD);
	/* Destination: must be a live send or send-once right. */
	CHECK_EQ(decode_with_u8(MSG_DEST + 16, WIRE_RIGHT_RECEIVE), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(MSG_DEST + 16, WIRE_RIGHT_NONE), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(MSG_DEST + 16, WIRE_RIGHT_DEAD), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(MSG_DEST + 16, 5), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(MSG_DEST + 16, 255), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u32(MSG_DEST, 0), WIRE_ERR_FIELD);         /* origin 0 */
	CHECK_EQ(decode_with_u8(MSG_DEST + 17, 1), WIRE_ERR_FIELD);    /* reserved */
	CHECK_EQ(decode_with_u8(MSG_DEST + 19, 0x80), WIRE_ERR_FIELD);
	/* Reply: no receive right in the header. */
	CHECK_EQ(decode_with_u8(MSG_REPLY + 16, WIRE_RIGHT_RECEIVE), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(MSG_REPLY + 16, WIRE_RIGHT_NONE), WIRE_ERR_FIELD);  /* NONE with an id */
	/* Descriptors: unknown type (OOL_VOLATILE travels as OOL), bad right,
	 * reserved bits, a PORT descriptor with a count other than 1. */
	CHECK_EQ(decode_with_u8(d0, 3), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d0, 255), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d0 + 1, WIRE_RIGHT_NONE), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d0 + 1, WIRE_RIGHT_DEAD), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d0 + 1, 9), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d0 + 1, WIRE_RIGHT_SEND_ONCE), WIRE_ERR_FIELD);  /* ref is SEND */
	CHECK_EQ(decode_with_u8(d0 + 2, 1), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d0 + 3, 1), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u32(d0 + 4, 2), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u32(d0 + 4, 0), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(d1 + 1, WIRE_RIGHT_SEND), WIRE_ERR_FIELD);   /* OOL has no right */
	/* References: bad right, NONE/DEAD naming a port, live right naming none. */
	CHECK_EQ(decode_with_u8(refs + 16, 7), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(refs + 16, WIRE_RIGHT_NONE), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(refs + 16, WIRE_RIGHT_DEAD), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(refs + 16, WIRE_RIGHT_RECEIVE), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u8(refs + 18, 1), WIRE_ERR_FIELD);
	CHECK_EQ(decode_with_u32(refs + 8, 0), WIRE_ERR_FIELD);   /* port id 0 */
}

TEST(fixed_frames_with_forbidden_values)
{
	struct wire_frame f;
	size_t len;

	len = encode_sample(WIRE_HELLO, frame_buf, sizeof frame_buf);
	memset(frame_buf + WIRE_HEADER_SIZE, 0, 8);                   /* node id 0 */
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_FIELD);
	const struct { size_t off; uint8_t value; } hello_bad[] = {
		{ 8, 2 }, { 8, 255 },          /* role */
		{ 9, 0x08 }, { 9, 0x81 },      /* flags (bits 3-7 undefined) */
		{ 10, 0 },                     /* max_version */
		{ 11, 1 },                     /* reserved */
	};
	for (size_t i = 0; i < sizeof hello_bad / sizeof hello_bad[0]; i++) {
		len = encode_sample(WIRE_HELLO, frame_buf, sizeof frame_buf);
		frame_buf[WIRE_HEADER_SIZE + hello_bad[i].off] = hello_bad[i].value;
		CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_FIELD);
	}
	/* The defined flags together are a valid HELLO: KEYED, the
	 * AES-256-GCM offer and the clear offer (the handshake, not the
	 * decoder, ignores clear on a keyed link). */
	len = encode_sample(WIRE_HELLO, frame_buf, sizeof frame_buf);
	frame_buf[WIRE_HEADER_SIZE + 9] = WIRE_HELLO_KEYED | WIRE_HELLO_AES256GCM | WIRE_HELLO_CLEAR;
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);
	CHECK_EQ(f.u.hello.flags, WIRE_HELLO_KEYED | WIRE_HELLO_AES256GCM | WIRE_HELLO_CLEAR);
	/* A later version is fine in HELLO: it is how versions are negotiated. */
	len = encode_sample(WIRE_HELLO, frame_buf, sizeof frame_buf);
	frame_buf[WIRE_HEADER_SIZE + 10] = 9;
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_OK);

	const struct { size_t off; uint8_t value; } release_bad[] = {
		{ 16, WIRE_RIGHT_RECEIVE }, { 16, WIRE_RIGHT_NONE }, { 16, WIRE_RIGHT_DEAD }, { 16, 200 },
		{ 17, 1 },
	};
	for (size_t i = 0; i < sizeof release_bad / sizeof release_bad[0]; i++) {
		len = encode_sample(WIRE_REF_RELEASE, frame_buf, sizeof frame_buf);
		frame_buf[WIRE_HEADER_SIZE + release_bad[i].off] = release_bad[i].value;
		CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_FIELD);
	}
	len = encode_sample(WIRE_REF_RELEASE, frame_buf, sizeof frame_buf);
	memset(frame_buf + WIRE_HEADER_SIZE + 20, 0, 8);             /* count 0 */
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_FIELD);

	len = encode_sample(WIRE_PORT_DEATH, frame_buf, sizeof frame_buf);
	memset(frame_buf + WIRE_HEADER_SIZE, 0, 8);                   /* origin 0 */
	CHECK_EQ(wire_frame_decode(frame_buf, len, &f), WIRE_ERR_FIELD);
}

/* Every single-bit flip of every frame is either refused or decodes to a
 * frame whose views can all be walked (ASan checks they stay in bounds). */
TEST(single_bit_flips)
{
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		size_t len = encode_sample(all_types[i], frame_buf, sizeof frame_buf);
		uint8_t *copy = malloc(len);
		REQUIRE(copy != NULL);
		for (size_t bit = 0; bit < len * 8; bit++) {
			memcpy(copy, frame_buf, len);
			copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			struct wire_frame f;
			if (wire_frame_decode(copy, len, &f) != WIRE_OK)
				continue;
			CHECK(f.header.length <= len);
			if (f.header.type != WIRE_MSG)
				continue;
			struct wire_desc_iter it;
			struct wire_desc d;
			unsigned sum = 0;
			wire_desc_iter_init(&it, &f.u.msg);
			while (wire_desc_iter_next(&it, &d)) {
				for (uint32_t k = 0; d.type != WIRE_DESC_OOL && k < d.count; k++) {
					struct wire_port_ref r;
					wire_desc_ref(&d, k, &r);
					sum += r.right;
				}
				for (uint32_t k = 0; d.type == WIRE_DESC_OOL && k < d.count; k++)
					sum += d.ool[k];
			}
			(void)sum;
		}
		free(copy);
	}
}

TEST(error_strings)
{
	for (int e = WIRE_OK; e <= WIRE_ERR_SPACE; e++)
		CHECK(strcmp(wire_strerror(e), "unknown wire error") != 0);
	CHECK(strcmp(wire_strerror(-1), "unknown wire error") == 0);
}

int main(void)
{
	RUN(fixed_frames_round_trip);
	RUN(simple_msg_round_trip);
	RUN(complex_msg_round_trip);
	RUN(msg_head_plus_data_is_the_frame);
	RUN(frames_back_to_back);
	RUN(limits_at_the_edge_are_accepted);
	RUN(encoders_refuse_what_decoders_would);
	RUN(encoders_never_overrun_a_small_buffer);
	RUN(truncated_at_every_byte);
	RUN(bad_magic_version_type_flags);
	RUN(lengths_that_lie);
	RUN(msg_counts_that_lie);
	RUN(msg_fields_with_forbidden_values);
	RUN(fixed_frames_with_forbidden_values);
	RUN(single_bit_flips);
	RUN(error_strings);
	return harness_done();
}
