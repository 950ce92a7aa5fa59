#pragma once

// Server-side apply (PATCH with Content-Type application/apply-patch+yaml) and the field
// ownership behind it (metadata.managedFields in the FieldsV1 encoding), after Kubernetes'
// structured-merge-diff:
//   - An apply names its field manager. The fields its configuration sets become that manager's;
//     a field another manager owns with a different value is a conflict (409 naming field and
//     manager) unless the apply forces, which takes the field over.
//   - Fields the manager applied before and no longer sets are removed from the object, unless
//     another manager owns them too.
//   - Lists follow the schema: x-kubernetes-list-type map (merged by x-kubernetes-list-map-keys),
//     set (merged by value) or atomic (the default: replaced whole); objects are merged field by
//     field unless x-kubernetes-map-type is atomic. metadata.labels/annotations are maps,
//     metadata.finalizers a set, metadata.ownerReferences a map keyed by uid.
//   - Other writes (update, patch, status) to an object that has managedFields move the fields they
//     change to their manager (operation Update) and drop fields that no longer exist.
// One difference from Kubernetes, to keep the write path lean: objects written only by
// create/update/patch carry no managedFields until their first server-side apply, which records
// every field already there as owned by "before-first-apply" (what Kubernetes does for objects
// that predate field tracking).
#include <string>
#include <vector>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

struct FieldManagerOptions {
  std::string manager;              // the fieldManager of the request
  std::string api_version;          // the group/version written through ("lifeboat.dev/v1alpha1")
  std::string now;                  // RFC 3339 time of the operation
  bool force = false;               // apply only: take over conflicting fields
  bool status_subresource = false;  // the kind has a status subresource
  bool to_status = false;           // the request is on the status subresource
};

struct FieldManagerConflict {
  std::string manager;      // who owns the field now
  std::string api_version;  // the version it set the field through
  std::string field;        // ".spec.schedule.cron", ".metadata.ownerReferences[uid=\"u1\"]"
};

struct ApplyResult {
  Json object;  // the object to store, managedFields included (unset when there are conflicts)
  std::vector<FieldManagerConflict> conflicts;  // non-empty: nothing may be written
};

// Applies `config` (the request's object, already parsed) to `live` (nullptr when the object
// does not exist yet). `schema` is the kind's OpenAPI v3 schema (null: objects merge, lists are
// atomic). kInvalidArgument for managedFields that cannot be read.
StatusOr<ApplyResult> ServerSideApply(const Json* live, const Json& config, const Json* schema,
                                      const FieldManagerOptions& options);

// Field tracking for any write other than an apply: returns `updated` with its managedFields
// brought up to date. A write that sets managedFields itself (different from the live ones) keeps
// them (an empty list clears them); kInvalidArgument if they cannot be read.
StatusOr<Json> TrackUpdate(const Json& live, Json updated, const Json* schema,
                           const FieldManagerOptions& options);

// The message of a 409 for `conflicts`, as Kubernetes words it ("Apply failed with 1 conflict:
// conflict with \"kubectl-edit\" using lifeboat.dev/v1alpha1: .spec.rpo").
std::string ConflictMessage(const std::vector<FieldManagerConflict>& conflicts);

}  // namespace lifeboat::apiserver
