# Sourced by the command-line test scripts (run_safety.sh, glia_program.sh): one line per case,
# counted in $passed and $failed.
# expect NAME CODE REGEX CMD...: runs CMD (at most $expect_timeout seconds, default 120: a hang is
# a failure), checks the exit code and that stdout+stderr match REGEX (extended; -z: .* spans
# lines); the output stays in $out for the checks that follow.
# check NAME COMMAND...: a condition that must hold.
passed=0; failed=0
expect() {
  local name="$1" code="$2" regex="$3"; shift 3
  local rc
  out=$(timeout "${expect_timeout:-120}" "$@" 2>&1); rc=$?
  if [ "$rc" = "$code" ] && grep -zqE -- "$regex" <<< "$out"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name: exit $rc (expected $code), output:"; sed 's/^/     /' <<< "$out" | tail -12
  fi
}
check() {
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
