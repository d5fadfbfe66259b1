/* Records: how frames travel after the handshake (docs/wire.md 3a).
 *
 * The frames of one direction form a byte stream cut into records:
 *
 *   length (4, little-endian, 1..NET_RECORD_MAX) || ciphertext (length) || tag (16)
 *
 * sealed with the link's AEAD (AES-256-GCM when both HELLOs offered it,
 * else XChaCha20-Poly1305; libsodium either way) under that direction's
 * session key, the length as associated data, and the record's sequence
 * number (0, 1, 2, ... per direction) as the nonce. A record that does
 * not open - injected, replayed, reordered, truncated or altered - is a
 * protocol error: the link is closed. On an unkeyed Unix link whose both
 * HELLOs offered it (NET_AEAD_NONE) a record is the length and the
 * frames' bytes in clear, with no tag. A record holds at most
 * NET_RECORD_MAX bytes of frames, so a receiver needs no more than one
 * record's room before it can check anything. */
#ifndef MEMOBJ_NET_RECORD_H
#define MEMOBJ_NET_RECORD_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "net_auth.h"

#define NET_RECORD_MAX   65536u       /* plaintext bytes per record */
#define NET_RECORD_HEAD  4u
#define NET_RECORD_TAG   16u          /* 0 in clear (net_record_tag) */
#define NET_RECORD_FULL  (NET_RECORD_HEAD + NET_RECORD_MAX + NET_RECORD_TAG)

/* One direction's state. Zero-initialised with a key copied in, it seals
 * with XChaCha20-Poly1305; net_record_key_init picks the AEAD. */
struct net_record_key {
	crypto_aead_aes256gcm_state aes;  /* expanded key (NET_AEAD_AES256GCM) */
	uint8_t key[NET_KEY_SIZE];
	uint64_t seq;                     /* the next record's number */
	uint8_t aead;                     /* enum net_aead */
};

/* Sets the key and AEAD and starts the sequence at 0. 0, or -ENOTSUP for
 * AES-256-GCM on a CPU without AES-NI (libsodium has no other). */
int net_record_key_init(struct net_record_key *k, const uint8_t key[NET_KEY_SIZE],
                        enum net_aead aead);
/* Wipes it. */
void net_record_key_clear(struct net_record_key *k);

/* The tag's size on this key's records: NET_RECORD_TAG, or 0 in clear. */
static inline uint32_t net_record_tag(const struct net_record_key *k)
{
	return k->aead == NET_AEAD_NONE ? 0 : NET_RECORD_TAG;
}

/* Seals the `len` plaintext bytes at rec + NET_RECORD_HEAD in place
 * (1 <= len <= NET_RECORD_MAX): writes the length before them and the
 * tag after. The record is NET_RECORD_HEAD + len + net_record_tag(k)
 * bytes. */
void net_record_seal(struct net_record_key *k, uint8_t *rec, uint32_t len);

/* The length field of a record's first NET_RECORD_HEAD bytes, or 0 when it
 * is out of range (a protocol error). */
uint32_t net_record_length(const uint8_t *rec);

/* Opens a whole record (its length already checked) into out (room for
 * its length). 0, or -EBADMSG when it does not authenticate (never in
 * clear: there the stream's integrity is the kernel's). */
int net_record_open(struct net_record_key *k, const uint8_t *rec, uint32_t len, uint8_t *out);

#endif
