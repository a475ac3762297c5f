"""The emulated board: a firmware stand-in that speaks the wire protocol (firmware.py, server.py)
around an engine Board with hidden silicon (silicon.py, engine.py), with fault injection
(faults.py). `hil emulate` serves it on a pty or TCP; `emu://` runs it in-process.

Submodules are imported lazily: `import hil.emulator` costs nothing.
"""
