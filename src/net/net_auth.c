/* The link handshake: HELLO both ways, then (keyed) AUTH both ways.
 *
 *   proof(role) = HMAC-SHA256(key, "memobj-auth-v1" || role ||
 *                             connector's HELLO frame || listener's HELLO frame)
 *
 * Both HELLOs carry a fresh nonce, so a proof is never valid twice, and
 * the prover's role is inside the MAC, so a peer cannot reflect our own
 * proof back at us. Frames are read exactly (header, then payload), so no
 * byte after the handshake is consumed here. */
#include "net_auth.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hmac_sha256.h"
#include "net_socket.h"

static const char auth_label[] = "memobj-auth-v1";

void net_auth_key_set(struct net_auth_key *key, const void *bytes, size_t len)
{
	net_auth_key_clear(key);
	if (len == 0)
		return;
	/* HMAC would hash a long key anyway; doing it now keeps the struct small. */
	if (len > sizeof key->bytes) {
		net_sha256(bytes, len, key->bytes);
		key->len = NET_SHA256_DIGEST_SIZE;
	} else {
		memcpy(key->bytes, bytes, len);
		key->len = len;
	}
	key->present = true;
}

void net_auth_key_from_env(struct net_auth_key *key)
{
	const char *text = getenv(NET_AUTH_KEY_ENV);
	net_auth_key_set(key, text, text ? strlen(text) : 0);
}

void net_auth_key_clear(struct net_auth_key *key)
{
	explicit_bzero(key, sizeof *key);
}

int net_random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t got = getrandom(p, len, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

int net_random_node_id(uint64_t *node_id)
{
	do {
		int err = net_random_bytes(node_id, sizeof *node_id);
		if (err != 0)
			return err;
	} while (*node_id == 0);
	return 0;
}

bool net_auth_peer_local(int fd, const char **why)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;

	if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0) {
		*why = "no peer address";
		return false;
	}
	if (sa.ss_family == AF_UNIX) {
		struct ucred cred;
		socklen_t cred_len = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
			*why = "no peer credentials";
			return false;
		}
		if (cred.uid != geteuid()) {
			*why = "peer runs as another user and no key is set";
			return false;
		}
		return true;
	}
	if (sa.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
		if ((ntohl(in->sin_addr.s_addr) >> 24) == 127)
			return true;
	} else if (sa.ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)&sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127)
			return true;
	}
	*why = "peer is not on loopback and no key is set";
	return false;
}

/* Computes the proof that `prover` holds the key. */
static void make_proof(const struct net_auth_key *key, uint8_t prover,
                       const uint8_t connector_hello[WIRE_HELLO_SIZE],
                       const uint8_t listener_hello[WIRE_HELLO_SIZE],
                       uint8_t mac[WIRE_MAC_SIZE])
{
	struct net_hmac_sha256 ctx;
	net_hmac_sha256_init(&ctx, key->bytes, key->len);
	net_hmac_sha256_update(&ctx, auth_label, sizeof auth_label - 1);
	net_hmac_sha256_update(&ctx, &prover, 1);
	net_hmac_sha256_update(&ctx, connector_hello, WIRE_HELLO_SIZE);
	net_hmac_sha256_update(&ctx, listener_hello, WIRE_HELLO_SIZE);
	net_hmac_sha256_final(&ctx, mac);
}

/* Reads one frame of the expected type into buf (which holds
 * WIRE_HANDSHAKE_FRAME_MAX bytes): the header first, so a lying length
 * or a wrong type is refused before its payload is read. */
static int read_handshake_frame(int fd, uint8_t type, uint8_t *buf, int64_t deadline,
                                struct wire_frame *frame, const char **why)
{
	struct wire_header header;
	int err = net_read_full(fd, buf, WIRE_HEADER_SIZE, deadline);
	if (err != 0) {
		*why = err == -ETIMEDOUT ? "timed out" : "peer closed the connection";
		return err;
	}
	if (wire_header_decode(buf, WIRE_HEADER_SIZE, &header) != WIRE_OK ||
	    header.type != type || header.length > WIRE_HANDSHAKE_FRAME_MAX) {
		*why = "malformed or unexpected handshake frame";
		return -EPROTO;
	}
	err = net_read_full(fd, buf + WIRE_HEADER_SIZE, header.length - WIRE_HEADER_SIZE,
	                    deadline);
	if (err != 0) {
		*why = err == -ETIMEDOUT ? "timed out" : "peer closed the connection";
		return err;
	}
	if (wire_frame_decode(buf, header.length, frame) != WIRE_OK) {
		*why = "malformed handshake frame";
		return -EPROTO;
	}
	return 0;
}

static int refuse(int fd, int err, const char *why)
{
	char name[NET_ADDR_NAME_MAX];
	net_peer_name(fd, name, sizeof name);
	if (err != -ELOOP)  /* a node reaching itself is answered locally */
		fprintf(stderr, "memobj: link with %s refused: %s\n", name, why);
	return err;
}

/* Sends our HELLO and takes the peer's; leaves both encoded frames in
 * ours/theirs for the proofs. */
static int exchange_hellos(int fd, enum wire_role role, uint64_t node_id, bool keyed,
                           int64_t deadline, uint8_t ours[WIRE_HELLO_SIZE],
                           uint8_t theirs[WIRE_HELLO_SIZE], struct wire_hello *peer,
                           const char **why)
{
	struct wire_hello hello = {
		.node_id = node_id,
		.role = (uint8_t)role,
		.flags = keyed ? WIRE_HELLO_KEYED : 0,
		.max_version = WIRE_VERSION,
	};
	struct wire_frame frame;
	size_t len;
	int err = net_random_bytes(hello.nonce, sizeof hello.nonce);

	if (err != 0) {
		*why = "no random bytes";
		return err;
	}
	if (wire_encode_hello(ours, WIRE_HELLO_SIZE, &hello, &len) != WIRE_OK) {
		*why = "invalid local node id";
		return -EINVAL;
	}
	err = net_write_full(fd, ours, len, deadline);
	if (err != 0) {
		*why = err == -ETIMEDOUT ? "timed out" : "peer closed the connection";
		return err;
	}
	err = read_handshake_frame(fd, WIRE_HELLO, theirs, deadline, &frame, why);
	if (err != 0)
		return err;
	*peer = frame.u.hello;

	if (peer->role == (uint8_t)role) {
		*why = "peer claims our own role";
		return -EPROTO;
	}
	if (peer->node_id == node_id) {
		*why = "connected to ourselves";
		return -ELOOP;
	}
	if (keyed && !(peer->flags & WIRE_HELLO_KEYED)) {
		*why = "peer has no key";
		return -EACCES;
	}
	if (!keyed && (peer->flags & WIRE_HELLO_KEYED)) {
		*why = "peer expects a key and none is set";
		return -EACCES;
	}
	return 0;
}

static int exchange_proofs(int fd, enum wire_role role, const struct net_auth_key *key,
                           int64_t deadline, const uint8_t ours[WIRE_HELLO_SIZE],
                           const uint8_t theirs[WIRE_HELLO_SIZE], const char **why)
{
	const uint8_t *connector_hello = role == WIRE_ROLE_CONNECTOR ? ours : theirs;
	const uint8_t *listener_hello = role == WIRE_ROLE_CONNECTOR ? theirs : ours;
	uint8_t peer_role = role == WIRE_ROLE_CONNECTOR ? WIRE_ROLE_LISTENER : WIRE_ROLE_CONNECTOR;
	struct wire_auth proof;
	uint8_t expected[WIRE_MAC_SIZE];
	uint8_t buf[WIRE_HANDSHAKE_FRAME_MAX];
	struct wire_frame frame;
	size_t len;

	make_proof(key, (uint8_t)role, connector_hello, listener_hello, proof.mac);
	wire_encode_auth(buf, sizeof buf, &proof, &len);
	int err = net_write_full(fd, buf, len, deadline);
	explicit_bzero(&proof, sizeof proof);
	if (err != 0) {
		*why = err == -ETIMEDOUT ? "timed out" : "peer closed the connection";
		return err;
	}
	err = read_handshake_frame(fd, WIRE_AUTH, buf, deadline, &frame, why);
	if (err != 0)
		return err;

	make_proof(key, peer_role, connector_hello, listener_hello, expected);
	bool good = net_equal_constant_time(expected, frame.u.auth.mac, WIRE_MAC_SIZE);
	explicit_bzero(expected, sizeof expected);
	if (!good) {
		*why = "wrong key";
		return -EACCES;
	}
	return 0;
}

int net_auth_handshake(int fd, enum wire_role role, uint64_t node_id,
                       const struct net_auth_key *key, int timeout_ms,
                       struct net_auth_peer *peer)
{
	int64_t deadline = net_now_ms() + timeout_ms;
	bool keyed = key != NULL && key->present;
	uint8_t ours[WIRE_HELLO_SIZE], theirs[WIRE_HANDSHAKE_FRAME_MAX];
	struct wire_hello hello = {0};
	const char *why = NULL;
	int err;

	/* Without a key, look at who the peer is before sending anything. */
	if (!keyed && !net_auth_peer_local(fd, &why))
		return refuse(fd, -EACCES, why);

	err = exchange_hellos(fd, role, node_id, keyed, deadline, ours, theirs, &hello, &why);
	if (err == 0 && keyed)
		err = exchange_proofs(fd, role, key, deadline, ours, theirs, &why);
	if (err != 0)
		return refuse(fd, err, why);

	peer->node_id = hello.node_id;
	peer->version = hello.max_version < WIRE_VERSION ? hello.max_version : WIRE_VERSION;
	return 0;
}
