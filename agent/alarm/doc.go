// Package alarm defines the alarm object of the MQTT contract: the state of one alarm after a transition,
// as the rules engine produces it, the journal stores it and the publishers send it.
//
// It is a leaf package (standard library only) so that the engine, the journal and the MQTT layer share
// one type without depending on each other.
package alarm
