#!/usr/bin/env bash
# Second round of the muP gap (docs/mup.md): which difference from SP-512 costs the loss, the init multiplier
# and a larger output multiplier tuned at the base, a third width, and a 4x longer horizon. One GPU, ~6 minutes.
#   bash benchmarks/mup_gap2.sh OUT_DIR
set -euo pipefail
out=${1:?usage: mup_gap2.sh OUT_DIR}
run() { python3 benchmarks/mup_transfer.py --out "$out" "$@" 2>&1 | grep -v '^{' | grep -v -- '---' ; }
echo "## (a) muP-512 at lr 3.9e-3 made like SP-512 at 9.8e-4 (om 4: SP's logits; em 0.25: SP's embedding lr; init 2: SP's hidden init; coupled decay)"
for em in 0.25 1.0; do for init in 1.0 2.0; do
  echo "em=$em init=$init"; run --steps 400 --widths 512 --base 128 --arms mup --lrs 0.00390625 --set mup_weight_decay=coupled \
    --mup-set mup_output_multiplier=4.0 mup_embedding_lr_multiplier=$em mup_init_multiplier=$init --tag a_em${em}_init${init} | tail -1
done; done
echo "## (b) base 128: init multiplier and output multiplier 16"
for s in "4.0 1.0" "4.0 0.5" "4.0 2.0" "4.0 4.0" "16.0 1.0"; do set -- $s
  echo "om=$1 init=$2"; run --steps 400 --widths 128 --arms mup --mup-set mup_output_multiplier=$1 mup_init_multiplier=$2 --tag b_om$1_init$2 | tail -1
done
best=$(python3 - "$out" <<'PY'
import json, sys, pathlib
rows = [r for f in pathlib.Path(sys.argv[1]).glob("b_*.json") for r in json.loads(f.read_text()) if r["val_loss"] == r["val_loss"]]
print(" ".join(f"{k}={v}" for k, v in min(rows, key=lambda r: r["val_loss"])["mup_settings"].items()))
PY
)
echo "## (c) best base settings ($best) at 512 and 1024; SP at 1024"
run --steps 400 --widths 512 1024 --base 128 --arms mup --mup-set $best --tag c_mup
run --steps 400 --widths 1024 --base 1024 --arms sp --tag c_sp1024
echo "## (d) 1600 steps: base, muP-512 (best base settings) at 3.9e-3; SP-512 at 9.8e-4 and 1.95e-3"
run --steps 1600 --widths 128 512 --base 128 --arms mup --lrs 0.00390625 --mup-set $best --tag d_mup
run --steps 1600 --widths 512 --base 512 --arms sp --lrs 0.0009765625 0.001953125 --tag d_sp
