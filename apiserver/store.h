#pragma once

// The object store of the embedded API server: every object as JSON text in SQLite (WAL), a
// global revision used as resourceVersion (persisted), an in-memory copy of the serialised
// objects for reads, and a bounded in-memory event log that watches replay from.
//
// Writes are group-committed: each write is checked and stamped with the next revision under the
// store's lock, queued, and returns only once the SQLite transaction holding it has committed.
// Whichever writer finds no commit running commits everything queued so far in one transaction,
// outside the lock, so writes arriving meanwhile form the next group. Reads, lists and watches
// see committed writes only; revisions are committed and published in order. A write that
// returned has reached the WAL file (synchronous=NORMAL: it survives the process being killed).
// WAL checkpoints run on a background thread with their own connection, off the write path.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
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
  std::filesystem::path db_path;       // created when missing
  size_t event_log_capacity = 10'000;  // watches older than this window get 410 Gone
  int checkpoint_pages = 1000;         // WAL size (pages) that wakes the background checkpoint
};

class Store {
 public:
  using Sink = std::function<void(const Event&)>;

  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The revision of the last committed write.
  int64_t revision() const;

  // Writes stamp metadata.resourceVersion with the next revision and return the stored version
  // once it is committed (kInternal when SQLite fails: nothing of that write is visible).
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
  // The same list as it was at revision `at_rv` (a later page of a paged list sees the state of
  // its first page, as etcd's MVCC reads give Kubernetes), rebuilt from the event log; kOutOfRange
  // when the log no longer reaches back to `at_rv`, kInvalidArgument when `at_rv` is in the
  // future. at_rv == 0 or the current revision: the current state.
  StatusOr<ListResult> ListAt(const std::string& resource, const std::string& ns,
                              const std::string& after, int64_t at_rv) const;
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
  // Keys of every object whose text mentions `needle` (a scan of every object: for rare
  // lookups such as the pending foreground deletions at start).
  std::vector<ObjectKey> FindMentioning(const std::string& needle) const;
  // Keys of the committed objects with an ownerReference to `owner_uid` (an index kept on every
  // write, so the garbage collector's lookup per deletion does not scan the store).
  std::vector<ObjectKey> FindOwnedBy(const std::string& owner_uid) const;
  // Every key of a namespaced object in namespace `ns`.
  std::vector<ObjectKey> KeysInNamespace(const std::string& ns) const;

 private:
  struct Entry {
    StoredObject object;
    std::string uid;
    std::vector<std::string> owners;  // uids of metadata.ownerReferences
  };
  struct Watcher {
    std::string resource;
    Sink sink;
  };
  // A writer waiting for the commit of its write.
  struct Ticket {
    bool done = false;
    Status status;
  };
  // A checked, stamped write waiting to be committed.
  struct PendingWrite {
    EventType type = EventType::kAdded;
    ObjectKey key;
    StoredObject stored;
    std::string uid;  // the object's uid (added to, or for kDeleted removed from, by_uid_)
    Ticket* ticket = nullptr;
    std::vector<std::string> owners;  // its owners' uids (by_owner_), empty for kDeleted
  };
  // The newest uncommitted state of a key (nullopt: deleted) and the revision that wrote it.
  struct Overlay {
    std::optional<Entry> entry;
    int64_t rv = 0;
  };
  Store() = default;
  Status Init(const StoreOptions& options);
  Status LoadAll();
  StoredObject Stamp(Json& object, int64_t rv) const;
  // `previous`: the object's committed state before this event (json == nullptr when absent).
  void Publish(Event event, StoredObject previous);
  // The current state of `key` for a writer: the newest queued write, else the committed entry;
  // nullptr when absent. Called with mu_ held.
  const Entry* Current(const ObjectKey& key, const std::string& map_key) const;
  // The entry a write to `key` expecting `expected_rv` (0 = any) applies to; kNotFound, or
  // kAborted when the object has moved on. Called with mu_ held.
  StatusOr<const Entry*> EntryForWrite(const ObjectKey& key, const std::string& map_key,
                                       int64_t expected_rv) const;
  // Queues a write (mu_ held), waits until a group commit holding it ends and returns its result.
  Status Commit(std::unique_lock<std::mutex>& lock, PendingWrite write, std::optional<Entry> next);
  // Commits every queued write in one transaction; called with mu_ held, releases it meanwhile.
  void CommitQueued(std::unique_lock<std::mutex>& lock);
  Status PersistBatch(const std::vector<PendingWrite>& batch);
  void CheckpointLoop();

  mutable std::mutex mu_;
  sqlite3* db_ = nullptr;  // used by the committing writer only (and by Init)
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* set_revision_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  int64_t revision_ = 0;  // last committed
  int64_t assigned_ = 0;  // last handed to a write (committed or queued)
  // resource → "ns/name" → entry (committed state)
  std::map<std::string, std::map<std::string, Entry>> objects_;
  std::unordered_map<std::string, ObjectKey> by_uid_;
  // owner uid → (resource, "ns/name") of the committed objects that reference it.
  std::unordered_map<std::string, std::set<std::pair<std::string, std::string>>> by_owner_;
  void IndexOwners(const std::string& resource, const std::string& map_key,
                   const std::vector<std::string>* before, const std::vector<std::string>* after);
  std::deque<Event> log_;
  std::deque<StoredObject> log_previous_;  // per log_ entry: the state before it (for ListAt)
  size_t log_capacity_ = 0;
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_watcher_ = 1;
  // Group commit: writes queued for the next transaction, the uncommitted state they leave
  // (resource + '\n' + "ns/name" → overlay), and whether a writer is committing.
  std::vector<PendingWrite> queue_;
  std::unordered_map<std::string, Overlay> overlay_;
  bool committing_ = false;
  std::condition_variable committed_;

  // Background WAL checkpoints (own connection); woken by the WAL hook of db_.
  sqlite3* checkpoint_db_ = nullptr;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool stopping_ = false;
  int checkpoint_pages_ = 1000;
  std::thread checkpointer_;
};

// Extracts metadata.labels as a sorted list of pairs.
Labels LabelsOf(const Json& object);

}  // namespace lifeboat::apiserver
