"""Read queries of the API and the pages, one module per area (the detectors' own SQL lives with
each detector; their read side for the API is detectors/views.py).

- traces.py  the trace list, one trace's spans (finished and open), store counts
- tools.py   per-tool call tables and a tool's recent failures

Composition rule for all of them: schema/params.py.
"""
