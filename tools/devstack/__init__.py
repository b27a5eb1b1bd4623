"""Log Sentinel local stack: real PostgreSQL, Kafka (KRaft) and a Kubernetes control plane.

Everything is started by this package on the local machine without Docker. State and logs live
under ``<repo>/.stack/``; downloads and builds are cached outside the repository under
``~/.cache/logsentinel/<component>-<version>/`` (override with ``LOGSENTINEL_CACHE_DIR``).

Run ``python -m devstack up|down|env|status|build [component...]``.
"""
