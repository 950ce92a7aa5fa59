#pragma once

// Lifeboat's metrics (DESIGN.md "Metrics", STYLE.md §3.10). One `Metrics` object is built in
// main and its recorders are injected where things happen; prometheus-cpp stays inside
// metrics/*.cc. Every objective is exported next to its observation so alert rules need no
// hand-set thresholds:
//   (time() - lifeboat_last_recovery_point_timestamp_seconds) / lifeboat_rpo_target_seconds
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lifeboat::metrics {

// Identifies one protection policy: kind is "BackupPolicy" or "ReplicationPolicy".
struct PolicyLabels {
  std::string kind;
  std::string namespace_;
  std::string policy;
};

// lifeboat_rpo_target_seconds, lifeboat_last_recovery_point_timestamp_seconds,
// lifeboat_volume_protected. Series are rebuilt from status after a restart (the reconcilers
// call Set on every pass) and removed with Remove when their policy is deleted.
class RpoRecorder {
 public:
  virtual ~RpoRecorder() = default;
  virtual void SetTarget(const PolicyLabels& p, double target_seconds) = 0;
  // Unix time of the newest usable recovery point; absent = none yet (series not exported,
  // `absent()`-style alerts catch it through lifeboat_volume_protected).
  virtual void SetLastRecoveryPoint(const PolicyLabels& p, double unix_seconds) = 0;
  virtual void SetVolumeProtected(const PolicyLabels& p, const std::string& volume,
                                  bool protected_) = 0;
  // Removes every series of the policy (target, last point, its volumes).
  virtual void Remove(const PolicyLabels& p) = 0;
};

// Reconcile totals, errors and durations per controller; work-queue depth.
class ReconcileRecorder {
 public:
  virtual ~ReconcileRecorder() = default;
  // result: "success", "error" or "requeue".
  virtual void ObserveReconcile(const std::string& controller, const std::string& result,
                                double seconds) = 0;
  virtual void SetQueueDepth(const std::string& controller, double depth) = 0;
};

// Backup, restore and vault figures.
struct BackupOutcome {
  std::string namespace_;
  std::string policy;
  std::string result;  // "completed", "partially_failed", "failed"
  double duration_seconds = 0;
  double bytes_read = 0;
  double bytes_uploaded = 0;
};

class BackupRecorder {
 public:
  virtual ~BackupRecorder() = default;
  virtual void ObserveBackup(const BackupOutcome& outcome) = 0;
  // Exports the policy's backup totals at 0 for every result (and the namespace's restore
  // totals), so that increase() sees the first failure: a counter that appears at 1 has no
  // increase to Prometheus.
  virtual void InitPolicy(const std::string& namespace_, const std::string& policy) = 0;
  virtual void InitRestores(const std::string& namespace_) = 0;
  virtual void ObserveRestore(const std::string& namespace_, const std::string& result,
                              double duration_seconds, double bytes_restored) = 0;
  virtual void SetVaultFigures(const std::string& namespace_, const std::string& vault,
                               double logical_bytes, double stored_bytes, double dedup_ratio,
                               bool ready) = 0;
  // lifeboat_vault_secondary_lag_seconds: how far the vault's secondary (geo-redundant) copy is
  // behind its primary (age of the newest data not yet copied; 0 when in step).
  virtual void SetVaultSecondaryLag(const std::string& namespace_, const std::string& vault,
                                    double seconds) = 0;
  virtual void RemoveVault(const std::string& namespace_, const std::string& vault) = 0;
  virtual void RemovePolicy(const std::string& namespace_, const std::string& policy) = 0;
};

// Replication and failover figures.
class ReplicationRecorder {
 public:
  virtual ~ReplicationRecorder() = default;
  virtual void SetLag(const std::string& namespace_, const std::string& policy,
                      double seconds) = 0;
  virtual void AddBytesSent(const std::string& namespace_, const std::string& policy,
                            double bytes) = 0;
  virtual void SetSiteReachable(const std::string& namespace_, const std::string& site,
                                bool reachable) = 0;
  virtual void ObserveFailoverRto(const std::string& namespace_, const std::string& plan,
                                  const std::string& type, double seconds) = 0;
  virtual void RemovePolicy(const std::string& namespace_, const std::string& policy) = 0;
};

// The embedded API server (`lifeboat up`): lifeboat_apiserver_request_total{verb, group,
// resource, subresource, code} and lifeboat_apiserver_request_duration_seconds{verb} (kube-
// apiserver's labels; watches are counted but not timed: they last until the client leaves),
// and gauges read from `source` at each scrape: lifeboat_apiserver_connections,
// lifeboat_apiserver_watch_streams, lifeboat_apiserver_registered_watchers and
// lifeboat_apiserver_watch_backlog_bytes.
struct ApiServerFigures {
  double connections = 0;
  double watch_streams = 0;        // watch responses being streamed
  double registered_watchers = 0;  // watches registered with the store
  double watch_backlog_bytes = 0;  // watch bytes queued for clients, not yet sent
};

class ApiServerRecorder {
 public:
  virtual ~ApiServerRecorder() = default;
  virtual void ObserveRequest(std::string_view verb, std::string_view group,
                              std::string_view resource, std::string_view subresource, int code,
                              double seconds) = 0;
  // Called at every scrape (from the scraping thread) until replaced; empty = no gauges.
  virtual void SetFiguresSource(std::function<ApiServerFigures()> source) = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  RpoRecorder& rpo();
  ReconcileRecorder& reconcile();
  BackupRecorder& backup();
  ReplicationRecorder& replication();
  ApiServerRecorder& apiserver();

  // The Prometheus text exposition of everything (what /metrics serves).
  std::string Exposition() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Serves /metrics over HTTP. bind_address "127.0.0.1:8080"; port 0 picks a free port.
class MetricsServer {
 public:
  static StatusOr<std::unique_ptr<MetricsServer>> Start(Metrics& metrics,
                                                        const std::string& bind_address);
  virtual ~MetricsServer() = default;
  virtual int port() const = 0;
};

}  // namespace lifeboat::metrics
