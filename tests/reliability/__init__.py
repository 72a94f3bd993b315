"""Helpers of the reliability tests (crash safety, concurrency, security, plugin faults).

Modules here are imported by the tests and, for the ``*_run.py`` scripts, run
as subprocesses: a real process that can be killed, that holds a real lock.
"""
