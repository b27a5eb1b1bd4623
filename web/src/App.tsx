import { AuthProvider, useAuth } from "./auth/AuthContext";
import { canAdminister, canViewResources } from "./auth/roles";
import { PageTitle } from "./components/common";
import { Layout } from "./components/Layout";
import { match, useRoute } from "./lib/router";
import type { Route } from "./lib/router";
import type { Role } from "./api/types";
import { AdminPage } from "./pages/AdminPage";
import { IncidentDetailPage } from "./pages/IncidentDetailPage";
import { IncidentsPage } from "./pages/IncidentsPage";
import { LoginPage } from "./pages/LoginPage";
import { LogsPage } from "./pages/LogsPage";
import { OverviewPage } from "./pages/OverviewPage";
import { ResourcesPage } from "./pages/ResourcesPage";

function Page({ route, role }: { route: Route; role: Role | null }) {
  const { path } = route;
  if (path === "/") return <OverviewPage />;
  if (path === "/incidents") return <IncidentsPage route={route} />;
  const incident = match("/incidents/:name", path);
  if (incident?.name) return <IncidentDetailPage key={incident.name} name={incident.name} />;
  if (path === "/logs") return <LogsPage route={route} />;
  if (path === "/rules" || path === "/playbooks") {
    if (!canViewResources(role)) {
      return (
        <>
          <PageTitle>Not available</PageTitle>
          <p>Rules and playbooks are shown to operators and admins.</p>
        </>
      );
    }
    return <ResourcesPage key={path} kind={path === "/rules" ? "rules" : "playbooks"} />;
  }
  if (path === "/admin") {
    if (!canAdminister(role)) {
      return (
        <>
          <PageTitle>Not available</PageTitle>
          <p>Users and API keys are managed by admins.</p>
        </>
      );
    }
    return <AdminPage />;
  }
  return (
    <>
      <PageTitle>Not found</PageTitle>
      <p>There is no page at {path}.</p>
    </>
  );
}

function Shell() {
  const { state } = useAuth();
  const route = useRoute();
  if (state.status === "loading") {
    return (
      <main className="login" id="main">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (state.status === "anonymous") {
    return <LoginPage notice={state.notice} />;
  }
  return (
    <Layout path={route.path}>
      <Page key={route.path} route={route} role={state.me.role ?? null} />
    </Layout>
  );
}

export function App() {
  return (
    <AuthProvider>
      <Shell />
    </AuthProvider>
  );
}
