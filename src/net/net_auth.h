/* Admitting a peer on a new link (docs/wire.md, "Handshake"), and the
 * session keys it leaves behind for the link's records (net_record.h).
 *
 * Every TCP link is keyed: with MEMOBJ_KEY (or a key set by the program)
 * when there is one, else with the per-user key file (MEMOBJ_KEY_FILE,
 * default $HOME/.memobj/key, created mode 0600 on first use, as Erlang's
 * ~/.erlang.cookie is), so a local user who cannot read our file cannot
 * connect. Both sides send a HELLO with a fresh random nonce, then each
 * proves it holds the key with HMAC-SHA-512-256 (libsodium crypto_auth)
 * over both HELLOs and its own role; nothing else is read or sent before
 * both proofs check out. A Unix link without an explicit key admits only
 * peers running as our own uid (the socket file is 0600 too). A refused
 * peer gets nothing more, and the refusal is logged on stderr in one line.
 *
 * The session keys, one per direction, are derived from the key and both
 * HELLOs (so both nonces): fresh for every link. Each HELLO also says
 * whether its sender can seal records with AES-256-GCM (libsodium offers
 * it only with AES-NI); when both can, the link's records use it, else
 * XChaCha20-Poly1305. The offer is inside both proofs and the session
 * keys, so nobody on the path can change it. */
#ifndef MEMOBJ_NET_AUTH_H
#define MEMOBJ_NET_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_frame.h"

#define NET_AUTH_KEY_ENV "MEMOBJ_KEY"
#define NET_AUTH_KEY_FILE_ENV "MEMOBJ_KEY_FILE"
#define NET_AUTH_TIMEOUT_MS 10000   /* whole handshake, default */
#define NET_KEY_SIZE 32             /* every key below */
#define NET_AUTH_AEAD_ENV "MEMOBJ_NET_AEAD"
#define NET_AUTH_SEAL_UNIX_ENV "MEMOBJ_NET_SEAL_UNIX"

/* How a link's records are sealed (net_record.h). */
enum net_aead {
	NET_AEAD_XCHACHA20POLY1305 = 0,   /* always there: the fallback */
	NET_AEAD_AES256GCM = 1,           /* when both sides offer it */
	NET_AEAD_NONE = 2,                /* records in clear: an unkeyed Unix link
	                                     whose both sides offer it (the kernel
	                                     alone carries its bytes; the keys would
	                                     come from public nonces) */
};

/* The key as the handshake uses it: a 32-byte hash of the key's bytes. */
struct net_auth_key {
	bool present;
	uint8_t bytes[NET_KEY_SIZE];
};

/* libsodium's one-time initialisation; 0 or -ENOSYS. */
int net_crypto_init(void);

/* An empty key (len 0) means "no key". */
void net_auth_key_set(struct net_auth_key *key, const void *bytes, size_t len);
/* Reads MEMOBJ_KEY (its bytes as they are); unset or empty: no key. */
void net_auth_key_from_env(struct net_auth_key *key);
/* Reads the per-user key file, making it (mode 0600, in a 0700 directory)
 * when it does not exist. Refuses a file that is not a regular file of
 * ours or that others may read. 0, or -errno with *why saying why. */
int net_auth_key_from_file(struct net_auth_key *key, const char **why);
void net_auth_key_clear(struct net_auth_key *key);

/* Fills buf from the kernel's random source (getrandom). 0 or -errno. */
int net_random_bytes(void *buf, size_t len);
/* A random nonzero node id. */
int net_random_node_id(uint64_t *node_id);

/* Without a key: is this connected Unix socket's peer admitted (our
 * uid)? On refusal, why says so. */
bool net_auth_peer_local(int fd, const char **why);

struct net_auth_peer {
	uint64_t node_id;
	uint8_t version;            /* frame version the link speaks */
	uint8_t aead;               /* enum net_aead: how its records are sealed */
	uint8_t tx_key[NET_KEY_SIZE];   /* records we send */
	uint8_t rx_key[NET_KEY_SIZE];   /* records we receive */
};

/* Runs the handshake on a connected socket as `role`, within timeout_ms.
 * Returns 0 with the peer's identity and the session keys, or: -EACCES
 * (refused: wrong key, key on one side only, peer not admitted without a
 * key, no usable key file), -EPROTO (a malformed or unexpected frame),
 * -ELOOP (connected to ourselves), -ETIMEDOUT, -ECONNRESET (the peer
 * closed: it refused us), other -errno. On failure the caller closes the
 * socket. */
int net_auth_handshake(int fd, enum wire_role role, uint64_t node_id,
                       const struct net_auth_key *key, int timeout_ms,
                       struct net_auth_peer *peer);
/* The same, offering AES-256-GCM or not, and records in clear or not (the
 * plain call offers what net_auth_offers_aes and net_auth_offers_clear
 * say). Clear is offered only on an unkeyed Unix link, and used when both
 * sides offer it. */
int net_auth_handshake_offer(int fd, enum wire_role role, uint64_t node_id,
                             const struct net_auth_key *key, int timeout_ms, bool offer_aes,
                             bool offer_clear, struct net_auth_peer *peer);
/* Whether this node offers AES-256-GCM: libsodium has it here (AES-NI)
 * and MEMOBJ_NET_AEAD, read once, is not "xchacha20poly1305". */
bool net_auth_offers_aes(void);
/* Whether this node offers records in clear on unkeyed Unix links:
 * unless MEMOBJ_NET_SEAL_UNIX, read once, is "1". */
bool net_auth_offers_clear(void);
/* "AES-256-GCM", "XChaCha20-Poly1305" or "none". */
const char *net_aead_name(enum net_aead aead);

#endif
