"""NLU for buyers' messages: intents and entities in Rasa's parse-result shape.

Layered: exact button payloads, then rules (codes, numbers, yes/no lexicon incl. Wolof), then a classifier
trained from intents/data/<locale>.yaml plus the vendor's examples, then a confidence threshold. See
docs/nlu.md.
"""

from intents.entities import CatalogueItem
from intents.parser import NluParser

__all__ = ["CatalogueItem", "NluParser"]
