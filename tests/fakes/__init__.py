"""Test doubles that speak real wire protocols (no mocks of our own code)."""
