#!/usr/bin/env bash
# Why muP-512 trails SP-512 tuned (docs/mup.md): tune the output multiplier and embedding lr multiplier at the
# base width, transfer the best to 512, and try untied embeddings and coupled decay. One GPU, ~6 minutes.
#   bash benchmarks/mup_gap.sh OUT_DIR
set -euo pipefail
out=${1:?usage: mup_gap.sh OUT_DIR}
run() { python3 benchmarks/mup_transfer.py --steps 400 --out "$out" "$@" 2>&1 | grep -v '^{' ; }
for om in 0.25 1.0 4.0; do
  for em in 0.25 1.0 4.0; do
    [ "$om" = 1.0 ] && [ "$em" = 1.0 ] && continue
    run --widths 128 --arms mup --mup-set mup_output_multiplier=$om mup_embedding_lr_multiplier=$em --tag base_om${om}_em${em} | tail -1
  done
done
best=$(python3 - "$out" <<'PY'
import json, sys, pathlib
rows = [r for f in pathlib.Path(sys.argv[1]).glob("base_*.json") for r in json.loads(f.read_text()) if r["val_loss"] == r["val_loss"]]
b = min(rows, key=lambda r: r["val_loss"])
print(" ".join(f"{k}={v}" for k, v in b["mup_settings"].items()))
PY
)
echo "best base settings: $best"
run --widths 512 --base 128 --arms mup --mup-set $best --tag transfer_best
run --widths 128 512 --set tie_embeddings=False --tag untied
run --widths 512 --base 128 --arms mup --set mup_weight_decay=coupled --tag coupled
