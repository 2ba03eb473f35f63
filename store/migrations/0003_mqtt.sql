-- The embedded MQTT broker's persistent state, so that it survives a
-- restart: retained messages, persistent sessions, their subscriptions and
-- their QoS 1/2 messages in flight. The broker writes it behind, coalesced,
-- about once a second (see broker/persist.go); values are mochi-mqtt's
-- storage records as JSON.
CREATE TABLE mqtt (
	kind   TEXT NOT NULL CHECK (kind IN ('client', 'sub', 'inflight', 'retained')),
	client TEXT NOT NULL, -- the session's client id; '' for a retained message
	name   TEXT NOT NULL, -- sub: topic filter; inflight: packet id; retained: topic; client: ''
	value  BLOB NOT NULL,
	PRIMARY KEY (kind, client, name)
) WITHOUT ROWID;
