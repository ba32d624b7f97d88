// Package settings is the configuration vocabulary shared by the config loader, the drivers and the rules
// engine, without the YAML library: durations and sizes as they are written in a config file, errors that
// name a file and a line, the Options a driver decodes its own keys through, and the one way a secret is
// read from a file or the environment.
//
// The YAML decoder itself lives in agent/config, which implements Options. Keeping this package free of it
// keeps the YAML library out of the drivers and the engine: they are handed small values, not a parser.
package settings
