// Package mosquittotest runs a real Mosquitto broker for integration tests: on a free loopback port, in a
// temporary directory, with persistence on, optionally with TLS and a password file, and with Stop and
// Start to simulate an outage on the same port.
//
// When mosquitto is not installed the test is skipped with the install command, unless
// RACKWATCH_REQUIRE_INTEGRATION=1, where it fails.
package mosquittotest
