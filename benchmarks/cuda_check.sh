#!/usr/bin/env bash
# The CUDA checks, run by hand on a GPU machine from the repository root (CI has no GPU):
#
#   OUT=/tmp/cuda_check SEQLAB_DATA_DIR=/path/to/data bash benchmarks/cuda_check.sh
#
# 1. tests/cuda (CUDA against CPU parity, cuDNN against the generic path, training, CLI);
# 2. the whole test suite with CUDA visible (device "auto" then means CUDA), to list the
#    tests that assume a CPU;
# 3. the PTB recipes on the GPU: lstm-ptb-tied to the end, ptb-medium for a fixed time;
# 4. the recurrent speed benchmark on the GPU (benchmarks/rnn_speed_cuda.py).
# Each step has its own time limit so one slow step cannot eat the others; everything lands
# in $OUT.  The summary of the last run is benchmarks/results/cuda_check.md.
set -u
OUT=${OUT:-/tmp/cuda_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export SEQLAB_DATA_DIR=${SEQLAB_DATA_DIR:-$PWD/.devdata} SEQLAB_CACHE_DIR=${SEQLAB_CACHE_DIR:-/tmp/seqlab-cache}
PY=${PYTHON:-python3}
step() { echo "=== $1 ($(date -u +%H:%M:%S))"; }

step env
{ nvidia-smi -L; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"; gcc --version | head -1; nproc; } 2>&1 | tee "$OUT/env.txt"

step "tests/cuda"
timeout 110 $PY -m pytest -q -p no:cacheprovider -rfEs tests/cuda 2>&1 | tee "$OUT/cuda_tests.log" | tail -25

step "whole suite with CUDA visible"
timeout ${SUITE_TIMEOUT:-120} $PY -m pytest -q -p no:cacheprovider -n 12 --timeout 100 --tb=line -rf tests > "$OUT/full_suite.log" 2>&1
grep -E "^(FAILED|ERROR)|^/.*Error|passed|failed" "$OUT/full_suite.log" | tail -40

step "lstm-ptb-tied on cuda"
timeout 100 $PY -m seqlab run lstm-ptb-tied --device cuda --run-dir /tmp/run-ptb-tied --quiet --json > "$OUT/ptb_tied.log" 2>&1
tail -3 "$OUT/ptb_tied.log"

step "rnn_speed_cuda"
timeout 90 $PY benchmarks/rnn_speed_cuda.py --rounds ${SPEED_ROUNDS:-4} --warmup 1 --steps 2 --out "$OUT/rnn_speed_cuda.md" > "$OUT/rnn_speed_cuda.log" 2>&1
tail -5 "$OUT/rnn_speed_cuda.log"

step "ptb-medium on cuda (train.max_time_s=${MEDIUM_S:-45})"
timeout 80 $PY -m seqlab run ptb-medium train.max_time_s=${MEDIUM_S:-45} --device cuda --run-dir /tmp/run-ptb-medium --quiet --json > "$OUT/ptb_medium.log" 2>&1
tail -3 "$OUT/ptb_medium.log"
step done
