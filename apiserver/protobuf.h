#pragma once

// Decoding of the Kubernetes protobuf wire format ("k8s\0" + runtime.Unknown) for the kinds
// kubectl's typed generators send that way (`kubectl create namespace|configmap|secret`).
// Responses are always JSON (kubectl accepts it).
#include <string>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

constexpr const char* kProtobufContentType = "application/vnd.kubernetes.protobuf";

// Namespace, ConfigMap and Secret (v1) with their ObjectMeta; kInvalidArgument otherwise.
StatusOr<Json> DecodeKubernetesProtobuf(const std::string& body);

}  // namespace lifeboat::apiserver
