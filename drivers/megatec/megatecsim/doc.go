// Package megatecsim emulates a UPS speaking the Megatec "Q1" serial protocol, for tests and for
// `rackwatch sim megatec`. It answers Q1, F and I from a value source (a simulation scenario or a test's
// function), echoes commands it does not know as a real UPS does, and can be told to put garbage or cut-off
// lines on the wire or to stay silent, so that a driver's recovery can be exercised. OpenPTY gives it a
// pseudo-terminal pair whose slave end a driver opens like a serial port; ServePTY serves one there until
// cancelled, as `rackwatch sim megatec --pty` does.
package megatecsim
