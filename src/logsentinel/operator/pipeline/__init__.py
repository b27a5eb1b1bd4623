"""LogPipeline rendering: the Kubernetes objects (Fluent Bit DaemonSet and its configuration,
the processors Deployment, RBAC, metrics Service) that one LogPipeline owns, as plain dicts.

Pure: no API calls, no Kafka. The Kopf handlers apply what :func:`render.render` returns.
"""
