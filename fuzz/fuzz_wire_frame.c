/* libFuzzer target: the wire frame decoder on arbitrary bytes.
 *
 * The input is treated as a stream: frames are decoded one after another
 * as a link reader would. Every accepted frame is walked completely (each
 * descriptor, reference and OOL byte), re-encoded, and must re-encode to
 * the very bytes it was decoded from: the format has one encoding per
 * frame, so a decoder that accepts something the encoder would not write
 * is a bug the fuzzer reports by crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire_frame.h"

static uint8_t out[WIRE_MSG_FIXED_SIZE + WIRE_MSG_DESC_MAX * WIRE_DESC_SIZE +
                   WIRE_MSG_REF_MAX * WIRE_PORT_REF_SIZE];

static void check(int condition)
{
	if (!condition)
		abort();
}

/* Re-encodes a decoded MSG and compares it with the input bytes. */
static void reencode_msg(const uint8_t *in, const struct wire_msg *m, uint32_t length)
{
	static struct wire_desc_out descs[WIRE_MSG_DESC_MAX];
	static struct wire_port_ref refs[WIRE_MSG_REF_MAX];
	struct wire_desc_iter it;
	struct wire_desc d;
	uint32_t n = 0, r = 0;

	wire_desc_iter_init(&it, m);
	while (wire_desc_iter_next(&it, &d)) {
		check(n < m->desc_count);
		descs[n] = (struct wire_desc_out){ d.type, d.right, d.count, refs + r, d.ool };
		if (d.type != WIRE_DESC_OOL) {
			for (uint32_t k = 0; k < d.count; k++) {
				check(r < m->ref_count);
				wire_desc_ref(&d, k, &refs[r++]);
			}
		} else {
			descs[n].refs = NULL;
			/* Touch every OOL byte so ASan sees the view is in bounds. */
			volatile uint8_t sink = 0;
			for (uint32_t k = 0; k < d.count; k++)
				sink ^= d.ool[k];
			(void)sink;
		}
		n++;
	}
	check(n == m->desc_count && r == m->ref_count);

	struct wire_msg_out o = { m->flags, m->id, m->dest, m->reply, n, descs, m->body,
	                          m->body_size };
	size_t head, frame, len;
	check(wire_msg_measure(&o, &head, &frame) == WIRE_OK);
	check(frame == length);
	check(wire_encode_msg_head(out, sizeof out, &o, &len) == WIRE_OK && len == head);
	check(memcmp(out, in, head) == 0);
	check(m->body_size == 0 || memcmp(m->body, in + head, m->body_size) == 0);
}

static void reencode(const uint8_t *in, const struct wire_frame *f)
{
	size_t len = 0;
	int err = WIRE_ERR_TYPE;

	switch (f->header.type) {
	case WIRE_HELLO:       err = wire_encode_hello(out, sizeof out, &f->u.hello, &len); break;
	case WIRE_AUTH:        err = wire_encode_auth(out, sizeof out, &f->u.auth, &len); break;
	case WIRE_REF_RELEASE: err = wire_encode_ref_release(out, sizeof out, &f->u.release, &len); break;
	case WIRE_PORT_DEATH:  err = wire_encode_port_death(out, sizeof out, &f->u.death, &len); break;
	case WIRE_PING:        err = wire_encode_ping(out, sizeof out, &f->u.ping, &len); break;
	case WIRE_PONG:        err = wire_encode_pong(out, sizeof out, &f->u.ping, &len); break;
	case WIRE_MSG:
		reencode_msg(in, &f->u.msg, f->header.length);
		return;
	default:
		check(0);
	}
	check(err == WIRE_OK && len == f->header.length && memcmp(out, in, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy of exactly `size` bytes, so any overread is caught. */
	uint8_t *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);

	size_t at = 0;
	while (at < size) {
		struct wire_frame f;
		struct wire_header h;
		int err = wire_frame_decode(buf + at, size - at, &f);
		if (err != WIRE_OK) {
			/* The header decoder agrees with the frame decoder on headers. */
			int herr = wire_header_decode(buf + at, size - at, &h);
			check(herr == WIRE_OK || herr == err);
			break;
		}
		check(f.header.length >= WIRE_HEADER_SIZE && f.header.length <= size - at);
		reencode(buf + at, &f);
		at += f.header.length;
	}
	free(buf);
	return 0;
}
