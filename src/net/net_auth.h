/* Admitting a peer on a new link (docs/wire.md, "Handshake").
 *
 * With a shared key (MEMOBJ_KEY, or set by the program) both sides send a
 * HELLO with a fresh random nonce, then each proves it holds the key with
 * HMAC-SHA256 over both HELLOs and its own role; nothing else is read or
 * sent before both proofs check out. Without a key a TCP link admits only
 * loopback peers, and a Unix link only peers running as our own uid (the
 * socket file is 0600 too). A refused peer gets nothing more, and the
 * refusal is logged on stderr in one line. */
#ifndef MEMOBJ_NET_AUTH_H
#define MEMOBJ_NET_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"
#include "wire_frame.h"

#define NET_AUTH_KEY_ENV "MEMOBJ_KEY"
#define NET_AUTH_TIMEOUT_MS 10000   /* whole handshake, default */

/* The key as HMAC uses it: at most one block (longer keys are hashed). */
struct net_auth_key {
	bool present;
	size_t len;
	uint8_t bytes[NET_SHA256_BLOCK_SIZE];
};

/* An empty key (len 0) means "no key". */
void net_auth_key_set(struct net_auth_key *key, const void *bytes, size_t len);
/* Reads MEMOBJ_KEY (its bytes as they are); unset or empty: no key. */
void net_auth_key_from_env(struct net_auth_key *key);
void net_auth_key_clear(struct net_auth_key *key);

/* Fills buf from the kernel's random source (getrandom). 0 or -errno. */
int net_random_bytes(void *buf, size_t len);
/* A random nonzero node id. */
int net_random_node_id(uint64_t *node_id);

/* Without a key: is this connected socket's peer admitted (loopback TCP,
 * or a Unix peer with our uid)? On refusal, why says so. */
bool net_auth_peer_local(int fd, const char **why);

struct net_auth_peer {
	uint64_t node_id;
	uint8_t version;            /* frame version the link speaks */
};

/* Runs the handshake on a connected socket as `role`, within timeout_ms.
 * Returns 0 with the peer's identity, or: -EACCES (refused: wrong key, key
 * on one side only, peer not local without a key), -EPROTO (a malformed
 * or unexpected frame), -ELOOP (connected to ourselves), -ETIMEDOUT,
 * -ECONNRESET (the peer closed: it refused us), other -errno. On failure
 * the caller closes the socket. */
int net_auth_handshake(int fd, enum wire_role role, uint64_t node_id,
                       const struct net_auth_key *key, int timeout_ms,
                       struct net_auth_peer *peer);

#endif
