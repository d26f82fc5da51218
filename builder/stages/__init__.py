"""The build stages, one module each (see pipelines/build.py for their order)."""
