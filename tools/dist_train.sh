#!/usr/bin/env bash
# Distributed training with torchrun, as mmseg's tools/dist_train.sh. torchrun runs
# as `$PYTHON -m torch.distributed.run` (PYTHON defaults to python3), so it
# is the interpreter's own, also where its bin/ is not on PATH.
# Usage: tools/dist_train.sh CONFIG GPUS [tools/train.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. On CPU-only machines the
# processes use the gloo backend (tools/train.py switches from nccl).
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS=$(cd "$(dirname "$0")" && pwd)

"${PYTHON:-python3}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "$@"
