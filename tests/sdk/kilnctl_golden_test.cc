// kilnctl against a real scheduler and worker on loopback: every verb in every output
// format compared with golden files (tests/sdk/golden/*.txt: exit status, stdout and
// stderr), after volatile fields (times, ages, sizes, hashes, host, ports, temp paths)
// are replaced by placeholders; and the error paths (bad address, bad token, unknown job,
// malformed spec and config files) with their messages and exit codes.
//
// To accept new output after a deliberate change:
//   KILN_UPDATE_GOLDEN=1 ctest --test-dir BUILD -R kilnctl_golden_test
// then review the diff of tests/sdk/golden/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/local_farm.h"
#include "tests/support/subprocess.h"

namespace kiln::testing {
namespace {

constexpr char kGoldenDir[] = KILN_SOURCE_DIR "/tests/sdk/golden";
constexpr char kSphere[] = R"({"shape":{"type":"sphere","radius":1},"resolution":24})";

class KilnctlGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    farm_ = new LocalFarm();
    ASSERT_TRUE(farm_->StartScheduler({"--heartbeat-interval=500ms"}).ok());
    // The example model repository: `get models` has something stable to show.
    ASSERT_TRUE(
        farm_->StartWorker(0, 1, {"--model_repo=" KILN_SOURCE_DIR "/models/examples"}).ok());
    std::unique_ptr<Client> client = farm_->NewClient();
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto workers = client->ListWorkers();
          // Its executor reports the repository's model after the registration.
          return workers.ok() && workers->size() == 1 &&
                 (*workers)[0].capabilities().models_size() == 1;
        },
        absl::Seconds(30)));
    auto workers = client->ListWorkers();
    host_ = (*workers)[0].capabilities().hostname();
    for (const auto& device : (*workers)[0].capabilities().devices()) {
      device_names_.push_back(device.name());
    }
  }
  static void TearDownTestSuite() {
    delete farm_;
    farm_ = nullptr;
  }

  // Runs kilnctl with the farm's address in KILN_ADDR (unless `env` sets it), TZ=UTC,
  // and no config file of the user's.
  static CommandResult Run(const std::vector<std::string>& args,
                           std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {BinaryPath("kilnctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    bool addr_set = false;
    for (const std::string& e : env) addr_set |= absl::StartsWith(e, "KILN_ADDR=");
    if (!addr_set) env.push_back("KILN_ADDR=" + farm_->address());
    env.push_back("TZ=UTC");
    env.push_back("HOME=" + farm_->dir());
    env.push_back("XDG_CONFIG_HOME=");
    return RunCommand(argv, absl::Seconds(60), env);
  }

  // Placeholders for what changes from run to run.
  static std::string Normalize(std::string text) {
    const std::vector<std::pair<std::regex, std::string>> rules = {
        {std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)"), "<time>"},
        {std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)"), "<time>"},
        {std::regex(R"(\b[0-9a-f]{64}\b)"), "<sha256>"},
        {std::regex(R"(\br-[0-9a-f]{32}\b)"), "<request-id>"},
        {std::regex(R"(\b\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)\b)"), "<bytes>"},
        {std::regex(R"(((size|total_?[mM]emory|free_?[mM]emory)_?[bB]ytes"?:) ?"\d+")"),
         "$1 \"<n>\""},
        {std::regex(R"(("?seconds"?:) ?[0-9.e-]+)"), "$1 <s>"},
        {std::regex(R"((^|\n)\d\d:\d\d:\d\d(?= ))"), "$1<clock>"},
        // The task kinds a worker runs grow with the build; show that there are some.
        {std::regex(R"((?:[a-z0-9_]+\.[a-z0-9_]+,)*debug\.sleep(?:,[a-z0-9_]+\.[a-z0-9_]+)*)"),
         "<tasks>"},
        {std::regex(R"(("tasks":) ?\[[^\]]*\])"), "$1 [<tasks>]"},
        {std::regex(R"(tasks:\n(\s+- "[^"]*"\n)+)"), "tasks: <tasks>\n"},
        {std::regex(R"(\(\d+(\.\d+)?(ns|us|ms|s|m|h)\))"), "(<duration>)"},
        {std::regex(R"(\(\d+[smhd] ago\))"), "(<age> ago)"},
        {std::regex(R"(127\.0\.0\.1:\d+)"), "<addr>"},
    };
    text = absl::StrReplaceAll(text, {{farm_->dir(), "<dir>"}});
    for (const std::string& name : device_names_) {
      if (!name.empty()) text = absl::StrReplaceAll(text, {{name, "<device-name>"}});
    }
    if (!host_.empty()) {
      const std::string escaped =
          std::regex_replace(host_, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
      text = std::regex_replace(text, std::regex("\\b" + escaped + "\\b"), "<host>");
    }
    for (const auto& [pattern, replacement] : rules) {
      text = std::regex_replace(text, pattern, replacement);
    }
    // Ages in table cells ("4s", "12m"): replaced, then the table's padding (which
    // follows the widths of the real values) is squeezed so columns compare as cells.
    text = std::regex_replace(text, std::regex(R"((^|   )(\d+[smhd])(?=   |\n|$))"), "$1<age>");
    text = std::regex_replace(text, std::regex(R"((\S) {2,})"), "$1  ");
    return text;
  }

  // Compares (or with KILN_UPDATE_GOLDEN=1 writes) tests/sdk/golden/<name>.txt.
  static void ExpectGolden(const std::string& name, const CommandResult& result) {
    const std::string actual =
        absl::StrCat("exit: ", result.exit_code, "\n--- stdout\n", Normalize(result.out),
                     "--- stderr\n", Normalize(result.err));
    const std::string path = absl::StrCat(kGoldenDir, "/", name, ".txt");
    const char* update = std::getenv("KILN_UPDATE_GOLDEN");
    if (update != nullptr && std::string(update) == "1") {
      std::filesystem::create_directories(kGoldenDir);
      std::ofstream(path, std::ios::binary) << actual;
      return;
    }
    const std::string expected = ReadFileOrEmpty(path);
    EXPECT_FALSE(expected.empty())
        << "no golden file " << path << " (KILN_UPDATE_GOLDEN=1 writes it)\nactual:\n"
        << actual;
    EXPECT_EQ(actual, expected) << "golden " << path << " differs; raw stdout:\n"
                                << result.out << "\nraw stderr:\n"
                                << result.err;
  }

  static LocalFarm* farm_;
  static std::string host_;
  static std::vector<std::string> device_names_;
};

LocalFarm* KilnctlGoldenTest::farm_ = nullptr;
std::string KilnctlGoldenTest::host_;
std::vector<std::string> KilnctlGoldenTest::device_names_;

// One scenario, in order, so that job ids and states are the same on every run:
// j-...1 a mesh.extract that succeeds, j-...2 a GPU job that waits (no GPU) and is cancelled.
TEST_F(KilnctlGoldenTest, EveryVerbAndFormat) {
  CommandResult submit = Run({"submit", "mesh.extract", "--params", kSphere, "--label",
                              "suite=golden", "--request-id", "golden-1", "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << farm_->Log("worker-0.log");
  const std::string done(absl::StripAsciiWhitespace(submit.out));
  ASSERT_EQ(done, "j-0000000000000001");
  CommandResult queued = Run({"submit", "mesh.extract", "--params", kSphere, "--accelerator", "gpu",
                              "--priority", "5", "--request-id", "golden-2"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  const std::string waiting(absl::StripAsciiWhitespace(queued.out));
  // Wait until the scheduler has worked out why it waits (at submit it says only that it
  // waits for a slot), so the status is the same on every run.
  std::unique_ptr<Client> client = farm_->NewClient();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto job = client->Get(waiting);
        return job.ok() && absl::StrContains(job->status_message(), "no worker can run it");
      },
      absl::Seconds(30)));

  for (const std::string format : {"table", "wide", "json", "yaml"}) {
    ExpectGolden("get_jobs_" + format, Run({"get", "jobs", "-o", format}));
    ExpectGolden("get_job_" + format, Run({"get", "job", done, "-o", format}));
    ExpectGolden("get_workers_" + format, Run({"get", "workers", "-o", format}));
    ExpectGolden("get_models_" + format, Run({"get", "models", "-o", format}));
  }
  for (const std::string format : {"table", "json", "yaml"}) {
    ExpectGolden("describe_job_" + format, Run({"describe", "job", done, "-o", format}));
    ExpectGolden("describe_waiting_job_" + format, Run({"describe", waiting, "-o", format}));
    ExpectGolden("describe_worker_" + format,
                 Run({"describe", "worker", "worker-0", "-o", format}));
    ExpectGolden("watch_" + format, Run({"watch", done, "-o", format}));
  }
  ExpectGolden("get_jobs_filtered", Run({"get", "jobs", "--label", "suite=golden"}));
  ExpectGolden("get_jobs_by_state", Run({"get", "jobs", "--state", "queued", "-o", "wide"}));
  ExpectGolden("list", Run({"list", "--limit", "1"}));
  ExpectGolden("workers", Run({"workers"}));
  ExpectGolden("fetch", Run({"fetch", done, "--dir", farm_->dir() + "/fetched"}));

  ExpectGolden("drain_worker", Run({"drain", "worker", "worker-0"}));
  ExpectGolden("get_workers_draining", Run({"get", "workers"}));
  ExpectGolden("drain_worker_resume_json",
               Run({"drain", "worker", "worker-0", "--resume", "-o", "json"}));
  ExpectGolden("cancel_table", Run({"cancel", waiting, "--reason", "golden test"}));
  ExpectGolden("cancel_again_json", Run({"cancel", waiting, "-o", "json"}));
}

TEST_F(KilnctlGoldenTest, ErrorsNameTheProblemAndExitNonZero) {
  ExpectGolden("error_unknown_job", Run({"get", "job", "j-7fffffffffffffff"}));
  ExpectGolden("error_malformed_job_id", Run({"describe", "not-a-job"}));
  ExpectGolden("error_unknown_worker", Run({"describe", "worker", "nobody"}));
  ExpectGolden("error_drain_unknown_worker", Run({"drain", "worker", "nobody"}));
  ExpectGolden("error_bad_address",
               Run({"get", "jobs", "--timeout", "2s"}, {"KILN_ADDR=127.0.0.1:1"}));
  ExpectGolden("error_bad_token", Run({"get", "jobs", "--token", "bad\ttoken"}));
  ExpectGolden("error_bad_output", Run({"get", "jobs", "-o", "xml"}));
  ExpectGolden("error_unknown_verb", Run({"frobnicate"}));
  ExpectGolden("error_unknown_flag", Run({"get", "jobs", "--colour"}));
  ExpectGolden("error_state_on_workers", Run({"get", "workers", "--state", "queued"}));

  const std::string spec = farm_->dir() + "/broken-spec.json";
  std::ofstream(spec) << R"({"task": "mesh.extract", "parameters": {"resolution": 8})";
  ExpectGolden("error_malformed_spec_file", Run({"submit", "-f", spec}));
  ExpectGolden("error_missing_spec_file", Run({"submit", "-f", farm_->dir() + "/nope.json"}));

  const std::string config = farm_->dir() + "/config.yaml";
  std::ofstream(config) << "addr: 127.0.0.1:1\ncolour: blue\n";
  ExpectGolden("error_config_unknown_key", Run({"get", "jobs"}, {"KILN_CONFIG=" + config}));
  ExpectGolden("error_config_missing",
               Run({"get", "jobs"}, {"KILN_CONFIG=" + farm_->dir() + "/missing.yaml"}));
}

// Flags beat the environment, which beats the config file.
TEST_F(KilnctlGoldenTest, SettingsComeFromFlagsThenEnvironmentThenConfigFile) {
  const std::string config = farm_->dir() + "/good-config.yaml";
  std::ofstream(config) << "# kilnctl settings\naddr: " << farm_->address()
                        << "\noutput: wide\ntoken: \"from-file\"\n";
  // Only the file names the scheduler (KILN_ADDR empty): it works, in its output format.
  CommandResult from_file = Run({"get", "workers"}, {"KILN_ADDR=", "KILN_CONFIG=" + config});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_TRUE(absl::StrContains(from_file.out, "VERSION")) << from_file.out;  // wide
  // The environment beats the file; the flag beats both.
  CommandResult env_wins =
      Run({"get", "workers"}, {"KILN_ADDR=127.0.0.1:1", "KILN_CONFIG=" + config});
  EXPECT_EQ(env_wins.exit_code, 6) << env_wins.err;
  CommandResult flag_wins = Run({"get", "workers", "--addr", farm_->address(), "-o", "json"},
                                {"KILN_ADDR=127.0.0.1:1", "KILN_CONFIG=" + config});
  EXPECT_EQ(flag_wins.exit_code, 0) << flag_wins.err;
  EXPECT_TRUE(absl::StartsWith(flag_wins.out, "{")) << flag_wins.out;
  // The default location: ~/.config/kiln/config.yaml (HOME is the farm's dir here).
  std::filesystem::create_directories(farm_->dir() + "/.config/kiln");
  std::filesystem::copy_file(config, farm_->dir() + "/.config/kiln/config.yaml",
                             std::filesystem::copy_options::overwrite_existing);
  CommandResult home = Run({"get", "workers"}, {"KILN_ADDR="});
  EXPECT_EQ(home.exit_code, 0) << home.err;
  EXPECT_TRUE(absl::StrContains(home.out, "VERSION")) << home.out;
  std::filesystem::remove(farm_->dir() + "/.config/kiln/config.yaml");
}

// submit -f with a YAML spec, followed to the end; then the job as stored (the YAML's
// fields, typed by the JobSpec: "version: 2" is a string label, "resolution: 24" a number).
// The job id (it depends on the tests run before) and the progress lines before the end
// (how many the watch sees depends on timing) are left out of the comparison.
TEST_F(KilnctlGoldenTest, SubmitsAYamlSpecFileAndWaits) {
  const std::string spec = farm_->dir() + "/spec.yaml";
  std::ofstream(spec) << "# A sphere, meshed on a CPU slot.\n"
                         "task: mesh.extract\n"
                         "parameters:\n"
                         "  shape: {type: sphere, radius: 1}\n"
                         "  resolution: 24\n"
                         "requirements:\n"
                         "  accelerator: ACCELERATOR_CPU\n"
                         "priority: 3\n"
                         "labels:\n"
                         "  suite: golden-yaml\n"
                         "  version: 2\n"
                         "client_request_id: golden-yaml-1\n";
  CommandResult submit = Run({"submit", "-f", spec, "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << farm_->Log("worker-0.log");
  const std::string id(absl::StripAsciiWhitespace(submit.out));
  ASSERT_TRUE(absl::StartsWith(id, "j-")) << submit.out;
  const std::regex before_the_end(R"(^\d\d:\d\d:\d\d  (queued|assigned|running)  )");
  std::vector<std::string> kept;
  for (absl::string_view line : absl::StrSplit(submit.err, '\n', absl::SkipEmpty())) {
    if (!std::regex_search(std::string(line), before_the_end)) kept.push_back(std::string(line));
  }
  submit.err = absl::StrCat(absl::StrJoin(kept, "\n"), "\n");
  auto without_id = [&id](CommandResult result) {
    result.out = absl::StrReplaceAll(result.out, {{id, "<job-id>"}});
    result.err = absl::StrReplaceAll(result.err, {{id, "<job-id>"}});
    return result;
  };
  ExpectGolden("submit_yaml_wait", without_id(submit));
  ExpectGolden("submit_yaml_job_yaml", without_id(Run({"get", "job", id, "-o", "yaml"})));

  const std::string tabs = farm_->dir() + "/tabs.yaml";
  std::ofstream(tabs) << "task: mesh.extract\nparameters:\n\tresolution: 24\n";
  ExpectGolden("error_yaml_spec_tabs", Run({"submit", "-f", tabs}));
  const std::string duplicate = farm_->dir() + "/duplicate.yaml";
  std::ofstream(duplicate) << "task: mesh.extract\npriority: 1\nlabels: {a: b}\npriority: 2\n";
  ExpectGolden("error_yaml_spec_duplicate_key", Run({"submit", "-f", duplicate}));
  const std::string listed = farm_->dir() + "/list.yaml";
  std::ofstream(listed) << "- task: mesh.extract\n";
  ExpectGolden("error_yaml_spec_not_a_mapping", Run({"submit", "-f", listed}));
  const std::string wrong = farm_->dir() + "/wrong-type.yaml";
  std::ofstream(wrong) << "task: mesh.extract\nrequirements:\n  min_compute_capability: [8, 0]\n";
  ExpectGolden("error_yaml_spec_wrong_type", Run({"submit", "-f", wrong}));
}

TEST_F(KilnctlGoldenTest, EveryVerbHasHelpWithExamples) {
  for (const char* verb : {"submit", "get", "list", "describe", "drain", "watch", "cancel", "fetch",
                           "logs", "workers"}) {
    CommandResult help = Run({verb, "--help"});
    EXPECT_EQ(help.exit_code, 0) << verb;
    EXPECT_TRUE(absl::StartsWith(help.out, absl::StrCat("Usage: kilnctl ", verb))) << help.out;
    EXPECT_TRUE(absl::StrContains(help.out, "Example")) << verb << ":\n" << help.out;
    EXPECT_TRUE(absl::StrContains(help.out, "Exit codes:")) << verb;
  }
  CommandResult main_help = Run({"--help"});
  EXPECT_EQ(main_help.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(main_help.out, "drain")) << main_help.out;
  EXPECT_TRUE(absl::StrContains(main_help.out, "KILN_TOKEN")) << main_help.out;
}

}  // namespace
}  // namespace kiln::testing
