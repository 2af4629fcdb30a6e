#include "cli/job_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace trellis::jobview {

namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::optional<double> num(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// An integer-valued number without decimals, else with up to 4 significant decimals.
std::string number(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 1e15) return fmt("%.0f", v);
  return fmt("%.4g", v);
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[64];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  return buf;
}

std::string format_metrics(const json& m) {
  if (!m.is_object() || m.empty()) return "-";
  std::vector<std::string> parts;
  if (auto r = num(m, "resumed_from_step")) parts.push_back("resumed from step " + number(*r));
  if (auto it = m.find("eval"); it != m.end() && it->is_object()) {
    std::string e = "eval";
    if (auto s = num(*it, "step")) e += " step " + number(*s);
    const std::string metric = str(*it, "metric");
    if (auto v = num(*it, "value")) e += " " + (metric.empty() ? std::string("value") : metric) + " " + fmt("%.4f", *v);
    for (const auto& [key, value] : it->items())
      if (key != "step" && key != "metric" && key != "value" && value.is_number())
        e += " " + key + " " + fmt("%.4g", value.get<double>());
    parts.push_back(e);
  }
  std::string t;
  if (auto s = num(m, "step")) t += " step " + number(*s);
  if (auto e = num(m, "epoch")) t += " epoch " + number(*e);
  if (auto l = num(m, "loss")) t += " loss " + fmt("%.4f", *l);
  if (auto lr = num(m, "learning_rate")) t += " lr " + fmt("%.2e", *lr);
  if (auto sps = num(m, "samples_per_s")) t += " " + fmt("%.1f", *sps) + " samples/s";
  if (!t.empty()) parts.push_back(t.substr(1));
  if (parts.empty()) return m.dump();
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::string format_event(const protocol::EventMessage& event) {
  const std::string kind = to_string(event.kind);
  const json& payload = event.payload;
  std::string line = "#" + std::to_string(event.seq) + " " + (event.time.empty() ? "-" : event.time) + " " + kind + " ";
  if (kind == "state") {
    const std::string from = str(payload, "from"), to = str(payload, "to", "?");
    line += from.empty() ? to : from + " -> " + to;
    for (const auto& [key, value] : payload.items())
      if (key != "from" && key != "to" && !value.is_null())
        line += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  } else if (kind == "progress") {
    const auto step = num(payload, "step"), total = num(payload, "total_steps");
    line += (step ? number(*step) : "?") + "/" + (total && *total > 0 ? number(*total) : "?");
    if (step && total && *total > 0) line += " (" + fmt("%.0f", 100.0 * *step / *total) + "%)";
  } else if (kind == "metrics") {
    line += format_metrics(payload);
  } else if (kind == "error") {
    line += str(payload, "code", "error") + ": " + str(payload, "message");
    if (payload.is_object() && payload.contains("retryable") && payload["retryable"].is_boolean())
      line += payload["retryable"].get<bool>() ? " (retryable)" : " (not retryable)";
  } else {
    line += payload.dump();
  }
  return line;
}

std::string format_progress(const protocol::JobMessage& job) {
  const double step = static_cast<double>(job.progress.step), total = static_cast<double>(job.progress.total_steps);
  if (total <= 0) return "-";
  return number(step) + "/" + number(total) + " (" + fmt("%.0f", 100.0 * step / total) + "%)";
}

// Failed attempts of the allowed ones ("1/3"), and the hand-backs that do not count ("+2 pre-empted").
std::string attempts_used(const protocol::JobMessage& job, const std::string& of) {
  std::string out = std::to_string(job.attempts - job.preemptions) + of + std::to_string(job.max_attempts);
  if (job.preemptions > 0) out += " +" + std::to_string(job.preemptions) + " pre-empted";
  return out;
}

std::string error_text(const protocol::ErrorInfo& error) {
  return (error.code.empty() ? std::string("error") : error.code) + ": " + error.message;
}

std::string artifact_or_error(const protocol::JobMessage& job) {
  if (job.artifact && !job.artifact->empty()) return *job.artifact;
  if (job.error) return error_text(*job.error);
  return "";
}

std::string format_job_table(const std::vector<protocol::JobMessage>& jobs) {
  std::vector<std::vector<std::string>> rows{{"ID", "TASK", "STATE", "ATTEMPTS", "PROGRESS", "ARTIFACT/ERROR"}};
  for (const auto& job : jobs) {
    std::string state = to_string(job.state);
    if (job.cancel_requested && !is_terminal(job.state)) state += " (cancelling)";
    if (job.state == JobState::queued && job.queue_position) state += " #" + std::to_string(*job.queue_position);
    rows.push_back({job.id, job.task.empty() ? "?" : job.task, state, attempts_used(job, "/"), format_progress(job),
                    artifact_or_error(job)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) line += (i ? "  " : "") + (i + 1 < r.size() ? pad(r[i], width[i]) : r[i]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string format_job_status(const protocol::JobMessage& job) {
  std::ostringstream out;
  auto row = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) out << pad(name, 11) << value << "\n";
  };
  row("job", job.id);
  std::string task = job.task.empty() ? "?" : job.task;
  if (!job.backbone.empty()) task += " (backbone " + job.backbone + ")";
  row("task", task);
  std::string state_line = to_string(job.state);
  if (job.state == JobState::queued && job.queue_position)
    state_line += " (queue position " + std::to_string(*job.queue_position) + ")";
  if (job.cancel_requested && !is_terminal(job.state)) state_line += " (cancel requested)";
  row("state", state_line);
  row("attempts", attempts_used(job, " of ") + ", priority " + std::to_string(job.priority));
  if (std::string p = format_progress(job); p != "-") {
    if (job.progress.eta_seconds && !is_terminal(job.state)) p += ", ETA " + format_duration(*job.progress.eta_seconds);
    row("progress", p);
  }
  if (job.metrics.is_object() && !job.metrics.empty()) row("metrics", format_metrics(job.metrics));
  if (job.error) row("error", error_text(*job.error));
  row("artifact", job.artifact.value_or(""));
  row("created", job.created_at);
  row("started", job.started_at.value_or(""));
  row("finished", job.finished_at.value_or(""));
  row("updated", job.updated_at);
  return out.str();
}

void Progress::update(const protocol::EventMessage& event) {
  const json& payload = event.payload;
  if (event.kind == EventKind::state) {
    if (const std::string to = str(payload, "to"); !to.empty()) state = to;
  } else if (event.kind == EventKind::progress) {
    if (auto s = num(payload, "step")) step = static_cast<int64_t>(*s);
    if (auto t = num(payload, "total_steps")) total_steps = static_cast<int64_t>(*t);
  } else if (event.kind == EventKind::metrics) {
    if (auto s = num(payload, "step")) step = std::max(step, static_cast<int64_t>(*s));
    if (auto e = num(payload, "epoch")) epoch = e;
    if (auto l = num(payload, "loss")) loss = l;
    if (auto sps = num(payload, "samples_per_s")) samples_per_s = sps;
    if (auto r = num(payload, "resumed_from_step")) step = static_cast<int64_t>(*r);
  }
}

std::optional<double> Progress::eta_seconds() const {
  if (!samples_per_s || *samples_per_s <= 0 || batch_size <= 0 || total_steps <= 0) return std::nullopt;
  return static_cast<double>(std::max<int64_t>(0, total_steps - step)) * static_cast<double>(batch_size) /
         *samples_per_s;
}

std::string Progress::bar(int width) const {
  std::string out = "[";
  const double frac =
      total_steps > 0 ? std::clamp(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0) : 0.0;
  const int filled = static_cast<int>(frac * width);
  out += std::string(filled, '#') + std::string(width - filled, '-') + "] ";
  if (total_steps > 0)
    out += std::to_string(step) + "/" + std::to_string(total_steps) + " " + fmt("%3.0f", 100 * frac) + "%";
  else out += "-/-";
  if (epoch) out += "  epoch " + number(*epoch);
  if (loss) out += "  loss " + fmt("%.4f", *loss);
  if (samples_per_s) out += "  " + fmt("%.1f", *samples_per_s) + " samples/s";
  const bool finished = state == "succeeded" || state == "failed" || state == "cancelled";
  if (auto eta = eta_seconds(); eta && !finished) out += "  ETA " + format_duration(*eta);
  if (!state.empty()) out += "  " + state;
  return out;
}

}  // namespace trellis::jobview
