#!/usr/bin/env bash
# The prepared device run of issue 7: the model benchmarks at the paper's sizes (width 1.0, STA and fine 356 px,
# coarse 256 px, batches 20 / 3 / 3) on one GPU, each beside its naive baseline (IEEE fp32, batch 3, no feature
# reuse) and its TF32 variant in the same process; the training loader alone; torch.compile last, in short runs of
# their own (each step writes its JSON before the next starts). About 7-8 minutes on an H100 / H200 with all steps
# (STEPS=... selects steps; the limits below add up to 770 s, a run that hits one keeps what it wrote).
#
#   bash scripts/gpu_bench.sh        # JSON + log to $OUT (the device tool) or reports/benchmarks/
#
# Uses the machine's python3 (PY=... to override); needs torch with CUDA, numpy, pandas, scipy, tqdm.
set -u
OUT_DIR="${OUT:-reports/benchmarks}"
PY="${PY:-python3}"
export PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_log.txt"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv
  "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0), 'cudnn', torch.backends.cudnn.version(), 'cpus', __import__('os').cpu_count())"
} 2>&1 | tee "$LOG"

step() {  # step LIMIT_S TARGET [args...]
  local limit=$1; shift
  echo "== bench $* (limit ${limit}s) $(date -u +%T)" | tee -a "$LOG"
  timeout "$limit" "$PY" -m stanet_lib bench "$@" --profile paper --device cuda --out-dir "$OUT_DIR" 2>&1 | tee -a "$LOG"
  echo "== exit ${PIPESTATUS[0]} $(date -u +%T)" | tee -a "$LOG"
}

STEPS="${STEPS:-sta train scam loader compile compiletrain}"  # e.g. STEPS="sta compile" for a shorter run
for s in $STEPS; do
  case "$s" in
    sta) step 100 sta --no-compile --prefix gpu_ ;;
    train) step 200 train --trace 5 --prefix gpu_ ;;
    scam) step 110 scam --prefix gpu_ ;;
    loader) step 90 loader --prefix gpu_ ;;
    compile) step 120 sta --compile-only --prefix gpu_compile_ ;;
    compiletrain) step 150 train --compile-train --nets fine_S,fine_SA,STA --prefix gpu_compile_ ;;
    *) echo "unknown step $s" | tee -a "$LOG" ;;
  esac
done
date -u | tee -a "$LOG"
