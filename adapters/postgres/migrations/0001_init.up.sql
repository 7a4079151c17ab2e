-- keygate schema, version 1 (PostgreSQL 13 and later). Each migration runs in one transaction
-- together with its row in schema_migrations: it is applied whole or not at all.

-- Users. email is the normalised address (the core's identity.NormalizeEmail); identifiers and
-- e-mails use the "C" collation: equality and order byte for byte, whatever the database's
-- locale.
CREATE TABLE users (
  id            text COLLATE "C" PRIMARY KEY,
  email         text COLLATE "C" NOT NULL,
  name          text NOT NULL,
  password_hash text NOT NULL,
  roles         text[] NOT NULL DEFAULT '{}',
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz,
  updated_at    timestamptz,
  CONSTRAINT users_email UNIQUE (email),
  CONSTRAINT users_email_length CHECK (octet_length(email) <= 254)
);

-- OAuth provider links: (provider, subject) names exactly one user.
CREATE TABLE oauth_links (
  provider   text COLLATE "C" NOT NULL,
  subject    text COLLATE "C" NOT NULL,
  user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz,
  PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_links_user ON oauth_links (user_id);

-- The audit log: append-only (the adapter never updates or deletes a row), newest by id.
CREATE TABLE audit_events (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at        timestamptz,
  action    text NOT NULL,
  user_id   text COLLATE "C" NOT NULL,
  actor_id  text COLLATE "C" NOT NULL,
  remote_ip text NOT NULL,
  detail    text NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);

-- The signing-key ring shared by every replica: one key per slot (seq), one per kid. Only the
-- sealed private key (AES-256-GCM under the KEK) is stored, never the plaintext.
CREATE TABLE signing_keys (
  seq            bigint PRIMARY KEY,
  kid            text COLLATE "C" NOT NULL,
  public_key     bytea NOT NULL,
  sealed_private bytea NOT NULL,
  created_at     timestamptz,
  activates_at   timestamptz,
  retired_at     timestamptz,
  CONSTRAINT signing_keys_kid UNIQUE (kid)
);
