#!/usr/bin/env bash
# The installed artifact, outside the checkout: install the built wheel (not
# editable) into a fresh virtualenv with one OpenMMLab stack, check `pip
# check`, then run the tiny train -> test -> infer -> export path with the
# installed `ssformer-mmseg` command and packaged configs from an empty
# folder, and mmseg's own training tool on a packaged config.
# On the upstream stack, also OpenMMLab's mim: `mim search` lists our models
# and `mim train` runs our packaged training tool.
# Usage: .ci/check_installed.sh upstream|onedl DIST_DIR
#   upstream: mmsegmentation 1.2.2 + mmengine 0.10.x + mmcv-lite 2.1
#   onedl:    onedl-mmsegmentation 1.4 + onedl-mmengine 0.10.12 + onedl-mmcv
set -euo pipefail
stack=$1
wheel=$(ls "$(cd "$2" && pwd)"/ssformer_mmseg-*.whl)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
export PATH="$work/venv/bin:$PATH"
step() { echo "== [$stack ${SECONDS}s] $*"; }

step "installing into a fresh virtualenv"
"$py" -m pip install --quiet --upgrade pip
case "$stack" in
  upstream) extras="upstream,lite,onnx" ;;
  onedl) extras="onedl,onnx" ;;
  *) echo "unknown stack $stack" >&2; exit 2 ;;
esac
# torch==2.13.0 first: the CPU wheel (a bare torch would pull CUDA builds).
"$py" -m pip install --quiet "torch==2.13.0"
"$py" -m pip install --quiet "${wheel}[${extras}]"
"$py" -m pip check
"$py" -m pip list 2>/dev/null | grep -iE "^(onedl-)?(mmseg|mmsegmentation|mmengine|mmcv|mmcv-lite) |^numpy |^opencv"

cd "$work"  # no repository in sight from here on
step "the installed command"
ssformer-mmseg --version
ssformer-mmseg configs > configs.txt
grep -qx ssformer_s_kvasir configs.txt

step "synthetic data (demo, 2 iterations)"
ssformer-mmseg demo --out-dir demo --iters 2 --train-size 8 --test-size 4 \
  --image-size 96 --overlays 1 > demo.log || { tail -40 demo.log; exit 1; }

# A user config that starts from a packaged one by package name.
cat > mine.py <<'EOF'
_base_ = ['ssformer_mmseg::demo_ssformer_s_synthetic.py']
train_dataloader = dict(num_workers=0, persistent_workers=False)
train_cfg = dict(max_iters=4, val_interval=4)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
default_hooks = dict(checkpoint=dict(interval=4))
EOF

step "train (ssformer-mmseg train, a config inheriting ssformer_mmseg::)"
ssformer-mmseg train mine.py --work-dir train --cfg-options data_root=demo/data
test -f train/iter_4.pth
step "test"
ssformer-mmseg test mine.py train/iter_4.pth --work-dir test --out maps \
  --cfg-options data_root=demo/data
ls maps/*/*.png > /dev/null
step "infer"
ssformer-mmseg infer demo_ssformer_s_synthetic train/iter_4.pth \
  demo/data/synthetic/images --out-dir infer --no-progress
ls infer/masks/*.png > /dev/null
step "export"
ssformer-mmseg export-onnx demo_ssformer_s_synthetic train/iter_4.pth --out model.onnx
test -s model.onnx

step "mmseg's own tools/train.py on a packaged config"
# The last line: the forks print "Could not import OneDL" on stdout at import.
mmseg_tools=$("$py" -c "import mmseg, os.path as p; print(p.join(p.dirname(mmseg.__file__), '.mim', 'tools'))" | tail -n 1)
config=$("$py" -c "from ssformer_mmseg.packaged import find_config; print(find_config('demo_ssformer_s_synthetic'))" | tail -n 1)
"$py" "$mmseg_tools/train.py" "$config" --work-dir mmseg_train --cfg-options \
  train_cfg.max_iters=2 train_cfg.val_interval=2 default_hooks.checkpoint.interval=2 \
  train_dataloader.num_workers=0 train_dataloader.persistent_workers=False \
  train_dataloader.dataset.data_root=demo/data val_dataloader.dataset.data_root=demo/data \
  test_dataloader.dataset.data_root=demo/data
test -f mmseg_train/iter_2.pth

if [ "$stack" = upstream ]; then
  # Last: openmim pins an old setuptools (through openxlab) into the venv.
  step "mim search / mim train"
  "$py" -m pip install --quiet openmim
  mim search ssformer_mmseg --valid-config | tee search.txt
  for name in ssformer_s_pranet_authors ssformer_l_kvasir ssformer_s_kvasir_scratch_224; do
    grep -q "$name" search.txt || { echo "mim search does not list $name" >&2; exit 1; }
  done
  mim search ssformer_mmseg --config ssformer_s_pranet_authors --field kvasir/meandic config
  mim train ssformer_mmseg mine.py --work-dir mim_train --cfg-options data_root=demo/data
  test -f mim_train/iter_4.pth
fi
step "done"
