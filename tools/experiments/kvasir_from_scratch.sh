#!/usr/bin/env bash
# SSFormer-S from scratch on Kvasir-SEG (PraNet split) at 224x224, as in the
# README's "Model zoo, measured by us": train, test the last checkpoint in
# fp32 and with the bf16 fast path on the Kvasir and CVC-ClinicDB test
# splits, and draw the learning curve.
# Usage: tools/experiments/kvasir_from_scratch.sh [DATA_ROOT] [WORK_DIR] [CONFIG]
# (CONFIG: configs/experiments/segformer_head_mit_b2_kvasir_scratch_224.py
# for the SegformerHead ablation.)
set -euo pipefail
DATA_ROOT=${1:-${POLYP_DATA_ROOT:-data/polyp}}
WORK=${2:-work_dirs/ssformer_s_kvasir_scratch_224}
CONFIG=${3:-configs/experiments/ssformer_s_kvasir_scratch_224.py}
cd "$(dirname "$0")/../.."

python tools/train.py "$CONFIG" --work-dir "$WORK" \
    --cfg-options data_root="$DATA_ROOT"
CHECKPOINT=$(cat "$WORK/last_checkpoint")
CLINICDB=(test_dataloader.dataset.type=CVCClinicDBDataset
          test_dataloader.dataset.ann_file=splits/pranet/clinicdb_test.txt)
# Plain fp32 model, then the bf16 fast path (tools/test.py --precision bf16).
for precision in fp32 bf16; do
    FAST=()
    if [ "$precision" = bf16 ]; then FAST=(--precision bf16); fi
    python tools/test.py "$CONFIG" "$CHECKPOINT" "${FAST[@]}" \
        --work-dir "$WORK/test_kvasir_$precision" \
        --cfg-options data_root="$DATA_ROOT"
    python tools/test.py "$CONFIG" "$CHECKPOINT" "${FAST[@]}" \
        --work-dir "$WORK/test_clinicdb_$precision" \
        --cfg-options data_root="$DATA_ROOT" "${CLINICDB[@]}"
done
python tools/plot_learning_curve.py "$WORK" \
    --title "$(basename "$CONFIG" .py): from scratch, Kvasir-SEG 900 / 100"
