// Package reading is the small vocabulary shared by drivers, the rules engine and the publishers: a
// reading (sensor, channel, value, quality, time), channel names and their canonical units.
//
// It is a leaf: it imports only the standard library, so that a driver and the MQTT layer can both
// speak it without depending on each other.
package reading
