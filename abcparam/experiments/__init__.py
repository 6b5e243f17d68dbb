"""Experiment logic, importable: each module has ``main(argv=None)``; experiments/ holds thin scripts."""
