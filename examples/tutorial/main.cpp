// glia-tutorial: the program of docs/tutorial.md, training a model from your own code.
//
//   glia-tutorial [DATA_DIR [LIMIT]]
// DATA_DIR is a CIFAR-10 binary folder (or an image-folder root); without it, $GLIA_DATA.
// LIMIT > 0 keeps only the first LIMIT images of each split (a quick try); 0 (default) uses all;
// anything but a whole number in [0, 2^30] is refused (core/parse.hpp).
// Writes the run folder tutorial-run/ in the current directory.
#include <glia/glia.hpp>
#include <glia/io.hpp>  // load_dataset: CIFAR-10 binary or image folders (stb_image)

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace glia;

namespace {

// Part 2 of the tutorial: a custom Sequential trained by a hand-written loop, no Trainer.
void train_by_hand(const ImageDataset& train, const ImageDataset& test) {
  Sequential<float> net;
  net.add(std::make_unique<Conv2d<float>>(3, 16, 3, 1, 1), "conv1");  // in, out, kernel, stride, pad
  net.add(std::make_unique<BatchNorm2d<float>>(16), "bn1");
  net.add(std::make_unique<ReLU<float>>(), "relu1");
  net.add(std::make_unique<MaxPool2d<float>>(2), "pool1");
  net.add(std::make_unique<Conv2d<float>>(16, 32, 3, 1, 1), "conv2");
  net.add(std::make_unique<ReLU<float>>(), "relu2");
  net.add(std::make_unique<GlobalAvgPool2d<float>>(), "gap");
  net.add(std::make_unique<Linear<float>>(32, 10), "fc");
  net.set_needs_input_grad(false);  // the input is data: skip its gradient

  Rng rng(2);
  init_model(net, "kaiming_normal", rng);
  FlatParameters<float> params(net);  // all parameters in one buffer; net must outlive params
  Adam<float> adam;                   // beta1 0.9, beta2 0.999, eps 1e-8
  CrossEntropyLoss<float> loss;
  const std::uint64_t seed = 2;
  const Index batch = 32;
  Tensor<float> x;
  std::vector<std::int32_t> y;
  for (std::uint64_t epoch = 1; epoch <= 1; ++epoch) {
    const std::vector<Index> order = shuffled_indices(train.size(), seed, epoch);
    for (Index b = 0; b < num_batches(train.size(), batch); ++b) {
      const BatchRange r = batch_range(train.size(), batch, b);
      make_batch(x, y, train, order.data() + r.begin, r.count, nullptr, seed, adam.steps());  // no augmentation
      params.zero_grad();                                      // 1. zero the gradients (once per step)
      const Tensor<float>& logits = net.forward(x, Mode::Train);  // 2. forward
      const float l = loss.forward(logits, y);                 // 3. loss
      net.backward(loss.backward());                           // 4. backward: adds into params.grads()
      adam.step(params, 1e-3);                                 // 5. update with this step's rate
      if (b % 100 == 0) std::printf("by hand: batch %ld loss %.4f\n", static_cast<long>(b), static_cast<double>(l));
    }
  }
  const EvalResult e = evaluate(net, test);
  std::printf("by hand: test accuracy %.2f%%\n", 100.0 * e.accuracy());
}

// Part 1, steps 2-5: the reference net trained by the Trainer, then evaluated.
std::unique_ptr<Sequential<float>> train_with_trainer(const ImageDataset& train, const ImageDataset& test) {
  // 2. Model: the reference net, initialised with a seed.
  auto model = make_reference_net<float>();  // std::unique_ptr<Sequential<float>>, BatchNorm
  Rng rng(1);
  init_model(*model, "xavier_uniform", rng);

  // 3. Optimiser and learning-rate schedule.
  const int epochs = 2;
  const Index batch = 32;
  OptimizerOptions o;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 5e-4;  // not on biases and norm parameters
  Sgd<float> sgd(o);
  OneCycleLr schedule(/*max_lr=*/0.05, /*total steps=*/epochs * num_batches(train.size(), batch));

  // 4. Trainer (it owns the FlatParameters) with a console progress display, then fit.
  TrainerConfig tc;
  tc.epochs = epochs;
  tc.batch = batch;
  tc.seed = 1;
  tc.out_dir = "tutorial-run";  // log.csv, last.ckpt, best.ckpt
  Trainer<float> trainer(*model, sgd, schedule, tc);
  ConsoleProgress progress;
  progress.attach(trainer);
  AugmentConfig augment;
  augment.crop_pad = 4;
  augment.hflip = true;
  trainer.fit(train, test, &augment);

  // 5. Evaluate (eval mode: BatchNorm running statistics, no dropout).
  const EvalResult result = evaluate(*model, test);
  std::printf("test loss %.4f, accuracy %.2f%% (%lld/%lld)\n", result.loss, 100.0 * result.accuracy(),
              static_cast<long long>(result.correct), static_cast<long long>(result.total));
  return model;
}

// 6. Save the model alone, then load it into a freshly built network.
std::unique_ptr<Sequential<float>> save_and_reload(Module<float>& model) {
  Checkpoint saved;
  put_module(saved, model);
  saved.meta["note"] = "glia tutorial";
  save_checkpoint("tutorial-run/model.ckpt", saved);
  auto loaded = make_reference_net<float>();
  get_module(load_checkpoint("tutorial-run/model.ckpt"), *loaded);
  return loaded;
}

// 7. Predict one image (here the first test image; decode_image_file reads a PNG/JPEG/BMP).
void predict_first_image(Module<float>& model, const ImageDataset& test) {
  Tensor<float> x(Shape{1, 3, 32, 32});
  normalize_image(x.data(), test.image(0), 3, 32, 32);
  LogSoftmax<float> log_softmax;
  const Tensor<float>& logp = log_softmax.forward(model.forward(x, Mode::Eval), Mode::Eval);
  const std::int32_t c = argmax_row(logp.data(), logp.dim(1));
  auto name = [&](std::int32_t k) {
    return k < static_cast<std::int32_t>(test.class_names.size()) ? test.class_names[static_cast<std::size_t>(k)]
                                                                   : std::to_string(k);
  };
  std::printf("first test image: predicted %s (%.1f%%), true %s\n", name(c).c_str(),
              100.0 * std::exp(static_cast<double>(logp[c])), name(test.labels[0]).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("GLIA_DATA");
  if (argc < 2 && !(env && *env)) {
    std::fprintf(stderr, "usage: glia-tutorial DATA_DIR [LIMIT]   (or set GLIA_DATA)\n");
    return 2;
  }
  try {
    const std::string dir = argc > 1 ? argv[1] : env;
    const Index limit = argc > 2 ? parse_integer(argv[2], 0, Index{1} << 30, "LIMIT") : 0;

    // 1. Data: CIFAR-10 binary folder or image folder, uint8 images in memory.
    const ImageDataset train = load_dataset(dir, /*train=*/true, limit);
    const ImageDataset test = load_dataset(dir, /*train=*/false, limit);

    auto model = train_with_trainer(train, test);
    auto loaded = save_and_reload(*model);
    predict_first_image(*loaded, test);

    // Part 2: the loop by hand.
    train_by_hand(train, test);
    return 0;
  } catch (const Error& e) {  // every glia exception derives from glia::Error
    std::fprintf(stderr, "glia-tutorial: %s\n", e.what());
    return 1;
  }
}
