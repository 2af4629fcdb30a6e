#include "trainer/data/data_reference.h"

#include <algorithm>
#include <cctype>

#include "trainer/data/table_reader.h"

namespace trellis {

namespace {
bool names_format(const std::string& extension) { return table_format_of_extension(extension).has_value(); }
}  // namespace

std::optional<DataReference> parse_data_reference(const std::string& reference) {
  std::string rest = reference.rfind("file:", 0) == 0 ? reference.substr(5) : reference;
  DataReference ref;
  if (rest.size() > 64) {
    ref.extension = rest.substr(64);
    rest.resize(64);
    const bool lowercase =
        std::none_of(ref.extension.begin(), ref.extension.end(), [](unsigned char c) { return std::isupper(c); });
    if (!lowercase || !names_format(ref.extension)) return std::nullopt;
  }
  if (!is_sha256_hex(rest)) return std::nullopt;
  ref.id = rest;
  return ref;
}

bool is_file_data_reference(const std::string& value) {
  return value.rfind("file:", 0) == 0 && parse_data_reference(value).has_value();
}

DataReference data_reference_for(const std::string& id, const std::filesystem::path& local_file) {
  std::string ext = local_file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return {id, names_format(ext) ? ext : ""};
}

}  // namespace trellis
