"""`IdFactory` and `ManualClock`: nothing ambient in the core (guide §2.4, style rule 1)."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.protocol import IdFactory, ManualClock, UsageError

PREFIXES = ("event", "item", "resp", "conv", "sess", "call")


class TestIdFactory:
    @pytest.mark.parametrize("prefix", PREFIXES)
    def test_an_id_is_the_prefix_an_underscore_and_21_alphanumerics(self, prefix):
        """§4 common item fields: server ids look like `item_` + 21 alphanumerics."""
        value = IdFactory(7).new(prefix)
        assert re.fullmatch(rf"{prefix}_[0-9A-Za-z]{{21}}", value), value

    def test_the_same_seed_gives_the_same_ids_in_the_same_order(self):
        """Transcripts must be reproducible byte for byte (guide §2.4 "nothing is ambient")."""
        first, second = IdFactory("seed"), IdFactory("seed")
        made = [first.new(prefix) for prefix in PREFIXES * 3]
        assert made == [second.new(prefix) for prefix in PREFIXES * 3]

    def test_different_seeds_give_different_ids(self):
        """Two seeds must not collide, or two test sessions would share ids."""
        one, two = IdFactory(1), IdFactory(2)
        made_by_one = [one.new(prefix) for prefix in PREFIXES * 3]
        assert set(made_by_one).isdisjoint(two.new(prefix) for prefix in PREFIXES * 3)

    def test_one_factory_never_repeats_an_id(self):
        """Live ids are unique per session; the counter makes every call different."""
        ids = IdFactory(0)
        made = [ids.new("item") for _ in range(2000)]
        assert len(set(made)) == len(made)

    def test_the_counter_is_shared_by_all_prefixes(self):
        """The n-th id depends on n, whatever the prefixes before it were."""
        mixed = IdFactory(3)
        mixed.new("resp")
        assert mixed.new("item") != IdFactory(3).new("item")

    def test_the_default_seed_is_zero_and_seeds_compare_as_text(self):
        """`IdFactory()` is `IdFactory(0)`; the seed is used through `str(seed)`."""
        assert IdFactory().new("item") == IdFactory(0).new("item") == IdFactory("0").new("item")

    @settings(max_examples=50, deadline=None)
    @given(seed=st.one_of(st.integers(), st.text(max_size=20)), count=st.integers(1, 20))
    def test_every_seed_makes_well_shaped_ids(self, seed, count):
        """Any seed, any position: `event_` + 21 characters of [0-9A-Za-z]."""
        ids = IdFactory(seed)
        for _ in range(count):
            assert re.fullmatch(r"event_[0-9A-Za-z]{21}", ids.new("event"))


class TestManualClock:
    def test_a_clock_starts_at_its_start_time(self):
        """`ManualClock(start_ms)`; the default start is 0."""
        assert ManualClock().now_ms() == 0.0
        assert ManualClock(250.0).now_ms() == 250.0

    def test_advance_moves_the_clock_forward_by_that_many_ms(self):
        """Virtual time only moves when told to."""
        clock = ManualClock(10.0)
        clock.advance(5.5)
        clock.advance(0)
        assert clock.now_ms() == 15.5

    def test_advance_by_a_negative_amount_is_refused(self):
        """A clock cannot go back; the message names the value."""
        clock = ManualClock(10.0)
        message = r"ms=-1 must be a finite number >= 0: a clock cannot go back"
        with pytest.raises(ValueError, match=message):
            clock.advance(-1)
        assert clock.now_ms() == 10.0

    def test_set_jumps_forward_and_ignores_earlier_times(self):
        """`set` is monotonic: an earlier time leaves the clock where it is."""
        clock = ManualClock(100.0)
        clock.set(150.0)
        assert clock.now_ms() == 150.0
        clock.set(120.0)
        assert clock.now_ms() == 150.0

    def test_advance_by_a_negative_amount_raises_usage_error(self):
        """Style rule 8: bad arguments raise `UsageError` (which is also a ValueError)."""
        with pytest.raises(UsageError):
            ManualClock().advance(-1)

    def test_advance_by_nan_is_refused(self):
        """`nan < 0` is False, so NaN slips past the check and `now_ms()` becomes NaN forever."""
        clock = ManualClock()
        with pytest.raises(ValueError, match="nan"):
            clock.advance(math.nan)
        assert clock.now_ms() == 0.0
