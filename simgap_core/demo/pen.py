"""Random choices and text noise for the demo writer, all drawn from one numpy Generator."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_SLOT = re.compile(r"\{([^{}]*)\}")


class Pen:
    """Random choices and text noise, all drawn from one numpy Generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def chance(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def pick(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def between(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def sample(self, options: Sequence, k: int) -> list:
        chosen = self.rng.choice(len(options), size=min(k, len(options)), replace=False)
        return [options[int(i)] for i in chosen]

    def fill(self, template: str, slots: dict[str, str]) -> str:
        """Expand `{a|b|c}` (one alternative at random) and `{name}` (from `slots`)."""

        def expand(match: re.Match[str]) -> str:
            body = match.group(1)
            return self.pick(body.split("|")) if "|" in body else slots[body]

        # Slot values may hold alternations of their own: expand until nothing is left.
        while True:
            template, replaced = _SLOT.subn(expand, template)
            if not replaced:
                return template

    def typos(self, text: str, rate: float) -> str:
        """Swap, drop or double one letter in about `rate` of the longer words."""
        words = text.split(" ")
        for index, word in enumerate(words):
            if len(word) < 4 or not word.isalpha() or not self.chance(rate):
                continue
            at = self.between(1, len(word) - 2)
            kind = self.between(0, 2)
            if kind == 0:
                word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
            elif kind == 1:
                word = word[:at] + word[at + 1 :]
            else:
                word = word[:at] + word[at] + word[at:]
            words[index] = word
        return " ".join(words)

    def casual(
        self, text: str, *, lower: float = 0.25, sloppy: float = 0.3, bare: float = 0.25
    ) -> str:
        """Everyday noise: sometimes all lowercase, sometimes typos, sometimes no final stop."""
        if self.chance(lower):
            text = text.lower()
        elif text[:1].islower() and self.chance(0.6):
            text = text[:1].upper() + text[1:]
        if self.chance(sloppy):
            text = self.typos(text, self.pick((0.03, 0.06, 0.1)))
        if self.chance(bare):
            text = text.rstrip(".!")
        return text
