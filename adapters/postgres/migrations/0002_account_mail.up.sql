-- keygate schema, version 2: the account e-mail flags. email_verified: the user proved the
-- address is theirs (a verification or password-reset link); password_reset_required: an admin
-- forced a reset, and the password no longer logs in until a reset sets a new one. Existing
-- users are unverified and need no reset.
ALTER TABLE users
  ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
  ADD COLUMN password_reset_required boolean NOT NULL DEFAULT false;
