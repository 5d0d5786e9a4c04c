"""Detection's parts (the service that writes is ``trading.services.detection``):

- ``cycle``: the pure cycle, from its inputs to plans and rejections (no I/O);
- ``inputs``: what a cycle reads (listings, limits, in-flight opportunities);
- ``rejections``: why a pair gave no opportunity, counted per minute in Redis
  and read back for the control panel ("why nothing traded in the last hour").
"""
