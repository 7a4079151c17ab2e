-- keygate schema, version 2: the account e-mail flags. email_verified: the user proved the
-- address is theirs (a verification or password-reset link); password_reset_required: an admin
-- forced a reset, and the password no longer logs in until a reset sets a new one. Existing
-- users are unverified and need no reset. One ALTER TABLE: applied whole or not at all.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE, ADD COLUMN password_reset_required BOOLEAN NOT NULL DEFAULT FALSE;
