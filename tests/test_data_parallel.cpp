// Data-parallel training (Trainer::distribute, train/data_parallel.hpp) on ranks that are
// threads of this process (ThreadCollective): the weights, running statistics and evaluations
// are bitwise those of one process, for bn, gn and ln, with 2 and 4 ranks.
#include <catch2/catch.hpp>

#include <glia/glia.hpp>

#include <exception>
#include <thread>
#include <vector>

#include "support/run_support.hpp"
#include "support/tensor_compare.hpp"

using namespace glia;
using glia::testing::same_bits;
using glia_test::synthetic;

namespace {

struct RankResult {
  std::vector<float> weights, buffers;
  RunRecord record;
};

// One rank's run: the reference net (dropout 0.1), the improved recipe's optimiser, schedule
// and augmentation, 2 epochs of batches of 16 over 52 images (the last batch has 4).
RankResult train_one(NormKind norm, Collective* c, int threads) {
  set_num_threads(threads);
  auto model = glia_test::seeded_reference_net(norm, 0.1, 3);
  Recipe recipe = improved_recipe();
  recipe.epochs = 2;
  auto opt = make_optimizer<float>(recipe);
  auto schedule = make_schedule(recipe, 4);
  TrainerConfig tc;
  tc.epochs = 2;
  tc.batch = 16;
  tc.eval_batch = 7;
  tc.seed = 11;
  Trainer<float> trainer(*model, *opt, *schedule, tc);
  if (c) trainer.distribute(*c);
  RankResult r;
  r.record = trainer.fit(synthetic(52, 1), synthetic(30, 2), &recipe.augment);
  r.weights.assign(trainer.parameters().values().begin(), trainer.parameters().values().end());
  for (auto& b : buffers(*model)) r.buffers.insert(r.buffers.end(), b.tensor->begin(), b.tensor->end());
  return r;
}

// Every rank's result, the ranks running as threads of one thread each.
std::vector<RankResult> train_ranks(NormKind norm, int ranks) {
  ThreadGroup group(ranks);
  std::vector<RankResult> results(static_cast<std::size_t>(ranks));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        ThreadCollective c(group, r);
        results[static_cast<std::size_t>(r)] = train_one(norm, &c, 1);
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
        group.leave(r);
      }
    });
  for (auto& t : threads) t.join();
  set_num_threads(2);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return results;
}

}  // namespace

TEST_CASE("Data-parallel training on 2 and 4 ranks gives the weights of one process, bit for bit", "[data_parallel]") {
  for (NormKind k : {NormKind::Batch, NormKind::Group, NormKind::Layer}) {
    INFO("norm " << norm_kind_name(k));
    const RankResult one = train_one(k, nullptr, 2);
    REQUIRE(one.record.epochs.size() == 2);
    CHECK(one.record.ranks == 1);
    for (int ranks : {2, 4}) {
      INFO(ranks << " ranks");
      const std::vector<RankResult> split = train_ranks(k, ranks);
      for (const RankResult& r : split) {
        CHECK(same_bits(r.weights, one.weights));
        CHECK(same_bits(r.buffers, one.buffers));  // BatchNorm's running statistics: the global batch's
        CHECK(r.record.ranks == ranks);
        CHECK(r.record.batch_per_rank == 16 / ranks);
        for (std::size_t e = 0; e < 2; ++e) {
          const EpochRecord& a = r.record.epochs[e];
          const EpochRecord& b = one.record.epochs[e];
          CHECK(a.train_correct == b.train_correct);
          CHECK(a.train_loss == Approx(b.train_loss).epsilon(1e-6));  // summed by rank: the last bits may differ
          CHECK(a.test_correct == b.test_correct);
          CHECK(a.test_loss == b.test_loss);  // the evaluation is gathered batch by batch: exact
        }
        CHECK(r.record.confusion == one.record.confusion);
      }
    }
  }
}

TEST_CASE("Data-parallel training refuses a split it cannot make identical", "[data_parallel]") {
  ThreadGroup three(3), eight(8);
  ThreadCollective odd(three, 0), many(eight, 0);
  CHECK_THROWS_WITH(DataParallel<float>(odd), Catch::Contains("power of two"));
  const DataParallel<float> dp(many);
  CHECK_NOTHROW(dp.check_batches(64, 16));
  CHECK_THROWS_WITH(dp.check_batches(52, 16), Catch::Contains("the last batch of an epoch of 52 samples has 4 samples, fewer than the ranks"));
  CHECK_THROWS_WITH(dp.check_batches(64, 4), Catch::Contains("a batch has 4 samples, fewer than the ranks"));
}

TEST_CASE("A rank that stops makes the others throw instead of waiting", "[data_parallel]") {
  ThreadGroup group(2);
  std::thread quitter([&] { group.leave(1); });
  quitter.join();
  ThreadCollective c(group, 0);
  std::vector<float> v{1, 2}, scratch;
  CHECK_THROWS_AS(sum_over_ranks(c, v.data(), 2, scratch), DistributedError);
}

TEST_CASE("sum_over_ranks adds every rank's values by the chunk tree, the same on every rank", "[data_parallel]") {
  ThreadGroup group(4);
  std::vector<std::vector<float>> values(4);
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r)
    threads.emplace_back([&, r] {
      ThreadCollective c(group, r);
      std::vector<float> scratch;
      values[static_cast<std::size_t>(r)] = {r == 0 ? 1e8f : r == 2 ? -1e8f : 1.0f, float(r)};
      sum_over_ranks(c, values[static_cast<std::size_t>(r)].data(), 2, scratch);
    });
  for (auto& t : threads) t.join();
  for (const auto& v : values) {
    CHECK(v[0] == 0.0f);  // (1e8 + 1) + (-1e8 + 1): the tree, not the sequence (which gives 1)
    CHECK(v[1] == 6.0f);
  }
}
