"""citytraffic/messaging."""
