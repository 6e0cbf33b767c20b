"""Write a pyannote.audio speaker-diarisation pipeline with small, randomly initialised models.

The directory has the layout of a pipeline downloaded from the model hub
(config.yaml, segmentation/, embedding/, plda/), so coder loads it exactly as
it loads a real local pipeline, without the gated weights:

    python tests/pyannote/make_pipeline.py DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

CONFIG = """\
dependencies:
  pyannote.audio: {version}
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    segmentation_step: 0.1
    embedding: $model/embedding
    embedding_exclude_overlap: true
    plda: $model/plda
    segmentation_batch_size: 4
    embedding_batch_size: 4
params:
  segmentation:
    min_duration_off: 0.0
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
"""


def _save(model, path: Path) -> None:
    import lightning

    path.mkdir(parents=True, exist_ok=True)
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path / "pytorch_model.bin")


def main(out: Path) -> None:
    import pyannote.audio
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorMFCC
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    segmentation = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": 16, "num_layers": 1},
                           linear={"hidden_size": 16, "num_layers": 1})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2, permutation_invariant=True)
    segmentation.build()
    _save(segmentation, out / "segmentation")

    embedding = XVectorMFCC(dimension=32)
    embedding.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                              duration=5.0)
    embedding.build()
    _save(embedding, out / "embedding")

    rng = np.random.default_rng(0)
    dim, lda = 32, 16
    (out / "plda").mkdir(parents=True, exist_ok=True)
    np.savez(out / "plda" / "xvec_transform.npz", mean1=rng.normal(size=dim), mean2=rng.normal(size=lda) * 0.1,
             lda=np.linalg.qr(rng.normal(size=(dim, dim)))[0][:, :lda])
    tr = np.linalg.qr(rng.normal(size=(lda, lda)))[0]
    np.savez(out / "plda" / "plda.npz", mu=np.zeros(lda), tr=tr, psi=np.linspace(2.0, 0.1, lda))
    (out / "config.yaml").write_text(CONFIG.format(version=pyannote.audio.__version__))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
