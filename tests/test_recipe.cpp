// Recipes (train/recipe.hpp): one representation of each setting, the trainer's configuration
// included, and names refused with the list of accepted ones.
#include <catch2/catch.hpp>

#include <string>

#include <glia/train/recipe.hpp>

using namespace glia;

TEST_CASE("The optimiser is its name alone: Nesterov momentum only for \"nesterov\"", "[recipe]") {
  Recipe r = improved_recipe();
  CHECK(make_optimizer<float>(r)->name() == "SGD(nesterov)");
  r.optimizer = "sgd";  // what --optimizer sgd does to the improved recipe
  CHECK(make_optimizer<float>(r)->name() == "SGD");
  r.optimizer = "adamw";
  CHECK(make_optimizer<float>(r)->name() == "AdamW");
  CHECK(make_optimizer<float>(reference_recipe())->name() == "SGD");
}

TEST_CASE("A recipe is the trainer's configuration: no copy, no second value", "[recipe]") {
  const Recipe r = improved_recipe();
  const TrainerConfig& tc = r;
  CHECK(tc.epochs == 30);
  CHECK(tc.batch == 16);
  CHECK(tc.label_smoothing == 0.1);
  CHECK(tc.final_tta.name() == "flip+shift1");
  const Recipe ref = reference_recipe();
  CHECK(static_cast<const TrainerConfig&>(ref).epochs == 20);
  CHECK(ref.seed == TrainerConfig{}.seed);
}

TEST_CASE("Unknown recipe, optimiser, schedule and init names are refused with the accepted ones", "[recipe][errors]") {
  CHECK_THROWS_WITH(recipe_by_name("fast"), "unknown recipe 'fast': expected reference or improved");
  Recipe r = reference_recipe();
  r.optimizer = "rmsprop";
  CHECK_THROWS_WITH(make_optimizer<float>(r), "unknown optimizer 'rmsprop': expected sgd, nesterov, adam or adamw");
  r = reference_recipe();
  r.schedule = "linear";
  CHECK_THROWS_WITH(make_schedule(r, 10), "unknown schedule 'linear': expected piecewise, onecycle, cosine, step or constant");
  Linear<float> layer(2, 2);
  Rng rng(1);
  CHECK_THROWS_WITH(init_model(layer, "he", rng),
                    "unknown init 'he': expected xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal or torch");
  for (const std::string& name : optimizer_names()) {
    r = reference_recipe();
    r.optimizer = name;
    CHECK_NOTHROW(make_optimizer<float>(r));
  }
  for (const std::string& name : schedule_names()) {
    r = reference_recipe();
    r.schedule = name;
    CHECK_NOTHROW(make_schedule(r, 10));
  }
}
