// Package buildinfo holds what the build stamps into the binary: its version, set by the Makefile with
// -ldflags "-X github.com/rackwatch/rackwatch/agent/buildinfo.Version=…". The status payload, the status
// page, `rackwatch version` and /metrics all read it from here.
package buildinfo

// Version is the release this binary was built from; "dev" for a plain go build.
var Version = "dev"
