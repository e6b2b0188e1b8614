#!/usr/bin/env bash
# bash run.sh [demo|amazon|beauty|art|taobao] [main.py flags...]   train and evaluate
#   (also beauty14|ml100k: real titles and posters, docs/datasets-real-content.md)
#   (--mirror DIR_OR_URL among them goes to the first-use data preparation instead)
# bash run.sh test [pytest flags...]                                 run the test suite (-n 0: serially)
# bash run.sh setup                                                  only create the venv
# bash run.sh experiment NAME DATASET [runner and main.py flags...]  rerun a paper table
#
# First use creates .venv with the python found (PYTHON=... picks another; VENV=... another
# folder) and installs requirements.txt. MCLN_NO_VENV=1 uses $PYTHON as it is (Docker).
# DATA_PATH (default Data) is where datasets live.
set -euo pipefail
cd "$(dirname "$0")"

target="${1:-demo}"
[ $# -gt 0 ] && shift
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
VENV="${VENV:-.venv}"
DATA_PATH="${DATA_PATH:-Data}"

if [ -n "${MCLN_NO_VENV:-}" ]; then
  py="$PYTHON"
else
  py="$VENV/bin/python"
  # A new venv when the interpreter changes; when only requirements.txt changes, install
  # into the existing one (what is there stays usable meanwhile). Not on every run.
  interpreter="$("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  stamp="$interpreter $(cksum < requirements.txt)"
  if [ ! -x "$py" ] || [ "$(cat "$VENV/.interpreter" 2>/dev/null)" != "$interpreter" ]; then
    echo "run.sh: creating $VENV with $PYTHON (once)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$py" -m pip install --quiet --upgrade pip
    echo "$interpreter" > "$VENV/.interpreter"
  fi
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]; then
    echo "run.sh: installing requirements.txt into $VENV"
    "$py" -m pip install --quiet -r requirements.txt
    echo "$stamp" > "$VENV/.installed"
  fi
fi

case "$target" in
  setup)
    exit 0 ;;
  test)
    # One worker per core, each taking whole files (a file's shared fixtures build once).
    exec "$py" -m pytest -n auto --dist loadfile tests "$@" ;;
  experiment)
    if [ $# -lt 2 ]; then
      echo "usage: bash run.sh experiment NAME DATASET [flags...]" >&2
      exit 2
    fi
    name="$1" dataset="$2"
    shift 2
    exec "$py" -m experiments.run "$name" --dataset "$dataset" --data_path "$DATA_PATH" "$@" ;;
  demo)
    [ -f "$DATA_PATH/demo/train.txt" ] || "$py" -m utility.make_demo --out "$DATA_PATH/demo" ;;
  amazon|beauty|art|taobao|beauty14|ml100k)
    # --mirror DIR_OR_URL is data preparation's (as MCLN_DATA_MIRROR), not main.py's.
    prepare_flags=() main_flags=()
    while [ $# -gt 0 ]; do
      case "$1" in
        --mirror)
          if [ $# -lt 2 ]; then echo "run.sh: --mirror needs a folder or URL" >&2; exit 2; fi
          prepare_flags+=(--mirror "$2"); shift 2 ;;
        --mirror=*) prepare_flags+=("$1"); shift ;;
        *) main_flags+=("$1"); shift ;;
      esac
    done
    set -- ${main_flags[@]+"${main_flags[@]}"}
    folder="$("$py" -c "from utility.config.flags import PRESETS; print(PRESETS['$target']['folder'])")"
    [ -f "$DATA_PATH/$folder/train.txt" ] \
      || "$py" -m utility.prepare_data "$target" --data_path "$DATA_PATH" \
        ${prepare_flags[@]+"${prepare_flags[@]}"} ;;
  *)
    echo "usage: bash run.sh [demo|amazon|beauty|art|taobao|beauty14|ml100k|test|experiment|setup] [flags...]" >&2
    exit 2 ;;
esac
exec "$py" main.py --dataset "$target" --data_path "$DATA_PATH" "$@"
