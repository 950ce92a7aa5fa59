#include "apiserver/handler.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "api/manifest.h"
#include "api/yaml.h"
#include "apiserver/apply.h"
#include "apiserver/discovery.h"
#include "apiserver/patch.h"
#include "apiserver/protobuf.h"
#include "apiserver/selector.h"
#include "apiserver/table.h"
#include "spdlog/spdlog.h"

namespace lifeboat::apiserver {

// Set by the RecoveryPoint reconciler on points of an immutable vault (the lock's expiry).
constexpr char kImmutableUntilAnnotation[] = "lifeboat.dev/immutable-until";

namespace {

constexpr int kMaxConflictRetries = 8;
constexpr char kForegroundFinalizer[] = "foregroundDeletion";
constexpr int kMaxPatchRetries = 64;
constexpr const char* kUnknownFieldMessage = "field not declared in schema";
const std::vector<std::string> kDefaultNamespaces = {"default", "kube-system", "kube-public"};

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> segments;
  std::string current;
  for (char c : path) {
    if (c == '/') {
      if (!current.empty()) {
        segments.push_back(current);
      }
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) {
    segments.push_back(current);
  }
  return segments;
}

std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    std::random_device rd;
    for (char& c : bytes) {
      c = static_cast<char>(rd());
    }
  }
  return bytes;
}

std::string NewUid() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += kHex[(static_cast<unsigned char>(b[i]) >> 4) & 0xf];
    out += kHex[static_cast<unsigned char>(b[i]) & 0xf];
  }
  return out;
}

std::string GenerateNameSuffix() {
  static const std::string kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string b = RandomBytes(5);
  std::string out;
  for (char c : b) {
    out += kAlphabet[static_cast<unsigned char>(c) % kAlphabet.size()];
  }
  return out;
}

std::string Base64Encode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(const std::string& in) {
  if (in.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out(in.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) {
    return std::nullopt;
  }
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') {
    pad = (in.size() >= 2 && in[in.size() - 2] == '=') ? 2 : 1;
  }
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '-';
  });
}

bool IsDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!IsDnsLabel(part)) {
      return false;
    }
    if (dot == std::string::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool WantsTable(const std::string& accept) { return accept.find("as=Table") != std::string::npos; }

std::string Query(const HttpRequest& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? "" : it->second;
}

bool QueryBool(const HttpRequest& req, const std::string& key) {
  std::string v = Query(req, key);
  return v == "true" || v == "1";
}

HttpResponse JsonResponse(int code, const Json& body) {
  HttpResponse r;
  r.status = code;
  r.body = body.dump();
  return r;
}

HttpResponse RawJsonResponse(int code, std::string body) {
  HttpResponse r;
  r.status = code;
  r.body = std::move(body);
  return r;
}

// Reads a body that must be a JSON object (or a protobuf-encoded core object).
StatusOr<Json> ParseObject(const std::string& body, const std::string& content_type = "") {
  if (content_type.rfind(kProtobufContentType, 0) == 0) {
    return DecodeKubernetesProtobuf(body);
  }
  Json object = Json::parse(body, nullptr, false);
  if (object.is_discarded()) {
    return InvalidArgumentError("the request body is not valid JSON");
  }
  if (!object.is_object()) {
    return InvalidArgumentError("the request body must be a JSON object");
  }
  return object;
}

Json& Metadata(Json& object) {
  Json& meta = object["metadata"];
  if (!meta.is_object()) {
    meta = Json::object();
  }
  return meta;
}

Json MetadataOf(const Json& object) {
  auto it = object.find("metadata");
  return (it != object.end() && it->is_object()) ? *it : Json::object();
}

int64_t ParseRv(const std::string& text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(c) != 0; })) {
    return -1;
  }
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return -1;
  }
}

// Everything but metadata and status: what bumps metadata.generation.
Json SpecPart(const Json& object) {
  Json copy = object;
  copy.erase("metadata");
  copy.erase("status");
  return copy;
}

std::string JoinErrors(const api::FieldErrors& errors) {
  if (errors.size() == 1) {
    return errors[0].ToString();
  }
  std::string out = "[";
  for (size_t i = 0; i < errors.size(); ++i) {
    out += (i ? ", " : "") + errors[i].ToString();
  }
  return out + "]";
}

HttpResponse InvalidResponse(const Resource& resource, const std::string& name,
                             const api::FieldErrors& errors) {
  Json causes = Json::array();
  for (const api::FieldError& e : errors) {
    std::string reason = "FieldValueInvalid";
    if (e.message.rfind("Required value", 0) == 0) {
      reason = "FieldValueRequired";
    } else if (e.message.rfind("Unsupported value", 0) == 0) {
      reason = "FieldValueNotSupported";
    } else if (e.message == kUnknownFieldMessage) {
      reason = "FieldValueInvalid";
    }
    causes.push_back({{"reason", reason}, {"message", e.message}, {"field", e.path}});
  }
  return StatusResponse(
      422, "Invalid", resource.GroupKind() + " \"" + name + "\" is invalid: " + JoinErrors(errors),
      {{"name", name}, {"group", resource.group}, {"kind", resource.kind}, {"causes", causes}});
}

Json Details(const Resource& resource, const std::string& name) {
  return {{"name", name}, {"group", resource.group}, {"kind", resource.plural}};
}

HttpResponse NotFound(const Resource& resource, const std::string& name) {
  return StatusResponse(404, "NotFound", resource.GroupResource() + " \"" + name + "\" not found",
                        Details(resource, name));
}

HttpResponse Conflict(const Resource& resource, const std::string& name) {
  return StatusResponse(409, "Conflict",
                        "Operation cannot be fulfilled on " + resource.GroupResource() + " \"" +
                            name +
                            "\": the object has been modified; please apply your changes to the "
                            "latest version and try again",
                        Details(resource, name));
}

HttpResponse FromStatus(const Status& s, const Resource& resource, const std::string& name) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return NotFound(resource, name);
    case StatusCode::kAborted:
      return Conflict(resource, name);
    case StatusCode::kAlreadyExists:
      return StatusResponse(409, "AlreadyExists",
                            resource.GroupResource() + " \"" + name + "\" already exists",
                            Details(resource, name));
    case StatusCode::kInvalidArgument:
      return StatusResponse(400, "BadRequest", s.message());
    case StatusCode::kFailedPrecondition:
    case StatusCode::kPermissionDenied:
      return StatusResponse(403, "Forbidden", s.message(), Details(resource, name));
    case StatusCode::kOutOfRange:
      return StatusResponse(410, "Expired", s.message());
    default:
      return StatusResponse(500, "InternalError", s.message());
  }
}

std::string WatchLine(const char* type, const std::string& object_json) {
  std::string line;
  line.reserve(object_json.size() + 32);
  line += "{\"type\":\"";
  line += type;
  line += "\",\"object\":";
  line += object_json;
  line += "}\n";
  return line;
}

void AddWarnings(HttpResponse& r, const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) {
    std::string escaped;
    for (char c : w) {
      if (c == '"' || c == '\\') {
        escaped += '\\';
      }
      escaped += c;
    }
    r.headers.emplace_back("Warning", "299 - \"" + escaped + "\"");
  }
}

constexpr char kCrdStoreKey[] = "apiextensions.k8s.io/customresourcedefinitions";

// Where the custom resources of a CRD object are stored ("lifeboat.dev/vaults").
std::string CrdInstancesKey(const Json& crd) {
  const Json spec = crd.value("spec", Json::object());
  if (!spec.is_object()) {
    return "";
  }
  Json names = spec.value("names", Json::object());
  std::string plural = names.is_object() ? names.value("plural", "") : "";
  std::string group = spec.value("group", "");
  return plural.empty() ? "" : group + "/" + plural;
}

// Before attempt N > 0 of a write that lost a race. Under contention a writer can lose several
// races in a row, and a read sees only committed writes while a group commit is still on its way
// to disk: back off (1, 2, 4 … 32 ms) so the retry reads the version it lost to. The caller's
// bound on attempts only guards against a livelock.
void BackOffBeforeRetry(int attempt) {
  if (attempt > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt - 1, 5)));
  }
}

// Whether a stored object passes a field selector (parsing it only for fields beyond its name).
bool FieldsMatch(const FieldSelector& fields, const ObjectKey& key, const StoredObject& stored) {
  if (!fields.NeedsObject()) {
    return fields.Matches(key.ns, key.name);
  }
  Json object = Json::parse(*stored.json, nullptr, false);
  return fields.Matches(key.ns, key.name, &object);
}

// The field manager of a write: ?fieldManager=, else the User-Agent's product ("kubectl" of
// "kubectl/v1.32.0 (linux/amd64)"), as Kubernetes derives it.
std::string FieldManagerOf(const HttpRequest& req) {
  std::string manager = Query(req, "fieldManager");
  if (manager.empty()) {
    manager = req.user_agent.substr(0, req.user_agent.find('/'));
  }
  return manager.empty() ? "unknown" : manager;
}

FieldManagerOptions FieldsOptions(const Resource& r, const std::string& manager, bool to_status,
                                  Clock::TimePoint now) {
  FieldManagerOptions o;
  o.manager = manager;
  o.api_version = r.GroupVersion();
  o.now = FormatRfc3339(now);
  o.status_subresource = r.status_subresource && r.custom;
  o.to_status = to_status;
  return o;
}

}  // namespace

HttpResponse StatusResponse(int code, const std::string& reason, const std::string& message,
                            Json details) {
  Json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason},
               {"code", code}};
  if (!details.empty()) {
    body["details"] = std::move(details);
  }
  return JsonResponse(code, body);
}

struct Handler::Route {
  std::shared_ptr<const Resource> resource;
  std::string ns;
  std::string name;
  std::string subresource;
  // The request's verb as kube-apiserver names it in its metrics (set as it is dispatched).
  std::string_view verb;
};

struct Handler::ActiveWatch {
  uint64_t store_id = 0;
  std::shared_ptr<StreamWriter> writer;
  std::shared_ptr<const Resource> resource;
  Clock::TimePoint deadline;
  Clock::TimePoint next_bookmark;
  bool bookmarks = false;
  std::atomic<bool> failed{false};
  bool registered = false;
};

Handler::Handler(Store& store, const Clock& clock, HandlerOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Handler::~Handler() { Stop(); }

Status Handler::Start(const std::filesystem::path& crd_dir) {
  auto crd_resource = registry_.Find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  for (const auto& [key, stored] : store_.List(crd_resource->StoreKey(), "").items) {
    Json crd = Json::parse(*stored.json);
    CrdResources served = ResourcesFromCrd(crd);
    if (!served.errors.empty()) {
      spdlog::warn("Skipped stored CustomResourceDefinition name={} error={}", key.name,
                   JoinErrors(served.errors));
      continue;
    }
    registry_.SetCrd(key.name, std::move(served.resources));
  }
  auto ns_resource = registry_.Find("", "v1", "namespaces");
  for (const std::string& ns : kDefaultNamespaces) {
    if (store_.Get(ObjectKey{ns_resource->StoreKey(), "", ns}).ok()) {
      continue;
    }
    api::FieldErrors errors;
    auto created = CreateObject(
        *ns_resource, "",
        Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}},
        WriteOptions{}, &errors);
    if (!created.ok() && !IsAlreadyExists(created.status())) {
      return created.status().WithPrefix("creating namespace " + ns);
    }
  }
  if (!crd_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(crd_dir, ec)) {
      return NotFoundError("CRD directory " + crd_dir.string() + " does not exist");
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(crd_dir)) {
      std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      RETURN_IF_ERROR(ApplyCrdFile(file));
    }
  }
  // Objects in namespaces that were terminating when the server stopped.
  for (const auto& [key, stored] : store_.List(ns_resource->StoreKey(), "").items) {
    if (stored.json->find("\"deletionTimestamp\"") != std::string::npos) {
      terminating_namespaces_.insert(key.name);
    }
  }
  for (const auto& [key, stored] : store_.List(kCrdStoreKey, "").items) {
    if (stored.json->find("\"deletionTimestamp\"") != std::string::npos) {
      terminating_crds_.insert(key.name);
    }
  }
  auto gc = store_.Watch("", store_.revision(), [this](const Event& e) { OnStoreEvent(e); });
  if (!gc.ok()) {
    return gc.status();
  }
  gc_watch_ = *gc;
  // Owners whose foreground deletion was under way when the server stopped.
  for (const ObjectKey& key : store_.FindMentioning(std::string("\"") + kForegroundFinalizer)) {
    auto stored = store_.Get(key);
    if (!stored.ok()) continue;
    Json meta = MetadataOf(Json::parse(*stored->json, nullptr, false));
    Json finalizers = meta.value("finalizers", Json::array());
    if (meta.contains("deletionTimestamp") && finalizers.is_array() &&
        std::find(finalizers.begin(), finalizers.end(), kForegroundFinalizer) != finalizers.end()) {
      std::lock_guard<std::mutex> lock(mu_);
      foreground_owners_[meta.value("uid", "")] = key;
      wake_ = true;
    }
  }
  background_ = std::thread([this] { BackgroundLoop(); });
  return OkStatus();
}

void Handler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (background_.joinable()) {
    background_.join();
  }
  if (gc_watch_ != 0) {
    store_.Unwatch(gc_watch_);
  }
  std::vector<std::shared_ptr<ActiveWatch>> watches;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watches.swap(watches_);
  }
  for (auto& w : watches) {
    store_.Unwatch(w->store_id);
    w->writer->Close();
  }
}

Status Handler::ApplyCrdFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    return NotFoundError("cannot read CRD file " + file.string());
  }
  std::stringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(std::vector<api::Document> parsed,
                   api::ParseManifests(text.str(), file.string()));
  std::vector<Json> docs;
  for (api::Document& d : parsed) {
    docs.push_back(std::move(d.object));
  }
  auto crd_resource = registry_.Find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  for (Json& doc : docs) {
    if (!doc.is_object() || doc.value("kind", "") != "CustomResourceDefinition") {
      spdlog::warn("Skipped document that is not a CustomResourceDefinition file={}",
                   file.string());
      continue;
    }
    std::string name = MetadataOf(doc).value("name", "");
    api::FieldErrors errors;
    ObjectKey key{crd_resource->StoreKey(), "", name};
    auto current = store_.Get(key);
    StatusOr<std::string> written = InternalError("unreachable");
    if (current.ok()) {
      Json existing = Json::parse(*current->json);
      written = CommitUpdate(*crd_resource, key, existing, doc, current->rv, false, WriteOptions{},
                             &errors);
    } else {
      written = CreateObject(*crd_resource, "", doc, WriteOptions{}, &errors);
    }
    if (!errors.empty()) {
      return InvalidArgumentError(file.string() + ": CustomResourceDefinition " + name +
                                  " is invalid: " + JoinErrors(errors));
    }
    if (!written.ok()) {
      return written.status().WithPrefix(file.string() + ": CustomResourceDefinition " + name);
    }
    spdlog::debug("Loaded CustomResourceDefinition name={} file={}", name, file.string());
  }
  return OkStatus();
}

HttpResponse Handler::Handle(const HttpRequest& req) {
  Route route;
  if (!options_.on_request) {
    return Dispatch(req, &route);
  }
  auto start = std::chrono::steady_clock::now();
  HttpResponse resp = Dispatch(req, &route);
  RequestRecord record;
  record.code = resp.status;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  record.verb = route.verb.empty() ? std::string_view(req.method) : route.verb;
  if (route.resource != nullptr) {
    record.group = route.resource->group;
    record.resource = route.resource->plural;
    record.subresource = route.subresource;
  }
  options_.on_request(record);
  return resp;
}

HttpResponse Handler::Dispatch(const HttpRequest& req, Route* out_route) {
  try {
    if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz") {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "ok";
      return r;
    }
    const std::string expected = "Bearer " + options_.bearer_token;
    if (req.authorization.size() != expected.size() ||
        CRYPTO_memcmp(req.authorization.data(), expected.data(), expected.size()) != 0) {
      return StatusResponse(401, "Unauthorized", "Unauthorized");
    }
    std::vector<std::string> segs = SplitPath(req.path);
    if (req.method != "GET" && (segs.empty() || (segs[0] != "api" && segs[0] != "apis"))) {
      return StatusResponse(405, "MethodNotAllowed",
                            "the server does not allow this method on the requested resource");
    }
    if (segs.empty()) {
      return JsonResponse(
          200,
          {{"paths",
            {"/api", "/api/v1", "/apis", "/openapi/v2", "/openapi/v3", "/version", "/healthz"}}});
    }
    if (segs[0] == "version" && segs.size() == 1) {
      return JsonResponse(200, VersionDocument());
    }
    if (segs[0] == "openapi") {
      if (segs.size() == 2 && segs[1] == "v2") {
        auto doc = OpenApiV2Encoded(registry_, req.accept);
        if (!doc.ok()) {
          return StatusResponse(500, "InternalError", doc.status().message());
        }
        HttpResponse r;
        r.content_type = doc->content_type;
        r.body = std::move(doc->body);
        return r;
      }
      if (segs.size() == 2 && segs[1] == "v3") {
        return JsonResponse(200, OpenApiV3RootDocument(registry_));
      }
      if (segs.size() > 2 && segs[1] == "v3") {
        std::string gv_path;
        for (size_t i = 2; i < segs.size(); ++i) {
          gv_path += (i > 2 ? "/" : "") + segs[i];
        }
        auto doc = OpenApiV3Document(registry_, gv_path);
        if (!doc.ok()) {
          return StatusResponse(404, "NotFound", doc.status().message());
        }
        return JsonResponse(200, *doc);
      }
    }
    std::string group;
    std::string version;
    size_t rest = 0;
    if (segs[0] == "api") {
      if (segs.size() == 1) {
        return JsonResponse(200, ApiVersionsDocument(options_.server_address));
      }
      version = segs[1];
      rest = 2;
    } else if (segs[0] == "apis") {
      if (segs.size() == 1) {
        return JsonResponse(200, ApiGroupListDocument(registry_));
      }
      if (segs.size() == 2) {
        auto doc = ApiGroupDocument(registry_, segs[1]);
        return doc.ok() ? JsonResponse(200, *doc)
                        : StatusResponse(404, "NotFound", doc.status().message());
      }
      group = segs[1];
      version = segs[2];
      rest = 3;
    } else {
      return StatusResponse(404, "NotFound", "the server could not find the requested resource");
    }
    if (segs.size() == rest) {
      auto doc = ApiResourceListDocument(registry_, group, version);
      return doc.ok() ? JsonResponse(200, *doc)
                      : StatusResponse(404, "NotFound", doc.status().message());
    }
    std::vector<std::string> parts(segs.begin() + static_cast<long>(rest), segs.end());
    Route& route = *out_route;
    if (parts.size() >= 3 && parts[0] == "namespaces") {
      auto r = registry_.Find(group, version, parts[2]);
      if (r && r->namespaced) {
        route.ns = parts[1];
        parts.erase(parts.begin(), parts.begin() + 2);
      }
    }
    route.resource = registry_.Find(group, version, parts[0]);
    if (!route.resource || parts.size() > 3 ||
        (route.resource->namespaced == false && !route.ns.empty())) {
      return StatusResponse(404, "NotFound", "the server could not find the requested resource");
    }
    if (parts.size() >= 2) {
      route.name = parts[1];
    }
    if (parts.size() == 3) {
      route.subresource = parts[2];
      if (route.subresource != "status" || !route.resource->status_subresource) {
        return StatusResponse(404, "NotFound", "the server could not find the requested resource");
      }
    }
    return HandleResource(req, route);
  } catch (const std::exception& e) {
    spdlog::error("Failed request method={} path={} error={}", req.method, req.path, e.what());
    return StatusResponse(500, "InternalError", std::string("internal error: ") + e.what());
  }
}

HttpResponse Handler::HandleResource(const HttpRequest& req, Route& route) {
  const std::string& m = req.method;
  if (route.name.empty()) {
    if (m == "GET") {
      const bool watch = QueryBool(req, "watch");
      route.verb = watch ? "WATCH" : "LIST";
      return watch ? Watch(req, route) : List(req, route);
    }
    if (m == "POST") {
      route.verb = "POST";
      return Create(req, route);
    }
    if (m == "DELETE") {
      route.verb = "DELETECOLLECTION";
      return DeleteCollection(req, route);
    }
  } else {
    if (m == "GET") {
      route.verb = "GET";
      return Get(req, route);
    }
    if (m == "PUT") {
      route.verb = "PUT";
      return Update(req, route);
    }
    if (m == "PATCH") {
      route.verb = "PATCH";  // "APPLY" once Patch sees a server-side apply
      return Patch(req, route);
    }
    if (m == "DELETE" && route.subresource.empty()) {
      route.verb = "DELETE";
      return Delete(req, route);
    }
  }
  return StatusResponse(405, "MethodNotAllowed",
                        "the server does not allow this method on the requested resource");
}

HttpResponse Handler::Get(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  auto stored = store_.Get(ObjectKey{r.StoreKey(), route.ns, route.name});
  if (!stored.ok()) {
    return NotFound(r, route.name);
  }
  if (WantsTable(req.accept)) {
    Json row = TableRow(r, Json::parse(*stored->json),
                        ParseIncludeObject(Query(req, "includeObject")), clock_.Now());
    return JsonResponse(200, MakeTable(r, Json::array({row}), std::to_string(stored->rv), ""));
  }
  return RawJsonResponse(200, *stored->json);
}

HttpResponse Handler::List(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  auto labels = LabelSelector::Parse(Query(req, "labelSelector"));
  if (!labels.ok()) {
    return StatusResponse(400, "BadRequest", labels.status().message());
  }
  auto fields = FieldSelector::Parse(Query(req, "fieldSelector"), r.selectable_fields);
  if (!fields.ok()) {
    return StatusResponse(400, "BadRequest", fields.status().message());
  }
  int64_t limit = 0;
  if (std::string l = Query(req, "limit"); !l.empty()) {
    limit = ParseRv(l);
    if (limit < 0) {
      return StatusResponse(400, "BadRequest", "limit must be a non-negative integer");
    }
  }
  std::string after;
  int64_t at_rv = 0;  // a later page lists the state of the first one
  std::string token = Query(req, "continue");
  if (!token.empty()) {
    auto decoded = Base64Decode(token);
    Json parsed = decoded ? Json::parse(*decoded, nullptr, false) : Json();
    if (!parsed.is_object() || !parsed.contains("start") || !parsed["start"].is_string() ||
        (parsed.contains("rv") && !parsed["rv"].is_number_integer())) {
      return StatusResponse(400, "BadRequest", "invalid continue token");
    }
    after = parsed["start"].get<std::string>();
    at_rv = parsed.value("rv", int64_t{0});
  } else if (Query(req, "resourceVersionMatch") == "Exact") {
    at_rv = ParseRv(Query(req, "resourceVersion"));
    if (at_rv <= 0) {
      return StatusResponse(400, "BadRequest",
                            "resourceVersionMatch: Forbidden: resourceVersionMatch \"Exact\" is "
                            "forbidden for resourceVersion \"" +
                                Query(req, "resourceVersion") + "\"");
    }
  }
  auto listed = store_.ListAt(r.StoreKey(), route.ns, after, at_rv);
  if (!listed.ok() && listed.status().code() == StatusCode::kOutOfRange && !token.empty()) {
    // As kube-apiserver: the consistent continuation is gone; the client may start again or go
    // on inconsistently with the token in this reply.
    Json status = {
        {"kind", "Status"},
        {"apiVersion", "v1"},
        {"metadata", {{"continue", Base64Encode(Json{{"start", after}, {"rv", 0}}.dump())}}},
        {"status", "Failure"},
        {"message",
         "The provided continue parameter is too old to display a consistent list "
         "result. You can start a new list without the continue parameter, or use the "
         "continue token in this response to retrieve the remainder of the results. "
         "Continuing with the provided token results in an inconsistent list - objects "
         "that were created, modified, or deleted between the time the first chunk was "
         "returned and now may show up in the list."},
        {"reason", "Expired"},
        {"code", 410}};
    return JsonResponse(410, status);
  }
  if (!listed.ok() && listed.status().code() == StatusCode::kInvalidArgument) {
    Json status = {
        {"kind", "Status"},
        {"apiVersion", "v1"},
        {"metadata", Json::object()},
        {"status", "Failure"},
        {"message", "Timeout: Too large resource version: " + Query(req, "resourceVersion") +
                        ", current: " + std::to_string(store_.revision())},
        {"reason", "Timeout"},
        {"details",
         {{"causes",
           {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
          {"retryAfterSeconds", 1}}},
        {"code", 504}};
    return JsonResponse(504, status);
  }
  if (!listed.ok()) {
    return FromStatus(listed.status(), r, "");
  }
  Store::ListResult list = std::move(listed).value();
  bool table = WantsTable(req.accept);
  IncludeObject include = ParseIncludeObject(Query(req, "includeObject"));
  auto now = clock_.Now();
  Json rows = Json::array();
  std::vector<const StoredObject*> selected;
  size_t items_bytes = 0;
  int64_t count = 0;
  std::string continue_token;
  for (size_t i = 0; i < list.items.size(); ++i) {
    const auto& [key, stored] = list.items[i];
    if (!FieldsMatch(*fields, key, stored) || !labels->Matches(*stored.labels)) {
      continue;
    }
    if (limit > 0 && count == limit) {
      const auto& prev = list.items[i - 1].first;
      continue_token =
          Base64Encode(Json{{"start", prev.ns + "/" + prev.name}, {"rv", list.revision}}.dump());
      break;
    }
    ++count;
    if (table) {
      rows.push_back(TableRow(r, Json::parse(*stored.json), include, now));
    } else {
      selected.push_back(&stored);
      items_bytes += stored.json->size() + 1;
    }
  }
  std::string rv = std::to_string(list.revision);
  if (table) {
    return JsonResponse(200, MakeTable(r, std::move(rows), rv, continue_token));
  }
  Json meta = {{"resourceVersion", rv}};
  if (!continue_token.empty()) {
    meta["continue"] = continue_token;
  }
  // One buffer of the exact size: a list of 10,000 objects is ~8 MiB, and growing it by
  // appending (then copying it into the envelope) held ~3 times that at once.
  std::string head = "{\"apiVersion\":" + Json(r.GroupVersion()).dump() +
                     ",\"kind\":" + Json(r.kind + "List").dump() + ",\"metadata\":" + meta.dump() +
                     ",\"items\":[";
  std::string body;
  body.reserve(head.size() + items_bytes + 2);
  body += head;
  for (size_t i = 0; i < selected.size(); ++i) {
    if (i > 0) {
      body += ',';
    }
    body += *selected[i]->json;
  }
  body += "]}";
  return RawJsonResponse(200, std::move(body));
}

HttpResponse Handler::Watch(const HttpRequest& req, const Route& route) {
  auto resource = route.resource;
  auto labels = LabelSelector::Parse(Query(req, "labelSelector"));
  if (!labels.ok()) {
    return StatusResponse(400, "BadRequest", labels.status().message());
  }
  auto fields = FieldSelector::Parse(Query(req, "fieldSelector"), resource->selectable_fields);
  if (!fields.ok()) {
    return StatusResponse(400, "BadRequest", fields.status().message());
  }
  std::string rv_text = Query(req, "resourceVersion");
  int64_t from_rv = rv_text.empty() ? 0 : ParseRv(rv_text);
  if (from_rv < 0) {
    return StatusResponse(400, "BadRequest", "invalid resourceVersion \"" + rv_text + "\"");
  }
  auto timeout = options_.max_watch;
  if (std::string t = Query(req, "timeoutSeconds"); !t.empty()) {
    int64_t seconds = ParseRv(t);
    if (seconds < 0) {
      return StatusResponse(400, "BadRequest", "invalid timeoutSeconds \"" + t + "\"");
    }
    timeout = std::min(timeout, std::chrono::seconds(seconds));
  }
  auto watch = std::make_shared<ActiveWatch>();
  watch->resource = resource;
  watch->bookmarks = QueryBool(req, "allowWatchBookmarks");
  auto now = clock_.Now();
  watch->deadline = now + timeout;
  watch->next_bookmark = now + options_.bookmark_interval;
  bool table = WantsTable(req.accept);
  IncludeObject include = ParseIncludeObject(Query(req, "includeObject"));
  std::string ns = route.ns;
  HttpResponse response;
  response.stream = [this, watch, table, include, ns, labels = *labels, fields = *fields,
                     from_rv](std::shared_ptr<StreamWriter> writer) {
    watch->writer = std::move(writer);
    auto first_table = std::make_shared<bool>(true);
    auto sink = [this, watch, table, include, ns, labels, fields, first_table](const Event& e) {
      if (watch->failed.load()) {
        return;
      }
      if ((!ns.empty() && e.key.ns != ns) || !FieldsMatch(fields, e.key, e.object) ||
          !labels.Matches(*e.object.labels)) {
        return;
      }
      if (table) {
        Json t = MakeTable(*watch->resource,
                           Json::array({TableRow(*watch->resource, Json::parse(*e.object.json),
                                                 include, clock_.Now())}),
                           std::to_string(e.object.rv), "");
        if (!*first_table) {
          t["columnDefinitions"] = Json::array();
        }
        *first_table = false;
        if (!watch->writer->Write(WatchLine(EventTypeName(e.type), t.dump()))) {
          watch->failed = true;
        }
      } else if (!watch->writer->Write(*WatchLineOf(e))) {
        watch->failed = true;
      }
    };
    auto id = store_.Watch(watch->resource->StoreKey(), from_rv, sink);
    if (!id.ok()) {
      Json status = {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"metadata", Json::object()},
                     {"status", "Failure"},
                     {"message", id.status().message()},
                     {"reason", "Expired"},
                     {"code", 410}};
      watch->writer->Write(WatchLine("ERROR", status.dump()));
      watch->writer->Close();
      return;
    }
    watch->store_id = *id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        watches_.push_back(watch);
        return;
      }
    }
    store_.Unwatch(watch->store_id);
    watch->writer->Close();
  };
  return response;
}

size_t Handler::active_watches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watches_.size();
}

std::shared_ptr<const std::string> Handler::WatchLineOf(const Event& event) {
  std::lock_guard<std::mutex> lock(watch_line_.mu);
  if (watch_line_.object_json != event.object.json || watch_line_.type != event.type) {
    watch_line_.line = std::make_shared<const std::string>(
        WatchLine(EventTypeName(event.type), *event.object.json));
    watch_line_.object_json = event.object.json;
    watch_line_.type = event.type;
  }
  return watch_line_.line;
}

api::FieldErrors Handler::Admit(const Resource& resource, Json& object, const WriteOptions& options,
                                std::string* strict_error) {
  api::FieldErrors errors;
  Json& meta = Metadata(object);
  std::string name = meta.value("name", "");
  if (resource.kind == "Namespace" ? !IsDnsLabel(name) : !IsDnsSubdomain(name)) {
    errors.push_back({"metadata.name",
                      "Invalid value: \"" + name + "\": a lowercase RFC 1123 " +
                          (resource.kind == "Namespace" ? "label" : "subdomain") +
                          " must consist of lower case alphanumeric characters, '-' or '.', and "
                          "must start and end with an alphanumeric character"});
  }
  for (const char* field : {"labels", "annotations"}) {
    auto it = meta.find(field);
    if (it == meta.end() || it->is_null()) {
      continue;
    }
    if (!it->is_object()) {
      errors.push_back({std::string("metadata.") + field, "Invalid value: must be a map"});
      continue;
    }
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      if (!kv.value().is_string()) {
        errors.push_back(
            {std::string("metadata.") + field + "." + kv.key(), "Invalid value: must be a string"});
      }
    }
  }
  if (!errors.empty()) {
    return errors;
  }
  api::FieldErrors first_pass =
      resource.schema ? resource.schema->Validate(object) : api::FieldErrors{};
  if (resource.schema && first_pass.empty()) {
    // Defaults were validated against the schema when it was compiled, so filling them in
    // cannot make a valid object invalid.
    resource.schema->ApplyDefaults(object);
  } else if (resource.schema) {
    api::FieldErrors unknown;
    for (api::FieldError& e : first_pass) {
      if (e.message == kUnknownFieldMessage) {
        unknown.push_back(std::move(e));
      }
    }
    if (!unknown.empty()) {
      if (options.field_validation == "Strict") {
        std::string msg = resource.kind + " in version \"" + resource.version +
                          "\" cannot be handled as a " + resource.kind +
                          ": strict decoding error: ";
        for (size_t i = 0; i < unknown.size(); ++i) {
          msg += (i ? ", " : "") + std::string("unknown field \"") + unknown[i].path + "\"";
        }
        *strict_error = msg;
        return errors;
      }
      if (options.field_validation == "Warn" && options.warnings) {
        for (const auto& e : unknown) {
          options.warnings->push_back("unknown field \"" + e.path + "\"");
        }
      }
      resource.schema->Prune(object);
    }
    resource.schema->ApplyDefaults(object);
    errors = resource.schema->Validate(object);
  }
  if (resource.kind == "CustomResourceDefinition") {
    CrdResources crd = ResourcesFromCrd(object);
    errors.insert(errors.end(), crd.errors.begin(), crd.errors.end());
  }
  return errors;
}

void Handler::AfterWrite(const Resource& resource, const Json& object, bool deleted) {
  if (resource.kind != "CustomResourceDefinition" || resource.group != "apiextensions.k8s.io") {
    return;
  }
  std::string name = MetadataOf(object).value("name", "");
  if (deleted) {
    registry_.RemoveCrd(name);
    return;
  }
  CrdResources crd = ResourcesFromCrd(object);
  if (crd.errors.empty()) {
    registry_.SetCrd(name, std::move(crd.resources));
  }
}

namespace {

// Server-side fields of a few built-in kinds.
void NormaliseBuiltin(const Resource& resource, Json& object) {
  if (resource.kind == "Secret" && resource.group.empty()) {
    auto sd = object.find("stringData");
    if (sd != object.end()) {
      if (sd->is_object()) {
        Json& data = object["data"];
        if (!data.is_object()) {
          data = Json::object();
        }
        for (auto it = sd->begin(); it != sd->end(); ++it) {
          if (it.value().is_string()) {
            data[it.key()] = Base64Encode(it.value().get<std::string>());
          }
        }
      }
      object.erase("stringData");
    }
    if (!object.contains("type")) {
      object["type"] = "Opaque";
    }
  } else if (resource.kind == "Namespace" && resource.group.empty()) {
    Json& status = object["status"];
    if (!status.is_object()) {
      status = Json::object();
    }
    status["phase"] = MetadataOf(object).contains("deletionTimestamp") ? "Terminating" : "Active";
  } else if (resource.kind == "CustomResourceDefinition") {
    Json spec = object.value("spec", Json::object());
    Json status = {{"acceptedNames", spec.value("names", Json::object())},
                   {"storedVersions", Json::array()},
                   {"conditions",
                    {{{"type", "NamesAccepted"},
                      {"status", "True"},
                      {"reason", "NoConflicts"},
                      {"message", "no conflicts found"}},
                     {{"type", "Established"},
                      {"status", "True"},
                      {"reason", "InitialNamesAccepted"},
                      {"message", "the initial names have been accepted"}}}}};
    for (const Json& v : spec.value("versions", Json::array())) {
      if (v.is_object() && v.value("storage", false)) {
        status["storedVersions"].push_back(v.value("name", ""));
      }
    }
    object["status"] = status;
  }
}

}  // namespace

StatusOr<std::string> Handler::CreateObject(const Resource& r, const std::string& ns, Json object,
                                            const WriteOptions& options, api::FieldErrors* errors) {
  if (r.custom) {
    std::lock_guard<std::mutex> lock(mu_);
    if (terminating_crds_.count(r.crd_name) != 0) {
      return FailedPreconditionError("create not allowed while custom resource definition " +
                                     r.crd_name + " is terminating");
    }
  }
  std::string api_version = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  if (!api_version.empty() && api_version != r.GroupVersion()) {
    return InvalidArgumentError("the API version in the data (" + api_version +
                                ") does not match the expected API version (" + r.GroupVersion() +
                                ")");
  }
  if (!kind.empty() && kind != r.kind) {
    return InvalidArgumentError("the kind in the data (" + kind +
                                ") does not match the expected kind (" + r.kind + ")");
  }
  object["apiVersion"] = r.GroupVersion();
  object["kind"] = r.kind;
  Json& meta = Metadata(object);
  if (r.namespaced) {
    std::string body_ns = meta.value("namespace", "");
    if (!body_ns.empty() && body_ns != ns) {
      return InvalidArgumentError(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    meta["namespace"] = ns;
    auto ns_key = ObjectKey{"/namespaces", "", ns};
    auto ns_obj = store_.Get(ns_key);
    if (!ns_obj.ok()) {
      return NotFoundError("namespaces \"" + ns + "\" not found");
    }
    if (ns_obj->json->find("\"deletionTimestamp\"") != std::string::npos) {
      return FailedPreconditionError("unable to create new content in namespace " + ns +
                                     " because it is being terminated");
    }
  } else {
    meta.erase("namespace");
  }
  std::string name = meta.value("name", "");
  if (name.empty()) {
    std::string prefix = meta.value("generateName", "");
    if (prefix.empty()) {
      errors->push_back({"metadata.name", "Required value: name or generateName is required"});
      return InvalidArgumentError("invalid");
    }
    name = prefix + GenerateNameSuffix();
    meta["name"] = name;
  }
  if (meta.contains("resourceVersion") && !meta["resourceVersion"].is_null() &&
      meta["resourceVersion"] != "") {
    return InvalidArgumentError("resourceVersion should not be set on objects to be created");
  }
  for (const char* field :
       {"deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}) {
    meta.erase(field);
  }
  if (options.managed_fields != nullptr) {
    meta["managedFields"] = *options.managed_fields;
  }
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = FormatRfc3339(clock_.Now());
  meta["generation"] = 1;
  if (r.status_subresource && r.custom) {
    object.erase("status");
  }
  NormaliseBuiltin(r, object);
  std::string strict_error;
  *errors = Admit(r, object, options, &strict_error);
  if (!strict_error.empty()) {
    return InvalidArgumentError(strict_error);
  }
  if (!errors->empty()) {
    return InvalidArgumentError("invalid");
  }
  if (options.dry_run) {
    return object.dump();
  }
  ObjectKey key{r.StoreKey(), r.namespaced ? ns : "", name};
  ASSIGN_OR_RETURN(StoredObject stored, store_.Create(key, std::move(object)));
  if (r.kind == "CustomResourceDefinition") {
    AfterWrite(r, Json::parse(*stored.json), false);
  }
  return *stored.json;
}

Handler::WriteOptions Handler::OptionsOf(const HttpRequest& req,
                                         std::vector<std::string>* warnings) {
  WriteOptions options;
  options.dry_run = Query(req, "dryRun") == "All";
  std::string fv = Query(req, "fieldValidation");
  options.field_validation = fv.empty() ? "Warn" : fv;
  options.warnings = warnings;
  options.field_manager = FieldManagerOf(req);
  return options;
}

HttpResponse Handler::Create(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  if (r.namespaced && route.ns.empty()) {
    return StatusResponse(404, "NotFound", "the server could not find the requested resource");
  }
  auto body = ParseObject(req.body, req.content_type);
  if (!body.ok()) {
    return StatusResponse(400, "BadRequest", body.status().message());
  }
  std::string name = MetadataOf(*body).value("name", "");
  std::vector<std::string> warnings;
  WriteOptions options = OptionsOf(req, &warnings);
  api::FieldErrors errors;
  auto created = CreateObject(r, route.ns, std::move(body).value(), options, &errors);
  if (!errors.empty()) {
    return InvalidResponse(r, name, errors);
  }
  if (!created.ok()) {
    if (IsNotFound(created.status())) {
      return StatusResponse(404, "NotFound", created.status().message(),
                            {{"name", route.ns}, {"kind", "namespaces"}});
    }
    return FromStatus(created.status(), r, name);
  }
  HttpResponse resp = RawJsonResponse(201, *created);
  AddWarnings(resp, warnings);
  return resp;
}

StatusOr<std::string> Handler::CommitUpdate(const Resource& r, const ObjectKey& key,
                                            const Json& current, Json updated, int64_t expected_rv,
                                            bool status_subresource, const WriteOptions& options,
                                            api::FieldErrors* errors) {
  std::string api_version = updated.value("apiVersion", "");
  if (!api_version.empty() && api_version != r.GroupVersion()) {
    return InvalidArgumentError("the API version in the data (" + api_version +
                                ") does not match the expected API version (" + r.GroupVersion() +
                                ")");
  }
  Json next;
  const Json old_meta = MetadataOf(current);
  if (status_subresource) {
    next = current;
    if (updated.contains("status")) {
      next["status"] = updated["status"];
    } else {
      next.erase("status");
    }
    // managedFields are the one piece of metadata a status write may change (server-side apply).
    auto new_meta = updated.find("metadata");
    if (new_meta != updated.end() && new_meta->is_object()) {
      auto managed = new_meta->find("managedFields");
      if (managed != new_meta->end() && *managed != old_meta.value("managedFields", Json())) {
        Metadata(next)["managedFields"] = *managed;
      }
    }
  } else {
    next = std::move(updated);
    next["apiVersion"] = r.GroupVersion();
    next["kind"] = r.kind;
    Json& meta = Metadata(next);
    std::string body_name = meta.value("name", "");
    if (!body_name.empty() && body_name != key.name) {
      return InvalidArgumentError("the name of the object (" + body_name +
                                  ") does not match the name on the URL (" + key.name + ")");
    }
    for (const char* field : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                              "deletionGracePeriodSeconds", "generation"}) {
      if (old_meta.contains(field)) {
        meta[field] = old_meta[field];
      } else {
        meta.erase(field);
      }
    }
    if (!meta.contains("managedFields") && old_meta.contains("managedFields")) {
      meta["managedFields"] = old_meta["managedFields"];  // an update without them keeps them
    }
    if (r.status_subresource && r.custom) {
      if (current.contains("status")) {
        next["status"] = current["status"];
      } else {
        next.erase("status");
      }
    }
    NormaliseBuiltin(r, next);
  }
  std::string strict_error;
  *errors = Admit(r, next, options, &strict_error);
  if (!strict_error.empty()) {
    return InvalidArgumentError(strict_error);
  }
  if (!errors->empty()) {
    return InvalidArgumentError("invalid");
  }
  // Field tracking only concerns objects with managedFields (server-side apply's): the others
  // skip it (TrackUpdate would leave them as they are).
  if (old_meta.contains("managedFields") || Metadata(next).contains("managedFields")) {
    auto tracked =
        TrackUpdate(current, std::move(next), &r.openapi_schema,
                    FieldsOptions(r, options.field_manager, status_subresource, clock_.Now()));
    if (!tracked.ok()) {
      return tracked.status();
    }
    next = std::move(tracked).value();
  }
  Json& meta = Metadata(next);
  if (SpecPart(next) != SpecPart(current)) {
    meta["generation"] = old_meta.value("generation", 1) + 1;
  }
  // A write that changes nothing keeps the resourceVersion (no event), as Kubernetes does.
  meta["resourceVersion"] = old_meta.value("resourceVersion", "");
  if (next == current) {
    return next.dump();
  }
  bool finalized = old_meta.contains("deletionTimestamp") &&
                   (!meta.contains("finalizers") || !meta["finalizers"].is_array() ||
                    meta["finalizers"].empty());
  if (options.dry_run) {
    return next.dump();
  }
  StoredObject stored;
  if (finalized) {
    ASSIGN_OR_RETURN(stored, store_.Delete(key, next, expected_rv));
  } else {
    ASSIGN_OR_RETURN(stored, store_.Update(key, next, expected_rv));
  }
  if (r.kind == "CustomResourceDefinition") {
    AfterWrite(r, Json::parse(*stored.json), finalized);
  }
  return *stored.json;
}

HttpResponse Handler::Update(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  auto body = ParseObject(req.body, req.content_type);
  if (!body.ok()) {
    return StatusResponse(400, "BadRequest", body.status().message());
  }
  ObjectKey key{r.StoreKey(), route.ns, route.name};
  auto stored = store_.Get(key);
  if (!stored.ok()) {
    return NotFound(r, route.name);
  }
  std::string rv_text = MetadataOf(*body).value("resourceVersion", "");
  int64_t expected = rv_text.empty() ? stored->rv : ParseRv(rv_text);
  if (expected < 0) {
    return StatusResponse(400, "BadRequest", "invalid resourceVersion \"" + rv_text + "\"");
  }
  if (expected != stored->rv) {
    return Conflict(r, route.name);
  }
  std::vector<std::string> warnings;
  WriteOptions options = OptionsOf(req, &warnings);
  api::FieldErrors errors;
  auto result = CommitUpdate(r, key, Json::parse(*stored->json), std::move(body).value(), expected,
                             route.subresource == "status", options, &errors);
  if (!errors.empty()) {
    return InvalidResponse(r, route.name, errors);
  }
  if (!result.ok()) {
    return FromStatus(result.status(), r, route.name);
  }
  HttpResponse resp = RawJsonResponse(200, *result);
  AddWarnings(resp, warnings);
  return resp;
}

namespace {

// Whether a patch body sets or tests metadata.resourceVersion (a merge patch naming it, or a
// JSON patch operation on /metadata/resourceVersion).
bool PatchNamesResourceVersion(PatchType type, const std::string& body) {
  Json patch = Json::parse(body, nullptr, false);
  if (patch.is_discarded()) {
    return false;
  }
  if (type == PatchType::kJson) {
    if (!patch.is_array()) {
      return false;
    }
    for (const Json& op : patch) {
      if (op.is_object() && op.value("path", "") == "/metadata/resourceVersion") {
        return true;
      }
    }
    return false;
  }
  return patch.is_object() && patch.contains("metadata") && patch["metadata"].is_object() &&
         patch["metadata"].contains("resourceVersion") &&
         !patch["metadata"]["resourceVersion"].is_null();
}

}  // namespace

HttpResponse Handler::Patch(const HttpRequest& req, Route& route) {
  const Resource& r = *route.resource;
  auto type = PatchTypeFromContentType(req.content_type);
  if (!type.ok()) {
    return StatusResponse(415, "UnsupportedMediaType", type.status().message());
  }
  if (*type == PatchType::kStrategicMerge && r.custom) {
    return StatusResponse(415, "UnsupportedMediaType",
                          "strategic merge patch is not supported for custom resources; use "
                          "application/merge-patch+json");
  }
  if (*type == PatchType::kApply) {
    route.verb = "APPLY";
    return Apply(req, route);
  }
  ObjectKey key{r.StoreKey(), route.ns, route.name};
  std::vector<std::string> warnings;
  WriteOptions options = OptionsOf(req, &warnings);
  // Only a patch that names a resourceVersion asks for optimistic concurrency; any other is
  // re-applied to the newest version when a concurrent write wins the race (as in Kubernetes).
  const bool explicit_rv = PatchNamesResourceVersion(*type, req.body);
  const int attempts = explicit_rv ? 1 : kMaxPatchRetries;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    BackOffBeforeRetry(attempt);
    auto stored = store_.Get(key);
    if (!stored.ok()) {
      return NotFound(r, route.name);
    }
    Json current = Json::parse(*stored->json);
    auto patched = ApplyPatch(current, *type, req.body);
    if (!patched.ok()) {
      return StatusResponse(*type == PatchType::kJson ? 422 : 400,
                            *type == PatchType::kJson ? "Invalid" : "BadRequest",
                            patched.status().message());
    }
    if (!patched->is_object()) {
      return StatusResponse(400, "BadRequest", "the patched object is not a JSON object");
    }
    std::string rv_text = MetadataOf(*patched).value("resourceVersion", "");
    if (explicit_rv && ParseRv(rv_text) != stored->rv) {
      return Conflict(r, route.name);
    }
    warnings.clear();
    api::FieldErrors errors;
    auto result = CommitUpdate(r, key, current, std::move(patched).value(), stored->rv,
                               route.subresource == "status", options, &errors);
    if (!errors.empty()) {
      return InvalidResponse(r, route.name, errors);
    }
    if (!result.ok()) {
      if (IsAborted(result.status()) && !explicit_rv) {
        continue;  // raced with another writer: re-apply the patch to the new version
      }
      return FromStatus(result.status(), r, route.name);
    }
    HttpResponse resp = RawJsonResponse(200, *result);
    AddWarnings(resp, warnings);
    return resp;
  }
  return Conflict(r, route.name);
}

HttpResponse Handler::Apply(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  if (Query(req, "fieldManager").empty()) {
    return StatusResponse(400, "BadRequest",
                          "PATCH with application/apply-patch+yaml requires the fieldManager "
                          "query parameter (server-side apply)");
  }
  auto docs = api::ParseYamlDocuments(req.body, "the apply configuration");
  if (!docs.ok()) {
    return StatusResponse(400, "BadRequest", docs.status().message());
  }
  if (docs->size() != 1 || !(*docs)[0].object.is_object()) {
    return StatusResponse(400, "BadRequest",
                          "the apply configuration must be exactly one YAML or JSON object");
  }
  Json config = std::move((*docs)[0].object);
  std::string api_version = config.value("apiVersion", "");
  std::string kind = config.value("kind", "");
  if (api_version != r.GroupVersion() || kind != r.kind) {
    return StatusResponse(400, "BadRequest",
                          "the apply configuration is " + (kind.empty() ? "(no kind)" : kind) +
                              " " + (api_version.empty() ? "(no apiVersion)" : api_version) +
                              ", but the request is for " + r.kind + " " + r.GroupVersion());
  }
  Json& config_meta = Metadata(config);
  std::string body_name = config_meta.value("name", "");
  if (body_name != route.name) {
    return StatusResponse(400, "BadRequest",
                          "the name of the object (" + body_name +
                              ") does not match the name on the URL (" + route.name + ")");
  }
  std::string body_ns = config_meta.value("namespace", "");
  if (r.namespaced && !body_ns.empty() && body_ns != route.ns) {
    return StatusResponse(400, "BadRequest",
                          "the namespace of the object (" + body_ns +
                              ") does not match the namespace on the request (" + route.ns + ")");
  }
  const bool to_status = route.subresource == "status";
  std::vector<std::string> warnings;
  WriteOptions options = OptionsOf(req, &warnings);
  FieldManagerOptions fields = FieldsOptions(r, options.field_manager, to_status, clock_.Now());
  fields.force = QueryBool(req, "force");
  const bool explicit_rv = config_meta.contains("resourceVersion");
  ObjectKey key{r.StoreKey(), route.ns, route.name};
  for (int attempt = 0; attempt < kMaxPatchRetries; ++attempt) {
    BackOffBeforeRetry(attempt);
    warnings.clear();
    api::FieldErrors errors;
    auto stored = store_.Get(key);
    if (!stored.ok()) {
      if (to_status || explicit_rv) {
        return NotFound(r, route.name);
      }
      // Applying an object that does not exist creates it.
      auto applied = ServerSideApply(nullptr, config, &r.openapi_schema, fields);
      if (!applied.ok()) {
        return StatusResponse(400, "BadRequest", applied.status().message());
      }
      Json managed = MetadataOf(applied->object).value("managedFields", Json::array());
      options.managed_fields = &managed;
      auto created = CreateObject(r, route.ns, std::move(applied->object), options, &errors);
      options.managed_fields = nullptr;
      if (!errors.empty()) {
        return InvalidResponse(r, route.name, errors);
      }
      if (!created.ok()) {
        if (created.status().code() == StatusCode::kAlreadyExists) {
          continue;  // created meanwhile: apply to it
        }
        return FromStatus(created.status(), r, route.name);
      }
      HttpResponse resp = RawJsonResponse(201, *created);
      AddWarnings(resp, warnings);
      return resp;
    }
    Json current = Json::parse(*stored->json);
    if (explicit_rv && ParseRv(config_meta.value("resourceVersion", "")) != stored->rv) {
      return Conflict(r, route.name);
    }
    auto applied = ServerSideApply(&current, config, &r.openapi_schema, fields);
    if (!applied.ok()) {
      return StatusResponse(400, "BadRequest", applied.status().message());
    }
    if (!applied->conflicts.empty()) {
      Json causes = Json::array();
      for (const FieldManagerConflict& c : applied->conflicts) {
        causes.push_back({{"reason", "FieldManagerConflict"},
                          {"message", "conflict with \"" + c.manager + "\" using " + c.api_version},
                          {"field", c.field}});
      }
      Json details = Details(r, route.name);
      details["causes"] = std::move(causes);
      return StatusResponse(409, "Conflict", ConflictMessage(applied->conflicts),
                            std::move(details));
    }
    auto result = CommitUpdate(r, key, current, std::move(applied->object), stored->rv, to_status,
                               options, &errors);
    if (!errors.empty()) {
      return InvalidResponse(r, route.name, errors);
    }
    if (!result.ok()) {
      if (IsAborted(result.status()) && !explicit_rv) {
        continue;  // raced with another writer: apply to the new version
      }
      return FromStatus(result.status(), r, route.name);
    }
    HttpResponse resp = RawJsonResponse(200, *result);
    AddWarnings(resp, warnings);
    return resp;
  }
  return Conflict(r, route.name);
}

StatusOr<Handler::DeleteResult> Handler::DeleteObject(const ObjectKey& key,
                                                      const Json& preconditions, bool dry_run,
                                                      bool orphan, bool foreground) {
  for (int attempt = 0; attempt < kMaxConflictRetries; ++attempt) {
    ASSIGN_OR_RETURN(StoredObject stored, store_.Get(key));
    Json current = Json::parse(*stored.json);
    Json meta = MetadataOf(current);
    if (preconditions.is_object()) {
      std::string uid = preconditions.value("uid", "");
      std::string rv = preconditions.value("resourceVersion", "");
      if ((!uid.empty() && uid != meta.value("uid", "")) ||
          (!rv.empty() && ParseRv(rv) != stored.rv)) {
        return AbortedError("precondition failed");
      }
    }
    // Deletion protection: an object annotated lifeboat.dev/immutable-until (a RecoveryPoint in
    // an immutable vault) cannot be deleted before that time.
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      std::string until_text = meta["annotations"].value(kImmutableUntilAnnotation, "");
      Clock::TimePoint until{};
      if (!until_text.empty() && ParseRfc3339(until_text, &until) && until > clock_.Now()) {
        return PermissionDeniedError(
            current.value("kind", std::string("object")) + " " + key.name + " is immutable until " +
            until_text + " (Vault.spec.immutability): it cannot be deleted before then");
      }
    }
    if (dry_run) {
      return DeleteResult{current, false};
    }
    std::string uid = meta.value("uid", "");
    if (orphan && !uid.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      orphan_uids_.insert(uid);
    }
    bool is_namespace = key.resource == "/namespaces";
    // Foreground deletion (Kubernetes' foregroundDeletion finalizer): the object stays, marked
    // deleted, until the garbage collector has deleted its dependents.
    bool wait_for_dependents = foreground && !uid.empty() && !DependentsOf(uid).empty();
    if (wait_for_dependents && !meta.contains("deletionTimestamp")) {
      Json& finalizers = Metadata(current)["finalizers"];
      if (!finalizers.is_array()) finalizers = Json::array();
      if (std::find(finalizers.begin(), finalizers.end(), kForegroundFinalizer) ==
          finalizers.end()) {
        finalizers.push_back(kForegroundFinalizer);
      }
      meta = MetadataOf(current);
    }
    bool has_finalizers = meta.contains("finalizers") && meta["finalizers"].is_array() &&
                          !meta["finalizers"].empty();
    bool namespace_has_content = is_namespace && !store_.KeysInNamespace(key.name).empty();
    // A CRD goes only after its custom resources (Kubernetes' customresourcecleanup).
    bool is_crd = key.resource == kCrdStoreKey;
    std::string instances = is_crd ? CrdInstancesKey(current) : "";
    bool crd_has_content = !instances.empty() && store_.Count(instances, "") > 0;
    if (has_finalizers || namespace_has_content || crd_has_content) {
      if (meta.contains("deletionTimestamp")) {
        return DeleteResult{current, false};
      }
      Json next = current;
      Metadata(next)["deletionTimestamp"] = FormatRfc3339(clock_.Now());
      Metadata(next)["deletionGracePeriodSeconds"] = 0;
      if (is_namespace) {
        next["status"]["phase"] = "Terminating";
      }
      if (crd_has_content) {
        Json& conditions = next["status"]["conditions"];
        if (!conditions.is_array()) {
          conditions = Json::array();
        }
        conditions.push_back({{"type", "Terminating"},
                              {"status", "True"},
                              {"lastTransitionTime", FormatRfc3339(clock_.Now())},
                              {"reason", "InstanceDeletionInProgress"},
                              {"message", "CustomResource deletion is in progress"}});
      }
      auto updated = store_.Update(key, next, stored.rv);
      if (!updated.ok()) {
        if (IsAborted(updated.status())) {
          continue;
        }
        return updated.status();
      }
      if (is_namespace || crd_has_content) {
        std::lock_guard<std::mutex> lock(mu_);
        (is_namespace ? terminating_namespaces_ : terminating_crds_).insert(key.name);
        wake_ = true;
        cv_.notify_all();
      }
      if (wait_for_dependents) {
        std::lock_guard<std::mutex> lock(mu_);
        foreground_owners_[uid] = key;
        wake_ = true;
        cv_.notify_all();
      }
      return DeleteResult{Json::parse(*updated->json), false};
    }
    auto deleted = store_.Delete(key, current, stored.rv);
    if (!deleted.ok()) {
      if (IsAborted(deleted.status())) {
        continue;
      }
      return deleted.status();
    }
    return DeleteResult{Json::parse(*deleted->json), true};
  }
  return AbortedError("too many concurrent writes");
}

HttpResponse Handler::Delete(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  Json options = Json::object();
  if (!req.body.empty()) {
    options = Json::parse(req.body, nullptr, false);
    if (!options.is_object()) {
      return StatusResponse(400, "BadRequest", "the DeleteOptions body is not a JSON object");
    }
  }
  bool dry_run = Query(req, "dryRun") == "All";
  if (options.contains("dryRun") && options["dryRun"].is_array()) {
    dry_run = dry_run || std::find(options["dryRun"].begin(), options["dryRun"].end(), "All") !=
                             options["dryRun"].end();
  }
  std::string propagation = Query(req, "propagationPolicy");
  if (propagation.empty()) {
    propagation = options.value("propagationPolicy", "");
  }
  if (options.value("orphanDependents", false)) {
    propagation = "Orphan";
  }
  if (!propagation.empty() && propagation != "Orphan" && propagation != "Background" &&
      propagation != "Foreground") {
    return StatusResponse(400, "BadRequest",
                          "propagationPolicy: Unsupported value: \"" + propagation +
                              "\": supported values: \"Orphan\", \"Background\", "
                              "\"Foreground\"");
  }
  ObjectKey key{r.StoreKey(), route.ns, route.name};
  auto result = DeleteObject(key, options.value("preconditions", Json()), dry_run,
                             propagation == "Orphan", propagation == "Foreground");
  if (!result.ok()) {
    return FromStatus(result.status(), r, route.name);
  }
  AfterWrite(r, result->object, result->gone);
  if (!result->gone) {
    return JsonResponse(dry_run ? 200 : 202, result->object);
  }
  Json details = Details(r, route.name);
  details["uid"] = MetadataOf(result->object).value("uid", "");
  return JsonResponse(200, {{"kind", "Status"},
                            {"apiVersion", "v1"},
                            {"metadata", Json::object()},
                            {"status", "Success"},
                            {"details", details}});
}

HttpResponse Handler::DeleteCollection(const HttpRequest& req, const Route& route) {
  const Resource& r = *route.resource;
  auto labels = LabelSelector::Parse(Query(req, "labelSelector"));
  if (!labels.ok()) {
    return StatusResponse(400, "BadRequest", labels.status().message());
  }
  auto fields = FieldSelector::Parse(Query(req, "fieldSelector"), r.selectable_fields);
  if (!fields.ok()) {
    return StatusResponse(400, "BadRequest", fields.status().message());
  }
  bool dry_run = Query(req, "dryRun") == "All";
  Json items = Json::array();
  Store::ListResult list = store_.List(r.StoreKey(), route.ns);
  for (const auto& [key, stored] : list.items) {
    if (!FieldsMatch(*fields, key, stored) || !labels->Matches(*stored.labels)) {
      continue;
    }
    auto result = DeleteObject(key, Json(), dry_run, false);
    if (result.ok()) {
      AfterWrite(r, result->object, result->gone);
      items.push_back(result->object);
    } else if (!IsNotFound(result.status())) {
      return FromStatus(result.status(), r, key.name);
    }
  }
  return JsonResponse(200, {{"apiVersion", r.GroupVersion()},
                            {"kind", r.kind + "List"},
                            {"metadata", {{"resourceVersion", std::to_string(store_.revision())}}},
                            {"items", items}});
}

void Handler::OnStoreEvent(const Event& e) {
  // Runs under the store lock: only queue work here.
  if (e.type != EventType::kDeleted) {
    // A dependent of an owner deleted in the foreground may have dropped its reference or
    // stopped blocking.
    std::lock_guard<std::mutex> lock(mu_);
    if (!foreground_owners_.empty()) {
      wake_ = true;
      cv_.notify_all();
    }
    return;
  }
  {
    if (e.key.resource == kCrdStoreKey) {
      // No longer served from the moment a read can see the CRD gone (this runs as the deletion
      // becomes visible), not only once its deleter gets back.
      registry_.RemoveCrd(e.key.name);
    }
    Json object = Json::parse(*e.object.json, nullptr, false);
    std::string uid = object.is_object() ? MetadataOf(object).value("uid", "") : "";
    std::lock_guard<std::mutex> lock(mu_);
    if (!uid.empty()) {
      gone_uids_.push_back(uid);
    }
    if ((!e.key.ns.empty() && terminating_namespaces_.count(e.key.ns) != 0) ||
        !terminating_crds_.empty() || !foreground_owners_.empty()) {
      wake_ = true;
    }
    cv_.notify_all();
  }
}

std::vector<std::pair<ObjectKey, bool>> Handler::DependentsOf(const std::string& owner_uid) {
  std::vector<std::pair<ObjectKey, bool>> out;
  for (const ObjectKey& key : store_.FindOwnedBy(owner_uid)) {
    auto stored = store_.Get(key);
    if (!stored.ok()) continue;
    Json object = Json::parse(*stored->json, nullptr, false);
    Json owners = MetadataOf(object).value("ownerReferences", Json::array());
    if (!owners.is_array()) continue;
    for (const Json& ref : owners) {
      if (ref.is_object() && ref.value("uid", "") == owner_uid) {
        out.emplace_back(key, ref.value("blockOwnerDeletion", false));
        break;
      }
    }
  }
  return out;
}

void Handler::FinalizeForeground(const std::string& owner_uid, const ObjectKey& owner) {
  bool blocked = false;
  for (const auto& [key, blocks] : DependentsOf(owner_uid)) {
    auto result = DeleteObject(key, Json(), false, false);
    if (result.ok()) {
      if (auto r = registry_.FindByStoreKey(key.resource)) {
        AfterWrite(*r, result->object, result->gone);
      }
    }
    blocked = blocked || (blocks && !(result.ok() && result->gone));
  }
  if (blocked) return;  // retried as dependents go
  for (int attempt = 0; attempt < kMaxConflictRetries; ++attempt) {
    auto stored = store_.Get(owner);
    if (!stored.ok()) break;
    Json current = Json::parse(*stored->json);
    if (MetadataOf(current).value("uid", "") != owner_uid) break;
    Json next = current;
    Json& finalizers = Metadata(next)["finalizers"];
    if (finalizers.is_array()) {
      finalizers.erase(std::remove(finalizers.begin(), finalizers.end(), kForegroundFinalizer),
                       finalizers.end());
    }
    bool gone = !finalizers.is_array() || finalizers.empty();
    if (gone) Metadata(next).erase("finalizers");
    auto written =
        gone ? store_.Delete(owner, next, stored->rv) : store_.Update(owner, next, stored->rv);
    if (!written.ok() && IsAborted(written.status())) continue;
    if (written.ok()) {
      if (auto r = registry_.FindByStoreKey(owner.resource)) {
        AfterWrite(*r, Json::parse(*written->json), gone);
      }
    }
    break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  foreground_owners_.erase(owner_uid);
}

void Handler::CollectGarbage(const std::string& owner_uid) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (orphan_uids_.erase(owner_uid) != 0) {
      return;
    }
  }
  for (const ObjectKey& key : store_.FindOwnedBy(owner_uid)) {
    auto stored = store_.Get(key);
    if (!stored.ok()) {
      continue;
    }
    Json object = Json::parse(*stored->json, nullptr, false);
    Json owners = MetadataOf(object).value("ownerReferences", Json::array());
    if (!owners.is_array()) {
      continue;
    }
    bool owned = false;
    bool other_owner_alive = false;
    for (const Json& ref : owners) {
      if (!ref.is_object()) {
        continue;
      }
      std::string uid = ref.value("uid", "");
      if (uid == owner_uid) {
        owned = true;
      } else if (!uid.empty() && store_.FindByUid(uid)) {
        other_owner_alive = true;
      }
    }
    if (!owned || other_owner_alive) {
      continue;
    }
    auto result = DeleteObject(key, Json(), false, false);
    if (result.ok()) {
      spdlog::debug("Deleted dependent resource={} ns={} name={} owner_uid={}", key.resource,
                    key.ns, key.name, owner_uid);
      if (auto r = registry_.FindByStoreKey(key.resource)) {
        AfterWrite(*r, result->object, result->gone);
      }
    }
  }
}

void Handler::FinalizeNamespace(const std::string& ns) {
  std::vector<ObjectKey> keys = store_.KeysInNamespace(ns);
  for (const ObjectKey& key : keys) {
    auto result = DeleteObject(key, Json(), false, false);
    if (result.ok()) {
      if (auto r = registry_.FindByStoreKey(key.resource)) {
        AfterWrite(*r, result->object, result->gone);
      }
    }
  }
  if (!store_.KeysInNamespace(ns).empty()) {
    return;  // objects with finalizers remain; retried when they go
  }
  ObjectKey key{"/namespaces", "", ns};
  auto stored = store_.Get(key);
  if (stored.ok()) {
    store_.Delete(key, Json::parse(*stored->json), 0).status().IgnoreError();
  }
  std::lock_guard<std::mutex> lock(mu_);
  terminating_namespaces_.erase(ns);
}

void Handler::FinalizeCrd(const std::string& crd_name) {
  ObjectKey crd_key{kCrdStoreKey, "", crd_name};
  auto crd = store_.Get(crd_key);
  if (!crd.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    terminating_crds_.erase(crd_name);
    return;
  }
  Json crd_object = Json::parse(*crd->json);
  std::string instances = CrdInstancesKey(crd_object);
  for (const auto& [key, stored] : store_.List(instances, "").items) {
    auto result = DeleteObject(key, Json(), false, false);
    if (result.ok()) {
      if (auto r = registry_.FindByStoreKey(key.resource)) {
        AfterWrite(*r, result->object, result->gone);
      }
    }
  }
  if (store_.Count(instances, "") > 0) {
    return;  // custom resources with finalizers remain; retried when they go
  }
  auto deleted = store_.Delete(crd_key, crd_object, crd->rv);
  if (!deleted.ok()) {
    return;  // changed meanwhile: the next pass retries
  }
  registry_.RemoveCrd(crd_name);
  std::lock_guard<std::mutex> lock(mu_);
  terminating_crds_.erase(crd_name);
}

void Handler::BackgroundLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    clock_.WaitUntil(lock, cv_, clock_.Now() + std::chrono::seconds(1),
                     [this] { return stopping_ || wake_ || !gone_uids_.empty(); });
    if (stopping_) {
      break;
    }
    wake_ = false;
    std::deque<std::string> gone;
    gone.swap(gone_uids_);
    std::vector<std::string> namespaces(terminating_namespaces_.begin(),
                                        terminating_namespaces_.end());
    std::vector<std::string> crds(terminating_crds_.begin(), terminating_crds_.end());
    std::map<std::string, ObjectKey> foreground = foreground_owners_;
    std::vector<std::shared_ptr<ActiveWatch>> watches = watches_;
    lock.unlock();
    for (const std::string& uid : gone) {
      CollectGarbage(uid);
    }
    for (const std::string& ns : namespaces) {
      FinalizeNamespace(ns);
    }
    for (const std::string& name : crds) {
      FinalizeCrd(name);
    }
    for (const auto& [uid, owner] : foreground) {
      FinalizeForeground(uid, owner);
    }
    auto now = clock_.Now();
    std::vector<std::shared_ptr<ActiveWatch>> ended;
    for (const auto& w : watches) {
      if (w->failed.load() || now >= w->deadline) {
        ended.push_back(w);
        continue;
      }
      if (w->bookmarks && now >= w->next_bookmark) {
        w->next_bookmark = now + options_.bookmark_interval;
        store_.RunLocked([&](int64_t revision) {
          Json bookmark = {{"kind", w->resource->kind},
                           {"apiVersion", w->resource->GroupVersion()},
                           {"metadata", {{"resourceVersion", std::to_string(revision)}}}};
          if (!w->writer->Write(WatchLine("BOOKMARK", bookmark.dump()))) {
            w->failed = true;
          }
        });
      }
    }
    for (const auto& w : ended) {
      store_.Unwatch(w->store_id);
      w->writer->Close();
    }
    lock.lock();
    if (!ended.empty()) {
      watches_.erase(std::remove_if(watches_.begin(), watches_.end(),
                                    [&](const std::shared_ptr<ActiveWatch>& w) {
                                      return std::find(ended.begin(), ended.end(), w) !=
                                             ended.end();
                                    }),
                     watches_.end());
    }
  }
}

}  // namespace lifeboat::apiserver
