/**
 * Versioned schema migrations, one list per database. A migration is applied once, in its own
 * transaction, and recorded in `schema_migrations`; never edit one that has shipped — add the next.
 * A database written by a newer labcoat (a version this build does not know) is refused.
 */

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'control plane: spans, graph aggregates, tokens, attacks, audit, campaigns',
    sql: `
CREATE TABLE spans (
  id INTEGER PRIMARY KEY,
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_span_id TEXT,
  service TEXT NOT NULL,
  name TEXT NOT NULL,
  kind INTEGER NOT NULL,
  start_ms REAL NOT NULL,
  end_ms REAL NOT NULL,
  status INTEGER NOT NULL,
  status_message TEXT,
  attributes TEXT NOT NULL,
  events TEXT,
  UNIQUE (trace_id, span_id)
);
CREATE TABLE span_chunks (
  minute INTEGER PRIMARY KEY,
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  spans INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE TABLE services (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  last_bucket INTEGER NOT NULL,
  cum_spans INTEGER NOT NULL DEFAULT 0,
  cum_requests INTEGER NOT NULL DEFAULT 0,
  cum_errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE service_cum (
  service_id INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  spans INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  PRIMARY KEY (service_id, bucket)
) WITHOUT ROWID;
CREATE TABLE edges (
  id INTEGER PRIMARY KEY,
  caller TEXT NOT NULL,
  callee TEXT NOT NULL,
  point TEXT NOT NULL,
  last_bucket INTEGER NOT NULL,
  cum_calls INTEGER NOT NULL DEFAULT 0,
  cum_errors INTEGER NOT NULL DEFAULT 0,
  cum_hist TEXT NOT NULL DEFAULT '{}',
  UNIQUE (caller, callee, point)
);
CREATE TABLE edge_cum (
  edge_id INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  hist TEXT NOT NULL,
  PRIMARY KEY (edge_id, bucket)
) WITHOUT ROWID;
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE attacks (
  id TEXT PRIMARY KEY,
  name TEXT,
  definition TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  expires_at INTEGER NOT NULL,
  halted_at INTEGER,
  halted_by TEXT,
  injections INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attacks_by_state ON attacks (state, expires_at);
CREATE INDEX attacks_by_created ON attacks (created_at);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT
);
CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  started_at INTEGER,
  finished_at INTEGER,
  heartbeat_at INTEGER,
  runner TEXT,
  stop_requested INTEGER NOT NULL DEFAULT 0,
  progress TEXT,
  summary TEXT,
  result TEXT,
  error TEXT,
  last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_by_created ON campaigns (created_at);
CREATE TABLE campaign_events (
  campaign_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (campaign_id, seq)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'console queries: server settings, spans by service and by entry kind over time',
    sql: `
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT
);
CREATE INDEX spans_by_service_start ON spans (service, start_ms, id);
CREATE INDEX spans_by_kind_start ON spans (kind, start_ms, id);
`,
  },
];

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'control plane: spans, graph aggregates, tokens, attacks, audit, campaigns',
    sql: `
CREATE TABLE spans (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_span_id TEXT,
  service TEXT NOT NULL,
  name TEXT NOT NULL,
  kind SMALLINT NOT NULL,
  start_ms DOUBLE PRECISION NOT NULL,
  end_ms DOUBLE PRECISION NOT NULL,
  status SMALLINT NOT NULL,
  status_message TEXT,
  attributes TEXT NOT NULL,
  events TEXT,
  UNIQUE (trace_id, span_id)
);
CREATE TABLE span_chunks (
  minute BIGINT PRIMARY KEY,
  first_id BIGINT NOT NULL,
  last_id BIGINT NOT NULL,
  spans BIGINT NOT NULL,
  bytes BIGINT NOT NULL
);
CREATE TABLE services (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  last_bucket BIGINT NOT NULL,
  cum_spans BIGINT NOT NULL DEFAULT 0,
  cum_requests BIGINT NOT NULL DEFAULT 0,
  cum_errors BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE service_cum (
  service_id BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  spans BIGINT NOT NULL,
  requests BIGINT NOT NULL,
  errors BIGINT NOT NULL,
  PRIMARY KEY (service_id, bucket)
);
CREATE TABLE edges (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  caller TEXT NOT NULL,
  callee TEXT NOT NULL,
  point TEXT NOT NULL,
  last_bucket BIGINT NOT NULL,
  cum_calls BIGINT NOT NULL DEFAULT 0,
  cum_errors BIGINT NOT NULL DEFAULT 0,
  cum_hist TEXT NOT NULL DEFAULT '{}',
  UNIQUE (caller, callee, point)
);
CREATE TABLE edge_cum (
  edge_id BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  calls BIGINT NOT NULL,
  errors BIGINT NOT NULL,
  hist TEXT NOT NULL,
  PRIMARY KEY (edge_id, bucket)
);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT,
  role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE TABLE attacks (
  id TEXT PRIMARY KEY,
  name TEXT,
  definition TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  created_by TEXT,
  expires_at BIGINT NOT NULL,
  halted_at BIGINT,
  halted_by TEXT,
  injections BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX attacks_by_state ON attacks (state, expires_at);
CREATE INDEX attacks_by_created ON attacks (created_at);
CREATE TABLE audit (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  role TEXT,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT
);
CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  created_by TEXT,
  started_at BIGINT,
  finished_at BIGINT,
  heartbeat_at BIGINT,
  runner TEXT,
  stop_requested BOOLEAN NOT NULL DEFAULT false,
  progress TEXT,
  summary TEXT,
  result TEXT,
  error TEXT,
  last_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_by_created ON campaigns (created_at);
CREATE TABLE campaign_events (
  campaign_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (campaign_id, seq)
);
`,
  },
  {
    version: 2,
    name: 'console queries: server settings, spans by service and by entry kind over time',
    sql: `
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by TEXT
);
CREATE INDEX spans_by_service_start ON spans (service, start_ms, id);
CREATE INDEX spans_by_kind_start ON spans (kind, start_ms, id);
`,
  },
];
