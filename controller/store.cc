#include "controller/store.h"

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

Store::Encoded Store::Upsert(const std::string& key, Encoded object) {
  std::lock_guard<std::mutex> lock(mu_);
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
  return objects;
}

}  // namespace lifeboat::controller
