"""The demo: a synthetic CT phantom with known truth, analysed end to end without weights."""
