// Package peer helps tests run the real programs rackwatch talks to (Mosquitto, Prometheus,
// Alertmanager, upsd, snmpd, Chromium): it finds a program or skips with the package to install (a
// failure under RACKWATCH_REQUIRE_INTEGRATION=1, as in CI), and collects a child's output while the test
// reads it.
package peer
