"""Fakes that speak third-party HTTP protocols, for driving the real SDKs in tests."""
