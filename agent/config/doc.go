// Package config loads and checks rackwatch's YAML configuration.
//
// Loading is strict: unknown keys, wrong types, duplicate keys and ids, references to undefined buses or
// rules are all errors, and every error carries the file and line it comes from ("FILE:LINE: message"),
// because the person reading it is a facility engineer with an editor, not a Go programmer.
//
// Driver- and bus-specific keys are not known here: they are kept as an Options node (with their line
// numbers) and decoded, just as strictly, by the driver that owns them (see Options.Decode).
package config
