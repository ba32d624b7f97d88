package atstart

import "github.com/rackwatch/rackwatch/agent/exepages"

// Packages are initialised in dependency order, and otherwise in the order of their import paths (Go 1.21
// and later): this one comes after its few dependencies and before most of the binary's other packages
// (the network, TLS, YAML and driver libraries) have run their inits.
func init() { _ = exepages.Trim() } // an error leaves the pages mapped: nothing worse than without it
