// glia/glia.hpp: the one include for all of glia.
//
// glia is a header-only C++17 deep-learning library for the CPU: a templated tensor, layers with
// hand-written forward and backward passes, and the pieces to train small convolutional
// networks. Everything lives in namespace glia. See docs/architecture.md for the map.
// The image-folder loader and the PNG/HTML reports use stb (Debian's libstb-dev); they are
// included when its headers are found, and can always be included on their own.
#pragma once

#include "glia/core/atomic_file.hpp"
#include "glia/core/error.hpp"
#include "glia/core/input_file.hpp"
#include "glia/core/parse.hpp"
#include "glia/core/utf8.hpp"
#include "glia/data/augment.hpp"
#include "glia/data/cifar10.hpp"
#include "glia/data/class_names.hpp"
#include "glia/data/dataset.hpp"
#include "glia/data/loader.hpp"
#include "glia/kernels/conv2d.hpp"
#include "glia/kernels/elementwise.hpp"
#include "glia/kernels/im2col.hpp"
#include "glia/kernels/norm.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/kernels/pool.hpp"
#include "glia/kernels/softmax.hpp"
#include "glia/models/reference_net.hpp"
#include "glia/models/summary.hpp"
#include "glia/nn/activation.hpp"
#include "glia/nn/conv2d.hpp"
#include "glia/nn/conv_norm.hpp"
#include "glia/nn/flat_parameters.hpp"
#include "glia/nn/init.hpp"
#include "glia/nn/linear.hpp"
#include "glia/nn/loss.hpp"
#include "glia/nn/module.hpp"
#include "glia/nn/normalization.hpp"
#include "glia/nn/pooling.hpp"
#include "glia/nn/residual.hpp"
#include "glia/nn/sequential.hpp"
#include "glia/optim/lr_schedule.hpp"
#include "glia/optim/optimizer.hpp"
#include "glia/optim/weight_average.hpp"
#include "glia/report/json.hpp"
#include "glia/report/run_record.hpp"
#include "glia/report/svg.hpp"
#include "glia/tensor/random.hpp"
#include "glia/tensor/shape.hpp"
#include "glia/tensor/tensor.hpp"
#include "glia/train/checkpoint.hpp"
#include "glia/train/evaluate.hpp"
#include "glia/train/metrics.hpp"
#include "glia/train/precise_bn.hpp"
#include "glia/train/progress.hpp"
#include "glia/train/recipe.hpp"
#include "glia/train/run_folder.hpp"
#include "glia/train/trainer.hpp"
#include "glia/version.hpp"

#if __has_include(<stb/stb_image.h>) && __has_include(<stb/stb_image_write.h>)
#include "glia/data/image_folder.hpp"
#include "glia/report/html_report.hpp"
#include "glia/report/png.hpp"
#endif
