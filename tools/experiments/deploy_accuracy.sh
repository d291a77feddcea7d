#!/usr/bin/env bash
# The accuracy proof of docs/deployment.md: deploy one trained checkpoint to
# every engine and precision this CPU runs natively and score each on the
# Kvasir (100) and CVC-ClinicDB (62) test splits against the fp32 PyTorch
# model (tools/deploy.py writes the report into each folder).
# Usage: tools/experiments/deploy_accuracy.sh CHECKPOINT [DATA_ROOT] [OUT] [CONFIG]
# (CONFIG defaults to the from-scratch recipe the checkpoint of
# tools/experiments/kvasir_from_scratch.sh was trained with.)
set -euo pipefail
CHECKPOINT=$1
DATA_ROOT=${2:-${POLYP_DATA_ROOT:-data/polyp}}
OUT=${3:-work_dirs/deploy_accuracy}
CONFIG=${4:-configs/experiments/ssformer_s_kvasir_scratch_224.py}
cd "$(dirname "$0")/../.."

for target in openvino:fp32 openvino:bf16 openvino:int8 \
              onnxruntime:fp32 onnxruntime:int8; do
    backend=${target%%:*}
    precision=${target##*:}
    rm -rf "$OUT/${backend}_${precision}"
    python tools/deploy.py "$CONFIG" "$CHECKPOINT" --backend "$backend" \
        --precision "$precision" --out "$OUT/${backend}_${precision}" \
        --eval-config configs/ssformer_s_pranet.py \
        --eval-sets Kvasir CVC-ClinicDB --no-progress \
        --cfg-options data_root="$DATA_ROOT" \
        || echo "$backend $precision: not deployed (see the error above)"
done
