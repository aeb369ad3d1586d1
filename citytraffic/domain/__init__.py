"""citytraffic/domain."""
