-- Server-wide settings that belong to no tenant (the token signing key shared by every node).
CREATE TABLE server_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
