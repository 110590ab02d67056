// kiln-scheduler: the farm's scheduler process. Flags only here; everything
// else is SchedulerServer and its Options.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/flag_names.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "common/task_catalog.h"
#include "scheduler/core/sharing_policy.h"
#include "scheduler/metrics/scheduler_metrics.h"
#include "scheduler/rpc/scheduler_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070", "gRPC address to listen on (port 0: any free)");
ABSL_FLAG(std::string, data_dir, "", "Directory for the RocksDB store and blob files (required)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port for Prometheus /metrics (empty: no metrics endpoint)");
ABSL_FLAG(std::string, http_listen, "",
          "host:port for the web dashboard and its JSON API (docs/dashboard.md; empty: off). "
          "Plaintext HTTP: keep it on loopback or behind a TLS proxy");
ABSL_FLAG(std::string, http_port_file, "",
          "Write the dashboard's bound port here once serving (with --http-listen port 0)");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound port here once serving (for scripts and tests using port 0)");
ABSL_FLAG(absl::Duration, lease_duration, absl::Seconds(30),
          "How long a lease lasts without a heartbeat");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(5), "How often workers heartbeat");
ABSL_FLAG(absl::Duration, retry_backoff, absl::Seconds(1), "First retry backoff (doubles)");
ABSL_FLAG(absl::Duration, retry_backoff_max, absl::Seconds(60), "Largest retry backoff");
ABSL_FLAG(int, default_max_attempts, 3, "Attempts of a job that does not say");
ABSL_FLAG(int64_t, max_blob_bytes, int64_t{2} << 30, "Largest blob PutBlob accepts");
ABSL_FLAG(int, max_mesh_resolution, 512, "Largest mesh.extract resolution accepted at submit");
ABSL_FLAG(std::string, log_format, "text",
          "Log lines as text (glog-like) or json (one object a line)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve TLS on --listen (with --tls-key). Production should "
          "always pass it; see docs/operations.md, TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert (unencrypted)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates: require every caller (workers, kilnctl, SDK) to present a client "
          "certificate signed by one of them (mutual TLS on the whole port)");
ABSL_FLAG(bool, plaintext, false,
          "Serve without TLS, on purpose. Today plaintext is also what happens without "
          "--tls-cert; a later release will require this flag for it");
ABSL_FLAG(std::string, health_listen, "",
          "Also serve grpc.health.v1 alone, in plaintext, on this HOST:PORT (for Kubernetes "
          "gRPC probes, which cannot speak TLS); empty: off");
ABSL_FLAG(std::string, auth_tokens, "",
          "Token file (JSON: {\"tokens\": [{\"name\", \"sha256\", \"tenant\", \"role\": "
          "user|admin|worker, \"worker_ids\"}]}) holding SHA-256 hashes of bearer tokens "
          "(printf %s \"$TOKEN\" | sha256sum). Every call must then carry a known token; users "
          "see only their tenant's jobs and blobs. Reloaded on SIGHUP. Empty: no "
          "authentication (everyone is an admin of tenant \"default\"); see "
          "docs/operations.md, Tokens and tenants");
ABSL_FLAG(int64_t, max_queued_per_tenant, 100000,
          "Jobs of one tenant that may be queued or running at once; more submits are refused "
          "with RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, sharing_policy, "",
          "Sharing policy file (JSON of kiln.v1.SharingPolicy: {\"tenants\": [{\"tenant\", "
          "\"weight\", \"max_running\"}], \"label_limits\": [{\"key\", \"value\", "
          "\"max_running\"}]}): weighted fair share between tenants and concurrency limits. "
          "Reloaded on SIGHUP. Empty: every tenant weight 1, no limits; see docs/pipelines.md, "
          "Sharing");
ABSL_FLAG(absl::Duration, preempt_after, absl::ZeroDuration(),
          "Preemption: a ready job that has waited this long, with no free slot that can run "
          "it, ends the attempt of lower-priority work on a slot that can (the victim is "
          "requeued, its attempt not counted) and gets that slot. 0: never preempt");
ABSL_FLAG(int, preempt_min_priority_gap, 1,
          "How much higher than its victim's a job's priority must be to preempt it (>= 1)");
ABSL_FLAG(bool, preempt_across_tenants, false,
          "Let a job preempt other tenants' lower-priority work (default: its own tenant's "
          "only, as priorities are set per tenant)");
ABSL_FLAG(uint64_t, store_size_limit, 0,
          "Bytes the store should stay under, exported as kiln_store_size_limit_bytes for alerts "
          "(0: none)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("kiln-scheduler --data-dir=DIR [--listen=HOST:PORT]");
  // Debian's Abseil builds check lock order on every Mutex::Lock; the cost shows in
  // profiles and the code is covered by tests and lock annotations instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  kiln::NormalizeFlagDashes(argc, argv);
  absl::ParseCommandLine(argc, argv);
  kiln::BlockStopSignals();
  {
    // SIGHUP reloads the token file and the sharing policy; a thread below waits for it.
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, nullptr);
  }
  absl::StatusOr<kiln::LogFormat> log_format =
      kiln::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) {
    std::fprintf(stderr, "kiln-scheduler: %s\n",
                 std::string(log_format.status().message()).c_str());
    return 2;
  }
  kiln::SetLogFormat(*log_format);

  kiln::rpc::SchedulerServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  if (absl::GetFlag(FLAGS_plaintext) && options.tls.active()) {
    std::fprintf(stderr,
                 "kiln-scheduler: --plaintext contradicts --tls-cert/--tls-key/--tls-client-ca\n");
    return 2;
  }
  options.scheduler.lease_duration = absl::GetFlag(FLAGS_lease_duration);
  options.scheduler.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  options.scheduler.retry_backoff_initial = absl::GetFlag(FLAGS_retry_backoff);
  options.scheduler.retry_backoff_max = absl::GetFlag(FLAGS_retry_backoff_max);
  options.scheduler.default_max_attempts = absl::GetFlag(FLAGS_default_max_attempts);
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens);
  options.scheduler.max_queued_per_tenant = absl::GetFlag(FLAGS_max_queued_per_tenant);
  if (options.scheduler.max_queued_per_tenant < 1) {
    std::fprintf(stderr, "kiln-scheduler: --max-queued-per-tenant must be at least 1\n");
    return 2;
  }
  const std::string sharing_file = absl::GetFlag(FLAGS_sharing_policy);
  if (!sharing_file.empty()) {
    absl::StatusOr<kiln::core::SharingPolicy> sharing =
        kiln::core::SharingPolicy::Load(sharing_file);
    if (!sharing.ok()) {
      std::fprintf(stderr, "kiln-scheduler: --sharing-policy: %s\n",
                   std::string(sharing.status().message()).c_str());
      return 2;
    }
    options.scheduler.sharing = *std::move(sharing);
  }
  options.scheduler.preemption_grace = absl::GetFlag(FLAGS_preempt_after);
  options.scheduler.preemption_min_priority_gap = absl::GetFlag(FLAGS_preempt_min_priority_gap);
  options.scheduler.preemption_across_tenants = absl::GetFlag(FLAGS_preempt_across_tenants);
  if (options.scheduler.preemption_grace < absl::ZeroDuration()) {
    std::fprintf(stderr, "kiln-scheduler: --preempt-after must not be negative\n");
    return 2;
  }
  if (options.scheduler.preemption_min_priority_gap < 1) {
    std::fprintf(stderr, "kiln-scheduler: --preempt-min-priority-gap must be at least 1\n");
    return 2;
  }
  options.scheduler.limits.tasks.max_mesh_resolution = absl::GetFlag(FLAGS_max_mesh_resolution);
  options.jobs.max_blob_bytes = absl::GetFlag(FLAGS_max_blob_bytes);
  options.http.listen = absl::GetFlag(FLAGS_http_listen);
  const int max_resolution = kiln::TaskLimits::Ceiling().max_mesh_resolution;
  if (options.scheduler.limits.tasks.max_mesh_resolution < 8 ||
      options.scheduler.limits.tasks.max_mesh_resolution > max_resolution) {
    std::fprintf(stderr, "kiln-scheduler: --max-mesh-resolution must be 8..%d\n", max_resolution);
    return 2;
  }
  if (options.data_dir.empty()) {
    std::fprintf(stderr, "kiln-scheduler: --data-dir is required\n");
    return 2;
  }
  // Metrics first: their hooks go into the scheduler's and the committer's options.
  std::unique_ptr<kiln::metrics::SchedulerMetrics> metrics;
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    kiln::metrics::SchedulerMetricsOptions metrics_options;
    metrics_options.listen = absl::GetFlag(FLAGS_metrics_listen);
    metrics_options.data_dir = options.data_dir;
    metrics_options.store_size_limit_bytes = absl::GetFlag(FLAGS_store_size_limit);
    auto created = kiln::metrics::SchedulerMetrics::Create(metrics_options);
    if (!created.ok()) {
      KILN_LOG(ERROR) << "kiln-scheduler: " << created.status();
      return 1;
    }
    metrics = *std::move(created);
    options.scheduler.observer = metrics->observer();
    options.committer.on_write = metrics->store_write_observer();
  }
  auto server = kiln::rpc::SchedulerServer::Create(options);
  if (!server.ok()) {
    KILN_LOG(ERROR) << "kiln-scheduler: " << server.status();
    return 1;
  }
  if (metrics != nullptr) metrics->Attach(&(*server)->scheduler(), &(*server)->store());
  const int port = (*server)->port();
  // Written whole (temp file, rename) so that a reader never sees half a number.
  auto write_port_file = [](const std::string& path, int value) {
    {
      std::ofstream out(path + ".tmp");
      out << value << "\n";
    }
    std::rename((path + ".tmp").c_str(), path.c_str());
  };
  if (!absl::GetFlag(FLAGS_http_port_file).empty()) {
    write_port_file(absl::GetFlag(FLAGS_http_port_file), (*server)->http_port());
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    write_port_file(absl::GetFlag(FLAGS_port_file), port);
  }
  if (!options.tls.active() && !kiln::rpc::IsLoopbackListenAddress(options.listen)) {
    // Plaintext stays the default for now (scripts, charts and tests rely on it), but
    // nobody should run it on a network by accident.
    KILN_LOG(WARNING) << "kiln-scheduler: serving PLAINTEXT gRPC on " << options.listen
                      << ": jobs, blobs and tokens cross the network unencrypted. Pass "
                         "--tls-cert and --tls-key (and --tls-client-ca for workers) in "
                         "production; see docs/operations.md, TLS"
                      << (absl::GetFlag(FLAGS_plaintext)
                              ? ""
                              : " (--plaintext says this is intended; it will be required "
                                "for plaintext in a later release)");
  }
  if (options.auth_tokens_file.empty() && !kiln::rpc::IsLoopbackListenAddress(options.listen)) {
    KILN_LOG(WARNING) << "kiln-scheduler: no --auth-tokens: anyone who reaches " << options.listen
                      << " is an admin (submits, cancels and reads every job and blob, and "
                         "can register as a worker). Pass --auth-tokens in production; see "
                         "docs/operations.md, Tokens and tenants";
  }
  KILN_LOG(INFO) << "kiln-scheduler: serving on port " << port
                 << (options.tls.active()
                         ? (options.tls.client_ca_file.empty() ? " (TLS)" : " (mutual TLS)")
                         : " (plaintext)")
                 << (options.auth_tokens_file.empty() ? ", no authentication"
                                                      : ", tokens from " + options.auth_tokens_file)
                 << ", data in " << options.data_dir
                 << ((*server)->health_port() != 0
                         ? absl::StrCat(", health on port ", (*server)->health_port())
                         : "")
                 << (metrics != nullptr ? absl::StrCat(", metrics on port ", metrics->port()) : "")
                 << ((*server)->http_port() != 0
                         ? absl::StrCat(
                               ", dashboard on http://",
                               options.http.listen.substr(0, options.http.listen.rfind(':')), ":",
                               (*server)->http_port(), "/")
                         : "");
  kiln::rpc::SchedulerServer* raw = server->get();
  std::atomic<bool> stopping{false};
  std::thread reloader;
  if (!options.auth_tokens_file.empty() || !sharing_file.empty()) {
    reloader = std::thread([raw, &stopping, file = options.auth_tokens_file, sharing_file] {
      pthread_setname_np(pthread_self(), "sighup");
      sigset_t hup;
      sigemptyset(&hup);
      sigaddset(&hup, SIGHUP);
      while (true) {
        int signal = 0;
        if (sigwait(&hup, &signal) != 0 || stopping.load()) return;
        if (file.empty()) {
        } else if (absl::Status reloaded = raw->ReloadAuthTokens(); reloaded.ok()) {
          KILN_LOG(INFO) << "kiln-scheduler: SIGHUP: reloaded tokens from " << file;
        } else {
          KILN_LOG(ERROR) << "kiln-scheduler: SIGHUP: kept the old tokens: " << reloaded;
        }
        if (sharing_file.empty()) continue;
        if (absl::StatusOr<kiln::core::SharingPolicy> sharing =
                kiln::core::SharingPolicy::Load(sharing_file);
            sharing.ok()) {
          raw->scheduler().SetSharingPolicy(*std::move(sharing));
          KILN_LOG(INFO) << "kiln-scheduler: SIGHUP: reloaded the sharing policy from "
                         << sharing_file;
        } else {
          KILN_LOG(ERROR) << "kiln-scheduler: SIGHUP: kept the old sharing policy: "
                          << sharing.status();
        }
      }
    });
  }
  std::thread([raw] {
    pthread_setname_np(pthread_self(), "signal");
    const int signal = kiln::WaitForStopSignal();
    KILN_LOG(INFO) << "kiln-scheduler: signal " << signal << ", shutting down";
    raw->Shutdown();
  }).detach();
  (*server)->Wait();
  if (reloader.joinable()) {
    stopping.store(true);
    pthread_kill(reloader.native_handle(), SIGHUP);  // wakes its sigwait
    reloader.join();
  }
  // Scrapes read the scheduler and the scheduler calls the metrics' observer: stop
  // serving scrapes, then stop the scheduler, then drop the metrics.
  if (metrics != nullptr) metrics->StopServing();
  server->reset();
  metrics.reset();
  KILN_LOG(INFO) << "kiln-scheduler: stopped";
  return 0;
}
