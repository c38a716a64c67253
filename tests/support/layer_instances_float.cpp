// The float half of the layers every test file uses as `extern template` (prelude.hpp): compiled
// once here instead of in each file. Two files so that the two halves compile in parallel.
#include "support/prelude.hpp"

#define GLIA_LAYER_INSTANCE(Class, T) template class glia::Class<T>;
GLIA_LAYER_INSTANCES_OF(float)
GLIA_LAYER_INSTANCE(Trainer, float)
#undef GLIA_LAYER_INSTANCE
