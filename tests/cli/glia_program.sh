#!/usr/bin/env bash
# The glia program as a new user would run it: networks written as specs (tests/cli/specs/*.json,
# using the new layers) trained on data the test makes (glia_test_data: MNIST IDX files, a
# grayscale image folder without test/ of another size, an RGB image folder), the model files
# used by eval, predict and export in other processes, and the mistakes a user makes.
#   glia_program.sh GLIA GLIA_TEST_DATA SPECS_DIR WORK_DIR [GLIA_MNIST MNIST_SPEC]
# With the last two: examples/mnist's C++ program and its spec, on 28 x 28 IDX files.
# Prints one line per case and "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
glia="$1"; make_data="$2"; specs="$3"; work="$4"; mnist="${5:-}"; mnist_spec="${6:-}"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
"$make_data" data > /dev/null || { echo "FAIL glia_test_data"; exit 1; }
expect_timeout=300
source "$here/expect.sh"  # expect, check
# The run's final test accuracy (metrics.json) is at least $2 percent.
accuracy_at_least() {
  local acc
  acc=$(grep -oE '"final_test_accuracy": *[0-9.]+' "$1/metrics.json" | grep -oE '[0-9.]+$')
  echo "     $1: final test accuracy $acc%"
  awk -v a="$acc" -v min="$2" 'BEGIN { exit !(a >= min) }'
}
fingerprint() { grep -oE 'test outputs fnv1a64 [0-9a-f]+' <<< "$1"; }
run=(--threads 2 --batch 32 --seed 3)

# 1. summary: a spec and, later, a model file.
expect summary_spec 0 "Linear.*Total params: 10,274.*input 1 x 12 x 12, 10 classes" "$glia" summary --model "$specs/digits.json"

# The reference networks ship as specs (models/): a 1x1 convolution head gives [N, 10, 1, 1].
models="$(cd "$here/../../models" && pwd)"
expect summary_reference_spec 0 "Total params: 48,178.*input 3 x 32 x 32, 10 classes" "$glia" summary --model "$models/reference-gn.json"
expect export_reference_spec 0 "wrote ref.onnx" "$glia" export --model "$models/reference-bn.json" --onnx ref.onnx

# 2. MNIST IDX files, a spec with Residual, GroupNorm, GELU (tanh), SiLU, Dropout, Linear.
expect train_idx 0 "normalisation from the training images: channel 0 mean.*final test accuracy.*model.safetensors.*best.safetensors" \
  "$glia" train --model "$specs/digits.json" --data data/idx --epochs 4 --optimizer adamw --lr 0.003 --out runs/digits "${run[@]}"
train_fp=$(fingerprint "$out")
check idx_accuracy accuracy_at_least runs/digits 90
expect summary_model_file 0 "Total params: 10,274.*input 1 x 12 x 12, 10 classes" "$glia" summary --model runs/digits/model.safetensors
# The model file alone, in another process, gives the training process's outputs bit for bit.
expect eval_model_file 0 "accuracy .*test outputs fnv1a64" "$glia" eval --model runs/digits/model.safetensors --data data/idx --threads 1
check eval_outputs_bitwise_equal test "$(fingerprint "$out")" = "$train_fp"
expect eval_spec_and_weights_needs_normalisation 2 "has no normalisation: give .*--mean" \
  "$glia" eval --model "$specs/digits.json" --weights runs/digits/model.safetensors --data data/idx
expect export_onnx 0 "wrote digits.onnx" "$glia" export --model runs/digits/model.safetensors --onnx digits.onnx
check onnx_written test -s digits.onnx
expect init_from 0 "final test accuracy" "$glia" train --model "$specs/digits.json" --data data/idx --epochs 1 --lr 0.0005 \
  --optimizer adamw --init-from runs/digits/model.safetensors --out runs/finetune "${run[@]}"
check finetune_keeps_accuracy accuracy_at_least runs/finetune 90
expect resume 0 "resumed from runs/digits/last.ckpt after epoch 4.*final test accuracy" \
  "$glia" train --model "$specs/digits.json" --data data/idx --epochs 5 --optimizer adamw --lr 0.003 --resume runs/digits/last.ckpt --accept-changes "${run[@]}"

# 3. A grayscale 20 x 24 image folder without test/: resized to 16 x 16, 25% held out.
expect train_folder 0 "final test accuracy" "$glia" train --model "$specs/bands.json" --data data/folder --resize 16 16 \
  --val-fraction 0.25 --epochs 6 --optimizer adamw --lr 0.01 --out runs/bands "${run[@]}"
check folder_accuracy accuracy_at_least runs/bands 90
# A 40 x 48 RGB file: made gray and resized to the model's 16 x 16.
expect predict_resized 0 "big.png: middle \\(" "$glia" predict --model runs/bands/model.safetensors data/big.png
expect eval_validation_part 0 "accuracy" "$glia" eval --model runs/bands/model.safetensors --data data/folder --resize 16 16 \
  --val-fraction 0.25 --seed 3

# 4. An RGB folder with train/ and test/, fused BatchNorm + ReLU, Tanh, GlobalAvgPool2d.
expect train_rgb 0 "final test accuracy" "$glia" train --model "$specs/colours.json" --data data/rgb --epochs 8 \
  --optimizer adamw --lr 0.01 --out runs/colours "${run[@]}"
check rgb_accuracy accuracy_at_least runs/colours 90

# 5. Mistakes: each named, nothing trained.
expect data_channels_differ 1 "has 3 channel|have 3 channel|model takes 1" "$glia" train --model "$specs/digits.json" --data data/rgb --out runs/x "${run[@]}"
expect data_size_differs 1 "are 20 x 24 but the model takes 16 x 16: give --resize 16 16" \
  "$glia" train --model "$specs/bands.json" --data data/folder --val-fraction 0.25 --out runs/x "${run[@]}"
expect folder_without_test 1 "test" "$glia" train --model "$specs/bands.json" --data data/folder --resize 16 16 --out runs/x "${run[@]}"
expect too_many_classes 1 "10 classes but the model scores 3" "$glia" train --model "$specs/bands.json" --data data/idx --resize 16 16 --out runs/x "${run[@]}"
printf '{"input": [1, 12, 12], "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3}, {"type": "Flatten"}, {"type": "Linear", "in_features": 500, "out_features": 4}]}' > bad-chain.json
expect spec_shape_does_not_chain 1 "layers\\[2\\] \\(Linear\\): key 'in_features' is 500, expected 400 \\(the input is \\[1,400\\]\\)" "$glia" summary --model bad-chain.json
printf '{"input": [1, 12, 12], "layers": [{"type": "Conv2D", "in_channels": 1}]}' > bad-type.json
expect spec_unknown_type 1 "layers\\[0\\].*Conv2D" "$glia" train --model bad-type.json --data data/idx --out runs/x "${run[@]}"
printf '{"input": [1, 12, 12], "layers": [' > bad-json.json
expect spec_not_json 1 "bad-json.json: not JSON at byte" "$glia" summary --model bad-json.json
expect dropout_flag 2 "--dropout: the model spec says" "$glia" train --model "$specs/digits.json" --data data/idx --dropout 0.1
expect unknown_flag 2 "--bogus.*Usage: glia train" "$glia" train --model "$specs/digits.json" --data data/idx --bogus
expect unknown_command 2 "unknown command 'fly'" "$glia" fly
expect missing_model 2 "--model is required" "$glia" eval --data data/idx
expect weights_missing_tensor 1 "runs/bands/model.safetensors'?: no tensor 'res.body.0.weight'" \
  "$glia" eval --model "$specs/digits.json" --weights runs/bands/model.safetensors --mean 0.5 --std 0.5 --data data/idx
expect mean_count 2 "--mean and --std need 1 values each" "$glia" predict --model runs/digits/model.safetensors --mean 0.5,0.5 --std 1,1 data/big.png
check no_run_left_by_mistakes test ! -e runs/x/model.safetensors

# 6. examples/mnist: the network in C++ and the same network as a spec give one kind of model file.
if [ -n "$mnist" ]; then
  expect mnist_example 0 "wrote mnist-run/model.safetensors" "$mnist" data/idx28 2
  expect mnist_example_model_file 0 "accuracy .*class" "$glia" eval --model mnist-run/model.safetensors --data data/idx28
  expect mnist_spec 0 "final test accuracy" "$glia" train --model "$mnist_spec" --data data/idx28 --epochs 1 --out runs/mnist "${run[@]}"
  expect mnist_weights_into_spec 0 "accuracy" "$glia" eval --model "$mnist_spec" --weights mnist-run/model.safetensors \
    --mean 0.5 --std 0.25 --data data/idx28
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
