// Package rules evaluates alarm rules on readings and keeps each alarm's lifecycle. It does no I/O, starts
// no goroutines and reads no clock: time comes in with each reading and each Tick, so a trace replays the
// same way every time.
package rules
