"""Tests run without hardware: boards are the simulator (sim://) and the emulated board (emu://)."""
