"""Certificates and keys for the control plane, made with the ``openssl`` command.

One CA signs: a serving certificate for 127.0.0.1/localhost (used by kube-apiserver,
kube-controller-manager and kube-scheduler), one client certificate per identity (admin,
controller-manager, scheduler, kwok), all in the ``system:masters`` group, and the
``front-proxy-client`` certificate the apiserver presents to aggregated API servers. The
service account token key pair is a separate RSA key. Existing files are kept, so kubeconfigs
stay valid across restarts.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from devstack.errors import StackError
from devstack.proc import require_tool

DAYS = "3650"
FRONT_PROXY_CLIENT = "front-proxy-client"
SERVING_SANS = (
    "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
    "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
)


def _openssl(*args: str, cwd: Path) -> None:
    openssl = require_tool(
        "openssl", "to make the control plane's certificates", "apt-get install openssl"
    )
    done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"openssl {args[0]} failed in {cwd}:\n{done.stderr}")


def _ec_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", path.name, cwd=path.parent)  # fmt: skip


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    """Key ``name.key`` and certificate ``name.crt`` signed by the CA in ``directory``; made
    again when the subject or extensions asked for changed (e.g. a new serving address)."""
    wanted = f"{subject}\n{extensions}"
    request, certificate = directory / f"{name}.request", directory / f"{name}.crt"
    if certificate.is_file() and request.is_file() and request.read_text() == wanted:
        return
    _ec_key(directory / f"{name}.key")
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr",
             cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt", cwd=directory)  # fmt: skip
    request.write_text(wanted)


def ensure_pki(
    directory: Path,
    clients: tuple[str, ...],
    *,
    serving_ips: tuple[str, ...] = (),
    identities: Mapping[str, str] | None = None,
) -> None:
    """Create (once) the CA, the serving certificate, client certificates and the SA key.

    ``clients`` are cluster admins (group system:masters); ``identities`` maps more client
    certificate names to their subject (e.g. a kubelet's ``/O=system:nodes/CN=system:node:n``);
    ``serving_ips`` are extra addresses the serving certificate is valid for.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if not (directory / "ca.crt").is_file():
        _ec_key(directory / "ca.key")
        _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=logsentinel-devstack-ca",
                 "-days", DAYS, "-sha256",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                 "-out", "ca.crt", cwd=directory)  # fmt: skip
    _signed(
        directory,
        "serving",
        "/CN=localhost",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={SERVING_SANS}"
        + "".join(f",IP:{ip}" for ip in serving_ips)
        + "\n",
    )
    client_ext = (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    for client in clients:
        _signed(directory, client, f"/O=system:masters/CN={client}", client_ext)
    for name, subject in (identities or {}).items():
        _signed(directory, name, subject, client_ext)
    _signed(directory, FRONT_PROXY_CLIENT, f"/CN={FRONT_PROXY_CLIENT}", client_ext)
    if not (directory / "sa.key").is_file():
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", "sa.key", cwd=directory)  # fmt: skip
        _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
