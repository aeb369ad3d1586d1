"""citytraffic/storage."""
