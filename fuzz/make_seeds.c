/* Writes one seed file per frame type (and a stream of them all) into the
 * directory given, using the encoder, so the fuzzer starts from valid
 * frames and mutates from there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_frame.h"

static const char *dir;
static uint8_t stream[8192];
static size_t stream_len;

static void save(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	if (stream_len + len <= sizeof stream) {
		memcpy(stream + stream_len, buf, len);
		stream_len += len;
	}
}

int main(int argc, char **argv)
{
	uint8_t buf[4096];
	size_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	struct wire_hello hello = { .node_id = 0x1122334455667788ull, .role = WIRE_ROLE_CONNECTOR,
	                            .flags = WIRE_HELLO_KEYED, .max_version = 1 };
	memset(hello.nonce, 0x4e, sizeof hello.nonce);
	if (wire_encode_hello(buf, sizeof buf, &hello, &len) == WIRE_OK)
		save("hello", buf, len);
	/* A version-2 HELLO offering AES-256-GCM, as a node with AES-NI sends. */
	hello.flags = WIRE_HELLO_KEYED | WIRE_HELLO_AES256GCM;
	hello.max_version = WIRE_VERSION;
	if (wire_encode_hello(buf, sizeof buf, &hello, &len) == WIRE_OK)
		save("hello_aes", buf, len);

	struct wire_auth auth;
	memset(auth.mac, 0xa7, sizeof auth.mac);
	if (wire_encode_auth(buf, sizeof buf, &auth, &len) == WIRE_OK)
		save("auth", buf, len);

	struct wire_ref_release release = { { 2, 3, WIRE_RIGHT_SEND_ONCE }, 5 };
	if (wire_encode_ref_release(buf, sizeof buf, &release, &len) == WIRE_OK)
		save("ref_release", buf, len);

	struct wire_port_death death = { 2, 3 };
	if (wire_encode_port_death(buf, sizeof buf, &death, &len) == WIRE_OK)
		save("port_death", buf, len);

	struct wire_ping ping = { 42 };
	if (wire_encode_ping(buf, sizeof buf, &ping, &len) == WIRE_OK)
		save("ping", buf, len);
	if (wire_encode_pong(buf, sizeof buf, &ping, &len) == WIRE_OK)
		save("pong", buf, len);

	struct wire_msg_out simple = { .id = 2200, .dest = { 1, 9, WIRE_RIGHT_SEND },
	                               .reply = { 2, 4, WIRE_RIGHT_SEND_ONCE },
	                               .body = "\1\0\0\0\0\0\0\0", .body_size = 8 };
	if (wire_encode_msg(buf, sizeof buf, &simple, &len) == WIRE_OK)
		save("msg_simple", buf, len);

	static const struct wire_port_ref one[] = { { 2, 5, WIRE_RIGHT_SEND } };
	static const struct wire_port_ref rcv[] = { { 2, 6, WIRE_RIGHT_RECEIVE } };
	static const struct wire_port_ref many[] = { { 2, 7, WIRE_RIGHT_SEND_ONCE },
	                                             { 0, 0, WIRE_RIGHT_DEAD },
	                                             { 0, 0, WIRE_RIGHT_NONE } };
	static const char page[64] = "a page of data";
	const struct wire_desc_out descs[] = {
		{ WIRE_DESC_PORT, WIRE_RIGHT_SEND, 1, one, NULL },
		{ WIRE_DESC_OOL, WIRE_RIGHT_NONE, sizeof page, NULL, page },
		{ WIRE_DESC_OOL_PORTS, WIRE_RIGHT_SEND_ONCE, 3, many, NULL },
		{ WIRE_DESC_PORT, WIRE_RIGHT_RECEIVE, 1, rcv, NULL },
	};
	struct wire_msg_out complex = simple;
	complex.flags = WIRE_MSG_COMPLEX;
	complex.desc_count = sizeof descs / sizeof descs[0];
	complex.descs = descs;
	if (wire_encode_msg(buf, sizeof buf, &complex, &len) == WIRE_OK)
		save("msg_complex", buf, len);

	save("stream", stream, stream_len);
	return 0;
}
