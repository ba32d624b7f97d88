// Package nut reads a UPS through the Network UPS Tools data server (upsd, TCP port 3493).
//
// It speaks the NUT network protocol (docs/net-protocol.txt in the NUT tree, RFC 9271): one `LIST VAR`
// per poll over a connection that is kept open and re-established when it breaks, optional
// USERNAME/PASSWORD, and STARTTLS when configured. `ups.status` flags become the boolean channels
// (on_battery, low_battery, replace_battery, overload, fault) and the standard variables the numeric ones;
// any other variable can be mapped to a channel of its own. An `ERR` reply (UNKNOWN-UPS, ACCESS-DENIED,
// DATA-STALE, DRIVER-NOT-CONNECTED, …) makes every channel of the poll a bad reading carrying the reason:
// it means monitoring is lost, not that the UPS changed state.
package nut
