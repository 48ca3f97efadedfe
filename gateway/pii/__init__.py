"""Personal data: finding it in text (detection) and deciding what to do with it (scrubbing)."""
