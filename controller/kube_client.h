#pragma once

// KubeClient: the Kubernetes REST API over unstructured JSON objects (STYLE.md §3.8).
// One implementation speaks HTTP (controller/rest_kube_client.h); everything above it — the
// informers, the leader elector, the event recorder and the reconcilers — sees only this.
//
// Error mapping (every method returns lifeboat::Status; the message carries the API's message):
//   404                          → kNotFound
//   409 reason Conflict          → kAborted          (stale resourceVersion: requeue, never force)
//   409 reason AlreadyExists     → kAlreadyExists
//   400, 422                     → kInvalidArgument  (message lists the field causes:
//                                                     "spec.rpo: Invalid value ...; ...")
//   410 (or a watch ERROR event with code 410)
//                                → kOutOfRange       (message starts with "Expired": relist)
//   401                          → kUnauthenticated
//   403                          → kPermissionDenied
//   429, 5xx, connection refused, TLS failure, timeout
//                                → kUnavailable      (retry the call)
//   any other status             → kUnknown
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "common/status.h"
#include "controller/object_key.h"

namespace lifeboat::controller {

// Which REST collection an object lives in.
struct ResourceRef {
  std::string group;     // "" for the core group
  std::string version;   // "v1", "v1alpha1"
  std::string resource;  // plural, lower case: "backuppolicies"
  std::string kind;      // "BackupPolicy"
  bool namespaced = true;

  // "lifeboat.dev/v1alpha1", or "v1" for the core group.
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "backuppolicies.lifeboat.dev", or "events" for the core group.
  std::string GroupResource() const { return group.empty() ? resource : resource + "." + group; }
};

struct ListOptions {
  std::string label_selector;  // "app=db,tier!=web"
  std::string field_selector;  // "metadata.name=x"
  int64_t limit = 0;           // 0 = no paging
  std::string continue_token;  // from a previous page
  std::string resource_version;
};

struct ObjectList {
  std::vector<Json> items;
  std::string resource_version;  // the list's metadata.resourceVersion
  std::string continue_token;    // non-empty when more pages remain
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark };

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  Json object;  // the object; for bookmarks only metadata.resourceVersion is meaningful
};

struct WatchOptions {
  std::string ns;                // "" = all namespaces (or a cluster-scoped resource)
  std::string resource_version;  // start after this revision; "" = from now
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  // Server-side timeout of one watch request; the stream is reopened transparently after it.
  std::chrono::seconds request_timeout{300};
};

using WatchCallback = std::function<void(WatchEvent&& event)>;

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJsonPatch,       // application/json-patch+json (RFC 6902)
  kStrategicMerge,  // application/strategic-merge-patch+json
};

struct DeleteOptions {
  std::string propagation_policy;  // "", "Foreground", "Background", "Orphan"
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  virtual StatusOr<Json> Get(const ResourceRef& resource, const ObjectKey& key) = 0;
  // One page (or everything when options.limit == 0). `ns` empty = all namespaces.
  virtual StatusOr<ObjectList> List(const ResourceRef& resource, const std::string& ns,
                                    const ListOptions& options) = 0;
  // Streams events to `on_event` on the calling thread until `stop` is requested (returns
  // kCancelled), the start revision is too old (kOutOfRange, "Expired": the caller relists), or
  // a non-retryable error (kPermissionDenied, kNotFound, ...). Disconnects, server restarts and
  // server-side timeouts are survived: the stream reopens from the last revision delivered
  // (bookmarks included), with backoff while the server is unreachable.
  virtual Status Watch(const ResourceRef& resource, const WatchOptions& options,
                       std::stop_token stop, const WatchCallback& on_event) = 0;
  // The namespace comes from object.metadata.namespace.
  virtual StatusOr<Json> Create(const ResourceRef& resource, const Json& object) = 0;
  // Optimistic concurrency: metadata.resourceVersion must be current (else kAborted).
  virtual StatusOr<Json> Update(const ResourceRef& resource, const Json& object) = 0;
  // PUT to the status subresource (spec changes are ignored by the server).
  virtual StatusOr<Json> UpdateStatus(const ResourceRef& resource, const Json& object) = 0;
  // `subresource` "" or "status".
  virtual StatusOr<Json> Patch(const ResourceRef& resource, const ObjectKey& key, PatchType type,
                               const Json& patch, const std::string& subresource = "") = 0;
  virtual Status Delete(const ResourceRef& resource, const ObjectKey& key,
                        const DeleteOptions& options = {}) = 0;
};

// Maps an HTTP status and a Kubernetes `Status` body (or any text) to a lifeboat::Status as
// documented above. `what` names the request ("get backuppolicies.lifeboat.dev prod/db").
Status StatusFromHttp(int http_status, std::string_view body, std::string_view what);
// Same mapping from a decoded metav1.Status object (a watch ERROR event).
Status StatusFromKubeStatus(const Json& status, std::string_view what);

}  // namespace lifeboat::controller
