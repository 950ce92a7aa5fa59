#include "controller/store.h"

#include "controller/object_key.h"

namespace lifeboat::controller {

ObjectPtr Store::Get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) {
    out.push_back(object);
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

ObjectPtr Store::Upsert(ObjectPtr object) {
  std::string key = KeyOf(*object);
  std::lock_guard<std::mutex> lock(mu_);
  ObjectPtr& slot = objects_[key];
  ObjectPtr previous = std::move(slot);
  slot = std::move(object);
  return previous;
}

ObjectPtr Store::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return nullptr;
  }
  ObjectPtr previous = std::move(it->second);
  objects_.erase(it);
  return previous;
}

std::map<std::string, ObjectPtr> Store::Replace(std::map<std::string, ObjectPtr> objects) {
  std::lock_guard<std::mutex> lock(mu_);
  std::swap(objects_, objects);
  return objects;
}

}  // namespace lifeboat::controller
