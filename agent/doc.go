// Package agent wires rackwatch together: it checks a configuration against the compiled-in drivers
// (Check), and runs the agent (Run): the scheduler reads sensors, the rules engine turns readings into
// alarm transitions, and the outbox makes each transition durable and delivers it over MQTT.
//
// The package is free of hardware and of any MQTT library; those live in drivers/ and agent/mqtt.
package agent
