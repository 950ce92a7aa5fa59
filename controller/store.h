#pragma once

// The informer's read-only cache (STYLE.md §3.2): snapshots are shared_ptr<const Json>; copy
// before mutating and write through the API. Keys are "ns/name" (KeyOf).
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/json.h"

namespace lifeboat::controller {

using ObjectPtr = std::shared_ptr<const Json>;

class Store {
 public:
  // nullptr when absent.
  ObjectPtr Get(const std::string& key) const;
  std::vector<ObjectPtr> List() const;
  std::vector<std::string> Keys() const;
  size_t Size() const;

  // Mutators for the informer that owns the store.
  // Returns the previous snapshot (nullptr if the key was new).
  ObjectPtr Upsert(ObjectPtr object);
  ObjectPtr Remove(const std::string& key);
  // Replaces everything; returns the previous contents.
  std::map<std::string, ObjectPtr> Replace(std::map<std::string, ObjectPtr> objects);

 private:
  mutable std::mutex mu_;
  std::map<std::string, ObjectPtr> objects_;
};

}  // namespace lifeboat::controller
