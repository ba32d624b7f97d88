// Package brokerauth decides who may use the embedded MQTT broker and for what: the users of a password
// file of bcrypt hashes (`rackwatch key password`, or `htpasswd -B`), and the access rules of their roles.
// The gateway itself publishes under its own prefix (<prefix>/<gateway>/…) and reads its commands;
// operators may publish commands to any gateway (<prefix>/+/cmd/ack, shelve, unshelve, output-test) and
// read everything under the prefix; readers read only. It is plain logic on strings: agent/broker wires
// it into the broker.
package brokerauth
