"""The ``Processor`` interface shared by every unit generator.

Following the DDSP design, a unit generator splits its work in two:

* ``get_controls(*raw)`` maps unbounded inputs (typically network outputs) to
  physical controls (positive amplitudes, normalised distributions, Hz, s), and
* ``get_signal(**controls)`` renders audio from physical controls.

Calling the module runs both: ``unit(*raw) == unit.get_signal(**unit.get_controls(*raw))``.
Users who already have physical values call ``get_signal`` directly.
"""

from __future__ import annotations

import abc
from typing import Dict

import torch
from torch import nn


class Processor(nn.Module, abc.ABC):
    """Base class for unit generators and effects.

    Subclasses implement :meth:`get_controls` (returning a dict whose keys are
    the keyword arguments of :meth:`get_signal`) and :meth:`get_signal`.
    """

    @abc.abstractmethod
    def get_controls(self, *args, **kwargs) -> Dict[str, torch.Tensor]:
        """Map raw inputs to a dict of physical controls for :meth:`get_signal`."""

    @abc.abstractmethod
    def get_signal(self, *args, **kwargs) -> torch.Tensor:
        """Render audio ``[batch, samples]`` (or a control signal) from physical controls."""

    def forward(self, *args, **kwargs) -> torch.Tensor:
        """``get_signal(**get_controls(*args, **kwargs))``."""
        return self.get_signal(**self.get_controls(*args, **kwargs))
