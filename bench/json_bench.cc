// Chooses the JSON library by measurement (issue 2): parse + serialise a typical API object
// (a BackupPolicy with status, as the API server stores and the informer decodes it).
#include <benchmark/benchmark.h>
#include <cpprest/json.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <nlohmann/json.hpp>
#include <string>

namespace {

const std::string kDocument = R"({
  "apiVersion": "lifeboat.dev/v1alpha1", "kind": "BackupPolicy",
  "metadata": {"name": "postgres-nightly", "namespace": "prod", "uid": "6f1c2a3e-8b1d-4c55-9e2a-0d3b7f1e2c44",
    "resourceVersion": "123456", "generation": 7, "creationTimestamp": "2026-11-21T10:04:05Z",
    "labels": {"app": "postgres", "tier": "db", "team": "payments"},
    "annotations": {"lifeboat.dev/owner": "sre@example.com"},
    "finalizers": ["lifeboat.dev/cleanup"]},
  "spec": {"vaultRef": {"name": "main"}, "schedule": {"cron": "0 */4 * * *", "timeZone": "Europe/Paris"},
    "rpo": "4h", "suspend": false,
    "volumes": [{"name": "data", "path": "/var/lib/postgresql/data"}, {"name": "wal", "path": "/var/lib/postgresql/wal"}],
    "retention": {"keepLast": 3, "hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 3},
    "consistency": {"type": "Application", "preHook": {"exec": {"command": ["psql", "-c", "CHECKPOINT"]}, "timeout": "60s"},
      "postHook": {"exec": {"command": ["true"]}, "timeout": "30s"}, "onError": "Fail"}},
  "status": {"observedGeneration": 7, "lastBackupTime": "2026-11-21T08:00:00Z",
    "lastSuccessfulBackupTime": "2026-11-21T08:00:00Z", "nextBackupTime": "2026-11-21T12:00:00Z",
    "recoveryPointCount": 42, "currentRPOSeconds": 7345.5,
    "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "policy is active",
      "lastTransitionTime": "2026-11-20T10:00:00Z", "observedGeneration": 7},
      {"type": "RPOMet", "status": "True", "reason": "WithinTarget", "message": "last point 2h ago, target 4h",
      "lastTransitionTime": "2026-11-20T10:00:00Z", "observedGeneration": 7}]}
})";

void BM_Nlohmann(benchmark::State& state) {
  for (auto _ : state) {
    auto j = nlohmann::json::parse(kDocument);
    std::string out = j.dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kDocument.size()));
}
BENCHMARK(BM_Nlohmann);

void BM_RapidJson(benchmark::State& state) {
  for (auto _ : state) {
    rapidjson::Document d;
    d.Parse(kDocument.c_str(), kDocument.size());
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    benchmark::DoNotOptimize(sb.GetString());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kDocument.size()));
}
BENCHMARK(BM_RapidJson);

void BM_CppRestJson(benchmark::State& state) {
  for (auto _ : state) {
    auto v = web::json::value::parse(kDocument);
    std::string out = v.serialize();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kDocument.size()));
}
BENCHMARK(BM_CppRestJson);

}  // namespace

BENCHMARK_MAIN();
