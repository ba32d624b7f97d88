// Package contract is rackwatch's public MQTT contract: the topics (built and parsed), and the payloads with
// their JSON — a gateway's status, the alarm object (on alarm-state topics and on …/events), readings,
// operator commands and their results. The gateway's delivery, the rules engine, `rackwatch tail`, the
// demo's view, the tests and the central service all use this one package, so they cannot drift apart;
// a test holds it against the README's topic table.
//
// It is a leaf: the standard library and the readings vocabulary only — no MQTT library, no config.
package contract
