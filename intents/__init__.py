"""Rule-based NLU: intents and entities of customer messages, in Rasa's parse-result shape."""

from intents.entities import CatalogueItem
from intents.parser import NluParser

__all__ = ["CatalogueItem", "NluParser"]
