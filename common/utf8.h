// UTF-8 helpers. proto3 string fields must hold valid UTF-8 (a stored record
// with a broken sequence fails to parse later), so any cut of user text that
// lands in a proto goes through TruncateUtf8.
#ifndef KILN_COMMON_UTF8_H_
#define KILN_COMMON_UTF8_H_

#include <string>

#include "absl/strings/string_view.h"

namespace kiln {

// The longest prefix of `text` of at most `max_bytes` bytes that does not end
// inside a multi-byte character. `text` is assumed to be valid UTF-8.
inline std::string TruncateUtf8(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to the start of a character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

}  // namespace kiln

#endif  // KILN_COMMON_UTF8_H_
