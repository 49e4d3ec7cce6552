import { useEffect, useRef } from "react";
import { useQuery } from "@tanstack/react-query";
import { Bar, BarChart, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api } from "../api/commands";
import type { AppError } from "../api/types";
import { describeActivity } from "../lib/activity";
import { dateTime, initials, label, money, relative } from "../lib/format";
import { gate } from "../lib/permissions";
import { useSession } from "../session";
import { Empty, ErrorBanner, PageHeader, Spinner } from "../components/ui";

const STATUS_COLORS: Record<string, string> = { ACTIVE: "#0f766e", INACTIVE: "#94a3b8", DO_NOT_CONTACT: "#e11d48" };

export function Dashboard() {
  const { permissions } = useSession();
  const dash = useQuery({ queryKey: ["dashboard"], queryFn: api.dashboard });
  const reported = useRef(false);
  useEffect(() => {
    if (dash.data && !reported.current) {
      reported.current = true;
      void api.uiReady("dashboard").catch(() => {});
    }
  }, [dash.data]);

  const d = dash.data;
  return (
    <div className="page">
      <PageHeader title="Dashboard" subtitle="Your organization at a glance — read from this device, live as your team works." />
      <ErrorBanner error={dash.error as AppError | null} onRetry={() => void dash.refetch()} />
      {dash.isPending ? <Spinner /> : d ? (
        <>
          <section className="metrics" aria-label="Key figures">
            <Metric label="Contacts" value={d.total_contacts.toLocaleString("en-US")} sub={`${d.contacts_created_last_7_days} new this week`} />
            <Metric label="Open pipeline" value={money(d.deal_value_sum_cents, true)} sub={`${d.deal_count} deals`} />
            <Metric label="Average deal" value={money(d.deal_value_avg_cents, true)} sub="across all deals" />
            <Metric label="Follow-ups" value={String(d.upcoming_follow_ups.length)} sub="in the next 7 days" />
          </section>
          <div className="grid-2">
            <section className="card">
              <h2 className="card-title">Contacts by status</h2>
              {d.total_contacts === 0 ? <Empty title="No contacts yet">Add your first contact to see your book of business here.</Empty> : (
                <div className="chart" data-testid="status-chart">
                  <ResponsiveContainer width="100%" height={220}>
                    <BarChart data={d.contacts_by_status.map((s) => ({ name: label(s.status), count: s.count, status: s.status }))} margin={{ left: 0, right: 12, top: 8 }}>
                      <XAxis dataKey="name" tickLine={false} axisLine={false} fontSize={12} />
                      <YAxis allowDecimals={false} tickLine={false} axisLine={false} fontSize={12} width={40} />
                      <Tooltip cursor={{ fill: "rgba(15,118,110,0.06)" }} />
                      <Bar dataKey="count" radius={[6, 6, 0, 0]} isAnimationActive={false}>
                        {d.contacts_by_status.map((s) => <Cell key={s.status} fill={STATUS_COLORS[s.status] ?? "#64748b"} />)}
                      </Bar>
                    </BarChart>
                  </ResponsiveContainer>
                </div>
              )}
            </section>
            <section className="card">
              <h2 className="card-title">Next follow-ups</h2>
              {d.upcoming_follow_ups.length === 0 ? <Empty title="Nothing due this week">Follow-ups you schedule on contacts appear here.</Empty> : (
                <ul className="list">
                  {d.upcoming_follow_ups.map((f) => (
                    <li key={f.contact_id} className="list-row">
                      <span className="avatar" aria-hidden>{initials(f.name)}</span>
                      <span className="grow"><strong>{f.name}</strong><span className="muted small">{f.assignee_name ? ` · ${f.assignee_name}` : " · unassigned"}</span></span>
                      <span className="muted small">{dateTime(f.next_follow_up_at)}</span>
                    </li>
                  ))}
                </ul>
              )}
            </section>
          </div>
          <ActivityFeed allowed={gate(permissions, "viewActivity")} />
        </>
      ) : null}
    </div>
  );
}

function Metric({ label: l, value, sub }: { label: string; value: string; sub: string }) {
  return (
    <div className="metric">
      <span className="metric-label">{l}</span>
      <span className="metric-value">{value}</span>
      <span className="muted small">{sub}</span>
    </div>
  );
}

function ActivityFeed({ allowed }: { allowed: { allowed: boolean; reason?: string } }) {
  const feed = useQuery({ queryKey: ["activity"], queryFn: () => api.activity(15), enabled: allowed.allowed });
  return (
    <section className="card" aria-label="Activity">
      <h2 className="card-title">Activity <span className="live-dot" title="Live: new activity appears as it happens" /></h2>
      {!allowed.allowed ? <p className="muted">{allowed.reason}</p> : feed.isPending ? <Spinner /> : feed.error ? (
        <ErrorBanner error={feed.error as AppError} />
      ) : feed.data && feed.data.length > 0 ? (
        <ul className="list feed" data-testid="activity-feed">
          {feed.data.map((a) => {
            const { who, text } = describeActivity(a);
            return (
              <li key={a.id} className="list-row">
                <span className="avatar avatar-sm" aria-hidden>{initials(who)}</span>
                <span className="grow"><strong>{who}</strong> {text}</span>
                <span className="muted small">{relative(a.created_at)}</span>
              </li>
            );
          })}
        </ul>
      ) : <Empty title="No activity yet">What your team does shows up here as it happens.</Empty>}
    </section>
  );
}
