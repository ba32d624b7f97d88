// Package sim provides simulated sensors that play named scenarios (a normal hall, a hot aisle, a lithium
// battery going into thermal runaway), so the agent, its rules and its alarms can be seen and tested with no
// hardware.
//
// A scenario is a pure function of scenario time: Value(channel, t) gives the same value for the same t
// every time, noise included (the noise is a hash of time and channel, not a random stream). The `sim`
// driver maps wall-clock time to scenario time with a time scale, so a ten-minute incident can be watched
// in one minute, and a test can evaluate it at any instant without waiting.
//
// Other simulated devices (the Modbus and Megatec simulators) take their values from the same scenarios
// through Lookup.
package sim
