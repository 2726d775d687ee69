#!/usr/bin/env bash
# One call on a lent GPU machine: the unit tests with CUDA as the default device (the GPU paths),
# then every benchmark on CUDA, every recipe's smoke variant on CUDA and one real-size epoch of each
# recipe (labkit reproduce NAME --timing: images/s on random data of the real shape, no dataset needed).
# Prints everything; a few minutes in all.
#   bash benchmarks/gpu.sh            (from the project root)
set -uo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())" || exit 1
pip install -q -e ".[test]" 2>&1 | tail -n 2
status=0
echo "== unit tests on CUDA =="
LABKIT_DEVICE=cuda timeout 300 python -m pytest tests -q -x --ignore=tests/e2e || status=1
for bench in benchmarks/*.py; do
  echo "== $bench =="
  timeout 120 python "$bench" --device cuda || status=1
done
recipes=$(python -m labkit reproduce --list | awk '{print $1}')
smoke_out=$(mktemp -d)
echo "== recipes: every --smoke variant on CUDA =="
for recipe in $recipes; do
  timeout 120 python -m labkit reproduce "$recipe" --smoke --device cuda --quiet --out "$smoke_out/$recipe.csv" || status=1
done
echo "== recipes: one real-size epoch per network on random data of the real shape (images/s) =="
for recipe in $recipes; do
  timeout 240 python -m labkit reproduce "$recipe" --timing --device cuda || status=1
done
exit $status
