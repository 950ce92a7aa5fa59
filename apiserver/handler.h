#pragma once

// The Kubernetes REST semantics of the embedded API server, independent of the HTTP library:
// routing, discovery, CRUD + patch + watch, status subresource, finalizers, garbage collection
// of dependents (ownerReferences), Table output, Status error bodies and bearer-token auth.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/json.h"
#include "apiserver/request_observer.h"
#include "apiserver/resources.h"
#include "apiserver/store.h"
#include "common/clock.h"
#include "common/status.h"

namespace lifeboat::apiserver {

struct HttpRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;
  std::string body;
  std::string content_type;
  std::string accept;
  std::string authorization;
  std::string user_agent;
};

// Where a streaming response (a watch) writes. Implemented by the HTTP adapter.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Queues bytes for the client and flushes them; false once closed or the client lags too far.
  virtual bool Write(const std::string& data) = 0;
  // Ends the response.
  virtual void Close() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // For watches: the adapter sends the headers, then calls this with the body's writer.
  std::function<void(std::shared_ptr<StreamWriter>)> stream;
};

struct HandlerOptions {
  std::string bearer_token;    // required on every request but the health checks
  std::string server_address;  // "127.0.0.1:6443" for /api
  std::chrono::seconds bookmark_interval{5};
  std::chrono::seconds max_watch{1800};
  RequestObserver on_request;  // called after every request when set (metrics)
};

class Handler {
 public:
  Handler(Store& store, const Clock& clock, HandlerOptions options);
  ~Handler();
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

  // Creates the default namespaces, serves the CRDs already stored, and applies every CRD file
  // in crd_dir (*.yaml, *.yml, *.json; empty = none). Starts the background work (watch
  // timeouts and bookmarks, garbage collection).
  Status Start(const std::filesystem::path& crd_dir);
  // Ends every watch and stops the background work.
  void Stop();

  HttpResponse Handle(const HttpRequest& request);
  // Watches being served (one whose client is gone is dropped at its next event or bookmark,
  // within a second of it).
  size_t active_watches() const;
  void set_server_address(std::string address) { options_.server_address = std::move(address); }
  const Registry& registry() const { return registry_; }

 private:
  struct Route;
  struct ActiveWatch;
  struct WriteOptions {
    bool dry_run = false;
    std::string field_validation = "Strict";
    std::vector<std::string>* warnings = nullptr;
    std::string field_manager;             // who writes (fieldManager, else the User-Agent)
    const Json* managed_fields = nullptr;  // create: the managedFields a server-side apply set
  };
  // dryRun, fieldValidation and the field manager of a write request.
  static WriteOptions OptionsOf(const HttpRequest& req, std::vector<std::string>* warnings);
  struct DeleteResult {
    Json object;
    bool gone = false;
  };

  // Handle without the observer; fills *route once the path names a resource.
  HttpResponse Dispatch(const HttpRequest& req, Route* route);
  HttpResponse HandleResource(const HttpRequest& req, Route& route);
  HttpResponse Get(const HttpRequest& req, const Route& route);
  HttpResponse List(const HttpRequest& req, const Route& route);
  HttpResponse Watch(const HttpRequest& req, const Route& route);
  HttpResponse Create(const HttpRequest& req, const Route& route);
  HttpResponse Update(const HttpRequest& req, const Route& route);
  HttpResponse Patch(const HttpRequest& req, Route& route);
  HttpResponse Apply(const HttpRequest& req, const Route& route);  // server-side apply
  HttpResponse Delete(const HttpRequest& req, const Route& route);
  HttpResponse DeleteCollection(const HttpRequest& req, const Route& route);

  // The create path shared by HTTP and bootstrap; returns the stored object (JSON text).
  StatusOr<std::string> CreateObject(const Resource& resource, const std::string& ns, Json object,
                                     const WriteOptions& options, api::FieldErrors* errors);
  // Validates, stamps and writes `updated` over `current` (expected_rv guards the write).
  StatusOr<std::string> CommitUpdate(const Resource& resource, const ObjectKey& key,
                                     const Json& current, Json updated, int64_t expected_rv,
                                     bool status_subresource, const WriteOptions& options,
                                     api::FieldErrors* errors);
  // `orphan` leaves dependents alone; `foreground` keeps the object (finalizer
  // foregroundDeletion) until its dependents are gone; otherwise they go after it (background).
  StatusOr<DeleteResult> DeleteObject(const ObjectKey& key, const Json& preconditions, bool dry_run,
                                      bool orphan, bool foreground = false);
  // Admission: pruning/unknown fields, defaults, schema and metadata validation.
  api::FieldErrors Admit(const Resource& resource, Json& object, const WriteOptions& options,
                         std::string* strict_error);
  void AfterWrite(const Resource& resource, const Json& object, bool deleted);
  Status ApplyCrdFile(const std::filesystem::path& file);

  void BackgroundLoop();
  void OnStoreEvent(const Event& event);
  void CollectGarbage(const std::string& owner_uid);
  // The objects whose ownerReferences name `owner_uid`, with whether each blocks its owner's
  // foreground deletion (blockOwnerDeletion).
  std::vector<std::pair<ObjectKey, bool>> DependentsOf(const std::string& owner_uid);
  // An owner deleted in the foreground: deletes its dependents, then removes its
  // foregroundDeletion finalizer once none that blocks it is left.
  void FinalizeForeground(const std::string& owner_uid, const ObjectKey& owner);
  void FinalizeNamespace(const std::string& ns);
  // A deleted CRD: deletes its custom resources, then itself once none is left.
  void FinalizeCrd(const std::string& crd_name);

  // The JSON watch line ({"type":…,"object":…}\n) of the event being delivered, built by its
  // first watcher and reused by the others (events reach every watch's sink in turn, under the
  // store's lock). Keyed by the event's object text, which it holds so the pointer stays unique.
  struct SharedWatchLine {
    std::mutex mu;
    std::shared_ptr<const std::string> object_json;
    EventType type = EventType::kAdded;
    std::shared_ptr<const std::string> line;
  };
  std::shared_ptr<const std::string> WatchLineOf(const Event& event);

  Store& store_;
  const Clock& clock_;
  HandlerOptions options_;
  Registry registry_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::vector<std::shared_ptr<ActiveWatch>> watches_;
  std::deque<std::string> gone_uids_;
  std::set<std::string> terminating_namespaces_;
  std::set<std::string> terminating_crds_;  // CRD names
  std::set<std::string> orphan_uids_;
  std::map<std::string, ObjectKey> foreground_owners_;  // uid -> owner being deleted
  uint64_t gc_watch_ = 0;
  std::thread background_;
  SharedWatchLine watch_line_;
};

// Kubernetes Status error body: {"kind":"Status",...,"reason":reason,"code":code}.
HttpResponse StatusResponse(int code, const std::string& reason, const std::string& message,
                            Json details = Json::object());

}  // namespace lifeboat::apiserver
