import { ApiKeysAdmin } from "../components/admin/ApiKeysAdmin";
import { UsersAdmin } from "../components/admin/UsersAdmin";
import { PageTitle } from "../components/common";

/** Users and ingest API keys (admins only: the route in App.tsx and the API both check). */
export function AdminPage() {
  return (
    <>
      <PageTitle>Admin</PageTitle>
      <p className="muted">Every change here is recorded in the audit log.</p>
      <UsersAdmin />
      <ApiKeysAdmin />
    </>
  );
}
