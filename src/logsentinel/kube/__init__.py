"""Kubernetes adapters: the only place the processors reach the Kubernetes API from.

DetectionRule watch, Incident custom resources, rule status and pod owner lookups, behind
small classes so detection and storage never see a Kubernetes client.
"""
