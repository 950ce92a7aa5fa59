#pragma once

// The object store of the embedded API server: every object as JSON text in SQLite (WAL), a
// global revision used as resourceVersion (persisted), an in-memory copy of the serialised
// objects for reads, and a bounded in-memory event log that watches replay from.
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/json.h"
#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace lifeboat::apiserver {

using Labels = std::vector<std::pair<std::string, std::string>>;

// resource = "<group>/<plural>" ("/secrets" for the core group); ns = "" when cluster-scoped.
struct ObjectKey {
  std::string resource;
  std::string ns;
  std::string name;
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
};

// One stored version of an object. Cheap to copy: the text and labels are shared, immutable.
struct StoredObject {
  std::shared_ptr<const std::string> json;  // serialised, metadata.resourceVersion included
  std::shared_ptr<const Labels> labels;
  int64_t rv = 0;
};

enum class EventType { kAdded, kModified, kDeleted };
const char* EventTypeName(EventType type);

struct Event {
  EventType type = EventType::kAdded;
  ObjectKey key;
  StoredObject object;  // for kDeleted: the last state, stamped with the deletion revision
};

struct StoreOptions {
  std::filesystem::path db_path;        // created when missing
  size_t event_log_capacity = 10'000;   // watches older than this window get 410 Gone
};

class Store {
 public:
  using Sink = std::function<void(const Event&)>;

  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int64_t revision() const;

  // Writes stamp metadata.resourceVersion with the next revision and return the stored version.
  // kAlreadyExists when present.
  StatusOr<StoredObject> Create(const ObjectKey& key, Json object);
  // kNotFound when absent; kAborted when expected_rv (if not 0) is not the current version.
  StatusOr<StoredObject> Update(const ObjectKey& key, Json object, int64_t expected_rv);
  // Removes the object; `last_state` is what the DELETED event carries.
  StatusOr<StoredObject> Delete(const ObjectKey& key, Json last_state, int64_t expected_rv);

  StatusOr<StoredObject> Get(const ObjectKey& key) const;

  // Objects of `resource` (in namespace `ns`, or all when empty), ordered by namespace then
  // name, starting strictly after `after` ("ns/name", "" = from the start).
  struct ListResult {
    std::vector<std::pair<ObjectKey, StoredObject>> items;
    int64_t revision = 0;
  };
  ListResult List(const std::string& resource, const std::string& ns,
                  const std::string& after = "") const;
  size_t Count(const std::string& resource, const std::string& ns) const;

  // Starts delivering events of `resource` (all when empty) to `sink`, in revision order, under
  // the store's lock (the sink must not call back into the store and must not block).
  // from_rv == 0: first an ADDED event per current object, then new events.
  // from_rv > 0: replays events after from_rv from the log; kOutOfRange (410 Gone) when the log
  // no longer reaches back that far.
  StatusOr<uint64_t> Watch(const std::string& resource, int64_t from_rv, Sink sink);
  void Unwatch(uint64_t id);
  // Runs `fn` with the current revision under the lock that orders events (for bookmarks).
  void RunLocked(const std::function<void(int64_t revision)>& fn) const;

  // Keys of objects whose metadata.uid is `uid` (at most one).
  std::optional<ObjectKey> FindByUid(const std::string& uid) const;
  // Keys of every object whose text mentions `needle` (a cheap pre-filter for owner lookups).
  std::vector<ObjectKey> FindMentioning(const std::string& needle) const;
  // Every key of a namespaced object in namespace `ns`.
  std::vector<ObjectKey> KeysInNamespace(const std::string& ns) const;

 private:
  struct Entry {
    StoredObject object;
    std::string uid;
  };
  struct Watcher {
    std::string resource;
    Sink sink;
  };
  Store() = default;
  Status Init(const StoreOptions& options);
  Status LoadAll();
  Status Persist(const ObjectKey& key, const std::string* json, int64_t rv);
  StoredObject Stamp(Json& object, int64_t rv) const;
  void Publish(Event event);
  // The entry a write to `key` expecting `expected_rv` (0 = any) applies to; kNotFound, or
  // kAborted when the object has moved on. Called with mu_ held.
  StatusOr<std::map<std::string, Entry>::iterator> EntryForWrite(const ObjectKey& key,
                                                                 int64_t expected_rv);

  mutable std::mutex mu_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* set_revision_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  int64_t revision_ = 0;
  // resource → "ns/name" → entry
  std::map<std::string, std::map<std::string, Entry>> objects_;
  std::unordered_map<std::string, ObjectKey> by_uid_;
  std::deque<Event> log_;
  size_t log_capacity_ = 0;
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_watcher_ = 1;
};

// Extracts metadata.labels as a sorted list of pairs.
Labels LabelsOf(const Json& object);

}  // namespace lifeboat::apiserver
