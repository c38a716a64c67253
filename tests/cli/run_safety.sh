#!/usr/bin/env bash
# Nothing a user types loses a run: the inputs of the issue, given to glia-cifar10 as a user (or an
# attacker) would, each with the exit code and message expected and a check that no run was lost.
#   run_safety.sh GLIA_CIFAR10 DATA_DIR WORK_DIR [CONCURRENT_IMAGES]
# CONCURRENT_IMAGES (default 1024): the training images of the run that another run tries to
# share a folder with; it must still be running when the other starts, which a sanitizer build
# (about 20x slower) does with fewer.
# Prints one line per case and "N passed, M failed" at the end; exits non-zero on a failure.
set -uo pipefail
bin="$1"; data="$2"; work="$3"; concurrent_images="${4:-1024}"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
small=(--data "$data" --train-limit 64 --test-limit 32 --batch 32 --threads 2)
ev=(--data "$data" --test-limit 32)  # what eval takes
source "$here/expect.sh"  # expect, check

# 1. A run folder belongs to one run.
expect first_run 0 "wrote r1/\{last.ckpt,best.ckpt,log.csv,metrics.json,model.safetensors,best.safetensors,report/index.html\}" "$bin" train "${small[@]}" --epochs 1 --out r1
sum_before=$(cksum < r1/last.ckpt)
expect another_run_refused 2 "run folder 'r1' holds another run.*--resume r1/last.ckpt.*--overwrite" "$bin" train "${small[@]}" --epochs 1 --out r1
check another_run_kept_intact test "$(cksum < r1/last.ckpt)" = "$sum_before"
expect teacher_is_output 2 "--teacher 'r1/last.ckpt' is the run's own output" "$bin" train "${small[@]}" --epochs 1 --out r1 --teacher r1/last.ckpt --overwrite
check teacher_kept_intact test "$(cksum < r1/last.ckpt)" = "$sum_before"
expect empty_out 2 "the run folder is an empty path" "$bin" train "${small[@]}" --epochs 1 --out ""
expect overwrite 0 "removed the previous run's .*--overwrite.*wrote r1/" "$bin" train "${small[@]}" --epochs 1 --out r1 --overwrite
expect resume_and_overwrite 2 "(--overwrite excludes --resume|--resume excludes --overwrite)" "$bin" train "${small[@]}" --epochs 2 --resume r1/last.ckpt --overwrite
expect resume_into_own_folder 0 "resumed from r1/last.ckpt after epoch 1.*wrote r1/" "$bin" train "${small[@]}" --epochs 2 --resume r1/last.ckpt --accept-changes
expect resume_at_end 0 "nothing left to train.*wrote r1/" "$bin" train "${small[@]}" --epochs 2 --resume r1/last.ckpt
expect resume_past_end 2 "after epoch 2, past this run's last epoch 1" "$bin" train "${small[@]}" --epochs 1 --resume r1/last.ckpt --accept-changes
expect changed_setting_refused 2 "lr '0.01' -> '0.5'.*--accept-changes" "$bin" train "${small[@]}" --epochs 3 --lr 0.5 --resume r1/last.ckpt
check log_lists_each_epoch_once test "$(tail -n +2 r1/log.csv | cut -d, -f1 | tr '\n' ' ')" = "1 2 "
# Two runs on one folder at once: the second is refused, naming the first; the first finishes.
"$bin" train --data "$data" --train-limit "$concurrent_images" --test-limit 32 --epochs 2 --threads 1 --out r2 > r2.log 2>&1 &
first=$!
until grep -q "run folder: r2" r2.log 2>/dev/null || ! kill -0 $first 2>/dev/null; do sleep 0.05; done
expect concurrent_run_refused 1 "run folder 'r2' is in use by another run \(pid $first" "$bin" train "${small[@]}" --epochs 1 --out r2
wait $first; check concurrent_first_run_finished grep -q "final test accuracy" r2.log
# A lock left by a killed run is taken over and reported.
printf 'pid 999999\nhost gone\nsince 2026-01-01T00:00:00Z\n' > stale.lock
mkdir -p r3 && cp stale.lock r3/run.lock
expect stale_lock_taken_over 0 "took over the lock .*pid 999999" "$bin" train "${small[@]}" --epochs 1 --out r3

# 2. Every file argument is checked before it is read (a FIFO would block for ever).
mkfifo fifo
expect fifo_resume 1 "--resume checkpoint 'fifo' is a FIFO" "$bin" train "${small[@]}" --resume fifo --out r4
expect fifo_teacher 1 "--teacher checkpoint 'fifo' is a FIFO" "$bin" train "${small[@]}" --teacher fifo --out r4
expect fifo_eval 1 "checkpoint 'fifo' is a FIFO" "$bin" eval "${ev[@]}" --checkpoint fifo
expect dir_eval 1 "checkpoint '.' is a directory" "$bin" eval "${ev[@]}" --checkpoint .
expect fifo_report 1 "metrics file 'fiforun/metrics.json' is a FIFO" bash -c "mkdir -p fiforun && mkfifo fiforun/metrics.json && '$bin' report fiforun --out fifo-report"

# 3. Metadata parsed strictly: a checkpoint with one value changed and its hash made valid again.
craft() {  # craft IN OUT KEY VALUE
  python3 - "$@" <<'EOF'
import struct, sys
src, dst, key, value = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
b = open(src, 'rb').read()
p = b[24:-8]
m = struct.unpack_from('<I', p, 0)[0]; pos = 4; meta = []
for _ in range(m):
    n = struct.unpack_from('<I', p, pos)[0]; k = p[pos + 4:pos + 4 + n]; pos += 4 + n
    n = struct.unpack_from('<I', p, pos)[0]; v = p[pos + 4:pos + 4 + n]; pos += 4 + n
    meta.append((k, value if k == key else v))
out = struct.pack('<I', m) + b''.join(struct.pack('<I', len(k)) + k + struct.pack('<I', len(v)) + v for k, v in meta) + p[pos:]
h = 0xcbf29ce484222325
for c in out: h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
open(dst, 'wb').write(b[:16] + struct.pack('<Q', len(out)) + out + struct.pack('<Q', h))
EOF
}
if command -v python3 > /dev/null; then
  mkdir -p crafted
  for value in 1e300 3000000000 -1; do
    craft r1/last.ckpt crafted/epoch.ckpt epoch "$value"
    expect "epoch_$value" 1 "crafted/epoch.ckpt: metadata 'epoch' is '$value', not an integer" "$bin" train "${small[@]}" --epochs 2 --resume crafted/epoch.ckpt --out crafted/out
  done
  craft r1/last.ckpt crafted/batch.ckpt batch abc
  expect batch_abc_eval 1 "crafted/batch.ckpt: metadata 'batch' is 'abc', not an integer" "$bin" eval "${ev[@]}" --checkpoint crafted/batch.ckpt --precise-bn
  craft r1/last.ckpt crafted/images.ckpt train_images -7
  expect train_images_negative 1 "metadata 'train_images' is '-7'" "$bin" train "${small[@]}" --epochs 2 --resume crafted/images.ckpt --out crafted/out
  craft r1/last.ckpt crafted/norm.ckpt config.norm xn
  expect bad_norm_in_checkpoint 1 "crafted/norm.ckpt: metadata 'config.norm' is 'xn', not bn, gn or ln" "$bin" eval "${ev[@]}" --checkpoint crafted/norm.ckpt
  craft r1/last.ckpt crafted/widths.ckpt config.widths 16,32,8
  expect bad_widths_in_checkpoint 1 "metadata 'config.widths' is '16,32,8', not four channel counts" "$bin" eval "${ev[@]}" --checkpoint crafted/widths.ckpt
else
  echo "skip metadata cases: no python3 to craft checkpoints"
fi

# 5. Inputs validated before the work.
expect tta_checked_first 2 "shift of 50 pixels does not fit images of 32x32" "$bin" train "${small[@]}" --epochs 3 --tta shift50 --out r5
check tta_trained_nothing test ! -e r5/last.ckpt
expect extra_operand_train 2 "argument was not expected: extra.*Usage: glia-cifar10 train" "$bin" train "${small[@]}" extra
expect extra_operand_eval 2 "argument was not expected: extra" "$bin" eval "${ev[@]}" --checkpoint r1/last.ckpt extra
expect extra_operand_summary 2 "argument was not expected: extra" "$bin" summary extra
expect checkpoint_twice 2 "--checkpoint: At Most 1 required but received 2" "$bin" eval "${ev[@]}" --checkpoint r1/last.ckpt --checkpoint r1/best.ckpt
# Each flag changes the recipe that --recipe names, wherever it stands on the line, and the
# optimiser is its name alone (--optimizer sgd after the improved recipe is plain SGD).
expect flags_change_the_recipe 0 "recipe improved.*wrote r6/" "$bin" train "${small[@]}" --epochs 1 --lr 0.02 --optimizer sgd --recipe improved --out r6
if command -v python3 > /dev/null; then
  check flags_change_the_recipe_recorded python3 -c "import json, sys; c = json.load(open('r6/metrics.json'))['config']
sys.exit(not (c['recipe'], c['lr'], c['optimizer'], c['final_tta']) == ('improved', '0.02', 'sgd', 'flip+shift1'))"
fi
expect stdout_full 1 "cannot write the results to standard output" bash -c "'$bin' summary > /dev/full"
expect stdout_full_eval 1 "cannot write the results to standard output" bash -c "'$bin' eval ${ev[*]} --checkpoint r1/last.ckpt > /dev/full"

# A model trained on an image folder of two classes scores two classes and names them.
if command -v python3 > /dev/null; then
  python3 - <<'EOF'
import os, struct
def bmp(path, rgb, seed):  # 32x32, 24-bit, bottom-up; a little noise per pixel
    rows = b''.join(bytes((min(255, rgb[2] + (x * 7 + y * 3 + seed) % 40), rgb[1], rgb[0])) for y in range(32) for x in range(32))
    head = b'BM' + struct.pack('<IHHI', 54 + len(rows), 0, 0, 54) + struct.pack('<IiiHHIIiiII', 40, 32, 32, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    open(path, 'wb').write(head + rows)
for split, n in (('train', 16), ('test', 4)):
    for name, rgb in (('red', (200, 30, 30)), ('blue', (30, 30, 200))):
        os.makedirs(f'two/{split}/{name}', exist_ok=True)
        for i in range(n): bmp(f'two/{split}/{name}/{i}.bmp', rgb, i)
EOF
  expect two_class_train 0 "2 classes.*wrote two-run/" "$bin" train --data two --epochs 1 --batch 8 --out two-run
  expect two_class_predict 0 "0.bmp: (red|blue) .*1.bmp: (red|blue) " "$bin" predict --checkpoint two-run/last.ckpt two/test/red/0.bmp two/test/blue/1.bmp
  check two_class_no_unknown_name bash -c "! '$bin' predict --checkpoint two-run/last.ckpt two/test/*/*.bmp | grep -q ': ?'"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
