// Package schedule runs the sensors: one goroutine per bus (a shared wire must see one request at a time),
// one per bus-less sensor, and one per event-driven (streaming) sensor, so a device that hangs or dies can
// only ever delay the sensors that share its wire.
//
// Every sensor is read at its own interval. A read that takes longer than the sensor's timeout becomes a bad
// reading at the timeout, not a gap; while the hung read still holds the wire, the other sensors on that bus
// get bad readings saying so (their staleness rules then fire) rather than silently waiting. A driver that
// panics is recovered, reported as a bad reading, closed and reopened with backoff.
package schedule
