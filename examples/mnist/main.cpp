// glia-mnist: your own network on your own data, in C++ (docs/tutorial.md, "Your own network").
//
//   glia-mnist DATA_DIR [EPOCHS]
// DATA_DIR holds MNIST's four IDX files (train-images-idx3-ubyte, ..., as published for MNIST and
// Fashion-MNIST) or is an image folder (ROOT/train/<class>/*.png, ROOT/test/<class>/*.png) of
// 28 x 28 grayscale images. Trains the network below (the same one as examples/mnist/mnist.json,
// which `glia train --model examples/mnist/mnist.json --data DATA_DIR` trains) and writes
// mnist-run/ (log, checkpoints) and mnist-run/model.safetensors, a model file that
// `glia eval`, `glia predict` and glia::load_model read without this program.
#include <glia/glia.hpp>
#include <glia/io.hpp>
#include <glia/model_io/model_file.hpp>
#include <glia/model_io/model_metadata.hpp>

#include <cstdio>
#include <memory>
#include <string>

using namespace glia;

// 1 x 28 x 28 -> 10 scores: two conv blocks (the second with a residual), then a small MLP.
std::unique_ptr<Sequential<float>> make_digits_net() {
  auto net = std::make_unique<Sequential<float>>();
  net->add(std::make_unique<Conv2d<float>>(1, 16, 3, 1, 1), "conv1");  // in, out, kernel, stride, padding
  net->add(std::make_unique<BatchNorm2d<float>>(16), "bn1");
  net->add(std::make_unique<ReLU<float>>(), "relu1");
  net->add(std::make_unique<MaxPool2d<float>>(2), "pool1");  // 16 x 14 x 14
  auto body = std::make_unique<Sequential<float>>();
  body->add(std::make_unique<Conv2d<float>>(16, 16, 3, 1, 1), "conv");
  body->add(std::make_unique<BatchNorm2d<float>>(16), "bn");
  body->add(std::make_unique<GELU<float>>(), "act");
  net->add(std::make_unique<Residual<float>>(std::move(body)), "res");  // y = x + body(x)
  net->add(std::make_unique<MaxPool2d<float>>(2), "pool2");             // 16 x 7 x 7
  net->add(std::make_unique<Flatten<float>>(), "flatten");               // 784
  net->add(std::make_unique<Linear<float>>(16 * 7 * 7, 64), "fc1");
  net->add(std::make_unique<SiLU<float>>(), "act1");
  net->add(std::make_unique<Dropout<float>>(0.1), "drop");
  net->add(std::make_unique<Linear<float>>(64, 10), "fc2");
  return net;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: glia-mnist DATA_DIR [EPOCHS]\n");
    return 2;
  }
  try {
    const ImageDataset train = load_dataset(argv[1], /*train=*/true);
    const ImageDataset test = load_dataset(argv[1], /*train=*/false);
    auto net = make_digits_net();
    Rng rng(1);
    net->reset_parameters(rng);  // PyTorch's default initialisation, seeded

    TrainerConfig config;
    config.epochs = argc > 2 ? static_cast<int>(parse_integer(argv[2], 1, 1000, "EPOCHS")) : 3;
    config.batch = 64;
    config.out_dir = "mnist-run";
    OptimizerOptions o;
    o.weight_decay = 1e-4;
    AdamW<float> adamw(o);
    OneCycleLr schedule(/*max_lr=*/3e-3, config.epochs * num_batches(train.size(), config.batch));
    Trainer<float> trainer(*net, adamw, schedule, config);
    ConsoleProgress progress;
    progress.attach(trainer);
    const Normalization norm = compute_normalization(train);  // per-channel mean and std of the pixels
    const AugmentConfig augment = AugmentConfig::normalize_only(norm);
    trainer.fit(train, test, &augment);

    const Shape input{train.channels, train.height, train.width};
    save_model("mnist-run/model.safetensors", *net, input, model_data_metadata(train.class_names, norm, train.channels));
    std::printf("wrote mnist-run/model.safetensors (try: glia predict --model mnist-run/model.safetensors IMAGE.png)\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glia-mnist: %s\n", e.what());
    return 1;
  }
}
