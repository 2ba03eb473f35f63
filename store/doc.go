// Package store keeps Hearth's state, history and audit log in one SQLite
// file (WAL mode), written by a single group-commit goroutine so that state
// changes cost a fraction of a transaction each and the SD card is spared.
//
// Commits use synchronous=NORMAL: a killed process loses at most the batch
// not yet committed; a power cut may also lose the commits made since the WAL
// was last synced (by a checkpoint, or a durable audit row, which commits
// with synchronous=FULL). The package imports nothing of Hearth's: the daemon
// converts hub events to Changes and hands them to DB.Append.
package store
