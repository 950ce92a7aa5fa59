#include "apiserver/apply.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace lifeboat::apiserver {
namespace {

// A field's path in FieldsV1 terms: "f:<name>" for a field of an object, "k:<key object>" for an
// item of a map-list, "v:<value>" for an item of a set, and a final "." for an item itself.
using Path = std::vector<std::string>;
using PathSet = std::set<Path>;
using Leaves = std::map<Path, Json>;  // every owned path with the value found there

constexpr char kBeforeFirstApply[] = "before-first-apply";
constexpr char kSelf[] = ".";

// What Kubernetes' schema says about metadata (a CRD's schema leaves it as "type: object").
const Json& MetadataSchema() {
  static const Json schema = Json::parse(R"({
    "type": "object",
    "properties": {
      "labels": {"type": "object", "additionalProperties": {"type": "string"}},
      "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
      "finalizers": {"type": "array", "items": {"type": "string"},
                     "x-kubernetes-list-type": "set"},
      "ownerReferences": {"type": "array", "items": {"type": "object"},
                          "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["uid"]}
    }
  })");
  return schema;
}

const Json* ChildSchema(const Json* schema, const std::string& field, bool root) {
  if (root && field == "metadata") {
    return &MetadataSchema();
  }
  if (schema == nullptr || !schema->is_object()) {
    return nullptr;
  }
  auto props = schema->find("properties");
  if (props != schema->end() && props->is_object()) {
    auto it = props->find(field);
    if (it != props->end()) {
      return &*it;
    }
  }
  auto extra = schema->find("additionalProperties");
  if (extra != schema->end() && extra->is_object()) {
    return &*extra;
  }
  return nullptr;
}

const Json* ItemSchema(const Json* schema) {
  if (schema == nullptr || !schema->is_object()) {
    return nullptr;
  }
  auto it = schema->find("items");
  return (it != schema->end() && it->is_object()) ? &*it : nullptr;
}

std::string SchemaString(const Json* schema, const char* key) {
  if (schema == nullptr || !schema->is_object()) {
    return "";
  }
  auto it = schema->find(key);
  return (it != schema->end() && it->is_string()) ? it->get<std::string>() : "";
}

bool AtomicMap(const Json* schema) {
  return SchemaString(schema, "x-kubernetes-map-type") == "atomic";
}

enum class ListType { kAtomic, kSet, kMap };

ListType ListTypeOf(const Json* schema) {
  std::string t = SchemaString(schema, "x-kubernetes-list-type");
  if (t == "set") {
    return ListType::kSet;
  }
  if (t == "map") {
    return ListType::kMap;
  }
  return ListType::kAtomic;
}

std::vector<std::string> MapKeys(const Json* schema) {
  std::vector<std::string> keys;
  auto it = schema->find("x-kubernetes-list-map-keys");
  if (it != schema->end() && it->is_array()) {
    for (const Json& k : *it) {
      if (k.is_string()) {
        keys.push_back(k.get<std::string>());
      }
    }
  }
  return keys;
}

// The key fields of a map-list item, as an object (dumped with sorted keys: a stable text).
Json ItemKey(const Json& item, const std::vector<std::string>& keys) {
  Json key = Json::object();
  if (item.is_object()) {
    for (const std::string& k : keys) {
      auto it = item.find(k);
      if (it != item.end()) {
        key[k] = *it;
      }
    }
  }
  return key;
}

// The part of an object whose fields are tracked for a write to the main resource or to its
// status: never apiVersion/kind or the server's metadata.
Json TrackedView(const Json& object, const FieldManagerOptions& options) {
  Json view = Json::object();
  if (!object.is_object()) {
    return view;
  }
  for (const auto& [key, value] : object.items()) {
    if (key == "apiVersion" || key == "kind") {
      continue;
    }
    bool is_status = key == "status";
    if (options.status_subresource && is_status != options.to_status) {
      continue;
    }
    if (key == "metadata") {
      if (!value.is_object()) {
        continue;
      }
      Json meta = Json::object();
      for (const char* field : {"labels", "annotations", "finalizers", "ownerReferences"}) {
        auto it = value.find(field);
        if (it != value.end() && !it->is_null()) {
          meta[field] = *it;
        }
      }
      if (!meta.empty()) {
        view["metadata"] = std::move(meta);
      }
      continue;
    }
    view[key] = value;
  }
  return view;
}

void CollectLeaves(const Json& value, const Json* schema, bool root, Path& path, Leaves& out) {
  if (value.is_object() && !AtomicMap(schema) && !value.empty()) {
    for (const auto& [key, child] : value.items()) {
      path.push_back("f:" + key);
      CollectLeaves(child, ChildSchema(schema, key, root), false, path, out);
      path.pop_back();
    }
    return;
  }
  if (value.is_array() && !value.empty()) {
    ListType type = ListTypeOf(schema);
    if (type == ListType::kSet) {
      for (const Json& item : value) {
        path.push_back("v:" + item.dump());
        out[path] = item;
        path.pop_back();
      }
      return;
    }
    if (type == ListType::kMap) {
      std::vector<std::string> keys = MapKeys(schema);
      const Json* items = ItemSchema(schema);
      for (const Json& item : value) {
        Json key = ItemKey(item, keys);
        path.push_back("k:" + key.dump());
        path.push_back(kSelf);
        out[path] = key;
        path.pop_back();
        CollectLeaves(item, items, false, path, out);
        path.pop_back();
      }
      return;
    }
  }
  if (!path.empty()) {
    out[path] = value;  // a scalar, an atomic list or map, or an empty container
  }
}

Leaves LeavesOf(const Json& object, const Json* schema, const FieldManagerOptions& options) {
  Leaves out;
  Path path;
  CollectLeaves(TrackedView(object, options), schema, true, path, out);
  return out;
}

// ".spec.volumes[name=\"data\"].path", as Kubernetes prints a field path.
std::string FieldString(const Path& path) {
  std::string out;
  for (const std::string& e : path) {
    if (e == kSelf) {
      continue;
    }
    std::string rest = e.substr(2);
    if (e[0] == 'f') {
      out += "." + rest;
    } else if (e[0] == 'v') {
      out += "[=" + rest + "]";
    } else {
      Json key = Json::parse(rest, nullptr, false);
      std::string inner;
      if (key.is_object()) {
        for (const auto& [k, v] : key.items()) {
          inner += (inner.empty() ? "" : ",") + k + "=" + v.dump();
        }
      }
      out += "[" + inner + "]";
    }
  }
  return out;
}

// FieldsV1 ⇄ a set of paths. A node is a member when it is empty ({}) or holds ".".
void DecodeFields(const Json& node, Path& path, PathSet& out) {
  if (!path.empty() && (node.empty() || node.contains(kSelf))) {
    Path member = path;
    if (!path.empty() && path.back().rfind("k:", 0) == 0) {
      member.push_back(kSelf);  // an item of a map-list: "." is how we name the item itself
    }
    out.insert(std::move(member));
  }
  for (const auto& [key, child] : node.items()) {
    if (key == kSelf || !child.is_object()) {
      continue;
    }
    path.push_back(key);
    DecodeFields(child, path, out);
    path.pop_back();
  }
}

Json EncodeFields(const PathSet& paths) {
  Json root = Json::object();
  for (const Path& p : paths) {
    Json* node = &root;
    for (const std::string& e : p) {
      node = &(*node)[e];
      if (!node->is_object()) {
        *node = Json::object();
      }
    }
  }
  // A member that also has members below it says so with ".".
  for (const Path& p : paths) {
    if (p.empty() || p.back() == kSelf) {
      continue;
    }
    Json* node = &root;
    for (const std::string& e : p) {
      node = &(*node)[e];
    }
    if (!node->empty() && !node->contains(kSelf)) {
      (*node)[kSelf] = Json::object();
    }
  }
  return root;
}

struct Manager {
  std::string manager;
  std::string operation;  // Apply, Update
  std::string api_version;
  std::string time;
  std::string subresource;
  PathSet fields;
};

StatusOr<std::vector<Manager>> DecodeManagers(const Json& managed) {
  std::vector<Manager> out;
  if (!managed.is_array()) {
    return InvalidArgumentError("metadata.managedFields: Invalid value: must be a list");
  }
  for (size_t i = 0; i < managed.size(); ++i) {
    const Json& entry = managed[i];
    std::string where = "metadata.managedFields[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      return InvalidArgumentError(where + ": Invalid value: must be an object");
    }
    Manager m;
    m.manager = entry.value("manager", "");
    m.operation = entry.value("operation", "");
    m.api_version = entry.value("apiVersion", "");
    m.time = entry.value("time", "");
    m.subresource = entry.value("subresource", "");
    if (m.operation != "Apply" && m.operation != "Update") {
      return InvalidArgumentError(where + ".operation: Unsupported value: \"" + m.operation +
                                  "\": supported values: \"Apply\", \"Update\"");
    }
    std::string type = entry.value("fieldsType", "");
    if (type != "FieldsV1") {
      return InvalidArgumentError(where + ".fieldsType: Unsupported value: \"" + type +
                                  "\": supported values: \"FieldsV1\"");
    }
    auto fields = entry.find("fieldsV1");
    if (fields != entry.end()) {
      if (!fields->is_object()) {
        return InvalidArgumentError(where + ".fieldsV1: Invalid value: must be an object");
      }
      Path path;
      DecodeFields(*fields, path, m.fields);
    }
    out.push_back(std::move(m));
  }
  return out;
}

Json EncodeManagers(const std::vector<Manager>& managers) {
  Json out = Json::array();
  for (const Manager& m : managers) {
    if (m.fields.empty()) {
      continue;
    }
    Json entry = {{"manager", m.manager},        {"operation", m.operation},
                  {"apiVersion", m.api_version}, {"time", m.time},
                  {"fieldsType", "FieldsV1"},    {"fieldsV1", EncodeFields(m.fields)}};
    if (!m.subresource.empty()) {
      entry["subresource"] = m.subresource;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

const Json* ManagedFieldsOf(const Json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return nullptr;
  }
  auto it = meta->find("managedFields");
  return (it != meta->end() && !it->is_null()) ? &*it : nullptr;
}

void SetManagedFields(Json& object, Json managed) {
  Json& meta = object["metadata"];
  if (!meta.is_object()) {
    meta = Json::object();
  }
  if (managed.empty()) {
    meta.erase("managedFields");
  } else {
    meta["managedFields"] = std::move(managed);
  }
}

Manager& EntryFor(std::vector<Manager>& managers, const FieldManagerOptions& options,
                  const std::string& operation, const std::string& subresource) {
  for (Manager& m : managers) {
    if (m.manager == options.manager && m.operation == operation && m.subresource == subresource &&
        (operation == "Apply" || m.api_version == options.api_version)) {
      m.api_version = options.api_version;
      m.time = options.now;
      return m;
    }
  }
  managers.push_back(
      {options.manager, operation, options.api_version, options.now, subresource, {}});
  return managers.back();
}

// Every manager keeps only fields the object still has.
void Prune(std::vector<Manager>& managers, const std::string& subresource, const Leaves& present) {
  for (Manager& m : managers) {
    if (m.subresource != subresource) {
      continue;
    }
    for (auto it = m.fields.begin(); it != m.fields.end();) {
      it = present.count(*it) ? std::next(it) : m.fields.erase(it);
    }
  }
}

// The live value merged with an apply configuration (schema-aware, see the header).
Json Merge(const Json& live, const Json& config, const Json* schema, bool root) {
  if (config.is_object() && live.is_object() && !AtomicMap(schema)) {
    Json result = live;
    for (const auto& [key, value] : config.items()) {
      auto it = live.find(key);
      result[key] =
          it == live.end() ? value : Merge(*it, value, ChildSchema(schema, key, root), false);
    }
    return result;
  }
  if (config.is_array() && live.is_array()) {
    ListType type = ListTypeOf(schema);
    if (type == ListType::kSet) {
      Json result = live;
      for (const Json& item : config) {
        if (std::find(result.begin(), result.end(), item) == result.end()) {
          result.push_back(item);
        }
      }
      return result;
    }
    if (type == ListType::kMap) {
      std::vector<std::string> keys = MapKeys(schema);
      const Json* items = ItemSchema(schema);
      Json result = live;
      for (const Json& item : config) {
        Json key = ItemKey(item, keys);
        auto it = std::find_if(result.begin(), result.end(), [&](const Json& existing) {
          return ItemKey(existing, keys) == key;
        });
        if (it == result.end()) {
          result.push_back(item);
        } else {
          *it = Merge(*it, item, items, false);
        }
      }
      return result;
    }
  }
  return config;
}

// Removes the field at path[i..] from `node`. An item path ends in "." and removes the item.
void RemovePath(Json& node, const Path& path, size_t i) {
  if (i >= path.size()) {
    return;
  }
  const std::string& e = path[i];
  const bool last = i + 1 == path.size();
  if (e.rfind("f:", 0) == 0) {
    if (!node.is_object()) {
      return;
    }
    std::string field = e.substr(2);
    if (last) {
      node.erase(field);
    } else if (auto it = node.find(field); it != node.end()) {
      RemovePath(*it, path, i + 1);
      // A map left empty by the removal goes too (labels: {}), but never a top-level field.
      if (i > 0 && it->is_object() && it->empty()) {
        node.erase(it);
      }
    }
    return;
  }
  if (!node.is_array()) {
    return;
  }
  if (e.rfind("v:", 0) == 0) {
    Json value = Json::parse(e.substr(2), nullptr, false);
    node.erase(std::remove(node.begin(), node.end(), value), node.end());
    return;
  }
  if (e.rfind("k:", 0) == 0) {
    Json key = Json::parse(e.substr(2), nullptr, false);
    if (!key.is_object()) {
      return;
    }
    std::vector<std::string> keys;
    for (const auto& [k, v] : key.items()) {
      keys.push_back(k);
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (ItemKey(*it, keys) != key) {
        continue;
      }
      if (i + 1 < path.size() && path[i + 1] == kSelf) {
        node.erase(it);
      } else {
        RemovePath(*it, path, i + 1);
      }
      return;
    }
  }
}

// The managers of `live`, or everything it holds as "before-first-apply" when it has none.
StatusOr<std::vector<Manager>> LiveManagers(const Json& live, const Json* schema,
                                            const FieldManagerOptions& options) {
  const Json* managed = ManagedFieldsOf(live);
  if (managed != nullptr && managed->is_array() && !managed->empty()) {
    auto decoded = DecodeManagers(*managed);
    if (decoded.ok()) {
      return decoded;
    }
    // Unreadable stored managedFields are reset, as Kubernetes does.
  }
  std::vector<Manager> managers;
  FieldManagerOptions main = options;
  for (bool status : {false, true}) {
    if (status && !options.status_subresource) {
      break;
    }
    main.to_status = status;
    Manager m{kBeforeFirstApply,      "Update", options.api_version, options.now,
              status ? "status" : "", {}};
    for (const auto& [path, value] : LeavesOf(live, schema, main)) {
      m.fields.insert(path);
    }
    managers.push_back(std::move(m));
  }
  return managers;
}

}  // namespace

StatusOr<ApplyResult> ServerSideApply(const Json* live, const Json& config, const Json* schema,
                                      const FieldManagerOptions& options) {
  const std::string subresource = options.to_status ? "status" : "";
  Json applied = TrackedView(config, options);
  Leaves wanted;
  {
    Path path;
    CollectLeaves(applied, schema, true, path, wanted);
  }
  ApplyResult result;
  std::vector<Manager> managers;
  Json merged;
  if (live == nullptr) {
    merged = config;
    if (options.status_subresource) {
      merged.erase("status");
    }
    if (merged.contains("metadata") && merged["metadata"].is_object()) {
      merged["metadata"].erase("managedFields");
    }
  } else {
    ASSIGN_OR_RETURN(managers, LiveManagers(*live, schema, options));
    Leaves current = LeavesOf(*live, schema, options);
    // Conflicts: a field another manager owns, set here to another value.
    std::map<Path, std::vector<Manager*>> takeovers;
    for (Manager& m : managers) {
      if (m.subresource != subresource ||
          (m.manager == options.manager && m.operation == "Apply")) {
        continue;
      }
      for (const Path& p : m.fields) {
        auto want = wanted.find(p);
        auto have = current.find(p);
        if (want == wanted.end() || have == current.end() || want->second == have->second) {
          continue;
        }
        takeovers[p].push_back(&m);
        if (!options.force) {
          result.conflicts.push_back({m.manager, m.api_version, FieldString(p)});
        }
      }
    }
    if (!result.conflicts.empty()) {
      return result;
    }
    for (auto& [path, owners] : takeovers) {
      for (Manager* m : owners) {
        m->fields.erase(path);
      }
    }
    merged = Merge(*live, applied, schema, true);
    // What this manager applied before and applies no more goes, unless someone else owns it.
    PathSet previous;
    for (const Manager& m : managers) {
      if (m.manager == options.manager && m.operation == "Apply" && m.subresource == subresource) {
        previous = m.fields;
      }
    }
    for (const Path& p : previous) {
      if (wanted.count(p)) {
        continue;
      }
      bool shared = std::any_of(managers.begin(), managers.end(), [&](const Manager& m) {
        return m.subresource == subresource &&
               !(m.manager == options.manager && m.operation == "Apply") && m.fields.count(p);
      });
      if (!shared) {
        RemovePath(merged, p, 0);
      }
    }
  }
  Manager& mine = EntryFor(managers, options, "Apply", subresource);
  mine.fields.clear();
  for (const auto& [path, value] : wanted) {
    mine.fields.insert(path);
  }
  Prune(managers, subresource, LeavesOf(merged, schema, options));
  SetManagedFields(merged, EncodeManagers(managers));
  result.object = std::move(merged);
  return result;
}

StatusOr<Json> TrackUpdate(const Json& live, Json updated, const Json* schema,
                           const FieldManagerOptions& options) {
  const Json* live_managed = ManagedFieldsOf(live);
  const Json* new_managed = ManagedFieldsOf(updated);
  if (new_managed != nullptr && (live_managed == nullptr || *new_managed != *live_managed)) {
    // The writer sets managedFields itself: [] clears them, anything else must be readable.
    if (new_managed->is_array() && new_managed->empty()) {
      SetManagedFields(updated, Json::array());
      return updated;
    }
    RETURN_IF_ERROR(DecodeManagers(*new_managed).status());
    return updated;
  }
  if (live_managed == nullptr || !live_managed->is_array() || live_managed->empty()) {
    SetManagedFields(updated, Json::array());  // untracked until the first apply
    return updated;
  }
  auto decoded = DecodeManagers(*live_managed);
  if (!decoded.ok()) {
    SetManagedFields(updated, Json::array());
    return updated;
  }
  std::vector<Manager> managers = std::move(decoded).value();
  const std::string subresource = options.to_status ? "status" : "";
  Leaves before = LeavesOf(live, schema, options);
  Leaves after = LeavesOf(updated, schema, options);
  PathSet changed;
  for (const auto& [path, value] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != value) {
      changed.insert(path);
    }
  }
  if (!changed.empty()) {
    for (Manager& m : managers) {
      if (m.subresource == subresource) {
        for (const Path& p : changed) {
          m.fields.erase(p);
        }
      }
    }
    Manager& mine = EntryFor(managers, options, "Update", subresource);
    mine.fields.insert(changed.begin(), changed.end());
  }
  Prune(managers, subresource, after);
  SetManagedFields(updated, EncodeManagers(managers));
  return updated;
}

std::string ConflictMessage(const std::vector<FieldManagerConflict>& conflicts) {
  std::string message = "Apply failed with " + std::to_string(conflicts.size()) +
                        (conflicts.size() == 1 ? " conflict:" : " conflicts:");
  for (const FieldManagerConflict& c : conflicts) {
    message += (conflicts.size() == 1 ? " " : "\n- ") + std::string("conflict with \"") +
               c.manager + "\" using " + c.api_version + ": " + c.field;
  }
  return message;
}

}  // namespace lifeboat::apiserver
