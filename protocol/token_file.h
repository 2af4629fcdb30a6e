#pragma once
// A client's bearer token from a file (the CLI's --token-file, the worker's --token-file): the
// file's text without surrounding whitespace. Throws trellis::Error naming the file when it
// cannot be read or holds no token. The token itself is never part of a message.
#include <filesystem>
#include <string>

namespace trellis::http {

std::string read_token_file(const std::filesystem::path& file);

}  // namespace trellis::http
