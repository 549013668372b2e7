"""Test doubles and lab tools shipped beside the library: the ad-platform emulator, the
server-process helpers, and the synthetic event generators.

The demo, the tests and the benchmarks use them; ``trackstack_wh`` imports them only where
a user asks for them (``Warehouse.push_to_emulator``, ``trackstack-wh demo``).
"""
