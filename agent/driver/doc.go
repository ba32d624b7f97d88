// Package driver is the contract between the agent and the sensor drivers: what a driver declares (name,
// bus type, options, channels), how it is opened, and the two ways it delivers values: polled (Poller) or
// pushed as events happen (Streamer).
//
// Drivers live under drivers/ and import this package and agent/reading; they never import the rules
// engine or MQTT. The command fills a Registry explicitly (no init-time globals), so tests build their own.
package driver
