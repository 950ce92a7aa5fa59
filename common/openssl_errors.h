#pragma once

// OpenSSL's error queue as text, for messages and logs.
#include <string>

namespace lifeboat {

// Drains the calling thread's OpenSSL error queue: "error:...; error:...", or "unknown TLS
// error" when it is empty.
std::string OpensslErrors();

}  // namespace lifeboat
