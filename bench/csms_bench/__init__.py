"""The smart-charging benchmark: scenarios, a replay simulator, baselines and the offline optimum.

Everything here runs on a laptop with no AWS: it drives the pure allocation engine of
`csms.domain.load` through recorded or generated charging sessions (docs/smart-charging.md).
"""
