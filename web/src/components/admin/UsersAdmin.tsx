import { useId, useState } from "react";
import type { FormEvent } from "react";
import { api } from "../../api/client";
import { messageOf, unwrap } from "../../api/errors";
import type { Role, User, UserChange } from "../../api/types";
import { ROLES } from "../../api/types";
import { useAuth } from "../../auth/AuthContext";
import { usePolling } from "../../lib/usePolling";
import { ErrorNotice, TableScroll, Time } from "../common";

const MIN_PASSWORD = 12; // the API's NewUser.password (logsentinel.domain.access)

async function loadUsers(): Promise<User[]> {
  return unwrap(await api.GET("/api/v1/users"));
}

async function changeUser(username: string, change: UserChange): Promise<User> {
  return unwrap(await api.PATCH("/api/v1/users/{username}", { params: { path: { username } }, body: change }));
}

async function createUser(username: string, password: string, role: Role): Promise<User> {
  return unwrap(await api.POST("/api/v1/users", { body: { username, password, role } }));
}

function RoleSelect({ id, value, onChange }: { id: string; value: Role; onChange: (role: Role) => void }) {
  return (
    <select id={id} value={value} onChange={(event) => onChange(event.target.value as Role)}>
      {ROLES.map((role) => (
        <option key={role} value={role}>{role}</option>
      ))}
    </select>
  );
}

interface UserRowProps {
  user: User;
  isMe: boolean;
  busy: boolean;
  onChange: (change: UserChange) => void;
}

/** A user with its role (picked, then applied: a keyboard going through the options does
 * not change it on the way) and a disable or enable button. */
function UserRow({ user, isMe, busy, onChange }: UserRowProps) {
  const id = useId();
  const [role, setRole] = useState<Role>(user.role);
  return (
    <tr>
      <td>
        {user.username}
        {isMe && <span className="muted"> (you)</span>}
      </td>
      <td>
        <div className="button-row">
          <label className="visually-hidden" htmlFor={id}>Role of {user.username}</label>
          <RoleSelect id={id} value={role} onChange={setRole} />
          <button type="button" className="button-secondary" disabled={busy || role === user.role} onClick={() => onChange({ role })}>
            Apply<span className="visually-hidden"> role to {user.username}</span>
          </button>
        </div>
      </td>
      <td>{user.disabled ? <span className="bad">Disabled</span> : "Enabled"}</td>
      <td className="nowrap"><Time iso={user.createdAt} /></td>
      <td>
        <button type="button" className="button-secondary" disabled={busy} onClick={() => onChange({ disabled: !user.disabled })}>
          {user.disabled ? "Enable" : "Disable"}<span className="visually-hidden"> {user.username}</span>
        </button>
      </td>
    </tr>
  );
}

function NewUserForm({ onCreated }: { onCreated: (user: User) => void }) {
  const id = useId();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const user = await createUser(username.trim(), password, role);
      setUsername("");
      setPassword("");
      setRole("viewer");
      onCreated(user);
    } catch (failure) {
      setError(`Not created: ${messageOf(failure)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="admin-form" aria-labelledby={`${id}-title`} onSubmit={(event) => void submit(event)}>
      <h3 id={`${id}-title`}>New user</h3>
      <div className="admin-form-fields">
        <div className="field">
          <label htmlFor={`${id}-username`}>Username</label>
          <input id={`${id}-username`} value={username} required autoComplete="off" onChange={(e) => setUsername(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-password`}>Password</label>
          <input
            id={`${id}-password`}
            type="password"
            value={password}
            required
            autoComplete="new-password"
            aria-describedby={`${id}-password-hint`}
            onChange={(e) => setPassword(e.target.value)}
          />
          <span id={`${id}-password-hint`} className="muted small">At least {MIN_PASSWORD} characters.</span>
        </div>
        <div className="field">
          <label htmlFor={`${id}-role`}>Role</label>
          <RoleSelect id={`${id}-role`} value={role} onChange={setRole} />
        </div>
        <div className="field actions">
          <button type="submit" disabled={busy}>{busy ? "Creating…" : "Create user"}</button>
        </div>
      </div>
      <ErrorNotice message={error} />
    </form>
  );
}

/** Users: their roles, disabling and enabling them, and new users. */
export function UsersAdmin() {
  const listed = usePolling(loadUsers, "users", null);
  const { state } = useAuth();
  const myName = state.status === "authenticated" ? state.me.identity : undefined;
  const [busy, setBusy] = useState<string>();
  const [done, setDone] = useState<string>();
  const [failure, setFailure] = useState<string>();

  async function change(user: User, what: UserChange) {
    setBusy(user.username);
    setDone(undefined);
    setFailure(undefined);
    try {
      const after = await changeUser(user.username, what);
      setDone(
        what.role !== undefined
          ? `${after.username} is now ${after.role}.`
          : `${after.username} is ${after.disabled ? "disabled" : "enabled"}.`,
      );
      listed.reload();
    } catch (error) {
      setFailure(`Could not change ${user.username}: ${messageOf(error)}`);
    } finally {
      setBusy(undefined);
    }
  }

  function created(user: User) {
    setFailure(undefined);
    setDone(`Created user ${user.username} (${user.role}).`);
    listed.reload();
  }

  const users = listed.data ?? [];
  return (
    <section className="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <ErrorNotice message={listed.error} />
      <ErrorNotice message={failure} />
      {done && <p className="notice notice-ok" role="status">{done}</p>}
      {users.length > 0 && (
        <TableScroll label="User list">
          <table>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {users.map((user) => (
                <UserRow
                  key={`${user.username}:${user.role}`}
                  user={user}
                  isMe={user.username === myName}
                  busy={busy === user.username}
                  onChange={(what) => void change(user, what)}
                />
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <NewUserForm onCreated={created} />
    </section>
  );
}
