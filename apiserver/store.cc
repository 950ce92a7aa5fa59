#include "apiserver/store.h"

#include <sqlite3.h>

#include <algorithm>

namespace lifeboat::apiserver {
namespace {

std::string MapKey(const ObjectKey& key) { return key.ns + "/" + key.name; }

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
  std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") + kSchema;
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
  return LoadAll();
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
  if (sqlite3_prepare_v2(db_, "SELECT resource, namespace, name, rv, data FROM objects", -1,
                         &stmt, nullptr) != SQLITE_OK) {
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

Status Store::Persist(const ObjectKey& key, const std::string* json, int64_t rv) {
  if (json) {
    // One statement, one implicit transaction: the row's rv records the revision (LoadAll takes
    // the maximum of the rows and the meta table, which only deletes need to advance).
    sqlite3_bind_text(upsert_, 1, key.resource.data(), static_cast<int>(key.resource.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 2, key.ns.data(), static_cast<int>(key.ns.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 3, key.name.data(), static_cast<int>(key.name.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 4, rv);
    sqlite3_bind_text(upsert_, 5, json->data(), static_cast<int>(json->size()), SQLITE_STATIC);
    return Step(db_, upsert_, "writing an object");
  }
  RETURN_IF_ERROR(Step(db_, begin_, "beginning a transaction"));
  auto fail = [&](const char* what) {
    Status s = SqliteError(db_, what);
    Step(db_, rollback_, "rolling back").IgnoreError();
    return s;
  };
  sqlite3_stmt* stmt = json ? upsert_ : delete_;
  sqlite3_bind_text(stmt, 1, key.resource.data(), static_cast<int>(key.resource.size()),
                    SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, key.ns.data(), static_cast<int>(key.ns.size()), SQLITE_STATIC);
  sqlite3_bind_text(stmt, 3, key.name.data(), static_cast<int>(key.name.size()), SQLITE_STATIC);
  if (json) {
    sqlite3_bind_int64(stmt, 4, rv);
    sqlite3_bind_text(stmt, 5, json->data(), static_cast<int>(json->size()), SQLITE_STATIC);
  }
  if (!Step(db_, stmt, "writing an object").ok()) {
    return fail("writing an object");
  }
  sqlite3_bind_int64(set_revision_, 1, rv);
  if (!Step(db_, set_revision_, "writing the revision").ok()) {
    return fail("writing the revision");
  }
  if (!Step(db_, commit_, "committing").ok()) {
    return fail("committing");
  }
  return OkStatus();
}

StoredObject Store::Stamp(Json& object, int64_t rv) const {
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  StoredObject stored;
  stored.rv = rv;
  stored.labels = std::make_shared<const Labels>(LabelsOf(object));
  stored.json = std::make_shared<const std::string>(object.dump());
  return stored;
}

void Store::Publish(Event event) {
  for (auto& [id, watcher] : watchers_) {
    if (watcher.resource.empty() || watcher.resource == event.key.resource) {
      watcher.sink(event);
    }
  }
  log_.push_back(std::move(event));
  while (log_.size() > log_capacity_) {
    log_.pop_front();
  }
}

StatusOr<StoredObject> Store::Create(const ObjectKey& key, Json object) {
  std::string uid = object["metadata"].value("uid", "");
  std::lock_guard<std::mutex> lock(mu_);
  auto& objects = objects_[key.resource];
  std::string map_key = MapKey(key);
  if (objects.count(map_key) != 0) {
    return AlreadyExistsError(key.name + " already exists");
  }
  int64_t rv = revision_ + 1;
  StoredObject stored = Stamp(object, rv);
  RETURN_IF_ERROR(Persist(key, stored.json.get(), rv));
  revision_ = rv;
  objects[map_key] = Entry{stored, uid};
  if (!uid.empty()) {
    by_uid_[uid] = key;
  }
  Publish(Event{EventType::kAdded, key, stored});
  return stored;
}

StatusOr<std::map<std::string, Store::Entry>::iterator> Store::EntryForWrite(
    const ObjectKey& key, int64_t expected_rv) {
  auto& objects = objects_[key.resource];
  auto it = objects.find(MapKey(key));
  if (it == objects.end()) {
    return NotFoundError(key.name + " not found");
  }
  if (expected_rv != 0 && expected_rv != it->second.object.rv) {
    return AbortedError("the object has been modified");
  }
  return it;
}

StatusOr<StoredObject> Store::Update(const ObjectKey& key, Json object, int64_t expected_rv) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto it, EntryForWrite(key, expected_rv));
  int64_t rv = revision_ + 1;
  StoredObject stored = Stamp(object, rv);
  RETURN_IF_ERROR(Persist(key, stored.json.get(), rv));
  revision_ = rv;
  it->second.object = stored;
  Publish(Event{EventType::kModified, key, stored});
  return stored;
}

StatusOr<StoredObject> Store::Delete(const ObjectKey& key, Json last_state, int64_t expected_rv) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto it, EntryForWrite(key, expected_rv));
  int64_t rv = revision_ + 1;
  RETURN_IF_ERROR(Persist(key, nullptr, rv));
  revision_ = rv;
  StoredObject stored = Stamp(last_state, rv);
  if (!it->second.uid.empty()) {
    by_uid_.erase(it->second.uid);
  }
  objects_[key.resource].erase(it);
  Publish(Event{EventType::kDeleted, key, stored});
  return stored;
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
    auto first = std::upper_bound(
        log_.begin(), log_.end(), from_rv,
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
