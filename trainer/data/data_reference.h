#pragma once
// A job spec's reference to a data file uploaded to the coordinator: "file:<sha256>" or
// "file:<sha256>.<ext>" (the extension, lowercase, names the table format for the readers:
// .jsonl, .ndjson, .csv, .tsv, .tab), or a bare <sha256>. Shared by the CLI (which writes them),
// the coordinator (which checks them) and the workers (which download them). Pure functions.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/sha256.h"  // is_sha256_hex

namespace trellis {

struct DataReference {
  std::string id;         // the sha256 of the file's bytes
  std::string extension;  // "" or ".jsonl", ".csv", ...
  std::string canonical() const { return "file:" + id + extension; }
};

// nullopt for anything else (a path, a bad id, an unknown or upper-case extension).
std::optional<DataReference> parse_data_reference(const std::string& reference);
// True for "file:..." references (not bare ids) that parse.
bool is_file_data_reference(const std::string& value);
// The reference for an uploaded local file: its extension, lowercased, when it names a format.
DataReference data_reference_for(const std::string& id, const std::filesystem::path& local_file);

}  // namespace trellis
