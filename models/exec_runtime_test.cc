// Tests of the exec runtime: the pieces (placeholders, environment, progress lines) and
// whole runs of the example model models/examples/kiln-tetra and of inline commands.
#include "models/exec_runtime.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/json_struct.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model_repository.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The example model as the repository loads it.
ModelEntry ExampleModel() {
  auto repository = ModelRepository::Open({.root = KILN_EXAMPLE_MODELS_DIR});
  EXPECT_TRUE(repository.ok()) << repository.status();
  auto entry = (*repository)->Find("kiln-tetra@1");
  EXPECT_TRUE(entry.ok()) << entry.status();
  return **entry;
}

// An exec model whose command is a bash script.
ModelEntry InlineModel(const std::string& script, const fs::path& dir) {
  ModelEntry entry;
  entry.dir = dir;
  entry.manifest.set_name("inline");
  entry.manifest.set_version("1");
  entry.manifest.set_runtime(kiln::v1::MODEL_RUNTIME_EXEC);
  for (const char* arg : {"bash", "-c", script.c_str(), "inline", "{output_dir}"}) {
    entry.manifest.mutable_exec()->add_command(arg);
  }
  return entry;
}

using ::kiln::testing::JsonStruct;

bool ProcessEnds(pid_t pid) {
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    if (!stat) return true;
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

class ExecRuntimeTest : public ::testing::Test {
 protected:
  ExecRuntimeTest() {
    fs::create_directory(out_dir());
    fs::create_directory(dir_.Sub("in"));
  }
  fs::path out_dir() const { return dir_.Sub("out"); }

  absl::StatusOr<ExecRunResult> Run(const ModelEntry& model, const std::string& params_json,
                                    std::vector<kiln::v1::LocalFile> inputs = {}) {
    ExecRunRequest request;
    request.inputs = std::move(inputs);
    request.output_dir = out_dir();
    request.parameters = JsonStruct(params_json);
    request.report_progress = [this](double fraction, std::string_view message) {
      progress_.emplace_back(fraction, std::string(message));
    };
    return RunExecModel(model, request, options_);
  }

  std::vector<std::string> OutputNames(const ExecRunResult& result) {
    std::vector<std::string> names;
    for (const auto& file : result.outputs) names.push_back(file.name());
    return names;
  }

  kiln::testing::ScopedTempDir dir_;
  ExecRuntimeOptions options_;
  std::vector<std::pair<double, std::string>> progress_;
};

TEST(ExecPiecesTest, SubstitutesEveryPlaceholderAndLeavesOtherBraces) {
  const ExecPlaceholders values{
      .input_dir = "/in", .output_dir = "/out", .parameters = "/p.json", .model_dir = "/m"};
  EXPECT_EQ(SubstitutePlaceholders("--in={input_dir}", values), "--in=/in");
  EXPECT_EQ(SubstitutePlaceholders("{model_dir}/run.py", values), "/m/run.py");
  EXPECT_EQ(SubstitutePlaceholders("{output_dir}{output_dir}", values), "/out/out");
  EXPECT_EQ(SubstitutePlaceholders("{parameters}", values), "/p.json");
  EXPECT_EQ(SubstitutePlaceholders("{\"a\":{input}} {model_dir", values),
            "{\"a\":{input}} {model_dir");
  // A substituted value is not scanned again.
  const ExecPlaceholders tricky{
      .input_dir = "{model_dir}", .output_dir = "", .parameters = "", .model_dir = "/m"};
  EXPECT_EQ(SubstitutePlaceholders("{input_dir}", tricky), "{model_dir}");
}

TEST(ExecPiecesTest, EnvironmentIsTheBaseThenTheManifestThenThePinning) {
  const std::map<std::string, std::string> executor = {{"PATH", "/opt/bin:/usr/bin"},
                                                       {"HOME", "/home/kiln"},
                                                       {"KILN_TOKEN", "secret"},
                                                       {"CUDA_VISIBLE_DEVICES", "3"},
                                                       {"LD_PRELOAD", "/evil.so"}};
  const auto lookup = [&](const char* name) -> const char* {
    auto it = executor.find(name);
    return it == executor.end() ? nullptr : it->second.c_str();
  };
  kiln::v1::ExecSpec spec;
  (*spec.mutable_env())["PYTHONPATH"] = "{model_dir}/src";
  (*spec.mutable_env())["PATH"] = "/venv/bin:/usr/bin";
  (*spec.mutable_env())["CUDA_VISIBLE_DEVICES"] = "0,1";  // The slot's pinning wins.
  const ExecPlaceholders values{.input_dir = "/in",
                                .output_dir = "/out",
                                .parameters = "/p",
                                .model_dir = "/models/trellis/2"};
  const auto env = ExecEnvironment(spec, values, ExecRuntimeOptions{}, lookup);
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"CUDA_VISIBLE_DEVICES", "3"},
                                                     {"HOME", "/home/kiln"},
                                                     {"LANG", "C.UTF-8"},
                                                     {"PATH", "/venv/bin:/usr/bin"},
                                                     {"PYTHONPATH", "/models/trellis/2/src"}}));
  // A CPU slot's executor has no pinning: the manifest cannot add one either.
  const auto none = [](const char*) -> const char* { return nullptr; };
  const auto cpu_env = ExecEnvironment(spec, values, ExecRuntimeOptions{}, none);
  EXPECT_EQ(cpu_env.count("CUDA_VISIBLE_DEVICES"), 0u);
  EXPECT_EQ(cpu_env.at("LANG"), "C.UTF-8");
  EXPECT_EQ(cpu_env.count("HOME"), 0u);
}

TEST(ExecPiecesTest, ProgressLines) {
  auto p = ParseProgressLine("kiln-progress: 0.25 loading weights");
  ASSERT_TRUE(p.has_value());
  EXPECT_DOUBLE_EQ(p->fraction, 0.25);
  EXPECT_EQ(p->message, "loading weights");
  p = ParseProgressLine("  kiln-progress:1");
  ASSERT_TRUE(p.has_value());
  EXPECT_DOUBLE_EQ(p->fraction, 1.0);
  EXPECT_EQ(p->message, "");
  p = ParseProgressLine("kiln-progress: 0 \xff bad byte");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->message, "? bad byte");
  p = ParseProgressLine("kiln-progress: 0.5 " + std::string(1000, 'm'));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->message.size(), 200u);
  for (const char* bad : {"kiln-progress: 1.5 too far", "kiln-progress: -0.1", "kiln-progress: nan",
                          "kiln-progress: half", "kiln-progress:", "progress: 0.5",
                          "x kiln-progress: 0.5", "kiln-progress 0.5"}) {
    EXPECT_FALSE(ParseProgressLine(bad).has_value()) << bad;
  }
}

TEST(ExecPiecesTest, SanitizeUtf8) {
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(SanitizeUtf8("a\xff"
                         "b\xc3"),
            "a?b?");
  EXPECT_EQ(SanitizeUtf8("\xc0\xaf"), "??");       // Overlong '/'.
  EXPECT_EQ(SanitizeUtf8("\xed\xa0\x80"), "???");  // A surrogate.
}

TEST_F(ExecRuntimeTest, ExampleModelWritesItsMeshWithProgress) {
  const ModelEntry model = ExampleModel();
  { std::ofstream(dir_.Sub("in/photo.png")) << "12345"; }
  kiln::v1::LocalFile input;
  input.set_name("photo.png");
  input.set_path(dir_.Sub("in/photo.png"));
  auto result = Run(model, R"({"scale":2})", {input});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_THAT(OutputNames(*result), ElementsAre("exec.log", "inputs.txt", "tetrahedron.obj"));
  for (const auto& file : result->outputs) {
    EXPECT_EQ(fs::path(file.path()).parent_path(), fs::canonical(out_dir()));
  }
  const std::vector<std::string> obj = Lines(ReadAll(out_dir() / "tetrahedron.obj"));
  EXPECT_THAT(obj, Contains("v 2 2 2"));
  EXPECT_THAT(obj, Contains("v -2 -2 2"));
  EXPECT_EQ(std::count_if(obj.begin(), obj.end(), [](auto& l) { return l.rfind("f ", 0) == 0; }),
            4);
  EXPECT_EQ(ReadAll(out_dir() / "inputs.txt"), "photo.png 5\n");
  ASSERT_EQ(progress_.size(), 3u);
  EXPECT_DOUBLE_EQ(progress_[0].first, 0.1);
  EXPECT_EQ(progress_[0].second, "parameters read (mode=ok, scale=2)");
  EXPECT_DOUBLE_EQ(progress_[1].first, 0.5);
  EXPECT_DOUBLE_EQ(progress_[2].first, 1.0);
  EXPECT_EQ(progress_[2].second, "done");
  EXPECT_THAT(Lines(ReadAll(out_dir() / "exec.log")),
              ElementsAre(StartsWith("kiln-progress: 0.1"), StartsWith("kiln-progress: 0.5"),
                          "kiln-progress: 1 done"));
  // The parameters file and the input links live outside the output directory.
  EXPECT_FALSE(fs::exists(out_dir() / "parameters.json"));
}

TEST_F(ExecRuntimeTest, CommandSeesOnlyTheMinimalEnvironment) {
  ::setenv("KILN_TOKEN", "secret-from-the-worker", 1);
  ::setenv("CUDA_VISIBLE_DEVICES", "2", 1);
  const ModelEntry model = ExampleModel();
  auto result = Run(model, R"({"mode":"env"})");
  ::unsetenv("KILN_TOKEN");
  ::unsetenv("CUDA_VISIBLE_DEVICES");
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<std::string> env = Lines(ReadAll(out_dir() / "env.txt"));
  EXPECT_THAT(env, Not(Contains(StartsWith("KILN_TOKEN="))));
  EXPECT_THAT(env, Contains("KILN_TETRA_GREETING=hello from the manifest"));
  EXPECT_THAT(env, Contains("KILN_TETRA_MODEL_DIR=" + model.dir.string()));
  EXPECT_THAT(env, Contains("CUDA_VISIBLE_DEVICES=2"));
  EXPECT_THAT(env, Contains(StartsWith("PATH=")));
  // Nothing but the base, the manifest's, the pinning and what bash sets itself.
  for (const std::string& line : env) {
    const std::string name = line.substr(0, line.find('='));
    EXPECT_THAT((std::vector<std::string>{"CUDA_VISIBLE_DEVICES", "HOME", "KILN_TETRA_GREETING",
                                          "KILN_TETRA_MODEL_DIR", "LANG", "OLDPWD", "PATH", "PWD",
                                          "SHLVL", "_"}),
                Contains(name))
        << line;
  }
}

TEST_F(ExecRuntimeTest, FailureNamesTheExitCodeAndQuotesTheOutput) {
  auto result = Run(ExampleModel(), R"({"mode":"fail"})");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  const std::string message(result.status().message());
  EXPECT_THAT(message, StartsWith("model kiln-tetra@1: command "));
  EXPECT_THAT(message, HasSubstr("run.sh exit code 3; last lines of its output:\n"));
  EXPECT_THAT(message, HasSubstr("kiln-tetra: working on it"));
  EXPECT_THAT(message, HasSubstr("kiln-tetra: failing as asked (mode=fail)"));
  // The log stays in the output directory for whoever looks.
  EXPECT_THAT(ReadAll(out_dir() / "exec.log"), HasSubstr("failing as asked"));
}

TEST_F(ExecRuntimeTest, ErrorQuotesOnlyTheTailAndTheLogIsBounded) {
  options_.max_log_bytes = 2000;
  options_.error_tail_lines = 20;
  auto result = Run(InlineModel("for i in $(seq 1 5000); do echo line $i; done; echo $'\\xff' >&2; "
                                "kill -TERM $$",
                                dir_.path()),
                    "{}");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
  const std::string message(result.status().message());
  EXPECT_THAT(message, HasSubstr("killed by signal 15 (SIGTERM)"));
  EXPECT_THAT(message, HasSubstr("\nline 4982\n"));
  EXPECT_THAT(message, Not(HasSubstr("line 4981\n")));
  EXPECT_THAT(message, ::testing::EndsWith("line 5000\n?"));
  const std::string log = ReadAll(out_dir() / "exec.log");
  EXPECT_LE(log.size(), 2000u + 100u);
  EXPECT_THAT(log, StartsWith("[kiln: "));
  EXPECT_THAT(log, HasSubstr("line 5000\n"));
}

TEST_F(ExecRuntimeTest, TimeoutKillsTheCommandAndItsChildren) {
  ModelEntry model = ExampleModel();
  model.manifest.mutable_exec()->set_timeout_seconds(1);
  options_.kill_grace = absl::Milliseconds(300);
  for (const char* mode : {"hang", "stubborn"}) {
    SCOPED_TRACE(mode);
    fs::remove(out_dir() / "child.pid");
    const absl::Time start = absl::Now();
    auto result = Run(model, absl::StrCat(R"({"mode":")", mode, R"("})"));
    ASSERT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
    EXPECT_LT(absl::Now() - start, absl::Seconds(20));
    EXPECT_THAT(result.status().message(), HasSubstr("timed out after 1s"));
    EXPECT_THAT(result.status().message(),
                HasSubstr(std::string(mode) == "hang" ? "SIGTERM" : "SIGKILL"));
    EXPECT_THAT(result.status().message(), HasSubstr("kiln-tetra: hanging with child"));
    int child = 0;
    ASSERT_TRUE(absl::SimpleAtoi(Lines(ReadAll(out_dir() / "child.pid")).at(0), &child));
    EXPECT_TRUE(ProcessEnds(child));
  }
}

TEST_F(ExecRuntimeTest, BackgroundLeftoversDoNotOutliveASuccess) {
  auto result = Run(ExampleModel(), R"({"mode":"orphan"})");
  ASSERT_TRUE(result.ok()) << result.status();
  int child = 0;
  ASSERT_TRUE(absl::SimpleAtoi(Lines(ReadAll(out_dir() / "child.pid")).at(0), &child));
  EXPECT_TRUE(ProcessEnds(child));
}

TEST_F(ExecRuntimeTest, MissingCommandIsFailedPreconditionNamingIt) {
  ModelEntry model = ExampleModel();
  model.manifest.mutable_exec()->set_command(0, "{model_dir}/not-there.sh");
  auto result = Run(model, "{}");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("model kiln-tetra@1: command \""));
  EXPECT_THAT(result.status().message(), HasSubstr("not-there.sh\" not found"));

  model.manifest.mutable_exec()->set_command(0, "trellis-generate");
  result = Run(model, "{}");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("\"trellis-generate\" not found in PATH="));
}

TEST_F(ExecRuntimeTest, OnlyPlainFilesInsideTheOutputDirAreOutputs) {
  { std::ofstream(dir_.Sub("outside.txt")) << "not yours"; }
  const std::string script =
      "cd \"$1\" && echo ok > good.txt && echo x > 'bad name.txt' && mkdir sub && "
      "echo y > sub/nested.txt && ln -s good.txt link-in.txt && ln -s ../outside.txt escape.txt "
      "&& ln -s /etc/passwd passwd && mkfifo fifo && ln -s ../outside.txt exec.log";
  auto result = Run(InlineModel(script, dir_.path()), "{}");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(OutputNames(*result), ElementsAre("exec.log", "good.txt", "link-in.txt"));
  EXPECT_THAT(result->skipped_outputs,
              ElementsAre("bad name.txt: name is not [A-Za-z0-9._-]{1,128}",
                          "escape.txt: a symbolic link leading outside the output directory",
                          "fifo: not a regular file",
                          "passwd: a symbolic link leading outside the output directory",
                          "sub: a directory (only files directly in it are outputs)"));
  // The log replaced the link the command planted instead of writing through it.
  EXPECT_EQ(ReadAll(dir_.Sub("outside.txt")), "not yours");
  EXPECT_FALSE(fs::is_symlink(out_dir() / "exec.log"));
}

TEST_F(ExecRuntimeTest, BadRequestsAreClearErrors) {
  const ModelEntry model = ExampleModel();
  kiln::v1::LocalFile input;
  input.set_name("../escape");
  input.set_path("/etc/passwd");
  auto result = Run(model, "{}", {input});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("input name \"../escape\""));

  result = Run(model, absl::StrCat(R"({"blob":")", std::string(70000, 'b'), R"("})"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("parameters: "));

  ModelEntry torch = model;
  torch.manifest.set_runtime(kiln::v1::MODEL_RUNTIME_TORCHSCRIPT);
  result = Run(torch, "{}");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("has runtime torchscript"));
}

}  // namespace
}  // namespace kiln::models
