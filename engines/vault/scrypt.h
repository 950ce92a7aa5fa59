#pragma once

// scrypt (RFC 7914) with an SSE2 Salsa20/8 core: about twice as fast as OpenSSL's
// EVP_PBE_scrypt, with the same result. Returns false, writing nothing useful, when it does not
// run here (not x86-64) or the parameters are outside what RFC 7914 and `max_memory` allow
// (bytes of B and V, as EVP_PBE_scrypt counts them): the caller then uses OpenSSL, which reports
// the error.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifeboat::vault {

bool ScryptSse2(std::string_view passphrase, std::string_view salt, uint64_t n, uint64_t r,
                uint64_t p, uint64_t max_memory, uint8_t* out, size_t out_len);

}  // namespace lifeboat::vault
