#!/usr/bin/env bash
# The long run of the hostile-input properties (issue 12, item 6): the
# "10 minutes per target" run. `cargo test` runs each property a few hundred
# times; this runs them in batches of FUZZ_BATCH cases (fresh random seed per
# batch) until FUZZ_MINUTES (default 10) have passed, per target, on a
# release build with overflow checks and debug assertions on, so it is fast
# and still sees what a debug build would panic on. Every batch also runs the
# seed corpus in fuzz/corpus/<target>/ (real and nasty inputs; add a file
# there for each new finding).
#
#   fuzz/run.sh                      # every target, 10 minutes each
#   FUZZ_MINUTES=2 fuzz/run.sh template known_hosts
#
# Targets: inventory, playbook, config_file (any bytes as a file),
# template, known_hosts, ssh_config. A property that fails prints its minimal input and
# the script exits 1; a case that takes over 20 s counts as a hang and fails
# (src/prop_support.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${FUZZ_MINUTES:-10}
batch=${FUZZ_BATCH:-5000}
declare -A filters=(
  [inventory]="config::prop_tests::prop_inventory_ config::prop_tests::prop_corpus_inventory"
  [playbook]="config::prop_tests::prop_playbook_ config::prop_tests::prop_corpus_playbook"
  [config_file]="config::prop_tests::prop_config_file_"
  [template]="render::prop_tests::prop_template_ render::prop_tests::prop_corpus_template"
  [known_hosts]="known_hosts::prop_tests::prop_known_hosts_ known_hosts::prop_tests::prop_corpus_known_hosts"
  [ssh_config]="ssh_config::prop_tests::prop_ssh_config_ ssh_config::prop_tests::prop_corpus_ssh_config"
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(inventory playbook config_file template known_hosts ssh_config)
for t in "${targets[@]}"; do
  [ -n "${filters[$t]:-}" ] || { echo "unknown target: $t (${!filters[*]})" >&2; exit 2; }
done

export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
cargo test --release --lib --no-run --quiet
logs=$(mktemp -d)
for t in "${targets[@]}"; do
  start=$SECONDS
  end=$((SECONDS + minutes * 60))
  batches=0
  while [ "$SECONDS" -lt "$end" ]; do
    # shellcheck disable=SC2086 # the filters are words
    if ! PROPTEST_CASES=$batch cargo test --release --lib --quiet -- ${filters[$t]} >"$logs/$t.log" 2>&1; then
      echo "$t: FAILED in batch $((batches + 1)); log: $logs/$t.log" >&2
      grep -E "panicked|minimal failing input|Test failed" "$logs/$t.log" | cut -c1-400 >&2 || true
      exit 1
    fi
    batches=$((batches + 1))
  done
  echo "$t: $batches batches x $batch cases per property in $((SECONDS - start)) s, no failure"
done
