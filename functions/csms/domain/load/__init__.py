"""Load management: the load-group tree of a site, its inputs, session needs and the allocation.

config    what the operator configures: groups with limits, stations and connectors, time-of-day
          limits, the meter's staleness rule (validated: one root, no loops, sane limits)
inputs    what changes the power available: meter, PV and battery readings or forecasts
needs     what each session needs: departure and energy, from wherever they come, and priority
tree      the compiled tree and the two fill primitives every policy is built from
engine    the allocation policy the CSMS runs (docs/adr/0010-load-management.md)
allocation the result: a limit per connector with its reason, the load per group, and the diff
          against the last allocation that decides which stations get a new profile
"""
