#pragma once

// A minimal protobuf wire-format reader for tests: splits a message into its fields so a test
// can check what an encoder wrote without a protobuf library. Malformed input fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace lifeboat::testing {

struct ProtoField {
  uint32_t number = 0;
  uint32_t wire_type = 0;  // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t varint = 0;     // wire types 0, 1 and 5 (the raw bits)
  std::string bytes;       // wire type 2

  double AsDouble() const {
    double d;
    std::memcpy(&d, &varint, sizeof d);
    return d;
  }
};

class ProtoMessage {
 public:
  // Parses `bytes`; adds a gtest failure and stops at the first malformed field.
  explicit ProtoMessage(const std::string& bytes) {
    size_t pos = 0;
    while (pos < bytes.size()) {
      uint64_t key = 0;
      if (!Varint(bytes, pos, key)) {
        ADD_FAILURE() << "truncated key at byte " << pos;
        return;
      }
      ProtoField f;
      f.number = static_cast<uint32_t>(key >> 3);
      f.wire_type = static_cast<uint32_t>(key & 7);
      if (f.number == 0) {
        ADD_FAILURE() << "field number 0 at byte " << pos;
        return;
      }
      if (f.wire_type == 0) {
        if (!Varint(bytes, pos, f.varint)) {
          ADD_FAILURE() << "truncated varint of field " << f.number;
          return;
        }
      } else if (f.wire_type == 1 || f.wire_type == 5) {
        size_t n = f.wire_type == 1 ? 8 : 4;
        if (pos + n > bytes.size()) {
          ADD_FAILURE() << "truncated fixed field " << f.number;
          return;
        }
        for (size_t i = 0; i < n; ++i) {
          f.varint |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[pos + i])) << (8 * i);
        }
        pos += n;
      } else if (f.wire_type == 2) {
        uint64_t len = 0;
        if (!Varint(bytes, pos, len) || pos + len > bytes.size()) {
          ADD_FAILURE() << "truncated bytes of field " << f.number;
          return;
        }
        f.bytes = bytes.substr(pos, len);
        pos += len;
      } else {
        ADD_FAILURE() << "unexpected wire type " << f.wire_type << " of field " << f.number;
        return;
      }
      fields_.push_back(std::move(f));
    }
  }

  const std::vector<ProtoField>& fields() const { return fields_; }

  // Every field with `number`, in order.
  std::vector<ProtoField> All(uint32_t number) const {
    std::vector<ProtoField> out;
    for (const ProtoField& f : fields_) {
      if (f.number == number) {
        out.push_back(f);
      }
    }
    return out;
  }
  size_t Count(uint32_t number) const { return All(number).size(); }
  // The single field `number` (a test failure and an empty field when not exactly one).
  ProtoField One(uint32_t number) const {
    std::vector<ProtoField> all = All(number);
    if (all.size() != 1) {
      ADD_FAILURE() << "field " << number << " occurs " << all.size() << " times";
      return {};
    }
    return all[0];
  }
  std::string String(uint32_t number) const { return One(number).bytes; }
  ProtoMessage Message(uint32_t number) const { return ProtoMessage(One(number).bytes); }
  // The value of the Named* entry (name = 1, value = 2) called `name` among the repeated field
  // `number` of this message (the additional_properties of a map-like message).
  ProtoMessage Named(uint32_t number, const std::string& name) const {
    for (const ProtoField& f : All(number)) {
      ProtoMessage entry(f.bytes);
      if (entry.String(1) == name) {
        return entry.Message(2);
      }
    }
    ADD_FAILURE() << "no entry named " << name << " in field " << number;
    return ProtoMessage("");
  }
  // The names of the Named* entries of field `number`, in order.
  std::vector<std::string> Names(uint32_t number) const {
    std::vector<std::string> out;
    for (const ProtoField& f : All(number)) {
      out.push_back(ProtoMessage(f.bytes).String(1));
    }
    return out;
  }

 private:
  static bool Varint(const std::string& b, size_t& pos, uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos < b.size(); shift += 7) {
      uint8_t c = static_cast<uint8_t>(b[pos++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) {
        return true;
      }
    }
    return false;
  }

  std::vector<ProtoField> fields_;
};

}  // namespace lifeboat::testing
