"""The embedded demo dataset: one real population and three simulators with known mixtures.

Twelve user-behaviour archetypes (`ARCHETYPES`): terse one-liners, detailed specifications with
constraints, pasted error logs, corrections of the assistant, frustration, topic switches,
thanks-and-leave, clarifying questions about the answer, iterative refinement, non-English
requests, over-polite verbosity and unprompted personal background. Each conversation is drawn
as an (archetype, topic) pair, the topic independent of the archetype, and written from phrase
banks with slots, typos, casing and length noise. Raw user text therefore clusters by topic
while behaviour clusters by archetype, and the size of each simulator's gap is known exactly:
`truth.json` records the planted archetype shares, the shares actually generated, the true JS
divergence of each simulator to real and the best mixture of simulators.

- `close_sim` is near real (true JS about 0.01);
- `narrow_sim` never produces error logs, frustration, topic switches or non-English requests;
- `chatty_sim` over-produces politeness, background dumps and thanks-and-leave, and is rarely
  terse.

Everything is drawn from numpy Generators seeded by `(seed, source position)`, so a seed always
writes byte-identical files.

Layout: `dataset` (sources, planted shares, generation, files, ground truth), `writing` (one
writer per archetype), `pen` (random choices and text noise), `snippets` (pasted logs and code),
`phrases` (the loader of the phrase banks in `phrases/*.json`, package data).
"""

from simgap_core.demo.dataset import (
    ARCHETYPES,
    DEMO_SOURCES,
    HALLUCINATED,
    MISSED,
    SIMULATORS,
    TRUE_SHARES,
    DemoData,
    best_mixture,
    generate_demo,
    ground_truth,
    js_divergence,
    write_demo,
)
from simgap_core.demo.phrases import PhraseFileError, load_phrases

__all__ = [
    "ARCHETYPES",
    "DEMO_SOURCES",
    "HALLUCINATED",
    "MISSED",
    "SIMULATORS",
    "TRUE_SHARES",
    "DemoData",
    "PhraseFileError",
    "best_mixture",
    "generate_demo",
    "ground_truth",
    "js_divergence",
    "load_phrases",
    "write_demo",
]
