"""pyserial URL handlers of the emulator (`protocol_emu`: emu://), registered by hil.emulator.transports."""
