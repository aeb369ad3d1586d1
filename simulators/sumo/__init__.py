"""SUMO scenarios (netgenerate grids/arterials, randomTrips demand, E1 loops) and libsumo runs.

Needs the optional extra `citytraffic[sumo]` (eclipse-sumo and libsumo, pinned).
"""
