#!/usr/bin/env bash
# The authors' recipe against ours at equal budget (docs/training.md, "Side
# by side"): SSFormer-S from scratch at 128x128 on Kvasir-SEG's PraNet split,
# both on the same 810 training frames (90 held out for validation), the
# same images seen (6480) and the same seed. The two runs train at once, one
# thread each, so they share the CPU alike; then the last checkpoints (and
# the authors' best on the held-out frames) are tested on the Kvasir (100)
# and CVC-ClinicDB (62) test splits and the curves drawn in one plot.
# Usage: tools/experiments/recipes_side_by_side.sh [DATA_ROOT] [WORK_DIR]
# (a recipe whose run finished in WORK_DIR is not trained again).
set -euo pipefail
DATA_ROOT=${1:-${POLYP_DATA_ROOT:-data/polyp}}
WORK=${2:-work_dirs/recipes_side_by_side}
cd "$(dirname "$0")/../.."
config() { echo "configs/experiments/ssformer_s_kvasir_$1_scratch_128.py"; }

mkdir -p "$WORK"
PIDS=()
for recipe in authors ours; do
    # The configs save their last checkpoint only: its record means done.
    if [ -f "$WORK/$recipe/last_checkpoint" ]; then
        echo "the $recipe recipe is trained already ($WORK/$recipe)"
        continue
    fi
    echo "training the $recipe recipe (log: $WORK/train_$recipe.log)"
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python tools/train.py \
        "$(config $recipe)" --work-dir "$WORK/$recipe" \
        --cfg-options data_root="$DATA_ROOT" > "$WORK/train_$recipe.log" 2>&1 &
    PIDS+=($!)
done
for pid in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$pid"; done
CLINICDB=(test_dataloader.dataset.type=CVCClinicDBDataset
          test_dataloader.dataset.ann_file=splits/pranet/clinicdb_test.txt)
BEST=$(ls "$WORK"/authors/best_mean_meanDic_epoch_*.pth)
ROWS=()
# The last checkpoint of a run, in its work dir wherever that moved since.
last() { echo "$WORK/$1/$(basename "$(cat "$WORK/$1/last_checkpoint")")"; }
for row in "authors last:authors:$(last authors)" \
           "authors best-on-held-out:authors:$BEST" \
           "ours last:ours:$(last ours)"; do
    label=${row%%:*}; rest=${row#*:}; recipe=${rest%%:*}; checkpoint=${rest#*:}
    name=test_${label// /_}
    python tools/test.py "$(config "$recipe")" "$checkpoint" \
        --work-dir "$WORK/$name/kvasir" --cfg-options data_root="$DATA_ROOT"
    python tools/test.py "$(config "$recipe")" "$checkpoint" \
        --work-dir "$WORK/$name/clinicdb" \
        --cfg-options data_root="$DATA_ROOT" "${CLINICDB[@]}"
    ROWS+=(--test "$label" "$WORK/$name/kvasir"
           --test "$label" "$WORK/$name/clinicdb")
done
python tools/compare_runs.py \
    --run "authors' recipe" "$(config authors)" "$WORK/authors" \
    --run "our recipe" "$(config ours)" "$WORK/ours" \
    "${ROWS[@]}" --out "$WORK/learning_curves.png" \
    --title "SSFormer-S from scratch, 128x128, Kvasir-SEG (810 train / 90 held out), 6480 images each" \
    --cfg-options data_root="$DATA_ROOT"
