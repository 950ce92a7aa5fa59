#pragma once

// Table responses (meta.k8s.io/v1 Table) for `kubectl get`: a Name column, then the kind's
// printer columns (a CRD's additionalPrinterColumns), with dates shown as ages ("5m").
#include <string>

#include "api/json.h"
#include "apiserver/resources.h"
#include "common/clock.h"

namespace lifeboat::apiserver {

enum class IncludeObject { kNone, kMetadata, kObject };

// "None" | "Metadata" | "Object" (default Metadata, as Kubernetes).
IncludeObject ParseIncludeObject(const std::string& text);

// Kubernetes' short human durations: "45s", "5m10s", "3h", "2d4h", "400d".
std::string HumanDuration(Clock::Duration d);

Json TableColumnDefinitions(const Resource& resource);
Json TableRow(const Resource& resource, const Json& object, IncludeObject include,
              Clock::TimePoint now);
// A Table whose rows are `rows` (from TableRow).
Json MakeTable(const Resource& resource, Json rows, const std::string& resource_version,
               const std::string& continue_token);

}  // namespace lifeboat::apiserver
