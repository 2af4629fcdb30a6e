#pragma once
// cereal serialisation of JobSpec (binary between the ranks of a worker group, JSON on the wire
// where the API uses cereal). Every field is written; enums as their integer values. Header-only.
#include <cereal/cereal.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>

#include "trainer/spec/job_spec.h"

namespace trellis {

template <class Archive>
void serialize(Archive& ar, AdapterSpec& a) {
  ar(cereal::make_nvp("bottleneck", a.bottleneck), cereal::make_nvp("nonlinearity", a.nonlinearity),
     cereal::make_nvp("init_std", a.init_std));
}

template <class Archive>
void serialize(Archive& ar, DataSpec& d) {
  ar(cereal::make_nvp("train", d.train), cereal::make_nvp("validation", d.validation),
     cereal::make_nvp("validation_fraction", d.validation_fraction), cereal::make_nvp("text_field", d.text_field),
     cereal::make_nvp("text_pair_field", d.text_pair_field), cereal::make_nvp("label_field", d.label_field),
     cereal::make_nvp("task_type", d.task_type), cereal::make_nvp("max_seq_len", d.max_seq_len));
}

template <class Archive>
void serialize(Archive& ar, TrainSpec& t) {
  ar(cereal::make_nvp("epochs", t.epochs), cereal::make_nvp("batch_size", t.batch_size),
     cereal::make_nvp("learning_rate", t.learning_rate), cereal::make_nvp("warmup_ratio", t.warmup_ratio),
     cereal::make_nvp("weight_decay", t.weight_decay), cereal::make_nvp("max_grad_norm", t.max_grad_norm),
     cereal::make_nvp("seed", t.seed), cereal::make_nvp("metric", t.metric),
     cereal::make_nvp("eval_every_steps", t.eval_every_steps), cereal::make_nvp("dropout", t.dropout));
}

template <class Archive>
void serialize(Archive& ar, JobSpec& s) {
  ar(cereal::make_nvp("task", s.task), cereal::make_nvp("backbone", s.backbone), cereal::make_nvp("method", s.method),
     cereal::make_nvp("adapter", s.adapter), cereal::make_nvp("data", s.data), cereal::make_nvp("train", s.train));
}

}  // namespace trellis
