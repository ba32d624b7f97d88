// Package store keeps a gateway's alarm state in its state directory.
//
// alarms.json holds the rules engine's State and the id of the gateway the directory belongs to, written
// atomically (a temporary file, fsync'd, renamed over the old one), so a power cut leaves either the old or
// the new file. Its "format" field is the version of its layout: format 1 (the first, which had neither
// "format" nor "gateway") and 2 are read; a newer one is refused, never misread. A file that cannot be
// read as either (empty, cut short, not JSON) is damaged: the agent moves it aside with MoveAside and
// rebuilds the state from the journal.
//
// alarms.seq holds the last seq handed out, rewritten in place: overwriting a few bytes of an existing
// file needs no free space, so when the disk is full and alarms.json cannot be replaced, the seq still
// is, and a restart never hands out a seq that was already published.
//
// The engine itself does no I/O; the agent saves its State here after every batch of transitions and
// restores it at start.
package store
