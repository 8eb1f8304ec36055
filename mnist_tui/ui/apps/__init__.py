"""The standalone apps: the runs list, compare, a sweep's screen, inspect and draw."""
