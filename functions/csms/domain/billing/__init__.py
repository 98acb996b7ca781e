"""Tariffs, pricing and billing: pure model, money in Decimal, no I/O."""
