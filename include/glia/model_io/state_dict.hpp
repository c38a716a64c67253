// glia/model_io/state_dict.hpp: a model's weights as a PyTorch state_dict in a safetensors file,
// both ways (docs/interop.md).
//
// Contract:
// - A model's tensors are its parameters and buffers, by their glia names (parameters(m),
//   buffers(m): "0.weight", "res.body.1.running_mean"). A StateDictNames maps a glia name to the
//   tensor's name in the file; a name it does not list is unchanged. For a spec-built model the
//   glia names are already those of its PyTorch twin (nn.Sequential numbering, docs/interop.md),
//   so the map is empty; reference_net_state_dict_names (models/reference_net.hpp) gives the
//   reference network's, torch_ref.py's "c1.0.weight" ... "head.bias".
// - state_dict_tensors(model, names) lists what a state_dict holds: every tensor as F32 under its
//   file name and, beside each BatchNorm's "<p>running_mean", an I64 scalar
//   "<p>num_batches_tracked" = 0 (PyTorch's state_dict has it; glia does not count batches, and
//   PyTorch's eval does not read it). ValueError if two tensors get one file name.
// - save_state_dict(path, model, names, metadata) writes them as a weights-only safetensors file
//   (atomically), which PyTorch's Module.load_state_dict(safetensors.torch.load_file(path))
//   loads with no renaming.
// - load_state_dict(path, model, names) copies a safetensors file's tensors into the model by
//   (file) name; PyTorch's save_file(model.state_dict()) output loads as it is. dtypes F32, F64,
//   F16 and BF16 are read (converted to T: exact except F64 -> float, which rounds); a
//   num_batches_tracked beside a BatchNorm must be an integer scalar and is skipped. Everything
//   is checked before any value is copied (on error the model is unchanged); FormatError names
//   the file and the tensor (and its glia name where it differs) for: a tensor the model has and
//   the file lacks, a tensor of another shape (both shapes given), a tensor of another dtype
//   (e.g. I64 for a weight), and a tensor the model does not have. The file's __metadata__ is
//   not read.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "glia/model_io/safetensors.hpp"
#include "glia/nn/module.hpp"

namespace glia {

// glia name -> name in the file; names not listed are unchanged.
using StateDictNames = std::map<std::string, std::string>;

namespace state_dict_detail {

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline std::string file_name(const StateDictNames& names, const std::string& glia_name) {
  auto it = names.find(glia_name);
  return it == names.end() ? glia_name : it->second;
}

// "'c1.0.weight' (glia's 'C1.conv.weight')", or just the name when the two are the same.
inline std::string describe(const std::string& file, const std::string& glia_name) {
  return file == glia_name ? "'" + file + "'" : "'" + file + "' (glia's '" + glia_name + "')";
}

inline std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t d = 0; d < s.size(); ++d) out += (d ? "," : "") + std::to_string(s[d]);
  return out + "]";
}

struct Slot {
  std::string file, glia;  // the tensor's names in the file and in glia
};

// The model's tensors with their file names, parameters first; refuses a file name given twice.
template <typename T>
std::vector<std::pair<Slot, Tensor<T>*>> named(Module<T>& model, const StateDictNames& names) {
  std::vector<std::pair<Slot, Tensor<T>*>> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& glia_name, Tensor<T>* t) {
    const std::string file = file_name(names, glia_name);
    if (!seen.insert(file).second)
      throw ValueError(detail::cat("state dict: two tensors of the model are named '", file, "' (the second is glia's '", glia_name, "')"));
    out.push_back({Slot{file, glia_name}, t});
  };
  for (auto& p : parameters(model)) add(p.name, &p.param->value);
  for (auto& b : buffers(model)) add(b.name, b.tensor);
  return out;
}

// "<p>num_batches_tracked" beside a BatchNorm's "<p>running_mean" (file names).
inline bool is_batch_count(const std::string& name, const std::set<std::string>& file_names) {
  const std::string suffix = "num_batches_tracked";
  return ends_with(name, suffix) && file_names.count(name.substr(0, name.size() - suffix.size()) + "running_mean") != 0;
}

inline bool is_float_dtype(const std::string& d) { return d == "F32" || d == "F64" || d == "F16" || d == "BF16"; }
inline bool is_int_dtype(const std::string& d) { return d == "I64" || d == "I32" || d == "I16" || d == "I8" || d == "U8"; }

// Checks one file tensor against the model's tensor of that name (shape and dtype).
template <typename T>
void check_tensor(const SafeTensor& t, const Slot& slot, const Tensor<T>& want, const std::string& path) {
  bool same = static_cast<Index>(t.shape.size()) == want.rank();
  for (Index d = 0; same && d < want.rank(); ++d) same = t.shape[static_cast<std::size_t>(d)] == want.dim(d);
  if (!same)
    throw FormatError(detail::cat("state dict '", path, "': tensor ", describe(slot.file, slot.glia), " has shape ", shape_text(t.shape),
                                  ", the model's is ", want.shape()));
  if (!is_float_dtype(t.dtype))
    throw FormatError(detail::cat("state dict '", path, "': tensor ", describe(slot.file, slot.glia), " has dtype ", t.dtype,
                                  ", expected F32, F64, F16 or BF16"));
}

}  // namespace state_dict_detail

template <typename T>
std::vector<SafeTensorOut> state_dict_tensors(Module<T>& model, const StateDictNames& names = {}) {
  using namespace state_dict_detail;
  std::vector<SafeTensorOut> out;
  for (auto& [slot, tensor] : named(model, names)) {
    SafeTensorOut t{slot.file, {}, std::vector<float>(tensor->begin(), tensor->end()), {}, false};
    for (Index d = 0; d < tensor->rank(); ++d) t.shape.push_back(tensor->dim(d));
    out.push_back(std::move(t));
    const std::string mean = "running_mean";
    if (ends_with(slot.file, mean))
      out.push_back({slot.file.substr(0, slot.file.size() - mean.size()) + "num_batches_tracked", {}, {}, {0}, true});
  }
  return out;
}

template <typename T>
void save_state_dict(const std::string& path, Module<T>& model, const StateDictNames& names = {},
                     const std::map<std::string, std::string>& metadata = {}) {
  write_safetensors(path, state_dict_tensors(model, names), metadata);
}

// Loads an already-read file (path is for messages); see the contract above.
template <typename T>
void load_state_dict(const SafetensorsFile& f, const std::string& path, Module<T>& model, const StateDictNames& names = {}) {
  using namespace state_dict_detail;
  const auto slots = named(model, names);
  std::set<std::string> file_names;
  std::vector<const SafeTensor*> found;
  for (auto& [slot, tensor] : slots) {
    file_names.insert(slot.file);
    const SafeTensor* t = f.find(slot.file);
    if (!t)
      throw FormatError(detail::cat("state dict '", path, "': no tensor ", describe(slot.file, slot.glia), ", which the model has"));
    check_tensor(*t, slot, *tensor, path);
    found.push_back(t);
  }
  for (const SafeTensor& t : f.tensors) {
    if (file_names.count(t.name)) continue;
    if (!is_batch_count(t.name, file_names))
      throw FormatError(detail::cat("state dict '", path, "': tensor '", t.name, "' is not in the model"));
    if (!is_int_dtype(t.dtype) || t.numel() != 1)
      throw FormatError(detail::cat("state dict '", path, "': tensor '", t.name, "' is ", t.dtype, " ", shape_text(t.shape),
                                    ", expected an integer scalar (a BatchNorm's batch count)"));
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    Tensor<T>& dst = *slots[i].second;
    const std::vector<double> v = found[i]->to_doubles();
    for (Index k = 0; k < dst.size(); ++k) dst[k] = static_cast<T>(v[static_cast<std::size_t>(k)]);
  }
}

template <typename T>
void load_state_dict(const std::string& path, Module<T>& model, const StateDictNames& names = {}) {
  load_state_dict(read_safetensors(path), path, model, names);
}

}  // namespace glia
