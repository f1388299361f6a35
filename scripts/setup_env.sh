#!/usr/bin/env bash
# Create (or reuse) the project virtualenv at $CROSSREC_VENV (default .venv) and install crossrec into it.
#
# Torch is installed first and separately: on a CPU machine `torch==2.13.0` resolves to the CPU build,
# while an unpinned `torch` would pull a multi-GB CUDA build. A GPU user who already has a CUDA torch in the
# venv keeps it (set CROSSREC_TORCH_SPEC to choose another spec, or "skip").
# Idempotent: re-running is cheap when pyproject.toml has not changed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CROSSREC_VENV:-$repo/.venv}"
python_bin="${PYTHON:-python3}"
torch_spec="${CROSSREC_TORCH_SPEC:-torch==2.13.0}"
extras="${CROSSREC_EXTRAS:-dev,ann,quant,tune,plots}"  # the optional parts, see pyproject.toml: ANN index (faiss), int8/nf4 (bitsandbytes), optuna sweeps, plots

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtualenv $venv"
  "$python_bin" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
fi
py="$venv/bin/python"

if ! "$py" -c "import torch" >/dev/null 2>&1; then
  if [ "$torch_spec" != "skip" ]; then
    echo "[setup] installing $torch_spec"
    "$py" -m pip install -q "$torch_spec"
  fi
fi

stamp="$venv/.crossrec-install-stamp"
want="$(cat "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1)-$extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing crossrec[$extras] (editable)"
  "$py" -m pip install -q -e "$repo[$extras]"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: $("$py" -c 'import torch, ray, crossrec; print(f"crossrec {crossrec.__version__}, torch {torch.__version__}, ray {ray.__version__}")')"
