"""Test support: a fake TWS / IB Gateway that speaks the real IB API wire protocol."""

from stockfish_ibkr.testing.fake_tws import DEFAULT_INSTRUMENTS, FakeOrder, FakeTWS, Instrument

__all__ = ["DEFAULT_INSTRUMENTS", "FakeOrder", "FakeTWS", "Instrument"]
