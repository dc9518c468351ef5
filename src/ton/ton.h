/*
 * ton — TON blockchain data structures and the TON HTTP API v2 client.
 *
 *   cells      immutable, reference-counted; built with ton_builder, read with ton_slice
 *   BoC        bag-of-cells parse (outside input: strictly checked) and serialize
 *              (@ton/core's cell order, optional index and crc32c)
 *   addresses  MsgAddressInt std: raw "wc:hex" and user-friendly base64 forms
 *   dicts      HashmapE read and write with fixed-width keys
 *   messages   StateInit, internal/external messages, wallet v5r1 (and v4r2) transfers
 *   vouchers   DESIGN §7.3: proxy-signed cumulative payment vouchers
 *   contracts  message bodies for the cocoon contracts (contracts/SPEC.md)
 *   api        TON HTTP API v2 (toncenter-compatible) on the http layer's event-loop
 *              client: asynchronous calls, and blocking ones on a private loop;
 *              JSON parsing apart
 *
 * Memory: a ton_cell * returned by a function is a new reference owned by the
 * caller, released with ton_cell_unref(). Functions that take a cell borrow it
 * unless they say "takes". Cells referenced by other cells stay alive as long
 * as their parent does. Cells are immutable once built, so sharing is safe.
 * Functions that can fail return 0 / -1 (or NULL) and fill a cc_err.
 */
#ifndef COCOON_TON_H
#define COCOON_TON_H

#include "base/base.h"

/* ------------------------------------------------------------------ cells */

#define TON_CELL_MAX_BITS 1023
#define TON_CELL_MAX_REFS 4
#define TON_CELL_MAX_DEPTH 1024

typedef enum {
    TON_CELL_ORDINARY = 0,
    TON_CELL_PRUNED = 1, /* exotic types carry their type byte as value */
    TON_CELL_LIBRARY = 2,
    TON_CELL_MERKLE_PROOF = 3,
    TON_CELL_MERKLE_UPDATE = 4,
} ton_cell_type;

typedef struct ton_cell ton_cell;
typedef struct ton_slice ton_slice;
/* Read-only after construction. */
struct ton_cell {
    uint32_t refcount;
    uint16_t bit_len;
    uint8_t n_refs;
    uint8_t type;       /* ton_cell_type */
    uint8_t level_mask; /* 0 for cells without pruned branches below */
    uint8_t data[128];  /* bit_len bits, big-endian bit order, rest zero */
    ton_cell *refs[TON_CELL_MAX_REFS];
    uint8_t hashes[4][32]; /* hash at level 0..3 (index 3 = representation hash) */
    uint16_t depths[4];
};

ton_cell *ton_cell_ref(ton_cell *c); /* +1, returns c */
void ton_cell_unref(ton_cell *c);    /* -1, frees at 0; NULL is fine */
/* The standard representation hash (what every tool calls the cell hash). */
const uint8_t *ton_cell_hash(const ton_cell *c);
unsigned ton_cell_depth(const ton_cell *c);
bool ton_cell_equal(const ton_cell *a, const ton_cell *b); /* by hash */
/* Creates a cell from raw parts (the BoC parser uses this; exotic cells are
 * validated). Borrows refs (takes a new reference to each). */
ton_cell *ton_cell_create(bool exotic, const uint8_t *data, unsigned bit_len, ton_cell *const *refs,
                          unsigned n_refs, cc_err *err);
/* d1 d2 data(padded) depth(ref)... hash(ref)... at level 3 — the bytes hashed. */
void ton_cell_repr(const ton_cell *c, cc_buf *out);
/* Number of distinct cells (by hash) reachable from c, itself included. */
size_t ton_cell_count(const ton_cell *c);

/* ---------------------------------------------------------------- builder */

/* A builder is a stack value. Stores never fail loudly one by one: the first
 * overflow or out-of-range value is remembered and ton_builder_end() reports it,
 * so a message can be written as a plain sequence of stores. */
typedef struct ton_builder {
    uint8_t data[128];
    unsigned bits;
    unsigned n_refs;
    ton_cell *refs[TON_CELL_MAX_REFS];
    char error[160]; /* first error, "" if none */
} ton_builder;

void ton_builder_init(ton_builder *b);
/* Drops the references held by an abandoned builder. */
void ton_builder_clear(ton_builder *b);
/* Finishes an ordinary cell (the builder is reset and may be reused). */
ton_cell *ton_builder_end(ton_builder *b, cc_err *err);
int ton_builder_store_bit(ton_builder *b, bool bit);
int ton_builder_store_uint(ton_builder *b, uint64_t v, unsigned bits); /* bits <= 64 */
int ton_builder_store_int(ton_builder *b, int64_t v, unsigned bits);   /* two's complement */
/* A big-endian unsigned number of n bytes stored in `bits` bits (<= 256 in
 * practice; fails if the value does not fit). */
int ton_builder_store_uint_be(ton_builder *b, const uint8_t *be, size_t n, unsigned bits);
/* Raw bits: the first `bits` bits of `src`, MSB first. */
int ton_builder_store_bits(ton_builder *b, const uint8_t *src, unsigned bits);
int ton_builder_store_bytes(ton_builder *b, const void *src, size_t n);
/* Coins / Grams: VarUInteger 16 (4-bit length, then that many bytes). */
int ton_builder_store_coins(ton_builder *b, uint64_t nano);
/* Takes a new reference to ref. */
int ton_builder_store_ref(ton_builder *b, ton_cell *ref);
/* Maybe ^Cell: bit 0, or bit 1 and the ref. */
int ton_builder_store_maybe_ref(ton_builder *b, ton_cell *ref_or_null);
/* All bits and refs of another cell, inline. */
int ton_builder_store_cell_inline(ton_builder *b, const ton_cell *c);
/* The unread bits and refs of a slice, inline. */
int ton_builder_store_slice(ton_builder *b, const ton_slice *s);
unsigned ton_builder_bits_left(const ton_builder *b);
unsigned ton_builder_refs_left(const ton_builder *b);

/* ------------------------------------------------------------------ slice */

struct ton_slice {
    const ton_cell *cell;
    unsigned pos, end; /* bit window [pos, end) */
    unsigned ref_pos;
};

void ton_slice_init(ton_slice *s, const ton_cell *c);
unsigned ton_slice_bits_left(const ton_slice *s);
unsigned ton_slice_refs_left(const ton_slice *s);
int ton_slice_skip(ton_slice *s, unsigned bits, cc_err *err);
int ton_slice_load_bit(ton_slice *s, bool *out, cc_err *err);
int ton_slice_load_uint(ton_slice *s, unsigned bits, uint64_t *out, cc_err *err); /* <= 64 */
int ton_slice_load_int(ton_slice *s, unsigned bits, int64_t *out, cc_err *err);   /* <= 64 */
/* Loads `bits` bits into out as a big-endian number right-aligned in n bytes
 * (fails if it needs more than n bytes). */
int ton_slice_load_uint_be(ton_slice *s, unsigned bits, uint8_t *out, size_t n, cc_err *err);
/* Raw bits, MSB first, into out (ceil(bits/8) bytes; unused low bits zero). */
int ton_slice_load_bits(ton_slice *s, unsigned bits, uint8_t *out, cc_err *err);
int ton_slice_load_coins(ton_slice *s, uint64_t *out, cc_err *err); /* fails above 2^64-1 */
/* Borrowed: the reference stays owned by the cell. */
int ton_slice_load_ref(ton_slice *s, const ton_cell **out, cc_err *err);
int ton_slice_load_maybe_ref(ton_slice *s, const ton_cell **out_or_null, cc_err *err);
/* A new cell holding the unread part of the slice. */
ton_cell *ton_slice_to_cell(const ton_slice *s, cc_err *err);
/* Fails unless the slice is fully consumed (bits and refs). */
int ton_slice_expect_end(const ton_slice *s, cc_err *err);

/* -------------------------------------------------------------------- BoC */

typedef struct ton_boc_opts {
    bool crc32c; /* append a CRC-32C (the usual choice) */
    bool index;  /* include the offset index */
} ton_boc_opts;

#define TON_BOC_MAX_CELLS (1u << 20) /* refuse bigger bags from outside */

/* Serializes one root in @ton/core's cell order. Appends to out. */
int ton_boc_serialize(const ton_cell *root, ton_boc_opts opts, cc_buf *out, cc_err *err);
/* Parses a bag with at least one root and returns a new reference to the first
 * root. Rejects truncation, trailing bytes, bad CRC, forward/self references
 * (so no cycles), absent cells, oversize counts and malformed cells. */
ton_cell *ton_boc_parse(const uint8_t *data, size_t len, cc_err *err);
/* Same for base64 text (standard or URL-safe alphabet) and hex text. */
ton_cell *ton_boc_parse_base64(const char *text, cc_err *err);
ton_cell *ton_boc_parse_hex(const char *text, cc_err *err);
/* Serialized with crc32c, no index, then base64 (standard alphabet). Caller frees. */
char *ton_boc_to_base64(const ton_cell *root, cc_err *err);

/* Base64 helpers (also used for addresses). Decoding accepts both alphabets
 * and optional '=' padding. */
char *ton_base64_encode(const uint8_t *data, size_t n, bool url_safe); /* caller frees */
int ton_base64_decode(const char *text, size_t text_len, cc_buf *out, cc_err *err);

/* -------------------------------------------------------------- addresses */

typedef struct ton_addr {
    bool none; /* addr_none$00 */
    int8_t wc; /* workchain (0 basechain, -1 masterchain) */
    uint8_t hash[32];
} ton_addr;

#define TON_ADDR_FRIENDLY_LEN 48
/* The basechain address with an all-zero hash, in raw form: what the daemons
 * announce where COCOON's peers expect an address we do not have (no owner
 * configured, no contract with --chain none). COCOON parses every address in
 * the handshakes and drops a link over an empty one. */
#define TON_ADDR_ZERO_RAW "0:0000000000000000000000000000000000000000000000000000000000000000"
/* Accepts "wc:hex" (64 hex digits) and the 48-character user-friendly forms in
 * either base64 alphabet (CRC16 checked). Optional out flags may be NULL. */
int ton_addr_parse(const char *text, ton_addr *out, bool *bounceable, bool *testnet, cc_err *err);
/* "wc:hex" into out (at least 70 bytes). */
void ton_addr_to_raw(const ton_addr *a, char *out, size_t out_len);
/* 48 characters + NUL into out (at least 49 bytes). */
void ton_addr_to_friendly(const ton_addr *a, bool bounceable, bool testnet, bool url_safe,
                          char out[49]);
bool ton_addr_equal(const ton_addr *a, const ton_addr *b);
/* MsgAddress: addr_none$00 or addr_std$10 anycast:0 wc:int8 hash:bits256. */
int ton_builder_store_addr(ton_builder *b, const ton_addr *a);
/* Loads addr_none or addr_std (rejects anycast, extern and var addresses). */
int ton_slice_load_addr(ton_slice *s, ton_addr *out, cc_err *err);

/* --------------------------------------------------------------- messages */

/* StateInit with code and data (no split depth, no special, no libraries). */
ton_cell *ton_state_init(ton_cell *code, ton_cell *data, cc_err *err);
/* The address of a contract with that StateInit in workchain wc. */
void ton_state_init_address(const ton_cell *state_init, int8_t wc, ton_addr *out);

/* An internal message as wallets send it (MessageRelaxed: src addr_none,
 * ihr_disabled, no fees, lt/time zero). init and body may be NULL. */
typedef struct ton_int_msg {
    ton_addr dest;
    uint64_t value; /* nanoton */
    bool bounce;
    ton_cell *init; /* StateInit to deploy the destination, or NULL */
    ton_cell *body; /* or NULL for an empty body */
} ton_int_msg;
ton_cell *ton_msg_internal(const ton_int_msg *m, cc_err *err);
/* External inbound message to dest (import_fee 0). init may be NULL. */
ton_cell *ton_msg_external(const ton_addr *dest, ton_cell *init, ton_cell *body, cc_err *err);
/* The normalized hash of an external message (TEP-467: src none, fee 0, no
 * init, body as a ref), which explorers and toncenter use to find it. */
int ton_msg_external_normalized_hash(const ton_cell *ext, uint8_t out[32], cc_err *err);
/* Text comment body: op 0 then the UTF-8 text (longer texts continue in refs). */
ton_cell *ton_msg_comment(const char *text, cc_err *err);

/* ---------------------------------------------------------------- wallets */

typedef enum { TON_WALLET_V5R1 = 0, TON_WALLET_V4R2 = 1 } ton_wallet_version;

#define TON_GLOBAL_ID_MAINNET (-239)
#define TON_GLOBAL_ID_TESTNET (-3)
#define TON_WALLET_V4_SUBWALLET 698983191u

typedef struct ton_wallet {
    ton_wallet_version version;
    int8_t wc;
    uint8_t pub[32];
    uint32_t wallet_id; /* v5r1: see ton_wallet_v5r1_id(); v4r2: subwallet id */
} ton_wallet;

/* v5r1 wallet_id as @ton/ton computes it: network_global_id XOR the 32-bit
 * context (1 | wc:int8 | version 0:uint8 | subwallet:uint15). */
uint32_t ton_wallet_v5r1_id(int32_t network_global_id, int8_t wc, uint32_t subwallet);
/* The default wallet of that version: v5r1 with subwallet 0 on the given
 * network, or v4r2 with subwallet 698983191 + wc. */
void ton_wallet_init(ton_wallet *w, ton_wallet_version v, int8_t wc, const uint8_t pub[32],
                     int32_t network_global_id);
ton_cell *ton_wallet_code(ton_wallet_version v, cc_err *err);
ton_cell *ton_wallet_data(const ton_wallet *w, cc_err *err); /* initial data, seqno 0 */
ton_cell *ton_wallet_state_init(const ton_wallet *w, cc_err *err);
int ton_wallet_address(const ton_wallet *w, ton_addr *out, cc_err *err);

typedef struct ton_out_msg {
    uint8_t mode;  /* send mode, usually 3 (pay fees separately, ignore errors) */
    ton_cell *msg; /* MessageRelaxed, e.g. from ton_msg_internal() */
} ton_out_msg;
#define TON_WALLET_V4_MAX_MSGS 4   /* one ref per message */
#define TON_WALLET_V5_MAX_MSGS 255 /* an out-action list */

/* The signed body of a transfer (v5r1: auth_signed_external with the
 * signature at the tail; v4r2: signature first). priv is the Ed25519 seed. */
ton_cell *ton_wallet_transfer_body(const ton_wallet *w, const uint8_t priv[32], uint32_t seqno,
                                   uint32_t valid_until, const ton_out_msg *msgs, size_t n_msgs,
                                   cc_err *err);
/* The whole external message; with_init attaches the StateInit (first use). */
ton_cell *ton_wallet_transfer(const ton_wallet *w, const uint8_t priv[32], uint32_t seqno,
                              uint32_t valid_until, const ton_out_msg *msgs, size_t n_msgs,
                              bool with_init, cc_err *err);

/* ------------------------------------------------------------ dictionaries */

/* An in-memory HashmapE with fixed-width keys (1..256 bits). Keys are bit
 * strings MSB first (a 256-bit hash is simply its 32 bytes; a uint32 key is
 * its 4 big-endian bytes). Values are cells whose bits and refs are stored
 * inline in the leaves (an empty cell for "Unit" sets). */
typedef struct ton_dict_entry {
    uint8_t key[32];
    ton_cell *value; /* owned by the dict */
} ton_dict_entry;

typedef struct ton_dict {
    unsigned key_bits;
    ton_dict_entry *items; /* unsorted; serialization sorts a copy */
    size_t n, cap;
} ton_dict;

#define TON_DICT_MAX_ENTRIES (1u << 16) /* refuse bigger dictionaries from outside */

void ton_dict_init(ton_dict *d, unsigned key_bits);
void ton_dict_free(ton_dict *d);
/* Inserts or replaces; takes a new reference to value. */
int ton_dict_set(ton_dict *d, const uint8_t *key, ton_cell *value, cc_err *err);
/* Convenience: a key that is an unsigned integer (key_bits <= 64). */
void ton_dict_key_uint(unsigned key_bits, uint64_t v, uint8_t key[32]);
bool ton_dict_del(ton_dict *d, const uint8_t *key);
ton_cell *ton_dict_get(const ton_dict *d, const uint8_t *key); /* borrowed or NULL */
/* The Hashmap root cell, or *root = NULL for an empty dictionary. */
int ton_dict_serialize(const ton_dict *d, ton_cell **root, cc_err *err);
/* Reads every entry of a Hashmap root (NULL = empty) into d (initialized by
 * the call). Outside input: labels, forks and the entry count are checked. */
int ton_dict_parse(ton_dict *d, const ton_cell *root, unsigned key_bits, cc_err *err);
/* HashmapE in a cell: a Maybe ^Hashmap. */
int ton_builder_store_dict(ton_builder *b, const ton_dict *d, cc_err *err);
int ton_slice_load_dict(ton_slice *s, unsigned key_bits, ton_dict *out, cc_err *err);

/* --------------------------------------------------------------- vouchers */

/* DESIGN §7.3 / contracts/SPEC.md §0.3. A voucher is an outer cell
 *   op:32 query_id:64 excess_to:addr signature:512 ^inner
 * whose inner cell is either a payment (op qid tokens:64 target:addr) or a
 * proxy close request (op qid target:addr); the proxy's Ed25519 key signs the
 * inner cell's representation hash. */
/* The value COCOON's daemons send with a message to a client, proxy or worker
 * contract for its gas (to_nano(0.7)); the contracts send back what is left. */
#define TON_CONTRACT_MSG_NANO 700000000ull
#define TON_OP_CLIENT_CHARGE_SIGNED 0xbb63ff93u
#define TON_OP_CLIENT_GRANT_REFUND_SIGNED 0xefd711e1u
#define TON_OP_WORKER_PAYOUT_SIGNED 0xa040ad28u
#define TON_OP_WORKER_LAST_PAYOUT_SIGNED 0xf5f26a36u
#define TON_OP_PROXY_CLOSE_SIGNED 0x636a4391u
#define TON_OP_PROXY_CLOSE_COMPLETE_SIGNED 0xe511abc7u

typedef struct ton_voucher {
    uint32_t op;
    uint64_t query_id;
    bool is_close;      /* close request layout: no tokens */
    uint64_t tokens;    /* payment: cumulative token total */
    ton_addr target;    /* the contract the voucher is bound to */
    ton_addr excess_to; /* outer, unsigned: chosen by whoever relays it */
    uint8_t signature[64];
} ton_voucher;

ton_cell *ton_voucher_inner(const ton_voucher *v, cc_err *err);
/* Signs v's inner cell with priv (fills v->signature) and returns the outer cell. */
ton_cell *ton_voucher_sign(ton_voucher *v, const uint8_t priv[32], cc_err *err);
/* Builds the outer cell from v as is (e.g. to repack with another excess_to). */
ton_cell *ton_voucher_outer(const ton_voucher *v, cc_err *err);
/* Parses an outer cell (outside input) and checks that the inner op and
 * query_id equal the outer ones. Does not check the signature. */
int ton_voucher_parse(const ton_cell *outer, ton_voucher *out, cc_err *err);
/* Parses and verifies the signature with the proxy's public key. */
int ton_voucher_verify(const ton_cell *outer, const uint8_t pub[32], ton_voucher *out, cc_err *err);

/* -------------------------------------------------------------- contracts */

/* Message bodies, storage and initial data of the cocoon contracts exactly as
 * contracts/SPEC.md lays them out. Every body starts with op:32 query_id:64. */
enum {
    TON_OP_EXCESSES = 0x2565934c,
    TON_OP_PAYOUT = 0xc59a7cd3,
    TON_OP_ROOT_ADD_PROXY_TYPE = 0x71860e80,
    TON_OP_ROOT_DEL_PROXY_TYPE = 0x3c41d0b2,
    TON_OP_ROOT_ADD_WORKER_TYPE = 0xe34b1c60,
    TON_OP_ROOT_DEL_WORKER_TYPE = 0x8d94a79a,
    TON_OP_ROOT_ADD_MODEL_TYPE = 0xc146134d,
    TON_OP_ROOT_DEL_MODEL_TYPE = 0x92b11c18,
    TON_OP_ROOT_REGISTER_PROXY = 0x927c7cb5,
    TON_OP_ROOT_UNREGISTER_PROXY = 0x6d49eaf2,
    TON_OP_ROOT_UPDATE_PROXY = 0x9c7924ba,
    TON_OP_ROOT_CHANGE_PRICE = 0xc52ed8d4,
    TON_OP_ROOT_CHANGE_PARAMS = 0x022fa189,
    TON_OP_ROOT_CHANGE_PARAMS_FULL = 0x9f1e69dc,
    TON_OP_ROOT_UPGRADE_CONTRACTS = 0xa2370f61,
    TON_OP_ROOT_CHANGE_OWNER = 0xc4a1ae54,
    TON_OP_DO_NOT_PROCESS = 0x9a1247c0,
    TON_OP_CLIENT_TOP_UP = 0xf172e6c2,
    TON_OP_CLIENT_TOP_UP_REOPEN = 0x29111ceb,
    TON_OP_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP = 0x8473b408,
    TON_OP_CLIENT_INCREASE_STAKE = 0x6a1f6a60,
    TON_OP_CLIENT_WITHDRAW = 0xda068e78,
    TON_OP_CLIENT_CHANGE_SECRET_HASH = 0xa9357034,
    TON_OP_CLIENT_REGISTER = 0xc45f9f3b,
    TON_OP_CLIENT_REQUEST_REFUND = 0xfafa6cc1,
    TON_OP_CLIENT_PROXY_REQUEST = 0x65448ff4,
    TON_OP_CLIENT_PROXY_TOP_UP = 0x5cfc6b87,
    TON_OP_CLIENT_PROXY_REGISTER = 0xa35cb580,
    TON_OP_CLIENT_PROXY_REFUND_GRANTED = 0xc68ebc7b,
    TON_OP_CLIENT_PROXY_REFUND_FORCE = 0xf4c354c9,
    TON_OP_WORKER_REGISTER = 0x26ed7f65,
    TON_OP_WORKER_PROXY_REQUEST = 0x4d725d2c,
    TON_OP_WORKER_PROXY_PAYOUT_REQUEST = 0x08e7d036,
    TON_OP_PROXY_INCREASE_STAKE = 0x9713f187,
    TON_OP_PROXY_SAVE_STATE = 0x53109c0f,
    TON_OP_PROXY_PAYOUT_REQUEST = 0x7610e6eb,
    TON_OP_PROXY_CLOSE = 0xb51d5a01,
};

/* Attached-value minimums of the contracts (SPEC §0.1), nanoton. */
#define TON_CONTRACT_RESERVE 10000000ull
#define TON_CONTRACT_MIN_GAS 20000000ull
#define TON_CONTRACT_MIN_GAS_FORWARD 50000000ull

typedef struct ton_root_params {
    uint8_t struct_version; /* 3 */
    uint32_t params_version, unique_id;
    bool is_test;
    uint64_t price_per_token, worker_fee_per_token;
    uint32_t prompt_mult, cached_mult, completion_mult, reasoning_mult; /* x10000 */
    uint32_t proxy_delay_before_close, client_delay_before_close;       /* seconds */
    uint64_t min_proxy_stake, min_client_stake;
    ton_cell *proxy_code, *worker_code, *client_code; /* owned references or NULL */
} ton_root_params;

ton_cell *ton_root_params_build(const ton_root_params *p, cc_err *err);
/* Fills p (which then owns its code references: ton_root_params_clear). */
int ton_root_params_parse(const ton_cell *c, ton_root_params *p, cc_err *err);
void ton_root_params_clear(ton_root_params *p);

/* RootData: the registry's sets and registered proxies. */
typedef struct ton_root_data {
    ton_dict proxy_hashes; /* 256-bit keys, empty values */
    ton_dict proxies;      /* 32-bit seqno -> ProxyInfo cell */
    uint32_t last_proxy_seqno;
    ton_dict worker_hashes;
    ton_dict model_hashes;
} ton_root_data;

void ton_root_data_init(ton_root_data *d);
void ton_root_data_free(ton_root_data *d);
ton_cell *ton_root_data_build(const ton_root_data *d, cc_err *err);
int ton_root_data_parse(const ton_cell *c, ton_root_data *d, cc_err *err);
/* RootStorage = owner ^RootData ^RootParams version:uint32. */
ton_cell *ton_root_storage_build(const ton_addr *owner, ton_cell *data, ton_cell *params,
                                 uint32_t version, cc_err *err);
/* ProxyInfo = type:uint1(0) len:uint7 text. */
ton_cell *ton_proxy_info_build(const char *text, cc_err *err);
/* Reads a ProxyInfo from a slice; text gets len bytes + NUL (out_len >= 128). */
int ton_proxy_info_parse(ton_slice *s, char *text, size_t out_len, cc_err *err);

/* Root (owner-only) bodies. op is one of the add/del type ops for _hash. */
ton_cell *ton_body_root_hash(uint32_t op, uint64_t qid, const uint8_t hash[32], cc_err *err);
ton_cell *ton_body_root_register_proxy(uint64_t qid, const char *info, cc_err *err);
ton_cell *ton_body_root_unregister_proxy(uint64_t qid, uint32_t seqno, cc_err *err);
ton_cell *ton_body_root_update_proxy(uint64_t qid, uint32_t seqno, const char *info, cc_err *err);
ton_cell *ton_body_root_change_price(uint64_t qid, uint64_t price_per_token,
                                     uint64_t worker_fee_per_token, cc_err *err);
/* COCOON's change_params: sets these six numbers, keeps the rest of the params. */
typedef struct ton_root_change_params {
    uint64_t price_per_token, worker_fee_per_token;
    uint32_t proxy_delay_before_close, client_delay_before_close;
    uint64_t min_proxy_stake, min_client_stake;
} ton_root_change_params;
ton_cell *ton_body_root_change_params(uint64_t qid, const ton_root_change_params *p, cc_err *err);
/* change_params_full: replaces the whole params cell (params_version excepted). */
ton_cell *ton_body_root_change_params_full(uint64_t qid, ton_cell *params, cc_err *err);
ton_cell *ton_body_root_upgrade_contracts(uint64_t qid, ton_cell *proxy_code, ton_cell *worker_code,
                                          ton_cell *client_code, cc_err *err);
ton_cell *ton_body_root_change_owner(uint64_t qid, const ton_addr *owner, cc_err *err);

/* `op qid amount:Coins excess_to:addr`: client top-up / top-up-reopen /
 * increase stake, proxy increase stake. */
ton_cell *ton_body_coins_addr(uint32_t op, uint64_t qid, uint64_t amount, const ton_addr *excess_to,
                              cc_err *err);
/* `op qid excess_to:addr`: client withdraw / request refund, worker register,
 * proxy payout request / close. */
ton_cell *ton_body_addr(uint32_t op, uint64_t qid, const ton_addr *excess_to, cc_err *err);
ton_cell *ton_body_client_change_secret_hash(uint64_t qid, const uint8_t hash[32],
                                             const ton_addr *excess_to, cc_err *err);
ton_cell *ton_body_client_change_secret_hash_and_top_up(uint64_t qid, uint64_t amount,
                                                        const uint8_t hash[32],
                                                        const ton_addr *excess_to, cc_err *err);
ton_cell *ton_body_client_register(uint64_t qid, uint64_t nonce, const ton_addr *excess_to,
                                   cc_err *err);
/* COCOON's save-state note (ProxyContract::create_save_state_message): the
 * proxy's wallet sends `do_not_process qid proxy_save_state:32 seqno:32
 * unique_hash:256` to the proxy contract, which ignores it; the proxy reads it
 * back from the transaction list. */
ton_cell *ton_body_proxy_save_state(uint64_t qid, uint32_t seqno, const uint8_t unique_hash[32],
                                    cc_err *err);

/* Contract-to-contract bodies (sent by the client and worker contracts to the
 * proxy contract; built here for tests and for the proxy to recognise them):
 *   client_proxy_request qid owner ^ClientStateData payload:(Maybe ^Cell)
 *   worker_proxy_request qid owner state:2 tokens:64 payload:(Maybe ^Cell)
 * and their payloads. payload may be NULL (a state note). */
typedef struct ton_client_state_data {
    uint32_t state;
    uint64_t balance, stake, tokens_used;
    uint8_t secret_hash[32];
} ton_client_state_data;
ton_cell *ton_body_client_proxy_request(uint64_t qid, const ton_addr *owner,
                                        const ton_client_state_data *st, ton_cell *payload,
                                        cc_err *err);
/* op is TON_OP_CLIENT_PROXY_TOP_UP, _REFUND_GRANTED or _REFUND_FORCE. */
ton_cell *ton_payload_client_proxy_coins(uint32_t op, uint64_t amount, const ton_addr *excess_to,
                                         cc_err *err);
ton_cell *ton_payload_client_proxy_register(uint64_t nonce, cc_err *err);
/* Reads a client_proxy_request body (outside input: the proxy reads it from
 * its contract's transaction list, COCOON's ProxyContract::on_transaction):
 * the owner, the client contract's state and, when the payload is
 * client_proxy_register, its nonce (*has_nonce). A payload of another kind
 * is accepted (COCOON ignores top-ups and refunds here). Fails, with the
 * field named, on any other op, a short or overlong body or state cell. */
typedef struct ton_client_proxy_msg {
    ton_addr owner;
    ton_client_state_data st;
    bool has_payload, has_nonce;
    uint32_t payload_op;
    uint64_t nonce;
} ton_client_proxy_msg;
int ton_client_proxy_request_parse(const ton_cell *body, ton_client_proxy_msg *out, cc_err *err);
ton_cell *ton_body_worker_proxy_request(uint64_t qid, const ton_addr *owner, uint32_t state,
                                        uint64_t tokens, ton_cell *payload, cc_err *err);
ton_cell *ton_payload_worker_proxy_payout(uint64_t worker_part, uint64_t proxy_part,
                                          const ton_addr *excess_to, cc_err *err);
ton_cell *ton_body_op_qid(uint32_t op, uint64_t qid, cc_err *err);

/* Initial data of the per-party contracts exactly as COCOON's C++ builds it
 * (ClientContract / WorkerContract / ProxyContract::init_data_cell), so that
 * the address is the one COCOON derives. p is the root's params: clients and
 * workers keep a copy without any code, the proxy one without proxy_code. */
ton_cell *ton_client_contract_data(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err);
ton_cell *ton_worker_contract_data(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err);
ton_cell *ton_proxy_contract_data(const ton_addr *owner, const ton_addr *root,
                                  const uint8_t proxy_pub[32], const ton_root_params *p,
                                  cc_err *err);
/* StateInits (code from p; their addresses follow with
 * ton_state_init_address(si, 0, &addr)). */
ton_cell *ton_client_contract_init(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err);
ton_cell *ton_worker_contract_init(const ton_addr *owner, const ton_addr *proxy_contract,
                                   const uint8_t proxy_pub[32], const ton_root_params *p,
                                   cc_err *err);
ton_cell *ton_proxy_contract_init(const ton_addr *owner, const ton_addr *root,
                                  const uint8_t proxy_pub[32], const ton_root_params *p,
                                  cc_err *err);

/* ------------------------------------------------- get-method result stacks */

typedef enum {
    TON_STACK_NULL = 0,
    TON_STACK_NUM,
    TON_STACK_CELL,
    TON_STACK_SLICE,
    TON_STACK_TUPLE, /* tuples and lists */
} ton_stack_type;

typedef struct ton_stack_entry ton_stack_entry;
struct ton_stack_entry {
    ton_stack_type type;
    bool negative;          /* NUM: sign */
    uint8_t mag[33];        /* NUM: magnitude, big-endian (TVM ints are 257-bit) */
    ton_cell *cell;         /* CELL / SLICE (the slice's cell), owned */
    ton_stack_entry *items; /* TUPLE, owned */
    size_t n_items;
};

/* A runGetMethod result; items[0] is the first value toncenter lists. */
typedef struct ton_stack {
    ton_stack_entry *items;
    size_t n;
    int exit_code;
    int64_t gas_used;
} ton_stack;

/* Parses toncenter's `result` object ({"stack": [...], "exit_code": N}):
 * ["num","0x.."|"-0x.."|decimal], ["cell"|"slice",{"bytes":b64}], ["null"],
 * ["tuple"|"list",{"elements":[tvm.* objects]}]. Outside input: every BoC is
 * checked and nesting is bounded. */
int ton_stack_parse_json(const json_t *result, ton_stack *out, cc_err *err);
void ton_stack_free(ton_stack *s);
/* Typed accessors (index i of the top level); errors name the index. */
int ton_stack_int64(const ton_stack *s, size_t i, int64_t *out, cc_err *err);
int ton_stack_uint64(const ton_stack *s, size_t i, uint64_t *out, cc_err *err);
int ton_stack_uint256(const ton_stack *s, size_t i, uint8_t out[32], cc_err *err);
/* CELL or SLICE; *out = NULL for a null entry. Borrowed. */
int ton_stack_cell(const ton_stack *s, size_t i, const ton_cell **out, cc_err *err);
/* A slice holding an address. */
int ton_stack_addr(const ton_stack *s, size_t i, ton_addr *out, cc_err *err);
/* Stack arguments for runGetMethod, in toncenter's request form. */
typedef struct ton_stack_arg {
    ton_stack_type type; /* NUM, CELL or SLICE */
    bool negative;
    uint8_t mag[32];      /* NUM: magnitude, big-endian */
    const ton_cell *cell; /* CELL / SLICE, borrowed */
} ton_stack_arg;
ton_stack_arg ton_stack_arg_u64(uint64_t v);
ton_stack_arg ton_stack_arg_u256(const uint8_t be[32]);
ton_stack_arg ton_stack_arg_slice(const ton_cell *c);
/* A slice argument holding an address (the cell is owned by *holder, which the
 * caller releases after the call). */
int ton_stack_arg_addr(const ton_addr *a, ton_stack_arg *out, ton_cell **holder, cc_err *err);
/* [["num","123"], ["tvm.Slice","b64"], ...] — new reference. */
json_t *ton_stack_args_to_json(const ton_stack_arg *args, size_t n, cc_err *err);
/* Decimal text of a big-endian magnitude (caller frees). */
char *ton_bigint_to_dec(const uint8_t *be, size_t n, bool negative);

/* ----------------------------------------------------- TON HTTP API v2 */

/* A client of a toncenter-compatible HTTP API v2 (mainnet/testnet providers
 * or tools/tonsim). base_url is the API root, e.g.
 * "https://toncenter.com/api/v2"; api_key may be NULL (sent as X-API-Key).
 *
 * ton_api_new makes a blocking client: it owns a private event loop and
 * every ton_api_* call below runs there until it completes (the CLI).
 * ton_api_new_on binds the client to a daemon's loop: only
 * ton_api_call_async may be used (the blocking calls fail at once), and its
 * callback comes from that loop. */
struct event_base;
typedef struct ton_api ton_api;
ton_api *ton_api_new(const char *base_url, const char *api_key, cc_err *err);
ton_api *ton_api_new_on(struct event_base *loop, const char *base_url, const char *api_key,
                        cc_err *err);
/* Cancels calls still in flight (without their callbacks) and frees. */
void ton_api_free(ton_api *api);
/* Whole-call limit of later calls (default 30 s). */
void ton_api_set_timeout(ton_api *api, long seconds);
/* The base URL without trailing slashes (borrowed). */
const char *ton_api_url(const ton_api *api);

/* One asynchronous call (GET with query when body is NULL, else POST of the
 * JSON body). done fires exactly once from the loop, never from inside this
 * call, unless the call is cancelled: with the "result" member (borrowed for
 * the callback; json_incref to keep it) and err NULL, or result NULL and err
 * saying what failed (as ton_api_call). The handle lives until done returns
 * or ton_api_cancel; NULL with err filled on bad arguments. */
typedef struct ton_api_op ton_api_op;
typedef void (*ton_api_done)(void *ud, json_t *result, const cc_err *err);
ton_api_op *ton_api_call_async(ton_api *api, const char *method, const char *query,
                               const json_t *body, ton_api_done done, void *ud, cc_err *err);
/* Stops the call; its callback never fires. A no-op from inside its own
 * callback. */
void ton_api_cancel(ton_api_op *op);

/* One API call: GET base/method?query (query may be NULL) when body is NULL,
 * else POST base/method with the JSON body. Returns the "result" member (new
 * reference). HTTP failures, {"ok":false,...} and malformed replies become
 * clear errors (err->code = HTTP status or the API's error code). */
json_t *ton_api_call(ton_api *api, const char *method, const char *query, const json_t *body,
                     cc_err *err);
/* The envelope parser ton_api_call uses, separate for tests and fuzzing. */
json_t *ton_api_parse_reply(const char *text, size_t len, long http_status, cc_err *err);

int ton_api_run_get_method(ton_api *api, const ton_addr *addr, const char *method,
                           const ton_stack_arg *args, size_t n_args, ton_stack *out, cc_err *err);
/* sendBocReturnHash; hash (may be NULL) receives the message hash reported. */
int ton_api_send_boc(ton_api *api, const ton_cell *msg, uint8_t hash[32], cc_err *err);

typedef struct ton_account {
    uint64_t balance; /* nanoton */
    char state[16];   /* "active", "uninitialized", "frozen" */
    uint64_t last_lt;
    uint8_t last_hash[32];
    uint64_t sync_utime;   /* the chain's time when reported (toncenter, tonsim), else 0 */
    ton_cell *code, *data; /* NULL unless active; owned */
} ton_account;
int ton_account_from_json(const json_t *result, ton_account *out, cc_err *err);
void ton_account_clear(ton_account *a);
int ton_api_get_address_information(ton_api *api, const ton_addr *addr, ton_account *out,
                                    cc_err *err);

typedef struct ton_wallet_info {
    bool is_wallet;
    uint64_t balance;
    char state[16];
    uint32_t seqno;    /* 0 if the wallet is not deployed yet */
    int64_t wallet_id; /* -1 if unknown */
} ton_wallet_info;
int ton_wallet_info_from_json(const json_t *result, ton_wallet_info *out, cc_err *err);
int ton_api_get_wallet_information(ton_api *api, const ton_addr *addr, ton_wallet_info *out,
                                   cc_err *err);

typedef struct ton_tx {
    uint64_t lt;
    uint8_t hash[32];
    uint64_t utime;
    uint64_t fee;
    ton_addr in_source; /* none for external messages */
    uint64_t in_value;
    uint32_t in_op; /* first 32 bits of the inbound body if present, else 0 */
    bool in_has_op;
    size_t n_out;
    uint64_t out_value; /* sum over outbound messages */
    bool aborted;       /* when the provider reports it (tonsim does) */
    int exit_code;      /* compute phase exit code when reported, else 0 */
} ton_tx;
int ton_txs_from_json(const json_t *result, ton_tx **out, size_t *n, cc_err *err);
/* Newest first, at most limit. *out is heap memory (free()). */
int ton_api_get_transactions(ton_api *api, const ton_addr *addr, unsigned limit, ton_tx **out,
                             size_t *n, cc_err *err);

typedef struct ton_fees {
    uint64_t in_fwd_fee, storage_fee, gas_fee, fwd_fee;
} ton_fees;
/* estimateFee of an external message body (init may be NULL). */
int ton_api_estimate_fee(ton_api *api, const ton_addr *addr, const ton_cell *body,
                         const ton_cell *init, ton_fees *out, cc_err *err);

/* ------------------------------------------- contract state via get-methods */

/* Readers of the cocoon contracts' get-method results (contracts/SPEC.md
 * §1.3, §2.3, §3.3, §4.3) and fetchers that call them through the API. */

/* get_params: 14 ints then proxy_code worker_code client_code (cell or null). */
int ton_root_params_from_stack(const ton_stack *st, ton_root_params *out, cc_err *err);

typedef struct ton_root_state {
    uint32_t version;
    ton_addr owner;
    ton_root_params params; /* from get_params */
    ton_root_data data;     /* from get_data_cell */
} ton_root_state;
/* get_version, get_owner, get_params and get_data_cell of the root at addr. */
int ton_root_fetch(ton_api *api, const ton_addr *root, ton_root_state *out, cc_err *err);
void ton_root_state_free(ton_root_state *s);
/* The same state read from the root's storage cell (RootStorage, the data
 * getAddressInformation returns): one call instead of four. Outside input:
 * every field is checked, nothing may follow. */
int ton_root_state_from_storage(const ton_cell *storage, ton_root_state *out, cc_err *err);

/* The root state in the JSON form of configs/registry.json (what
 * registry_from_json() reads): version, params, the three hash lists and the
 * proxies ("host:port" -> address; "workers_host:port clients_host:port" ->
 * worker_address + address). New reference. */
json_t *ton_root_state_to_registry_json(const ton_root_state *s);

typedef struct ton_client_state {
    uint32_t state; /* 0 open, 1 closing, 2 closed */
    uint64_t balance, stake, tokens_used;
    uint32_t unlock_ts;
    uint8_t secret_hash[32];
} ton_client_state;
int ton_client_state_from_stack(const ton_stack *st, ton_client_state *out, cc_err *err);

typedef struct ton_proxy_state {
    uint32_t state;
    uint64_t balance; /* the proxy's earned share */
    uint64_t stake;
    uint32_t unlock_ts;
} ton_proxy_state;
int ton_proxy_state_from_stack(const ton_stack *st, ton_proxy_state *out, cc_err *err);

typedef struct ton_worker_state {
    uint32_t state;
    uint64_t tokens;
    ton_addr owner, proxy_contract;
    uint8_t proxy_pub[32];
} ton_worker_state;
int ton_worker_state_from_stack(const ton_stack *st, ton_worker_state *out, cc_err *err);

/* The same from a runGetMethod result of the API (outside input; the one
 * reading the daemons share): exit codes other than TVM's 0 and 1 are
 * refused with the code named. */
int ton_client_state_from_result(const json_t *result, ton_client_state *out, cc_err *err);
int ton_proxy_state_from_result(const json_t *result, ton_proxy_state *out, cc_err *err);
int ton_worker_state_from_result(const json_t *result, ton_worker_state *out, cc_err *err);
/* Run get_client_data / get_proxy_data / get_worker_data at addr. */
int ton_client_state_fetch(ton_api *api, const ton_addr *addr, ton_client_state *out, cc_err *err);
int ton_proxy_state_fetch(ton_api *api, const ton_addr *addr, ton_proxy_state *out, cc_err *err);
int ton_worker_state_fetch(ton_api *api, const ton_addr *addr, ton_worker_state *out, cc_err *err);

#endif
