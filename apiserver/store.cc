#include "apiserver/store.h"

#include <sqlite3.h>

#include <algorithm>

#include "spdlog/spdlog.h"

namespace lifeboat::apiserver {
namespace {

std::string MapKey(const ObjectKey& key) { return key.ns + "/" + key.name; }

std::string OverlayKey(const std::string& resource, const std::string& map_key) {
  return resource + "\n" + map_key;
}

// Beyond this many WAL pages a checkpoint waits for the committing writer (RESTART) so the WAL
// starts over; below it checkpoints never block writers (PASSIVE).
constexpr int kRestartCheckpointFactor = 8;
constexpr int64_t kWalSizeLimitBytes = 64LL << 20;

Status SqliteError(sqlite3* db, const std::string& what) {
  return InternalError(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// Runs one prepared statement to completion and resets it.
Status Step(sqlite3* db, sqlite3_stmt* stmt, const char* what) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    return SqliteError(db, what);
  }
  return OkStatus();
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS objects ("
    "  resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    "  rv INTEGER NOT NULL, data TEXT NOT NULL,"
    "  PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

}  // namespace

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "ERROR";
}

// The uids an object's metadata.ownerReferences name.
std::vector<std::string> OwnerUidsOf(const Json& object) {
  std::vector<std::string> owners;
  if (!object.is_object() || !object.contains("metadata")) {
    return owners;
  }
  const Json& meta = object["metadata"];
  if (!meta.is_object() || !meta.contains("ownerReferences")) {
    return owners;
  }
  const Json& refs = meta["ownerReferences"];
  if (!refs.is_array()) {
    return owners;
  }
  for (const Json& ref : refs) {
    if (ref.is_object() && ref.contains("uid") && ref["uid"].is_string()) {
      std::string uid = ref["uid"];
      if (!uid.empty() && std::find(owners.begin(), owners.end(), uid) == owners.end()) {
        owners.push_back(std::move(uid));
      }
    }
  }
  return owners;
}

Labels LabelsOf(const Json& object) {
  Labels labels;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return labels;
  }
  auto l = meta->find("labels");
  if (l == meta->end() || !l->is_object()) {
    return labels;
  }
  for (auto it = l->begin(); it != l->end(); ++it) {
    labels.emplace_back(it.key(), it.value().is_string() ? it.value().get<std::string>() : "");
  }
  std::sort(labels.begin(), labels.end());
  return labels;
}

StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::unique_ptr<Store> store(new Store());
  RETURN_IF_ERROR(store->Init(options));
  return store;
}

Store::~Store() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) {
    checkpointer_.join();
  }
  sqlite3_close(checkpoint_db_);
  for (sqlite3_stmt* s : {upsert_, delete_, set_revision_, begin_, commit_, rollback_}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db_);
}

Status Store::Init(const StoreOptions& options) {
  log_capacity_ = std::max<size_t>(options.event_log_capacity, 1);
  if (sqlite3_open(options.db_path.c_str(), &db_) != SQLITE_OK) {
    return SqliteError(db_, "opening " + options.db_path.string());
  }
  sqlite3_busy_timeout(db_, 5000);
  char* err = nullptr;
  std::string setup =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
      "PRAGMA journal_size_limit=" +
      std::to_string(kWalSizeLimitBytes) + ";" + kSchema;
  if (sqlite3_exec(db_, setup.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return InternalError("initialising " + options.db_path.string() + ": " + msg);
  }
  struct Prepared {
    sqlite3_stmt** stmt;
    const char* sql;
  };
  for (const Prepared& p : std::initializer_list<Prepared>{
           {&upsert_,
            "INSERT INTO objects(resource, namespace, name, rv, data) VALUES (?1, ?2, ?3, ?4, ?5) "
            "ON CONFLICT(resource, namespace, name) DO UPDATE SET rv = ?4, data = ?5"},
           {&delete_, "DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3"},
           {&set_revision_,
            "INSERT INTO meta(key, value) VALUES ('revision', ?1) "
            "ON CONFLICT(key) DO UPDATE SET value = ?1"},
           {&begin_, "BEGIN IMMEDIATE"},
           {&commit_, "COMMIT"},
           {&rollback_, "ROLLBACK"}}) {
    if (sqlite3_prepare_v2(db_, p.sql, -1, p.stmt, nullptr) != SQLITE_OK) {
      return SqliteError(db_, std::string("preparing ") + p.sql);
    }
  }
  RETURN_IF_ERROR(LoadAll());
  assigned_ = revision_;
  // Checkpoints move off the write path: the WAL hook (which replaces SQLite's automatic
  // checkpoint) only wakes the checkpoint thread.
  if (sqlite3_open_v2(options.db_path.c_str(), &checkpoint_db_, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    return SqliteError(checkpoint_db_, "opening " + options.db_path.string() + " to checkpoint");
  }
  sqlite3_busy_timeout(checkpoint_db_, 5000);
  checkpoint_pages_ = std::max(options.checkpoint_pages, 1);
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int pages) {
        auto* store = static_cast<Store*>(self);
        if (pages >= store->checkpoint_pages_) {
          std::lock_guard<std::mutex> lock(store->checkpoint_mu_);
          store->checkpoint_wanted_ = true;
          store->checkpoint_cv_.notify_one();
        }
        return SQLITE_OK;
      },
      this);
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
  return OkStatus();
}

void Store::CheckpointLoop() {
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  while (true) {
    checkpoint_cv_.wait(lock, [this] { return stopping_ || checkpoint_wanted_; });
    if (stopping_) {
      return;
    }
    checkpoint_wanted_ = false;
    lock.unlock();
    int wal_pages = 0;
    int backfilled = 0;
    int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       &wal_pages, &backfilled);
    if (rc == SQLITE_OK && wal_pages >= kRestartCheckpointFactor * checkpoint_pages_) {
      // Writers kept appending during every passive checkpoint: wait for a gap so the WAL
      // restarts from its beginning instead of growing.
      rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_RESTART, &wal_pages,
                                     &backfilled);
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("Failed checkpointing the API server's database error={}",
                   sqlite3_errmsg(checkpoint_db_));
    }
    lock.lock();
  }
}

Status Store::LoadAll() {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'revision'", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    return SqliteError(db_, "reading the revision");
  }
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    revision_ = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  if (sqlite3_prepare_v2(db_, "SELECT resource, namespace, name, rv, data FROM objects", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    return SqliteError(db_, "reading objects");
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto text = [&](int col) {
      const unsigned char* t = sqlite3_column_text(stmt, col);
      return std::string(t ? reinterpret_cast<const char*>(t) : "",
                         static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
    };
    ObjectKey key{text(0), text(1), text(2)};
    int64_t rv = sqlite3_column_int64(stmt, 3);
    std::string data = text(4);
    Json object = Json::parse(data, nullptr, false);
    if (object.is_discarded()) {
      sqlite3_finalize(stmt);
      return DataLossError("stored object " + key.resource + " " + MapKey(key) +
                           " is not valid JSON");
    }
    Entry entry;
    entry.uid = object["metadata"].value("uid", "");
    entry.owners = OwnerUidsOf(object);
    IndexOwners(key.resource, MapKey(key), nullptr, &entry.owners);
    entry.object.rv = rv;
    entry.object.labels = std::make_shared<const Labels>(LabelsOf(object));
    entry.object.json = std::make_shared<const std::string>(std::move(data));
    revision_ = std::max(revision_, rv);
    if (!entry.uid.empty()) {
      by_uid_[entry.uid] = key;
    }
    objects_[key.resource][MapKey(key)] = std::move(entry);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    return SqliteError(db_, "reading objects");
  }
  return OkStatus();
}

int64_t Store::revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return revision_;
}

StoredObject Store::Stamp(Json& object, int64_t rv) const {
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  StoredObject stored;
  stored.rv = rv;
  stored.labels = std::make_shared<const Labels>(LabelsOf(object));
  stored.json = std::make_shared<const std::string>(object.dump());
  return stored;
}

void Store::Publish(Event event, StoredObject previous) {
  for (auto& [id, watcher] : watchers_) {
    if (watcher.resource.empty() || watcher.resource == event.key.resource) {
      watcher.sink(event);
    }
  }
  log_.push_back(std::move(event));
  log_previous_.push_back(std::move(previous));
  while (log_.size() > log_capacity_) {
    log_.pop_front();
    log_previous_.pop_front();
  }
}

const Store::Entry* Store::Current(const ObjectKey& key, const std::string& map_key) const {
  if (!overlay_.empty()) {
    auto o = overlay_.find(OverlayKey(key.resource, map_key));
    if (o != overlay_.end()) {
      return o->second.entry ? &*o->second.entry : nullptr;
    }
  }
  auto r = objects_.find(key.resource);
  if (r == objects_.end()) {
    return nullptr;
  }
  auto it = r->second.find(map_key);
  return it == r->second.end() ? nullptr : &it->second;
}

StatusOr<const Store::Entry*> Store::EntryForWrite(const ObjectKey& key, const std::string& map_key,
                                                   int64_t expected_rv) const {
  const Entry* entry = Current(key, map_key);
  if (entry == nullptr) {
    return NotFoundError(key.name + " not found");
  }
  if (expected_rv != 0 && expected_rv != entry->object.rv) {
    return AbortedError("the object has been modified");
  }
  return entry;
}

StatusOr<StoredObject> Store::Create(const ObjectKey& key, Json object) {
  std::string uid = object["metadata"].value("uid", "");
  std::string map_key = MapKey(key);
  std::unique_lock<std::mutex> lock(mu_);
  if (Current(key, map_key) != nullptr) {
    return AlreadyExistsError(key.name + " already exists");
  }
  std::vector<std::string> owners = OwnerUidsOf(object);
  StoredObject stored = Stamp(object, assigned_ + 1);
  Ticket ticket;
  RETURN_IF_ERROR(Commit(lock, PendingWrite{EventType::kAdded, key, stored, uid, &ticket, owners},
                         Entry{stored, uid, owners}));
  return stored;
}

StatusOr<StoredObject> Store::Update(const ObjectKey& key, Json object, int64_t expected_rv) {
  std::string map_key = MapKey(key);
  std::unique_lock<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const Entry* current, EntryForWrite(key, map_key, expected_rv));
  std::string uid = current->uid;
  std::vector<std::string> owners = OwnerUidsOf(object);
  StoredObject stored = Stamp(object, assigned_ + 1);
  Ticket ticket;
  RETURN_IF_ERROR(Commit(lock,
                         PendingWrite{EventType::kModified, key, stored, uid, &ticket, owners},
                         Entry{stored, uid, owners}));
  return stored;
}

StatusOr<StoredObject> Store::Delete(const ObjectKey& key, Json last_state, int64_t expected_rv) {
  std::string map_key = MapKey(key);
  std::unique_lock<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(const Entry* current, EntryForWrite(key, map_key, expected_rv));
  std::string uid = current->uid;
  StoredObject stored = Stamp(last_state, assigned_ + 1);
  Ticket ticket;
  RETURN_IF_ERROR(
      Commit(lock, PendingWrite{EventType::kDeleted, key, stored, uid, &ticket}, std::nullopt));
  return stored;
}

Status Store::Commit(std::unique_lock<std::mutex>& lock, PendingWrite write,
                     std::optional<Entry> next) {
  Ticket& ticket = *write.ticket;
  assigned_ = write.stored.rv;
  overlay_[OverlayKey(write.key.resource, MapKey(write.key))] =
      Overlay{std::move(next), write.stored.rv};
  queue_.push_back(std::move(write));
  while (!ticket.done) {
    if (committing_) {
      committed_.wait(lock);
    } else {
      // Not done and no commit running: this write is still queued; commit the group.
      CommitQueued(lock);
    }
  }
  return ticket.status;
}

void Store::CommitQueued(std::unique_lock<std::mutex>& lock) {
  committing_ = true;
  std::vector<PendingWrite> batch;
  batch.swap(queue_);
  lock.unlock();
  Status persisted = PersistBatch(batch);
  lock.lock();
  if (persisted.ok()) {
    for (PendingWrite& w : batch) {
      std::string map_key = MapKey(w.key);
      auto& objects = objects_[w.key.resource];
      StoredObject previous;
      std::vector<std::string> previous_owners;
      if (auto p = objects.find(map_key); p != objects.end()) {
        previous = p->second.object;
        previous_owners = std::move(p->second.owners);
      }
      IndexOwners(w.key.resource, map_key, &previous_owners, &w.owners);
      if (w.type == EventType::kDeleted) {
        objects.erase(map_key);
        if (!w.uid.empty()) {
          by_uid_.erase(w.uid);
        }
      } else {
        objects[map_key] = Entry{w.stored, w.uid, w.owners};
        if (!w.uid.empty()) {
          by_uid_[w.uid] = w.key;
        }
      }
      auto o = overlay_.find(OverlayKey(w.key.resource, map_key));
      if (o != overlay_.end() && o->second.rv == w.stored.rv) {
        overlay_.erase(o);
      }
      revision_ = w.stored.rv;
      w.ticket->done = true;
      Publish(Event{w.type, std::move(w.key), std::move(w.stored)}, std::move(previous));
    }
  } else {
    // Writes queued meanwhile were checked against the failed ones: they fail too, and the
    // revisions handed out are handed out again (none was ever visible).
    for (PendingWrite& w : batch) {
      w.ticket->status = persisted;
      w.ticket->done = true;
    }
    for (PendingWrite& w : queue_) {
      w.ticket->status =
          AbortedError("an earlier write could not be committed: " + persisted.message());
      w.ticket->done = true;
    }
    queue_.clear();
    overlay_.clear();
    assigned_ = revision_;
  }
  committing_ = false;
  committed_.notify_all();
}

Status Store::PersistBatch(const std::vector<PendingWrite>& batch) {
  auto bind_key = [](sqlite3_stmt* stmt, const ObjectKey& key) {
    sqlite3_bind_text(stmt, 1, key.resource.data(), static_cast<int>(key.resource.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, key.ns.data(), static_cast<int>(key.ns.size()), SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, key.name.data(), static_cast<int>(key.name.size()), SQLITE_STATIC);
  };
  auto bind_upsert = [&](const PendingWrite& w) {
    bind_key(upsert_, w.key);
    sqlite3_bind_int64(upsert_, 4, w.stored.rv);
    sqlite3_bind_text(upsert_, 5, w.stored.json->data(), static_cast<int>(w.stored.json->size()),
                      SQLITE_STATIC);
  };
  if (batch.size() == 1 && batch[0].type != EventType::kDeleted) {
    // One statement, one implicit transaction: the row's rv records the revision (LoadAll takes
    // the maximum of the rows and the meta table, which only deletions need to advance).
    bind_upsert(batch[0]);
    return Step(db_, upsert_, "writing an object");
  }
  RETURN_IF_ERROR(Step(db_, begin_, "beginning a transaction"));
  auto fail = [&](const char* what) {
    Status s = SqliteError(db_, what);
    Step(db_, rollback_, "rolling back").IgnoreError();
    return s;
  };
  bool deletes = false;
  for (const PendingWrite& w : batch) {
    if (w.type == EventType::kDeleted) {
      deletes = true;
      bind_key(delete_, w.key);
      if (!Step(db_, delete_, "deleting an object").ok()) {
        return fail("deleting an object");
      }
    } else {
      bind_upsert(w);
      if (!Step(db_, upsert_, "writing an object").ok()) {
        return fail("writing an object");
      }
    }
  }
  if (deletes) {
    sqlite3_bind_int64(set_revision_, 1, batch.back().stored.rv);
    if (!Step(db_, set_revision_, "writing the revision").ok()) {
      return fail("writing the revision");
    }
  }
  if (!Step(db_, commit_, "committing").ok()) {
    return fail("committing");
  }
  return OkStatus();
}

StatusOr<StoredObject> Store::Get(const ObjectKey& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = objects_.find(key.resource);
  if (r == objects_.end()) {
    return NotFoundError(key.name + " not found");
  }
  auto it = r->second.find(MapKey(key));
  if (it == r->second.end()) {
    return NotFoundError(key.name + " not found");
  }
  return it->second.object;
}

Store::ListResult Store::List(const std::string& resource, const std::string& ns,
                              const std::string& after) const {
  ListResult result;
  std::lock_guard<std::mutex> lock(mu_);
  result.revision = revision_;
  auto r = objects_.find(resource);
  if (r == objects_.end()) {
    return result;
  }
  std::string prefix = ns.empty() ? "" : ns + "/";
  auto it = after.empty() ? r->second.lower_bound(prefix) : r->second.upper_bound(after);
  for (; it != r->second.end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) {
      break;
    }
    size_t slash = it->first.find('/');
    result.items.emplace_back(
        ObjectKey{resource, it->first.substr(0, slash), it->first.substr(slash + 1)},
        it->second.object);
  }
  return result;
}

StatusOr<Store::ListResult> Store::ListAt(const std::string& resource, const std::string& ns,
                                          const std::string& after, int64_t at_rv) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (at_rv > revision_) {
      return InvalidArgumentError("resource version " + std::to_string(at_rv) +
                                  " is newer than the current one (" + std::to_string(revision_) +
                                  ")");
    }
  }
  ListResult current = List(resource, ns, after);
  if (at_rv <= 0 || at_rv >= current.revision) {
    return current;
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Writes committed between the two locks are in the log like every other: rebuilding from the
  // log below undoes them as well.
  if (log_.empty() || at_rv < log_.front().object.rv - 1) {
    return OutOfRangeError("too old resource version: " + std::to_string(at_rv) + " (" +
                           std::to_string(log_.empty() ? revision_ : log_.front().object.rv - 1) +
                           ")");
  }
  // The state at at_rv of each key changed since: what its first later event replaced.
  std::string prefix = ns.empty() ? "" : ns + "/";
  std::map<std::string, const StoredObject*> changed;
  auto first = std::upper_bound(log_.begin(), log_.end(), at_rv,
                                [](int64_t rv, const Event& e) { return rv < e.object.rv; });
  for (auto it = first; it != log_.end(); ++it) {
    if (it->key.resource != resource || (!prefix.empty() && it->key.ns + "/" != prefix)) {
      continue;
    }
    std::string map_key = MapKey(it->key);
    if (!after.empty() && map_key <= after) {
      continue;
    }
    changed.try_emplace(std::move(map_key), &log_previous_[it - log_.begin()]);
  }
  ListResult result;
  result.revision = at_rv;
  auto c = changed.begin();
  auto emit_changed = [&] {
    if (c->second->json != nullptr) {
      size_t slash = c->first.find('/');
      result.items.emplace_back(
          ObjectKey{resource, c->first.substr(0, slash), c->first.substr(slash + 1)}, *c->second);
    }
    ++c;
  };
  for (auto& item : current.items) {
    std::string map_key = MapKey(item.first);
    while (c != changed.end() && c->first < map_key) {
      emit_changed();
    }
    if (c != changed.end() && c->first == map_key) {
      emit_changed();
      continue;
    }
    result.items.push_back(std::move(item));
  }
  while (c != changed.end()) {
    emit_changed();
  }
  return result;
}

size_t Store::Count(const std::string& resource, const std::string& ns) const {
  return List(resource, ns).items.size();
}

StatusOr<uint64_t> Store::Watch(const std::string& resource, int64_t from_rv, Sink sink) {
  std::lock_guard<std::mutex> lock(mu_);
  if (from_rv == 0) {
    for (const auto& [res, objects] : objects_) {
      if (!resource.empty() && res != resource) {
        continue;
      }
      for (const auto& [map_key, entry] : objects) {
        size_t slash = map_key.find('/');
        sink(Event{EventType::kAdded,
                   ObjectKey{res, map_key.substr(0, slash), map_key.substr(slash + 1)},
                   entry.object});
      }
    }
  } else if (from_rv < revision_) {
    // The log holds every event after (front.rv - 1); older starting points are gone.
    if (log_.empty() || from_rv < log_.front().object.rv - 1) {
      return OutOfRangeError("too old resource version: " + std::to_string(from_rv) + " (" +
                             std::to_string(log_.empty() ? revision_ : log_.front().object.rv - 1) +
                             ")");
    }
    auto first = std::upper_bound(log_.begin(), log_.end(), from_rv,
                                  [](int64_t rv, const Event& e) { return rv < e.object.rv; });
    for (auto it = first; it != log_.end(); ++it) {
      if (resource.empty() || it->key.resource == resource) {
        sink(*it);
      }
    }
  }
  uint64_t id = next_watcher_++;
  watchers_[id] = Watcher{resource, std::move(sink)};
  return id;
}

void Store::Unwatch(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.erase(id);
}

void Store::RunLocked(const std::function<void(int64_t revision)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  fn(revision_);
}

std::optional<ObjectKey> Store::FindByUid(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Store::IndexOwners(const std::string& resource, const std::string& map_key,
                        const std::vector<std::string>* before,
                        const std::vector<std::string>* after) {
  if (before != nullptr) {
    for (const std::string& owner : *before) {
      auto it = by_owner_.find(owner);
      if (it != by_owner_.end()) {
        it->second.erase({resource, map_key});
        if (it->second.empty()) {
          by_owner_.erase(it);
        }
      }
    }
  }
  if (after != nullptr) {
    for (const std::string& owner : *after) {
      by_owner_[owner].emplace(resource, map_key);
    }
  }
}

std::vector<ObjectKey> Store::FindOwnedBy(const std::string& owner_uid) const {
  std::vector<ObjectKey> keys;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_owner_.find(owner_uid);
  if (it == by_owner_.end()) {
    return keys;
  }
  for (const auto& [resource, map_key] : it->second) {
    size_t slash = map_key.find('/');
    keys.push_back(ObjectKey{resource, map_key.substr(0, slash), map_key.substr(slash + 1)});
  }
  return keys;
}

std::vector<ObjectKey> Store::FindMentioning(const std::string& needle) const {
  std::vector<ObjectKey> keys;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [res, objects] : objects_) {
    for (const auto& [map_key, entry] : objects) {
      if (entry.object.json->find(needle) != std::string::npos) {
        size_t slash = map_key.find('/');
        keys.push_back(ObjectKey{res, map_key.substr(0, slash), map_key.substr(slash + 1)});
      }
    }
  }
  return keys;
}

std::vector<ObjectKey> Store::KeysInNamespace(const std::string& ns) const {
  std::vector<ObjectKey> keys;
  std::string prefix = ns + "/";
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [res, objects] : objects_) {
    for (auto it = objects.lower_bound(prefix);
         it != objects.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      keys.push_back(ObjectKey{res, ns, it->first.substr(prefix.size())});
    }
  }
  return keys;
}

}  // namespace lifeboat::apiserver
