// Facts about the host the worker advertises: hostname, CPU model, system memory.
// Stateless free functions; any thread.
#ifndef KILN_WORKER_AGENT_HOST_INFO_H_
#define KILN_WORKER_AGENT_HOST_INFO_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/v1/capability.pb.h"

namespace kiln::agent {

// gethostname(), or "localhost" if it fails.
std::string HostName();

// The "model name" of the first processor in cpuinfo_text (the contents of
// /proc/cpuinfo); "CPU" if there is none (e.g. some ARM kernels).
std::string CpuModelFromCpuinfo(std::string_view cpuinfo_text);

// The "cpu" Device: model name from /proc/cpuinfo, total and free memory from sysinfo(2).
kiln::v1::Device ProbeCpuDevice();

}  // namespace kiln::agent

#endif  // KILN_WORKER_AGENT_HOST_INFO_H_
