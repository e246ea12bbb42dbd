"""Test support: a fake TWS / IB Gateway that speaks the real IB API wire protocol, in this
process (:class:`FakeTWS`) or in its own (:class:`FakeTWSProcess`)."""

from stockfish_ibkr.testing.book import DEFAULT_INSTRUMENTS, FakeOrder, Instrument
from stockfish_ibkr.testing.fake_tws import FakeTWS
from stockfish_ibkr.testing.process import FakeTWSProcess

__all__ = ["DEFAULT_INSTRUMENTS", "FakeOrder", "FakeTWS", "FakeTWSProcess", "Instrument"]
