#pragma once

// Little-endian binary encoding helpers for manifests, packs and protocol bodies.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lifeboat::replication {

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Fixed(v); }
  void U64(uint64_t v) { Fixed(v); }
  void Bytes(std::string_view b) { out_.append(b); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string& buffer() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  template <typename T>
  void Fixed(T v) {
    char b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) {
      b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
    out_.append(b, sizeof(T));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U8(uint8_t* v) {
    if (pos_ + 1 > data_.size()) {
      return false;
    }
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool U32(uint32_t* v) { return Fixed(v); }
  bool U64(uint64_t* v) { return Fixed(v); }
  bool Bytes(size_t n, std::string_view* out) {
    if (n > data_.size() - pos_) {
      return false;
    }
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Str(std::string* out) {
    uint32_t n = 0;
    std::string_view b;
    if (!U32(&n) || !Bytes(n, &b)) {
      return false;
    }
    out->assign(b);
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  template <typename T>
  bool Fixed(T* v) {
    if (sizeof(T) > data_.size() - pos_) {
      return false;
    }
    T x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      x |= static_cast<T>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += sizeof(T);
    *v = x;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace lifeboat::replication
