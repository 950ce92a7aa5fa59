#pragma once

// The informer's read-only cache (STYLE.md §3.2): snapshots are shared_ptr<const Json>; copy
// before mutating and write through the API. Keys are "ns/name" (KeyOf).
//
// Objects are held encoded (MessagePack), not as nlohmann::json trees: a BackupPolicy with its
// status is ~1 KB encoded and ~9 KB as a tree (one heap node per member), so 10,000 of them
// cost ~12 MiB instead of ~90 MiB. Get and List decode: every call returns a fresh snapshot
// (~15 µs per object), which nobody else holds. The informer encodes once per event.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/json.h"

namespace lifeboat::controller {

using ObjectPtr = std::shared_ptr<const Json>;

class Store {
 public:
  // One object as the store holds it (immutable, shared between the store and the informer).
  using Encoded = std::shared_ptr<const std::string>;
  using Contents = std::map<std::string, Encoded>;

  // The values an object has for an index (client-go's IndexFunc): e.g. "ns/policy" for the
  // RecoveryPoints of a policy. An object may have none or several.
  using IndexFunc = std::function<std::vector<std::string>(const Json& object)>;

  // Without metadata.managedFields.
  static Encoded Encode(const Json& object);
  // nullptr for nullptr.
  static ObjectPtr Decode(const Encoded& encoded);

  // nullptr when absent.
  ObjectPtr Get(const std::string& key) const;
  // Decodes every object: meant for small kinds (walk Keys() and Get() one at a time otherwise).
  std::vector<ObjectPtr> List() const;
  std::vector<std::string> Keys() const;
  // The objects whose `index` has `value` (decoded; by key order). Empty for an unknown index.
  std::vector<ObjectPtr> ByIndex(const std::string& index, const std::string& value) const;
  size_t Size() const;
  // Bytes of the encoded objects the store holds (keys and index excluded).
  size_t EncodedBytes() const;

  // Before the first object arrives (the informer has not started): adds an index kept up to
  // date by the mutators below. kAlreadyExists-like duplicates replace the function.
  void AddIndex(const std::string& name, IndexFunc values);

  // Mutators for the informer that owns the store. `decoded` is `object` as a tree when the
  // caller has it (the indexes read it; otherwise they decode `object`).
  // Returns the previous version (nullptr if the key was new).
  Encoded Upsert(const std::string& key, Encoded object, const Json* decoded = nullptr);
  Encoded Remove(const std::string& key);
  // Replaces everything; returns the previous contents.
  Contents Replace(Contents objects);

 private:
  struct Index {
    IndexFunc values;
    std::map<std::string, std::set<std::string>> keys_by_value;
    std::map<std::string, std::vector<std::string>> values_by_key;
  };
  // Under mu_: moves `key` to `values` in every index.
  void Reindex(const std::string& key, const Json* object);

  mutable std::mutex mu_;
  Contents objects_;
  size_t bytes_ = 0;
  std::map<std::string, Index> indexes_;
};

}  // namespace lifeboat::controller
