"""Text to tokens to ids: cleaning, tokenizing, the vocabulary and padding."""
