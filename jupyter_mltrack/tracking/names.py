"""Friendly run names (``adjective-noun-123``) for runs started without one."""

from __future__ import annotations

import random

__all__ = ["generate_run_name"]

_ADJECTIVES = (
    "able", "amber", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "daring",
    "eager", "fair", "fast", "fierce", "gentle", "glad", "golden", "grand", "happy", "honest",
    "keen", "kind", "lively", "lucky", "merry", "mighty", "neat", "noble", "polite", "proud",
    "quick", "quiet", "rapid", "sharp", "shy", "silent", "smart", "steady", "sunny", "swift",
    "tidy", "vivid", "warm", "wise", "witty", "young", "zesty",
)
_NOUNS = (
    "ant", "bass", "bat", "bear", "bee", "bird", "carp", "cat", "colt", "crab", "crane",
    "deer", "dove", "duck", "eel", "elk", "finch", "fox", "frog", "goat", "hare", "hawk",
    "heron", "horse", "jay", "koi", "lark", "lion", "lynx", "mole", "moth", "newt", "owl",
    "panda", "pike", "quail", "ram", "robin", "seal", "shark", "sloth", "snail", "swan",
    "toad", "trout", "wasp", "whale", "wolf", "wren", "yak",
)
_rng = random.Random()


def generate_run_name() -> str:
    """A random readable name such as ``'swift-heron-417'`` (not guaranteed unique)."""
    return f"{_rng.choice(_ADJECTIVES)}-{_rng.choice(_NOUNS)}-{_rng.randint(100, 999)}"
