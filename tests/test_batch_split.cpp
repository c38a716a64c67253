// A batch's parameter gradients are the same bits whether one process takes the whole batch or
// R ranks each take their share (BatchSplit) and their sums are added by the chunk tree
// (kernels/batch_chunks.hpp): the ground data-parallel training stands on.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <vector>

#include "support/run_support.hpp"
#include "support/tensor_compare.hpp"

using namespace glia;
using glia::testing::same_bits;

namespace {

// Every layer kind with parameters: 3x3, strided grouped and 1x1 convolutions, a transposed
// convolution, GroupNorm, LayerNorm, BatchNorm (in evaluation mode: in training its statistics
// span the batch, which needs the ranks to exchange them) and Linear.
std::unique_ptr<Sequential<float>> every_parameter_kind(bool batch_norm) {
  auto net = std::make_unique<Sequential<float>>();
  net->add(std::make_unique<Conv2d<float>>(3, 8, 3, 1, 1), "conv");
  net->add(std::make_unique<GroupNorm<float>>(2, 8, 1e-5, Activation::ReLU), "gn");
  net->add(std::make_unique<Conv2d<float>>(8, 8, 3, 2, 1, 1, 2), "grouped");  // 8x8 -> 4x4
  net->add(std::make_unique<ConvTranspose2d<float>>(8, 4, 3, 2, 1, 1), "up");  // 4x4 -> 8x8
  net->add(std::make_unique<LayerNorm<float>>(std::vector<Index>{4, 8, 8}), "ln");
  net->add(std::make_unique<Conv2d<float>>(4, 6, 1), "pw");
  if (batch_norm) net->add(std::make_unique<BatchNorm2d<float>>(6), "bn");
  net->add(std::make_unique<Flatten<float>>(), "flat");
  net->add(std::make_unique<Linear<float>>(6 * 8 * 8, 5), "fc");
  return net;
}

// The flat parameter gradient of one forward + backward of net on x with output gradient dy.
std::vector<float> gradient(Module<float>& net, FlatParameters<float>& flat, const Tensor<float>& x,
                            const Tensor<float>& dy, Mode mode) {
  flat.zero_grad();
  net.forward(x, mode);
  net.backward(dy);
  return std::vector<float>(flat.grads().begin(), flat.grads().end());
}

// The gradient as R ranks get it: each rank's share of x and dy under its BatchSplit, on one
// thread, then the R sums added element by element by the chunk tree.
std::vector<float> split_gradient(Module<float>& net, FlatParameters<float>& flat, const Tensor<float>& x,
                                  const Tensor<float>& dy, Mode mode, Index ranks) {
  set_num_threads(1);
  std::vector<std::vector<float>> per_rank;
  for (Index r = 0; r < ranks; ++r) {
    const BatchSplit split{ranks, r, x.dim(0)};
    set_batch_split(net, &split);
    const Index b = split.first_sample(), e = b + split.local_batch();
    per_rank.push_back(gradient(net, flat, x.slice(b, e), dy.slice(b, e), mode));
  }
  set_batch_split(net, nullptr);
  set_num_threads(2);
  std::vector<float> sum(per_rank[0].size()), v(static_cast<std::size_t>(ranks));
  for (std::size_t i = 0; i < sum.size(); ++i) {
    for (Index r = 0; r < ranks; ++r) v[static_cast<std::size_t>(r)] = per_rank[static_cast<std::size_t>(r)][i];
    sum[i] = chunk_tree_sum(v.data(), ranks);
  }
  return sum;
}

// Whole-batch and split gradients of net for batches of the given sizes and 2 and 4 ranks.
void check_split_invariance(Module<float>& net, const Shape& sample, Mode mode) {
  FlatParameters<float> flat(net);
  Rng rng(31);
  for (Index n : {32, 37, 8}) {
    Shape xs = sample;
    xs = xs.with(0, n);
    Tensor<float> x(xs), dy(net.output_shape(xs));
    x.normal_(rng, 0, 1);
    dy.normal_(rng, 0, 1);
    const std::vector<float> whole = gradient(net, flat, x, dy, mode);
    double norm = 0;
    for (float g : whole) norm += double(g) * g;
    CHECK(norm > 0);
    for (Index ranks : {2, 4}) {
      INFO("batch " << n << ", " << ranks << " ranks");
      CHECK(same_bits(split_gradient(net, flat, x, dy, mode, ranks), whole));
    }
  }
}

}  // namespace

TEST_CASE("chunk_tree_sum adds neighbours first, so aligned runs are nodes of the tree", "[batch_split]") {
  const float v[4] = {1e8f, 1.0f, -1e8f, 1.0f};
  // ((1e8 + 1) + (-1e8 + 1)) = 1e8 - 1e8 = 0 in float (1 is lost twice); the sequential sum keeps the last 1.
  CHECK(chunk_tree_sum(v, 4) == 0.0f);
  CHECK(((v[0] + v[1]) + v[2]) + v[3] == 1.0f);
  const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float halves[2] = {chunk_tree_sum(w, 4), chunk_tree_sum(w + 4, 4)};
  CHECK(chunk_tree_sum(halves, 2) == chunk_tree_sum(w, 8));
  CHECK(chunk_tree_sum(w + 1, 4, 2) == 2 + 4 + 6 + 8);
}

TEST_CASE("batch_chunks: a rank's chunks are the global batch's, and a bad split is refused", "[batch_split]") {
  const BatchChunks whole = batch_chunks(nullptr, 37);
  CHECK(whole.count == kGradientChunks);
  CHECK(whole.begin(0) == 0);
  CHECK(whole.end(kGradientChunks - 1) == 37);
  for (Index ranks : {1, 2, 4, 8, 16}) {
    for (Index r = 0; r < ranks; ++r) {
      const BatchSplit split{ranks, r, 37};
      const BatchChunks mine = batch_chunks(&split, split.local_batch());
      REQUIRE(mine.count == kGradientChunks / ranks);
      for (Index c = 0; c < mine.count; ++c) {
        CHECK(mine.begin(c) + split.first_sample() == whole.begin(r * mine.count + c));
        CHECK(mine.end(c) + split.first_sample() == whole.end(r * mine.count + c));
      }
    }
  }
  const BatchSplit three{3, 0, 36}, outside{2, 2, 36}, half{2, 1, 36};
  CHECK_THROWS_WITH(batch_chunks(&three, 12), Catch::Contains("power of two"));
  CHECK_THROWS_WITH(batch_chunks(&outside, 18), Catch::Contains("rank 2 of 2"));
  CHECK_THROWS_WITH(batch_chunks(&half, 17), Catch::Contains("holds 18 samples of a global batch of 36, got 17"));
}

TEST_CASE("Every layer's parameter gradients are bitwise the same whole or split across 2 and 4 ranks",
          "[batch_split]") {
  for (bool bn : {false, true}) {
    INFO((bn ? "with BatchNorm, evaluation mode" : "training mode"));
    auto net = every_parameter_kind(bn);
    Rng rng(5);
    net->reset_parameters(rng);
    check_split_invariance(*net, Shape{1, 3, 8, 8}, bn ? Mode::Eval : Mode::Train);
  }
}

TEST_CASE("The reference network's gradients (gn, ln) are bitwise the same whole or split across ranks",
          "[batch_split]") {
  for (NormKind k : {NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    auto net = glia_test::seeded_reference_net(k, 0, 9);
    check_split_invariance(*net, Shape{1, 3, 16, 16}, Mode::Train);
  }
}
