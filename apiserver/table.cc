#include "apiserver/table.h"

#include <algorithm>
#include <cctype>

namespace lifeboat::apiserver {
namespace {

Json Cell(const PrinterColumn& column, const Json& object, Clock::TimePoint now) {
  std::vector<const Json*> results = column.path->Evaluate(object);
  if (column.count) {
    return results.empty() || !(results[0]->is_object() || results[0]->is_array())
               ? Json(0)
               : Json(results[0]->size());
  }
  if (results.empty()) {
    return nullptr;
  }
  if (column.object_ref) {
    const Json& ref = *results[0];
    std::string kind = ref.is_object() ? ref.value("kind", "") : "";
    std::transform(kind.begin(), kind.end(), kind.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string name = ref.is_object() ? ref.value("name", "") : "";
    return kind.empty() ? name : kind + "/" + name;
  }
  const Json& value = *results[0];
  if (column.type == "date" && value.is_string()) {
    Clock::TimePoint t;
    if (ParseRfc3339(value.get<std::string>(), &t)) {
      return HumanDuration(now - t);
    }
    return value;
  }
  if (column.type == "integer" && value.is_number()) {
    return value.get<int64_t>();
  }
  if (column.type == "number" && value.is_number()) {
    return value.get<double>();
  }
  if (column.type == "boolean" && value.is_boolean()) {
    return value;
  }
  if (value.is_string()) {
    return value;
  }
  if (value.is_primitive()) {
    return value.dump();
  }
  // Several results or a structured value print as kubectl's jsonpath does: space-separated.
  std::string joined;
  for (const Json* r : results) {
    joined += (joined.empty() ? "" : " ") + (r->is_string() ? r->get<std::string>() : r->dump());
  }
  return joined;
}

}  // namespace

IncludeObject ParseIncludeObject(const std::string& text) {
  if (text == "None") {
    return IncludeObject::kNone;
  }
  if (text == "Object") {
    return IncludeObject::kObject;
  }
  return IncludeObject::kMetadata;
}

std::string HumanDuration(Clock::Duration d) {
  using std::chrono::duration_cast;
  int64_t s = duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) {
    s = 0;
  }
  auto str = [](int64_t v) { return std::to_string(v); };
  if (s < 60 * 2) {
    return str(s) + "s";
  }
  int64_t m = s / 60;
  if (m < 10) {
    return s % 60 == 0 ? str(m) + "m" : str(m) + "m" + str(s % 60) + "s";
  }
  if (m < 60 * 3) {
    return str(m) + "m";
  }
  int64_t h = s / 3600;
  if (h < 8) {
    return m % 60 == 0 ? str(h) + "h" : str(h) + "h" + str(m % 60) + "m";
  }
  if (h < 48) {
    return str(h) + "h";
  }
  if (h < 24 * 8) {
    return h % 24 == 0 ? str(h / 24) + "d" : str(h / 24) + "d" + str(h % 24) + "h";
  }
  if (h < 24 * 365 * 2) {
    return str(h / 24) + "d";
  }
  return str(h / 24 / 365) + "y";
}

Json TableColumnDefinitions(const Resource& resource) {
  Json defs = Json::array();
  defs.push_back({{"name", "Name"},
                  {"type", "string"},
                  {"format", "name"},
                  {"description", "Name must be unique within a namespace."},
                  {"priority", 0}});
  for (const PrinterColumn& c : resource.columns) {
    defs.push_back({{"name", c.name},
                    {"type", c.type == "date" ? "string" : c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  return defs;
}

Json TableRow(const Resource& resource, const Json& object, IncludeObject include,
              Clock::TimePoint now) {
  Json cells = Json::array();
  const Json metadata = object.value("metadata", Json::object());
  cells.push_back(metadata.value("name", ""));
  for (const PrinterColumn& c : resource.columns) {
    cells.push_back(Cell(c, object, now));
  }
  Json row = {{"cells", cells}};
  if (include == IncludeObject::kObject) {
    row["object"] = object;
  } else if (include == IncludeObject::kMetadata) {
    row["object"] = {{"kind", "PartialObjectMetadata"},
                     {"apiVersion", "meta.k8s.io/v1"},
                     {"metadata", metadata}};
  }
  return row;
}

Json MakeTable(const Resource& resource, Json rows, const std::string& resource_version,
               const std::string& continue_token) {
  Json meta = {{"resourceVersion", resource_version}};
  if (!continue_token.empty()) {
    meta["continue"] = continue_token;
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", meta},
          {"columnDefinitions", TableColumnDefinitions(resource)},
          {"rows", std::move(rows)}};
}

}  // namespace lifeboat::apiserver
