// Package outputs runs the gateway's outputs: one goroutine per output opens its device (retrying with
// backoff while it cannot), switches it when the actions ask, bounds every switching by the output's
// timeout, retries a failed one with backoff while it is still wanted, and reports every switching and
// its result as an action event. Because each output has its own goroutine, a Modbus write stuck behind a
// dead bus delays only that output, and never the rules loop that asked for it.
//
// Only the latest wish counts: an output asked on, then off, before it was switched, is not switched at
// all. With dry_run nothing is opened or touched; each wish is reported as what would have been done.
//
// An operator's output test (`rackwatch output test`) switches an output on for a few seconds and back,
// through the running agent, over a unix socket in the state directory (Serve, Client): it needs no
// network, file permissions say who may use it, and the test is journaled and published like any other
// action. The signed MQTT command for the same test comes with the operator keys of the commands issue.
package outputs
