"""Vialog at realistic scale: a data generator and benchmarks (docs/performance.md).

``python -m bench --help`` lists the commands. Nothing here is imported by the application.
"""
