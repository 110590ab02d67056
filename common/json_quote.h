// JsonQuote: a string as a JSON string literal, for code that writes JSON text by hand
// (the json log format, kilnctl's structured output). Pure function; any thread.
#ifndef KILN_COMMON_JSON_QUOTE_H_
#define KILN_COMMON_JSON_QUOTE_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace kiln {

// `text` quoted, with '"', '\\' and control characters escaped; other bytes (UTF-8
// included) are copied as they are.
inline std::string JsonQuote(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace kiln

#endif  // KILN_COMMON_JSON_QUOTE_H_
