"""Models and audio that ship inside the package (see ``ATTRIBUTION.md`` in this folder).

* ``"violin"``: a DDSP voice trained on solo violin (Bach, see
  ``docs/training.md`` for the recipe and its held-out metrics); the name
  works wherever a run folder or checkpoint is expected
  (``ddsp-lab transfer violin melody.wav``, :func:`~ddsp_lab.workflows.train.load_run`).
* :data:`TRUMPET_MELODY`: a 5.3 s jazz trumpet phrase, the input of the demo's
  timbre transfer.
* ``dx7/``: the eight DX7 factory cartridges (256 voices), the preset pool of
  ``ddsp-lab fit-fm`` (:func:`ddsp_lab.fitting.factory_voices`).
"""

from __future__ import annotations

import os
from typing import Dict

HERE = os.path.dirname(os.path.abspath(__file__))

# Bundled model name -> checkpoint file inside this folder.
BUNDLED_MODELS: Dict[str, str] = {"violin": os.path.join(HERE, "violin", "model.pt")}
TRUMPET_MELODY = os.path.join(HERE, "trumpet_loop.ogg")


def bundled_model_path(name: str) -> str:
    """The checkpoint of a bundled model.

    Raises:
        KeyError: no bundled model has that name.
        FileNotFoundError: the name is known but its file is missing from this installation.
    """
    if name not in BUNDLED_MODELS:
        raise KeyError(f"no bundled model named {name!r}; bundled: {sorted(BUNDLED_MODELS)}")
    path = BUNDLED_MODELS[name]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the bundled model {name!r} is missing from this installation (expected {path})")
    return path
