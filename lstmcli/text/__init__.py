"""Text to tokens to ids: cleaning, tokenizing, the vocabulary and padding.

The names an export's README uses to feed the exported network (``from lstmcli.text import OOV_ID, Vocabulary,
pad, tokenize``) are importable from here.
"""

from lstmcli.text.encoder import pad
from lstmcli.text.tokens import tokenize
from lstmcli.text.vocab import OOV_ID, PAD_ID, Vocabulary

__all__ = ["OOV_ID", "PAD_ID", "Vocabulary", "pad", "tokenize"]
