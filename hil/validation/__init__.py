"""The Board conformance suite, shipped with hil so users can run it against their own board:

pytest --pyargs hil.validation --board /dev/ttyUSB0
"""
