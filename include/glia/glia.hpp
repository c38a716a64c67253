// glia/glia.hpp: the one include for all of glia.
//
// glia is a header-only C++17 deep-learning library for the CPU: a templated tensor, layers with
// hand-written forward and backward passes, and the pieces to train small convolutional
// networks. Everything lives in namespace glia. See docs/architecture.md for the map.
#pragma once

#include "glia/core/error.hpp"
#include "glia/kernels/conv2d.hpp"
#include "glia/kernels/elementwise.hpp"
#include "glia/kernels/im2col.hpp"
#include "glia/kernels/norm.hpp"
#include "glia/kernels/parallel.hpp"
#include "glia/kernels/pool.hpp"
#include "glia/kernels/softmax.hpp"
#include "glia/models/reference_net.hpp"
#include "glia/nn/activation.hpp"
#include "glia/nn/conv2d.hpp"
#include "glia/nn/flat_parameters.hpp"
#include "glia/nn/init.hpp"
#include "glia/nn/linear.hpp"
#include "glia/nn/loss.hpp"
#include "glia/nn/module.hpp"
#include "glia/nn/normalization.hpp"
#include "glia/nn/pooling.hpp"
#include "glia/nn/residual.hpp"
#include "glia/nn/sequential.hpp"
#include "glia/tensor/random.hpp"
#include "glia/tensor/shape.hpp"
#include "glia/tensor/tensor.hpp"
#include "glia/version.hpp"
