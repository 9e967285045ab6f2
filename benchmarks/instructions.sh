#!/usr/bin/env bash
# Instructions per operation of the core benchmark's book and venue paths, counted by callgrind
# (repeatable, unlike wall time on a shared machine). Compares two source trees:
#
#   benchmarks/instructions.sh BASE_TREE [NEW_TREE] [OPS]
#
# Each tree must hold benchmarks/bench_core.py with --only {stream,book,venue}. Make a base tree
# with `git worktree add /tmp/base <revision>`. The stream's own cost (--only stream) is
# subtracted, so the figures are the book's and the venue's work alone. PYTHONHASHSEED is fixed
# so dict layouts, and hence counts, repeat.
set -euo pipefail
base=${1:?usage: instructions.sh BASE_TREE [NEW_TREE] [OPS]}
new=${2:-$(cd "$(dirname "$0")/.." && pwd)}
ops=${3:-30000}
python=${PYTHON:-python3}
export PYTHONHASHSEED=0
count() {  # tree part -> instructions
  PYTHONPATH="$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$python" "$1/benchmarks/bench_core.py" --ops "$ops" --only "$2" 2>&1 >/dev/null \
    | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
for part in book venue; do
  b=$(( $(count "$base" "$part") - $(count "$base" stream) ))
  n=$(( $(count "$new" "$part") - $(count "$new" stream) ))
  awk -v p="$part" -v b="$b" -v n="$n" -v o="$ops" \
    'BEGIN { printf "%-6s base %8.0f instr/op   new %8.0f instr/op   %+5.1f%%\n", p, b/o, n/o, 100*(n/b-1) }'
done
