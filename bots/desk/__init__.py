"""The staff desk at /desk: handoff queue, cases, supervisors' warnings and ratings, exports, accounts.

See docs/desk.md for what each role sees and does. `mount` is the one entry point the app uses.
"""

from bots.desk.app import build_desk, mount

__all__ = ["build_desk", "mount"]
