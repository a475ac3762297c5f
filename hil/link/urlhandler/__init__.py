"""pyserial URL handlers of hil (pyserial imports `protocol_<scheme>` from this package)."""
