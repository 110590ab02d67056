// kilnctl's settings and where they come from: a flag beats the environment (KILN_ADDR,
// KILN_TOKEN, KILN_OUTPUT, KILN_TLS_CA, KILN_TLS_CERT, KILN_TLS_KEY, KILN_TLS_SERVER_NAME),
// which beats the config file ($KILN_CONFIG, else
// ~/.config/kiln/config.yaml, else $XDG_CONFIG_HOME/kiln/config.yaml when set), which
// beats the built-in default. The file is a flat YAML mapping:
//
//   # ~/.config/kiln/config.yaml
//   addr: scheduler.example.com:7070
//   token: "s3cret"
//   timeout: 30s
//   output: wide
//   tls-ca: /etc/kiln/ca.pem         # TLS to the scheduler (also tls-cert, tls-key,
//                                    # tls-server-name, as the flags of the same name)
//
// Pure functions over their inputs (the caller reads files and the environment); any thread.
#ifndef KILN_CLIENT_KILNCTL_CONFIG_H_
#define KILN_CLIENT_KILNCTL_CONFIG_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln::kilnctl {

// Keys of the config file (and their values, unchecked: the caller checks them as it
// would check the flag of the same name).
struct ConfigFile {
  std::map<std::string, std::string> values;  // addr, token, timeout, output, tls-*
};

// Parses the text of a config file; `path` names it in errors ("PATH:LINE: ...").
// INVALID_ARGUMENT for an unknown key, a line that is not "key: value", or a key given twice.
absl::StatusOr<ConfigFile> ParseConfigFile(absl::string_view text, absl::string_view path);

// Which config file to read: $KILN_CONFIG when set (it must exist), else
// $XDG_CONFIG_HOME/kiln/config.yaml or $HOME/.config/kiln/config.yaml (optional).
struct ConfigLocation {
  std::string path;       // Empty: no file to read.
  bool required = false;  // True when named by KILN_CONFIG.
};
ConfigLocation FindConfigFile(const std::function<std::optional<std::string>(const char*)>& getenv);

// The effective value of one setting: flag, else environment, else file, else fallback.
std::string Resolve(const std::optional<std::string>& flag, const std::optional<std::string>& env,
                    const ConfigFile& file, const std::string& key, const std::string& fallback);

}  // namespace kiln::kilnctl

#endif  // KILN_CLIENT_KILNCTL_CONFIG_H_
