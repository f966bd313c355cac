"""``fm.models``, as ``keras.models``: so a Keras program that writes
``keras.models.Sequential`` or ``keras.models.load_model`` runs with only its
import line changed."""

from fastmlp.io import load_model
from fastmlp.model import Sequential

__all__ = ["Sequential", "load_model"]
