"""Log Sentinel: log-driven incident detection and safe auto-remediation for Kubernetes."""

__version__ = "0.1.0"
