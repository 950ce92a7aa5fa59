#include "apiserver/protobuf.h"

#include <cstdint>
#include <functional>
#include <openssl/evp.h>

namespace lifeboat::apiserver {
namespace {

// A protobuf message reader: calls `on_field(number, wire_type, varint, bytes)` per field.
struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;
  std::string bytes;
};

Status ParseMessage(const std::string& data, const std::function<Status(const Field&)>& on_field) {
  size_t i = 0;
  auto read_varint = [&](uint64_t* out) -> bool {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && i < data.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(data[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  };
  while (i < data.size()) {
    uint64_t key;
    if (!read_varint(&key)) {
      return InvalidArgumentError("truncated protobuf field key");
    }
    Field f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire_type = static_cast<uint32_t>(key & 7);
    switch (f.wire_type) {
      case 0:
        if (!read_varint(&f.varint)) {
          return InvalidArgumentError("truncated protobuf varint");
        }
        break;
      case 2: {
        uint64_t len;
        if (!read_varint(&len) || len > data.size() - i) {
          return InvalidArgumentError("truncated protobuf bytes");
        }
        f.bytes = data.substr(i, len);
        i += len;
        break;
      }
      case 1:
        i += 8;
        break;
      case 5:
        i += 4;
        break;
      default:
        return InvalidArgumentError("unsupported protobuf wire type " +
                                    std::to_string(f.wire_type));
    }
    if (i > data.size()) {
      return InvalidArgumentError("truncated protobuf message");
    }
    RETURN_IF_ERROR(on_field(f));
  }
  return OkStatus();
}

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// map<string, string|bytes> entries: key = 1, value = 2.
Status MapEntry(const std::string& entry, Json& map, bool bytes_value) {
  std::string key;
  std::string value;
  RETURN_IF_ERROR(ParseMessage(entry, [&](const Field& f) {
    if (f.number == 1) {
      key = f.bytes;
    } else if (f.number == 2) {
      value = f.bytes;
    }
    return OkStatus();
  }));
  if (!map.is_object()) {
    map = Json::object();
  }
  map[key] = bytes_value ? Base64(value) : value;
  return OkStatus();
}

Status ObjectMeta(const std::string& data, Json& meta) {
  meta = Json::object();
  return ParseMessage(data, [&](const Field& f) -> Status {
    switch (f.number) {
      case 1:
        meta["name"] = f.bytes;
        break;
      case 2:
        meta["generateName"] = f.bytes;
        break;
      case 3:
        meta["namespace"] = f.bytes;
        break;
      case 6:
        meta["resourceVersion"] = f.bytes;
        break;
      case 11:
        return MapEntry(f.bytes, meta["labels"], false);
      case 12:
        return MapEntry(f.bytes, meta["annotations"], false);
      case 14:
        meta["finalizers"].push_back(f.bytes);
        break;
      default:
        break;  // server-set or unsupported (ownerReferences, managedFields, times)
    }
    return OkStatus();
  });
}

}  // namespace

StatusOr<Json> DecodeKubernetesProtobuf(const std::string& body) {
  static const std::string kMagic("k8s\0", 4);
  if (body.compare(0, kMagic.size(), kMagic) != 0) {
    return InvalidArgumentError("the protobuf body does not start with the Kubernetes magic");
  }
  std::string api_version;
  std::string kind;
  std::string raw;
  RETURN_IF_ERROR(ParseMessage(body.substr(kMagic.size()), [&](const Field& f) -> Status {
    if (f.number == 1) {
      return ParseMessage(f.bytes, [&](const Field& t) {
        if (t.number == 1) {
          api_version = t.bytes;
        } else if (t.number == 2) {
          kind = t.bytes;
        }
        return OkStatus();
      });
    }
    if (f.number == 2) {
      raw = f.bytes;
    }
    return OkStatus();
  }));
  if (api_version != "v1" || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret")) {
    return InvalidArgumentError("protobuf request bodies are only supported for v1 Namespace, "
                                "ConfigMap and Secret (got " + api_version + " " + kind +
                                "); send application/json");
  }
  Json object = {{"apiVersion", api_version}, {"kind", kind}};
  RETURN_IF_ERROR(ParseMessage(raw, [&](const Field& f) -> Status {
    if (f.number == 1) {
      return ObjectMeta(f.bytes, object["metadata"]);
    }
    if (kind == "ConfigMap") {
      if (f.number == 2) {
        return MapEntry(f.bytes, object["data"], false);
      }
      if (f.number == 3) {
        return MapEntry(f.bytes, object["binaryData"], true);
      }
      if (f.number == 4) {
        object["immutable"] = f.varint != 0;
      }
    } else if (kind == "Secret") {
      if (f.number == 2) {
        return MapEntry(f.bytes, object["data"], true);
      }
      if (f.number == 3) {
        object["type"] = f.bytes;
      }
      if (f.number == 4) {
        return MapEntry(f.bytes, object["stringData"], false);
      }
      if (f.number == 5) {
        object["immutable"] = f.varint != 0;
      }
    } else if (kind == "Namespace" && f.number == 2) {
      return ParseMessage(f.bytes, [&](const Field& s) {
        if (s.number == 1) {
          object["spec"]["finalizers"].push_back(s.bytes);
        }
        return OkStatus();
      });
    }
    return OkStatus();
  }));
  return object;
}

}  // namespace lifeboat::apiserver
