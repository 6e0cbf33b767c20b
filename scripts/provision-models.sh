#!/usr/bin/env bash
# Fill the local model store with Whisper base weights when an offline provisioning tool is at hand.
# Usage: provision-models.sh PYTHON TOOL DEST
set -euo pipefail
python=$1 tool=$2 dest=$3
if [ -f "$dest/openai-whisper-base.pt" ] && [ -f "$dest/faster-whisper-base/model.bin" ]; then
  exit 0
fi
if [ -f "$tool" ]; then
  "$python" "$tool" --dest "$dest"
else
  echo "note: no Whisper weights in $dest; the engine downloads 'base' on first use" \
       "(or pass --model PATH / set CODER_WHISPER_MODEL)" >&2
fi
