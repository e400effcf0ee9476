#!/usr/bin/env bash
# Train the reader from a pack on the accelerator machine (the `device` tool's `run`), in one call.
#
# Here first (2 cores; the data options decide what the pack holds, docs/reader.md):
#   python -m qa.reader_train --write-pack .pack --shifted --negatives all --retrieved 2 [--swap 1.0] [--mined ...]
#   echo /.pack/ >> .git/info/exclude
# Then one device call, `carry: [".pack"]`, command:
#   bash tests/perf/reader_device.sh --layers 10 --epochs 3 --lr 1e-4 --batch 32
# Arguments go to `python -m qa.reader_train --pack .pack --device cuda --save`. What comes back
# under $OUT (at most 8 files of 16 MB): metrics.json, manifest.json, train.log and reader.npz in
# parts of 15 MB; here, `cat reader.npz.part-* > reader.npz` and check its sha256 against the
# manifest (`python -m qa.reader_int8` then fits its int8 calibration, as for any new reader).
set -euo pipefail
PACK=${PACK:-.pack}
OUT=${OUT:?run this through the device tool: it sets OUT}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
work=$(mktemp -d)
python3 -m qa.reader_train --pack "$PACK" --out "$work" --device "${DEVICE:-cuda}" --save "$@" 2>&1 | tee "$OUT/train.log"
cp "$work/metrics.json" "$OUT/"
if [ -f "$work/reader.npz" ]; then
  cp "$work/manifest.json" "$OUT/"
  split -b 15000000 -d "$work/reader.npz" "$OUT/reader.npz.part-"
fi
ls -la "$OUT"
