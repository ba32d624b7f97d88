// Package hook is the `exec` output type: a program run when an output is switched on (and, if given,
// another when it is switched off), for what no other output type reaches — a BMS's own command-line
// tool, a building-management gateway's API, a script that asks a site controller to cut the charge.
//
// A hook is run as an argv list, without a shell, so nothing in an alarm's fields can inject a command.
// Its environment is a fixed PATH and the alarm's fields as RACKWATCH_* variables, not the agent's own
// environment (which may hold secrets passed as *_env). It runs in its own process group, which is killed
// when the output's timeout ends; only one run of a hook is in progress at a time; and a hook does not
// run more often than once every min_interval (a flapping alarm must not fork a process a second). Its
// output is kept, bounded, for the action event.
package hook
