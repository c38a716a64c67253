#!/usr/bin/env bash
# Crash safety: SIGKILL a training run at random moments, resume it from its last checkpoint
# each time, and check that (1) the run folder always holds a loadable last.ckpt once one was
# written, never a half-written one, and (2) the finished run's weights are bitwise identical
# to an uninterrupted run's.
#   kill_resume.sh GLIA_CIFAR10 DATA_DIR WORK_DIR [TRAIN_IMAGES EPOCHS]
# TRAIN_IMAGES EPOCHS default to 1280 8: a few seconds in a release build; a sanitizer build
# (about 20x slower) is given fewer. The kill times are fractions of the uninterrupted run's
# measured duration, not fixed seconds: on a fast machine a fixed 2 s let a resumed session
# finish before its kill, on a slow one fixed times would all land before the first epoch.
set -euo pipefail
bin="$1"; data="$2"; work="$3"; images="${4:-1280}"; epochs="${5:-8}"
rm -rf "$work"; mkdir -p "$work"
args=(train --data "$data" --train-limit "$images" --test-limit 128 --epochs "$epochs" --batch 32 --threads 2 --seed 11 --dropout 0.1)

now() { date +%s%N; }
wait_for_run_folder() {  # until the trainer has flushed "run folder:" (it is training then) or exited
  for _ in $(seq 1 1200); do
    grep -q "run folder" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
}

"$bin" "${args[@]}" --out "$work/whole" > "$work/whole.log" &
pid=$!
wait_for_run_folder "$pid" "$work/whole.log"
start=$(now)
wait "$pid"
train_ns=$(($(now) - start))  # from "run folder" to exit: what a session has to do at most
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
  # Kill it 5% to 30% of the uninterrupted run's training time after it starts training: no
  # session can do more than a third of the run, so the first sessions are always interrupted,
  # and the kills land at different points of different epochs, checkpoint writes included.
  wait_for_run_folder "$pid" "$work/session-$attempt.log"
  sleep "$(awk -v r="$RANDOM" -v t="$train_ns" 'BEGIN { printf "%.3f", t * 1e-9 * (0.05 + 0.25 * (r % 1001) / 1000) }')"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  if [ -f "$work/killed/last.ckpt" ]; then
    "$bin" eval --checkpoint "$work/killed/last.ckpt" --data "$data" --test-limit 16 > /dev/null \
      || { echo "FAIL: last.ckpt not loadable after attempt $attempt"; exit 1; }
  fi
done
(run final) || { echo "FAIL: the final session failed:"; cat "$work/session-final.log"; exit 1; }
got=$("$bin" eval --checkpoint "$work/killed/last.ckpt" --data "$data" --test-limit 128 | grep fnv1a64)
echo "killed $kills times (uninterrupted training $((train_ns / 1000000)) ms); uninterrupted: $want; killed and resumed: $got"
[ "$want" = "$got" ] || { echo "FAIL: weights differ"; exit 1; }
[ "$kills" -ge 2 ] || { echo "FAIL: only $kills of 6 sessions were still running when killed"; exit 1; }
lines=$(($(wc -l < "$work/killed/log.csv") - 1))
[ "$lines" -eq "$epochs" ] || { echo "FAIL: log.csv lists $lines epochs, expected $epochs"; exit 1; }
echo "1 passed, 0 failed"
