#pragma once
// A snapshot of the process environment, taken once in each executable's main
// (Environment::of_process()) and handed down as a value, so that no code below main calls getenv
// and tests can give any environment. Immutable after construction: safe to read from any thread.
#include <map>
#include <optional>
#include <string>

namespace trellis {

class Environment {
 public:
  Environment() = default;
  explicit Environment(std::map<std::string, std::string> variables) : variables_(std::move(variables)) {}
  static Environment of_process();  // every variable of `environ`, now

  // The value of `name` when it is set and not empty (an empty value counts as unset).
  std::optional<std::string> get(const std::string& name) const;

 private:
  std::map<std::string, std::string> variables_;
};

}  // namespace trellis
