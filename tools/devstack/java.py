"""Java and Maven prerequisites for the Kafka broker."""

from __future__ import annotations

import re
import subprocess

from devstack.errors import MissingPrerequisite
from devstack.proc import require_tool

JAVA_HINT = "Install a JDK >= 17 (Debian: `apt-get install openjdk-17-jdk-headless`)."
MAVEN_HINT = "Install Maven (Debian: `apt-get install maven`)."


def java_binary(minimum: int = 17) -> str:
    """Path of ``java``; fail clearly when it is missing or older than ``minimum``."""
    java = require_tool("java", "to run the Kafka broker", JAVA_HINT)
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise MissingPrerequisite(f"cannot tell the version of {java}: {out.stderr.strip()}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" style
        major = int(match.group(2))
    if major < minimum:
        raise MissingPrerequisite(f"{java} is Java {major}; Kafka needs >= {minimum}. {JAVA_HINT}")
    return java


def maven_binary() -> str:
    """Path of ``mvn``; fail clearly when Maven is missing."""
    return require_tool("mvn", "to fetch the Kafka jars from Maven Central", MAVEN_HINT)
