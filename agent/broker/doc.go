// Package broker runs an MQTT broker inside the agent process (mochi-mqtt), for the demo and for a
// standalone gateway that has no central broker: alarms and readings are then published to it and any
// MQTT client on the network (a dashboard, `rackwatch tail`) can subscribe.
//
// It accepts every client without authentication, so bind it to loopback or a trusted network only.
package broker
