-- Small named values that must survive a restart: a thermostat's last
-- compressor and furnace switch times, so that its minimum on and off
-- times hold across a restart of the daemon. Written rarely (on a switch),
-- read at start-up.
CREATE TABLE kv (
	key     TEXT PRIMARY KEY,
	value   TEXT NOT NULL,
	updated INTEGER NOT NULL -- Unix milliseconds
) WITHOUT ROWID;
