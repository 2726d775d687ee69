#!/usr/bin/env bash
# Build the labkit course site: bash docs/build.sh [OUT]   (default OUT: build/site; open OUT/index.html)
#
# 1. stages the sources in OUT.work/src with the repository's layout (the README, docs/*.md,
#    results/ and data/ READMEs, the notebooks), so their relative links resolve as on the repository;
# 2. runs every notebook (and its solutions) in quick mode, two at a time, and turns its outputs into
#    static HTML (docs/_ext/execute_notebooks.py; unchanged notebooks are reused from OUT.work/executed);
# 3. renders the site with Sphinx (docs/conf.py), warnings as errors;
# 4. checks that every internal link of the built pages resolves (docs/_ext/check_links.py).
# OUT is emptied first when it holds an earlier build (a non-empty folder that does not is refused).
# It stops with a non-zero exit on a notebook error, a Sphinx warning or a broken link. Nothing is
# fetched: Sphinx, MyST-NB, the theme, plotly.js and MathJax come from `pip install -e ".[docs]"`.
#
# Environment: LABKIT_SITE_JOBS (notebooks run at once, default 2), LABKIT_SITE_FRESH=1 (re-run
# every notebook even when neither it nor the labkit package changed since its last run),
# LABKIT_SITE_SOLUTIONS=0 (leave the solution notebooks out: about a minute and a half quicker).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/site}
OUT=${OUT%/}
WORK="$OUT.work"
SRC="$WORK/src"
JOBS=${LABKIT_SITE_JOBS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # two kernels on two cores: one thread each
start=$(date +%s)

# A folder that holds an earlier build (Sphinx's .buildinfo) is emptied first, so no page of an
# earlier build (e.g. the solutions) outlives it; any other non-empty folder is refused.
if [ -e "$OUT/.buildinfo" ]; then
    rm -rf "$OUT"
elif [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
    echo "docs/build.sh: $OUT is not empty and holds no earlier build of the site; choose another folder" >&2
    exit 2
fi

# 1. stage (cp -p keeps modification times, so Sphinx re-reads only what changed)
rm -rf "$SRC"
mkdir -p "$SRC/docs" "$SRC/notebooks/solutions" "$SRC/results" "$SRC/data"
cp -p README.md "$SRC/README.md"
cp -p docs/index.md "$SRC/index.md"
for f in docs/*.md; do
    case "$(basename "$f")" in index.md|solutions.md) ;; *) cp -p "$f" "$SRC/docs/" ;; esac
done
cp -p docs/references.bib "$SRC/docs/"
cp -rp docs/img "$SRC/docs/img"
cp -p results/README.md "$SRC/results/README.md"
cp -p data/README.md "$SRC/data/README.md"

# 2. execute the notebooks
args=(--cache "$WORK/executed" --jobs "$JOBS")
if [ "${LABKIT_SITE_SOLUTIONS:-1}" = 0 ]; then
    # a quicker build (the browser test's): the answers stay links to the repository's notebooks
    args+=(--no-solutions)
    cat > "$SRC/notebooks/solutions/index.md" <<'MD'
# Answers to the exercises

This build of the site leaves the solution notebooks out (`LABKIT_SITE_SOLUTIONS=0`); they are in
the repository's `notebooks/solutions/` folder, one per notebook. `bash docs/build.sh` without that
setting includes them here.
MD
else
    cp -p docs/solutions.md "$SRC/notebooks/solutions/index.md"
fi
if [ "${LABKIT_SITE_FRESH:-0}" = 1 ]; then rm -rf "$WORK/executed"; fi
python docs/_ext/execute_notebooks.py "$SRC/notebooks" "${args[@]}"
executed=$(date +%s)

# 3. render (-W: any warning, e.g. a broken cross-reference, fails the build)
python -m sphinx -b html -c docs -W --keep-going -q -j "$JOBS" -d "$WORK/doctrees" "$SRC" "$OUT"

# 4. internal links
python docs/_ext/check_links.py "$OUT"
end=$(date +%s)
echo "site built in $(( end - start )) s (notebooks $(( executed - start )) s, Sphinx and link check $(( end - executed )) s): $OUT/index.html"
