"""citytraffic."""
