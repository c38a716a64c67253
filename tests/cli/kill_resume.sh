#!/usr/bin/env bash
# Crash safety: SIGKILL a training run at random moments, resume it from its last checkpoint
# each time, and check that (1) the run folder always holds a loadable last.ckpt once one was
# written, never a half-written one, and (2) the finished run's weights are bitwise identical
# to an uninterrupted run's.
#   kill_resume.sh GLIA_CIFAR10 DATA_DIR WORK_DIR [TRAIN_IMAGES EPOCHS]
# TRAIN_IMAGES EPOCHS default to 1280 8: a few seconds in a release build; a sanitizer build
# (about 20x slower) is given fewer.
# The kills follow the sessions' progress, not the clock: each session is killed at a random
# point 0.2 to 1.1 epochs after the first epoch it completes, so it always advances the run and
# rarely finishes it, however fast the machine or busy with other tests. The unit is the shorter
# of the uninterrupted run's median epoch and the session's own first epoch (which includes its
# warm-up): either alone is too long when the machine was busier then than now. Fixed times
# failed both ways: a resumed session could finish before its kill, or die before its first
# checkpoint.
set -euo pipefail
bin="$1"; data="$2"; work="$3"; images="${4:-1280}"; epochs="${5:-8}"
rm -rf "$work"; mkdir -p "$work"
args=(train --data "$data" --train-limit "$images" --test-limit 128 --epochs "$epochs" --batch 32 --threads 2 --seed 11 --dropout 0.1)

now() { date +%s%N; }
wait_for() {  # PID FILE REGEX: until FILE has a line matching REGEX, or PID has exited
  until grep -qE "$3" "$2" 2>/dev/null; do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.02
  done
}
epoch_row='^ +[0-9]+ +[0-9]+\.[0-9]{6} '  # a row of the per-epoch table (flushed once written)

"$bin" "${args[@]}" --out "$work/whole" > "$work/whole.log"
# the median of the table's time column ("0.5s"), in ns
whole_epoch_ns=$(grep -E "$epoch_row" "$work/whole.log" | awk '{ print $3 + 0 }' | sort -g \
  | awk '{ t[NR] = $1 } END { printf "%.0f", t[int((NR + 1) / 2)] * 1e9 }')
want=$("$bin" eval --checkpoint "$work/whole/last.ckpt" --data "$data" --test-limit 128 | grep fnv1a64)

RANDOM=20261125  # the kill times are random but reproducible
kills=0
run() {  # one training session into killed/, resuming when a checkpoint exists
  local resume=()
  [ -f "$work/killed/last.ckpt" ] && resume=(--resume "$work/killed/last.ckpt")
  # exec: the background job's pid is then the trainer's own, so kill -9 hits the trainer
  exec "$bin" "${args[@]}" --out "$work/killed" "${resume[@]}" > "$work/session-$1.log" 2>&1
}
for attempt in 1 2 3 4 5 6; do
  run "$attempt" &
  pid=$!
  # "run folder:" is flushed when training starts; a row when an epoch is checkpointed.
  wait_for "$pid" "$work/session-$attempt.log" "run folder"
  start=$(now)
  wait_for "$pid" "$work/session-$attempt.log" "$epoch_row"
  epoch_ns=$(($(now) - start))
  [ "$whole_epoch_ns" -gt 0 ] && [ "$whole_epoch_ns" -lt "$epoch_ns" ] && epoch_ns=$whole_epoch_ns
  sleep "$(awk -v r="$RANDOM" -v t="$epoch_ns" 'BEGIN { printf "%.3f", t * 1e-9 * (0.2 + 0.9 * (r % 1001) / 1000) }')"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  if [ -f "$work/killed/last.ckpt" ]; then
    "$bin" eval --checkpoint "$work/killed/last.ckpt" --data "$data" --test-limit 16 > /dev/null \
      || { echo "FAIL: last.ckpt not loadable after attempt $attempt"; exit 1; }
  fi
done
(run final) || { echo "FAIL: the final session failed:"; cat "$work/session-final.log"; exit 1; }
got=$("$bin" eval --checkpoint "$work/killed/last.ckpt" --data "$data" --test-limit 128 | grep fnv1a64)
echo "killed $kills times; uninterrupted: $want; killed and resumed: $got"
[ "$want" = "$got" ] || { echo "FAIL: weights differ"; exit 1; }
[ "$kills" -ge 2 ] || { echo "FAIL: only $kills of 6 sessions were still running when killed"; exit 1; }
lines=$(($(wc -l < "$work/killed/log.csv") - 1))
[ "$lines" -eq "$epochs" ] || { echo "FAIL: log.csv lists $lines epochs, expected $epochs"; exit 1; }
echo "1 passed, 0 failed"
