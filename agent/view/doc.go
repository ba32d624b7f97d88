// Package view renders alarm transitions, readings and gateway status as one human line each, for
// `rackwatch tail` and the demo: time, severity, alarm, message. Colour is used only on a terminal (and
// never when NO_COLOR is set or TERM is dumb).
package view
