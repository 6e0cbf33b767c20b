#!/usr/bin/env bash
# Fill the local model store with Whisper base weights and the builtin diariser's weights
# (pyannote segmentation-3.0, CAM++) when the offline provisioning tools are at hand. Idempotent.
# Usage: provision-models.sh PYTHON TOOL DEST [DIARIZATION_TOOL]
set -euo pipefail
python=$1 tool=$2 dest=$3 diar_tool=${4:-$(dirname "$2")/offline-diarization-models}
if [ ! -f "$dest/openai-whisper-base.pt" ] || [ ! -f "$dest/faster-whisper-base/model.bin" ]; then
  if [ -f "$tool" ]; then
    "$python" "$tool" --dest "$dest"
  else
    echo "note: no Whisper weights in $dest; the engine downloads 'base' on first use" \
         "(or pass --model PATH / set CODER_WHISPER_MODEL)" >&2
  fi
fi
if [ ! -f "$dest/pyannote-segmentation-3.0/pytorch_model.bin" ] \
   || [ ! -f "$dest/campplus-sv-zh-en-16k/campplus_cn_en_common.pt" ]; then
  if [ -f "$diar_tool" ]; then
    "$python" "$diar_tool" --dest "$dest"
  else
    echo "note: no diarisation weights in $dest; the builtin diariser needs them" \
         "(set CODER_SEGMENTATION_MODEL and CODER_EMBEDDING_MODEL, or use --diarizer pyannote)" >&2
  fi
fi
