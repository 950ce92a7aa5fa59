#pragma once

// The SHA-256 compression function with the x86 SHA extensions (SHA-NI), for one message or two
// interleaved: a core runs the SHA round instructions of two independent messages side by side
// in about 60 % of the time it takes to run them one after the other (OpenSSL's single-stream
// code cannot use that: the rounds of one message depend on each other). Hmac::Sum2 uses it to
// hash two chunks at once. Everything else goes through OpenSSL.
#include <cstddef>
#include <cstdint>

namespace lifeboat::vault::sha256ni {

// Whether this CPU has SHA-NI (and SSSE3/SSE4.1); the functions below must not run otherwise.
bool Available();
// Runs the compression function over `n` 64-byte blocks; `state` is H0..H7.
void Compress(uint32_t state[8], const uint8_t* blocks, size_t n);
// The same for two messages of `n` blocks each, interleaved.
void Compress2(uint32_t state_a[8], const uint8_t* blocks_a, uint32_t state_b[8],
               const uint8_t* blocks_b, size_t n);

}  // namespace lifeboat::vault::sha256ni
