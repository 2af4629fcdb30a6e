#include "protocol/token_file.h"

#include <fstream>
#include <sstream>

#include "common/error.h"

namespace trellis::http {

std::string read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, file.string() + ": cannot read the token file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string token = buffer.str();
  const auto space = " \t\r\n\f\v";
  token.erase(0, token.find_first_not_of(space));
  const auto last = token.find_last_not_of(space);
  token.erase(last == std::string::npos ? 0 : last + 1);
  if (token.empty()) throw Error(ErrorCode::invalid, file.string() + ": the token file is empty");
  return token;
}

}  // namespace trellis::http
