"""The campaign explorer: a read-only web app over the published warehouse (`osvi explore`).

It opens only OSVI_WAREHOUSE, read-only, and reopens it when a new publication replaces the
file; it never touches the pipeline's private working file, so reading never blocks a run.
"""
