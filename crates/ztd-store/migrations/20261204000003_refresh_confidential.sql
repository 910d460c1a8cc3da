-- Whether a refresh token was issued to a confidential client (a registered app that proved itself with its
-- secret or certificate): such a token is redeemed only with the app's credential again. Tokens of public
-- flows (first-party clients, the device code flow) are redeemed without one. Existing tokens count as public.
ALTER TABLE refresh_tokens ADD COLUMN confidential BIGINT NOT NULL DEFAULT 0;
