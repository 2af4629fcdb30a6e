#include "cli/prediction_input.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis {

InputFormat parse_input_format(const std::string& name) {
  if (name == "auto") return InputFormat::auto_detect;
  if (name == "jsonl") return InputFormat::jsonl;
  if (name == "lines") return InputFormat::lines;
  throw Error("--format must be auto, jsonl or lines (got '" + name + "')");
}

PredictionInput::PredictionInput(std::istream& in, std::string origin, FieldNames fields, InputFormat format)
    : in_(in), origin_(std::move(origin)), fields_(std::move(fields)), format_(format) {}

namespace {

std::string text_field(const nlohmann::json& obj, const std::string& name, const std::string& where) {
  auto it = obj.find(name);
  if (it == obj.end()) throw Error(where + ": field '" + name + "' is missing");
  if (!it->is_string()) throw Error(where + ": field '" + name + "' must be a string");
  return it->get<std::string>();
}

}  // namespace

std::vector<RawExample> PredictionInput::next_chunk(size_t max_examples) {
  std::vector<RawExample> out;
  std::string line;
  while (out.size() < max_examples && std::getline(in_, line)) {
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = origin_ + ":" + std::to_string(line_);
    RawExample ex;
    ex.line = line_;
    const size_t first = line.find_first_not_of(" \t");
    const bool looks_json = first != std::string::npos && line[first] == '{';
    if (format_ == InputFormat::jsonl || (format_ == InputFormat::auto_detect && looks_json)) {
      if (format_ == InputFormat::jsonl && first == std::string::npos)
        throw Error(where + ": blank line (every input line must be a JSON object; outputs match inputs line by line)");
      nlohmann::json obj;
      try {
        obj = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        if (format_ == InputFormat::jsonl) throw Error(where + ": invalid JSON: " + e.what());
      }
      if (obj.is_object()) {
        ex.text = text_field(obj, fields_.text, where);
        if (fields_.text_pair) ex.text_pair = text_field(obj, *fields_.text_pair, where);
        out.push_back(std::move(ex));
        continue;
      }
      if (format_ == InputFormat::jsonl) throw Error(where + ": expected a JSON object");
    }
    if (fields_.text_pair)
      throw Error(where + ": this task takes text pairs ('" + fields_.text + "', '" + *fields_.text_pair +
                  "'): give JSONL objects, not plain lines");
    ex.text = line;
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace trellis
