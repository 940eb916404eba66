#!/usr/bin/env bash
# Every benchmark, one after the other, as markdown on stdout.
#   bash benchmarks/run_all.sh cpu   # small sizes: minutes on 2 CPU cores
#   bash benchmarks/run_all.sh gpu   # the paper's setting: R50, 224 px, CUDA
# PYTHON=... picks the interpreter (default: the repository's .venv).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-../.venv/bin/python}
case "${1:-cpu}" in
  cpu)
    # One intra-op thread: on 2 shared vCPUs, OpenMP's second thread stalls
    # whenever another job runs, and timings spread tenfold.
    T1="--threads 1"
    $PY train_step.py --depth 18 --size 64 --batch 2 --repeats 20 --separate $T1
    $PY train_step.py --depth 50 --size 112 --batch 2 --repeats 8 --separate $T1
    $PY train_memory.py --depth 18 --size 64 --batch 2 --repeats 3
    $PY train_memory.py --depth 50 --size 112 --batch 2 --repeats 3
    $PY inference.py --depth 18 --size 64 --batch 1 --repeats 30 $T1
    $PY forward_overhead.py --depth 18 --size 8 --batch 1 --repeats 100 $T1
    $PY inference.py --depth 50 --size 112 --batch 1 --repeats 20 $T1
    $PY onnx_inference.py --depth 18 --size 64 --batch 1 --repeats 30 $T1
    $PY data_pipeline.py --size 224 --video-size 256 --video-frames 64 --repeats 50 $T1
    $PY data_pipeline.py --size 224 --video-size 256 --video-frames 300 --repeats 30 $T1
    $PY flops.py --depth 50 --size 224
    ;;
  gpu)
    # fp32, then bf16 autocast (AMP), channels_last, and torch.compile of the
    # training step's forward and loss: each FFN against the stock TSM under
    # the same settings, in the same run.
    GPU="--depth 50 --size 224 --device cuda"
    $PY train_step.py $GPU --batch 8 --repeats 20 --separate
    $PY train_step.py $GPU --batch 8 --repeats 20 --separate --amp bf16
    $PY train_step.py $GPU --batch 8 --repeats 20 --amp bf16 --channels-last
    $PY train_step.py $GPU --batch 8 --repeats 10 --warmup 3 --amp bf16 --compile
    $PY train_memory.py $GPU --batch 8 --repeats 2
    $PY train_memory.py $GPU --batch 8 --repeats 2 --amp bf16
    $PY inference.py $GPU --batch 1 --repeats 50
    $PY inference.py $GPU --batch 1 --repeats 50 --amp bf16
    $PY inference.py $GPU --batch 16 --repeats 20
    $PY inference.py $GPU --batch 16 --repeats 20 --amp bf16 --channels-last
    $PY data_pipeline.py --size 224 --video-size 256 --video-frames 64 --repeats 50
    $PY flops.py --depth 50 --size 224 --device cuda
    ;;
  *)
    echo "usage: bash benchmarks/run_all.sh [cpu|gpu], got '$1'" >&2
    exit 2
    ;;
esac
