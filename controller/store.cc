#include "controller/store.h"

#include <optional>

#include "controller/object_key.h"

namespace lifeboat::controller {

Store::Encoded Store::Encode(const Json& object) {
  std::string bytes;
  // metadata.managedFields (server-side apply's field ownership) can be as large as the object
  // and no reconciler reads it: the cache leaves it out, as controller-runtime's caches do.
  auto meta = object.find("metadata");
  if (meta != object.end() && meta->is_object() && meta->contains("managedFields")) {
    Json stripped = object;
    stripped["metadata"].erase("managedFields");
    Json::to_msgpack(stripped, bytes);
  } else {
    Json::to_msgpack(object, bytes);
  }
  bytes.shrink_to_fit();  // the encoder grows the string by doubling
  return std::make_shared<const std::string>(std::move(bytes));
}

ObjectPtr Store::Decode(const Encoded& encoded) {
  if (encoded == nullptr) {
    return nullptr;
  }
  return std::make_shared<const Json>(Json::from_msgpack(*encoded));
}

ObjectPtr Store::Get(const std::string& key) const {
  Encoded found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) {
      return nullptr;
    }
    found = it->second;
  }
  return Decode(found);
}

std::vector<ObjectPtr> Store::List() const {
  std::vector<Encoded> encoded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    encoded.reserve(objects_.size());
    for (const auto& [key, object] : objects_) {
      encoded.push_back(object);
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(encoded.size());
  for (const Encoded& e : encoded) {
    out.push_back(Decode(e));
  }
  return out;
}

std::vector<std::string> Store::Keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) {
    out.push_back(key);
  }
  return out;
}

size_t Store::Size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

size_t Store::EncodedBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::vector<ObjectPtr> Store::ByIndex(const std::string& index, const std::string& value) const {
  std::vector<Encoded> encoded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto i = indexes_.find(index);
    if (i == indexes_.end()) return {};
    auto keys = i->second.keys_by_value.find(value);
    if (keys == i->second.keys_by_value.end()) return {};
    for (const std::string& key : keys->second) {
      auto it = objects_.find(key);
      if (it != objects_.end()) encoded.push_back(it->second);
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(encoded.size());
  for (const Encoded& e : encoded) {
    out.push_back(Decode(e));
  }
  return out;
}

void Store::AddIndex(const std::string& name, IndexFunc values) {
  std::lock_guard<std::mutex> lock(mu_);
  Index& index = indexes_[name];
  index.values = std::move(values);
  index.keys_by_value.clear();
  index.values_by_key.clear();
  for (const auto& [key, encoded] : objects_) {
    Json object = Json::from_msgpack(*encoded);
    for (std::string& v : index.values(object)) {
      index.keys_by_value[v].insert(key);
      index.values_by_key[key].push_back(std::move(v));
    }
  }
}

void Store::Reindex(const std::string& key, const Json* object) {
  for (auto& [name, index] : indexes_) {
    if (auto old = index.values_by_key.find(key); old != index.values_by_key.end()) {
      for (const std::string& v : old->second) {
        auto keys = index.keys_by_value.find(v);
        if (keys == index.keys_by_value.end()) continue;
        keys->second.erase(key);
        if (keys->second.empty()) index.keys_by_value.erase(keys);
      }
      index.values_by_key.erase(old);
    }
    if (object == nullptr) continue;
    std::vector<std::string> values = index.values(*object);
    for (const std::string& v : values) {
      index.keys_by_value[v].insert(key);
    }
    if (!values.empty()) index.values_by_key[key] = std::move(values);
  }
}

Store::Encoded Store::Upsert(const std::string& key, Encoded object, const Json* decoded) {
  std::optional<Json> own;
  if (decoded == nullptr && !indexes_.empty()) {  // indexes_ only change before the informer runs
    own = Json::from_msgpack(*object);
    decoded = &*own;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!indexes_.empty()) Reindex(key, decoded);
  Encoded& slot = objects_[key];
  Encoded previous = std::move(slot);
  bytes_ += object->size();
  bytes_ -= previous ? previous->size() : 0;
  slot = std::move(object);
  return previous;
}

Store::Encoded Store::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return nullptr;
  }
  Encoded previous = std::move(it->second);
  objects_.erase(it);
  if (!indexes_.empty()) Reindex(key, nullptr);
  bytes_ -= previous->size();
  return previous;
}

Store::Contents Store::Replace(Contents objects) {
  size_t bytes = 0;
  for (const auto& [key, object] : objects) {
    bytes += object->size();
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::swap(objects_, objects);
  bytes_ = bytes;
  for (auto& [name, index] : indexes_) {
    index.keys_by_value.clear();
    index.values_by_key.clear();
  }
  if (!indexes_.empty()) {
    for (const auto& [key, encoded] : objects_) {
      Json object = Json::from_msgpack(*encoded);
      Reindex(key, &object);
    }
  }
  return objects;
}

}  // namespace lifeboat::controller
