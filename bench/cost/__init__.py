"""The cost model: one month of a public AC station replayed through the handlers, priced.

`python -m cost` (from bench/, or `make bench-cost`) runs it; the pure parts are `pricing`
(AWS list prices and their metering rules), `profile` (the month's messages) and `report`.
"""
