"""The measure stage's random streams: each named with its own written-out number."""

from __future__ import annotations

import numpy as np

from simgap_core.measure.pairs import SeedStream, stage_seed


def test_stream_numbers_are_fixed_so_a_new_stream_shifts_none() -> None:
    # The numbers stored results were drawn with: changing one changes a published number.
    assert {s.name: s.value for s in SeedStream} == {
        "PAPER_CI": 0,
        "MAP_CI": 1,
        "SHARE_CI": 2,
        "MATCHED": 3,
        "PAPER_TEST": 4,
        "MAP_TEST": 5,
        "FLOOR": 6,
        "MAP_FLOOR": 7,
        "MIXTURE": 8,
        "VARIANT_CI": 9,
        "MISALIGNMENT": 10,
        "POWER": 11,
    }


def test_every_stream_and_simulator_gets_its_own_seed() -> None:
    seeds = {stage_seed(42, stream, index) for stream in SeedStream for index in range(25)}
    assert len(seeds) == len(SeedStream) * 25
    expected = int(np.random.SeedSequence((42, 4, 3)).generate_state(1)[0])
    assert stage_seed(42, SeedStream.PAPER_TEST, 3) == expected
