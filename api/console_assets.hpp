#pragma once

/// The web console's files (console/), compiled into the binary by
/// cmake/embed_console.cmake: the node serves them at `/` and `/console/`
/// without reading anything from disk. The page calls the HTTP API with the
/// key its user enters; the files themselves hold no data and need no key.

#include <optional>
#include <string_view>

namespace flowgate {

struct console_asset {
  /// The request path that serves it ("/" is the page).
  std::string_view path;
  std::string_view content_type;
  std::string_view body;
};

/// The console file served at `path`, or none.
std::optional<console_asset> console_asset_at(std::string_view path);

} // namespace flowgate
