#include "metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace lifeboat::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

// Durations of reconciles (fast) and of data operations (slow), in seconds.
const std::vector<double> kReconcileBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,   0.25,   0.5,   1,    2.5,   5};
const std::vector<double> kOperationBuckets = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200};

// API requests: most take well under a millisecond; a slow list of thousands of objects, seconds.
const std::vector<double> kRequestBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1,    2.5};

// The API server's gauges, read from its figures source when scraped.
class ApiServerGauges final : public prometheus::Collectable {
 public:
  void SetSource(std::function<ApiServerFigures()> source) {
    std::lock_guard<std::mutex> l(mu_);
    source_ = std::move(source);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> l(mu_);
    if (!source_) {
      return {};
    }
    ApiServerFigures f = source_();
    auto gauge = [](const char* name, const char* help, double value) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      metric.gauge.value = value;
      family.metric.push_back(metric);
      return family;
    };
    return {gauge("lifeboat_apiserver_connections", "Open client connections to the API server.",
                  f.connections),
            gauge("lifeboat_apiserver_watch_streams", "Watch responses being streamed.",
                  f.watch_streams),
            gauge("lifeboat_apiserver_registered_watchers",
                  "Watches registered with the API server's store.", f.registered_watchers),
            gauge("lifeboat_apiserver_watch_backlog_bytes",
                  "Watch event bytes queued for clients and not yet sent.", f.watch_backlog_bytes)};
  }

 private:
  mutable std::mutex mu_;
  std::function<ApiServerFigures()> source_;
};

Labels PolicyLabelSet(const PolicyLabels& p) {
  return {{"kind", p.kind}, {"namespace", p.namespace_}, {"policy", p.policy}};
}

// Removes from `family` every series whose labels include all of `match`.
template <typename T>
void RemoveMatching(Family<T>& family, std::map<Labels, T*>& series, const Labels& match) {
  for (auto it = series.begin(); it != series.end();) {
    bool all = true;
    for (const auto& [k, v] : match) {
      auto found = it->first.find(k);
      if (found == it->first.end() || found->second != v) {
        all = false;
        break;
      }
    }
    if (all) {
      family.Remove(it->second);
      it = series.erase(it);
    } else {
      ++it;
    }
  }
}

// A family plus the series handed out, so that a policy's series can be removed.
template <typename T>
struct Tracked {
  Family<T>* family = nullptr;
  std::map<Labels, T*> series;

  T& Get(const Labels& labels) {
    auto it = series.find(labels);
    if (it != series.end()) {
      return *it->second;
    }
    T& metric = family->Add(labels);
    series.emplace(labels, &metric);
    return metric;
  }
  T& GetHistogram(const Labels& labels, const std::vector<double>& buckets) {
    auto it = series.find(labels);
    if (it != series.end()) {
      return *it->second;
    }
    T& metric = family->Add(labels, buckets);
    series.emplace(labels, &metric);
    return metric;
  }
  void Remove(const Labels& match) { RemoveMatching(*family, series, match); }
};

}  // namespace

struct Metrics::Impl final : RpoRecorder,
                             ReconcileRecorder,
                             BackupRecorder,
                             ReplicationRecorder,
                             ApiServerRecorder {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ApiServerGauges> apiserver_gauges = std::make_shared<ApiServerGauges>();
  std::mutex mu;
  // Requests come at thousands per second: their series are found by one string key instead
  // of a label map, under their own lock.
  std::mutex request_mu;
  Family<Counter>* request_total = nullptr;
  Family<Histogram>* request_duration = nullptr;
  std::unordered_map<std::string, Counter*> request_counters;
  std::unordered_map<std::string, Histogram*> request_histograms;

  Tracked<Gauge> rpo_target, last_point, volume_protected;
  Tracked<Counter> reconcile_total, reconcile_errors;
  Tracked<Histogram> reconcile_duration;
  Tracked<Gauge> queue_depth;
  Tracked<Counter> backups_total, backup_read, backup_uploaded;
  Tracked<Histogram> backup_duration;
  Tracked<Counter> restores_total, restore_bytes;
  Tracked<Histogram> restore_duration;
  Tracked<Gauge> vault_logical, vault_stored, vault_dedup, vault_ready, vault_secondary_lag;
  Tracked<Gauge> replication_lag, site_reachable, failover_rto;
  Tracked<Counter> replication_sent;

  Impl() {
    auto gauge = [&](const char* name, const char* help) {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry);
    };
    auto counter = [&](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry);
    };
    auto histogram = [&](const char* name, const char* help) {
      return &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry);
    };
    request_total = counter("lifeboat_apiserver_request_total",
                            "Requests served by the embedded API server, by verb, group, resource, "
                            "subresource and status code.");
    request_duration = histogram("lifeboat_apiserver_request_duration_seconds",
                                 "Time from a request to its response headers (watches excluded).");
    rpo_target.family = gauge("lifeboat_rpo_target_seconds",
                              "Recovery-point objective of a policy, in seconds.");
    last_point.family =
        gauge("lifeboat_last_recovery_point_timestamp_seconds",
              "Unix time of the newest usable recovery point of a policy.");
    volume_protected.family = gauge("lifeboat_volume_protected",
                                    "1 when the volume has a usable recovery point, else 0.");
    reconcile_total.family = counter("lifeboat_reconcile_total", "Reconciles by controller and result.");
    reconcile_errors.family =
        counter("lifeboat_reconcile_errors_total", "Reconciles that returned an error.");
    reconcile_duration.family =
        histogram("lifeboat_reconcile_duration_seconds", "Time spent in one reconcile.");
    queue_depth.family = gauge("lifeboat_workqueue_depth", "Keys waiting in a controller's queue.");
    backups_total.family = counter("lifeboat_backup_total", "Finished backups by result.");
    backup_duration.family =
        histogram("lifeboat_backup_duration_seconds", "Wall time of finished backups.");
    backup_read.family = counter("lifeboat_backup_read_bytes_total", "Bytes read from volumes.");
    backup_uploaded.family =
        counter("lifeboat_vault_uploaded_bytes_total", "Bytes written to vault storage by backups.");
    restores_total.family = counter("lifeboat_restore_total", "Finished restores by result.");
    restore_duration.family =
        histogram("lifeboat_restore_duration_seconds", "Wall time of finished restores.");
    restore_bytes.family =
        counter("lifeboat_restore_bytes_total", "Bytes written to restore targets.");
    vault_logical.family = gauge("lifeboat_vault_logical_bytes",
                                 "Logical size of all recovery points in a vault.");
    vault_stored.family = gauge("lifeboat_vault_stored_bytes", "Bytes a vault occupies in storage.");
    vault_dedup.family =
        gauge("lifeboat_vault_dedup_ratio", "Logical bytes divided by stored bytes.");
    vault_ready.family = gauge("lifeboat_vault_ready", "1 when the vault is usable, else 0.");
    vault_secondary_lag.family =
        gauge("lifeboat_vault_secondary_lag_seconds",
              "How far a vault's secondary copy is behind its primary, in seconds.");
    replication_lag.family = gauge("lifeboat_replication_lag_seconds",
                                   "Age of the newest recovery point at the target site.");
    replication_sent.family =
        counter("lifeboat_replication_sent_bytes_total", "Bytes sent to the target site.");
    site_reachable.family = gauge("lifeboat_site_reachable", "1 when the site answers, else 0.");
    failover_rto.family = gauge("lifeboat_failover_rto_seconds",
                                "Recovery time achieved by the last failover of a plan.");
  }

  // ApiServerRecorder
  void ObserveRequest(std::string_view verb, std::string_view group, std::string_view resource,
                      std::string_view subresource, int code, double seconds) override {
    std::string code_text = std::to_string(code);
    std::string key;
    key.reserve(verb.size() + group.size() + resource.size() + subresource.size() + 8);
    key.append(verb).append(1, '\0').append(group).append(1, '\0').append(resource);
    key.append(1, '\0').append(subresource).append(1, '\0').append(code_text);
    std::lock_guard<std::mutex> l(request_mu);
    auto counter = request_counters.find(key);
    if (counter == request_counters.end()) {
      Counter& c = request_total->Add({{"verb", std::string(verb)},
                                       {"group", std::string(group)},
                                       {"resource", std::string(resource)},
                                       {"subresource", std::string(subresource)},
                                       {"code", code_text}});
      counter = request_counters.emplace(std::move(key), &c).first;
    }
    counter->second->Increment();
    if (verb == "WATCH") {
      return;
    }
    auto histogram = request_histograms.find(std::string(verb));
    if (histogram == request_histograms.end()) {
      Histogram& h = request_duration->Add({{"verb", std::string(verb)}}, kRequestBuckets);
      histogram = request_histograms.emplace(std::string(verb), &h).first;
    }
    histogram->second->Observe(seconds);
  }
  void SetFiguresSource(std::function<ApiServerFigures()> source) override {
    apiserver_gauges->SetSource(std::move(source));
  }

  // RpoRecorder
  void SetTarget(const PolicyLabels& p, double target_seconds) override {
    std::lock_guard<std::mutex> l(mu);
    rpo_target.Get(PolicyLabelSet(p)).Set(target_seconds);
  }
  void SetLastRecoveryPoint(const PolicyLabels& p, double unix_seconds) override {
    std::lock_guard<std::mutex> l(mu);
    last_point.Get(PolicyLabelSet(p)).Set(unix_seconds);
  }
  void SetVolumeProtected(const PolicyLabels& p, const std::string& volume,
                          bool is_protected) override {
    std::lock_guard<std::mutex> l(mu);
    Labels labels = PolicyLabelSet(p);
    labels["volume"] = volume;
    volume_protected.Get(labels).Set(is_protected ? 1 : 0);
  }
  void Remove(const PolicyLabels& p) override {
    std::lock_guard<std::mutex> l(mu);
    Labels match = PolicyLabelSet(p);
    rpo_target.Remove(match);
    last_point.Remove(match);
    volume_protected.Remove(match);
  }

  // ReconcileRecorder
  void ObserveReconcile(const std::string& controller, const std::string& result,
                        double seconds) override {
    std::lock_guard<std::mutex> l(mu);
    reconcile_total.Get({{"controller", controller}, {"result", result}}).Increment();
    if (result == "error") {
      reconcile_errors.Get({{"controller", controller}}).Increment();
    }
    reconcile_duration.GetHistogram({{"controller", controller}}, kReconcileBuckets)
        .Observe(seconds);
  }
  void SetQueueDepth(const std::string& controller, double depth) override {
    std::lock_guard<std::mutex> l(mu);
    queue_depth.Get({{"controller", controller}}).Set(depth);
  }

  // BackupRecorder
  void ObserveBackup(const BackupOutcome& o) override {
    std::lock_guard<std::mutex> l(mu);
    Labels policy = {{"namespace", o.namespace_}, {"policy", o.policy}};
    Labels with_result = policy;
    with_result["result"] = o.result;
    backups_total.Get(with_result).Increment();
    backup_duration.GetHistogram(policy, kOperationBuckets).Observe(o.duration_seconds);
    backup_read.Get(policy).Increment(o.bytes_read);
    backup_uploaded.Get(policy).Increment(o.bytes_uploaded);
  }
  void InitPolicy(const std::string& ns, const std::string& policy) override {
    std::lock_guard<std::mutex> l(mu);
    for (const char* result : {"completed", "partially_failed", "failed"}) {
      backups_total.Get({{"namespace", ns}, {"policy", policy}, {"result", result}});
    }
  }
  void InitRestores(const std::string& ns) override {
    std::lock_guard<std::mutex> l(mu);
    for (const char* result : {"completed", "failed"}) {
      restores_total.Get({{"namespace", ns}, {"result", result}});
    }
  }
  void ObserveRestore(const std::string& ns, const std::string& result, double duration_seconds,
                      double bytes_restored) override {
    std::lock_guard<std::mutex> l(mu);
    restores_total.Get({{"namespace", ns}, {"result", result}}).Increment();
    restore_duration.GetHistogram({{"namespace", ns}}, kOperationBuckets).Observe(duration_seconds);
    restore_bytes.Get({{"namespace", ns}}).Increment(bytes_restored);
  }
  void SetVaultFigures(const std::string& ns, const std::string& vault, double logical_bytes,
                       double stored_bytes, double dedup_ratio, bool ready) override {
    std::lock_guard<std::mutex> l(mu);
    Labels labels = {{"namespace", ns}, {"vault", vault}};
    vault_logical.Get(labels).Set(logical_bytes);
    vault_stored.Get(labels).Set(stored_bytes);
    vault_dedup.Get(labels).Set(dedup_ratio);
    vault_ready.Get(labels).Set(ready ? 1 : 0);
  }
  void SetVaultSecondaryLag(const std::string& ns, const std::string& vault,
                            double seconds) override {
    std::lock_guard<std::mutex> l(mu);
    vault_secondary_lag.Get({{"namespace", ns}, {"vault", vault}}).Set(seconds);
  }
  void RemoveVault(const std::string& ns, const std::string& vault) override {
    std::lock_guard<std::mutex> l(mu);
    Labels match = {{"namespace", ns}, {"vault", vault}};
    vault_secondary_lag.Remove(match);
    vault_logical.Remove(match);
    vault_stored.Remove(match);
    vault_dedup.Remove(match);
    vault_ready.Remove(match);
  }
  void RemovePolicy(const std::string& ns, const std::string& policy) override {
    std::lock_guard<std::mutex> l(mu);
    Labels match = {{"namespace", ns}, {"policy", policy}};
    backups_total.Remove(match);
    backup_duration.Remove(match);
    backup_read.Remove(match);
    backup_uploaded.Remove(match);
    replication_lag.Remove(match);
    replication_sent.Remove(match);
  }

  // ReplicationRecorder
  void SetLag(const std::string& ns, const std::string& policy, double seconds) override {
    std::lock_guard<std::mutex> l(mu);
    replication_lag.Get({{"namespace", ns}, {"policy", policy}}).Set(seconds);
  }
  void AddBytesSent(const std::string& ns, const std::string& policy, double bytes) override {
    std::lock_guard<std::mutex> l(mu);
    replication_sent.Get({{"namespace", ns}, {"policy", policy}}).Increment(bytes);
  }
  void SetSiteReachable(const std::string& ns, const std::string& site, bool reachable) override {
    std::lock_guard<std::mutex> l(mu);
    site_reachable.Get({{"namespace", ns}, {"site", site}}).Set(reachable ? 1 : 0);
  }
  void ObserveFailoverRto(const std::string& ns, const std::string& plan, const std::string& type,
                          double seconds) override {
    std::lock_guard<std::mutex> l(mu);
    failover_rto.Get({{"namespace", ns}, {"plan", plan}, {"type", type}}).Set(seconds);
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

RpoRecorder& Metrics::rpo() { return *impl_; }
ReconcileRecorder& Metrics::reconcile() { return *impl_; }
BackupRecorder& Metrics::backup() { return *impl_; }
ReplicationRecorder& Metrics::replication() { return *impl_; }
ApiServerRecorder& Metrics::apiserver() { return *impl_; }

std::string Metrics::Exposition() const {
  prometheus::TextSerializer serializer;
  std::ostringstream out;
  auto families = impl_->registry->Collect();
  for (auto& family : impl_->apiserver_gauges->Collect()) {
    families.push_back(std::move(family));
  }
  serializer.Serialize(out, families);
  return out.str();
}

namespace {

class ExposerServer final : public MetricsServer {
 public:
  ExposerServer(std::unique_ptr<prometheus::Exposer> exposer) : exposer_(std::move(exposer)) {}
  int port() const override {
    auto ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(Metrics& metrics,
                                                              const std::string& bind_address) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(bind_address, 2);
    exposer->RegisterCollectable(metrics.impl().registry);
    exposer->RegisterCollectable(metrics.impl().apiserver_gauges);
    return std::unique_ptr<MetricsServer>(std::make_unique<ExposerServer>(std::move(exposer)));
  } catch (const std::exception& e) {
    return UnavailableError("--metrics-bind-address " + bind_address +
                            ": cannot listen: " + e.what());
  }
}

}  // namespace lifeboat::metrics
