#pragma once
// SHA-256 digests (OpenSSL EVP) as 64 lowercase hex characters. Thread-safe (no shared state).
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace trellis {

std::string sha256_hex(std::span<const std::byte> bytes);
std::string sha256_hex(std::string_view text);
// Streams the file in chunks (constant memory). Errors (trellis::Error) name the file.
std::string sha256_file_hex(const std::filesystem::path& path);
// Whether `text` is a digest in that form: exactly 64 lowercase hex digits.
bool is_sha256_hex(std::string_view text);

}  // namespace trellis
