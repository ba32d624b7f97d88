// Package store keeps a gateway's alarm state in its state directory (alarms.json): the rules engine's
// State, written atomically so that a power cut leaves either the old or the new file, never half of one.
// The engine itself does no I/O; the agent saves its State here after every batch of transitions and
// restores it at start.
package store
