#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, as mmseg's slurm_train.sh.
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG [tools/train.py options]
# GPUS (default 4), GPUS_PER_NODE (default 4), CPUS_PER_TASK (default 5) and
# SRUN_ARGS are read from the environment.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
TOOLS=$(cd "$(dirname "$0")" && pwd)

srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$TOOLS/train.py" "$CONFIG" --launcher slurm "$@"
