// Package mqtt is rackwatch's only contact with the paho MQTT client. It turns paho's token API into
// context-aware calls, gives one connection per Client (no hidden reconnect loop and no hidden message
// store: the caller owns retries and the durable journal), and turns TLS and login failures into errors an
// operator can act on.
package mqtt
