import { useEffect, useId, useRef, useState } from "react";
import type { FormEvent } from "react";
import { api } from "../../api/client";
import { messageOf, unwrap } from "../../api/errors";
import type { ApiKeyInfo, CreatedApiKey } from "../../api/types";
import { usePolling } from "../../lib/usePolling";
import { ConfirmButton } from "../ConfirmButton";
import { ErrorNotice, TableScroll, Time } from "../common";

async function loadKeys(): Promise<ApiKeyInfo[]> {
  return unwrap(await api.GET("/api/v1/api-keys"));
}

async function createKey(name: string): Promise<CreatedApiKey> {
  return unwrap(await api.POST("/api/v1/api-keys", { body: { name } }));
}

async function revokeKey(keyId: string): Promise<void> {
  unwrap(await api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: keyId } } }));
}

/** A new key's secret, which the API gives only once: shown until dismissed, then forgotten. */
function NewKeySecret({ created, onDone }: { created: CreatedApiKey; onDone: () => void }) {
  const id = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string>();

  useEffect(() => {
    inputRef.current?.focus();
    inputRef.current?.select();
  }, []);

  async function copy() {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("Copied.");
    } catch {
      // no clipboard outside a secure context (plain http but on localhost)
      inputRef.current?.select();
      setCopied("Could not copy: the key is selected, copy it with the keyboard.");
    }
  }

  return (
    <section className="secret notice" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Key {created.name} created</h3>
      <p id={`${id}-note`}>
        <strong>Copy the key now: it is shown only this once.</strong> The API keeps only a hash of
        it; if it is lost, revoke it and create another. Services send it in the{" "}
        <code>X-API-Key</code> header (or as <code>Authorization: Bearer …</code>) to{" "}
        <code>POST /api/v1/ingest</code>.
      </p>
      <div className="field">
        <label htmlFor={`${id}-key`}>Secret of key {created.name}</label>
        <div className="button-row">
          <input
            id={`${id}-key`}
            ref={inputRef}
            className="secret-value"
            readOnly
            value={created.key}
            spellCheck={false}
            aria-describedby={`${id}-note`}
            onFocus={(event) => event.currentTarget.select()}
          />
          <button type="button" className="button-secondary" onClick={() => void copy()}>Copy</button>
          <button type="button" onClick={onDone}>Done</button>
        </div>
      </div>
      {copied && <p role="status" className="small">{copied}</p>}
    </section>
  );
}

function NewKeyForm({ onCreated }: { onCreated: (created: CreatedApiKey) => void }) {
  const id = useId();
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const created = await createKey(name.trim());
      setName("");
      onCreated(created);
    } catch (failure) {
      setError(`Not created: ${messageOf(failure)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="admin-form" aria-labelledby={`${id}-title`} onSubmit={(event) => void submit(event)}>
      <h3 id={`${id}-title`}>New ingest key</h3>
      <div className="admin-form-fields">
        <div className="field grow">
          <label htmlFor={`${id}-name`}>Key name</label>
          <input id={`${id}-name`} value={name} required autoComplete="off" placeholder="e.g. fluent-bit" onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="field actions">
          <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create key"}</button>
        </div>
      </div>
      <ErrorNotice message={error} />
    </form>
  );
}

function KeyRow({ apiKey, onRevoke }: { apiKey: ApiKeyInfo; onRevoke: () => Promise<void> }) {
  return (
    <tr>
      <td>{apiKey.name}</td>
      <td><code>{apiKey.id}</code></td>
      <td>{apiKey.createdBy}</td>
      <td className="nowrap"><Time iso={apiKey.createdAt} /></td>
      <td className="nowrap"><Time iso={apiKey.lastUsedAt} /></td>
      <td>
        {apiKey.revokedAt ? (
          <span className="muted">Revoked <Time iso={apiKey.revokedAt} /></span>
        ) : (
          <ConfirmButton
            label="Revoke"
            name={`Revoke key ${apiKey.name}`}
            question={`Revoke ${apiKey.name}? Services sending it are refused from now on.`}
            confirmLabel="Yes, revoke"
            onConfirm={onRevoke}
          />
        )}
      </td>
    </tr>
  );
}

/** Ingest API keys: listed without secrets, created (the secret shown once), revoked. */
export function ApiKeysAdmin() {
  const listed = usePolling(loadKeys, "api-keys", null);
  const [created, setCreated] = useState<CreatedApiKey>();
  const [done, setDone] = useState<string>();
  const [failure, setFailure] = useState<string>();

  function onCreated(key: CreatedApiKey) {
    setFailure(undefined);
    setDone(undefined);
    setCreated(key);
    listed.reload();
  }

  async function revoke(key: ApiKeyInfo) {
    setDone(undefined);
    setFailure(undefined);
    try {
      await revokeKey(key.id);
      setDone(`Revoked key ${key.name}.`);
      listed.reload();
    } catch (error) {
      setFailure(`Could not revoke ${key.name}: ${messageOf(error)}`);
    }
  }

  const keys = listed.data ?? [];
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">Ingest API keys</h2>
      <ErrorNotice message={listed.error} />
      <ErrorNotice message={failure} />
      {done && <p className="notice notice-ok" role="status">{done}</p>}
      {created && <NewKeySecret created={created} onDone={() => setCreated(undefined)} />}
      {listed.data && keys.length === 0 && <p className="muted">No keys yet.</p>}
      {keys.length > 0 && (
        <TableScroll label="Key list">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Created by</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col"><span className="visually-hidden">Status</span></th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <KeyRow key={key.id} apiKey={key} onRevoke={() => revoke(key)} />
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <NewKeyForm onCreated={onCreated} />
    </section>
  );
}
