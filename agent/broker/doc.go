// Package broker runs an MQTT broker inside the agent process (mochi-mqtt), for the demo and for a
// standalone gateway that has no central broker: alarms and readings are then published to it and any
// MQTT client on the network (a dashboard, `rackwatch tail`, an operator's console) can subscribe.
//
// Without users it admits every client, anonymous, to every topic: bind it to loopback then. With users
// (mqtt.embedded_broker_auth, agent/brokerauth) a client logs in with a password from a bcrypt password
// file and does only what its role allows; the gateway's own client logs in with a password made at each
// start. It has no TLS.
package broker
