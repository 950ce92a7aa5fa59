#pragma once

// The SHA-256 compression function with the x86 SHA extensions (SHA-NI), for one message or two
// interleaved: a core runs the SHA round instructions of two independent messages side by side
// in about 60 % of the time it takes to run them one after the other (OpenSSL's single-stream
// code cannot use that: the rounds of one message depend on each other). The vault's Hmac::Sum2
// hashes two chunks at once with it, the snapshot engine two blocks (HashBlockPair).
// Everything else goes through OpenSSL.
#include <cstddef>
#include <cstdint>

namespace lifeboat::sha256ni {

// Whether this CPU has SHA-NI (and SSSE3/SSE4.1); the functions below must not run otherwise.
// Cheap: detected once.
bool Available();
// Runs the compression function over `n` 64-byte blocks; `state` is H0..H7.
void Compress(uint32_t state[8], const uint8_t* blocks, size_t n);
// The same for two messages of `n` blocks each, interleaved.
void Compress2(uint32_t state_a[8], const uint8_t* blocks_a, uint32_t state_b[8],
               const uint8_t* blocks_b, size_t n);

// H0..H7, the state before the first block.
extern const uint32_t kInitialState[8];
// The padding of a message of `total` bytes whose last `tail_len` (< 64) bytes are `tail`: the
// one or two final blocks, written to `out` (128 bytes); returns how many.
size_t PaddingBlocks(const uint8_t* tail, size_t tail_len, uint64_t total, uint8_t out[128]);
// The digest (big-endian words) of a state.
void DigestOf(const uint32_t state[8], uint8_t out[32]);
// SHA-256 of two messages of `size` bytes each, interleaved (Available() must be true).
void Pair(const uint8_t* a, const uint8_t* b, size_t size, uint8_t digest_a[32],
          uint8_t digest_b[32]);

}  // namespace lifeboat::sha256ni
