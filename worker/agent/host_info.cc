#include "worker/agent/host_info.h"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace kiln::agent {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string CpuModelFromCpuinfo(std::string_view cpuinfo_text) {
  constexpr std::string_view kWhitespace = " \t\r";
  auto strip = [&](std::string_view s) {
    const size_t begin = s.find_first_not_of(kWhitespace);
    if (begin == std::string_view::npos) return std::string_view();
    return s.substr(begin, s.find_last_not_of(kWhitespace) - begin + 1);
  };
  while (!cpuinfo_text.empty()) {
    const size_t eol = cpuinfo_text.find('\n');
    const std::string_view line = cpuinfo_text.substr(0, eol);
    cpuinfo_text =
        eol == std::string_view::npos ? std::string_view() : cpuinfo_text.substr(eol + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || strip(line.substr(0, colon)) != "model name") continue;
    const std::string_view value = strip(line.substr(colon + 1));
    if (!value.empty()) return std::string(value);
  }
  return "CPU";
}

kiln::v1::Device ProbeCpuDevice() {
  kiln::v1::Device device;
  device.set_id("cpu");
  std::ifstream in("/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  device.set_name(CpuModelFromCpuinfo(text.str()));
  device.set_compute_capability(0);
  struct sysinfo info {};
  if (::sysinfo(&info) == 0) {
    device.set_total_memory_bytes(static_cast<int64_t>(info.totalram) * info.mem_unit);
    device.set_free_memory_bytes(static_cast<int64_t>(info.freeram) * info.mem_unit);
  }
  // MemAvailable (page cache that can be dropped counts as free) is what a job can use.
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") {
      device.set_free_memory_bytes(kib * 1024);
      break;
    }
    meminfo.ignore(256, '\n');
  }
  device.set_runnable(true);
  return device;
}

}  // namespace kiln::agent
