-- keygate schema, version 1 (MySQL 8.0 and MariaDB 10.11).
-- Rules for every migration of this dialect: one statement per ';' at the end of a line; only
-- SQL both servers accept; idempotent (CREATE TABLE IF NOT EXISTS, indexes inside CREATE TABLE),
-- because MySQL commits DDL at once and a migration interrupted halfway is simply run again.
-- A later migration that alters a table holds that one ALTER TABLE only (ADD COLUMN IF NOT
-- EXISTS is MariaDB's alone), so it is applied whole or not at all.

-- Users. email is the normalised address (the core's identity.NormalizeEmail, at most 254
-- bytes) in VARBINARY: compared byte for byte with no padding on both servers, unlike
-- utf8mb4_bin (PAD SPACE) or utf8mb4_0900_bin (MySQL only). Identifiers are VARBINARY too.
CREATE TABLE IF NOT EXISTS users (
  id            VARBINARY(255) NOT NULL,
  email         VARBINARY(254) NOT NULL,
  name          VARCHAR(255) NOT NULL,
  password_hash VARBINARY(512) NOT NULL,
  roles         JSON NOT NULL,
  disabled      BOOLEAN NOT NULL DEFAULT FALSE,
  created_at    DATETIME(6) NULL,
  updated_at    DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- OAuth provider links: (provider, subject) names exactly one user.
CREATE TABLE IF NOT EXISTS oauth_links (
  provider   VARBINARY(255) NOT NULL,
  subject    VARBINARY(255) NOT NULL,
  user_id    VARBINARY(255) NOT NULL,
  created_at DATETIME(6) NULL,
  PRIMARY KEY (provider, subject),
  KEY oauth_links_user (user_id),
  CONSTRAINT oauth_links_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The audit log: append-only (the adapter never updates or deletes a row), newest by id.
CREATE TABLE IF NOT EXISTS audit_events (
  id        BIGINT NOT NULL AUTO_INCREMENT,
  at        DATETIME(6) NULL,
  action    VARCHAR(64) NOT NULL,
  user_id   VARBINARY(255) NOT NULL,
  actor_id  VARBINARY(255) NOT NULL,
  remote_ip VARCHAR(255) NOT NULL,
  detail    TEXT NOT NULL,
  PRIMARY KEY (id),
  KEY audit_events_user (user_id, id),
  KEY audit_events_actor (actor_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The signing-key ring shared by every replica: one key per slot (seq), one per kid. Only the
-- sealed private key (AES-256-GCM under the KEK) is stored, never the plaintext.
CREATE TABLE IF NOT EXISTS signing_keys (
  seq            BIGINT NOT NULL,
  kid            VARBINARY(255) NOT NULL,
  public_key     VARBINARY(64) NOT NULL,
  sealed_private VARBINARY(1024) NOT NULL,
  created_at     DATETIME(6) NULL,
  activates_at   DATETIME(6) NULL,
  retired_at     DATETIME(6) NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY signing_keys_kid (kid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
