/* The link handshake: HELLO both ways, then AUTH both ways (keyed), then
 * the session keys.
 *
 *   K            = BLAKE2b-256(key bytes)                 (net_auth_key_set)
 *   proof(role)  = HMAC-SHA-512-256(K, "memobj-auth-v2" || role ||
 *                                   connector's HELLO frame || listener's HELLO frame)
 *   master       = BLAKE2b-256 keyed with K (unkeyed: no key),
 *                  of "memobj-session-v2" || connector's HELLO || listener's HELLO
 *   c2l, l2c     = crypto_kdf_derive_from_key(master, 1 / 2, "memobjLK")
 *
 * Both HELLOs carry a fresh nonce, so a proof is never valid twice and
 * every link has its own session keys; the prover's role is inside the
 * MAC, so a peer cannot reflect our own proof back at us. The records'
 * AEAD is AES-256-GCM when both HELLOs carry WIRE_HELLO_AES256GCM, else
 * XChaCha20-Poly1305: the flags are inside the proofs and the master, so
 * an attacker who clears one gets a link that fails its handshake (keyed)
 * or keys that differ on the two sides. An unkeyed Unix link whose both
 * HELLOs carry WIRE_HELLO_CLEAR sends its records in clear: its keys
 * would come from the public nonces alone, so sealing would protect
 * nothing the kernel does not (only same-uid peers; nobody else sees a
 * Unix socket's bytes). Frames are read
 * exactly (header, then payload), so no byte after the handshake is
 * consumed here. */
#include "net_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_socket.h"
#include "os/os_log.h"

static const char auth_label[] = "memobj-auth-v2";
static const char session_label[] = "memobj-session-v2";
static const char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "memobjLK";

_Static_assert(WIRE_MAC_SIZE == crypto_auth_hmacsha512256_BYTES, "proof size");
_Static_assert(NET_KEY_SIZE == crypto_auth_hmacsha512256_KEYBYTES, "key size");
_Static_assert(NET_KEY_SIZE == crypto_kdf_KEYBYTES, "kdf key size");

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void sodium_start(void)
{
	sodium_status = sodium_init() < 0 ? -1 : 0;
}

int net_crypto_init(void)
{
	pthread_once(&sodium_once, sodium_start);
	return sodium_status == 0 ? 0 : -ENOSYS;
}

static pthread_once_t aead_once = PTHREAD_ONCE_INIT;
static bool aead_offer_aes, aead_offer_clear;

static void aead_choose(void)
{
	const char *want = getenv(NET_AUTH_AEAD_ENV);
	bool aes = true;
	if (want != NULL && want[0] != '\0') {
		if (strcmp(want, "xchacha20poly1305") == 0)
			aes = false;
		else if (strcmp(want, "aes256gcm") != 0)
			os_log(OS_LOG_WARN, "%s=%s is neither aes256gcm nor xchacha20poly1305: "
			       "ignored", NET_AUTH_AEAD_ENV, want);
	}
	aead_offer_aes = aes && net_crypto_init() == 0 && crypto_aead_aes256gcm_is_available();
	const char *seal = getenv(NET_AUTH_SEAL_UNIX_ENV);
	aead_offer_clear = true;
	if (seal != NULL && seal[0] != '\0') {
		if (strcmp(seal, "1") == 0)
			aead_offer_clear = false;
		else if (strcmp(seal, "0") != 0)
			os_log(OS_LOG_WARN, "%s=%s is neither 0 nor 1: ignored", NET_AUTH_SEAL_UNIX_ENV,
			       seal);
	}
}

bool net_auth_offers_aes(void)
{
	pthread_once(&aead_once, aead_choose);
	return aead_offer_aes;
}

bool net_auth_offers_clear(void)
{
	pthread_once(&aead_once, aead_choose);
	return aead_offer_clear;
}

const char *net_aead_name(enum net_aead aead)
{
	return aead == NET_AEAD_AES256GCM ? "AES-256-GCM"
	       : aead == NET_AEAD_NONE    ? "none"
	                                  : "XChaCha20-Poly1305";
}

void net_auth_key_set(struct net_auth_key *key, const void *bytes, size_t len)
{
	net_auth_key_clear(key);
	if (len == 0 || net_crypto_init() != 0)
		return;
	crypto_generichash(key->bytes, sizeof key->bytes, bytes, len, NULL, 0);
	key->present = true;
}

void net_auth_key_from_env(struct net_auth_key *key)
{
	const char *text = getenv(NET_AUTH_KEY_ENV);
	net_auth_key_set(key, text, text ? strlen(text) : 0);
}

void net_auth_key_clear(struct net_auth_key *key)
{
	sodium_memzero(key, sizeof *key);
}

/* ---- the per-user key file ---- */

/* MEMOBJ_KEY_FILE, else $HOME/.memobj/key (HOME from passwd if unset). */
static int key_file_path(char *path, size_t cap)
{
	const char *env = getenv(NET_AUTH_KEY_FILE_ENV);
	if (env != NULL && env[0] != '\0')
		return snprintf(path, cap, "%s", env) < (int)cap ? 0 : -ENAMETOOLONG;
	const char *home = getenv("HOME");
	struct passwd pw, *found = NULL;
	char pwbuf[4096];
	if (home == NULL || home[0] == '\0') {
		if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &found) != 0 || found == NULL)
			return -ENOENT;
		home = pw.pw_dir;
	}
	return snprintf(path, cap, "%s/.memobj/key", home) < (int)cap ? 0 : -ENAMETOOLONG;
}

/* Makes the key file: 32 random bytes, written hex (a line, as a cookie
 * file is) to a private temporary file linked into place, so a reader
 * never sees a partial key and two processes racing agree on one. */
static int key_file_create(const char *path)
{
	char dir[4096], tmp[4200];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
	}
	uint8_t raw[32];
	char hex[2 * sizeof raw + 2];
	int err = net_random_bytes(raw, sizeof raw);
	if (err != 0)
		return err;
	sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
	size_t n = strlen(hex);
	hex[n++] = '\n';
	uint32_t tag;
	if ((err = net_random_bytes(&tag, sizeof tag)) != 0)
		return err;
	snprintf(tmp, sizeof tmp, "%s.%ld.%08x.tmp", path, (long)getpid(), tag);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	err = 0;
	if (fchmod(fd, 0600) != 0 || write(fd, hex, n) != (ssize_t)n || fsync(fd) != 0)
		err = -errno;
	sodium_memzero(hex, sizeof hex);
	close(fd);
	if (err == 0 && link(tmp, path) != 0 && errno != EEXIST)
		err = -errno;
	unlink(tmp);
	return err;
}

int net_auth_key_from_file(struct net_auth_key *key, const char **why)
{
	char path[4096];
	net_auth_key_clear(key);
	int err = key_file_path(path, sizeof path);
	if (err != 0) {
		*why = "no key file path (set MEMOBJ_KEY, MEMOBJ_KEY_FILE or HOME)";
		return err;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		err = key_file_create(path);
		if (err != 0) {
			*why = "cannot create the key file";
			return err;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		*why = "cannot read the key file";
		return -errno;
	}
	struct stat st;
	char text[4096];
	ssize_t n = -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		*why = "key file is not a private file of ours (mode 0600, our uid)";
		err = -EACCES;
	} else if ((n = read(fd, text, sizeof text)) <= 0) {
		*why = "key file is empty or unreadable";
		err = n < 0 ? -errno : -EACCES;
	}
	close(fd);
	if (err != 0)
		return err;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	if (n == 0) {
		*why = "key file is empty";
		return -EACCES;
	}
	net_auth_key_set(key, text, (size_t)n);
	sodium_memzero(text, sizeof text);
	return key->present ? 0 : -ENOSYS;
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
	*why = "not a Unix socket and no key is set";
	return false;
}

/* Computes the proof that `prover` holds the key. */
static void make_proof(const struct net_auth_key *key, uint8_t prover,
                       const uint8_t connector_hello[WIRE_HELLO_SIZE],
                       const uint8_t listener_hello[WIRE_HELLO_SIZE],
                       uint8_t mac[WIRE_MAC_SIZE])
{
	crypto_auth_hmacsha512256_state st;
	crypto_auth_hmacsha512256_init(&st, key->bytes, sizeof key->bytes);
	crypto_auth_hmacsha512256_update(&st, (const unsigned char *)auth_label,
	        sizeof auth_label - 1);
	crypto_auth_hmacsha512256_update(&st, &prover, 1);
	crypto_auth_hmacsha512256_update(&st, connector_hello, WIRE_HELLO_SIZE);
	crypto_auth_hmacsha512256_update(&st, listener_hello, WIRE_HELLO_SIZE);
	crypto_auth_hmacsha512256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
}

/* The two session keys, from the key (if any) and both HELLOs. */
static void derive_session(const struct net_auth_key *key, enum wire_role role,
                           const uint8_t connector_hello[WIRE_HELLO_SIZE],
                           const uint8_t listener_hello[WIRE_HELLO_SIZE],
                           struct net_auth_peer *peer)
{
	uint8_t master[crypto_kdf_KEYBYTES];
	uint8_t c2l[NET_KEY_SIZE], l2c[NET_KEY_SIZE];
	crypto_generichash_state st;
	bool keyed = key != NULL && key->present;

	crypto_generichash_init(&st, keyed ? key->bytes : NULL, keyed ? sizeof key->bytes : 0,
	        sizeof master);
	crypto_generichash_update(&st, (const unsigned char *)session_label,
	        sizeof session_label - 1);
	crypto_generichash_update(&st, connector_hello, WIRE_HELLO_SIZE);
	crypto_generichash_update(&st, listener_hello, WIRE_HELLO_SIZE);
	crypto_generichash_final(&st, master, sizeof master);
	crypto_kdf_derive_from_key(c2l, sizeof c2l, 1, kdf_context, master);
	crypto_kdf_derive_from_key(l2c, sizeof l2c, 2, kdf_context, master);
	memcpy(peer->tx_key, role == WIRE_ROLE_CONNECTOR ? c2l : l2c, NET_KEY_SIZE);
	memcpy(peer->rx_key, role == WIRE_ROLE_CONNECTOR ? l2c : c2l, NET_KEY_SIZE);
	sodium_memzero(master, sizeof master);
	sodium_memzero(c2l, sizeof c2l);
	sodium_memzero(l2c, sizeof l2c);
	sodium_memzero(&st, sizeof st);
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
		os_log(OS_LOG_WARN, "link with %s refused: %s", name, why);
	return err;
}

/* Sends our HELLO and takes the peer's; leaves both encoded frames in
 * ours/theirs for the proofs. */
static int exchange_hellos(int fd, enum wire_role role, uint64_t node_id, bool keyed,
                           bool offer_aes, bool offer_clear, int64_t deadline,
                           uint8_t ours[WIRE_HELLO_SIZE],
                           uint8_t theirs[WIRE_HELLO_SIZE], struct wire_hello *peer,
                           const char **why)
{
	struct wire_hello hello = {
		.node_id = node_id,
		.role = (uint8_t)role,
		.flags = (keyed ? WIRE_HELLO_KEYED : 0) | (offer_aes ? WIRE_HELLO_AES256GCM : 0) |
		         (offer_clear ? WIRE_HELLO_CLEAR : 0),
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

	if (peer->max_version < WIRE_VERSION) {
		*why = "peer speaks an older wire version (no per-frame encryption)";
		return -EPROTO;
	}
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
	sodium_memzero(&proof, sizeof proof);
	if (err != 0) {
		*why = err == -ETIMEDOUT ? "timed out" : "peer closed the connection";
		return err;
	}
	err = read_handshake_frame(fd, WIRE_AUTH, buf, deadline, &frame, why);
	if (err != 0)
		return err;

	make_proof(key, peer_role, connector_hello, listener_hello, expected);
	bool good = sodium_memcmp(expected, frame.u.auth.mac, WIRE_MAC_SIZE) == 0;
	sodium_memzero(expected, sizeof expected);
	if (!good) {
		*why = "wrong key";
		return -EACCES;
	}
	return 0;
}

static bool is_unix_socket(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && sa.ss_family == AF_UNIX;
}

int net_auth_handshake(int fd, enum wire_role role, uint64_t node_id,
                       const struct net_auth_key *key, int timeout_ms,
                       struct net_auth_peer *peer)
{
	return net_auth_handshake_offer(fd, role, node_id, key, timeout_ms,
	        net_auth_offers_aes(), net_auth_offers_clear(), peer);
}

int net_auth_handshake_offer(int fd, enum wire_role role, uint64_t node_id,
                             const struct net_auth_key *key, int timeout_ms, bool offer_aes,
                             bool offer_clear, struct net_auth_peer *peer)
{
	int64_t deadline = net_now_ms() + timeout_ms;
	struct net_auth_key file_key = {0};
	uint8_t ours[WIRE_HELLO_SIZE], theirs[WIRE_HANDSHAKE_FRAME_MAX];
	struct wire_hello hello = {0};
	const char *why = NULL;
	int err;

	if (net_crypto_init() != 0)
		return refuse(fd, -ENOSYS, "libsodium cannot start");
	/* TCP is always keyed: without an explicit key, by the key file.
	 * A Unix socket without one admits only our own uid. */
	if (key == NULL || !key->present) {
		if (is_unix_socket(fd)) {
			if (!net_auth_peer_local(fd, &why))
				return refuse(fd, -EACCES, why);
		} else {
			if (net_auth_key_from_file(&file_key, &why) != 0)
				return refuse(fd, -EACCES, why);
			key = &file_key;
		}
	}
	bool keyed = key != NULL && key->present;

	/* Offered only where it can run: a peer that takes up our offer
	 * must be able to rely on it. */
	offer_aes = offer_aes && crypto_aead_aes256gcm_is_available();
	/* In clear only where sealing would add nothing: a Unix socket
	 * without a key (the peer is of our uid, SO_PEERCRED). */
	offer_clear = offer_clear && !keyed && is_unix_socket(fd);
	err = exchange_hellos(fd, role, node_id, keyed, offer_aes, offer_clear, deadline, ours,
	        theirs, &hello, &why);
	if (err == 0 && keyed)
		err = exchange_proofs(fd, role, key, deadline, ours, theirs, &why);
	if (err == 0) {
		const uint8_t *c = role == WIRE_ROLE_CONNECTOR ? ours : theirs;
		const uint8_t *l = role == WIRE_ROLE_CONNECTOR ? theirs : ours;
		derive_session(key, role, c, l, peer);
	}
	net_auth_key_clear(&file_key);
	if (err != 0)
		return refuse(fd, err, why);

	peer->node_id = hello.node_id;
	peer->version = WIRE_VERSION;
	peer->aead = offer_clear && (hello.flags & WIRE_HELLO_CLEAR)    ? NET_AEAD_NONE
	             : offer_aes && (hello.flags & WIRE_HELLO_AES256GCM) ? NET_AEAD_AES256GCM
	                                                                 : NET_AEAD_XCHACHA20POLY1305;
	return 0;
}
