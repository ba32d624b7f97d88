// Package delivery gets alarm transitions and readings from the agent to every configured MQTT broker.
//
// Transitions are appended to the durable journal (fsync'd, group commit) before anything is published;
// each broker then has its own goroutine, connection and cursor, and receives the journal's records in
// order with a bounded number in flight. A record is dropped from the journal only once every broker has
// acknowledged it (QoS 1 PUBACK), so a slow or dead site never delays another and an outage, a restart or
// a crash loses nothing.
//
// Readings are not journaled: they go through a small bounded queue per broker, only while that broker is
// connected and has no alarm backlog, after a deadband and heartbeat filter. When a queue is full the
// oldest reading is shed and counted.
package delivery
