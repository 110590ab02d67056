// TLS on the scheduler's port, end to end with real processes on loopback: kiln-scheduler
// with --tls-cert/--tls-key (and --tls-client-ca for mutual TLS), kiln-worker with
// --tls-ca (and a client certificate), the SDK and kilnctl. Certificates are made for each
// test with the openssl CLI: a CA, a server certificate for localhost and 127.0.0.1, a
// client certificate, and a second CA that signed none of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "scheduler/rpc/server_credentials.h"
#include "tests/support/local_farm.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

// The openssl CLI, bounded; fails the test with its output when it fails.
void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult result = RunCommand(argv, absl::Seconds(30));
  ASSERT_EQ(result.exit_code, 0) << absl::StrJoin(argv, " ") << "\n" << result.err;
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// PEM files under `dir`: ca.pem, server.pem/.key (localhost, 127.0.0.1), client.pem/.key
// (signed by ca), and other-ca.pem with other-client.pem/.key signed by it.
struct TestCertificates {
  explicit TestCertificates(const std::string& dir) : dir(dir) {}
  std::string dir;
  std::string Path(const std::string& name) const { return dir + "/" + name; }

  void Make() {
    MakeCa("ca");
    MakeCa("other-ca");
    MakeLeaf("server", "ca", "localhost",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    MakeLeaf("client", "ca", "worker-1", "extendedKeyUsage=clientAuth\n");
    MakeLeaf("other-client", "other-ca", "intruder", "extendedKeyUsage=clientAuth\n");
  }

 private:
  // EC keys: quick to make, and what gRPC's TLS stack handles like RSA.
  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", Path(name + ".key"), "-out", Path(name + ".pem"), "-days", "2", "-subj",
             "/CN=kiln-test-" + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  }
  void MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& extensions) {
    Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj", "/CN=" + cn});
    WriteFile(Path(name + ".ext"), extensions);
    Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(ca + ".pem"), "-CAkey",
             Path(ca + ".key"), "-CAcreateserial", "-out", Path(name + ".pem"), "-days", "2",
             "-extfile", Path(name + ".ext")});
  }
};

// A failed TLS handshake, as gRPC words it in the status a caller gets.
bool MentionsHandshakeOrCertificate(absl::string_view message) {
  const std::string lower = absl::AsciiStrToLower(message);
  return absl::StrContains(lower, "handshake") || absl::StrContains(lower, "certificate") ||
         absl::StrContains(lower, "ssl") || absl::StrContains(lower, "tls");
}

kiln::v1::JobSpec SleepSpec() {
  kiln::v1::JobSpec spec;
  spec.set_task("debug.sleep");
  google::protobuf::util::JsonStringToMessage(R"({"seconds":0.1})", spec.mutable_parameters());
  return spec;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_.Make();
    ASSERT_FALSE(HasFatalFailure());
  }

  std::vector<std::string> ServerFlags(bool mutual) const {
    std::vector<std::string> flags = {"--tls-cert=" + certs_.Path("server.pem"),
                                      "--tls-key=" + certs_.Path("server.key")};
    if (mutual) flags.push_back("--tls-client-ca=" + certs_.Path("ca.pem"));
    return flags;
  }

  // A client that fails fast: one attempt, short deadline.
  absl::StatusOr<std::unique_ptr<Client>> NewClient(const ClientTlsOptions& tls,
                                                    int max_retries = 0) {
    ClientOptions options;
    options.address = farm_.address();
    options.tls = tls;
    options.max_retries = max_retries;
    options.default_deadline = absl::Seconds(10);
    return Client::Create(options);
  }

  LocalFarm farm_;
  TestCertificates certs_{farm_.dir()};
};

TEST_F(TlsTest, WorkerWithCaRunsAJobAndTheSdkWaitsForIt) {
  ASSERT_TRUE(farm_.StartScheduler(ServerFlags(/*mutual=*/false)).ok());
  // The port file comes first, then the log line.
  EXPECT_TRUE(WaitUntil([&] { return absl::StrContains(farm_.Log("scheduler.log"), "(TLS)"); },
                        absl::Seconds(10)))
      << farm_.Log("scheduler.log");
  ASSERT_TRUE(farm_.StartWorker(0, 1, {"--tls-ca=" + certs_.Path("ca.pem")}).ok());

  ClientTlsOptions tls;
  tls.ca_file = certs_.Path("ca.pem");
  auto client = NewClient(tls, /*max_retries=*/5);
  ASSERT_TRUE(client.ok()) << client.status();
  auto job = (*client)->Submit(SleepSpec());
  ASSERT_TRUE(job.ok()) << job.status();
  auto done = (*client)->Wait(job->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status() << farm_.Log("worker-0.log");
  EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED) << done->DebugString();
  EXPECT_EQ(done->attempts_size() > 0 ? done->attempts(done->attempts_size() - 1).worker_id() : "",
            "worker-0");

  // The CA given as PEM text instead of a file.
  ClientTlsOptions inline_ca;
  inline_ca.ca_pem = ReadFileOrEmpty(certs_.Path("ca.pem"));
  auto inline_client = NewClient(inline_ca);
  ASSERT_TRUE(inline_client.ok()) << inline_client.status();
  EXPECT_TRUE((*inline_client)->Get(job->id()).ok());

  // kilnctl: the CA from the flag, and from KILN_TLS_CA.
  CommandResult get =
      farm_.Kilnctl({"get", job->id(), "-o", "json", "--tls-ca", certs_.Path("ca.pem")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("JOB_STATE_SUCCEEDED"));
  // Environment and config file, in kilnctl_config's order: the environment's right CA
  // beats the file's wrong one; the file alone must be right.
  const std::string config = certs_.Path("kilnctl.yaml");
  auto kilnctl_with = [&](const std::string& config_text, std::vector<std::string> env) {
    WriteFile(config, config_text);
    env.push_back("KILN_ADDR=" + farm_.address());
    env.push_back("KILN_CONFIG=" + config);
    return RunCommand({BinaryPath("kilnctl"), "get", job->id(), "-o", "json", "--timeout", "5s"},
                      absl::Seconds(60), env);
  };
  const std::string wrong_ca_in_file = "tls-ca: " + certs_.Path("other-ca.pem") + "\n";
  CommandResult env_wins = kilnctl_with(wrong_ca_in_file, {"KILN_TLS_CA=" + certs_.Path("ca.pem")});
  EXPECT_EQ(env_wins.exit_code, 0) << env_wins.err;
  CommandResult file_only = kilnctl_with(wrong_ca_in_file, {});
  EXPECT_EQ(file_only.exit_code, 6) << file_only.err;
  CommandResult file_right = kilnctl_with("tls-ca: " + certs_.Path("ca.pem") + "\n", {});
  EXPECT_EQ(file_right.exit_code, 0) << file_right.err;
}

TEST_F(TlsTest, ClientsWithoutTheRightCaFailWithUnavailable) {
  ASSERT_TRUE(farm_.StartScheduler(ServerFlags(/*mutual=*/false)).ok());

  ClientTlsOptions wrong_ca;
  wrong_ca.ca_file = certs_.Path("other-ca.pem");
  ClientTlsOptions default_roots;  // TLS, but the system's roots: our CA is not among them.
  default_roots.enabled = true;
  for (const ClientTlsOptions& tls : {wrong_ca, default_roots}) {
    auto client = NewClient(tls);
    ASSERT_TRUE(client.ok()) << client.status();
    auto workers = (*client)->ListWorkers();
    ASSERT_FALSE(workers.ok());
    EXPECT_EQ(workers.status().code(), absl::StatusCode::kUnavailable) << workers.status();
    EXPECT_TRUE(MentionsHandshakeOrCertificate(workers.status().message())) << workers.status();
  }
  // Plaintext against a TLS port gets nowhere either.
  auto plaintext = NewClient(ClientTlsOptions());
  ASSERT_TRUE(plaintext.ok());
  EXPECT_EQ((*plaintext)->ListWorkers().status().code(), absl::StatusCode::kUnavailable);

  // kilnctl with the wrong CA: exit 6 (unavailable) and a message about the handshake.
  CommandResult wrong =
      farm_.Kilnctl({"workers", "--tls-ca", certs_.Path("other-ca.pem"), "--timeout", "5s"});
  EXPECT_EQ(wrong.exit_code, 6) << wrong.out << wrong.err;
  EXPECT_TRUE(MentionsHandshakeOrCertificate(wrong.err)) << wrong.err;

  // The right CA, dialled by IP with the certificate's DNS name as the expected name:
  // accepted; a name the certificate does not carry: refused.
  ClientTlsOptions named;
  named.ca_file = certs_.Path("ca.pem");
  named.server_name = "localhost";
  auto good = NewClient(named);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE((*good)->ListWorkers().ok());
  named.server_name = "scheduler.example.com";
  auto misnamed = NewClient(named);
  ASSERT_TRUE(misnamed.ok());
  auto refused = (*misnamed)->ListWorkers();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
}

TEST_F(TlsTest, MutualTlsAdmitsOnlyWorkersWithAClientCertificate) {
  ASSERT_TRUE(farm_.StartScheduler(ServerFlags(/*mutual=*/true)).ok());
  EXPECT_TRUE(
      WaitUntil([&] { return absl::StrContains(farm_.Log("scheduler.log"), "(mutual TLS)"); },
                absl::Seconds(10)))
      << farm_.Log("scheduler.log");
  const std::string ca = "--tls-ca=" + certs_.Path("ca.pem");
  ASSERT_TRUE(farm_.StartWorker(0, 1, {ca}).ok());
  ASSERT_TRUE(farm_
                  .StartWorker(1, 1,
                               {ca, "--tls-cert=" + certs_.Path("client.pem"),
                                "--tls-key=" + certs_.Path("client.key")})
                  .ok());
  ASSERT_TRUE(farm_
                  .StartWorker(2, 1,
                               {ca, "--tls-cert=" + certs_.Path("other-client.pem"),
                                "--tls-key=" + certs_.Path("other-client.key")})
                  .ok());

  ClientTlsOptions tls;
  tls.ca_file = certs_.Path("ca.pem");
  tls.cert_file = certs_.Path("client.pem");
  tls.key_file = certs_.Path("client.key");
  auto client = NewClient(tls, /*max_retries=*/3);
  ASSERT_TRUE(client.ok()) << client.status();
  auto registered = [&](const std::string& id) {
    auto workers = (*client)->ListWorkers();
    if (!workers.ok()) return false;
    for (const v1::WorkerInfo& w : *workers) {
      if (w.id() == id) return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitUntil([&] { return registered("worker-1"); }, absl::Seconds(60)))
      << farm_.Log("worker-1.log");
  // The others have tried by now (they start registering before worker-1 can finish)
  // and keep being refused; wait for their logs to say so.
  for (const std::string name : {"worker-0", "worker-2"}) {
    EXPECT_TRUE(WaitUntil(
        [&] { return absl::StrContains(farm_.Log(name + ".log"), "cannot register with"); },
        absl::Seconds(30)))
        << farm_.Log(name + ".log");
    EXPECT_FALSE(registered(name)) << farm_.Log(name + ".log");
  }

  // A job runs on the admitted worker.
  auto job = (*client)->Submit(SleepSpec());
  ASSERT_TRUE(job.ok()) << job.status();
  auto done = (*client)->Wait(job->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), kiln::v1::JOB_STATE_SUCCEEDED);

  // The SDK without a client certificate is refused as the worker was.
  ClientTlsOptions no_cert;
  no_cert.ca_file = certs_.Path("ca.pem");
  auto anonymous = NewClient(no_cert);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ((*anonymous)->ListWorkers().status().code(), absl::StatusCode::kUnavailable);
  // kilnctl with one is admitted.
  CommandResult get =
      farm_.Kilnctl({"workers", "--tls-ca", certs_.Path("ca.pem"), "--tls-cert",
                     certs_.Path("client.pem"), "--tls-key", certs_.Path("client.key")});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("worker-1"));
}

// Runs kiln-scheduler with `flags` (on a free loopback port) to its exit.
CommandResult RunScheduler(const std::string& data_dir, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {BinaryPath("kiln-scheduler"), "--listen=127.0.0.1:0",
                                   "--data-dir=" + data_dir};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return RunCommand(argv, absl::Seconds(30));
}

TEST_F(TlsTest, BadCertificateFilesAreStartupErrorsNamingTheFile) {
  const std::string data = farm_.dir() + "/data";
  const std::string missing = certs_.Path("missing.pem");
  const std::string garbage = certs_.Path("garbage.pem");
  WriteFile(garbage, "this is not a certificate\n");
  struct Case {
    std::vector<std::string> flags;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert=" + missing, "--tls-key=" + certs_.Path("server.key")},
       "--tls-cert " + missing + ": cannot read"},
      {{"--tls-cert=" + certs_.Path("server.pem"), "--tls-key=" + missing},
       "--tls-key " + missing + ": cannot read"},
      {{"--tls-cert=" + garbage, "--tls-key=" + certs_.Path("server.key")},
       "--tls-cert " + garbage + ": no PEM certificate"},
      {{"--tls-cert=" + certs_.Path("server.pem"), "--tls-key=" + certs_.Path("client.key")},
       "--tls-key " + certs_.Path("client.key") +
           ": the private key does not belong to the certificate"},
      {{"--tls-cert=" + certs_.Path("server.pem"), "--tls-key=" + certs_.Path("server.key"),
        "--tls-client-ca=" + garbage},
       "--tls-client-ca " + garbage + ": no PEM certificate"},
      {{"--tls-cert=" + certs_.Path("server.pem")}, "needs both --tls-cert and --tls-key"},
      {{"--plaintext", "--tls-cert=" + certs_.Path("server.pem"),
        "--tls-key=" + certs_.Path("server.key")},
       "--plaintext contradicts"},
  };
  for (const Case& c : cases) {
    const CommandResult result = RunScheduler(data, c.flags);
    EXPECT_NE(result.exit_code, 0) << absl::StrJoin(c.flags, " ");
    EXPECT_NE(result.exit_code, 124) << "timed out: " << absl::StrJoin(c.flags, " ");
    EXPECT_THAT(result.err, HasSubstr(c.expected)) << absl::StrJoin(c.flags, " ");
  }

  // The worker: before any executor starts.
  const CommandResult worker =
      RunCommand({BinaryPath("kiln-worker"), "--scheduler=127.0.0.1:1",
                  "--work-dir=" + farm_.dir() + "/w", "--gpus=none", "--tls-ca=" + missing},
                 absl::Seconds(30));
  EXPECT_EQ(worker.exit_code, 1) << worker.err;
  EXPECT_THAT(worker.err, HasSubstr(missing + ": cannot read"));
  const CommandResult half = RunCommand(
      {BinaryPath("kiln-worker"), "--scheduler=127.0.0.1:1", "--work-dir=" + farm_.dir() + "/w",
       "--gpus=none", "--tls-cert=" + certs_.Path("client.pem")},
      absl::Seconds(30));
  EXPECT_EQ(half.exit_code, 1) << half.err;
  EXPECT_THAT(half.err, HasSubstr("give both or neither"));

  // The SDK: Create fails by name.
  ClientTlsOptions bad_inline;
  bad_inline.ca_pem = "not a certificate";
  auto sdk = NewClient(bad_inline);
  ASSERT_FALSE(sdk.ok());
  EXPECT_EQ(sdk.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sdk.status().message()), HasSubstr("tls.ca_pem: no PEM certificate"));

  // kilnctl: a usage error (exit 2) naming the file, no RPC attempted.
  const CommandResult kilnctl =
      RunCommand({BinaryPath("kilnctl"), "workers", "--addr=127.0.0.1:1", "--tls-ca", garbage},
                 absl::Seconds(30));
  EXPECT_EQ(kilnctl.exit_code, 2) << kilnctl.err;
  EXPECT_THAT(kilnctl.err, HasSubstr(garbage + ": no PEM certificate"));
}

// Plaintext stays the default, with a warning when it is not bound to loopback.
TEST_F(TlsTest, PlaintextOffLoopbackIsWarnedAbout) {
  for (const bool loopback : {true, false}) {
    const std::string port_file = farm_.dir() + absl::StrCat("/port-", loopback);
    const std::string log = farm_.dir() + absl::StrCat("/plain-", loopback, ".log");
    auto process = Subprocess::Start(
        {BinaryPath("kiln-scheduler"), loopback ? "--listen=127.0.0.1:0" : "--listen=0.0.0.0:0",
         "--data-dir=" + farm_.dir() + absl::StrCat("/plain-data-", loopback),
         "--port-file=" + port_file},
        "", log);
    ASSERT_TRUE(process.ok()) << process.status();
    // The warning comes before this line.
    ASSERT_TRUE(
        WaitUntil([&] { return absl::StrContains(ReadFileOrEmpty(log), "serving on port"); },
                  absl::Seconds(30)))
        << ReadFileOrEmpty(log);
    const std::string text = ReadFileOrEmpty(log);
    EXPECT_THAT(text, HasSubstr("(plaintext)"));
    EXPECT_EQ(absl::StrContains(text, "serving PLAINTEXT gRPC on"), !loopback) << text;
  }
}

TEST(IsLoopbackListenAddressTest, OnlyLoopbackAndUnixSocketsCount) {
  for (const char* loopback : {"127.0.0.1:7070", "127.1.2.3:0", "localhost:7070", "[::1]:7070",
                               "ipv4:127.0.0.1:7070", "unix:/run/kiln.sock"}) {
    EXPECT_TRUE(rpc::IsLoopbackListenAddress(loopback)) << loopback;
  }
  for (const char* network : {"0.0.0.0:7070", "[::]:7070", ":7070", "10.0.0.5:7070",
                              "scheduler.example.com:7070", "[::1"}) {
    EXPECT_FALSE(rpc::IsLoopbackListenAddress(network)) << network;
  }
}

}  // namespace
}  // namespace kiln::testing
